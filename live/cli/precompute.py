"""`precompute`: turn presets into keyframe latents. Arguments only; the work is :mod:`live.library.precompute`."""

from __future__ import annotations

import argparse
import logging
import sys

from live.errors import UserError
from live.library.precompute import Result, precompute
from live.library.presets import _where

_LOGGER = logging.getLogger(__name__)


def _report(r: Result) -> None:
    where = _where(r.path)
    if r.action == "skipped":
        print(f"{r.name}: up to date, {r.count} keyframes in {where} (use --force to redo)")
        return
    rate = f", {r.generated / r.seconds:.2f} keyframes/s" if r.seconds > 0 and r.generated else ""
    resumed = f", {r.resumed} kept from an interrupted run" if r.resumed else ""
    print(f"{r.name}: wrote {r.count} keyframes to {where} in {r.seconds:.1f} s{rate}{resumed}")


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `precompute`."""
    parser.add_argument("presets", nargs="*", metavar="PRESET", help="preset names (presets/NAME.toml) or .toml paths")
    parser.add_argument("--all", action="store_true", help="every preset in the presets folder")
    parser.add_argument("--model", default="", help="diffusers model folder or cached hub id; overrides generation.model")
    parser.add_argument("--vae", default="", help="separate VAE folder; overrides generation.vae")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"],
                        help="where to run the model (auto: cuda, then mps, then cpu)")
    parser.add_argument("--fp32", action="store_true", help="full precision on the GPU (default fp16 there)")
    parser.add_argument("--batch-size", type=int, default=4, help="images per pipeline call")
    parser.add_argument("--allow-download", action="store_true",
                        help="let diffusers download a hub model that is not in the local cache")
    parser.add_argument("--from-images", default="", metavar="DIR",
                        help="make keyframes from the images in DIR (VAE encoder, or approx without a model)")
    parser.add_argument("--preview", action="store_true", help="also write keyframes/NAME/preview.png, a contact sheet")
    parser.add_argument("--force", action="store_true", help="redo keyframes even when they are up to date")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--presets-dir", default="presets", help="folder of preset files")
    parser.add_argument("--keyframes-dir", default="keyframes", help="folder of keyframe caches")


def run(args: argparse.Namespace) -> int:
    """Entry point of `precompute`: 0 when every preset is up to date or written."""
    if args.batch_size < 1 or args.batch_size > 64:
        raise UserError(f"--batch-size {args.batch_size} is out of range; use 1..64")
    try:
        results = precompute(args)
    except KeyboardInterrupt:
        print("interrupted: every finished keyframe is kept; run the same command again to resume")
        raise
    unusable = [r.name for r in results if r.action == "unusable"]
    if unusable:
        print(f"error: {len(unusable)} preset(s) could not be precomputed ({', '.join(unusable)}); "
              f"the reasons are logged above", file=sys.stderr)
        return 2
    return 0
