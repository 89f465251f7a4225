"""The offline beat/downbeat analysis of `set add` (live.show.downbeats) and `bench set`'s mix of
generated structured tracks (live.bench.setmix)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from live.bench import setmix
from live.show import downbeats

RATE = 22050
CLIPS = Path("/work/shared/data/beats")


def _f(ref: np.ndarray, est: np.ndarray) -> float:
    import mir_eval

    return float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(ref), mir_eval.beat.trim_beats(np.asarray(est, float))))


def _madmom() -> None:
    from live.audio.rnn import import_madmom

    if import_madmom() is None:
        pytest.skip("madmom is not installed")


def test_a_long_track_is_decoded_in_pieces_as_it_is_whole():
    """decode_in_pieces: a long track's DBN in pieces (its memory bounded) gives the whole decode's
    beats and bar count; a short one is decoded whole."""
    _madmom()
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor

    rng = np.random.default_rng(1)
    frames = 100 * downbeats.FPS  # 100 s at 123 BPM, a downbeat every 4 beats from 0.3 s, noisy
    act = np.full((frames, 2), 0.02) + 0.03 * rng.random((frames, 2))
    beat_frames = np.round((0.3 + np.arange(0, 100, 60 / 123)) * downbeats.FPS).astype(int)
    beat_frames = beat_frames[beat_frames < frames]
    act[beat_frames, 0] = 0.6
    act[beat_frames[::4], 0], act[beat_frames[::4], 1] = 0.05, 0.7
    dbn = DBNDownBeatTrackingProcessor(beats_per_bar=[4], fps=downbeats.FPS)
    whole = np.asarray(dbn(act))
    calls = []
    pieces = downbeats.decode_in_pieces(lambda a: calls.append(len(a)) or dbn(a), act, 4, piece_s=30.0, margin_s=10.0)
    assert len(calls) == 4 and max(calls) <= 50 * downbeats.FPS  # never the whole track at once
    assert pieces.shape == whole.shape and np.allclose(pieces, whole, atol=0.02)
    downs = pieces[pieces[:, 1] == 1, 0]
    assert np.allclose(downs[:3], 0.3 + np.arange(3) * 4 * 60 / 123, atol=0.02)
    calls.clear()
    downbeats.decode_in_pieces(lambda a: calls.append(len(a)) or dbn(a), act[:4000], 4, piece_s=30.0, margin_s=10.0)
    assert calls == [4000]  # 40 s: whole


def test_the_beat_activation_is_mixed_and_the_downbeat_column_kept():
    joint = np.array([[0.1, 0.0], [0.0, 0.8], [0.3, 0.2], [0.05, 0.9]])
    beat = np.array([0.9, 0.9, 0.1])  # one frame short: padded with no beat
    out = downbeats.combine_activations(joint, beat, 0.5)
    assert out.shape == joint.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 1], joint[:, 1], atol=2e-6)  # the bar comes from the joint network
    np.testing.assert_allclose(out[:3, 0] + out[:3, 1], [0.5, 0.85, 0.3], atol=1e-6)  # mean beat probability
    assert np.all(out > 0) and np.all(out.sum(axis=1) < 1.0)  # the DBN takes the log of each and of 1 - both
    np.testing.assert_allclose(downbeats.combine_activations(joint, beat, 0.0), joint, atol=2e-6)


def test_a_generated_tune_has_exact_4_4_annotations_on_its_kicks():
    y, beats, bars = setmix.structured_tune(201, 100.0, seconds=12.0)
    assert y.dtype == np.float32 and len(y) == 12 * RATE and np.abs(y).max() <= 0.9 + 1e-6
    np.testing.assert_allclose(np.diff(beats), 0.6, atol=1e-9)
    assert list(bars[:9]) == [1, 2, 3, 4, 1, 2, 3, 4, 1]
    # Each bar's one is louder than its other beats (bass, chord and a crash land there).
    env = np.array([np.abs(y[int(t * RATE): int(t * RATE) + 2000]).mean() for t in beats])
    assert env[bars == 1].mean() > 1.08 * env[bars != 1].mean()


def _chords(changes_from: int, beats: int = 48, period: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """(audio, beat times): a click on every beat and a triad held for 4 beats, changing on every
    4th beat from beat ``changes_from`` on; ``changes_from`` < 0: one triad throughout."""
    rng = np.random.default_rng(0)
    times = np.arange(beats) * period
    y = np.zeros(int(beats * period * RATE), np.float32)
    t = np.arange(int(period * RATE)) / RATE
    roots = (0, 5, 7, 3, 8, 10)
    for k, at in enumerate(times):
        chord = 0 if changes_from < 0 else ((k - changes_from) // 4) % len(roots)
        hz = 220.0 * 2 ** (roots[chord] / 12.0)
        tone = sum(np.sin(2 * np.pi * hz * 2 ** (s / 12.0) * t) for s in (0, 4, 7)) * 0.1
        tone[:200] += rng.standard_normal(200) * 0.3  # the click
        i = int(at * RATE)
        y[i:i + len(tone)] += tone.astype(np.float32)
    return y, times


def test_the_bar_is_counted_from_where_the_chords_change():
    """A count that puts the downbeat 2 beats before the chord changes is moved onto them; with one
    chord throughout (nothing to say) or changes on the count's own downbeats, it stays."""
    places = np.arange(48) % 4 + 1
    y, times = _chords(changes_from=2)
    assert downbeats.chord_change_shift(y, RATE, times, places) == 2
    y, times = _chords(changes_from=0)
    assert downbeats.chord_change_shift(y, RATE, times, places) == 0
    y, times = _chords(changes_from=-1)
    assert downbeats.chord_change_shift(y, RATE, times, places) == 0
    assert downbeats.chord_change_shift(y, RATE, times[:4], places[:4]) == 0  # too short to tell


def test_the_offline_analysis_forks_no_worker(monkeypatch):
    """madmom's pool of forked workers once hung `set add` (a worker that never ended): none is made."""
    _madmom()
    import multiprocessing.pool

    def no_pool(*args, **kwargs):
        raise AssertionError("madmom started a process pool")

    monkeypatch.setattr(multiprocessing.pool.Pool, "__init__", no_pool)
    y, beats, bars = setmix.structured_tune(204, 120.0, seconds=12.0)
    est, _ = downbeats.madmom_downbeats(y, RATE)
    assert _f(beats, est) >= 0.9


@pytest.mark.slow
def test_madmom_finds_the_bars_of_a_generated_4_4_track():
    _madmom()
    for seed, bpm in ((202, 124.0), (203, 165.0)):  # madmom alone counts the second from the clap on 3
        y, beats, bars = setmix.structured_tune(seed, bpm, seconds=14.0)
        est, down = downbeats.madmom_downbeats(y, RATE)
        assert _f(beats, est) >= 0.95 and _f(beats[bars == 1], down) >= 0.9, bpm
        idx = np.searchsorted(est, down - 1e-3)
        assert set(np.diff(idx)) == {4}  # four beats a bar, every bar


@pytest.mark.slow
@pytest.mark.skipif(not (CLIPS / "blues_00001.wav").is_file(), reason="the development clips are not here")
def test_a_4_4_blues_is_not_counted_in_three():
    """madmom's [3, 4] tracker counted this 4/4 clip in three (downbeat F 0.40); four beats a bar
    finds every downbeat."""
    _madmom()
    import librosa

    y, sr = librosa.load(str(CLIPS / "blues_00001.wav"), sr=RATE)
    beats, bars = setmix.read_annotations(CLIPS / "blues_00001.beats")
    _, down = downbeats.madmom_downbeats(y, sr)
    assert _f(beats[bars == 1], down) >= 0.95


@pytest.mark.slow
def test_bench_set_generated_mix_small_case_follows_the_grids():
    f = setmix.measure_generated_mix(2, seconds=26.0, audio_set=False)
    lines = setmix.report_mix(f)
    assert f.tracks == 2 and f.beat_f["rekordbox"] >= 0.85 and f.downbeat_f["rekordbox"] >= 0.75, lines
    assert "generated 4/4 tracks" in lines[0] and f.named["rekordbox"] >= 0.9, lines


def test_a_generated_mix_needs_two_to_six_tracks():
    with pytest.raises(ValueError, match="2..6"):
        setmix.measure_generated_mix(1)
