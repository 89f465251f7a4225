"""`bench render`: offline render speed of the demo, through the same code as `render`."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from live.bench.machine import machine_line
from live.library.demo import DEMO_PRESET, write_demo_track
from live.show.driver import MAX_FPS
from live.show.render import render_file
from live.values import Bounded, positive


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench render``."""
    parser.add_argument("--seconds", type=positive(float, 3600), default=10.0, help="length of demo audio to render")
    parser.add_argument("--size", default="512x512", help="output size WxH")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=30, help="video frame rate")


def run(args: argparse.Namespace) -> int:
    """Render the demo offline and print frames per second with the machine and settings."""
    with tempfile.TemporaryDirectory() as tmp:
        track = Path(tmp) / "demo.wav"
        write_demo_track(track, args.seconds)
        stats = render_file(preset=DEMO_PRESET, audio=str(track), out=str(Path(tmp) / "bench.mp4"),
                            seconds=args.seconds, size=args.size, fps=args.fps, progress=False)
    print(f"{machine_line()}, GL offscreen (EGL)")
    print(f"settings: demo preset, approx decoder, {args.size}, {args.fps} fps video, {args.seconds:.0f} s of audio")
    print(f"render: {stats.frames} frames in {stats.wall_s:.2f} s = {stats.fps:.1f} frames/s "
          f"({stats.fps / args.fps:.2f}x real time)")
    return 0
