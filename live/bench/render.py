"""`bench render`: offline render speed of the demo."""

from __future__ import annotations

import argparse
import logging
import platform
from pathlib import Path

_LOGGER = logging.getLogger(__name__)


def configure_bench(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench render``."""
    parser.add_argument("--seconds", type=float, default=10.0, help="length of demo audio to render")
    parser.add_argument("--size", default="512x512", help="output size WxH")
    parser.add_argument("--fps", type=int, default=30, help="video frame rate")


def run_bench(args: argparse.Namespace) -> int:
    """Render the demo offline and print frames per second with the machine and settings."""
    import tempfile

    import torch

    from live.library.demo import DEMO_PRESET, write_demo_track

    with tempfile.TemporaryDirectory() as tmp:
        track = Path(tmp) / "demo.wav"
        write_demo_track(track, args.seconds)
        stats = render_file(preset=DEMO_PRESET, audio=str(track), out=str(Path(tmp) / "bench.mp4"),
                            seconds=args.seconds, size=args.size, fps=args.fps, progress=False)
    print(f"machine: {platform.processor() or platform.machine()}, {_cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, GL offscreen (EGL)")
    print(f"settings: demo preset, approx decoder, {args.size}, {args.fps} fps video, {args.seconds:.0f} s of audio")
    print(f"render: {stats.frames} frames in {stats.wall_s:.2f} s = {stats.fps:.1f} frames/s "
          f"({stats.fps / args.fps:.2f}x real time)")
    return 0


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
from live.show.render import render_file
