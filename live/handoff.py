"""The only ways data crosses a thread boundary (see DESIGN.md): a ring buffer for audio,
latest-wins slots for snapshots and frames, and a bounded command queue.

Each holds its lock only for a copy, so no producer can stall a consumer for long.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Generic, TypeVar

import numpy as np

_LOGGER = logging.getLogger(__name__)
T = TypeVar("T")


class RingBuffer:
    """Fixed-size float32 ring of audio frames, written by the audio callback, read by analysis.

    The writer never blocks and never allocates: when the reader falls behind, the oldest
    audio is overwritten and counted in :attr:`overruns`.
    """

    def __init__(self, frames: int, channels: int = 1, samplerate: int = 48000) -> None:
        self.samplerate = samplerate
        self._data = np.zeros((frames, channels), dtype=np.float32)
        self._lock = threading.Lock()
        self._write = 0  # total frames ever written
        self._read = 0  # total frames ever read
        self._end_time = 0.0  # clock time just after the newest frame
        self.overruns = 0

    @property
    def channels(self) -> int:
        """Number of channels per frame."""
        return self._data.shape[1]

    def write(self, block: np.ndarray, end_time: float) -> None:
        """Copy ``block`` (frames x channels) in; ``end_time`` is the clock time after its last frame."""
        n, size = len(block), len(self._data)
        if n > size:
            block = block[-size:]
            n = size
        with self._lock:
            start = self._write % size
            first = min(n, size - start)
            self._data[start : start + first] = block[:first]
            self._data[: n - first] = block[first:]
            self._write += n
            self._end_time = end_time
            if self._write - self._read > size:
                self.overruns += self._write - self._read - size
                self._read = self._write - size

    def read(self, max_frames: int | None = None) -> tuple[np.ndarray, float]:
        """Take up to ``max_frames`` unread frames (all by default) and the clock time after the last one."""
        size = len(self._data)
        with self._lock:
            available = self._write - self._read
            n = available if max_frames is None else min(available, max_frames)
            start = self._read % size
            idx = (np.arange(n) + start) % size
            out = self._data[idx].copy()
            self._read += n
            # Frames still unread sit after the ones handed out, so step back by their duration.
            end_time = self._end_time - (self._write - self._read) / self.samplerate
        return out, end_time

    def available(self) -> int:
        """Frames written but not yet read."""
        with self._lock:
            return self._write - self._read


class LatestSlot(Generic[T]):
    """Holds only the newest value: a put replaces whatever was there (latest wins)."""

    def __init__(self, initial: T | None = None) -> None:
        self._value = initial
        self._version = 0
        self._cond = threading.Condition()

    def put(self, value: T) -> None:
        """Replace the held value and wake one waiting reader."""
        with self._cond:
            self._value = value
            self._version += 1
            self._cond.notify_all()

    def get(self) -> T | None:
        """The newest value, without waiting (None before the first put)."""
        with self._cond:
            return self._value

    def take(self, timeout: float | None = None) -> T | None:
        """Wait for a value newer than the last one taken, then remove and return it (None on timeout)."""
        with self._cond:
            if self._value is None:
                self._cond.wait_for(lambda: self._value is not None, timeout)
            value, self._value = self._value, None
            return value

    @property
    def version(self) -> int:
        """How many values have been put; lets a reader tell whether anything changed."""
        with self._cond:
            return self._version


class CommandQueue(Generic[T]):
    """Bounded FIFO for control commands. When full, the new command is dropped and logged,
    because a flood from a controller must never grow memory or block its thread."""

    log_drops = True  # a dropped command is a controller problem: say so (a few dozen lines, ever)

    def __init__(self, maxsize: int = 256) -> None:
        self._queue: queue.Queue[T] = queue.Queue(maxsize)
        self.maxsize = maxsize
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Enqueue without blocking; False (and a log line) when the queue is full."""
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            if self.log_drops and self.dropped & (self.dropped - 1) == 0:  # 1, 2, 4, 8...
                _LOGGER.warning("command queue full, dropped %d command(s) so far", self.dropped)
            return False

    def waiting(self) -> int:
        """How many commands wait now (approximate while other threads put). Not ``__len__``: an
        empty queue must stay truthy for ``queue or CommandQueue()``."""
        return self._queue.qsize()

    def drain(self, limit: int = 1000) -> list[T]:
        """Take every queued command (up to ``limit``) without blocking, oldest first."""
        items: list[T] = []
        while len(items) < limit:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return items


class DropQueue(CommandQueue[T]):
    """Bounded FIFO for bulky items a worker thread consumes (output frames to a recorder or a
    network sender). :meth:`put` never blocks: when the consumer is behind, the new item is
    dropped and counted in :attr:`dropped`, so a slow consumer can never slow the producer.
    The owner reports the count (one line at the end) instead of a log line per drop."""

    log_drops = False

    def __init__(self, maxsize: int = 4) -> None:
        super().__init__(maxsize)

    def get(self, timeout: float | None = None) -> T | None:
        """The oldest item, waiting up to ``timeout`` seconds; None when nothing came."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
