"""Generated beat-annotated music for `bench beats --synth N`: known beats, bars and tempo curves.

Each track is drawn from its seed: a tempo (80-160 BPM) that stays, steps by up to +-4% halfway
(a DJ's pitch move) or ramps by up to +-6% over the track; a kick on 1 and 3 (and sometimes the
"and" of 3), a snare on 2 and 4, eighth-note hats, a bass note and a three-note chord that change
on every bar's first beat (a random walk over a minor key's triads). The annotations are exact:
every beat's time and its bar position. It is easy material beside real recordings (clean
drums, a chord change on every one), useful for tempo curves and as a floor: a change that
loses here has broken something. Nothing is written to disk.
"""

from __future__ import annotations

import logging

import numpy as np

_LOGGER = logging.getLogger(__name__)

SECONDS = 30.0
TRIADS = ((0, 3, 7), (5, 8, 12), (7, 10, 14), (3, 7, 10), (8, 12, 15), (10, 14, 17))  # i iv v III VI VII (semitones)


def synth_name(seed: int) -> str:
    """The name of generated track ``seed`` (its half of the split follows from it)."""
    return f"synth_{seed:05d}"


def _beat_times(rng: np.random.Generator, seconds: float) -> np.ndarray:
    bpm0 = float(rng.uniform(80.0, 160.0))
    kind = rng.integers(3)  # 0 steady, 1 step halfway, 2 ramp
    change = float(rng.uniform(-0.04, 0.04)) if kind == 1 else float(rng.uniform(-0.06, 0.06)) if kind == 2 else 0.0
    times, t = [], float(rng.uniform(0.0, 0.5))
    while t < seconds:
        times.append(t)
        frac = t / seconds
        bpm = bpm0 * (1.0 + (change if kind == 1 and frac >= 0.5 else change * frac if kind == 2 else 0.0))
        t += 60.0 / bpm
    return np.array(times)


def synth_annotated(seed: int, samplerate: int = 22050, seconds: float = SECONDS
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generated track ``seed``: ``(samples float32 mono, beat times in s, bar positions 1..4)``."""
    rng = np.random.default_rng(seed)
    beats = _beat_times(rng, seconds)
    first = int(rng.integers(4))  # the track may start on any beat of the bar
    pos = (np.arange(len(beats)) + first) % 4 + 1
    n = int(seconds * samplerate)
    out = np.zeros(n + samplerate, dtype=np.float64)

    def put(at: float, sound: np.ndarray) -> None:
        i = int(round(at * samplerate))
        if 0 <= i < n:
            out[i : i + len(sound)] += sound[: len(out) - i]

    tk = np.arange(int(0.3 * samplerate)) / samplerate
    kick = np.sin(2 * np.pi * np.cumsum(45.0 + 100.0 * np.exp(-tk / 0.03)) / samplerate) * np.exp(-tk / 0.15)
    ts = np.arange(int(0.2 * samplerate)) / samplerate
    snare = (0.5 * rng.standard_normal(len(ts)) + 0.5 * np.sin(2 * np.pi * 190.0 * ts)) * np.exp(-ts / 0.06)
    th = np.arange(int(0.05 * samplerate)) / samplerate
    hat = np.diff(rng.standard_normal(len(th) + 1)) * np.exp(-th / 0.012) * 0.12
    key = 40 + int(rng.integers(12))  # MIDI note of the bass key (E2..D#3)
    chord = 0
    period = np.diff(beats, append=beats[-1] + (beats[-1] - beats[-2]))
    for t, p, d in zip(beats, pos, period):
        if p in (1, 3):
            put(t, 0.9 * kick)
        else:
            put(t, 0.45 * snare)
        if p == 3 and rng.random() < 0.3:
            put(t + d / 2, 0.6 * kick)
        put(t, hat)
        put(t + d / 2, 0.7 * hat)
        if p == 1:  # a new chord and bass note on every one
            chord = (chord + int(rng.integers(1, len(TRIADS)))) % len(TRIADS)
            bar = 4 * d
            tb = np.arange(int(bar * samplerate)) / samplerate
            env = np.minimum(1.0, tb / 0.01) * np.exp(-tb / (0.6 * bar))
            root = 440.0 * 2 ** ((key + TRIADS[chord][0] - 69) / 12.0)
            put(t, 0.3 * np.sin(2 * np.pi * root * tb) * env)
            pad = sum(np.sin(2 * np.pi * 440.0 * 2 ** ((key + 24 + s - 69) / 12.0) * tb) for s in TRIADS[chord])
            put(t, 0.06 * pad * np.minimum(1.0, tb / 0.05))
    out = out[:n]
    return (0.9 * out / max(1e-9, np.abs(out).max())).astype(np.float32), beats, pos.astype(float)
