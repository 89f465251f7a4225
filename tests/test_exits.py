"""How commands end: a mistake before anything starts, a signal, a recording whose disk fills,
threads still inside native code at the end. Real processes where the exit status is the point."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import torch

from live.library.demo import write_demo_track
from live.show.show import AsyncDecode
from live.visuals.decoders import ApproxDecoder

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs)


def test_a_missing_midi_mapping_is_one_error_line_before_anything_starts(tmp_path):
    write_demo_track(tmp_path / "t.wav", 2.0)
    proc = _run(["run_live.py", "live", "--headless", "--audio", str(tmp_path / "t.wav"), "--midi-input", "ANY",
                 "--midi-map", "nothere.toml", "--osc-port", "0", "--seconds", "3", "--size", "128x128"])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, proc.stderr
    assert len(errors) == 1 and "nothere.toml" in errors[0], proc.stderr
    assert "terminate called" not in proc.stderr and "Traceback" not in proc.stderr
    assert "shader" not in proc.stderr  # no renderer was started


def test_the_process_never_ends_while_a_thread_is_inside_torch(tmp_path):
    # Before: CPython ended the daemon thread inside a convolution at exit, and the process
    # aborted ("terminate called without an active exception", status 134).
    script = tmp_path / "busy.py"
    script.write_text(textwrap.dedent(f"""
        import sys, threading, time
        sys.path.insert(0, {str(ROOT)!r})
        import torch
        from live.cli import leave

        def busy():
            x, conv = torch.randn(1, 64, 128, 128), torch.nn.Conv2d(64, 64, 3, padding=1)
            with torch.no_grad():
                while True:
                    conv(x)

        threading.Thread(target=busy, name="decode-stuck", daemon=True).start()
        time.sleep(0.5)
        sys.exit(leave(0, timeout=0.2))
    """))
    proc = _run([str(script)])
    assert proc.returncode == 0, proc.stderr
    assert "terminate called" not in proc.stderr
    assert "decode-stuck still running" in proc.stderr


class Slow(ApproxDecoder):
    """A 'vae' decoder whose decodes take ``seconds`` (a large VAE on a CPU)."""

    name = "vae"

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        time.sleep(self.seconds)
        return super().decode(latents)


def test_stop_waits_for_the_decodes_in_flight_abandoned_ones_included():
    decode = AsyncDecode(Slow(1.5), 30, fallbacks=(ApproxDecoder(),), stall_after=0.2)
    try:
        decode.request(torch.zeros(1, 4, 8, 8), time.perf_counter())
        end = time.perf_counter() + 5
        while decode.name != "approx" and time.perf_counter() < end:
            decode.check()
            time.sleep(0.02)
        assert decode.name == "approx"  # the slow decode was abandoned mid-decode
    finally:
        decode.stop()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("decode-")]


RECORD = """
import logging, resource, signal, sys
import numpy as np
sys.path.insert(0, {root!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) like a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))
logging.basicConfig(level=logging.INFO)
from live.visuals.outputs import Recorder
recorder = Recorder(sys.argv[1], 128, 96, 30, queue_frames=400)
noise = np.random.default_rng(0)
for k in range(120):  # noise does not compress: about 1 MB of video
    recorder.offer(noise.integers(0, 255, (96, 128, 4), dtype=np.uint8), k / 30)
recorder.close()
print("closed")
"""


def _record_until_full(tmp_path: Path, name: str) -> subprocess.CompletedProcess:
    script = tmp_path / "record.py"
    script.write_text(RECORD.format(root=str(ROOT)))
    return _run([str(script), str(tmp_path / name)])


def test_a_recording_whose_disk_fills_is_one_line_and_keeps_what_plays(tmp_path):
    from live.visuals.video import probe

    proc = _record_until_full(tmp_path, "show.mkv")
    assert proc.returncode == 0 and "closed" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr
    assert sum("recording" in line and "failed" in line for line in proc.stderr.splitlines()) == 1, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.py", "show.partial.mkv"]
    assert probe(tmp_path / "show.partial.mkv")["frames"] > 0


def test_an_mp4_recording_whose_disk_fills_leaves_nothing(tmp_path):
    proc = _record_until_full(tmp_path, "show.mp4")  # no index written: nothing of it plays
    assert proc.returncode == 0 and "closed" in proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr and "nothing playable" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["record.py"]


def test_sigterm_during_render_ends_as_ctrl_c_and_leaves_no_file(tmp_path):
    write_demo_track(tmp_path / "t.wav", 60.0)
    out = tmp_path / "out" / "o.mp4"
    proc = subprocess.Popen([sys.executable, "run_live.py", "render", "--preset", "demo", "--audio",
                             str(tmp_path / "t.wav"), "--out", str(out), "--size", "128x128"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        partial = out.with_name(".o.partial.mp4")
        end = time.time() + 60
        while not partial.exists() and time.time() < end and proc.poll() is None:
            time.sleep(0.1)
        time.sleep(1.0)  # into the frames
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err  # as for Ctrl-C; before: killed (-15)
    assert "Traceback" not in err
    assert list(out.parent.iterdir()) == []


def test_a_worker_pool_ended_under_the_sigterm_handler_prints_no_traceback():
    """madmom's processors run a multiprocessing pool; a pool ends its forked workers with SIGTERM,
    and the workers had inherited the command's SIGTERM -> KeyboardInterrupt handler: every
    `set add` printed two 'Process ForkPoolWorker' tracebacks."""
    script = textwrap.dedent("""
        import multiprocessing
        from live.cli.common import signals_interrupt
        with signals_interrupt():
            with multiprocessing.get_context("fork").Pool(2) as pool:
                print(sum(pool.map(abs, range(-5, 5))))
    """)
    done = _run(["-c", script])
    assert done.returncode == 0 and done.stdout.strip() == "25", done.stderr
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr, done.stderr
