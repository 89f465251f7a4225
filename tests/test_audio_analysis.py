"""Analysis features and the live thread: onset envelope, bands, silence, latency, settings
errors, and AnalysisThread fed by a real-time FileSource; plus the `beats` and `bench beats`
commands end to end on synthesised files."""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pytest
import soundfile as sf

from live.audio import beats
from live.audio.analysis import AnalysisThread, AudioEngine, default_hop
from live.audio.settings import DEFAULTS, AnalysisSettings
from live.audio.sources import AudioError, FileSource, iter_blocks
from live.bench import beats as beatbench
from live.bench.beats import measure_latency
from live.bench.synth import synth_kick_track
from live.cli import beats as beats_cli
from live.handoff import CommandQueue, LatestSlot, RingBuffer
from live.messages import AudioState, Command

RATE = 44100


def test_envelope_bands_and_silence():
    x, kicks = synth_kick_track([(120.0, 6.0)], RATE)
    x = np.concatenate([x, np.zeros(RATE, dtype=np.float32)])
    engine = AudioEngine(RATE)
    states = []
    for block, end in iter_blocks(x, RATE, 256):
        engine.feed(block, end)
        states.append(engine.state)
    env = np.array([s.onset_env for s in states])
    times = np.array([s.time for s in states])
    for k in kicks[2:-1]:
        near = env[(times > k) & (times < k + 0.03)]
        assert near.max() > 0.5  # jumps on every kick
        before = env[(times > k - 0.1) & (times < k - 0.01)]
        assert before.min() < near.max() - 0.2  # and has decayed in between
    for name in ("low", "mid", "high", "level", "onset_env", "confidence"):
        vals = np.array([getattr(s, name) for s in states])
        assert vals.min() >= 0.0 and vals.max() <= 1.0, name
    playing = [s for s in states if 2.0 < s.time < 5.5]
    assert np.mean([s.low for s in playing]) > np.mean([s.high for s in playing])  # kick + bass track
    assert not any(s.silent for s in playing)
    assert states[-1].silent and states[-1].level < 0.05


def test_latency_is_within_one_block_and_one_hop():
    lat = measure_latency(48000, 512)
    assert lat <= (512 + default_hop(48000)) / 48000


def test_bad_settings_raise_user_errors():
    with pytest.raises(AudioError, match="onset_method = 'nope' is not allowed; choose one of logflux, energy"):
        AnalysisSettings(onset_method="nope")
    with pytest.raises(AudioError, match="tempo range 100-120 BPM is too narrow"):
        AnalysisSettings(tempo_min=100, tempo_max=120)
    with pytest.raises(TypeError):
        AnalysisSettings(colour="red")  # type: ignore[call-arg]
    with pytest.raises(AudioError, match="sample rate"):
        AudioEngine(1000)


@pytest.mark.parametrize("field, value, message", [
    ("tempo_min", 10, r"tempo_min = 10 is out of range; use 20\.\.400 \(slowest tempo in BPM"),
    ("tempo_max", 500.0, r"tempo_max = 500 is out of range; use 20\.\.400 \(fastest tempo in BPM"),
    ("tempo_max", "fast", r"tempo_max = 'fast' is not a number; use 20\.\.400"),
    ("onset_method", "hfcc", r"onset_method = 'hfcc' is not allowed"),
])
def test_settings_out_of_range_are_refused_in_one_line(field, value, message):
    with pytest.raises(AudioError, match=message) as info:
        AnalysisSettings(**{field: value})
    assert "\n" not in str(info.value) and info.value.exit_code == 2


def test_settings_defaults_and_values():
    assert DEFAULTS == AnalysisSettings() and (DEFAULTS.onset_method, DEFAULTS.tempo_min, DEFAULTS.tempo_max) == (
        "logflux", 70.0, 180.0)
    s = AnalysisSettings(tempo_min=60, tempo_max=160)
    assert s.tempo_min == 60.0 and isinstance(s.tempo_min, float)
    engine = AudioEngine(RATE, s)
    assert (engine.tracker.tempo_min, engine.tracker.tempo_max) == (60.0, 160.0)
    assert (engine.clock.tempo_min, engine.clock.tempo_max) == (60.0, 160.0)
    assert AudioEngine(RATE).settings == DEFAULTS  # the show's AudioEngine(rate) keeps working


def test_beats_cli_refuses_bad_settings_before_reading_the_file(tmp_path):
    parser = argparse.ArgumentParser()
    beats_cli.configure(parser)
    args = parser.parse_args([str(tmp_path / "missing.wav"), "--tempo-min", "300", "--tempo-max", "200"])
    with pytest.raises(AudioError, match="tempo range 300-200 BPM is too narrow"):
        beats_cli.run(args)


@pytest.mark.parametrize("method", ["specflux", "hfc"])
def test_aubio_onset_methods_track_too(method):
    x, _ = synth_kick_track([(126.0, 10.0)], RATE, hats=False)
    out = beats.track_beats(x, RATE, settings=AnalysisSettings(onset_method=method))
    assert abs(out[-1]["bpm"] - 126.0) < 1.5


def test_analysis_thread_live_with_file_source(tmp_path):
    x, _ = synth_kick_track([(125.0, 5.0)], RATE)
    path = tmp_path / "k.wav"
    sf.write(path, x, RATE)
    ring = RingBuffer(RATE * 2, 1, RATE)
    src = FileSource(ring, path, loop=True)
    slot: LatestSlot[AudioState] = LatestSlot()
    commands: CommandQueue[Command] = CommandQueue()
    thread = AnalysisThread(ring, AudioEngine(RATE), slot, commands)
    src.start()
    thread.start()
    try:
        time.sleep(4.0)
        st = slot.get()
        assert st is not None and st.tempo_source == "audio" and abs(st.bpm - 125.0) < 1.5
        assert abs(time.perf_counter() - st.time) < 0.1  # snapshots are fresh
        commands.put(Command("bpm", (90.0,), source="test"))
        time.sleep(0.2)
        assert slot.get().bpm == 90.0
        src.stop()  # input gone: the clock keeps publishing, free-running
        time.sleep(0.8)
        late = slot.get()
        assert late.time > st.time + 0.5 and late.bpm == 90.0
    finally:
        thread.stop()
        src.stop()
    assert thread.errors == 0
    assert thread.busy < 4.0 * 0.2  # analysis far below real time (not a benchmark, a sanity bound)


def test_beats_give_no_tempo_before_the_clock_has_heard_one(tmp_path, capsys):
    """The first beats come from the clock free-running at its default 120 BPM with confidence 0:
    their tempo is unknown (JSON null), not 120; the text output is the beat times, as always."""
    x, _ = synth_kick_track([(100.0, 8.0)], 22050)
    path = tmp_path / "k.wav"
    sf.write(path, x, 22050)
    parser = argparse.ArgumentParser()
    beats_cli.configure(parser)
    assert beats_cli.run(parser.parse_args([str(path), "--format", "json"])) == 0
    data = json.loads(capsys.readouterr().out)
    early = [d for d in data if d["confidence"] == 0]
    assert early and all(d["bpm"] is None for d in early)  # before: 120.0 at confidence 0
    known = [i for i, d in enumerate(data) if d["bpm"] is not None]
    assert known and all(d["bpm"] is not None for d in data[known[0]:])  # once known, it stays known
    assert abs(data[-1]["bpm"] - 100.0) < 1.5
    assert beats_cli.run(parser.parse_args([str(path)])) == 0
    times = [float(v) for v in capsys.readouterr().out.split()]
    assert times == [round(d["time"], 3) for d in data]  # every beat still printed, one time per line


def test_beats_command_text_and_json(tmp_path, capsys):
    x, kicks = synth_kick_track([(128.0, 8.0)], 22050)
    path = tmp_path / "k.wav"
    sf.write(path, x, 22050)
    parser = argparse.ArgumentParser()
    beats_cli.configure(parser)
    assert beats_cli.run(parser.parse_args([str(path)])) == 0
    lines = capsys.readouterr().out.split()
    times = np.array([float(v) for v in lines])
    assert len(times) > 10 and np.all(np.diff(times) > 0.3)
    late = times[times > 4]
    assert all(np.min(np.abs(kicks - t)) < 0.035 for t in late)
    assert beats_cli.run(parser.parse_args([str(path), "--format", "json", "--lookahead", "100"])) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"time", "bpm", "confidence", "bar", "beat"} <= set(data[0])
    assert all(1 <= d["bar"] <= 4 for d in data)
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    with pytest.raises(AudioError, match="bad.wav"):
        beats_cli.run(parser.parse_args([str(bad)]))


def write_kick_clips(folder, stems: list[str], seconds: float) -> None:
    """``bench beats`` input: a kick track per stem (118, then 132 BPM, ...) as STEM.wav at
    22.05 kHz, with its beats and bar positions as STEM.beats."""
    for i, stem in enumerate(stems):
        x, kicks = synth_kick_track([(118.0 + 14.0 * i, seconds)], 22050, seed=i)
        sf.write(folder / f"{stem}.wav", x, 22050)
        (folder / f"{stem}.beats").write_text("".join(f"{k:.4f}\t{j % 4 + 1}\n" for j, k in enumerate(kicks)))


def test_bench_beats_on_synthetic_folder(tmp_path, capsys):
    write_kick_clips(tmp_path, ["house_00000", "house_00001"], 12.0)
    parser = argparse.ArgumentParser()
    beatbench.configure(parser)
    assert beatbench.run(parser.parse_args([str(tmp_path), "--jobs", "1", "--beat-activation", "aubio"])) == 0
    out = capsys.readouterr().out
    mean = [line for line in out.splitlines() if line.startswith("MEAN")][0]
    assert float(mean.split()[2]) > 0.95
    assert "[house]" in out and "raw aubio" in out and "48 kHz" in out and "latency" in out
    # Later starts: the tracker still locks on synthetic kicks, and the summary names each start.
    assert beatbench.run(parser.parse_args([str(tmp_path), "--jobs", "1", "--offsets", "0,1.5",
                                            "--beat-activation", "aubio"])) == 0
    starts = [line for line in capsys.readouterr().out.splitlines() if "mean F by start offset" in line][0]
    assert "0 s:" in starts and "1.5 s:" in starts and float(starts.rsplit(" ", 1)[1]) > 0.95
    with pytest.raises(AudioError, match="offsets"):
        beatbench.run(parser.parse_args([str(tmp_path), "--offsets", "0,soon"]))
    with pytest.raises(AudioError, match="folder not found"):
        beatbench.run(parser.parse_args([str(tmp_path / "missing")]))
