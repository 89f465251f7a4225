"""SIGTERM in the middle of the long commands that write files (issue 24): the command ends as
on Ctrl-C (exit 130, no traceback), and nothing half-written is left under a final name or as a
temporary file. Finished keyframes of an interrupted precompute stay (one whole file each) so
that the same command resumes. Real processes: the signal and the exit status are the point."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from live.files import load_toml
from live.library.demo import write_demo_track

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 240  # the machine may be busy: analysis and the first keyframes can take a while


def _term_when(argv: list[str], ready, settle: float = 0.5) -> tuple[int, str]:
    """Run ``run_live.py argv``, send SIGTERM once ``ready()`` is true (then ``settle`` s later);
    the exit status and stderr."""
    proc = subprocess.Popen([sys.executable, "run_live.py", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        end = time.time() + WAIT_S
        while not ready() and time.time() < end and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, f"ended before the signal: {proc.communicate()}"
        assert ready(), "the work never started"
        time.sleep(settle)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err


def _leftovers(folder: Path) -> list[str]:
    """Temporary or partial files under ``folder`` (a dot file, ``.tmp``, ``.partial``)."""
    return [str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.name.startswith(".") or ".tmp" in p.name or ".partial" in p.name]


def _whole(folder: Path) -> None:
    """Every preset and keyframe file under ``folder`` reads in full."""
    for path in folder.rglob("*.toml"):
        load_toml(path)
    for path in folder.rglob("*.safetensors"):
        assert load_file(str(path)), path


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["keyframes", "render"])
def test_sigterm_during_song_leaves_nothing_half_written(tmp_path, moment):
    """``song`` writes the plan, the song preset, its keyframes and the video; the signal comes as
    the keyframes are being written, or while the video renders."""
    write_demo_track(tmp_path / "t.wav", 40.0)
    out = tmp_path / "out" / "o.mp4"
    argv = ["song", str(tmp_path / "t.wav"), "--prompt", "neon city", "--out", str(out), "--size", "256x144",
            "--plan", str(tmp_path / "plan" / "plan.json"), "--presets-dir", str(tmp_path / "presets"),
            "--keyframes-dir", str(tmp_path / "keyframes")]
    ready = {"keyframes": lambda: (tmp_path / "keyframes" / "song-t").exists(),
             "render": lambda: out.with_name(".o.partial.mp4").exists()}[moment]
    code, err = _term_when(argv, ready, settle=0.0 if moment == "keyframes" else 0.5)
    assert code == 130, err
    assert "Traceback" not in err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []  # no video, not even the partial one
    assert _leftovers(tmp_path) == []
    _whole(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("settle", [0.0, 0.3])
def test_sigterm_during_precompute_of_an_image_preset_leaves_nothing_half_written(tmp_path, settle):
    """The built-in-image demo: its keyframes are made in memory and written at once, then the
    preview; the signal comes as the preset's folder appears (the keyframe file being written),
    or a little later (the preview being made)."""
    keyframes = tmp_path / "keyframes"
    argv = ["precompute", "demo", "--preview", "--keyframes-dir", str(keyframes)]
    code, err = _term_when(argv, lambda: (keyframes / "demo").exists(), settle=settle)
    assert code == 130, err
    assert "Traceback" not in err
    assert _leftovers(tmp_path) == []
    _whole(tmp_path)  # the keyframe file, when it was finished, is whole
