"""The learned (madmom RNN) beat activation: same numbers as madmom's own online processor, block
size independence, tracking a synthetic kick track, the aubio fallback when madmom is missing,
and the --beat-activation flag; plus the downbeat scoring and the DJ transition builder of
`bench beats`."""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pytest

from live.audio import rnn
from live.audio.analysis import AudioEngine
from live.audio.beats import track_beats
from live.audio.settings import AnalysisSettings
from live.audio.sources import AudioError
from live.bench import beats as beatbench
from live.bench.beats import downbeat_f, read_annotations, score
from live.bench.synth import synth_kick_track
from live.bench.transitions import build_transition, relock_time, transition_pairs
from live.cli import beats as beats_cli
from test_audio_analysis import write_kick_clips

needs_madmom = pytest.mark.skipif(not rnn.available(), reason="madmom (the rnn extra) is not installed")
RNN = AnalysisSettings(beat_activation="rnn")


@needs_madmom
def test_activation_equals_madmoms_online_processor():
    from madmom.audio.signal import Signal
    from madmom.features.beats import RNNBeatProcessor

    x, _ = synth_kick_track([(124.0, 3.0)], 44100)
    ref = RNNBeatProcessor(online=True, origin="online")(Signal(x, sample_rate=44100))
    act = rnn.RNNBeatActivation(44100)
    ours = np.concatenate([act.process(x[i : i + 512]) for i in range(0, len(x), 512)])
    assert len(ours) == len(ref)
    assert np.abs(ours - ref).max() < 1e-4


@needs_madmom
def test_activation_does_not_depend_on_block_size_and_peaks_on_kicks():
    x, kicks = synth_kick_track([(120.0, 6.0)], 48000, hats=False, bass=False)
    outs = []
    for block in (64, 480, 1000):
        act = rnn.RNNBeatActivation(48000)
        outs.append(np.concatenate([act.process(x[i : i + block]) for i in range(0, len(x), block)]))
    n = min(len(o) for o in outs)
    assert n >= 599
    assert np.abs(outs[0][:n] - outs[1][:n]).max() < 1e-5 and np.abs(outs[0][:n] - outs[2][:n]).max() < 1e-5
    act = outs[0]
    times = np.arange(len(act)) / rnn.FPS
    on = [act[(times >= k) & (times < k + 0.05)].max() for k in kicks[4:-1]]
    off = [act[(times >= k + 0.15) & (times < k + 0.35)].max() for k in kicks[4:-1]]
    assert np.median(on) > 0.3 and np.median(on) > 4 * np.median(off)


@needs_madmom
def test_rnn_activation_tracks_a_kick_track():
    x, kicks = synth_kick_track([(126.0, 14.0)], 44100)
    beats = track_beats(x, 44100, lookahead=0.05, settings=RNN)
    assert score(kicks, np.array([b["time"] for b in beats]))["F"] > 0.9
    engine = AudioEngine(48000, RNN)
    assert engine.beat_activation == "rnn" and engine.tracker.fps == rnn.FPS


def test_missing_madmom_falls_back_to_aubio_with_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(rnn, "_TRIED", False)
    monkeypatch.setattr(rnn, "_MADMOM", None)
    monkeypatch.setitem(__import__("sys").modules, "madmom", None)  # import madmom now raises ImportError
    assert not rnn.available()
    with caplog.at_level(logging.WARNING, logger="live.audio.analysis"):
        engine = AudioEngine(44100, RNN)
    assert engine.beat_activation == "aubio" and engine.tracker.fps == engine.fps
    warnings = [r for r in caplog.records if "madmom" in r.getMessage()]
    assert len(warnings) == 1 and "aubio" in warnings[0].getMessage()
    with pytest.raises(RuntimeError, match="rnn"):
        rnn.RNNBeatActivation(44100)
    x, kicks = synth_kick_track([(120.0, 10.0)], 22050)
    beats = track_beats(x, 22050, settings=RNN)
    assert score(kicks, np.array([b["time"] for b in beats]))["F"] > 0.9


def test_flag_reaches_the_settings_and_names_the_licence(capsys):
    parser = argparse.ArgumentParser()
    beats_cli.configure(parser)
    args = parser.parse_args(["x.wav", "--beat-activation", "rnn"])
    from live.cli.common import analysis_settings

    assert analysis_settings(args).beat_activation == "rnn"
    assert analysis_settings(parser.parse_args(["x.wav"])).beat_activation == AnalysisSettings().beat_activation
    with pytest.raises(SystemExit):
        parser.parse_args(["x.wav", "--beat-activation", "neural"])
    assert "CC BY-NC-SA 4.0" in " ".join(parser.format_help().split())
    with pytest.raises(AudioError, match="beat_activation"):
        AnalysisSettings(beat_activation="neural")


def test_downbeat_f_and_annotation_columns(tmp_path):
    path = tmp_path / "a.beats"
    path.write_text("".join(f"{0.5 * i:.3f}\t{i % 4 + 1}\n" for i in range(60)))
    times, pos = read_annotations(path)
    assert len(times) == 60 and list(pos[:5]) == [1, 2, 3, 4, 1]
    bars = pos.copy()
    assert downbeat_f(times, pos, times, bars) == pytest.approx(1.0)
    # Bar positions one beat off: every estimated downbeat misses.
    assert downbeat_f(times, pos, times, np.roll(bars, 1)) == pytest.approx(0.0)
    # Half of the downbeats missing: precision 1, recall 1/2.
    half = bars.copy()
    half[np.flatnonzero(half == 1)[::2]] = 2
    assert 0.6 < downbeat_f(times, pos, times, half) < 0.7


def test_transition_builder_switches_annotations_at_the_fade_middle():
    rate = 8000
    a, ka = synth_kick_track([(120.0, 20.0)], rate, seed=1)
    b, kb = synth_kick_track([(100.0, 20.0)], rate, seed=2)
    mix, times, pos, middle = build_transition(a, ka, np.ones_like(ka), b, kb, 2 * np.ones_like(kb), rate, fade=8.0)
    assert len(mix) == len(a) + len(b) - 8 * rate
    assert middle == pytest.approx(16.0)
    assert np.all(times[pos == 1] < middle) and np.all(times[pos == 2] >= middle)
    assert np.all(np.diff(times) > 0)
    # A alone before the fade, B alone after it.
    assert np.array_equal(mix[: 11 * rate], a[: 11 * rate])
    assert np.allclose(mix[21 * rate :], b[9 * rate :])
    assert relock_time(times, times, middle) == pytest.approx(times[times >= middle][0] - middle)
    late = np.concatenate((times[times < middle], times[times >= middle + 5.0]))
    assert relock_time(times, late, middle) >= 5.0
    assert relock_time(times, times[times < middle], middle) == float("inf")
    with pytest.raises(AudioError, match="long"):
        build_transition(a[: 10 * rate], ka, ka, b, kb, kb, rate)
    assert transition_pairs(["rock_1", "rock_2", "jazz_1"]) == [(0, 2), (1, 2), (2, 0)]


def test_bench_beats_transitions_on_a_synthetic_set(tmp_path, capsys):
    # Mixes are made within a half of the split: g0_00000 and g2_00000 are both check material.
    write_kick_clips(tmp_path, ["g0_00000", "g2_00000"], 20.0)
    parser = argparse.ArgumentParser()
    beatbench.configure(parser)
    assert beatbench.run(parser.parse_args([str(tmp_path), "--jobs", "1", "--beat-activation", "aubio",
                                            "--transitions"])) == 0
    out = capsys.readouterr().out
    assert "DJ transitions: 2 mixes" in out and "g0_00000 > g2_00000" in out and "dbF" in out
    assert "mixes check (2)" in out and "mixes tune" not in out
    relock = [line for line in out.splitlines() if line.startswith("aubio: re-lock")][0]
    assert "never re-locked 0/2" in relock and float(relock.split("median ")[1].split()[0]) < 8.0


@needs_madmom
def test_bench_beats_reference_rows_score_madmoms_trackers(tmp_path, capsys):
    write_kick_clips(tmp_path, ["g0_00000"], 16.0)
    parser = argparse.ArgumentParser()
    beatbench.configure(parser)
    assert beatbench.run(parser.parse_args([str(tmp_path), "--jobs", "1", "--beat-activation", "aubio",
                                            "--reference"])) == 0
    out = capsys.readouterr().out
    head, mean = [line.split() for line in out.splitlines() if "madmom online" in line or line.startswith("MEAN clips")][-2:]
    assert head == ["aubio", "madmom", "online", "madmom", "projected", "madmom", "offline"]
    # A steady kick track: every tracker finds it, the offline one best of all.
    assert all(float(v) > 0.8 for v in mean[2:]) and float(mean[-1]) > 0.95
