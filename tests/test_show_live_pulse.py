"""The whole `live` command on a real capture device: a private PulseAudio null sink plays the
demo track, `live --headless --audio-device pulse` captures its monitor, and the show's beat
clock must lock to the track's tempo."""

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_audio_pulse import SINK, _pactl, _pulse_input_or_skip, pulse  # noqa: F401  (pulse is a fixture)

from live.library.demo import write_demo_track

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parent.parent


def test_live_show_follows_a_real_input_device(pulse, tmp_path):  # noqa: F811
    _pulse_input_or_skip()
    write_demo_track(tmp_path / "track.wav", 12.0)
    player = subprocess.Popen(["paplay", f"--device={SINK}", str(tmp_path / "track.wav")])
    try:
        show = subprocess.run(
            [sys.executable, "run_live.py", "live", "--headless", "--audio-device", "pulse", "--seconds", "7",
             "--osc-port", "0", "--size", "64x64", "--fps", "30"],
            cwd=ROOT, capture_output=True, text=True, timeout=120)
    finally:
        player.kill()
    out = show.stdout + show.stderr
    assert show.returncode == 0, out
    assert "Traceback" not in out
    last = out[out.index("show stopped"):]
    assert "'tempo_source': 'audio'" in last, last
    bpm = float(last.split("'bpm': ")[1].split(",")[0])
    assert 115.0 <= bpm <= 131.0, last  # the demo runs at 120, then 128 BPM


def test_live_show_keeps_drawing_when_the_input_device_disappears(pulse, tmp_path):  # noqa: F811
    """Fault injection on the whole show: the capture device is unloaded mid-run. Frames keep
    coming at the display rate, the log says the input was lost, and the show exits cleanly."""
    _pulse_input_or_skip()
    write_demo_track(tmp_path / "track.wav", 12.0)
    player = subprocess.Popen(["paplay", f"--device={SINK}", str(tmp_path / "track.wav")])
    show = subprocess.Popen(
        [sys.executable, "run_live.py", "live", "--headless", "--audio-device", "pulse", "--seconds", "10",
         "--osc-port", "0", "--size", "64x64", "--fps", "30"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONFAULTHANDLER": "1"})  # SIGABRT then prints every thread's stack
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in show.stdout], daemon=True)
    reader.start()
    seen = []
    try:
        # Pull the device only once the show runs on it: a loaded machine may take seconds to start.
        while not any("show running" in line for line in seen):
            seen.append(lines.get(timeout=60))
        time.sleep(1.0)
        player.kill()
        _pactl("unload-module", pulse)
        try:
            show.wait(timeout=120)
        except subprocess.TimeoutExpired:  # a hang once seen on a shared machine: say where
            show.send_signal(signal.SIGABRT)
            show.wait(timeout=10)
        reader.join(timeout=10)
    finally:
        player.kill()
        show.kill()
    while not lines.empty():
        seen.append(lines.get())
    out = "".join(seen)
    assert show.returncode == 0, out
    assert "Traceback" not in out
    assert "lost" in out, out
    summary = out[out.index("show stopped"):]
    frames = int(summary.split(": ")[1].split(" frames")[0])
    assert frames >= 0.7 * 10 * 30, summary  # the outage did not stall the display loop
