"""Tempo jumps of the beat tracker in a DJ crossfade, on a synthetic onset function (fast)."""

from __future__ import annotations

import numpy as np
import pytest

from live.beat.tracker import BeatTracker

FPS = 86.0  # onset frames a second, as the aubio path at 44.1 kHz


def _crossfade(tracker: BeatTracker, a_bpm: float, b_bpm: float, middle: float = 20.0, fade: float = 8.0,
               end: float = 32.0) -> float | None:
    """Feed clicks at ``a_bpm``, crossfaded linearly into clicks at ``b_bpm`` over ``fade`` s around
    ``middle``; returns the time of the first tempo jump near the fade (None: none)."""
    rng = np.random.default_rng(0)
    start = middle - fade / 2
    jump = None
    for i in range(int(end * FPS)):
        s = i / FPS
        gain_b = min(1.0, max(0.0, (s - start) / fade))
        v = 0.05 * rng.random()
        if (s * a_bpm / 60.0) % 1.0 < 1.5 / FPS * a_bpm / 60.0:
            v += 1.0 - gain_b
        if ((s + 0.13) * b_bpm / 60.0) % 1.0 < 1.5 / FPS * b_bpm / 60.0:
            v += gain_b
        jumps = tracker.jumps
        tracker.update(v)
        if tracker.jumps > jumps and jump is None and s > start:
            jump = s
    return jump


@pytest.mark.parametrize("a_bpm,b_bpm", [(106.0, 78.0), (124.0, 96.0)])
def test_jump_as_soon_as_the_outgoing_tempo_has_gone(a_bpm, b_bpm):
    """A big tempo change that the beat chain cannot follow needs ~2 s of confirmation while the
    old tempo is still heard; once the outgoing track's tempo has vanished from the last seconds,
    the short confirmation suffices: the jump lands by the end of the fade (it came ~0.3-0.6 s
    later before)."""
    tracker = BeatTracker(FPS)
    jump = _crossfade(tracker, a_bpm, b_bpm)
    assert jump is not None and jump <= 24.0, jump
    assert 60.0 * FPS / tracker.period == pytest.approx(b_bpm, rel=0.03)


def test_a_jump_restarts_the_tempo_evidence():
    """After a jump the tempo window and the backbeat fold start at the evidence that proved it:
    the old track's onsets no longer vote on the new track's tempo or octave."""
    tracker = BeatTracker(FPS)
    _crossfade(tracker, 119.0, 157.0, end=24.5)
    assert tracker.jumps >= 1
    assert tracker.frame - tracker._track_start < tracker._win
    assert 60.0 * FPS / tracker.period == pytest.approx(157.0, rel=0.03)
