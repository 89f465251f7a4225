"""The bar position: found from where the low end hits hardest, and held steady when every
beat hits the same (four-on-the-floor), so keyframe moves stay on the same beat of the bar."""

import numpy as np

from live.audio.analysis import AudioEngine
from live.audio.sources import iter_blocks
from live.library.demo import _kick, demo_track

RATE = 44100


def run(samples: np.ndarray) -> list:
    engine = AudioEngine(RATE)
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
    track = demo_track(16.0, samplerate=RATE)
    states = run(track.samples.mean(axis=1))
    settled = [s for s in states if s.time > 4.0]
    ones = {(s.beat_index - s.downbeat) % 4 for s in settled}
    assert len(ones) == 1, f"the bar's first beat moved: {sorted(ones)}"
