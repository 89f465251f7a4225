"""Immutable values handed between threads: the audio snapshot and control commands.

Everything here is frozen, so a reader that takes one holds a consistent whole and never
sees a half-updated value. The one clock is ``time.perf_counter()`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

BEATS_PER_BAR = 4
PITCH_CLASSES = 12


@dataclass(frozen=True)
class TrackPosition:
    """A prepared set's track recognised in the input: ``name``, ``position`` (seconds into the
    original file), ``speed`` (1.04 = played 4% fast), ``bar`` (whole bars since the track's first
    downbeat), ``phrase`` (8-bar phrases since its section started), ``section`` (index into the
    track's sections, -1 before the first) and ``bpm`` (its grid's steady tempo around there, times
    the speed: the tempo the show says, 0 when unknown)."""

    name: str
    position: float
    speed: float
    bar: int
    phrase: int
    section: int
    bpm: float = 0.0


@dataclass(frozen=True)
class AudioState:
    """What the show knows about the music at ``time`` (perf_counter seconds).

    ``beat_index`` counts beats since the clock started; ``beat_phase`` is the fraction of the
    current beat elapsed (0 on the beat). ``downbeat`` is which beat of the bar (0..3) the
    current beat is. The clock predicts: use :meth:`beats_at` to ask where the beat will be at
    a later display time instead of reacting to the last onset.
    """

    time: float = 0.0
    bpm: float = 120.0
    beat_phase: float = 0.0
    beat_index: int = 0
    downbeat: int = 0
    onset_env: float = 0.0
    low: float = 0.0
    mid: float = 0.0
    high: float = 0.0
    level: float = 0.0
    confidence: float = 0.0
    tempo_source: str = "none"
    # The steady tempo the show publishes (Link, /status, HUD, `beats`): moves only when the
    # music's tempo really changes (live.beat.published); 0.0 until known. ``bpm`` is the clock's
    # own, for placing beats.
    tempo: float = 0.0
    silent: bool = True
    # Energy of each pitch class (C, C#, ... B), 0..1, the strongest 1 (all 0 in silence).
    chroma: tuple[float, ...] = (0.0,) * PITCH_CLASSES
    # The prepared track recognised playing (``live --set``), None when none is.
    track: TrackPosition | None = None
    # The input as it arrives, before any gain: the held sample peak (linear, 1.0 = 0 dBFS, falling
    # slowly like a peak meter) and whether a sample reached full scale within the last seconds.
    input_peak: float = 0.0
    clipping: bool = False

    @property
    def input_dbfs(self) -> float:
        """:attr:`input_peak` in dBFS (-inf for digital silence)."""
        return 20.0 * math.log10(self.input_peak) if self.input_peak > 0 else -math.inf

    @property
    def bar_phase(self) -> float:
        """Fraction of the bar elapsed, 0 on the downbeat."""
        return ((self.downbeat % BEATS_PER_BAR) + self.beat_phase) / BEATS_PER_BAR

    def beats_at(self, t: float) -> float:
        """Continuous beat count predicted for time ``t`` (extrapolated at the current tempo)."""
        return self.beat_index + self.beat_phase + (t - self.time) * self.bpm / 60.0

    def bar_beats_at(self, t: float) -> float:
        """Continuous position inside the bar in beats (0..4) predicted for time ``t``."""
        offset = self.beats_at(t) - self.beat_index
        return (self.downbeat + offset) % BEATS_PER_BAR

    def phase_at(self, t: float) -> float:
        """Beat phase (0..1) predicted for time ``t``."""
        return self.beats_at(t) % 1.0

    def bars_at(self, t: float) -> float:
        """Continuous bar count predicted for time ``t``: integer steps land on downbeats."""
        first_downbeat = self.beat_index - (self.downbeat % BEATS_PER_BAR)
        return (self.beats_at(t) - first_downbeat) / BEATS_PER_BAR + math.floor(first_downbeat / BEATS_PER_BAR)


@dataclass(frozen=True)
class Command:
    """A validated request from a controller (OSC, MIDI, keyboard) to the show.

    ``name`` is one of :data:`COMMANDS`; ``args`` are already checked against its range.
    ``source`` says where it came from, for the log; ``origin`` is the message itself as received
    (an OSC address and its values, a MIDI message), short, for the operator's HUD.
    """

    name: str
    args: tuple[Any, ...] = ()
    source: str = "internal"
    received: float = field(default=0.0, compare=False)
    origin: str = field(default="", compare=False)


@dataclass(frozen=True)
class TempoReading:
    """One reading of an external tempo source (Link, MIDI clock), handed to the analysis thread.

    At ``time`` (perf_counter seconds) the source was at beat ``beat`` (continuous; a whole
    multiple of :data:`BEATS_PER_BAR` is a downbeat) and running at ``bpm``.
    """

    source: str
    bpm: float
    beat: float
    time: float
