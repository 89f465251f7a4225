"""The predictive beat clock the show reads, fed by the tracker (:mod:`live.beat.tracker`).

:class:`BeatClock` turns the tracker's "last beat + period" into a continuous beat count that
keeps counting (beat index never resets), estimates the downbeat from where the low band hits
hardest in the bar and the chords change (:mod:`live.beat.downbeat`), and applies manual
commands with a clear priority: manual BPM or tap tempo (locked) > audio; nudge and resync are
offsets that persist on top of whichever source. Above them all come the external sources
(Link, MIDI clock), arbitrated by :class:`~live.beat.sources.TempoSources`: :meth:`BeatClock.sync`
follows the one it picks and, when it goes quiet, hands back to the manual lock or the audio
without a jump of the beat count. A recognised prepared track's grid (source ``set``) is followed
the same way, between the manual lock and the audio; when it is lost the audio takes over with
the set's bar. With
no usable audio it free-runs at its last tempo (120 BPM before any lock) with low confidence.
:class:`BeatScheduler` commits the beats the clock predicts, a lookahead ahead, never revised.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from live.beat.downbeat import BarEvidence, bar_contrast, cue_weights
from live.beat.sources import EXTERNAL, TempoSources
from live.beat.tracker import BeatEstimate
from live.messages import BEATS_PER_BAR, TempoReading

_LOGGER = logging.getLogger(__name__)


EASE_BEATS = 0.01  # after a hand-over to the audio: at most this phase pull per estimate (no snap)


def fold_bpm(bpm: float, tempo_min: float, tempo_max: float) -> float:
    """Move ``bpm`` by octaves into ``[tempo_min, tempo_max]`` (the range must span an octave-ish)."""
    while bpm < tempo_min:
        bpm *= 2.0
    while bpm > tempo_max:
        bpm /= 2.0
    return bpm


class BeatClock:
    """Continuous beat count, tempo, downbeat and confidence, from the tracker and manual commands.

    Times are clock seconds. The model is ``beats(t) = anchor_beat + (t - anchor_time) * bpm / 60``.
    """

    TAP_TIMEOUT = 2.0  # seconds without a tap that start a new tap sequence
    TAP_BOUNCE = 0.1  # seconds: closer taps are one press (600 BPM is beyond any tempo range)

    def __init__(self, tempo_min: float = 70.0, tempo_max: float = 180.0, default_bpm: float = 120.0,
                 downbeat: str = "harmony") -> None:
        self.tempo_min, self.tempo_max = tempo_min, tempo_max
        self.anchor_time = 0.0
        self.anchor_beat = 0.0
        self.bpm = default_bpm
        self.confidence = 0.0
        self.source = "none"
        self.locked = False  # tempo held (manual BPM, tap, or lock command)
        self.offset = 0.0  # persistent phase offset in beats (nudge, resync)
        # The downbeat cues: the low band alone ("bass"), with the chord changes ("harmony"), or
        # a learned downbeat activation with them ("learned").
        weights, switch, ramp = cue_weights(downbeat)
        contrast = bar_contrast(downbeat)
        self._new_bar = lambda: BarEvidence(weights, switch, ramp=ramp, contrast=contrast)
        self._bar = self._new_bar()
        self._downbeat_user: int | None = None  # beat index (mod 4) the user declared the one
        self._downbeat_track: str | None = None  # the set track followed when the user declared it
        self._taps: list[float] = []
        self.sources = TempoSources()
        self.external: str | None = None  # the external source followed now (link, midi_clock)
        self._manual = ("none", default_bpm)  # source name and tempo of the manual lock, kept under an external one
        self._easing = False  # handed over to the audio: pull toward its phase gently

    # -- queries ---------------------------------------------------------------------------

    def beats_at(self, t: float) -> float:
        """Continuous beat count at time ``t`` (offsets included)."""
        return self.anchor_beat + (t - self.anchor_time) * self.bpm / 60.0 + self.offset

    def downbeat_of(self, beat_index: int) -> int:
        """Which beat of the bar (0..3) ``beat_index`` is."""
        if self._downbeat_user is not None:
            return (beat_index - self._downbeat_user) % BEATS_PER_BAR
        if self.external is not None:
            return (beat_index - self.sources.downbeat_one) % BEATS_PER_BAR
        return (beat_index - self._bar.one) % BEATS_PER_BAR

    # -- from the tracker ------------------------------------------------------------------

    def follow(self, estimate: BeatEstimate, now: float) -> None:
        """Re-anchor on the tracker's latest beat, keeping the beat count continuous."""
        if estimate.period <= 0 or self.external is not None:
            return
        bpm = 60.0 / estimate.period
        if self.locked:
            # Tempo is held: only fine phase alignment from the audio, never a jump of the count.
            bpm = self.bpm
            if estimate.confidence < 0.2:
                self._advance(now)
                return
        base = self.anchor_beat + (estimate.beat_time - self.anchor_time) * self.bpm / 60.0
        if self.locked:
            err = (base - round(base))
            if abs(err) > 0.25:
                self._advance(now)
                return
            # Pull gently toward the audio's phase.
            self._rebase(estimate.beat_time, base - 0.5 * err, bpm)
        elif self._easing:
            err = base - round(base)
            self._easing = abs(err) > 2 * EASE_BEATS
            self._rebase(estimate.beat_time, base - max(-EASE_BEATS, min(EASE_BEATS, err)), bpm)
            self.source = "audio"
        else:
            self._rebase(estimate.beat_time, float(round(base)), bpm)
            self.source = "audio"
        self.confidence = estimate.confidence

    # -- external sources ------------------------------------------------------------------

    def offer(self, reading: TempoReading, track: str | None = None) -> None:
        """An external source's reading (Link, MIDI clock) or the set's (``track``: the recognised
        track's name); :meth:`sync` decides whether to follow it."""
        self.sources.offer(reading, track)

    def sync(self, now: float) -> None:
        """Follow the highest external source heard in the last 2 s; when it has gone quiet, hand
        back to the manual lock (its tempo) or the audio, the beat count continuous at ``now``."""
        reading = self.sources.active(now, manual=self.locked)
        if reading is None:
            if self.external is not None:
                self._advance(now)  # same line up to now: no jump of the count
                if self.external == "set" and self._downbeat_user is None:
                    self._bar.one = self.sources.downbeat_one  # the audio goes on with the grid's bar
                self.sources.release()
                self.external = None
                if self.locked:
                    self.source, self.bpm = self._manual
                else:
                    self.source, self._easing = "audio", True
            return
        base = self.anchor_beat + (reading.time - self.anchor_time) * self.bpm / 60.0
        self._rebase(reading.time, self.sources.follow(reading, base), reading.bpm)
        if reading.source == "set" and self.sources.followed_track != self._downbeat_track:
            self._downbeat_user = None  # another track's grid has its own bar; the hand's one was for the last
        self.external = self.source = reading.source
        self.confidence = 1.0

    def _rebase(self, t: float, beat: float, bpm: float) -> None:
        self.anchor_time, self.anchor_beat, self.bpm = t, beat, bpm

    def _advance(self, now: float) -> None:
        # Keep the same line, only move the anchor forward so numbers stay small.
        self.anchor_beat += (now - self.anchor_time) * self.bpm / 60.0
        self.anchor_time = now

    def decay(self, seconds: float) -> None:
        """Lower the confidence while no beat evidence arrives (silence, lost input)."""
        self.confidence *= math.exp(-seconds / 4.0)

    def accent(self, beat_index: int, low: float) -> None:
        """Credit the low-band energy heard on ``beat_index`` to its bar slot (downbeat estimate)."""
        self._bar.add("bass", beat_index, low)

    def restart_bar(self) -> None:
        """Forget the downbeat evidence (the music after a long silence is another track): the one
        is guessed again, quickly at first. A downbeat set by hand stays."""
        self._bar = self._new_bar()

    def harmony(self, beat_index: int, change: float) -> None:
        """Credit the chord change into ``beat_index`` (:class:`~live.beat.downbeat.BeatChroma`) to its
        bar slot (downbeat estimate; ignored with the bass-only estimate)."""
        self._bar.add("harmony", beat_index, change)

    def learned(self, beat_index: int, probability: float) -> None:
        """Credit a learned downbeat probability around ``beat_index`` to its bar slot (downbeat
        estimate; ignored unless the downbeat cues are ``learned``)."""
        self._bar.add("learned", beat_index, probability)

    # -- manual ----------------------------------------------------------------------------

    def tap(self, t: float) -> None:
        """A tap: after two taps the tempo follows the taps and the beat lands on the last tap.

        A tap less than :data:`TAP_BOUNCE` after the previous one (a bouncing pad, the same press
        sent twice, a time that went backwards) is not a beat and is ignored."""
        if self._taps and t - self._taps[-1] < self.TAP_BOUNCE:
            return
        if self._taps and t - self._taps[-1] > self.TAP_TIMEOUT:
            self._taps = []
        self._taps = (self._taps + [t])[-8:]
        if len(self._taps) >= 2:
            bpm = 60.0 / float(np.median(np.diff(self._taps)))
            bpm = fold_bpm(bpm, self.tempo_min, self.tempo_max)
            self.locked, self._manual = True, ("tap", bpm)
            self._leave_set(t)
            if self.external is not None:
                return  # kept for when the external source goes quiet
            base = self.beats_at(t) - self.offset
            self._rebase(t, float(round(base)), bpm)
            self.offset = 0.0
            self.locked = True
            self.source = "tap"
            self.confidence = 1.0

    def set_bpm(self, bpm: float, t: float) -> None:
        """Set the tempo by hand and hold it (phase kept where it is)."""
        self.locked, self._manual = True, ("manual", float(bpm))
        self._leave_set(t)
        if self.external is not None:
            return  # kept for when the external source goes quiet
        self._advance(t)
        self.bpm = float(bpm)
        self.locked = True
        self.source = "manual"
        self.confidence = 1.0

    def nudge(self, beats: float) -> None:
        """Shift the beat phase by ``beats`` (positive = later beats... the count moves forward)."""
        self.offset += float(beats)

    def resync(self, t: float) -> None:
        """``t`` is the downbeat: put phase 0 there and make that beat the one of the bar (until a
        prepared set's track other than the one followed now is recognised: its grid has the bar)."""
        pos = self.beats_at(t)
        target = float(math.floor(pos + 0.5))
        self.offset += target - pos
        self._downbeat_user = int(target) % BEATS_PER_BAR
        self._downbeat_track = self.sources.followed_track if self.external == "set" else None

    def lock(self, on: bool, t: float) -> None:
        """Hold the current tempo (True) or hand it back to the audio (False)."""
        self.locked = bool(on)
        if not on:
            self._taps = []
        if on:
            self._leave_set(t)
        if self.external is not None:
            self._manual = ("locked", self.bpm)
            return  # the external source keeps the line; this is for when it goes quiet
        self._advance(t)
        if not on:
            self.source = "audio" if self.confidence > 0 else "none"
        elif self.source in ("none", "audio", "set"):
            self.source = "locked"
        self._manual = (self.source, self.bpm)

    def _leave_set(self, t: float) -> None:
        # A manual tempo wins over the set's grid: stop following it, the count continuous at t.
        if self.external is not None and self.external not in EXTERNAL:
            self._advance(t)
            if self._downbeat_user is None:
                self._bar.one = self.sources.downbeat_one
            self.sources.release()
            self.external = None


class BeatScheduler:
    """Turns clock snapshots into committed beat events, the way the show flashes them.

    At analysis time ``now`` a beat may be committed only if it is predicted at or after
    ``now + lookahead``; each call covers the next slice of predicted time, so every beat is
    decided once, from audio at least ``lookahead`` older than it, and never revised.
    """

    def __init__(self, lookahead: float = 0.05) -> None:
        self.lookahead = float(lookahead)
        self._horizon: float | None = None
        self._prev_now: float | None = None
        self._last_index: int | None = None
        self._last_time = -math.inf

    def advance(self, state, now: float) -> list[tuple[float, int]]:
        """Commit the beats ``state`` predicts from ``now + lookahead`` up to where the next call
        will start (one block on, assuming blocks as long as the last one); returns
        ``(time, beat index)`` pairs, oldest first, every time >= ``now + lookahead``."""
        span = 0.0 if self._prev_now is None else max(0.0, now - self._prev_now)
        self._prev_now = now
        start = now + self.lookahead
        if self._horizon is not None:
            start = max(start, self._horizon)
        end = now + self.lookahead + span
        self._horizon = max(end, start)
        if end <= start or state.bpm <= 0:
            return []
        out = []
        period = 60.0 / state.bpm
        first = math.ceil(state.beats_at(start) - 1e-9)
        last = state.beats_at(end)
        if self._last_index is not None and first == self._last_index + 2 and start - self._last_time > 0.75 * period:
            # A phase correction jumped the clock over a beat between two calls: flash it now
            # (at the start of the open window, so still no earlier than now + lookahead).
            out.append((start, first - 1))
            self._last_index, self._last_time = first - 1, start
        k = first
        while k < last:
            t = state.time + (k - state.beat_index - state.beat_phase) * period
            if (self._last_index is None or k > self._last_index) and t - self._last_time > 0.5 * period:
                out.append((t, k))
                self._last_index, self._last_time = k, t
            k += 1
        return out
