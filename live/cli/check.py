"""`check`: every preset with its keyframe status, count and memory. Arguments only."""

from __future__ import annotations

import argparse
import json
import logging

from live import paths
from live.cli.common import add_folder_flags
from live.errors import UserError
from live.library.check import check_rows, format_table
from live.library.presets import FAMILIES

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `check`."""
    add_folder_flags(parser, "presets", "keyframes", "shaders")
    parser.add_argument("--family", default="sd1", choices=FAMILIES,
                        help="latent family of the decoder the show will use (sd1: SD 1.x/2.x VAE, sdxl: SDXL VAE)")
    parser.add_argument("--device", default="cpu", help="load the keyframes onto this torch device, as the show does")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any preset is unavailable")


def run(args: argparse.Namespace) -> int:
    """Entry point of `check`: 0, or 1 with --strict when some preset cannot be shown."""
    presets = paths.presets_dir(args.presets_dir)
    if not presets.is_dir():
        raise UserError(f"{presets}: presets folder does not exist; pass --presets-dir or set LIVE_PRESETS_DIR")
    rows, seconds = check_rows(args.presets_dir, args.keyframes_dir, args.family, args.shaders_dir, args.device)
    if args.json:
        print(json.dumps({"presets": rows, "load_seconds": seconds}, indent=2))
    else:
        print(format_table(rows, seconds))
    return 1 if args.strict and not all(r["ok"] for r in rows) else 0
