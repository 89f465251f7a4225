"""Real audio path: a private PulseAudio server with a null sink, a synthesised kick track played
into it with paplay, and the show's InputSource capturing the sink's monitor through
sounddevice's ALSA "pulse" device. Also device loss: the sink is unloaded mid-run.

Runs in a subprocess-free way but with its own PulseAudio (PULSE_SERVER points at a temp
socket), so it never touches a desktop's sound server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from live.bench.synth import synth_kick_track

pytestmark = pytest.mark.integration

RATE = 44100
SINK = "beattest"


def _pactl(*args: str, check: bool = True) -> str:
    return subprocess.run(["pactl", *args], check=check, capture_output=True, text=True, timeout=10).stdout


@pytest.fixture
def pulse(tmp_path, monkeypatch):
    """Start a private PulseAudio with a null sink; yields the null sink's module id."""
    if not shutil.which("pulseaudio") or not shutil.which("paplay"):
        pytest.skip("pulseaudio / paplay not installed")
    runtime = tmp_path / "pulse"
    runtime.mkdir()
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(runtime), HOME=str(tmp_path))
    # As root a per-user daemon still works with -n (no default config) and our own socket.
    proc = subprocess.run(
        ["pulseaudio", "-n", "--daemonize=yes", "--exit-idle-time=-1", "--disallow-exit",
         "-L", "module-native-protocol-unix", "--log-target=file:" + str(tmp_path / "pa.log")],
        env=env, capture_output=True, text=True, timeout=20)
    if proc.returncode != 0:
        pytest.skip(f"PulseAudio cannot start here: {proc.stderr.strip() or proc.stdout.strip()}")
    monkeypatch.setenv("PULSE_RUNTIME_PATH", str(runtime))
    monkeypatch.setenv("PULSE_SERVER", f"unix:{runtime}/native")
    monkeypatch.setenv("PULSE_SOURCE", f"{SINK}.monitor")
    monkeypatch.setenv("PULSE_SINK", SINK)
    monkeypatch.setenv("HOME", str(tmp_path))
    for _ in range(50):
        if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    module = _pactl("load-module", "module-null-sink", f"sink_name={SINK}", f"rate={RATE}").strip()
    try:
        yield module
    finally:
        pid_file = runtime / "pid"
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), 15)
            except (ProcessLookupError, ValueError):
                pass


def _pulse_input_or_skip():
    import sounddevice as sd

    # PortAudio reads the ALSA device list at init: re-init so the pulse plugin sees our server.
    sd._terminate()
    sd._initialize()
    names = [d["name"] for d in sd.query_devices() if d["max_input_channels"] > 0]
    if "pulse" not in names:
        pytest.skip(f"no ALSA 'pulse' input device (libasound2-plugins missing?); inputs: {names}")


def _run_capture(seconds: float, during=None):
    from live.audio.analysis import AnalysisThread, AudioEngine
    from live.audio.sources import InputSource
    from live.handoff import CommandQueue, LatestSlot, RingBuffer

    ring = RingBuffer(RATE * 4, 1, RATE)
    source = InputSource(ring, device="pulse", samplerate=RATE, blocksize=512)
    engine = AudioEngine(RATE)
    slot: LatestSlot = LatestSlot()
    thread = AnalysisThread(ring, engine, slot, CommandQueue())
    source.start()
    thread.start()
    states = []
    t_end = time.perf_counter() + seconds
    try:
        while time.perf_counter() < t_end:
            st = slot.get()
            if st is not None and (not states or st.time != states[-1].time):
                states.append(st)
            if during is not None:
                during(time.perf_counter() - (t_end - seconds), source)
            time.sleep(0.01)
    finally:
        thread.stop()
        source.stop()
    return states, source, thread


def _kick_wav(tmp_path, bpm: float, seconds: float, hats: bool = True):
    x, _ = synth_kick_track([(bpm, seconds)], RATE, hats=hats, bass=hats)
    path = tmp_path / f"kick{bpm:g}.wav"
    sf.write(path, np.column_stack([x, x]), RATE)
    return path


def test_pulse_null_sink_kicks_are_tracked(pulse, tmp_path):
    """Beats captured from the null sink's monitor match the played kick track's tempo and phase."""
    _pulse_input_or_skip()
    wav = _kick_wav(tmp_path, 126.0, 12.0, hats=False)  # kicks only: every onset is a beat
    player = None

    def start_player(elapsed, source):
        nonlocal player
        if player is None and elapsed > 0.5:
            player = subprocess.Popen(["paplay", "--device", SINK, str(wav)])

    states, source, thread = _run_capture(10.0, start_player)
    if player is not None:
        player.terminate()
        player.wait(timeout=5)
    assert thread.errors == 0
    audible = [s for s in states if not s.silent]
    assert len(audible) > 100, "no audio came through the null sink monitor"
    final = states[-1]
    assert final.tempo_source == "audio"
    assert abs(final.bpm - 126.0) < 1.5, final
    # Phase: the kicks are the onsets; the clock's beat grid must sit on them. Find kick
    # times in the capture from the onset envelope jumps, then compare with the grid.
    onsets = [b.time for a, b in zip(states, states[1:]) if b.onset_env > 0.6 and a.onset_env < 0.4 and b.time > states[0].time + 5]
    assert len(onsets) >= 4, onsets
    period = 60.0 / final.bpm
    errors = [((final.beats_at(t) + 0.5) % 1.0 - 0.5) * period for t in onsets]
    # An onset is seen within one block + one hop after it happens: allow that plus slack.
    assert abs(float(np.median(errors))) < 0.06, errors


def test_device_loss_keeps_clock_and_resumes(pulse, tmp_path, caplog):
    """Unloading the sink mid-run: the clock keeps publishing at its tempo, one warning is
    logged, and capture resumes when the sink is back."""
    _pulse_input_or_skip()
    wav = _kick_wav(tmp_path, 120.0, 30.0)
    events: dict = {}

    def script(elapsed, source):
        if "play" not in events and elapsed > 0.3:
            events["play"] = subprocess.Popen(["paplay", "--device", SINK, str(wav)])
        if "unload" not in events and elapsed > 5.0:
            events["play"].terminate()
            _pactl("unload-module", pulse)
            events["unload"] = time.perf_counter()
        if "reload" not in events and elapsed > 9.0:
            _pactl("load-module", "module-null-sink", f"sink_name={SINK}", f"rate={RATE}")
            events["reload"] = time.perf_counter()
        if "play2" not in events and elapsed > 9.5:
            events["play2"] = subprocess.Popen(["paplay", "--device", SINK, str(wav)])

    with caplog.at_level("INFO", logger="live.audio.sources"):
        states, source, thread = _run_capture(17.0, script)
    for key in ("play", "play2"):
        if key in events:
            events[key].terminate()
            events[key].wait(timeout=5)
    assert thread.errors == 0
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) >= 1
    # The clock never stopped: snapshots kept coming through the outage, at the old tempo.
    during = [s for s in states if events["unload"] + 1.0 < s.time < events["reload"]]
    assert len(during) > 10
    assert all(abs(s.bpm - 120.0) < 2.0 for s in during)
    gaps = np.diff([s.time for s in states])
    assert gaps.max() < 1.0
    # And capture came back: audible snapshots after the sink returned.
    assert source.restarts >= 1
    assert any(not s.silent for s in states if s.time > events["reload"] + 1.0)
    assert any("resumed" in r.getMessage() for r in caplog.records)
