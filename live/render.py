"""`render`: the show, offline and deterministic, written to a video file.

A simulated clock advances exactly 1/fps per frame; the audio engine is fed the file up to
that time, block by block as if live; decoding is synchronous. Same Show, same shaders, so a
render is a faithful preview of the live show, and the tests use it.
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from live.errors import UserError

_LOGGER = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PRESETS_DIR = ROOT / "presets"
KEYFRAMES_DIR = ROOT / "keyframes"
ANALYSIS_HOP = 512  # samples per analysis block fed to the engine, the live block size


class SizeError(UserError):
    """A --size value that is not WxH with positive multiples of 2."""


def parse_size(text: str) -> tuple[int, int]:
    """'768x432' -> (768, 432). H.264 needs even sizes, so odd ones are refused."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SizeError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 512x512 or 1280x720") from None
    if w < 16 or h < 16 or w > 8192 or h > 8192 or w % 2 or h % 2:
        raise SizeError(f"--size {text}: width and height must be even numbers from 16 to 8192")
    return w, h


@dataclass
class RenderStats:
    """What a render did: frame count, speed, and per-frame pulse and beat position (for tests)."""

    frames: int
    seconds: float
    wall_s: float
    pulses: list[float] = field(default_factory=list)
    keyframe_positions: list[float] = field(default_factory=list)
    bpms: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        """Rendered frames per wall-clock second."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def open_bank(decoder: Any, presets_dir: Path = PRESETS_DIR, keyframes_dir: Path = KEYFRAMES_DIR) -> Any:
    """Load every preset's keyframes for this decoder (the bank logs the unusable ones)."""
    from live.presets import PresetBank

    return PresetBank.load(presets_dir, keyframes_dir, latent_channels=decoder.latent_channels,
                           family=decoder.family, device=decoder.device)


def render_file(*, preset: str, audio: str, out: str, seconds: float | None = None, size: str = "512x512",
                fps: int = 30, decoder: str = "approx", model: str | None = None, family: str = "sd1",
                presets_dir: Path = PRESETS_DIR, keyframes_dir: Path = KEYFRAMES_DIR,
                progress: bool = True) -> RenderStats:
    """Render ``preset`` against the ``audio`` file into the video ``out``; returns what it did."""
    from live.analysis import AudioEngine
    from live.audio import load_audio, to_mono
    from live.decoder import make_decoder
    from live.renderer import Renderer
    from live.show import Show, SyncDecode
    from live.video import VideoWriter

    width, height = parse_size(size)
    if fps < 1 or fps > 240:
        raise UserError(f"--fps {fps}: choose 1 to 240")
    samples, samplerate = load_audio(audio)
    mono = to_mono(samples)
    duration = len(mono) / samplerate
    seconds = duration if seconds is None else min(seconds, duration)
    if seconds <= 0:
        raise UserError(f"--seconds {seconds}: must be more than 0")
    dec = make_decoder(decoder, model, family=family)
    bank = open_bank(dec, presets_dir, keyframes_dir)
    engine = AudioEngine(samplerate)
    renderer = Renderer(width, height, headless=True)
    stats = RenderStats(frames=0, seconds=seconds, wall_s=0.0)
    start = time.perf_counter()
    try:
        show = Show(bank, SyncDecode(dec), renderer, preset=preset, clock=engine.command, frame_period=1.0 / fps)
        writer = VideoWriter(out, width, height, fps)
        writer.add_audio(samples, samplerate)
        try:
            _render_frames(show, engine, mono, samplerate, fps, int(round(seconds * fps)), writer, stats, progress)
        except BaseException:
            writer.abort()
            raise
        writer.close()
    finally:
        renderer.close()
    stats.wall_s = time.perf_counter() - start
    return stats


def _render_frames(show, engine, mono: np.ndarray, samplerate: int, fps: int, n_frames: int, writer,
                   stats: RenderStats, progress: bool) -> None:
    """The simulated clock: frame k is drawn at t = k/fps after feeding the audio up to t."""
    fed = 0
    for k in tqdm(range(n_frames), desc="render", unit="frame", disable=None if progress else True, leave=False):
        t = k / fps
        target = min(len(mono), int(round(t * samplerate)))
        while fed < target:  # feed in live-sized blocks, so analysis sees what it would live
            step = min(ANALYSIS_HOP, target - fed)
            engine.feed(mono[fed : fed + step], end_time=(fed + step) / samplerate)
            fed += step
        show.tick(t, engine.state)
        writer.write(show.renderer.read_pixels())
        stats.frames += 1
        stats.pulses.append(show.last_uniforms["u_pulse"])
        stats.keyframe_positions.append(float(show.traversal.position))
        stats.bpms.append(float(show.last_state.bpm))


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``render``."""
    parser.add_argument("--preset", required=True, help="preset name (presets/NAME.toml)")
    parser.add_argument("--audio", required=True, help="audio file to render against (WAV, FLAC, OGG, MP3...)")
    parser.add_argument("--out", required=True, help="output video file (.mp4)")
    parser.add_argument("--seconds", type=float, default=None, help="render only the first S seconds (default: whole file)")
    parser.add_argument("--size", default="512x512", help="output size WxH")
    parser.add_argument("--fps", type=int, default=30, help="video frame rate")
    parser.add_argument("--decoder", default="approx", choices=["approx", "tiny", "vae"], help="latent decoder")
    parser.add_argument("--model", default=None, help="VAE / TAESD / model folder for --decoder tiny or vae")
    parser.add_argument("--family", default="sd1", choices=["sd1", "sdxl"], help="latent family of the presets")


def run(args: argparse.Namespace) -> int:
    """Render and report where the file went."""
    stats = render_file(preset=args.preset, audio=args.audio, out=args.out, seconds=args.seconds, size=args.size,
                        fps=args.fps, decoder=args.decoder, model=args.model, family=args.family)
    print(f"wrote {args.out}: {stats.frames} frames, {stats.seconds:.1f} s, rendered at {stats.fps:.1f} frames/s")
    return 0


def configure_bench(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench render``."""
    parser.add_argument("--seconds", type=float, default=10.0, help="length of demo audio to render")
    parser.add_argument("--size", default="512x512", help="output size WxH")
    parser.add_argument("--fps", type=int, default=30, help="video frame rate")


def run_bench(args: argparse.Namespace) -> int:
    """Render the demo offline and print frames per second with the machine and settings."""
    import tempfile

    import torch

    from live.demo import DEMO_PRESET, write_demo_track

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


def pulse_peaks(pulses: list[float] | np.ndarray) -> np.ndarray:
    """Indices of frames where the pulse restarts (a beat landed between this frame and the last)."""
    p = np.asarray(pulses)
    return np.flatnonzero(p[1:] > p[:-1] + 1e-6) + 1
