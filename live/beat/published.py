"""The tempo the show tells the world, kept steady while the tracker's own tempo wobbles.

The beat clock re-estimates the tempo on every beat it hears, so its ``bpm`` moves by 1-3 BPM
from second to second on a steady track: right for placing the next beat, wrong for what Link
peers, a lighting desk, the HUD or a script read as "the tempo". :class:`PublishedTempo` turns
that stream into a figure that moves only when the music's tempo really changes:

- it publishes a trimmed mean over a bar, or a median over four bars, never one estimate;
- a change of more than :data:`STEP` is published once it has held for a whole bar (a DJ's pitch
  ride or a new track is followed about a bar after the tracker hears it);
- an octave or triplet jump (x2, x1/2, x3/2, x2/3) must hold for four bars: the tracker usually
  corrects those itself within a moment, and peers must never see them;
- a slow drift of more than :data:`FINE` (the median of up to four bars, at least two) is
  published at most once per two bars (this also corrects the first figure, taken from one bar);
- a tempo set by hand, tapped, or taken from Link or MIDI clock is published as it is.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from live.messages import BEATS_PER_BAR

STEP = 0.02  # relative change published after a bar
FINE = 0.0035  # relative drift published after four bars (about 0.45 BPM at 128)
OCTAVE_RATIOS = (2.0, 0.5, 1.5, 2.0 / 3.0)
OCTAVE_TOLERANCE = 0.04
SHORT_BEATS = BEATS_PER_BAR
LONG_BEATS = 4 * BEATS_PER_BAR
SAMPLE_EVERY_S = 0.1  # the analysis publishes ~100 times a second; ten samples a second are plenty
MAX_SAMPLES = 512  # 16 beats at 40 BPM, sampled every 0.1 s, fit


def trimmed_mean(values: np.ndarray, cut: float = 0.2) -> float:
    """Mean of ``values`` without the lowest and highest ``cut`` fraction (spikes, octave blips)."""
    ordered = np.sort(values)
    k = int(len(ordered) * cut)
    return float(ordered[k:len(ordered) - k].mean()) if len(ordered) > 2 * k else float(ordered.mean())


class PublishedTempo:
    """Steady published tempo from the beat clock's tempo, fed once per analysis publish.

    :attr:`bpm` is 0.0 until a tempo is known (no source yet, or the audio heard for less than
    a bar)."""

    def __init__(self) -> None:
        self.bpm = 0.0
        self._samples: deque[tuple[float, float]] = deque(maxlen=MAX_SAMPLES)
        self._away_since: float | None = None  # when the short mean left the published tempo
        self._changed_at = -np.inf

    def update(self, t: float, bpm: float, source: str) -> float:
        """Take the clock's tempo ``bpm`` from ``source`` at time ``t``; returns the published tempo."""
        if source == "none" or not bpm > 0:
            self._samples.clear()
            self._away_since = None
            return self.bpm
        if source != "audio":  # set by hand or by a peer: already what the user means
            self._samples.clear()
            self._away_since = None
            if bpm != self.bpm:
                self.bpm, self._changed_at = float(bpm), t
            return self.bpm
        if self._samples and t - self._samples[-1][0] < SAMPLE_EVERY_S:
            return self.bpm  # cheap between samples: this runs in the analysis thread
        self._samples.append((t, float(bpm)))
        beat_s = 60.0 / (self.bpm or bpm)
        while self._samples and self._samples[0][0] < t - LONG_BEATS * beat_s:
            self._samples.popleft()
        times = np.fromiter((s[0] for s in self._samples), float, len(self._samples))
        values = np.fromiter((s[1] for s in self._samples), float, len(self._samples))
        recent = values[times >= t - SHORT_BEATS * beat_s]
        if self.bpm == 0.0:  # the first figure: once a whole bar agrees (the tracker has settled)
            low, high = np.percentile(recent, (10, 90))
            if times[-1] - times[0] >= SHORT_BEATS * beat_s and high / low - 1.0 < STEP:
                self._publish(trimmed_mean(recent), t)
            return self.bpm
        # A change: the whole last bar away from the published tempo, on one side and agreeing.
        off = recent / self.bpm - 1.0
        if (np.all(off > STEP) or np.all(off < -STEP)) and recent.max() / recent.min() - 1.0 < 2 * STEP:
            if self._away_since is None:
                self._away_since = t
            short = trimmed_mean(recent)
            octave = any(abs(short / self.bpm / r - 1.0) < OCTAVE_TOLERANCE for r in OCTAVE_RATIOS)
            if not octave or t - self._away_since >= LONG_BEATS * beat_s:
                self._publish(short, t)
                # The old tempo's samples would drag the long mean back: start it afresh.
                while self._samples and self._samples[0][0] < t - SHORT_BEATS * beat_s:
                    self._samples.popleft()
                self._away_since = None
            return self.bpm
        self._away_since = None
        # A drift: the median of up to four bars (robust to a short blip) moved a little; a larger
        # move is a change, for the rule above.
        if t - self._changed_at >= 2 * SHORT_BEATS * beat_s and times[-1] - times[0] >= 2 * SHORT_BEATS * beat_s:
            long = float(np.median(values))
            if FINE < abs(long / self.bpm - 1.0) <= 1.5 * STEP:
                self._publish(long, t)
        return self.bpm

    def _publish(self, bpm: float, t: float) -> None:
        self.bpm, self._changed_at = round(bpm, 2), t
