"""Chroma: 12 pitch-class energies from the analysis spectrum, carried in AudioState."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from live.audio.analysis import AudioEngine, chroma_weights
from live.messages import AudioState

RATE = 48000


def tone(freqs: list[float], seconds: float = 1.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    out = sum(0.2 * np.sin(2 * np.pi * f * t) + 0.06 * np.sin(4 * np.pi * f * t) for f in freqs)
    return np.asarray(out, np.float32)


def chroma_of(samples: np.ndarray, rate: int = RATE) -> tuple[float, ...]:
    engine = AudioEngine(rate)
    for start in range(0, len(samples), 512):  # blocks as a live stream delivers them
        block = samples[start:start + 512]
        engine.feed(block, (start + len(block)) / rate)
    return engine.state.chroma


@pytest.mark.parametrize("freq, pitch_class", [(261.63, 0), (440.0, 9), (392.0, 7), (369.99, 6), (1046.5, 0)])
def test_a_note_lights_its_pitch_class(freq, pitch_class):
    chroma = chroma_of(tone([freq]))
    assert len(chroma) == 12 and max(chroma) == 1.0 and min(chroma) >= 0.0
    assert int(np.argmax(chroma)) == pitch_class


def test_a_chord_lights_its_notes_more_than_the_others():
    chroma = np.array(chroma_of(tone([261.63, 329.63, 392.0])))  # C major: C E G
    assert set(np.argsort(chroma)[-3:]) == {0, 4, 7}


def test_silence_gives_no_chroma_and_it_works_at_44100():
    assert chroma_of(np.zeros(RATE, np.float32)) == (0.0,) * 12
    assert int(np.argmax(chroma_of(tone([440.0], rate=44100), 44100))) == 9


def test_the_chroma_matrix_folds_each_bin_once():
    bins, weights = chroma_weights(RATE, 4096)  # the analysis's chroma FFT at 48 kHz
    assert weights.shape == (12, bins.stop - bins.start) and np.allclose(weights.sum(axis=0), 1.0, atol=1e-5)
    assert bins.start * RATE / 4096 < 120 and bins.stop * RATE / 4096 > 4900  # from the bass up


def test_audio_state_carries_a_frozen_tuple():
    state = AudioState()
    assert state.chroma == (0.0,) * 12 and isinstance(state.chroma, tuple)
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.chroma = (1.0,) * 12  # type: ignore[misc]
