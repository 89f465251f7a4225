"""DJ transitions built at run time from annotated clips, and the re-lock time after each.

A transition is track A, then track B faded in over ``fade`` seconds while A fades out (linear
crossfade, as a DJ's fader), B starting ``fade`` seconds before A ends. The reference beats are
A's before the middle of the fade and B's (shifted) after it. Nothing is written to disk: the
mixes are made in memory from the development clips each time the benchmark runs.
"""

from __future__ import annotations

import logging

import numpy as np

from live.audio.sources import AudioError

_LOGGER = logging.getLogger(__name__)

FADE = 8.0  # seconds of crossfade
HIT = 0.07  # seconds: a reference beat counts as found with an estimate this close (mir_eval's window)
RELOCK_BEATS = 4  # consecutive reference beats found = locked again


def build_transition(a: np.ndarray, a_beats: np.ndarray, a_pos: np.ndarray, b: np.ndarray, b_beats: np.ndarray,
                     b_pos: np.ndarray, samplerate: int, fade: float = FADE
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Mix ``a`` into ``b`` (mono, same rate) with a ``fade``-second linear crossfade at the end of ``a``.

    ``*_beats`` are beat times (s) and ``*_pos`` bar positions of each clip. Returns ``(mix,
    beat times, bar positions, middle of the fade in s)``; the annotations switch from A to B at
    the middle of the fade.
    """
    n_fade = int(round(fade * samplerate))
    if n_fade <= 0 or len(a) < 2 * n_fade or len(b) < 2 * n_fade:
        raise AudioError(f"clips must be at least {2 * fade:g} s long for a {fade:g} s transition")
    start_b = len(a) - n_fade  # sample where B enters
    mix = np.zeros(start_b + len(b), dtype=np.float32)
    ramp = np.linspace(0.0, 1.0, n_fade, dtype=np.float32)
    gain_a = np.concatenate((np.ones(len(a) - n_fade, dtype=np.float32), 1.0 - ramp))
    gain_b = np.concatenate((ramp, np.ones(len(b) - n_fade, dtype=np.float32)))
    mix[: len(a)] += a.astype(np.float32) * gain_a
    mix[start_b:] += b.astype(np.float32) * gain_b
    offset_b = start_b / samplerate
    middle = offset_b + 0.5 * fade
    keep_a = a_beats < middle
    shifted_b = b_beats + offset_b
    keep_b = shifted_b >= middle
    times = np.concatenate((a_beats[keep_a], shifted_b[keep_b]))
    pos = np.concatenate((a_pos[keep_a], b_pos[keep_b]))
    return mix, times, pos, middle


def relock_time(reference: np.ndarray, estimated: np.ndarray, after: float) -> float:
    """Seconds from ``after`` to the first of ``RELOCK_BEATS`` consecutive reference beats that
    each have an estimated beat within ``HIT`` s; ``inf`` when that never happens."""
    ref = np.asarray(reference, dtype=float)
    est = np.sort(np.asarray(estimated, dtype=float))
    ref = ref[ref >= after]
    if len(ref) < RELOCK_BEATS or len(est) == 0:
        return float("inf")
    j = np.clip(np.searchsorted(est, ref), 1, len(est) - 1)
    nearest = np.minimum(np.abs(est[j - 1] - ref), np.abs(est[j] - ref))
    hit = nearest <= HIT
    for k in range(len(ref) - RELOCK_BEATS + 1):
        if hit[k : k + RELOCK_BEATS].all():
            return float(ref[k] - after)
    return float("inf")


def transition_pairs(names: list[str]) -> list[tuple[int, int]]:
    """Which clips are mixed into which: each clip into the next one of another genre (file-name
    prefix before ``_``), cyclically, so every clip is an A once."""
    pairs = []
    for i, name in enumerate(names):
        genre = name.split("_")[0]
        for step in range(1, len(names)):
            j = (i + step) % len(names)
            if names[j].split("_")[0] != genre:
                pairs.append((i, j))
                break
    return pairs
