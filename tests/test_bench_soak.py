"""`bench soak`: a few seconds of show time through the real show, driver, GL and OSC parser."""

from __future__ import annotations

import argparse
import json

import pytest

import live.bench.soak as soak_bench
from live.cli import BENCHMARKS


# 28 s here, most of it the six presets' setup: the suite is at its 10-minute budget.
@pytest.mark.slow
def test_short_soak_reports_every_field(tmp_path, capsys, monkeypatch):
    parser = argparse.ArgumentParser()
    soak_bench.configure(parser)
    args = parser.parse_args(["--minutes", "0.1", "--size", "64x64", "--fps", "30", "--stalls", "1",
                              "--json", str(tmp_path / "soak.json")])
    # more messages and switches than the defaults, so a few seconds carry every kind
    real = soak_bench.soak
    monkeypatch.setattr(soak_bench, "soak",
                        lambda *a, **k: real(*a, **k, messages_per_s=40.0, switch_every_s=0.5, progress=False))
    code = soak_bench.run(args)
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "soak.json").read_text())
    assert report["frames"] == 180 and report["fps"] == 30 and report["machine"].startswith("machine:")
    assert report["presets"] == ["demo", "grid", "ink", "nebula", "soak-cut", "soak-wide"]
    assert report["preset_switches"] >= 3 and report["messages"] > 100
    assert report["invalid_messages"] > 10 and report["refused_by_parser"] > 0
    # the show refuses the bad commands that pass the parser, each with an ERROR line; nothing else fails
    assert report["refused_by_show"] > 0 and report["unexpected_errors"] == 0
    assert any("refused" in message for message in report["errors"])
    # the injected 150 ms stall is caught and told apart
    assert report["injected_gaps"] == 1 and report["longest_gap_ms"] >= soak_bench.STALL_S * 1000
    assert any(g["injected"] for g in report["long_gaps"])
    assert 0 < report["rss_warmup_mb"] <= report["rss_peak_mb"] and report["rss_end_mb"] > 0
    assert len(report["memory_samples"]) >= 2 and isinstance(report["slope_mb_per_10min"], float)
    for words in ("longest frame gap", "memory slope after warm-up", "preset switches", "(+1 injected)"):
        assert words in out
    assert code in (0, 1)  # a short run's slope is warm-up noise; the figures are what is checked here


def test_soak_is_a_benchmark():
    assert BENCHMARKS["soak"][0] == "live.bench.soak"


@pytest.mark.slow
def test_ten_minutes_of_show_time_meet_the_targets():
    """The targets on a shorter soak: no gap over 100 ms, memory flat after warm-up, no unexpected error."""
    report = soak_bench.soak(10.0, size="256x256", progress=False)
    assert report.frames == 10 * 60 * soak_bench.FPS
    assert report.unexpected_errors == 0
    assert report.gaps_over_limit == 0, report.long_gaps
    assert report.slope_mb_per_10min < soak_bench.SLOPE_LIMIT_MB, report.memory_samples


def test_realtime_switches_every_period_with_bad_and_unique_names():
    """--realtime: a switch each period, a share of them to names that are not ready presets,
    a new unknown name among them (a flood of unique names must grow nothing)."""
    import numpy as np

    from live.handoff import CommandQueue

    class FakeShow:
        commands = CommandQueue(10000)

    report = soak_bench.SoakReport(minutes=1.0, fps=30, size="64x64", presets=["a", "b"], realtime=True)
    control = soak_bench._Control(FakeShow(), np.random.default_rng(0), ["a", "b"], ["broken"], report, 0.0, 0.0,
                                  period_s=1.0, invalid_share=0.5)
    for frame in range(30 * 60):
        control(frame / 30)
    names = [cmd.args[0] for cmd in FakeShow.commands.drain()]
    assert report.preset_switches == len(names) == 2 + 59  # the tour (tour_s 0: at once), then one a second
    assert 15 < report.invalid_switches < 45
    assert {"a", "b", "broken", "no-such-preset"} <= set(names)
    assert sum(n.startswith("no-such-preset-") for n in names) > 3


def test_realtime_presets_switch_at_once(tmp_path):
    soak_bench._write_presets(tmp_path, at_once=True)
    for path in tmp_path.glob("*.toml"):
        if path.stem != "soak-broken":
            assert path.read_text().count('transition_quantize = "none"') == 1, path.name


@pytest.mark.slow
def test_realtime_soak_runs_on_the_real_clock():
    report = soak_bench.soak(0.25, size="64x64", fps=30, realtime=True, progress=False)
    assert report.realtime and 10.0 < report.wall_s < 30.0
    assert report.preset_switches >= 10 and report.invalid_switches > 0
    assert report.unexpected_errors == 0
