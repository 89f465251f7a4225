"""The tempo source arbiter with fake times: priority (Link > MIDI clock > manual > audio), the 2 s
fallback without a jump of the beat count, the return of a higher source, the bar from the source."""

from __future__ import annotations

import math

import pytest

from live.beat.clock import BeatClock
from live.beat.sources import QUIET_S, TempoSources
from live.messages import TempoReading

STEP = 0.01  # readings and syncs every 10 ms, as the peers and the analysis thread do


class FakeSource:
    """An external source at ``bpm`` whose beat 0 falls at ``t0``."""

    def __init__(self, name: str, bpm: float, t0: float = 0.0) -> None:
        self.name, self.bpm, self.t0 = name, bpm, t0

    def beat(self, t: float) -> float:
        return (t - self.t0) * self.bpm / 60.0

    def reading(self, t: float) -> TempoReading:
        return TempoReading(self.name, self.bpm, self.beat(t), t)


def run(clock: BeatClock, start: float, end: float, *sources: FakeSource) -> list[tuple[float, float]]:
    """Offer each source's reading and sync every STEP; the (time, beats_at) seen after each sync."""
    seen = []
    t = start
    while t < end - 1e-9:
        for src in sources:
            clock.offer(src.reading(t))
        clock.sync(t)
        seen.append((t, clock.beats_at(t)))
        t += STEP
    return seen


def max_step_jump(seen: list[tuple[float, float]], bpm_max: float) -> float:
    """Largest excess of a step of the count over what ``bpm_max`` would advance in that step."""
    return max((b1 - b0) - (t1 - t0) * bpm_max / 60.0 for (t0, b0), (t1, b1) in zip(seen, seen[1:]))


def phase_error_s(clock: BeatClock, src: FakeSource, t: float) -> float:
    """How far (seconds) the clock's beat grid is from the source's at ``t``."""
    d = clock.beats_at(t) - src.beat(t)
    return abs(d - round(d)) * 60.0 / src.bpm


def test_priority_link_over_midi_clock_over_manual():
    clock = BeatClock()
    clock.set_bpm(100.0, 0.0)
    assert clock.source == "manual"
    midi = FakeSource("midi_clock", 126.0, 0.13)
    link = FakeSource("link", 120.0, 0.31)
    run(clock, 0.0, 1.0, midi)
    assert (clock.source, clock.bpm) == ("midi_clock", 126.0)
    run(clock, 1.0, 3.0, midi, link)
    assert (clock.source, clock.bpm) == ("link", 120.0)
    assert phase_error_s(clock, link, 3.0) < 1e-6  # converged to Link's phase, not MIDI's
    assert clock.locked, "the manual lock stays underneath"


def test_quiet_source_hands_over_after_two_seconds_without_a_jump():
    clock = BeatClock()
    midi = FakeSource("midi_clock", 126.0, 0.2)
    link = FakeSource("link", 120.0, 0.05)
    run(clock, 0.0, 3.0, midi, link)
    assert clock.source == "link"
    # Link stops: still followed (extrapolated) for 2 s, then MIDI clock takes over.
    seen = run(clock, 3.0, 3.0 + QUIET_S - 0.05, midi)
    assert clock.source == "link"
    seen += run(clock, 3.0 + QUIET_S - 0.05, 8.0, midi)
    assert (clock.source, clock.bpm) == ("midi_clock", 126.0)
    # The count never jumps: each 10 ms step advances it by at most the slewed tempo.
    assert max_step_jump(seen, 126.0 + 0.5 * 60.0) < 1e-9
    assert min(b1 - b0 for (_, b0), (_, b1) in zip(seen, seen[1:])) > 0
    assert phase_error_s(clock, midi, 8.0) < 1e-6


def test_fallback_to_the_manual_lock_and_to_the_audio_keeps_the_count():
    for locked in (True, False):
        clock = BeatClock()
        if locked:
            clock.set_bpm(100.0, 0.0)
        link = FakeSource("link", 120.0, 0.37)
        run(clock, 0.0, 2.0, link)
        assert clock.source == "link"
        handover = 2.0 + QUIET_S + 0.005
        before = clock.beats_at(handover)
        clock.sync(handover)
        assert clock.external is None
        assert clock.beats_at(handover) == pytest.approx(before, abs=1e-9)
        if locked:
            assert (clock.source, clock.bpm) == ("manual", 100.0)
        else:
            assert (clock.source, clock.bpm) == ("audio", 120.0)  # the audio pulls from here, gently


def test_tap_under_link_is_kept_for_later_and_does_not_move_the_clock():
    clock = BeatClock()
    link = FakeSource("link", 120.0, 0.0)
    run(clock, 0.0, 1.0, link)
    for t in (1.0, 1.6, 2.2):  # 100 BPM taps
        clock.tap(t)
        run(clock, t, t + 0.6, link)
    assert (clock.source, clock.bpm) == ("link", 120.0)
    assert phase_error_s(clock, link, 2.8) < 1e-6
    run(clock, 2.8, 2.8 + QUIET_S + 0.1)
    assert (clock.source, clock.bpm) == ("tap", pytest.approx(100.0))


def test_higher_source_returns_takes_over_smoothly_and_reaches_its_phase():
    clock = BeatClock()
    link = FakeSource("link", 120.0, 0.0)
    midi = FakeSource("midi_clock", 120.0, 0.2)  # 0.4 beat away from Link
    run(clock, 0.0, 1.0, link, midi)
    run(clock, 1.0, 4.0, midi)
    assert clock.source == "midi_clock"
    seen = run(clock, 4.0, 6.0, link, midi)
    assert clock.source == "link"
    assert max_step_jump(seen, 120.0 + 0.5 * 60.0) < 1e-9  # slewed, never jumped
    assert phase_error_s(clock, link, 6.0) < 1e-6  # 0.4 beat worked off within a second


def test_bar_position_comes_from_the_source():
    clock = BeatClock()
    link = FakeSource("link", 120.0, -0.5 * 2.25)  # at t=0 Link is at beat 2.25 (third beat of its bar)
    run(clock, 0.0, 2.0, link)
    for t in (2.0, 2.3, 3.1):
        index = math.floor(clock.beats_at(t))
        assert clock.downbeat_of(index) == math.floor(link.beat(t)) % 4


def test_a_jump_of_the_source_itself_is_followed_without_a_jump():
    """A MIDI Start (the source's count restarts at 0) or a Link timeline forced by a peer."""
    clock = BeatClock()
    midi = FakeSource("midi_clock", 120.0, 0.0)
    run(clock, 0.0, 2.0, midi)
    restarted = FakeSource("midi_clock", 120.0, 2.1)  # Start: beat 0 at 2.1 s, 0.2 beat off the old grid
    seen = run(clock, 2.0, 4.0, restarted)
    assert max_step_jump(seen, 120.0 + 0.5 * 60.0) < 1e-9
    assert phase_error_s(clock, restarted, 4.0) < 1e-6
    assert clock.downbeat_of(math.floor(clock.beats_at(4.0))) == math.floor(restarted.beat(4.0)) % 4


def test_bad_readings_are_refused():
    sources = TempoSources()
    assert not sources.offer(TempoReading("link", 0.0, 1.0, 1.0))
    assert not sources.offer(TempoReading("link", float("nan"), 1.0, 1.0))
    assert not sources.offer(TempoReading("midi_clock", 5000.0, 1.0, 1.0))  # a broken sender
    assert not sources.offer(TempoReading("link", 120.0, float("inf"), 1.0))
    assert not sources.offer(TempoReading("osc", 120.0, 1.0, 1.0))
    assert sources.active(1.0) is None
    assert sources.offer(TempoReading("midi_clock", 120.0, 1.0, 1.0))
    assert sources.active(1.0 + QUIET_S).source == "midi_clock"
    assert sources.active(1.0 + QUIET_S + 0.01) is None


def test_engine_hands_link_back_to_the_audio_without_a_jump_and_then_finds_the_music():
    """The live engine on a 128 BPM kick track while Link says 120: Link leads; when it goes
    quiet the audio takes over with the count continuous, then pulls to the kicks' tempo and beat."""
    from live.audio.analysis import AudioEngine
    from live.audio.sources import iter_blocks
    from live.bench.synth import synth_kick_track

    rate = 22050
    x, kicks = synth_kick_track([(128.0, 24.0)], rate)
    engine = AudioEngine(rate)
    link = FakeSource("link", 120.0, 0.1)
    seen = []
    for block, end in iter_blocks(x, rate, 256):
        if end < 8.0:
            engine.external(link.reading(end))
        engine.feed(block, end)
        s = engine.state
        seen.append((end, s.beat_index + s.beat_phase, s.tempo_source, s.bpm))
    sources = {src for t, _, src, _ in seen if 1.0 < t < 8.0}
    assert sources == {"link"}
    handover = next(t for t, _, src, _ in seen if t > 8.0 and src == "audio")
    assert 9.9 <= handover <= 10.1  # quiet for 2 s
    # The count never jumps (a block is 11.6 ms; the audio's phase pull adds at most 0.01 beat each).
    steps = [(b1 - b0) - (t1 - t0) * max(bpm0, bpm1) / 60.0
             for (t0, b0, _, bpm0), (t1, b1, _, bpm1) in zip(seen, seen[1:]) if t0 > 7.0]
    assert max(steps) < 0.05 and min(b1 - b0 for (_, b0, _, _), (_, b1, _, _) in zip(seen, seen[1:])) > -1e-9
    end_state = engine.state
    assert end_state.tempo_source == "audio" and end_state.bpm == pytest.approx(128.0, abs=1.0)
    # Back on the kicks by the end.
    last = kicks[kicks < end_state.time][-1]
    d = end_state.beats_at(last)
    assert abs(d - round(d)) * 60.0 / 128.0 < 0.03
