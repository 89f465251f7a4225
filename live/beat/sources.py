"""Tempo sources and their one priority order: Link, then MIDI clock, then a manual lock, then a
prepared set's grid (``set``: the recognised track, :mod:`live.audio.recognise`), then the audio.

:class:`TempoSources` is the arbiter the :class:`~live.beat.clock.BeatClock` consults. It is
pure (no threads, no clock of its own: every time is passed in), so tests drive it with fake
times. External readings (:class:`~live.messages.TempoReading`, from the Link and MIDI clock
peers) are offered to it; a source counts while its newest reading is at most :data:`QUIET_S`
old. Below the external sources the clock's own manual lock comes; below it the ``set`` reading
(offered on every analysis publish while a track is recognised, so it counts for only
:data:`SET_QUIET_S`), and below that the clock's audio tracking.

Phase continuity: the clock's beat count never jumps. When a source takes over (or the source
itself jumps: a MIDI Start, a song position, a Link timeline forced by a peer), the source's
beat is mapped onto the clock's count with a whole-beat offset ``k`` (so the bar position comes
from the source: source beat 0, 4, 8... is a downbeat) plus a fractional residual that makes
the count continuous at that instant; the residual is then slewed away at :data:`SLEW_BEATS_PER_S`,
so the clock reaches the source's phase within a second without a visible jump.

One exception: when the recognised track changes (a blend hands track A's grid to track B's), the
set's reading moves to B's phase at once, ``k`` rounded to the nearest beat and no residual. B's
beats are the music now; slewing a residual of up to half a beat away would put B's first beats
between the two grids (a beat dropped or late at every blend). The count jumps by at most half a
beat, so B's first beat is the beat after A's last one committed, or the same beat (not flashed
again) when it comes less than half a period after it.
"""

from __future__ import annotations

import logging
import math

from live.messages import BEATS_PER_BAR, TempoReading

_LOGGER = logging.getLogger(__name__)

EXTERNAL = ("link", "midi_clock")  # external sources, highest priority first
PRIORITY = EXTERNAL + ("manual", "set", "audio")  # the whole order (manual: tap, bpm or lock)
QUIET_S = 2.0  # a source with no reading for this long hands over to the next one
SET_SLEW_BEATS_PER_S = 2.0  # the set's grid is exact: a phase difference at its take-over goes within a beat
SET_QUIET_S = 0.25  # the set's readings come with every publish: a gap this long means the track is lost
SLEW_BEATS_PER_S = 0.5  # how fast a phase difference at a take-over is worked off
BPM_RANGE = (20.0, 999.0)  # Link's own tempo range; a reading outside it is a broken sender
JUMP_BEATS = 0.05  # a reading this far off the followed line is a jump of the source itself


class TempoSources:
    """Keeps the newest reading of each external source, picks the one to follow, and maps its
    beats onto the clock's continuous count (see the module docstring)."""

    def __init__(self, quiet: float = QUIET_S, slew: float = SLEW_BEATS_PER_S) -> None:
        self.quiet, self.slew = float(quiet), float(slew)
        self._latest: dict[str, TempoReading] = {}
        self._following: str | None = None
        self._k = 0  # clock count - source beat, in whole beats
        self._residual = 0.0  # fractional part still to slew away
        self._last_time: float | None = None  # time of the last reading followed
        self._set_track: str | None = None  # the recognised track of the newest set reading
        self._followed_track: str | None = None  # the set track the mapping was made for

    def offer(self, reading: TempoReading, track: str | None = None) -> bool:
        """Take a reading; False (ignored) when its source is unknown or its values are not a tempo
        (NaN, or outside :data:`BPM_RANGE`). ``track`` names the recognised track of a ``set``
        reading (a change of it is a switch of grids, see the module docstring)."""
        if reading.source not in EXTERNAL + ("set",) or not BPM_RANGE[0] <= reading.bpm <= BPM_RANGE[1]:
            return False
        if not (math.isfinite(reading.beat) and math.isfinite(reading.time)):
            return False
        self._latest[reading.source] = reading
        if reading.source == "set":
            self._set_track = track
        return True

    def active(self, now: float, manual: bool = False) -> TempoReading | None:
        """The newest reading of the highest-priority source heard within :attr:`quiet` seconds of
        ``now`` (the set's within :data:`SET_QUIET_S`, and only while no ``manual`` lock holds)."""
        for name in EXTERNAL:
            reading = self._latest.get(name)
            if reading is not None and now - reading.time <= self.quiet:
                return reading
        reading = self._latest.get("set")
        if not manual and reading is not None and now - reading.time <= SET_QUIET_S:
            return reading
        return None

    @property
    def following(self) -> str | None:
        """The source (external or ``set``) the last :meth:`follow` mapped, None after :meth:`release`."""
        return self._following

    @property
    def followed_track(self) -> str | None:
        """The set track the last ``set`` mapping was made for (None before any)."""
        return self._followed_track

    @property
    def downbeat_one(self) -> int:
        """Which clock beat index (mod 4) is the followed source's downbeat."""
        return self._k % BEATS_PER_BAR

    def follow(self, reading: TempoReading, base: float) -> float:
        """The clock count to put at ``reading.time``, given ``base``: the count the clock's
        current line gives at that time. Continuous at a take-over or a jump of the source,
        then converging to the source's phase."""
        target = reading.beat + self._k + self._residual
        slew = SET_SLEW_BEATS_PER_S if reading.source == "set" else self.slew
        step = 0.0 if self._last_time is None else slew * max(0.0, reading.time - self._last_time)
        switch = (reading.source == "set" == self._following and self._set_track != self._followed_track)
        if reading.source != self._following or switch or abs(base - target) > JUMP_BEATS + step:
            if reading.source != self._following:
                _LOGGER.info("tempo source: %s takes over (%.2f BPM)", reading.source, reading.bpm)
            self._following = reading.source
            self._k = round(base - reading.beat)
            # Continuous now (in [-0.5, 0.5]), except at a switch of set tracks: B's phase at once.
            self._residual = 0.0 if switch else base - reading.beat - self._k
        else:
            self._residual -= math.copysign(min(step, abs(self._residual)), self._residual)
        self._last_time = reading.time
        if reading.source == "set":
            self._followed_track = self._set_track
        return reading.beat + self._k + self._residual

    def release(self) -> str | None:
        """Stop following (the source went quiet); the name of the source left, if any."""
        left, self._following, self._last_time = self._following, None, None
        if left is not None:
            _LOGGER.info("tempo source: %s gone, handing over", left)
        return left
