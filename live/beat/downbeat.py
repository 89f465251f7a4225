"""Which beat of the bar is the one: per-beat evidence folded into the four bar slots, with hysteresis.

Two classic cues (Goto 2001; Davies & Plumbley 2006; Klapuri et al. 2006), both causal, and a learned one:

- ``bass``: the strongest low-band onset at the start of each beat (the kick falls on 1 and 3);
- ``harmony``: how much the beat-synchronous chroma changes into each beat (chords change on the
  one far more often than anywhere else). :class:`BeatChroma` turns the analysis' chroma frames into
  that change, two beats late (the two beats after a beat are compared with the two before it);
- ``learned``: the largest downbeat probability of a learned causal network (BeatNet's CRNN,
  :mod:`live.audio.beatnet`) around each beat.

:class:`BarEvidence` adds each cue, scaled by its own running mean so neither drowns the other, to
its beat's slot (beat index mod 4) of decaying scores, and moves the one only when another slot
has led clearly for two bars: with a kick on every beat and no chord change the slots stay nearly
equal, and a bare argmax would move the bar (and every keyframe arrival) from beat to beat. Only
while the first bars are heard, when the one is still a guess, is it quicker to change its mind
(a beat of patience per bar heard, up to the two bars). With the ``learned`` cues each value first
counts by how far it stands above its cue's mean over the bar just heard (that beat and the three
before it), so a passage in which the network rates every beat alike votes for nothing.

The constants were chosen on half of the development clips (GTZAN ``*_00000``) and checked on the
other half, with both beat activations (see the README's beat section); the bass-only estimate
keeps its earlier constants, as the reference.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from live.messages import BEATS_PER_BAR

_LOGGER = logging.getLogger(__name__)

# The choices of the ``downbeat`` setting: bass alone, bass + harmony, or a learned downbeat
# activation (BeatNet's, :mod:`live.audio.beatnet`) with them.
DOWNBEAT_CUES = ("bass", "harmony", "learned")
DOWNBEAT_SWITCH = 1.25  # another bar slot must be this much stronger to become the one (bass alone),
HARMONY_SWITCH = 1.1  # (bass + harmony: two cues on a common scale are steadier, a smaller lead is news)
DOWNBEAT_PATIENCE = 8  # for this many beats in a row (two bars; one beat per bar heard before that)
DOWNBEAT_DECAY = 0.93  # slot scores kept per beat: ~14 beats memory
HARMONY_WEIGHT = 0.5  # of the chord change, against 1 for the bass onsets (each over its running mean)
CUE_MEAN_RATE = 0.05  # running mean of each cue over ~20 beats: their common scale
BEAT_EARLY = 0.15  # beats: an onset (or chroma frame) this much before a beat belongs to it
CHANGE_BEATS = 2  # the chord change into a beat: the chroma of this many beats after it against as many before
# The learned cues: BeatNet's downbeat probability with the chord change at half weight, each over
# its running mean; the bass onsets add nothing there (chosen on the tune half of the split:
# learned alone 0.407, + harmony 0.434, + harmony + bass 0.385 downbeat F with aubio's beats).
LEARNED_WEIGHT = 1.0  # of the learned downbeat probability
LEARNED_BASS_WEIGHT = 0.0  # of the bass onsets beside it
LEARNED_HARMONY_WEIGHT = 0.5  # of the chord change beside it
LEARNED_SWITCH = 1.1  # the lead another slot needs with the learned cue


def cue_weights(downbeat: str) -> tuple[dict[str, float], float, bool]:
    """The :class:`BarEvidence` arguments (cue weights, switch ratio, ramp) of a ``downbeat`` setting."""
    if downbeat == "bass":
        return {"bass": 1.0}, DOWNBEAT_SWITCH, False
    if downbeat == "harmony":
        return {"bass": 1.0, "harmony": HARMONY_WEIGHT}, HARMONY_SWITCH, True
    if downbeat == "learned":
        return ({"bass": LEARNED_BASS_WEIGHT, "harmony": LEARNED_HARMONY_WEIGHT, "learned": LEARNED_WEIGHT},
                LEARNED_SWITCH, True)
    raise ValueError(f"unknown downbeat cues {downbeat!r}")


def bar_contrast(downbeat: str) -> bool:
    """Whether the ``downbeat`` setting's cues count by their contrast within the bar (:class:`BarEvidence`)."""
    return downbeat == "learned"


class BarEvidence:
    """Decaying per-slot downbeat scores from one or more cues, and the slot taken as the one.

    ``weights`` maps each cue to its weight; a cue with weight 0 is ignored. With one cue the raw
    values are added (the bass-only estimate as it always was); with more, each value is divided
    by its cue's running mean first. The scores decay once per ``bass`` value (one per beat), and
    a challenger's lead is counted once per beat, there too; another slot becomes the one after
    leading by ``switch`` for :data:`DOWNBEAT_PATIENCE` beats in a row (fewer in the first bars:
    one beat per bar heard). ``ramp=False`` keeps the full patience from the start (the bass-only
    estimate as it always was).
    """

    def __init__(self, weights: dict[str, float], switch: float = DOWNBEAT_SWITCH, ramp: bool = True,
                 contrast: bool = False) -> None:
        self.weights = {cue: float(w) for cue, w in weights.items() if w > 0}
        self.switch = float(switch)
        self.ramp = bool(ramp)
        self.contrast = bool(contrast)
        self._bar_values: dict[str, dict[int, float]] = {}  # per cue: its values on the last beats of a bar
        self.beats = 0  # bass values (beats) heard
        self._scaled = len(self.weights) > 1
        self._means: dict[str, tuple[float, int]] = {}  # per cue: running mean from 0, values so far
        self.slots = np.zeros(BEATS_PER_BAR)
        self.one = 0  # beat index (mod 4) currently taken as the one
        self._challenger, self._challenger_beats = -1, 0  # a slot leading clearly, and for how many beats
        self._last_bass = None  # beat index of the last bass value (one per beat)

    def add(self, cue: str, beat_index: int, value: float) -> None:
        """Credit ``value`` of ``cue`` (``bass``, ``harmony`` or ``learned``) to the slot of ``beat_index``."""
        if cue == "bass":
            if beat_index == self._last_bass:
                return
            self._last_bass = beat_index
            self.beats += 1
            self.slots *= DOWNBEAT_DECAY
        weight = self.weights.get(cue, 0.0)
        if not weight or not math.isfinite(value):
            if cue == "bass":  # the bass values keep the beat count and the vote going, weighted or not
                self._vote()
            return
        if self.contrast:
            value = self._within_bar(cue, beat_index, value)
        if self._scaled:
            # Running mean started at 0 and corrected for that start (so a near-silent first beat
            # does not become the scale that the next beats are measured by).
            total, count = self._means.get(cue, (0.0, 0))
            total, count = total + CUE_MEAN_RATE * (value - total), count + 1
            self._means[cue] = (total, count)
            mean = total / (1.0 - (1.0 - CUE_MEAN_RATE) ** count)
            value = weight * value / mean if mean > 1e-12 else 0.0
        self.slots[beat_index % BEATS_PER_BAR] += value
        if cue == "bass" or not self.slots[self.one]:
            self._vote()

    def _within_bar(self, cue: str, beat_index: int, value: float) -> float:
        # How far the value stands above the cue's mean on this beat and the three before it:
        # what marks the one is how the cue stands against the other beats of its bar, not its
        # level, and a beat no higher than its bar votes for nothing. BeatNet's downbeat
        # probability rises on every beat of a dense or loud passage (reggae, metal: the four
        # slots' sums within 5-15% of each other), which the running mean, over ~20 beats,
        # follows too slowly to tell one beat of the bar from the next.
        recent = self._bar_values.setdefault(cue, {})
        recent[beat_index] = value
        for k in [k for k in recent if k <= beat_index - BEATS_PER_BAR]:
            del recent[k]
        return max(0.0, value - sum(recent.values()) / len(recent))

    def _vote(self) -> None:
        best = int(np.argmax(self.slots))
        leads = self.slots[best] > self.switch * self.slots[self.one]
        self._challenger_beats = self._challenger_beats + 1 if leads and best == self._challenger else 0
        self._challenger = best if leads else -1
        patience = min(DOWNBEAT_PATIENCE, max(1, self.beats // BEATS_PER_BAR)) if self.ramp else DOWNBEAT_PATIENCE
        if self._challenger_beats >= patience or not self.slots[self.one]:
            self.one, self._challenger_beats = best, 0


class BeatChroma:
    """Beat-synchronous chroma and the chord change into each beat, from chroma frames as they come.

    :meth:`add` takes one chroma frame (12 pitch-class powers) at its beat position. When the first
    frame of a later beat arrives, the beat just finished is summed; once :data:`CHANGE_BEATS` beats
    after beat ``b`` are finished and as many before it were heard, ``(b, change)`` is returned:
    1 - cosine of the two chroma profiles (square-rooted, mean removed, so the pitch-class contrast
    counts, not the loudness), 0 for the same chord, up to 2.
    """

    def __init__(self) -> None:
        self._beat: int | None = None
        self._sum = np.zeros(0)
        self._done: list[tuple[int, np.ndarray]] = []  # the newest finished beats and their chroma sums

    def add(self, beat_pos: float, chroma: np.ndarray) -> tuple[int, float] | None:
        """One chroma frame centred at beat position ``beat_pos``; the change into the beat
        :data:`CHANGE_BEATS` - 1 before the one this frame finishes, when there is one, else None."""
        beat = math.floor(beat_pos + BEAT_EARLY)
        if self._beat is None or beat > self._beat:
            change = self._finish()
            self._beat, self._sum = beat, np.array(chroma, dtype=np.float64)
            return change
        if beat == self._beat:
            self._sum += chroma
        return None  # a frame of an older beat (the clock stepped back): left out

    def _finish(self) -> tuple[int, float] | None:
        if self._beat is None:
            return None
        self._done = (self._done + [(self._beat, self._sum)])[-2 * CHANGE_BEATS:]
        first = self._beat - 2 * CHANGE_BEATS + 1
        if len(self._done) < 2 * CHANGE_BEATS or self._done[0][0] != first:
            return None  # not yet, or beats missing in between (a silence, a jump of the count)
        before = _profile(sum(c for _, c in self._done[:CHANGE_BEATS]))
        after = _profile(sum(c for _, c in self._done[CHANGE_BEATS:]))
        if before is None or after is None:
            return None
        return first + CHANGE_BEATS, 1.0 - float(before @ after)


def _profile(chroma: np.ndarray) -> np.ndarray | None:
    """Square-rooted chroma, mean removed, unit length (None when flat: silence, noise)."""
    profile = np.sqrt(np.maximum(chroma, 0.0))
    profile -= profile.mean()
    norm = float(np.linalg.norm(profile))
    return profile / norm if norm > 1e-12 else None
