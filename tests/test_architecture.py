"""The architecture is checked, not hoped for: import-linter's contracts (pyproject.toml) hold on
the real package, and a layer broken on purpose makes them fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess:
    """Run lint-imports with the repo's contracts on the ``live`` package found under ``root``."""
    return subprocess.run([str(LINT), "--config", str(REPO / "pyproject.toml"), "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=120)


def test_import_contracts_hold():
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _broken_copy(tmp_path: Path, module: str, line: str) -> Path:
    shutil.copytree(REPO / "live", tmp_path / "live", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "live" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    return tmp_path


def test_an_import_from_a_lower_layer_up_breaks_the_build(tmp_path):
    result = _lint(_broken_copy(tmp_path, "beat/clock.py", "import live.show.show  # noqa"))
    assert result.returncode != 0
    assert "live.beat.clock -> live.show.show" in result.stdout


def test_an_import_circle_inside_a_part_breaks_the_build(tmp_path):
    # keyframes is imported by images; the reverse import closes a circle in live.library
    result = _lint(_broken_copy(tmp_path, "library/keyframes.py", "import live.library.images  # noqa"))
    assert result.returncode != 0
    assert "no import circles" in result.stdout and "BROKEN" in result.stdout
