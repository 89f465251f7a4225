"""`precompute`: turn presets into keyframe latents. Arguments and printing only; the work is
:mod:`live.library.precompute`."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import TYPE_CHECKING

from live.cli.common import add_folder_flags
from live.library.precompute_options import MAX_BATCH, PrecomputeOptions
from live.values import Bounded

if TYPE_CHECKING:
    from live.library.precompute import Result

_LOGGER = logging.getLogger(__name__)


def report(r: Result) -> None:
    """Print one preset's outcome (and its preview) as one or two lines; unusable ones are logged already."""
    from live.library.presets import as_written

    if r.action == "skipped":
        print(f"{r.name}: up to date, {r.count} keyframes in {as_written(r.path)} (use --force to redo)")
    elif r.action == "written":
        where = as_written(r.path)
        rate = f", {r.generated / r.seconds:.2f} keyframes/s" if r.seconds > 0 and r.generated else ""
        resumed = f", {r.resumed} kept from an interrupted run" if r.resumed else ""
        print(f"{r.name}: wrote {r.count} keyframes to {where} in {r.seconds:.1f} s{rate}{resumed}")
    if r.preview is not None:
        print(f"{r.name}: preview {r.preview}")


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `precompute`."""
    parser.add_argument("presets", nargs="*", metavar="PRESET", help="preset names (presets/NAME.toml) or .toml paths")
    parser.add_argument("--all", action="store_true", help="every preset in the presets folder")
    parser.add_argument("--model", default="", help="diffusers model folder or cached hub id; overrides generation.model")
    parser.add_argument("--vae", default="", help="separate VAE folder; overrides generation.vae")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"],
                        help="where to run the model (auto: cuda, then mps, then cpu)")
    parser.add_argument("--fp32", action="store_true", help="full precision on the GPU (default fp16 there)")
    parser.add_argument("--batch-size", type=Bounded(int, 1, MAX_BATCH), default=4, help=f"images per pipeline call (1..{MAX_BATCH})")
    parser.add_argument("--allow-download", action="store_true",
                        help="let diffusers download a hub model that is not in the local cache")
    parser.add_argument("--from-images", default="", metavar="DIR",
                        help="make keyframes from the images in DIR (VAE encoder, or approx without a model)")
    parser.add_argument("--preview", action="store_true", help="also write keyframes/NAME/preview.png, a contact sheet")
    parser.add_argument("--force", action="store_true", help="redo keyframes even when they are up to date")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_folder_flags(parser, "presets", "keyframes")


def options_from(args: argparse.Namespace) -> PrecomputeOptions:
    """The :class:`PrecomputeOptions` the parsed flags ask for."""
    return PrecomputeOptions(
        presets=tuple(args.presets), all_presets=args.all, model=args.model, vae=args.vae, device=args.device,
        fp32=args.fp32, batch_size=args.batch_size, allow_download=args.allow_download,
        from_images=args.from_images, preview=args.preview, force=args.force, progress=not args.quiet,
        presets_dir=args.presets_dir, keyframes_dir=args.keyframes_dir)


def run(args: argparse.Namespace) -> int:
    """Entry point of `precompute`: 0 when every preset is up to date or written."""
    from live.library.precompute import precompute  # torch and diffusers: only when it runs

    options = options_from(args)
    try:
        results = precompute(options, on_result=report)
    except KeyboardInterrupt:
        print("interrupted: every finished keyframe is kept; run the same command again to resume")
        raise
    unusable = [r.name for r in results if r.action == "unusable"]
    if unusable:
        print(f"error: {len(unusable)} preset(s) could not be precomputed ({', '.join(unusable)}); "
              f"the reasons are logged above", file=sys.stderr)
        return 2
    return 0
