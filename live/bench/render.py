"""`bench render`: offline render speed of the demo, through the same code as `render`; the
render loop's frame time per shader chain and output size; texture upload time per frame size.

The render loop is the renderer alone, as the show drives it each frame (new per-frame
uniforms, one pass per shader, the composite pass), waited for with glFinish so the GPU's
work is counted; frames are uploaded separately, as decoded frames arrive at their own rate.
"""

from __future__ import annotations

import argparse
import ctypes
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from live import paths
from live.bench.flags import check_audio_file
from live.bench.machine import machine_line
from live.library.demo import DEMO_PRESET, demo_images, write_demo_track
from live.library.presets import find_preset
from live.messages import AudioState
from live.show.driver import MAX_FPS
from live.values import Bounded, parse_size, positive

LOOP_SIZES = "1280x720,1920x1080"
UPLOAD_SIZES = (512, 1024)
HARMONY = (1.0, 0.0, 0.2, 0.0, 0.7, 0.0, 0.0, 0.8, 0.0, 0.3, 0.0, 0.0)  # a C major-ish chroma


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench render``."""
    parser.add_argument("--seconds", type=positive(float, 3600), default=10.0, help="length of demo audio to render")
    parser.add_argument("--size", default="512x512", help="output size WxH of the offline render")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=30, help="video frame rate")
    parser.add_argument("--loop-sizes", default=LOOP_SIZES, help="render-loop output sizes, comma-separated WxH")
    parser.add_argument("--loop-frames", type=Bounded(int, 3, 10000), default=30,
                        help="frames timed per chain and size (after 3 warm-up frames)")
    parser.add_argument("--upload-frames", type=Bounded(int, 3, 10000), default=30, help="uploads timed per frame size")
    parser.add_argument("--skip-offline", action="store_true",
                        help="leave out the offline demo render and the flash limiter's cost and stalls")
    parser.add_argument("--flash-audio", default="",
                        help="audio file the grid preset is rendered against to count the flash limiter's repeated "
                             "frames and stalls (default: the demo track)")


def chains() -> dict[str, list[str]]:
    """The chains the render loop is timed with: the preset default, the demo's, every shader."""
    every = sorted(p.stem for p in paths.shaders_dir().glob("*.glsl"))
    demo = list(find_preset(DEMO_PRESET, paths.presets_dir()).look.shaders)
    return {"default (pulse)": ["pulse"], f"demo ({len(demo)})": demo, f"every shader ({len(every)})": every}


def _finish() -> None:
    from pyglet import gl

    gl.glFinish()


def _stats(times: list[float]) -> str:
    ms = np.asarray(times) * 1000.0
    return f"{ms.mean():7.2f} ms/frame (p95 {np.percentile(ms, 95):7.2f}) = {1000.0 / ms.mean():6.1f} fps"


def _Frame(rgb: np.ndarray, seq: int) -> Any:
    from live.visuals.worker import Frame

    return Frame(rgb, 0.0, seq, 0.0)


def loop_times(renderer: Any, chain: list[str], frames: int) -> list[float]:
    """Seconds per render-loop frame (draw + glFinish) with ``chain`` on ``renderer``."""
    from live.show.show import shader_uniforms  # torch and GL only when it measures: --help stays quick

    renderer.set_shaders(chain)
    images = demo_images(512, 512, 2)
    renderer.update_frames(_Frame(images[0], 1), _Frame(images[1], 2))
    times = []
    for i in range(frames + 3):
        t = i / 60.0
        state = AudioState(time=0.0, bpm=128.0, beat_phase=0.0, onset_env=0.5, low=0.6, mid=0.4, high=0.3,
                           level=0.7, chroma=HARMONY)
        start = time.perf_counter()
        renderer.draw(t, 0.5, shader_uniforms(state, t))
        _finish()
        if i >= 3:  # the first frames compile and allocate
            times.append(time.perf_counter() - start)
    return times


def upload_times(renderer: Any, side: int, frames: int) -> list[float]:
    """Seconds per texture upload (a new side x side RGB frame, glTexSubImage2D + glFinish)."""
    rng = np.random.default_rng(0)  # what the pixels are does not change the upload
    images = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(2)]
    renderer.update_frames(None, _Frame(images[0], 0))  # allocates the texture at this size
    _finish()
    times = []
    for i in range(frames):
        start = time.perf_counter()
        renderer.update_frames(None, _Frame(images[i % 2], i + 1))
        _finish()
        times.append(time.perf_counter() - start)
    return times


def gl_renderer_name() -> str:
    """The GL driver's renderer string (e.g. ``llvmpipe (LLVM 15.0.6, 256 bits)``)."""
    from pyglet import gl

    name = gl.glGetString(gl.GL_RENDERER)
    return ctypes.cast(name, ctypes.c_char_p).value.decode() if name else "unknown"


def run(args: argparse.Namespace) -> int:
    """Print the machine, then the offline render fps, render-loop frame times and upload times."""
    from live.show.render import render_file  # torch and GL only when it runs: --help stays quick
    from live.visuals.renderer import Renderer

    sizes = [parse_size(s.strip()) for s in args.loop_sizes.split(",") if s.strip()]
    if args.flash_audio:
        check_audio_file("--flash-audio", args.flash_audio)
    print(f"{machine_line()}, GL offscreen (EGL)")
    if not args.skip_offline:
        with tempfile.TemporaryDirectory() as tmp:
            track = Path(tmp) / "demo.wav"
            write_demo_track(track, args.seconds)
            stats = render_file(preset=DEMO_PRESET, audio=str(track), out=str(Path(tmp) / "bench.mp4"),
                                seconds=args.seconds, size=args.size, fps=args.fps, progress=False)
            stalls = flash_limit_stalls(args.flash_audio or str(track), seconds=args.seconds, size=args.size, fps=args.fps)
        print(f"settings: demo preset, approx decoder, {args.size}, {args.fps} fps video, {args.seconds:.0f} s of audio")
        print(f"render: {stats.frames} frames in {stats.wall_s:.2f} s = {stats.fps:.1f} frames/s "
              f"({stats.fps / args.fps:.2f}x real time)")
        print(flash_limit_cost(*parse_size(args.size)))
        print(stalls)
    for width, height in sizes:
        renderer = Renderer(width, height, headless=True)
        try:
            if (width, height) == sizes[0]:
                print(f"render loop (draw + glFinish, {args.loop_frames} frames each; GL: {gl_renderer_name()}):")
            for label, chain in chains().items():
                print(f"  {f'{width}x{height}':<9}  {label:<18} {_stats(loop_times(renderer, chain, args.loop_frames))}")
            if (width, height) == sizes[-1]:
                print(f"texture upload (one RGB frame, glTexSubImage2D + glFinish, {args.upload_frames} each):")
                for side in UPLOAD_SIZES:
                    ms = np.asarray(upload_times(renderer, side, args.upload_frames)) * 1000.0
                    print(f"  {f'{side}x{side}':<9}  {ms.mean():7.2f} ms (p95 {np.percentile(ms, 95):.2f})")
        finally:
            renderer.close()
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


@dataclass
class FlashStalls:
    """Repeated frames (a frame identical to the one before) and the longest run of them, in a
    render of ``preset`` against ``audio`` without and with the flash limiter."""

    preset: str
    audio: str
    seconds: float
    fps: int
    repeated: tuple[int, int]  # (without, with)
    longest: tuple[int, int]  # the longest stall: frames showing the same picture again in a row
    touched: int  # frames the limiter touched (dimmed somewhere)

    def __str__(self) -> str:
        ms = [1000.0 * n / self.fps for n in self.longest]
        return (f"flash limiter on {self.preset} against {Path(self.audio).name} ({self.seconds:.0f} s, {self.fps} fps): "
                f"repeated frames {self.repeated[0]} without, {self.repeated[1]} with; longest stall "
                f"{self.longest[0]} frames ({ms[0]:.0f} ms) without, {self.longest[1]} ({ms[1]:.0f} ms) with; "
                f"{self.touched} frames touched by the limiter")


def repeated_frames(frames: list[np.ndarray]) -> tuple[int, int]:
    """(frames identical to the one before, the longest run of such frames)."""
    runs, run = [], 0
    for a, b in zip(frames, frames[1:]):
        run = run + 1 if np.array_equal(a, b) else 0
        runs.append(run)
    return sum(1 for r in runs if r), max(runs, default=0)


class _Keep:
    """A video writer that keeps the frames."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(frame)


def flash_limit_stalls(audio: str, preset: str = "grid", seconds: float = 12.0, size: str = "256x256",
                       fps: int = 30) -> FlashStalls:
    """Render ``preset`` against ``audio`` (the show as ``render`` drives it, frames kept) without
    and with the flash limiter, and count the repeated frames and stalls of each."""
    from live.audio.analysis import AudioEngine
    from live.audio.settings import AnalysisSettings
    from live.audio.sources import load_audio, to_mono
    from live.library.bank import open_bank
    from live.show import driver
    from live.show.driver import SteppedClock, VideoSink
    from live.show.render import AudioFeed
    from live.show.show import Show, SyncDecode
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer

    width, height = parse_size(size)
    samples, samplerate = load_audio(audio)
    mono = to_mono(samples)
    seconds = min(seconds, len(mono) / samplerate)
    n = int(round(seconds * fps))
    results, touched = [], 0
    for limit in (False, True):
        dec = make_decoder("approx")
        bank = open_bank(dec.family, dec.latent_channels, dec.device, None, None, None)
        renderer = Renderer(width, height, headless=True, flash_limit=limit)
        keep = _Keep()
        try:
            engine = AudioEngine(samplerate, AnalysisSettings())
            show = Show(bank, SyncDecode(dec), renderer, preset=preset, clock=engine.command, frame_period=1.0 / fps)
            driver.run(show.tick, SteppedClock(fps, n), VideoSink(renderer, keep), AudioFeed(engine, mono, samplerate))
            if limit:
                touched = renderer.flash_state()[0]
        finally:
            renderer.close()
        results.append(repeated_frames(keep.frames))
    return FlashStalls(preset, audio, seconds, fps, (results[0][0], results[1][0]), (results[0][1], results[1][1]),
                       touched)
