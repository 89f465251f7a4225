"""Live recognition of a prepared set: which of the DJ's tracks is playing, where in it, how fast.

A :class:`Recogniser` sits beside the :class:`~live.audio.analysis.AudioEngine`, which hands it
every block of input (:meth:`Recogniser.push`). Every :data:`EVERY_S` of stream time the newest
:data:`WINDOW_S` of audio goes to the set's matcher (``SetIndex.match`` of
:mod:`live.library.sets`, given to this module as an object, so audio never imports the library):
inline in ``render`` and ``beats`` (deterministic), on a thread of its own live, the windows and
answers crossing by latest-wins slots (an answer is used when it comes back, stamped with the
stream time of its window's end).

Each answer is one observation (time, position, track). The recogniser follows one **line**,
position(t) = p + speed x (t - t0), fitted through the recent observations that agree with it
(within :data:`TOLERANCE_S`): the fingerprint's speed is only ~0.5% accurate, the line's slope over
several seconds is much better. An answer that does not fit (another track, a jump, a loop) starts
a candidate line, followed once :data:`CONFIRM` answers agree with it, none more than
:data:`CANDIDATE_S` apart (one is enough when
the followed line has had no agreeing answer for :data:`STALE_S`): a blend moves to the incoming
track when it dominates the windows, a jump re-aligns in about 2 s. With no
agreeing answer for :data:`HOLD_S` (a breakdown without landmarks, music not in the set) or in
silence, the track is lost. Music not in the set is refused by the matcher (a false identification
is worse than none); the confirmation makes a lone chance hit harmless too.

:meth:`Recogniser.at` turns the line at a time into a :class:`~live.messages.TrackPosition` for the
AudioState and a ``set`` :class:`~live.messages.TempoReading` for the beat clock: the track's grid
beat at that position, counted so that its downbeats fall on multiples of ``BEATS_PER_BAR`` (the
clock takes the bar from there), at the grid's local tempo times the speed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from live.handoff import LatestSlot
from live.messages import BEATS_PER_BAR, TempoReading, TrackPosition

_LOGGER = logging.getLogger(__name__)

WINDOW_S = 3.0  # seconds of audio a match looks at (the matcher wants 3-6 s; shorter follows a blend sooner)
MIN_FILL_S = 2.5  # the first match waits for this much audio (shorter windows misjudge the speed)
EVERY_S = 0.5  # stream seconds between matches
TOLERANCE_S = 0.12  # an answer this close to the line confirms it (landmarks are 23 ms frames)
CONFIRM = 2  # answers in a row that must agree before a new line (track, jump) is followed
CANDIDATE_S = 1.5  # a candidate with no agreeing answer for this long while the line is confirmed is dropped
STALE_S = 1.0  # ... but one is enough when the followed line has had no agreeing answer this long
HOLD_S = 2.0  # no agreeing answer for this long: the track is lost
WEAK = 0.3  # an agreeing answer scoring under this share of the line's recent median confirms nothing:
# the window holds only the end of the track (a cut, the tail of a blend), not the track playing now
FIT_S = 8.0  # observations older than this leave the line's fit (a DJ's pitch ride is followed)
SPEED_RANGE = (0.85, 1.15)  # a fitted slope outside this is noise, not a pitch fader
SILENCE_RMS = 1e-3  # -60 dBFS over the newest EVERY_S: nothing plays, nothing is recognised


class Matcher(Protocol):
    """What the recogniser needs of a loaded set (``live.library.sets.SetIndex``)."""

    def match(self, samples: np.ndarray, samplerate: int) -> Any:
        """An answer with ``name``, ``track`` (``locate(position)``, ``duration``), ``position`` and
        ``speed``, or None."""


@dataclass
class _Line:
    """One followed alignment: a track and the (time, position) observations that agree."""

    name: str
    track: Any
    speed: float  # the matcher's speed until the observations span enough time
    obs: list[tuple[float, float]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # the agreeing answers' scores, newest last
    slope: float = 1.0
    intercept: float = 0.0  # position at time 0 on the fitted line

    def add(self, t: float, position: float, score: float) -> None:
        """One more agreeing observation; refit the line on the recent ones."""
        self.obs.append((t, position))
        self.scores.append(score)
        keep = [k for k, o in enumerate(self.obs) if o[0] >= t - FIT_S]
        self.obs, self.scores = [self.obs[k] for k in keep], [self.scores[k] for k in keep]
        ts = np.array([o[0] for o in self.obs])
        ps = np.array([o[1] for o in self.obs])
        slope = self.speed
        if len(ts) >= 3 and np.ptp(ts) >= 2.0:
            fitted = float(np.polyfit(ts - ts[-1], ps, 1)[0])
            if SPEED_RANGE[0] <= fitted <= SPEED_RANGE[1]:
                slope = fitted
        self.slope = slope
        # The newest observations say most about where the track is now (the fit lags a jump of speed).
        recent = slice(-6, None)
        self.intercept = float(np.median(ps[recent] - slope * ts[recent]))

    @property
    def confirmed(self) -> float:
        """Time of the newest agreeing observation."""
        return self.obs[-1][0]

    def at(self, t: float) -> float:
        """Position (s into the original file) at time ``t``."""
        return self.intercept + self.slope * t


class Recogniser:
    """Follows a prepared set's tracks in the input (see the module doc). Fed and asked by the
    analysis thread only; ``threaded`` runs the matching on a thread of its own (live)."""

    def __init__(self, matcher: Matcher, samplerate: int, threaded: bool = False,
                 window_s: float = WINDOW_S, every_s: float = EVERY_S) -> None:
        self.matcher, self.samplerate = matcher, int(samplerate)
        self.every_s = float(every_s)
        self._audio = np.zeros(int(window_s * self.samplerate), dtype=np.float32)  # a ring, newest at _write
        self._write = 0
        self._filled = 0
        self._next = None  # stream time of the next match
        self._line: _Line | None = None
        self._candidate: _Line | None = None
        self.busy = 0.0  # CPU seconds spent matching (the cost figure)
        self.matches = 0
        self._thread: _MatchThread | None = None
        if threaded:
            self._thread = _MatchThread(self)
            self._thread.start()

    # -- feeding (analysis thread) -----------------------------------------------------------

    def push(self, block: np.ndarray, end_time: float) -> None:
        """The newest mono ``block`` ending at ``end_time``; matches when one is due (inline), or
        hands the window to the match thread and takes any answer that came back."""
        x = np.asarray(block, dtype=np.float32)
        n, size = len(x), len(self._audio)
        if n >= size:
            self._audio[:] = x[-size:]
            self._write = 0
        elif n:
            first = min(n, size - self._write)
            self._audio[self._write:self._write + first] = x[:first]
            self._audio[:n - first] = x[first:]
            self._write = (self._write + n) % size
        self._filled = min(size, self._filled + n)
        if self._thread is not None:
            answer = self._thread.answers.take(timeout=0)
            if answer is not None:
                self.observe(*answer)
        if self._next is None:
            self._next = end_time - self._filled / self.samplerate + self.every_s
        if end_time + 1e-9 < self._next or self._filled < MIN_FILL_S * self.samplerate:
            return
        self._next = max(self._next + self.every_s, end_time - self.every_s)
        window = np.concatenate((self._audio[self._write:], self._audio[:self._write]))[-self._filled:]
        quiet = float(np.sqrt(np.mean(window[-int(self.every_s * self.samplerate):] ** 2))) < SILENCE_RMS
        if self._thread is not None:
            self._thread.windows.put((window, end_time, quiet))
        else:
            self.observe(end_time, None if quiet else self.match(window), quiet)

    def match(self, window: np.ndarray) -> Any:
        """One match of ``window`` (timed into :attr:`busy`); an error is logged and is no answer."""
        t0 = time.thread_time()
        try:
            return self.matcher.match(window, self.samplerate)
        except Exception:  # a broken matcher must not take the analysis down
            _LOGGER.exception("set recognition failed on one window; going on")
            return None
        finally:
            self.busy += time.thread_time() - t0
            self.matches += 1

    def observe(self, t: float, answer: Any, quiet: bool = False) -> None:
        """Take the matcher's ``answer`` (or None) for the window ending at ``t``."""
        line = self._line
        if quiet:
            self._lose("silence")
            return
        if answer is None:
            return
        score = float(getattr(answer, "score", 1.0))
        if line is not None and answer.name == line.name and abs(line.at(t) - answer.position) <= TOLERANCE_S:
            if score >= WEAK * float(np.median(line.scores)):
                line.add(t, answer.position, score)
                if self._candidate is not None and t - self._candidate.confirmed > CANDIDATE_S:
                    self._candidate = None  # a lone answer elsewhere, long ago: chance
            return
        cand = self._candidate
        if cand is not None and answer.name == cand.name and abs(cand.at(t) - answer.position) <= TOLERANCE_S:
            cand.add(t, answer.position, score)
        else:
            cand = self._candidate = _Line(answer.name, answer.track, float(answer.speed))
            cand.add(t, answer.position, score)
        stale = line is not None and t - line.confirmed >= STALE_S  # the followed track has faded or jumped
        if len(cand.obs) >= CONFIRM or stale:
            if line is None or line.name != cand.name:
                _LOGGER.info("set: %s at %.1f s, speed %.3f", cand.name, cand.at(t), cand.slope)
            else:
                _LOGGER.info("set: %s jumped %+.1f s", cand.name, cand.at(t) - line.at(t))
            self._line, self._candidate = cand, None

    def _lose(self, why: str) -> None:
        if self._line is not None:
            _LOGGER.info("set: %s lost (%s)", self._line.name, why)
        self._line = self._candidate = None

    # -- asking (analysis thread) ------------------------------------------------------------

    def at(self, t: float) -> tuple[TrackPosition, TempoReading] | None:
        """The recognised track at time ``t`` and the beat clock's ``set`` reading, or None."""
        line = self._line
        if line is None:
            return None
        position = line.at(t)
        if t - line.confirmed > HOLD_S or position > float(getattr(line.track, "duration", math.inf)) + 1.0:
            self._lose("no match" if t - line.confirmed > HOLD_S else "its end")
            return None
        point = line.track.locate(position)
        per_bar = int(getattr(line.track, "beats_per_bar", BEATS_PER_BAR)) or BEATS_PER_BAR
        # The bar's downbeat in whole bars, then the beat inside it: downbeats on multiples of 4.
        bar = math.floor(point.bar - point.beat_in_bar / per_bar + 0.5)
        beat = bar * BEATS_PER_BAR + point.beat_in_bar
        where = TrackPosition(name=line.name, position=round(position, 3), speed=round(line.slope, 4),
                              bar=int(bar), phrase=int(point.phrase), section=int(point.section))
        return where, TempoReading("set", float(point.bpm) * line.slope, float(beat), t)

    @property
    def following(self) -> str | None:
        """The name of the track followed now, None when none is."""
        return None if self._line is None else self._line.name

    def close(self) -> None:
        """Stop the match thread, if any."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None


class _MatchThread(threading.Thread):
    """Matches the windows the analysis thread hands over (latest wins: a slow match skips windows)."""

    def __init__(self, owner: Recogniser) -> None:
        super().__init__(name="set-recogniser", daemon=True)
        self.owner = owner
        self.windows: LatestSlot[tuple[np.ndarray, float, bool]] = LatestSlot()
        self.answers: LatestSlot[tuple[float, Any, bool]] = LatestSlot()
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Finish and wait."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=2.0)

    def run(self) -> None:
        """Thread body: take a window, match it, hand the answer back."""
        while not self._stop_event.is_set():
            item = self.windows.take(timeout=0.1)
            if item is None:
                continue
            window, end_time, quiet = item
            self.answers.put((end_time, None if quiet else self.owner.match(window), quiet))
