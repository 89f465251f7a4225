"""`bench bank` figures come from the real writer and loader (small sizes here; the full bench is slow)."""

from __future__ import annotations

import argparse

import pytest

import live.bench.bank as bb


def test_bytes_per_keyframe(tmp_path):
    mem, disk = bb.bytes_per_keyframe(tmp_path, (512, 512))
    assert mem == 4 * 64 * 64 * 4
    assert mem < disk < mem + 1024  # float32 plus a small share of the header
    assert bb.bytes_per_keyframe(tmp_path, (768, 432))[0] == 4 * 54 * 96 * 4


def test_pixel_keyframes_take_a_byte_a_value(tmp_path):
    mem, disk = bb.pixel_bytes_per_keyframe(tmp_path, (256, 256))
    assert mem == 3 * 256 * 256  # uint8 pictures, held once (float32 and a byte copy before: 5 bytes a value)
    assert mem < disk < mem + 1024


def test_bank_load_timing_loads_everything(tmp_path):
    times, ready, total = bb.bank_load_seconds(tmp_path, presets=3, keyframes=8, size=(256, 256), repeat=2)
    assert len(times) == 2 and all(t > 0 for t in times)
    assert ready == 3 and total == 3 * 8 * 4 * 32 * 32 * 4


def test_bad_flags():
    parser = argparse.ArgumentParser()
    bb.configure(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--size", "500x500"])
    with pytest.raises(bb.UserError, match="multiple of 4"):
        bb.run(parser.parse_args(["--keyframes", "6"]))


@pytest.mark.slow
def test_full_bench_runs(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    bb.configure(parser)
    assert bb.run(parser.parse_args(["--presets", "4", "--keyframes", "4", "--precompute-keyframes", "4",
                                     "--device", "cpu", "--json", str(tmp_path / "f.json")])) == 0
    out = capsys.readouterr().out
    assert "keyframes/s" in out and "bank load" in out and (tmp_path / "f.json").is_file()
