"""`bench soak`: a few seconds of show time through the real show, driver, GL and OSC parser."""

from __future__ import annotations

import argparse
import json

import pytest

import live.bench.soak as soak_bench
from live.cli import BENCHMARKS


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
