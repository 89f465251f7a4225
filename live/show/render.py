"""Offline render: the show, deterministic, written to a video file.

A simulated clock advances exactly 1/fps per frame; the audio engine is fed the file up to
that time, block by block as if live; decoding is synchronous. Same Show, same shaders, so a
render is a faithful preview of the live show, and the tests use it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from live.errors import UserError
from live.sizes import parse_size

_LOGGER = logging.getLogger(__name__)


ANALYSIS_HOP = 512  # samples per analysis block fed to the engine, the live block size


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


def render_file(*, preset: str, audio: str, out: str, seconds: float | None = None, size: str = "512x512",
                fps: int = 30, decoder: str = "approx", model: str | None = None, family: str = "sd1",
                presets_dir: Path | None = None, keyframes_dir: Path | None = None,
                progress: bool = True) -> RenderStats:
    """Render ``preset`` against the ``audio`` file into the video ``out``; returns what it did."""
    from live.audio.analysis import AudioEngine
    from live.audio.sources import load_audio, to_mono
    from live.library.bank import open_bank
    from live.show.show import Show, SyncDecode
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer
    from live.visuals.video import VideoWriter

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
    bank = open_bank(dec.family, dec.latent_channels, dec.device, presets_dir, keyframes_dir)
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


def pulse_peaks(pulses: list[float] | np.ndarray) -> np.ndarray:
    """Indices of frames where the pulse restarts (a beat landed between this frame and the last)."""
    p = np.asarray(pulses)
    return np.flatnonzero(p[1:] > p[:-1] + 1e-6) + 1
