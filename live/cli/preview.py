"""`preview`: a contact sheet of a preset against a track (frames on and just before beats). Arguments only."""

from __future__ import annotations

import argparse
import logging

from live.cli.common import add_decoder_flags, add_flash_flag, add_folder_flags
from live.show.driver import MAX_FPS
from live.values import Bounded, positive

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``preview``."""
    parser.add_argument("preset", help="preset name (presets/NAME.toml)")
    parser.add_argument("--audio", default=None, help="audio file to render against (default: the built-in demo track)")
    parser.add_argument("--out", required=True, help="the contact sheet, a picture (.png, .jpg, .webp)")
    parser.add_argument("--moments", type=Bounded(int, 1, 32), default=6,
                        help="moments across the track, each shown just before and on a beat")
    parser.add_argument("--seconds", type=positive(float), default=None, help="only the first S seconds of the audio")
    parser.add_argument("--size", default="768x432", help="render size WxH (as the show's output)")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=30, help="render frame rate")
    add_decoder_flags(parser)
    add_flash_flag(parser)
    add_folder_flags(parser, "presets", "keyframes", "shaders")


def run(args: argparse.Namespace) -> int:
    """Render, write the sheet and say where it went."""
    from live.show.preview import preview

    shots = preview(preset=args.preset, out=args.out, audio=args.audio, moments_count=args.moments,
                    seconds=args.seconds, size=args.size, fps=args.fps, keyframes_dir=args.keyframes_dir,
                    decoder=args.decoder, model=args.model, family=args.family, presets_dir=args.presets_dir,
                    shaders_dir=args.shaders_dir, flash_limit=args.flash_limit)
    print(f"wrote {args.out}: {len(shots)} frames of {args.preset}, {len(shots) // 2} moments")
    return 0
