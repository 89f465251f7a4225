"""`demo`: the built-in demo, in a window where a display exists, else rendered to a video file."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from live.library.demo import DEMO_PRESET, write_demo_track
from live.show.driver import MAX_FPS
from live.errors import UserError
from live.values import Bounded, positive

_LOGGER = logging.getLogger(__name__)


def has_display() -> bool:
    """True where a window can open: macOS and Windows always, Linux/BSD with X11 or Wayland."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``demo``."""
    parser.add_argument("--out", default="out/demo.mp4", help="video file written when there is no display (or with --render)")
    parser.add_argument("--render", action="store_true", help="render to --out even when a display exists")
    parser.add_argument("--seconds", type=positive(float, 3600), default=32.0, help="length of the demo track")
    parser.add_argument("--size", default="512x512", help="output size WxH")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=30, help="frames per second of the video (window: display rate)")


def run(args: argparse.Namespace) -> int:
    """Run the demo live in a window, or render it to a video file and print its path."""
    from live.show import render, runner

    out_dir = Path(args.out).parent
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where the folder should be, no permission
        raise UserError(f"--out {args.out}: cannot make its folder {out_dir} ({exc.strerror or exc})") from None
    track_path = out_dir / "demo_track.wav"
    write_demo_track(track_path, args.seconds)
    if has_display() and not args.render:
        return runner.run_show(runner.ShowSettings(preset=DEMO_PRESET, audio=str(track_path), monitor=True, size=args.size))
    stats = render.render_file(preset=DEMO_PRESET, audio=str(track_path), out=args.out,
                               seconds=args.seconds, size=args.size, fps=args.fps)
    print(f"no display: rendered the demo to {args.out} ({stats.frames} frames, {stats.fps:.1f} frames/s)")
    return 0
