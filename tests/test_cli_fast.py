"""The command line answers at once: building the parser (so every --help, and the refusal of a
mistyped flag) imports neither torch nor diffusers, nor the offline audio libraries; a command's
heavy modules are imported only when it runs."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "diffusers", "transformers", "scipy", "librosa", "madmom")


def _imported(stderr: str) -> set[str]:
    """Top-level packages that ``python -X importtime`` reports in ``stderr``."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines()
            if line.startswith("import time:") and "|" in line}


@pytest.mark.parametrize("argv, code", [
    (["--help"], 0),
    (["live", "--help"], 0),
    (["render", "--help"], 0),
    (["beats", "--help"], 0),
    (["set", "add", "--help"], 0),
    (["bench", "--help"], 0),
    (["bench", "decode", "--help"], 0),
    (["live", "--no-such-flag"], 2),
    (["bench", "bank", "--scale", "huge"], 2),
])
def test_help_and_flag_errors_import_nothing_heavy(argv, code):
    proc = subprocess.run([sys.executable, "-X", "importtime", "run_live.py", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == code, proc.stderr[-2000:]
    assert "import time:" in proc.stderr  # -X importtime did report
    if code:
        assert "error: " in proc.stderr
    else:
        assert "usage:" in proc.stdout
    assert not _imported(proc.stderr) & set(HEAVY), argv


BUILD_ALL = """
import argparse, sys
sys.path.insert(0, {root!r})
from live.cli import build_parser

def walk(parser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from walk(sub)

seen = 0
for parser in walk(build_parser()):
    parser.format_help()
    seen += 1
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(seen, " ".join(heavy))
"""


def test_building_every_parser_and_help_imports_nothing_heavy():
    proc = subprocess.run([sys.executable, "-c", BUILD_ALL.format(root=str(ROOT), heavy=HEAVY)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen, *heavy = proc.stdout.split()
    assert int(seen) > 20 and heavy == []  # every command and benchmark walked; none loaded torch & co
