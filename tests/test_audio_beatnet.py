"""The BeatNet beat and downbeat activation: its packaged weights load, its numpy forward pass is
BeatNet's own network, it peaks on a synthetic kick track's beats whatever the block size, the
engine follows it and takes the learned downbeat cue from it; plus the fixed split of `bench beats`."""

from __future__ import annotations

import numpy as np
import pytest

from live.audio import beatnet
from live.audio.analysis import AudioEngine
from live.audio.beats import track_beats
from live.audio.settings import AnalysisSettings
from live.beat.downbeat import BarEvidence, cue_weights
from live.bench.beats import fold_of, half_of
from live.bench.synth import synth_kick_track

needs_beatnet = pytest.mark.skipif(
    not beatnet.available(),
    reason="BeatNet is not installed (pip install --no-deps BeatNet==1.1.3; it also needs torch and madmom)")


@needs_beatnet
def test_packaged_weights_load_and_numpy_pass_equals_beatnets_network():
    import torch

    net = beatnet.load_network()
    feats = np.random.default_rng(0).random((40, beatnet.INPUTS), dtype=np.float32)
    with torch.inference_mode():
        ref = torch.softmax(net(torch.from_numpy(feats)[None])[0], dim=0).numpy().T
    ours = beatnet._Network(net)
    got = np.concatenate([ours(feats[:15]), ours(feats[15:])])  # the LSTM state carries over
    assert np.abs(got - ref).max() < 1e-4


@needs_beatnet
def test_activation_peaks_on_the_kicks_whatever_the_block_size():
    x, kicks = synth_kick_track([(120.0, 8.0)], 48000)
    outs = []
    for block in (256, 1000):
        act = beatnet.BeatNetActivation(48000)
        parts = [act.process(x[i : i + block]) for i in range(0, len(x), block)]
        outs.append((np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])))
    n = min(len(o[0]) for o in outs)
    assert n >= 395
    assert np.abs(outs[0][0][:n] - outs[1][0][:n]).max() < 1e-4
    beat, down = outs[0]
    assert np.all((beat >= 0) & (beat <= 1)) and np.all(down <= beat + 1e-6)
    times = np.arange(len(beat)) / beatnet.FPS  # frame k is centred at k / 50 s
    on = [beat[np.abs(times - k) <= 0.03].max() for k in kicks[4:-1]]
    off = [beat[(times >= k + 0.15) & (times < k + 0.35)].max() for k in kicks[4:-1]]
    assert np.median(on) > 0.3 and np.median(on) > 3 * np.median(off)


@needs_beatnet
@pytest.mark.parametrize("activation", ["beatnet", "blend"])
def test_engine_follows_the_beatnet_activation_and_the_learned_cue(activation):
    x, kicks = synth_kick_track([(124.0, 14.0)], 48000)
    settings = AnalysisSettings(beat_activation=activation, downbeat="learned")
    engine = AudioEngine(48000, settings)
    assert engine.beat_activation == activation and engine.downbeat == "learned"
    beats = track_beats(x, 48000, settings=settings)
    late = np.array([b["time"] for b in beats if b["time"] > 6.0])
    assert abs(np.median(np.diff(late)) - 60.0 / 124.0) < 0.01
    err = [np.min(np.abs(kicks - t)) for t in late]
    assert np.median(err) < 0.03


@pytest.mark.parametrize("activation", ["beatnet", "blend"])
def test_without_beatnet_the_engine_falls_back(monkeypatch, activation):
    monkeypatch.setattr(beatnet, "available", lambda: False)
    engine = AudioEngine(48000, AnalysisSettings(beat_activation=activation, downbeat="learned"))
    assert engine.beat_activation == "aubio" and engine.downbeat == "harmony"


def test_learned_cue_alone_moves_the_one():
    weights, switch, ramp = cue_weights("learned")
    bar = BarEvidence(weights, switch, ramp)
    for beat in range(40):
        bar.add("bass", beat, 1.0)  # an equal kick on every beat: no bar from the bass
        bar.add("learned", beat, 0.9 if beat % 4 == 2 else 0.05)
    assert bar.one == 2


def test_split_is_fixed_by_the_name():
    names = [f"{g}_{i:05d}" for g in ("blues", "pop", "rock") for i in range(4)]
    halves = [half_of(n) for n in names]
    assert set(halves) == {"tune", "check"}
    assert halves == [half_of(n) for n in names]
    assert half_of("pop_00000") == ("tune" if fold_of("pop_00000", 2) == 0 else "check")
    assert all(0 <= fold_of(n, 5) < 5 for n in names)


def test_generated_tracks_have_exact_annotations():
    from live.bench.annotated import synth_annotated

    x, beats, pos = synth_annotated(3, samplerate=8000, seconds=10.0)
    assert len(x) == 80000 and np.abs(x).max() <= 0.91
    assert np.all(np.diff(beats) > 0.3) and np.all(np.diff(beats) < 0.8)  # 80-160 BPM (+-6%)
    assert set(pos) <= {1.0, 2.0, 3.0, 4.0} and np.all((np.diff(pos) % 4) == 1)  # bars of four, in order
    again = synth_annotated(3, samplerate=8000, seconds=10.0)
    assert np.array_equal(again[0], x)  # the seed decides everything


def test_defaults_are_blend_and_learned_and_fall_back_without_beatnet(monkeypatch):
    from live.audio.settings import DEFAULTS

    assert (DEFAULTS.beat_activation, DEFAULTS.downbeat) == ("blend", "learned")
    monkeypatch.setattr(beatnet, "available", lambda: False)
    engine = AudioEngine(44100)
    assert (engine.beat_activation, engine.downbeat) == ("aubio", "harmony")


@needs_beatnet
def test_blend_finds_the_next_tracks_bar_at_once_after_a_long_silence():
    # The blend's running scales were dragged toward 0 by the silence between two tracks, so the
    # second track's first beats were misweighted and its bar was wrong for ~11 s.
    from live.audio.sources import iter_blocks
    from test_beat_downbeat import RATE, chord_track, ones

    first, _ = chord_track(bars=10, pickup=2)
    second, downbeats = chord_track(bars=10, pickup=3)
    start = (len(first) + 3 * RATE) / RATE
    engine = AudioEngine(RATE, AnalysisSettings(beat_activation="blend", downbeat="learned"))
    states = []
    for block, end in iter_blocks(np.concatenate([first, np.zeros(3 * RATE, np.float32), second]), RATE, 512):
        engine.feed(block, end)
        states.append(engine.state)
    want = {round(states[-1].beats_at(t + start)) % 4 for t in downbeats}
    assert len(want) == 1
    assert ones(states, after=start + 3.0) == want
