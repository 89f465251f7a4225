"""The bar position: found from where the low end hits hardest and the chords change, and held
steady when every beat hits the same (four-on-the-floor), so keyframe moves stay on the same beat
of the bar; a downbeat the user declares wins."""

import numpy as np
import pytest

from live.audio import rnn
from live.audio.analysis import AudioEngine
from live.audio.settings import AnalysisSettings
from live.audio.sources import iter_blocks
from live.beat.downbeat import DOWNBEAT_PATIENCE, BarEvidence, BeatChroma, bar_contrast, cue_weights
from live.library.demo import _kick, demo_track
from live.messages import Command

RATE = 44100


# These tests are about the hand-made cues (low band, chord change) and how the bar evidence
# holds and restarts; the learned cue and the default (blend, learned) have theirs in
# test_audio_beatnet.py.
CUES = AnalysisSettings(beat_activation="aubio", downbeat="harmony")


def run(samples: np.ndarray) -> list:
    engine = AudioEngine(RATE, CUES)
    states = []
    for block, end in iter_blocks(samples, RATE, 512):
        engine.feed(block, end)
        states.append(engine.state)
    return states


def test_accented_one_is_found_even_after_a_pickup():
    bpm, bars = 120.0, 10
    period = 60.0 / bpm
    x = np.zeros(int(RATE * (bars * 4 + 3) * period), np.float32)
    kick = _kick(RATE)
    t_bass = np.arange(int(0.2 * RATE)) / RATE
    bass = (np.sin(2 * np.pi * 50 * t_bass) * np.exp(-t_bass * 8)).astype(np.float32)
    downbeats = []
    for i in range(bars * 4 + 2):
        t = 0.25 + i * period
        start = int(t * RATE)
        accented = (i - 2) % 4 == 0  # the track starts on beat 3 of a bar
        x[start : start + len(kick)] += (0.9 if accented else 0.35) * kick[: len(x) - start]
        if accented:
            x[start : start + len(bass)] += 0.6 * bass[: len(x) - start]
            downbeats.append(t)
    state = run(x)[-1]
    for t in downbeats[-3:]:
        k = round(state.beats_at(t))
        assert (k - state.beat_index + state.downbeat) % 4 == 0, f"the one at {t:.2f}s is not the downbeat"


def test_four_on_the_floor_keeps_its_bar():
    track = demo_track(24.0, samplerate=RATE)
    states = run(track.samples.mean(axis=1))
    settled = [s for s in states if s.time > 4.0]
    ones = {(s.beat_index - s.downbeat) % 4 for s in settled}
    assert len(ones) == 1, f"the bar's first beat moved: {sorted(ones)}"


# -- chord changes (live.beat.downbeat) -----------------------------------------------------------

CHORDS = ((261.63, 329.63, 392.00), (220.00, 261.63, 329.63), (174.61, 220.00, 261.63), (196.00, 246.94, 293.66))  # C Am F G


def chord_track(bars: int, change: bool = True, pickup: int = 2, bpm: float = 120.0) -> tuple[np.ndarray, list[float]]:
    """Kicks of equal weight on beats 1 and 3 (so the low band cannot tell 1 from 3) and a pad
    that changes chord on every 1 (C Am F G), or holds C throughout; it starts ``pickup`` beats
    before the first full bar. Returns the samples and the downbeat times."""
    period = 60.0 / bpm
    beats = bars * 4 + pickup
    n = int(RATE * (beats * period + 0.5))
    x = np.zeros(n, np.float32)
    t = np.arange(n) / RATE
    kick = _kick(RATE)
    downbeats = []
    for i in range(beats):
        at = 0.25 + i * period
        bar_pos = (i - pickup) % 4
        if bar_pos in (0, 2):
            start = int(at * RATE)
            x[start:start + len(kick)] += 0.8 * kick[:n - start]
        if bar_pos == 0:
            downbeats.append(at)
    bar_of = np.floor((t - 0.25) / period - pickup) // 4  # bar number of each sample (the pickup: -1)
    for b in range(-1, bars):
        chord = CHORDS[b % 4] if change else CHORDS[0]
        inside = bar_of == b
        x[inside] += sum(0.12 * np.sin(2 * np.pi * f * t[inside]) for f in chord).astype(np.float32)
    return x, downbeats


def ones(states: list, after: float) -> set:
    """The beat indices (mod 4) the states call the one, from ``after`` seconds on."""
    return {(s.beat_index - s.downbeat) % 4 for s in states if s.time > after}


def test_chord_change_on_one_beats_an_equal_kick_on_three():
    x, downbeats = chord_track(bars=14)
    states = run(x)
    state = states[-1]
    want = {round(state.beats_at(t)) % 4 for t in downbeats}
    assert len(want) == 1
    # Settled within 8 bars (16 s) and held from there on.
    assert ones(states, after=16.0) == want, "the chord changes did not place the bar on the one"


def test_bass_only_estimate_cannot_tell_one_from_three_here():
    # The reference: the same track with the low band alone lands on 1 or 3 by chance (here: not 1),
    # which is what the chord changes are for.
    x, downbeats = chord_track(bars=12)
    engine = AudioEngine(RATE, AnalysisSettings(downbeat="bass"))
    for block, end in iter_blocks(x, RATE, 512):
        engine.feed(block, end)
    state = engine.state
    got = ones([state], after=0.0)
    beat_of_one = {round(state.beats_at(t)) % 4 for t in downbeats}
    assert got <= {(k + 2) % 4 for k in beat_of_one} | beat_of_one  # 1 or 3: the kicks are equal


def test_steady_kick_and_chord_keeps_its_bar():
    # Four on the floor under one held chord: no slot leads, the bar must not hop.
    x, _ = chord_track(bars=12, change=False)
    period = 60.0 / 120.0
    kick = _kick(RATE)
    for i in range(12 * 4 + 2):
        if i % 2:  # the kicks on 2 and 4 of the bar, as loud as those on 1 and 3
            start = int((0.25 + i * period) * RATE)
            x[start:start + len(kick)] += 0.8 * kick[:len(x) - start]
    states = run(x)
    assert len(ones(states, after=4.0)) == 1, "the bar's first beat moved"


def test_after_a_long_silence_the_next_track_gets_its_own_bar_at_once():
    # Two tracks with a 3 s gap; the second's one falls a beat later on the clock's grid. The old
    # evidence must not hold the bar there for bars (it did for 6.6 s): the gap restarts it.
    first, _ = chord_track(bars=10, pickup=2)
    second, downbeats = chord_track(bars=10, pickup=3)
    start = (len(first) + 3 * RATE) / RATE
    states = run(np.concatenate([first, np.zeros(3 * RATE, np.float32), second]))
    want = {round(states[-1].beats_at(t + start)) % 4 for t in downbeats}
    assert len(want) == 1
    assert ones(states, after=start + 3.0) == want


def test_user_downbeat_wins_over_chord_changes():
    x, downbeats = chord_track(bars=12)
    engine = AudioEngine(RATE)
    states = []
    resync_at = downbeats[2] + 0.5  # the second beat of the third bar: declared the one by hand
    for block, end in iter_blocks(x, RATE, 512):
        engine.feed(block, end)
        if end >= resync_at and engine.clock._downbeat_user is None:
            engine.command(Command("resync", (), received=resync_at))
        states.append(engine.state)
    declared = round(states[-1].beats_at(resync_at)) % 4
    assert ones(states, after=resync_at + 0.1) == {declared}
    assert declared != round(states[-1].beats_at(downbeats[-1])) % 4  # the evidence pointed elsewhere


def test_beat_chroma_reports_the_change_into_each_finished_beat():
    chroma = BeatChroma()
    c_major, f_major = np.zeros(12), np.zeros(12)
    c_major[[0, 4, 7]], f_major[[5, 9, 0]] = 1.0, 1.0
    got = [chroma.add(pos, c_major if pos < 2 else f_major) for pos in np.arange(0.0, 6.01, 0.25)]
    changes = dict(g for g in got if g is not None)
    # Two beats after each beat against the two before: known for beats 2..4 once beat 5 is over.
    assert set(changes) == {2, 3, 4}
    assert changes[2] > 0.8 and changes[2] > changes[3] > 0.1 and abs(changes[4]) < 1e-6
    assert chroma.add(5.0, c_major) is None  # a frame of a finished beat (the clock stepped back): left out


def first_switch(bar: BarEvidence, start: int, to: int) -> int | None:
    """Beat index at which ``bar`` makes ``to`` the one, from ``start`` on, with chord changes
    on slot ``to`` and an equal kick on every beat; None within 48 beats."""
    for k in range(start, start + 48):
        bar.add("bass", k, 1.0)
        bar.add("harmony", k, 1.0 if k % 4 == to else 0.05)
        if bar.one == to:
            return k
    return None


def test_bar_evidence_holds_until_a_slot_leads_for_two_bars():
    bar = BarEvidence({"bass": 1.0, "harmony": 1.0})
    for k in range(40):  # ten bars of an equal kick on every beat: the first slot heard stays the one
        bar.add("bass", k, 1.0)
    assert bar.one == 0
    switched = first_switch(bar, 40, to=3)
    assert switched is not None and switched >= 40 + DOWNBEAT_PATIENCE, switched


def test_bar_evidence_is_quicker_while_the_first_bars_are_heard():
    # Before the first bar is over the one is a guess: a beat of patience per bar heard.
    early = first_switch(BarEvidence({"bass": 1.0, "harmony": 1.0}), 0, to=3)
    steady = first_switch(BarEvidence({"bass": 1.0, "harmony": 1.0}, ramp=False), 0, to=3)
    assert early is not None and steady is not None
    assert early < steady and steady >= DOWNBEAT_PATIENCE


@pytest.mark.slow  # about 5 s of CPU: the networks on 30 s of audio
@pytest.mark.skipif(not rnn.available(), reason="madmom (the rnn extra) is not installed")
def test_rnn_activation_takes_its_downbeat_from_the_same_evidence():
    # The rnn activation feeds the tracker only; the bar slots still get the aubio frames' bass
    # onsets and chord changes, so the chord track's one is found the same way.
    x, downbeats = chord_track(bars=14)
    engine = AudioEngine(RATE, AnalysisSettings(beat_activation="rnn"))
    states = []
    for block, end in iter_blocks(x, RATE, 512):
        engine.feed(block, end)
        states.append(engine.state)
    assert engine.beat_activation == "rnn"
    want = {round(states[-1].beats_at(t)) % 4 for t in downbeats}
    assert ones(states, after=16.0) == want


def _bars_of(bar: BarEvidence, patterns: list[list[float]]) -> None:
    # One bar per pattern (the learned downbeat probability of each of its beats).
    for b, pattern in enumerate(patterns):
        for slot, value in enumerate(pattern):
            k = 4 * b + slot
            bar.add("bass", k, 0.0)
            bar.add("learned", k, value)


def test_learned_cue_counts_by_how_far_the_one_stands_above_its_bar():
    # An intro that makes beat 4 look like the one, then a dense passage in which the network's
    # downbeat probability is high on every beat and a little higher on the one (as on reggae
    # and metal clips). Summed as they are, the dense bars add almost the same to every slot,
    # so no slot ever leads by the switch ratio and the intro's guess stays for good; counted
    # by how far each beat stands above its bar, only the one scores and takes over.
    patterns = [[0.05, 0.05, 0.05, 0.6]] * 3 + [[0.85, 0.8, 0.8, 0.8]] * 20
    weights, switch, ramp = cue_weights("learned")
    raw = BarEvidence(weights, switch, ramp)
    _bars_of(raw, patterns)
    assert raw.one == 3  # the rule as it was, kept for the harmony and bass estimates
    contrast = BarEvidence(weights, switch, ramp, contrast=bar_contrast("learned"))
    _bars_of(contrast, patterns)
    assert contrast.one == 0
