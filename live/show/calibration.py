"""Audio-to-visual latency: the manual offset and the tap-along calibration that measures it.

The beat clock knows when a beat happens in the audio input; the room may hear it later (a long
PA chain, distance to the speakers) and the projector may show a frame later than it was drawn.
``av_offset_ms`` moves the picture's beat by that much: > 0 shows each beat later. It is applied
to the audio snapshot (:func:`shifted`), so every beat-driven thing the show draws (shader
uniforms, keyframe walk, quantised switches) moves together.

Calibration: the operator taps along with what they hear for :data:`TAPS` beats; each tap's
distance to the clock's nearest beat (wrapped to +-half a beat) is kept, and the offset becomes
their median (robust to one early or late tap).
"""

from __future__ import annotations

import dataclasses
import logging
import statistics

from live.messages import AudioState

_LOGGER = logging.getLogger(__name__)

TAPS = 8  # taps a calibration takes
OFFSET_RANGE_MS = (-1000.0, 1000.0)  # the av_offset command's range (live/control/commands.py)


def shifted(state: AudioState, offset_ms: float) -> AudioState:
    """``state`` with its beats ``offset_ms`` later (earlier when negative); the same object at 0."""
    if not offset_ms:
        return state
    return dataclasses.replace(state, time=state.time + offset_ms / 1000.0)


def beat_error_ms(state: AudioState, t: float) -> float:
    """How far time ``t`` is after the clock's nearest beat, in ms (negative: before it), wrapped
    to +-half a beat."""
    beats = state.beats_at(t)
    wrapped = beats - round(beats)
    return wrapped * 60_000.0 / max(state.bpm, 1.0)


class Calibration:
    """Collects taps against the unshifted clock; :meth:`tap` returns the offset once complete."""

    def __init__(self, taps: int = TAPS) -> None:
        self.taps = int(taps)
        self.errors: list[float] = []

    def tap(self, state: AudioState, t: float) -> float | None:
        """Record a tap heard at time ``t`` (the raw clock ``state``); the offset in ms after the
        last tap (clamped to the command's range), else None."""
        self.errors.append(beat_error_ms(state, t))
        # Debug only: a tap is a message, and a flood of /tap must not write a line each.
        _LOGGER.debug("calibration tap %d/%d: %+.1f ms from the clock's beat", len(self.errors), self.taps,
                      self.errors[-1])
        if len(self.errors) < self.taps:
            return None
        lo, hi = OFFSET_RANGE_MS
        return round(min(hi, max(lo, statistics.median(self.errors))), 1)
