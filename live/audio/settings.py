"""The analysis and beat-tracker settings a user or a benchmark may choose, declared once.

Each setting has a default, an allowed range (or set of choices) and a one-line description;
:class:`AnalysisSettings` checks them all in one place, so the ``beats`` command, the
benchmarks and the show refuse a bad value with the same one-line message. Everything else the
tracker uses is a tuned constant in :mod:`live.beat.tracker` or :mod:`live.audio.analysis`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, fields
from typing import Any

from live.audio.sources import AudioError
from live.beat.downbeat import DOWNBEAT_CUES

_LOGGER = logging.getLogger(__name__)

ONSET_METHODS = ("logflux", "energy", "hfc", "complex", "phase", "wphase", "specdiff", "kl", "mkl", "specflux")
BEAT_ACTIVATIONS = ("aubio", "rnn", "beatnet", "blend")
MIN_OCTAVE_SPAN = 1.5  # tempo_max / tempo_min at least this: the tracker folds tempi by octaves


def _setting(default: Any, description: str, low: float | None = None, high: float | None = None,
             choices: tuple[str, ...] | None = None) -> Any:
    """A dataclass field carrying its allowed range or choices and a description."""
    return field(default=default, metadata={"description": description, "range": (low, high), "choices": choices})


@dataclass(frozen=True)
class AnalysisSettings:
    """Onset function, beat activation, downbeat cues and tempo range of
    :class:`~live.audio.analysis.AudioEngine` (validated on creation)."""

    onset_method: str = _setting("logflux", "onset novelty function (logflux: log mel-band flux; others are aubio's)",
                                 choices=ONSET_METHODS)
    beat_activation: str = _setting(
        "blend", "what the beat tracker follows: rnn = madmom's causal LSTM beat networks (weights CC BY-NC-SA 4.0, "
        "non-commercial use only; needs the rnn extra, else aubio is used), beatnet = BeatNet's causal CRNN (weights "
        "CC BY 4.0, commercial use with attribution; needs BeatNet, else aubio is used), blend (default) = the aubio onset function with BeatNet's beat "
        "probability added at 0.2 (needs BeatNet, else aubio is used), aubio = the aubio onset function",
        choices=BEAT_ACTIVATIONS)
    downbeat: str = _setting(
        "learned", "what places the bar's first beat: harmony = chord changes (beat-synchronous chroma) and the low "
        "band's onsets together, bass = the low band's onsets alone (the earlier estimate), learned (default) = BeatNet's "
        "causal downbeat probability with the chord changes (needs BeatNet, else harmony is used)", choices=DOWNBEAT_CUES)
    tempo_min: float = _setting(70.0, "slowest tempo in BPM the tracker reports", 20.0, 400.0)
    tempo_max: float = _setting(180.0, "fastest tempo in BPM the tracker reports", 20.0, 400.0)

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            choices, (low, high) = f.metadata["choices"], f.metadata["range"]
            if choices is not None:
                if value not in choices:
                    raise AudioError(f"{f.name} = {value!r} is not allowed; choose one of {', '.join(choices)}")
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise AudioError(f"{f.name} = {value!r} is not a number; use {low:g}..{high:g}") from None
            if not low <= number <= high:
                raise AudioError(f"{f.name} = {number:g} is out of range; use {low:g}..{high:g} "
                                 f"({f.metadata['description']})")
            object.__setattr__(self, f.name, number)
        if self.tempo_max < MIN_OCTAVE_SPAN * self.tempo_min:
            raise AudioError(f"tempo range {self.tempo_min:g}-{self.tempo_max:g} BPM is too narrow; tempo_max must be "
                             f"at least {MIN_OCTAVE_SPAN:g} x tempo_min (default {DEFAULTS.tempo_min:g}-"
                             f"{DEFAULTS.tempo_max:g})")


DEFAULTS = AnalysisSettings()


def describe(name: str) -> str:
    """The one-line description of setting ``name``, with its range, for ``--help``."""
    f = next(f for f in fields(AnalysisSettings) if f.name == name)
    low, high = f.metadata["range"]
    return f.metadata["description"] + ("" if low is None else f" ({low:g}..{high:g})")
