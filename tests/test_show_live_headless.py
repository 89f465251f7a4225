"""`live --headless` as a user runs it: a real process, a file as the audio input, real OSC
datagrams on loopback, including bad ones. The show must keep running and say what happened."""

import socket
import subprocess
import sys
import time
from pathlib import Path

from pythonosc.udp_client import SimpleUDPClient

from live.library.demo import write_demo_track

ROOT = Path(__file__).resolve().parent.parent


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_headless_survives_bad_control_input(tmp_path):
    write_demo_track(tmp_path / "track.wav", 4.0)
    port = free_udp_port()
    proc = subprocess.Popen(
        [sys.executable, "run_live.py", "live", "--headless", "--audio", str(tmp_path / "track.wav"),
         "--seconds", "6", "--osc-port", str(port), "--osc-host", "127.0.0.1", "--fps", "30", "--size", "128x128"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        client = SimpleUDPClient("127.0.0.1", port)
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        time.sleep(3.0)  # startup: imports, bank, GL
        while time.time() < deadline and proc.poll() is None:
            client.send_message("/preset", "no-such-preset")
            client.send_message("/bpm", 9999.0)  # out of range
            raw.sendto(b"\x00garbage\xff", ("127.0.0.1", port))
            client.send_message("/blackout", 1)
            client.send_message("/shader/u_amount", 0.5)
            client.send_message("/preset", "demo")
            time.sleep(0.5)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert "no-such-preset" in out  # the unknown preset is named in the log
    assert "9999" in out  # the out-of-range tempo is refused with its value
    assert "show stopped" in out and "'blackout': True" in out
    assert "Traceback" not in out
