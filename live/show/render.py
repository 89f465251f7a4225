"""Offline render: the show, deterministic, written to a video file.

The frame driver's stepped clock advances exactly 1/fps per frame; the audio engine is fed the
file up to that time, block by block as if live; decoding is synchronous; the video sink writes
each drawn picture. Same Show, same shaders, so a render is a faithful preview of the live
show, and the tests use it.

Deterministic by construction: the same inputs give the same frames, in one process or many,
with the keyframe cache cold or warm. No picture depends on the wall clock or on a thread's
timing: presets, keyframes and shaders are read once at the start (the live show's background
reloads are off), and the video encoder is set so its bits depend on the frames alone
(:class:`~live.visuals.video.VideoWriter`).
"""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from tqdm import tqdm

from live.audio.settings import AnalysisSettings
from live.errors import UserError
from live.messages import AudioState, Command
from live.show import driver
from live.show.driver import SteppedClock, VideoSink, check_fps
from live.show.runner import ShowSettings
from live.values import parse_size

_LOGGER = logging.getLogger(__name__)


_DISK_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # the video could not be written: a full disk, a quota
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
    sections: list[str] = field(default_factory=list)  # the live section per frame ("" for the whole preset)

    @property
    def fps(self) -> float:
        """Rendered frames per wall-clock second."""
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0


def render_file(*, preset: str, audio: str, out: str | None, seconds: float | None = None, size: str = ShowSettings.size,
                fps: int = 30, decoder: str = "approx", model: str | None = None, family: str = "sd1",
                presets_dir: Path | str | None = None, keyframes_dir: Path | str | None = None,
                shaders_dir: Path | str | None = None, analysis: AnalysisSettings | None = None,
                progress: bool = True, flash_limit: bool = ShowSettings.flash_limit, clip: str | None = None,
                clip_every: float = 0.0, av_offset_ms: float = ShowSettings.av_offset,
                cues: Sequence[tuple[float, Command]] = (), aspect: str = ShowSettings.aspect,
                on_frame: Callable[[Any, Any], None] | None = None, matcher: Any = None,
                autopilot: Any = None) -> RenderStats:
    """Render ``preset`` against the ``audio`` file into the video ``out``; returns what it did.
    Folders left as None follow :mod:`live.paths`; ``analysis`` defaults to the declared defaults;
    ``flash_limit`` (on unless lifted) holds the output to 3 flashes a second, as live.
    ``clip``: a video cut against the SD layer every ``clip_every`` beats, decoded at the stepped time.
    ``av_offset_ms`` moves the picture's beat as live's ``--av-offset``; ``aspect`` maps the
    keyframes onto the output as live's ``--aspect`` (fit: black bars, fill: crop, stretch).
    ``cues``: (time, command) pairs put on the Show's command queue on the first frame at or
    after their time, as a controller would send them live (song mode's section switches).
    ``on_frame(show, renderer)`` is called after each frame is drawn (``preview`` picks its frames
    there); with ``out`` None no video is written. ``matcher``: a loaded prepared set (``--set``),
    recognised inline every 0.5 s of the file; its tracks' song plans (``set add --song``) play when
    they are recognised, as live. ``autopilot``: a :class:`live.show.autopilot.Autopilot`, as live's."""
    from live.audio.analysis import AudioEngine
    from live.audio.recognise import Recogniser
    from live.audio.sources import load_audio, to_mono
    from live.library.bank import open_bank
    from live.show.setplan import plan_player
    from live.show.show import Show, SyncDecode
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer

    width, height = parse_size(size)
    check_fps(fps)
    samples, samplerate = load_audio(audio)
    mono = to_mono(samples)
    duration = len(mono) / samplerate
    seconds = duration if seconds is None else min(seconds, duration)
    if seconds <= 0:
        raise UserError(f"--seconds {seconds}: must be more than 0")
    from live.show.inputs import check_folder_flag, check_folders, check_preset_name

    check_folders(presets=presets_dir, shaders=shaders_dir, keyframes=keyframes_dir)
    check_preset_name(preset, presets_dir)
    if decoder != "approx" and model:  # as live does: a missing, wrong or damaged VAE folder is one line now
        from live.visuals.decoders import find_autoencoder

        find_autoencoder(decoder, model)
    elif model:
        check_folder_flag("--model", str(model))
    layer = _clip_layer(clip, clip_every, width, height)  # a bad clip file is refused before any work
    writer = _open_writer(out, width, height, fps) if out is not None else _NoVideo()  # a bad --out: refused now
    renderer = None
    try:  # an interruption (Ctrl-C, SIGTERM) or a full disk, even while closing: no half file left
        dec = make_decoder(decoder, model, family=family)
        # watch=False / watch_shaders=False: live, changed files are picked up by a background thread
        # or once a wall-clock second, so a render would show them from a frame that depends on timing.
        bank = open_bank(dec.family, dec.latent_channels, dec.device, presets_dir, keyframes_dir, shaders_dir,
                         watch=False)
        engine = AudioEngine(samplerate, analysis or AnalysisSettings(),
                             Recogniser(matcher, samplerate) if matcher is not None else None)
        renderer = Renderer(width, height, headless=True, shader_dir=shaders_dir, flash_limit=flash_limit,
                            watch_shaders=False, aspect=aspect)
        stats = RenderStats(frames=0, seconds=seconds, wall_s=0.0)
        start = time.perf_counter()
        show = Show(bank, SyncDecode(dec), renderer, preset=preset, clock=engine.command, frame_period=1.0 / fps,
                    clip=layer, av_offset_ms=av_offset_ms, autopilot=autopilot, plan=plan_player(matcher))
        writer.add_audio(samples, samplerate)
        n_frames = int(round(seconds * fps))
        with tqdm(total=n_frames, desc="render", unit="frame", disable=None if progress else True,
                  leave=False) as bar:
            driver.run(_cued(show, cues), SteppedClock(fps, n_frames), VideoSink(renderer, writer),
                       AudioFeed(engine, mono, samplerate),
                       after_frame=lambda t, n: _record(stats, show, bar, renderer, on_frame))
        writer.close()
    except BaseException as exc:
        writer.abort()
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:  # the user's to fix, in one line
            raise UserError(f"{out}: cannot write the video ({exc.strerror or exc}); nothing was left "
                            "behind") from None
        raise
    finally:
        if renderer is not None:
            renderer.close()
    stats.wall_s = time.perf_counter() - start
    return stats


def _open_writer(out: str, width: int, height: int, fps: int) -> Any:
    """The video writer for ``out``; a path that cannot be written is a UserError."""
    from live.visuals.video import VideoWriter

    try:
        return VideoWriter(out, width, height, fps)
    except (OSError, ValueError) as exc:  # PyAV's errors for a bad path or format are both
        raise UserError(f"--out {out}: cannot write a video there ({exc})") from None


def _cued(show: Any, cues: Sequence[tuple[float, Command]]) -> Callable[[float, AudioState], None]:
    """``show.tick`` that first queues the cues whose time has come."""
    pending = sorted(cues, key=lambda cue: cue[0])

    def tick(t: float, state: AudioState) -> None:
        while pending and pending[0][0] <= t:
            show.commands.put(pending.pop(0)[1])
        show.tick(t, state)

    return tick


def _clip_layer(clip: str | None, every: float, width: int, height: int) -> Any:
    """The clip layer for ``render``: decoded synchronously at the stepped clock's time (None without a clip)."""
    if not clip:
        return None
    from live.visuals.clips import ClipLayer, ClipReader, SyncClip

    return ClipLayer(SyncClip(ClipReader(clip, width, height)), every)


class _NoVideo:
    """The video writer's place when no video is asked for: frames go nowhere."""

    def add_audio(self, samples: Any, samplerate: int) -> None:
        """Nothing."""

    def write(self, rgb: Any) -> None:
        """Nothing."""

    def close(self) -> None:
        """Nothing."""

    def abort(self) -> None:
        """Nothing."""


def _record(stats: RenderStats, show: Any, bar: tqdm, renderer: Any = None,
            on_frame: Callable[[Any, Any], None] | None = None) -> None:
    """After each frame: count it, keep its pulse, keyframe position and tempo, move the bar;
    then ``on_frame(show, renderer)``."""
    if on_frame is not None:
        on_frame(show, renderer)
    stats.frames += 1
    stats.pulses.append(show.last_uniforms["u_pulse"])
    stats.keyframe_positions.append(float(show.traversal.position))
    stats.bpms.append(float(show.last_state.bpm))
    stats.sections.append(show.section)
    bar.update()


class AudioFeed:
    """``state_at(t)`` for the simulated clock: feeds the engine the file up to ``t``, in
    live-sized blocks so analysis sees what it would live, and returns the engine's state.
    ``loop`` plays the file again and again (the soak); otherwise it ends with the file."""

    def __init__(self, engine: Any, mono: np.ndarray, samplerate: int, loop: bool = False) -> None:
        self.engine, self.mono, self.samplerate, self.loop = engine, mono, samplerate, loop
        self.fed = 0

    def __call__(self, t: float) -> AudioState:
        """The audio state at ``t``, after feeding every sample up to ``t``."""
        target = int(round(t * self.samplerate))
        if not self.loop:
            target = min(len(self.mono), target)
        while self.fed < target:
            start = self.fed % len(self.mono)
            step = min(ANALYSIS_HOP, target - self.fed, len(self.mono) - start)
            self.engine.feed(self.mono[start : start + step], end_time=(self.fed + step) / self.samplerate)
            self.fed += step
        return self.engine.state


def pulse_peaks(pulses: list[float] | np.ndarray) -> np.ndarray:
    """Indices of frames where the pulse restarts (a beat landed between this frame and the last)."""
    p = np.asarray(pulses)
    return np.flatnonzero(p[1:] > p[:-1] + 1e-6) + 1
