"""A command whose output is cut short (``run_live.py beats FILE | head -1``) ends quietly: no
BrokenPipeError traceback, no "Exception ignored" at exit, the status a shell gives a tool that
SIGPIPE ended (141). One place handles it for every command: live.cli.main."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from live.cli import PIPE_CLOSED
from live.library.demo import write_demo_track

ROOT = Path(__file__).resolve().parent.parent


def _closed_reader(argv: list[str]) -> tuple[int, str]:
    """Run ``run_live.py argv`` with its stdout's reader closed at once; exit status and stderr."""
    proc = subprocess.Popen([sys.executable, "run_live.py", *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the command prints its first line
    try:
        err = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        proc.kill()
    return proc.returncode, err


@pytest.mark.parametrize("argv, codes", [
    (["beats", "{wav}"], {PIPE_CLOSED}),
    (["beats", "{wav}", "--format", "json"], {PIPE_CLOSED}),
    (["--help"], {0, PIPE_CLOSED}),  # argparse drops a help it cannot print: quiet either way
    (["bench", "song", "--help"], {0, PIPE_CLOSED}),
])
def test_a_closed_stdout_ends_quietly(tmp_path, argv, codes):
    write_demo_track(tmp_path / "t.wav", 4.0)
    code, err = _closed_reader([a.format(wav=tmp_path / "t.wav") for a in argv])
    assert code in codes, err
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err
