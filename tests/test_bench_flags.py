"""The benchmarks' file flags (live.bench.flags): outputs refused before any work, JSON reports
written whole (an interrupted write leaves the old file or none, and no temporary file)."""

from __future__ import annotations

import json
import os

import pytest

from live.bench import flags
from live.errors import UserError


def test_a_report_is_written_whole_and_an_interrupted_write_leaves_the_old_one(tmp_path, monkeypatch):
    out = tmp_path / "deep" / "report.json"
    flags.write_json("--json", out, {"a": 1})
    assert json.loads(out.read_text()) == {"a": 1}

    real_replace = os.replace

    def interrupted(src, dst):  # SIGTERM (KeyboardInterrupt) between writing and renaming
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        flags.write_json("--json", out, {"a": 2})
    monkeypatch.setattr(os, "replace", real_replace)
    assert json.loads(out.read_text()) == {"a": 1}
    assert [p.name for p in out.parent.iterdir()] == ["report.json"]


def test_an_output_that_cannot_be_written_is_refused_up_front(tmp_path):
    (tmp_path / "file").write_text("x")
    for bad in (tmp_path, tmp_path / "file" / "r.json"):
        with pytest.raises(UserError, match="^--json "):
            flags.check_output_file("--json", bad)
    assert flags.check_output_file("--json", tmp_path / "new" / "r.json") == tmp_path / "new" / "r.json"
    assert not (tmp_path / "new").exists()  # checked, not made


def test_an_input_audio_file_is_checked_readable(tmp_path):
    (tmp_path / "noise.wav").write_bytes(b"not a wave" * 10)
    for bad in (tmp_path / "missing.wav", tmp_path, tmp_path / "noise.wav"):
        with pytest.raises(UserError, match="^--audio "):
            flags.check_audio_file("--audio", bad)
