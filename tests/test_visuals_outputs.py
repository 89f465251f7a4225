"""Stage outputs: asynchronous read-back, --record through the frame driver (a real offscreen
renderer, a real video file), a writer too slow for the show, and an NDI round trip inside a
network namespace with only loopback up."""

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from live.show import driver
from live.show.driver import NullSink, SteppedClock, TeeSink, WindowSink
from live.visuals.outputs import AsyncReadback, Recorder, StageOutputs, top_first_rgb
from live.visuals.renderer import Renderer

HERE = Path(__file__).resolve().parent
W, H = 64, 48


class Frame:
    def __init__(self, rgb, seq):
        self.rgb, self.display_time, self.seq = rgb, 0.0, seq


def picture(k: int) -> np.ndarray:
    """Frame k (0..40): smooth gradients, and a blue level of 6 k that tells the frames apart."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([x * 2 + k, y * 3 + k, np.full_like(x, k * 6)], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(W, H, headless=True)
    r.set_shaders([])
    yield r
    r.close()


def draw(renderer, k: int) -> None:
    renderer.update_frames(None, Frame(picture(k), 1000 + k))
    renderer.draw(0.0, 1.0, {})


def test_async_readback_gives_each_picture_a_frame_later(renderer):
    readback = AsyncReadback(renderer)
    expected, got = [], []
    try:
        for k in range(5):
            draw(renderer, k)
            expected.append(renderer.read_pixels())
            out = readback.capture(k / 10)
            if out is not None:
                got.append(out)
        got += readback.flush()
    finally:
        readback.close()
    assert [at for _, at in got] == [k / 10 for k in range(5)]
    for want, (have, _) in zip(expected, got):
        assert np.array_equal(want, top_first_rgb(have))


def run_loop(renderer, sink, frames: int, after=None):
    return driver.run(lambda t, s: draw(renderer, int(round(t * 30))), SteppedClock(30, frames), sink,
                      lambda t: None, after_frame=after)


class FrameTimes:
    """A clock for the outputs: 1/30 s a call, with a 0.1 s stall after the 20th frame."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return (self.calls - 1 + (3 if self.calls > 20 else 0)) / 30


def test_record_writes_the_drawn_frames_at_their_times(renderer, tmp_path):
    path = tmp_path / "show.mp4"
    outputs = StageOutputs(renderer, [Recorder(path, W, H, 30, queue_frames=64)], clock=FrameTimes())
    drawn = []
    done = run_loop(renderer, TeeSink(WindowSink(renderer), outputs), 40, lambda t, n: drawn.append(renderer.read_pixels()))
    outputs.close()
    recorder = outputs.outputs[0]
    assert (recorder.sent, recorder.dropped) == (done.frames, 0) == (40, 0)
    with av.open(str(path)) as container:
        decoded = list(container.decode(video=0))
    frames = [f.to_ndarray(format="rgb24") for f in decoded]
    assert len(frames) == len(drawn) == 40
    # Timed by when each was drawn: the stall is in the file, so it plays at the show's speed.
    assert [round(f.time * 30) for f in decoded] == list(range(20)) + list(range(23, 43))
    for want, have in zip(drawn, frames):
        assert np.abs(want.astype(int) - have.astype(int)).mean() < 4  # H.264 at CRF 20
    # And they are the right frames, in order: frame k has the blue level 6 k.
    assert [round(f[..., 2].mean() / 6) for f in frames] == list(range(40))


class SlowWriter:
    """A writer that takes 50 ms a frame: far slower than the show."""

    def __init__(self):
        self.frames = 0

    def write(self, rgb, pts):
        time.sleep(0.05)
        self.frames += 1

    def close(self):
        pass

    def abort(self):
        pass


def test_a_writer_too_slow_drops_frames_instead_of_slowing_the_loop(renderer, tmp_path):
    baseline = run_loop(renderer, NullSink(), 60)
    slow = SlowWriter()
    outputs = StageOutputs(renderer, [Recorder(tmp_path / "x.mp4", W, H, 30, writer=slow, queue_frames=4)],
                           clock=FrameTimes())
    done = run_loop(renderer, TeeSink(NullSink(), outputs), 60)
    recorder = outputs.outputs[0]
    assert recorder.dropped > 20  # 60 frames offered in well under 60 x 50 ms
    assert done.seconds < baseline.seconds + 0.5, (done.seconds, baseline.seconds)
    outputs.close()
    assert slow.frames == recorder.sent and recorder.sent + recorder.dropped == recorder.offered == 60


class PtsWriter:
    def __init__(self):
        self.pts = []

    def write(self, rgb, pts):
        self.pts.append(pts)

    def close(self):
        pass

    def abort(self):
        pass


def test_recorder_times_frames_by_when_they_were_drawn(tmp_path):
    writer = PtsWriter()
    recorder = Recorder(tmp_path / "x.mp4", W, H, 30, writer=writer, queue_frames=64)
    rgba = np.zeros((H, W, 4), np.uint8)
    # On time, a late frame and the one drawn at once after it, a stall, then twice the file's rate.
    times = [0, 1, 2.6, 2.65, 4, 8, 8.5, 9, 9.5, 10, 10.5, 11]
    for k in times:
        recorder.offer(rgba, 100.0 + k / 30)
    recorder.close()
    # Each at its own frame, the stall kept, at most one frame early: the rest is skipped.
    assert writer.pts == [0, 1, 3, 4, 8, 9, 10, 11, 12]
    assert recorder.skipped == 3 and recorder.sent == 9


def test_record_path_that_cannot_be_written_is_one_error_line(tmp_path, capsys):
    from live.cli import main
    from live.library.demo import write_demo_track

    write_demo_track(tmp_path / "t.wav", 1.0)
    (tmp_path / "file").write_text("a file, not a folder")
    code = main(["live", "--headless", "--audio", str(tmp_path / "t.wav"), "--seconds", "1", "--osc-port", "0",
                 "--record", str(tmp_path / "file" / "out.mp4")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --record "), err


def test_live_record_frame_count_is_close_to_frames_drawn(tmp_path, caplog):
    from live.cli import main
    from live.library.demo import write_demo_track

    caplog.set_level(logging.INFO)
    write_demo_track(tmp_path / "t.wav", 3.0)
    out = tmp_path / "rec.mp4"
    code = main(["live", "--headless", "--audio", str(tmp_path / "t.wav"), "--seconds", "2", "--osc-port", "0",
                 "--size", "128x96", "--fps", "30", "--record", str(out)])
    assert code == 0
    stopped = next(r for r in caplog.records if r.getMessage().startswith("show stopped"))
    drawn = int(stopped.getMessage().split(": ", 1)[1].split(" frames")[0])
    with av.open(str(out)) as container:
        recorded = sum(1 for _ in container.decode(video=0))
    assert drawn >= 40 and drawn - 3 <= recorded <= drawn, (drawn, recorded)
    assert any(r.getMessage().startswith(f"recorded {out}") for r in caplog.records)


# ------------------------------------------------------------------------------------------- NDI

NAMESPACE_SETUP = r"""
set -e
trap 'echo "SKIP: namespace setup failed at: $BASH_COMMAND"' ERR
mount -t tmpfs tmpfs /run
mkdir -p /run/dbus /run/avahi-daemon
ip link set lo up
ip link set lo multicast on
ip route add 224.0.0.0/4 dev lo
dbus-daemon --system --fork --nopidfile || { echo "SKIP: dbus-daemon --system does not start here"; exit 77; }
printf '[server]\nallow-interfaces=lo\nuse-ipv6=no\n' > /run/avahi.conf
avahi-daemon -f /run/avahi.conf --no-drop-root --no-chroot -D || { echo "SKIP: avahi-daemon does not start here"; exit 77; }
trap - ERR
echo READY
exec "$@"
"""


def test_ndi_round_trip_carries_the_picture(tmp_path):
    pytest.importorskip("cyndilib")
    for tool in ("unshare", "ip", "dbus-daemon", "avahi-daemon"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            pytest.skip(f"{tool} is not installed (setup.sh installs it)")
    # A PID namespace too: when the test process (its PID 1) exits, the daemons it started go with it.
    unshare = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc"] + \
        ([] if os.geteuid() == 0 else ["--map-root-user"])
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    proc = subprocess.run([*unshare, "bash", "-c", NAMESPACE_SETUP, "ndi", sys.executable, str(HERE / "ndi_roundtrip.py")],
                          capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)
    lines = proc.stdout.strip().splitlines()
    if "READY" not in lines:  # unshare refused, or a daemon would not start: not this code's fault
        why = [line for line in lines if line.startswith("SKIP")] or proc.stderr.strip().splitlines() or ["?"]
        pytest.skip(f"no network namespace with mDNS here: {why[-1]}")
    assert proc.returncode == 0 and lines[-1] != "READY", proc.stdout + proc.stderr
    result = json.loads(lines[-1])
    assert result["found_s"] < 5
    # NDI's codec is lossy; the four quadrants arrive with their colours, the picture close overall.
    assert result["mean_diff"] < 8, result
    red, green, blue, white = result["corners"]
    assert red[0] > 180 and max(red[1:]) < 80, result
    assert green[1] > 180 and max(green[0], green[2]) < 80, result
    assert blue[2] > 180 and max(blue[:2]) < 80, result
    assert min(white) > 200, result


def test_ndi_without_cyndilib_is_one_clear_error(monkeypatch):
    from live.errors import UserError
    from live.visuals.outputs import NdiSender

    monkeypatch.setitem(sys.modules, "cyndilib.sender", None)  # as if the package were not installed
    with pytest.raises(UserError, match="--ndi needs the cyndilib package"):
        NdiSender("show", W, H, 30)
