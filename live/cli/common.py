"""Flags that several subcommands share, declared once."""

from __future__ import annotations

import argparse

from live import paths

FOLDER_HELP = {
    "presets": "folder of preset files",
    "keyframes": "folder of keyframe caches",
    "shaders": "folder of GLSL post shaders",
    "mappings": "folder of MIDI mapping files",
}


def add_folder_flags(parser: argparse.ArgumentParser, *kinds: str) -> None:
    """``--presets-dir``, ``--keyframes-dir``... for ``kinds`` (see :mod:`live.paths`): default None,
    which means the ``LIVE_<KIND>_DIR`` environment variable, else the repository's folder."""
    for kind in kinds:
        parser.add_argument(f"--{kind}-dir", default=None, metavar="DIR",
                            help=f"{FOLDER_HELP[kind]} [${'LIVE_' + kind.upper() + '_DIR'}, else {paths.folder(kind)}]")
