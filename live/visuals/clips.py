"""The clip layer: a video file shown in place of the Stable Diffusion layer, cut against it on
the beat (every N beats) or on command, like a VJ cutting the artist's video against the music.

:class:`ClipReader` decodes the file in order with PyAV, looping, each frame scaled (and
centre-cropped) to the output size as it is decoded. Live, :class:`ClipPlayer` runs it on a
background thread at the show's clock and publishes each frame at its time into a latest-wins
slot; in ``render``, :class:`SyncClip` decodes in the caller's thread at the stepped clock's
time, so a render is deterministic. :class:`ClipLayer` decides per frame which layer is shown.
Clip frames fit the renderer's FrameLike protocol (rgb, display_time, seq), so the show hands
them to ``renderer.update_frames`` like decoded frames and no new texture path is needed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np

from live.errors import UserError
from live.handoff import LatestSlot
from live.messages import AudioState

_LOGGER = logging.getLogger(__name__)

# Clip frames count down from here, so their seq never equals a decoded frame's (counting up
# from 1) or the holding visual's (-2 and below, a handful): the renderer uploads on a new seq.
CLIP_SEQ_BASE = -1_000_000
KEEP_BYTES = 64 * 2**20  # a clip whose frames fit in this many bytes loops from memory
BEHIND_S = 0.5  # a player this far behind the clip's clock moves the clock on instead of racing


@dataclass(frozen=True)
class ClipFrame:
    """One clip picture: ``rgb`` (H, W, 3) uint8, read-only; ``display_time`` on the show's clock."""

    rgb: np.ndarray
    display_time: float
    seq: int


def check_clip(path: str | Path) -> Path:
    """``path`` if it is a video PyAV can decode a frame from; else one-line UserError naming it."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"--clip {path}: no such file")
    try:
        with av.open(str(p)) as container:
            if not container.streams.video:
                raise UserError(f"--clip {path}: no video stream in it")
            next(container.decode(video=0))
    except UserError:
        raise
    except StopIteration:
        raise UserError(f"--clip {path}: the video has no frames") from None
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UserError(f"--clip {path}: not a readable video ({exc})") from None
    return p


def cover(rgb_frame: Any, width: int, height: int) -> np.ndarray:
    """A PyAV video frame scaled to cover ``width`` x ``height`` (aspect kept) and centre-cropped."""
    scale = max(width / rgb_frame.width, height / rgb_frame.height)
    w, h = max(width, math.ceil(rgb_frame.width * scale)), max(height, math.ceil(rgb_frame.height * scale))
    rgb = rgb_frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
    x, y = (w - width) // 2, (h - height) // 2
    out = np.ascontiguousarray(rgb[y : y + height, x : x + width])
    out.flags.writeable = False  # handed to other threads: nobody may change it
    return out


class ClipReader:
    """A video file decoded in order, looping forever, at ``width`` x ``height``."""

    def __init__(self, path: str | Path, width: int, height: int) -> None:
        self.path = check_clip(path)
        self.width, self.height = width, height

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        """(seconds since the first loop began, picture) for every frame, loop after loop. A
        short clip (a still image, a loop of a few seconds) is kept in memory after its first
        pass instead of being read again each loop."""
        base = 0.0
        while True:
            kept: list[tuple[float, np.ndarray]] | None = []
            length = 0.0
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                period = 1.0 / float(stream.average_rate or 25)
                first: float | None = None
                for frame in container.decode(stream):
                    at = float(frame.time) if frame.time is not None else length
                    first = at if first is None else first
                    length = max(length, at - first + period)
                    picture = cover(frame, self.width, self.height)
                    if kept is not None:
                        kept.append((at - first, picture))
                        if len(kept) * picture.nbytes > KEEP_BYTES:
                            kept = None
                    yield base + at - first, picture
            if length <= 0:  # a file that became empty: never spin on it
                raise RuntimeError("no frames left in the file")
            base += length
            while kept:  # the whole clip fits in memory: loop it from there
                for at, picture in kept:
                    yield base + at, picture
                base += length


class SyncClip:
    """The clip decoded in the caller's thread at the asked time (``render``): deterministic.
    Time 0 is the clip's first frame; a failure is logged once and the clip stays off."""

    def __init__(self, reader: ClipReader) -> None:
        self.reader = reader
        self.error = ""
        self._frames = reader.frames()
        self._current: ClipFrame | None = None
        self._next: tuple[float, np.ndarray] | None = None
        self._seq = CLIP_SEQ_BASE

    def frame_at(self, t: float) -> ClipFrame | None:
        """The clip's frame for time ``t`` (the last one that starts at or before it)."""
        if self.error:
            return None
        try:
            if self._next is None:
                self._next = next(self._frames)
            while self._next[0] <= t or self._current is None:
                self._seq -= 1
                self._current = ClipFrame(self._next[1], self._next[0], self._seq)
                self._next = next(self._frames)
        except Exception as exc:  # a file broken mid-show: the SD layer stays
            self.error = f"{exc!r}"
            _LOGGER.error("clip %s failed (%s); showing the SD layer only", self.reader.path, self.error)
            return None
        return self._current

    def stop(self) -> None:
        """Nothing runs in the background."""


class ClipPlayer:
    """The clip decoded on a background thread at the show's clock (``clock``, perf_counter),
    looping; each frame is published into a latest-wins slot at its time. Nothing waits on it:
    :meth:`frame_at` returns the newest published frame. A failure is logged once and the clip
    stays off (the SD layer shows)."""

    def __init__(self, reader: ClipReader, clock: Callable[[], float] = time.perf_counter) -> None:
        self.reader, self.clock = reader, clock
        self.error = ""
        self._slot: LatestSlot[ClipFrame] = LatestSlot()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="clip", daemon=True)

    def start(self) -> "ClipPlayer":
        """Start decoding; the clip's first frame is due now."""
        self._thread.start()
        return self

    def frame_at(self, t: float) -> ClipFrame | None:
        """The newest frame published (``t`` is the show's; the thread keeps the clip's time)."""
        return None if self.error else self._slot.get()

    def stop(self, timeout: float = 1.0) -> None:
        """Stop the thread (waits up to ``timeout`` for the frame in progress)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        start = self.clock()
        seq = CLIP_SEQ_BASE
        try:
            for at, rgb in self.reader.frames():
                due = start + at
                late = self.clock() - due
                if late > BEHIND_S:  # decoding cannot keep up (a busy CPU): move on, never burst
                    start += late
                    due += late
                elif late < 0 and self._stop.wait(-late):
                    return
                if self._stop.is_set():
                    return
                seq -= 1
                self._slot.put(ClipFrame(rgb, due, seq))
        except Exception as exc:  # a file broken or removed mid-show: the SD layer stays
            self.error = f"{exc!r}"
            _LOGGER.error("clip %s failed (%s); showing the SD layer only", self.reader.path, self.error)


LAYERS = ("sd", "clip", "toggle")


class ClipLayer:
    """Which layer the show draws: ``sd`` (the decoded frames) or ``clip``.

    With ``every`` > 0 beats, the layer flips each time the beat count at a frame's display time
    crosses a multiple of ``every``, so cuts land on the beat; ``layer`` commands switch it at once
    (and the beat cuts go on from there); ``clip_every`` changes ``every`` (0: only on command).
    """

    def __init__(self, source: SyncClip | ClipPlayer, every: float = 0.0) -> None:
        self.source = source
        self.every = float(every)
        self.showing = "sd"
        self._cuts: int | None = None

    def command(self, name: str, args: tuple[Any, ...]) -> None:
        """Carry out ``layer sd|clip|toggle`` or ``clip_every N`` (arguments already validated)."""
        if name == "layer":
            choice = str(args[0])
            self.showing = ("clip" if self.showing == "sd" else "sd") if choice == "toggle" else choice
        elif name == "clip_every":
            self.every = float(args[0])
            self._cuts = None
        else:
            raise UserError(f"unknown layer command {name!r}")

    def frame(self, state: AudioState, t: float) -> ClipFrame | None:
        """The clip frame to draw for display time ``t``, or None when the SD layer shows
        (chosen, or the clip failed or has no frame yet)."""
        if self.every > 0:
            cuts = math.floor(state.beats_at(t) / self.every)
            if self._cuts is not None and cuts > self._cuts:  # a tempo relock stepping back is no cut
                self.showing = "clip" if self.showing == "sd" else "sd"
            self._cuts = cuts
        if self.showing != "clip":
            return None
        return self.source.frame_at(t)

    def stop(self) -> None:
        """Stop the clip's decoding."""
        self.source.stop()
