"""Rate-limited logging for the show's boundaries (OSC, MIDI, commands, the per-frame path).

Whatever arrives at a boundary, the log it writes stays small: a flood of bad datagrams must not
fill the disk or slow the show with log I/O. :class:`RateLimitedLog` reports the first problem of
each kind at once, repeats of a kind at most once per interval, and no more than a small burst of
lines overall, refilled at one line per ``every`` seconds: a flood costs each source about
25 bytes of log a second, whatever arrives. Every line says how many problems were held back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

MAX_MESSAGE = 240  # characters of one problem's text; a hostile message cannot make long lines


class RateLimitedLog:
    """Logs problems to ``logger``, at most ``burst`` lines at once and one per ``every`` seconds after that.

    A ``key`` names a kind of problem (an OSC address, a command and its source): a kind already
    reported in the last ``interval`` seconds is counted, not logged. The key table holds at
    most ``max_keys`` kinds (old ones are forgotten, the rest share one ``<other>`` kind), so a
    sender spraying random addresses cannot grow memory. Safe to call from several threads.
    """

    def __init__(self, logger: logging.Logger, *, interval: float = 5.0, every: float = 10.0, burst: int = 10,
                 max_keys: int = 256, level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = float(interval)
        self.every = float(every)
        self.burst = int(burst)
        self.max_keys = int(max_keys)
        self.level = level
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # key -> when it was last logged
        self._tokens = float(burst)
        self._refilled = clock()
        self._pruned = self._refilled  # when old keys were last forgotten
        self._held = 0  # problems not logged since the last line
        self.count = 0  # every problem reported, logged or not
        self.lines = 0  # lines written

    def report(self, key: str, message: str, *, exc_info: bool = False) -> bool:
        """Count one problem; log ``message`` unless its kind or the line budget is used up.

        ``exc_info`` adds the current exception's traceback to the line (so a bug shows its
        traceback once, not once per datagram). Returns True if a line was written.
        """
        with self._lock:
            self.count += 1
            now = self._clock()
            self._refill(now)
            key = self._slot(key, now)
            last = self._last.get(key)
            if (last is not None and now - last < self.interval) or self._tokens < 1.0:
                self._held += 1
                return False
            self._tokens -= 1.0
            self._last[key] = now
            held, self._held = self._held, 0
            self.lines += 1
        self._write(message, held, exc_info)
        return True

    def flush(self) -> None:
        """Write one line with the count of problems held back since the last line, if any."""
        with self._lock:
            held, self._held = self._held, 0
            if held:
                self.lines += 1
        if held:
            self.logger.log(self.level, "%d more problem(s) from this source were not logged since its last report", held)

    def _refill(self, now: float) -> None:
        if self.every <= 0:
            self._tokens = float(self.burst)
        else:
            self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) / self.every)
        self._refilled = now

    def _slot(self, key: str, now: float) -> str:
        """``key``, or ``<other>`` while the table is full of kinds seen in the last interval."""
        if key in self._last or len(self._last) < self.max_keys:
            return key
        if now - self._pruned >= self.interval:  # at most once an interval: a flood of new keys stays cheap
            self._pruned = now
            for old in [k for k, t in self._last.items() if now - t >= self.interval]:
                del self._last[old]
        return key if len(self._last) < self.max_keys else "<other>"

    def _write(self, message: str, held: int, exc_info: bool) -> None:
        text = message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 3] + "..."
        suffix = f" ({held} more problem(s) from this source not logged since its last report)" if held else ""
        self.logger.log(self.level, "%s%s", text, suffix, exc_info=exc_info)
