"""When a preset switch happens and how the picture gets there: quantised switches, fades.

A quantised switch waits for the next beat, bar (downbeat) or 4-bar phrase and is carried out
on the frame whose display time is nearest the predicted boundary, the way the beat pulse lands
on the frame nearest the beat. A fade takes the output's darkness from where it is to black (or
back) over a length. Both are plain values the show keeps and asks once a frame.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from live.messages import AudioState

_LOGGER = logging.getLogger(__name__)

QUANTIZE_UNITS = ("none", "beat", "bar", "phrase")
TRANSITION_KINDS = {"crossfade": 0, "black": 1, "wipe": 2}  # the composite shader's u_transition_kind; "cut" starts none
BARS_PER_PHRASE = 4
UNIT_BEATS = {"beat": 1, "bar": 4, "phrase": 4 * BARS_PER_PHRASE}  # beats per unit, at 4 beats a bar


def beats_to_seconds(beats: float, bpm: float) -> float:
    """``beats`` at ``bpm`` in seconds (a tempo below 1 BPM counts as 1)."""
    return float(beats) * 60.0 / max(float(bpm), 1.0)


def position(state: AudioState, t: float, unit: str) -> float:
    """Continuous count of beats, bars or phrases predicted for time ``t``: integer steps land
    on the boundaries a switch quantised to ``unit`` waits for."""
    if unit == "beat":
        return state.beats_at(t)
    if unit == "bar":
        return state.bars_at(t)
    if unit == "phrase":
        return state.bars_at(t) / BARS_PER_PHRASE
    raise ValueError(f"unknown quantize unit {unit!r}; use one of {', '.join(QUANTIZE_UNITS[1:])}")


@dataclass
class QueuedSwitch:
    """A preset switch waiting for boundary number ``target`` of ``unit`` (to one of its
    sections when ``section`` is set)."""

    preset: str
    unit: str
    target: int
    section: str = ""

    @classmethod
    def after(cls, preset: str, unit: str, state: AudioState, t: float) -> "QueuedSwitch":
        """A switch to ``preset`` at the first ``unit`` boundary after time ``t``."""
        return cls(preset, unit, math.floor(position(state, t, unit)) + 1)

    def due(self, state: AudioState, t: float) -> bool:
        """True once time ``t`` has reached the boundary (``t`` is half a frame after a frame's
        display time, so the frame nearest the boundary is the one that carries the switch).

        If the beat clock moved back (a resync, a new tempo) so that the boundary lies more than
        one unit ahead, the switch waits for the next boundary instead of two or more."""
        now = position(state, t, self.unit)
        if self.target - now > 1.0:  # (beats_left below counts on this bound too)
            self.target = math.floor(now) + 1
        return now >= self.target

    def beats_left(self, state: AudioState, t: float) -> float:
        """Beats from time ``t`` to the boundary this switch waits for (0 once due; at most one
        ``unit``, as :meth:`due` keeps it)."""
        left = min(1.0, self.target - position(state, t, self.unit))
        return max(0.0, left) * UNIT_BEATS[self.unit]


class Fade:
    """The output's darkness (0 picture .. 1 black), ramping linearly between two levels."""

    def __init__(self) -> None:
        self.start_time, self.seconds = 0.0, 0.0
        self.start_level = self.end_level = 0.0

    def level(self, now: float) -> float:
        """The darkness at ``now``."""
        if self.seconds <= 0.0 or now >= self.start_time + self.seconds:
            return self.end_level
        share = max(0.0, (now - self.start_time) / self.seconds)
        return self.start_level + (self.end_level - self.start_level) * share

    @property
    def to_black(self) -> bool:
        """True while fading to black or faded out (what a toggle pad flips)."""
        return self.end_level > 0.0

    def start(self, now: float, to_black: bool, seconds: float) -> None:
        """Fade from the present level to black (or back to the picture) over ``seconds``."""
        self.start_level = self.level(now)
        self.start_time, self.seconds = now, max(0.0, float(seconds))
        self.end_level = 1.0 if to_black else 0.0
