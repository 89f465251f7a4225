"""The one frame driver: every loop that draws (``live``, ``render``, ``bench decode``) runs here.

Each frame: the clock gives the frame's time ``t``, ``state_at(t)`` gives the audio snapshot,
``tick(t, state)`` advances and draws (``Show.tick``, or the benchmark's traversal + worker),
the sink presents the picture, and ``after_frame(t, frames)`` does the caller's chores
(watchdog, stats, progress). The clock and the sink are swappable:

- :class:`RealTimeClock` for the live show and the benchmark, :class:`SteppedClock` (exactly
  1/fps a frame, never sleeps) for the deterministic render;
- :class:`WindowSink` (``flip()``: vsync in a window, a pbuffer swap offscreen),
  :class:`VideoSink` (the drawn picture to a video file), :class:`NullSink` (nothing to present),
  :class:`TeeSink` (another sink, and the picture to the stage outputs: recorder, NDI).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

from live.errors import UserError
from live.messages import AudioState

MAX_FPS = 240


def check_fps(fps: float) -> None:
    """UserError unless ``fps`` is a usable frame rate (1 to :data:`MAX_FPS`)."""
    if not 1 <= fps <= MAX_FPS:
        raise UserError(f"--fps {fps:g}: choose 1 to {MAX_FPS}")


class Clock(Protocol):
    """Where frame times come from."""

    def times(self) -> Iterator[float]:
        """Each frame's time, in seconds; the iterator paces the loop (or not) and ends it when done."""
        ...


class RealTimeClock:
    """``time.perf_counter()`` at each frame, for ``seconds`` (None: until the loop stops).

    ``paced``: sleep to the next frame, for loops that nothing else paces (offscreen); a window
    waits for vsync in its flip, so it is not paced here. A late frame starts the next one at
    once, but a loop more than a frame behind starts its schedule afresh rather than bursting
    frames to catch up.
    """

    def __init__(self, fps: float, *, paced: bool = True, seconds: float | None = None) -> None:
        self.period = 1.0 / fps
        self.paced = paced
        self.seconds = seconds

    def times(self) -> Iterator[float]:
        """Frame times from now on, sleeping between frames when paced."""
        start = next_frame = time.perf_counter()
        while True:
            now = time.perf_counter()
            if self.seconds is not None and now - start >= self.seconds:
                return
            yield now
            if not self.paced:
                continue
            next_frame += self.period
            pause = next_frame - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            elif pause < -self.period:
                next_frame = time.perf_counter()


class SteppedClock:
    """Frame k at exactly ``k / fps`` seconds, for ``frames`` frames, as fast as the work allows."""

    def __init__(self, fps: float, frames: int) -> None:
        self.fps = fps
        self.frames = frames

    def times(self) -> Iterator[float]:
        """0, 1/fps, 2/fps, ... without sleeping."""
        for k in range(self.frames):
            yield k / self.fps


class Sink(Protocol):
    """Where a drawn frame goes."""

    @property
    def closed(self) -> bool:
        """True when the output is gone (the user closed the window) and the loop should end."""
        ...

    def present(self) -> None:
        """Show or store the frame just drawn."""
        ...


class WindowSink:
    """The renderer's window (waits for vsync) or its offscreen pbuffer: ``renderer.flip()``; or
    the stage's windows (:class:`live.visuals.windows.StageWindows`: output and operator window),
    whose ``closed`` is only ever a deliberate quit, never a window closed by accident."""

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer

    @property
    def closed(self) -> bool:
        """True once the user quit (or, for a bare renderer, closed its window)."""
        return self.renderer.closed

    def present(self) -> None:
        """Flip the window (handles its events too)."""
        self.renderer.flip()


class VideoSink:
    """Each drawn picture, read back from the renderer, into a video writer."""

    closed = False

    def __init__(self, renderer: Any, writer: Any) -> None:
        self.renderer, self.writer = renderer, writer

    def present(self) -> None:
        """Append the drawn picture to the video."""
        self.writer.write(self.renderer.read_pixels())


class TeeSink:
    """Another sink's frames, also handed to the stage outputs (``--record``, ``--ndi``): each
    drawn picture is read back (``outputs.capture()``, asynchronous) before the inner sink presents."""

    def __init__(self, inner: Sink, outputs: Any) -> None:
        self.inner, self.outputs = inner, outputs

    @property
    def closed(self) -> bool:
        """The inner sink's: the loop ends when the window closes."""
        return self.inner.closed

    def present(self) -> None:
        """Start reading the picture back, then present it."""
        self.outputs.capture()
        self.inner.present()


class NullSink:
    """Nothing to present: the loop runs without GL."""

    closed = False

    def present(self) -> None:
        """Nothing."""


@dataclass
class DriverRun:
    """What a driver run did: frames drawn and wall-clock seconds."""

    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        """Frames per wall-clock second."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run(tick: Callable[[float, AudioState], None], clock: Clock, sink: Sink,
        state_at: Callable[[float], AudioState], *, after_frame: Callable[[float, int], None] | None = None,
        until: Callable[[], bool] | None = None) -> DriverRun:
    """Tick and present one frame per clock time until the clock ends, the sink closes or ``until()``.

    ``after_frame(t, frames)`` runs after each presented frame, with the count so far.
    """
    frames = 0
    start = time.perf_counter()
    for t in clock.times():
        if sink.closed or (until is not None and until()):
            break
        tick(t, state_at(t))
        sink.present()
        frames += 1
        if after_frame is not None:
            after_frame(t, frames)
    return DriverRun(frames, time.perf_counter() - start)
