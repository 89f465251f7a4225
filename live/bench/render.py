"""`bench render`: offline render speed of the demo, through the same code as `render`."""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from live.bench.machine import machine_line
from live.library.demo import DEMO_PRESET, write_demo_track
from live.show.driver import MAX_FPS
from live.show.render import render_file
from live.values import Bounded, parse_size, positive


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
    print(flash_limit_cost(*parse_size(args.size)))
    return 0


@dataclass
class FlashCost:
    """Median frame times (ms) with no post shaders, without and with the flash limiter, on a
    steady picture (it measures and copies) and on a black/white strobe it holds back (it mixes)."""

    width: int
    height: int
    frames: int
    steady: tuple[float, float]  # (without, with)
    strobe: tuple[float, float]

    def __str__(self) -> str:
        (s0, s1), (f0, f1) = self.steady, self.strobe
        return (f"flash limiter at {self.width}x{self.height}: {s1 - s0:+.2f} ms/frame on a steady picture "
                f"({s0:.2f} -> {s1:.2f}), {f1 - f0:+.2f} ms/frame on a strobe it holds back ({f0:.2f} -> {f1:.2f}); "
                f"medians of {self.frames} frames, each drawn to the end")


def flash_limit_cost(width: int, height: int, frames: int = 60) -> FlashCost:
    """What the flash limiter adds to a frame at ``width`` x ``height``, timed to glFinish: the
    same frames drawn without and with it, a steady picture and a black/white strobe. The two
    renderers draw in turn, frame by frame, so a busy machine slows both alike."""
    from live.visuals.renderer import Renderer

    renderers = [Renderer(width, height, headless=True, flash_limit=limit) for limit in (False, True)]
    try:
        steady = _median_frame_ms(renderers, frames, strobe=False)
        strobe = _median_frame_ms(renderers, frames, strobe=True)
    finally:
        for r in renderers:
            r.close()
    return FlashCost(width, height, frames, steady, strobe)


def _median_frame_ms(renderers: list, frames: int, strobe: bool) -> tuple[float, ...]:
    from pyglet import gl

    from live.visuals.worker import Frame

    for r in renderers:
        r.window.switch_to()
        r.set_shaders([])
        h, w = max(1, r.height // 8), max(1, r.width // 8)
        black, white = (np.full((h, w, 3), v, np.uint8) for v in (0, 255))
        r.update_frames(Frame(black, 0.0, 1, 0.0), Frame(white, 0.0, 2, 0.0))
    times: list[list[float]] = [[] for _ in renderers]
    for k in range(frames + 5):
        for r, out in zip(renderers, times):
            start = time.perf_counter()
            r.draw(100.0 * strobe + k / 60.0, float(k % 2) if strobe else 0.5, {})
            gl.glFinish()
            out.append(time.perf_counter() - start)
    return tuple(1000.0 * float(np.median(t[5:])) for t in times)  # the first frames warm up
