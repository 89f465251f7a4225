"""`live --headless --midi-clock-in --midi-clock-out` as a user runs it, on a JACK dummy server of
our own: a DJ's clock at 126 BPM drives the show (status says midi_clock and 126), and the show's
clock out is received at that tempo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import mido
import numpy as np
import pytest

from live.bench.sync import Unavailable, dummy_jack, sleep_until
from live.control.midiport import PolledInput
from live.control.midiclock import PPQN
from live.library.demo import write_demo_track

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.integration
def test_live_follows_midi_clock_and_sends_it_on(tmp_path):
    write_demo_track(tmp_path / "track.wav", 4.0)
    dj, lights = f"dj-{uuid.uuid4().hex[:6]}", f"lights-{uuid.uuid4().hex[:6]}"
    try:
        with dummy_jack() as jack:
            out = jack.open_output(dj, virtual=True)
            received: list[float] = []
            sink = PolledInput(lights, jack, virtual=True,
                               handler=lambda m, t: received.append(t) if m.type == "clock" else None)
            stop = threading.Event()

            def play() -> None:
                start = time.perf_counter()
                out.send(mido.Message("start"))
                i = 0
                while not stop.is_set():
                    sleep_until(start + i * 60.0 / 126.0 / PPQN)
                    out.send(mido.Message("clock"))
                    i += 1

            player = threading.Thread(target=play, daemon=True)
            player.start()
            try:
                done = subprocess.run(
                    [sys.executable, "run_live.py", "live", "--headless", "--audio", str(tmp_path / "track.wav"),
                     "--seconds", "8", "--osc-port", "0", "--fps", "30", "--size", "128x128",
                     "--midi-clock-in", dj, "--midi-clock-out", lights],
                    cwd=ROOT, capture_output=True, text=True, timeout=120,
                    env={**os.environ, "MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"})
            finally:
                stop.set()
                player.join(timeout=2)
                sink.close()
                out.close()
    except Unavailable as exc:
        pytest.skip(str(exc))
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    assert "Traceback" not in log
    last = log[log.index("show stopped"):]
    assert "'tempo_source': 'midi_clock'" in last, last
    assert float(re.search(r"'bpm': ([0-9.]+)", last).group(1)) == pytest.approx(126.0, abs=0.1), last
    times = np.array(received[-96:])
    assert len(times) == 96, f"only {len(received)} clock pulses came out"
    slope = np.polyfit(np.arange(len(times)), times, 1)[0]
    assert 60.0 / (PPQN * slope) == pytest.approx(126.0, abs=0.1)


@pytest.mark.slow
@pytest.mark.integration
def test_live_follows_a_link_session_in_a_loopback_namespace(tmp_path):
    """`live --link` inside a network namespace with only loopback up, a DJ's Link peer at 124 BPM
    started first (so its session is the one Link keeps): the show follows it."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare or ip is not installed")
    write_demo_track(tmp_path / "track.wav", 4.0)
    dj = ("import link, time; p = link.Link(124.0); p.enabled = True; time.sleep(14); "
          "print('dj peers', p.numPeers())")
    live = (f"{sys.executable} run_live.py live --headless --audio {tmp_path / 'track.wav'} --seconds 8 "
            "--osc-port 0 --fps 30 --size 128x128 --link")
    script = (f"ip link set lo up && ip route add 224.0.0.0/4 dev lo && "
              f"({sys.executable} -c \"{dj}\" &) && sleep 1.5 && {live}")
    done = subprocess.run(["unshare", "--net", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    log = done.stdout + done.stderr
    if done.returncode != 0 and ("unshare" in log.splitlines()[-1] or "RTNETLINK" in log):
        pytest.skip(f"no network namespace here: {log.splitlines()[-1]}")
    assert done.returncode == 0, log
    assert "Traceback" not in log
    last = log[log.index("show stopped"):]
    assert "'tempo_source': 'link'" in last and "'bpm': 124.0" in last, last
