"""Rate-limited logging for the show's boundaries (OSC, MIDI, commands, the per-frame path).

Whatever arrives at a boundary, the log it writes stays small: a flood of bad datagrams must not
fill the disk or slow the show with log I/O. :class:`RateLimitedLog` reports the first problem of
each kind at once, repeats of a kind at most once per interval, and no more than a small burst of
lines overall, refilled at one line per ``every`` seconds: a flood costs each source about
25 bytes of log a second, whatever arrives. Every line says how many problems were held back.
The show's routine notes that a message can cause (a subscriber added, learn armed, an offset
set) go through one too, at INFO, so no message anyone can send writes a line of its own.

:class:`TokenBucket` and :class:`KeyedBuckets` bound what a boundary does for its senders (replies,
subscriptions), all of them together or per source address.
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
                 max_keys: int = 256, level: int = logging.WARNING, clock: Callable[[], float] = time.monotonic,
                 noun: str = "problem(s)") -> None:
        self.logger = logger
        self.noun = noun  # what is counted: "problem(s)", or "event(s)" for routine notes
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
            self.logger.log(self.level, "%d more %s from this source were not logged since its last report", held,
                            self.noun)

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
        suffix = f" ({held} more {self.noun} from this source not logged since its last report)" if held else ""
        self.logger.log(self.level, "%s%s", text, suffix, exc_info=exc_info)


class TokenBucket:
    """At most ``burst`` events at once and ``rate`` a second after that (a token bucket).

    Not locked: one thread owns each bucket. Times are the caller's clock (``time.monotonic``
    seconds, or a test's stepped clock); the bucket starts full at the first :meth:`take`.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._when: float | None = None

    def take(self, now: float) -> bool:
        """Use one token if there is one: True when the event may happen now."""
        if self._when is not None:
            self._tokens = min(self.burst, self._tokens + max(0.0, now - self._when) * self.rate)
        self._when = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def full(self, now: float) -> bool:
        """True when the bucket would be full at ``now`` (its source has been quiet)."""
        return self._when is None or self._tokens + (now - self._when) * self.rate >= self.burst


class KeyedBuckets:
    """A :class:`TokenBucket` per key (a sender's address), in a table of at most ``max_keys``.

    When the table is full, buckets that have refilled are forgotten (their senders were quiet:
    a fresh bucket is the same); if none has, the new keys share one ``<other>`` bucket, so a
    sender spraying source addresses cannot grow memory or get a fresh allowance per address.
    """

    def __init__(self, rate: float, burst: float, max_keys: int = 256) -> None:
        self.rate, self.burst, self.max_keys = float(rate), float(burst), int(max_keys)
        self._buckets: dict[str, TokenBucket] = {}
        self._pruned: float | None = None  # when quiet buckets were last looked for

    def take(self, key: str, now: float) -> bool:
        """Use one of ``key``'s tokens if it has one: True when its event may happen now."""
        bucket = self._buckets.get(key)
        if bucket is None:
            # At most once a second: a flood of new keys against a full table stays cheap.
            if len(self._buckets) >= self.max_keys and (self._pruned is None or now - self._pruned >= 1.0):
                self._pruned = now
                for old in [k for k, b in self._buckets.items() if k != "<other>" and b.full(now)]:
                    del self._buckets[old]
            if len(self._buckets) >= self.max_keys:
                key = "<other>"
            bucket = self._buckets.setdefault(key, TokenBucket(self.rate, self.burst))
        return bucket.take(now)
