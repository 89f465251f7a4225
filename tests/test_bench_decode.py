"""The decode benchmark and the display loop's independence from decode speed."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from live.bench import decode as decodebench
from live.bench.decode import (
    BenchError,
    DecodeBenchSettings,
    ThrottledDecoder,
    bench_keyframes,
    bench_one,
    display_loop,
    measure_bare,
    measure_pipeline,
    parse_size,
)
from live.visuals.decoders import ApproxDecoder, Decoder
from live.visuals.traversal import Traversal
from live.visuals.worker import DecodeWorker


def traversal(size: int = 256) -> Traversal:
    return Traversal(bench_keyframes((4, size // 8, size // 8)), kick=0.3, seed=1)


def bench_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    decodebench.configure(parser)
    return parser.parse_args(list(argv))


class Stuck(Decoder):
    """A decoder that does not return until released: the worst case for a display loop."""

    def __init__(self) -> None:
        import threading

        self.release = threading.Event()

    def _decode_unit(self, z):
        self.release.wait(30)
        return ApproxDecoder()._decode_unit(z)


def test_display_loop_keeps_its_rate_under_a_1fps_decoder():
    slow = ThrottledDecoder(ApproxDecoder(), fps=1.0)
    with DecodeWorker(slow) as worker:
        stats = display_loop(worker, traversal(256), width=256, height=256, seconds=2.5, fps=60.0)
        decoded = worker.decoded
    assert stats.drawn, stats.note
    # Generous margins: the point is structural (a blocking loop would manage ~3 ticks in 2.5 s).
    assert stats.ticks >= 0.6 * 60 * 2.5
    assert stats.worst_tick_s < 0.5  # no tick ever waited for a 1 s decode
    assert 1 <= decoded <= 4 and stats.frames_seen <= 4


def test_display_loop_runs_while_the_decoder_never_returns():
    stuck = Stuck()
    worker = DecodeWorker(stuck).start()
    try:
        stats = display_loop(worker, traversal(64), width=64, height=64, seconds=1.0, fps=60.0, draw=False)
        assert stats.ticks >= 0.6 * 60 and stats.frames_seen == 0
        assert worker.decoded == 0 and worker.pending  # one request waits; the rest were replaced
        assert worker.dropped == stats.ticks - 2  # one taken (stuck), one pending
    finally:
        stuck.release.set()
        worker.stop()


def test_throttled_decoder_pads_to_its_period():
    slow = ThrottledDecoder(ApproxDecoder(), fps=20.0)
    fps, n = measure_bare(slow, [torch.zeros(1, 4, 2, 2)], seconds=0.2, min_frames=3)
    assert n >= 3 and fps <= 20.5
    assert slow.decode(torch.zeros(1, 4, 2, 2)).shape == (1, 16, 16, 3)
    with pytest.raises(BenchError, match="slow-fps"):
        ThrottledDecoder(ApproxDecoder(), fps=0)


def test_pipeline_keeps_the_worker_busy():
    slow = ThrottledDecoder(ApproxDecoder(), fps=25.0)  # 40 ms a frame, far above the overhead
    bare, _ = measure_bare(slow, [torch.zeros(1, 4, 4, 4)], seconds=0.3, min_frames=3)
    with DecodeWorker(slow) as worker:
        pipe, frames = measure_pipeline(worker, traversal(32), seconds=0.5, min_frames=5)
    assert frames >= 5
    assert pipe / bare > 0.8  # generous: the real figure is printed by the bench, not asserted


@pytest.mark.parametrize("text", ["512", "512x", "0x512", "500x512", "axb", "8192x8"])
def test_bad_sizes_are_refused(text):
    with pytest.raises(BenchError, match="--size"):
        parse_size(text)
    assert parse_size("768x432") == (768, 432)


def test_bench_json_has_every_figure(capsys):
    args = bench_args("--decoder", "approx,slow", "--size", "64x64", "--seconds", "0.3", "--min-frames", "2", "--rounds", "2",
                      "--slow-fps", "8", "--json", "--max-show-seconds", "2")
    assert decodebench.run(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["machine"]["cores"] >= 1 and "torch" in report["machine"]
    assert report["settings"]["device"] == "cpu"
    rows = {r["decoder"]: r for r in report["results"]}
    assert set(rows) == {"approx", "slow"}
    for row in rows.values():
        assert row["size"] == "64x64"
        assert row["bare_fps"] > 0 and row["pipeline_fps"] > 0
        assert row["rounds"] == 2 and row["efficiency_min"] <= row["efficiency"] <= row["efficiency_max"]
        assert row["latency_p50_ms"] is not None and row["latency_p99_ms"] >= row["latency_p50_ms"]
        assert row["display_fps"] > 0
    assert rows["slow"]["bare_fps"] <= 8.5


def test_bench_one_takes_plain_settings():
    """`bench gpu` and other code call the bench without a command line."""
    settings = DecodeBenchSettings(seconds=0.2, rounds=1, min_frames=2, display_fps=30.0, max_show_seconds=2.0)
    result = bench_one("approx", (64, 64), settings)
    assert result.decoder == "approx" and result.size == "64x64" and result.rounds == 1
    assert result.display_fps > 0 and result.display_target_fps == 30.0
    assert "renderer" in result.display_note and "pulse" in result.display_note


def test_bench_loop_without_display_says_so():
    settings = DecodeBenchSettings(seconds=0.2, rounds=1, display_fps=30.0, max_show_seconds=2.0, no_display=True)
    result = bench_one("approx", (64, 64), settings)
    assert result.display_note == "not drawn (--no-display)" and result.display_fps > 0


@pytest.mark.parametrize("bad", [dict(seconds=0), dict(rounds=0), dict(display_fps=-1), dict(min_frames=0),
                                 dict(warmup=-1)])
def test_bad_bench_settings_are_refused(bad):
    with pytest.raises(BenchError, match="--seconds and --display-fps"):
        DecodeBenchSettings(**bad)


def test_bench_flags_match_the_settings():
    """Every setting has its flag, with the setting's default; the quad display is gone."""
    import dataclasses

    args = bench_args()
    assert decodebench.DecodeBenchSettings(**{f.name: getattr(args, f.name)
                                              for f in dataclasses.fields(DecodeBenchSettings)}) == DecodeBenchSettings()
    assert not hasattr(args, "display") and not hasattr(decodebench, "QuadDisplay")


def test_bench_refuses_unknown_decoder():
    with pytest.raises(BenchError, match="--decoder 'sdxl'"):
        decodebench.run(bench_args("--decoder", "sdxl"))


def test_random_real_size_decoders_are_the_real_architectures():
    from diffusers import AutoencoderTiny

    from live.bench.models import SD_VAE_CONFIG, make_random_decoder

    tiny = make_random_decoder("tiny")
    assert tiny.randomly_initialised and "random weights" in tiny.describe()
    import inspect

    defaults = inspect.signature(AutoencoderTiny.__init__).parameters
    assert tuple(tiny.model.config.decoder_block_out_channels) == tuple(defaults["decoder_block_out_channels"].default)
    assert tiny.decode(torch.zeros(1, 4, 4, 4)).shape == (1, 32, 32, 3)
    assert SD_VAE_CONFIG["block_out_channels"] == [128, 256, 512, 512] and SD_VAE_CONFIG["layers_per_block"] == 2


@pytest.mark.slow
def test_bench_table_with_real_size_models(capsys):
    args = bench_args("--decoder", "tiny,vae", "--size", "64x64", "--seconds", "0.5", "--min-frames", "2", "--rounds", "3")
    assert decodebench.run(args) == 0
    out = capsys.readouterr().out
    assert "random init, real TAESD" in out and "random init, real Stable Diffusion VAE" in out
    assert "machine:" in out and "efficiency" not in out.split("\n")[0]
    assert "3 (" in out  # the rounds and the spread of their ratios
