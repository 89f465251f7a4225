"""The autopilot: the show switches presets by itself when nobody touches it.

A playlist of the bank's presets, walked ``sequential``, ``shuffle`` (a seeded permutation, a
new one each round, never the same preset twice in a row) or ``match`` (the preset whose
``[tags]`` fit the music best: the live energy against ``tags.energy``, the band balance
against mood words). A switch happens every ``bars`` bars, on the bar counts that are whole
multiples of ``bars`` from the clock's first downbeat (8 or 16 bars: phrase boundaries). In the
last bar before such a boundary the autopilot names the next preset and the show queues it for
the next bar through its ordinary quantised switch (live/visuals/transitions.py), so the switch
lands on the boundary with the preset's own transition.

Any manual command (OSC, MIDI, keyboard; anything but the autopilot's own) that chooses the
picture turns it off, until an ``autopilot 1`` command turns it back on. Pure and deterministic:
the decisions depend only on the snapshots given and the seed.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any, Sequence

from live.messages import AudioState
from live.ratelog import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

MODES = ("sequential", "shuffle", "match")
DEFAULT_BARS = 16
BARS_RANGE = (1, 256)
SOURCE = "autopilot"  # the source of the autopilot's own commands: they never take over from it
# Manual commands that choose what is shown take over; tempo, blackout, fade and the like do not.
TAKES_OVER = frozenset({"preset", "section", "jump", "drop", "hold", "param", "shader_param"})
ENERGY_LEVELS = {"low": 0.0, "mid": 0.5, "high": 1.0}
# Mood words a band balance suggests: bass-heavy music, treble-heavy music.
LOW_MOODS = frozenset({"dark", "deep", "warm", "heavy", "dub", "bass"})
HIGH_MOODS = frozenset({"bright", "acid", "colourful", "colorful", "sharp", "light", "neon"})
SMOOTHING = 0.02  # per tick: the music's energy is averaged over a few seconds at 60 fps


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`MODES`; ValueError naming them otherwise."""
    if mode not in MODES:
        raise ValueError(f"--autopilot {mode!r}: choose one of {', '.join(MODES)}")
    return mode


class Autopilot:
    """Decides when the next switch is due and which preset it goes to.

    ``mode`` is one of :data:`MODES`, ``bars`` the switch period, ``seed`` the shuffle's and the
    tie-breaks' random generator. Call :meth:`observe` every tick with the audio snapshot;
    :meth:`due` says when to queue the next switch, :meth:`pick` which preset.
    """

    def __init__(self, mode: str = "sequential", bars: int = DEFAULT_BARS, *, seed: int = 0,
                 enabled: bool = True) -> None:
        self.mode = check_mode(mode)
        if not BARS_RANGE[0] <= int(bars) <= BARS_RANGE[1]:
            raise ValueError(f"--autopilot-bars {bars}: choose {BARS_RANGE[0]}..{BARS_RANGE[1]}")
        self.bars = int(bars)
        self.enabled = enabled
        self._notes = RateLimitedLog(_LOGGER, level=logging.INFO, noun="event(s)")  # on/off: a command may flood
        self._rng = random.Random(seed)
        self._order: list[str] = []
        self._queued_for: int | None = None  # the boundary the last switch was queued for
        self.energy = 0.5  # smoothed loudness, 0..1
        self.balance = 0.0  # smoothed (low - high) / (low + high), -1 treble .. 1 bass

    def set_enabled(self, on: bool, why: str) -> None:
        """Turn the autopilot on or off (logged once per change, with ``why``)."""
        if on != self.enabled:
            self._notes.report(f"autopilot:{on}", f"autopilot {'on' if on else 'off'} ({why})")
        self.enabled = on
        self._queued_for = None

    def takes_over(self, name: str, source: str) -> bool:
        """True when command ``name`` from ``source`` is a manual choice that turns the autopilot off."""
        return self.enabled and source != SOURCE and name in TAKES_OVER

    def observe(self, state: AudioState) -> None:
        """Fold one audio snapshot into the smoothed energy and band balance."""
        self.energy += SMOOTHING * (min(1.0, max(0.0, float(state.level))) - self.energy)
        total = float(state.low) + float(state.high)
        balance = (float(state.low) - float(state.high)) / total if total > 1e-6 else 0.0
        self.balance += SMOOTHING * (balance - self.balance)

    def due(self, state: AudioState, t: float) -> bool:
        """True once per period, in the last bar before a boundary (a whole multiple of
        ``bars`` bars), when the next switch should be queued for the next bar."""
        if not self.enabled:
            return False
        bars = state.bars_at(t)
        boundary = (math.floor(bars / self.bars) + 1) * self.bars
        if boundary - bars > 1.0 or boundary == self._queued_for:
            return False
        self._queued_for = boundary
        return True

    def pick(self, current: str, presets: Sequence[tuple[str, Any]]) -> str | None:
        """The next preset after ``current`` from ``presets`` ((name, tags) in bank order), or
        None when there is nothing else to go to."""
        names = [n for n, _ in presets]
        if not names or names == [current]:
            return None
        if self.mode == "sequential":
            return names[(names.index(current) + 1) % len(names)] if current in names else names[0]
        if self.mode == "shuffle":
            return self._shuffled(current, names)
        return self._matched(current, presets)

    def _shuffled(self, current: str, names: list[str]) -> str:
        self._order = [n for n in self._order if n in names and n != current]
        if not self._order:
            self._order = [n for n in names if n != current]
            self._rng.shuffle(self._order)
        return self._order.pop(0)

    def score(self, tags: Any) -> float:
        """How well a preset's tags fit the music now: higher is better (at most 1.5)."""
        wanted = ENERGY_LEVELS.get(getattr(tags, "energy", "mid"), 0.5)
        fit = 1.0 - abs(wanted - self.energy)
        moods = {str(m).lower() for m in getattr(tags, "mood", ())}
        if moods & LOW_MOODS:
            fit += 0.5 * max(0.0, self.balance)
        if moods & HIGH_MOODS:
            fit += 0.5 * max(0.0, -self.balance)
        return fit

    def _matched(self, current: str, presets: Sequence[tuple[str, Any]]) -> str:
        scored = [(round(self.score(tags), 6), name) for name, tags in presets if name != current]
        best = max(s for s, _ in scored)
        return self._rng.choice([name for s, name in scored if s == best])
