"""`render`: deterministic offline render of a preset against an audio file. Arguments only."""

from __future__ import annotations

import argparse
import logging

from live.cli.common import (add_analysis_flags, add_av_offset_flag, add_clip_flags, add_decoder_flags, add_flash_flag,
                              add_folder_flags, add_set_flags, analysis_settings)
from live.show.driver import MAX_FPS
from live.show.inputs import load_set
from live.show.settings import ShowSettings
from live.visuals.choices import ASPECTS
from live.values import Bounded, positive

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``render``."""
    parser.add_argument("--preset", required=True, help="preset name (presets/NAME.toml)")
    parser.add_argument("--audio", required=True, help="audio file to render against (WAV, FLAC, OGG, MP3...)")
    parser.add_argument("--out", required=True, help="output video file (.mp4)")
    parser.add_argument("--seconds", type=positive(float), default=None, help="render only the first S seconds (default: whole file)")
    parser.add_argument("--size", default=ShowSettings.size, help=f"output size WxH [{ShowSettings.size}]")
    parser.add_argument("--aspect", choices=ASPECTS, default=ShowSettings.aspect,
                        help="keyframes onto the output, as live: fit (whole picture, black bars), fill (cover, "
                             f"crop), stretch [{ShowSettings.aspect}]")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=30, help="video frame rate")
    add_decoder_flags(parser)
    add_flash_flag(parser)
    add_av_offset_flag(parser)
    add_analysis_flags(parser)
    add_clip_flags(parser)
    add_folder_flags(parser, "presets", "keyframes", "shaders")
    add_set_flags(parser)


def run(args: argparse.Namespace) -> int:
    """Render and report where the file went."""
    from live.show.render import render_file  # torch and the GL stack: only when it renders

    stats = render_file(preset=args.preset, audio=args.audio, out=args.out, seconds=args.seconds, size=args.size,
                        fps=args.fps, decoder=args.decoder, model=args.model, family=args.family,
                        presets_dir=args.presets_dir, keyframes_dir=args.keyframes_dir, shaders_dir=args.shaders_dir,
                        analysis=analysis_settings(args), flash_limit=args.flash_limit, clip=args.clip,
                        clip_every=args.clip_every, av_offset_ms=args.av_offset, aspect=args.aspect,
                        matcher=load_set(args.set, args.sets_dir))
    print(f"wrote {args.out}: {stats.frames} frames, {stats.seconds:.1f} s, rendered at {stats.fps:.1f} frames/s")
    return 0
