"""A prepared set's track switch (a blend: track A's grid, then track B's): the clock moves to B's
phase at once, so every beat of B after the switch is committed on time, none dropped or doubled."""

from __future__ import annotations

import math

import pytest

from live.beat.clock import BeatClock, BeatScheduler
from live.messages import AudioState, TempoReading

DT = 512 / 48000  # one analysis publish per input block
LOOKAHEAD = 0.05  # the scheduler's (track_beats' default)
SWITCH = 36.0
TOL = 0.07  # a committed beat within 70 ms of a true one is that beat


def committed(bpm_a: float, bpm_b: float, phase_b: float, track_b: str = "B") -> list[float]:
    """The beat times committed while the set reading follows A (beats at k * period) until
    SWITCH, then B (beats at (phase_b + k) * period, its count elsewhere in the bar)."""
    clock, scheduler = BeatClock(), BeatScheduler(LOOKAHEAD)
    pa, pb = 60 / bpm_a, 60 / bpm_b
    out, t = [], 30.0
    while t < 40.0:
        if t < SWITCH:
            clock.offer(TempoReading("set", bpm_a, t / pa, t), "A")
        else:
            clock.offer(TempoReading("set", bpm_b, 101.0 + t / pb - phase_b, t), track_b)
        clock.sync(t)
        pos = clock.beats_at(t)
        state = AudioState(time=t, bpm=clock.bpm, beat_phase=pos - math.floor(pos), beat_index=math.floor(pos))
        out += [time for time, _ in scheduler.advance(state, t)]
        t += DT
    return out


@pytest.mark.parametrize("bpm_b", [124.0, 128.0])
@pytest.mark.parametrize("phase_b", [i / 40 + 1 / 80 for i in range(40)])
def test_every_beat_of_b_after_a_switch_is_committed_once_on_time(phase_b, bpm_b):
    times = committed(124.0, bpm_b, phase_b)
    pb = 60 / bpm_b
    opened = SWITCH + DT + LOOKAHEAD  # the first time a beat can be committed after the switch
    last_a = max(t for t in times if t < opened)
    true_b = [(phase_b + k) * pb for k in range(math.floor(opened / pb), math.ceil(39.0 / pb))]
    true_b = [t for t in true_b if opened <= t < 39.0]
    if true_b[0] - last_a < 0.5 * pb:
        true_b = true_b[1:]  # B's first beat comes right after A's last: that one beat may merge
    after = [t for t in times if last_a < t < 39.0]
    assert [t for t in true_b if not any(abs(t - c) < TOL for c in after)] == []  # none dropped
    extra = [c for c in after if not any(abs(t - c) < TOL for t in true_b)]
    # Known, left to the scheduler: a beat of B inside the lookahead at the switch (too late to
    # commit on time), distinct from A's last, may still be flashed late by its skipped-beat rescue.
    in_gap = [(phase_b + k) * pb for k in range(math.floor(SWITCH / pb), math.ceil(opened / pb))]
    in_gap = [t for t in in_gap if SWITCH <= t < opened and t - last_a > 0.5 * pb]
    assert len(extra) <= len(in_gap) and all(c < opened + 0.5 * pb for c in extra)  # none extra
    assert len(after) == len(true_b) + len(extra)  # none doubled


def test_a_jump_inside_one_track_stays_continuous():
    """The same track's reading jumping (a re-aligned position) is slewed, not snapped."""
    clock = BeatClock()
    t = 30.0
    while t < 31.0:
        clock.offer(TempoReading("set", 124.0, t * 124 / 60, t), "A")
        clock.sync(t)
        t += DT
    before = clock.beats_at(t)
    clock.offer(TempoReading("set", 124.0, t * 124 / 60 + 4.4, t), "A")
    clock.sync(t)
    assert abs(clock.beats_at(t) - before) < 1e-9
