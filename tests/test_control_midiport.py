"""MIDI inputs read by polling: arrival times rebuilt from rtmidi's delta times (pure), and a real
JACK input that loses nothing and times every message right while another thread hogs the GIL
(the callback path it replaced dropped most of such a burst and stamped the rest up to a GIL
hold late)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from typing import Iterator

import numpy as np
import pytest

from live.control.midi import MidiInput, MidiMapping
from live.control.midiclock import PPQN, MidiClockIn
from live.control.midiport import CREEP, ArrivalTimes, PolledInput
from live.handoff import CommandQueue, LatestSlot
from test_control_midi import _wait, jack_backend  # noqa: F401 - the JACK dummy server fixture

PULSE = 60.0 / 120.0 / PPQN


def test_arrival_times_come_from_the_deltas_not_from_late_polls():
    times = ArrivalTimes()
    arrived = 100.0 + np.cumsum(np.full(50, 0.002))
    late = np.where(np.arange(50) % 10 < 7, 0.0005, 0.05)  # every tenth poll of three held up 50 ms
    got = np.array([times.stamp(0.0 if i == 0 else 0.002, float(a + d)) for i, (a, d) in enumerate(zip(arrived, late))])
    assert np.allclose(got, arrived + 0.0005)  # as early as the promptest poll allows
    assert np.all(np.diff(got) >= 0)
    assert np.all(got <= arrived + late + 1e-12)  # never later than the poll


def test_arrival_times_follow_a_clock_that_drifts_and_never_go_back():
    times = ArrivalTimes()
    # The MIDI clock runs 50 ppm slow (within CREEP): its deltas say less time passed than did,
    # so the tightest bound of long ago would put the times ever earlier; the anchor creeps up.
    assert 50e-6 < CREEP
    arrived = 5.0 + np.arange(3000) * 0.01 * (1 + 50e-6)  # 30 s
    got = np.array([times.stamp(0.01 if i else 0.0, a + 0.001) for i, a in enumerate(arrived)])
    assert np.abs(got - arrived).max() < 0.0012  # the polls' 1 ms, not 1 + 1.5 ms of drift
    # A poll far tighter than the rest pulls the anchor back, but a time never goes before an earlier one.
    t0 = times.stamp(0.01, arrived[-1] + 0.011)
    t1 = times.stamp(0.0001, arrived[-1] + 0.0101)
    assert t1 == t0 and t0 <= arrived[-1] + 0.011


def test_a_polled_input_on_another_backend_times_messages_when_polled():
    import mido

    class Port:  # a mido port of a backend other than rtmidi (portmidi, amidi...)
        closed = False

        def iter_pending(self):
            yield mido.Message("control_change", control=7, value=1)

        def close(self):
            self.closed = True

    class Backend:
        def open_input(self, name, virtual=False):
            return port

    port = Port()
    backend = Backend()
    got = []
    polled = PolledInput("pad", backend, handler=lambda m, t: got.append((m.control, t)))
    assert _wait(lambda: len(got) > 0)
    polled.close()
    assert port.closed and got[0][0] == 7 and got[0][1] <= time.perf_counter()


# --- JACK, with the GIL held by another thread -----------------------------------------------------

# The controller is another process (its own GIL), so its send times are exact. Each line it
# reads, "N GAP clock|cc", sends N clock pulses or N CCs 48 (values 0, 1, 2...) GAP seconds apart;
# it answers with their send times.
SENDER = r"""
import json, sys, time, rtmidi
out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK)
out.open_virtual_port(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    n, gap, kind = line.split()
    start, sent = time.perf_counter() + 0.01, []
    for i in range(int(n)):
        time.sleep(max(0.0, start + i * float(gap) - time.perf_counter()))
        sent.append(time.perf_counter())
        out.send_message([0xF8] if kind == "clock" else [0xB0, 48, i % 128])
    print(json.dumps(sent), flush=True)
"""
BURST, GAP = 128, 0.003  # 0.38 s of CCs, all while the GIL is hogged
HOG_SWITCH_S = 0.05  # the GIL goes round only every 50 ms: ten JACK periods of 256 frames


class Sender:
    """The controller process: :meth:`play` starts playing messages, :meth:`sent` waits for the
    end and returns when each was sent."""

    def __init__(self, name: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", SENDER, name], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def play(self, n: int, gap: float, kind: str = "cc") -> None:
        self.proc.stdin.write(f"{n} {gap} {kind}\n")
        self.proc.stdin.flush()

    def sent(self) -> list[float]:
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=5)


@pytest.fixture
def sender(jack_backend):  # noqa: F811
    """A controller process on the test's JACK server, and its port's name."""
    name = f"busy-pad-{uuid.uuid4().hex[:6]}"
    s = Sender(name)
    yield s, name
    s.close()


@contextlib.contextmanager
def gil_hogged() -> Iterator[None]:
    """A thread doing pure Python in a tight loop, with the GIL handed round only every 50 ms."""
    done = threading.Event()

    def hog() -> None:
        while not done.is_set():  # never lets go of the GIL until the interpreter makes it
            total = 0
            for i in range(20000):
                total += i

    switch = sys.getswitchinterval()
    thread = threading.Thread(target=hog, daemon=True)
    sys.setswitchinterval(HOG_SWITCH_S)
    thread.start()
    try:
        yield
    finally:
        done.set()
        sys.setswitchinterval(switch)
        thread.join()


@pytest.mark.integration
def test_jack_input_loses_nothing_and_times_right_while_the_gil_is_busy(jack_backend, sender, tmp_path):  # noqa: F811
    controller, name = sender
    path = tmp_path / "busy.toml"
    path.write_text('[[bind]]\ncc = 48\ncommand = "shader_param"\nname = "u_amount"\nmin = 0.0\nmax = 127.0\n')
    queue = CommandQueue(maxsize=1024)
    midi = MidiInput(queue, name, MidiMapping.load(path), backend=jack_backend, retry_interval=0.1)
    try:
        midi.start()
        assert _wait(lambda: name in (midi.connected.get() or "")), "MidiInput never opened the JACK port"
        time.sleep(0.2)  # let JACK finish connecting the ports
        controller.play(10, 0.005)  # the controller was in use before the machine got busy
        controller.sent()
        assert _wait(lambda: queue.waiting() == 10)
        queue.drain()
        with gil_hogged():
            controller.play(BURST, GAP)
            sent = controller.sent()
            time.sleep(0.1)
    finally:
        midi.stop()
    got = queue.drain(limit=10 * BURST)
    values = [int(c.args[1]) for c in got]
    assert values == list(range(BURST)), f"{BURST - len(values)} of {BURST} CCs lost under a GIL hog"
    lag = (np.array([c.received for c in got]) - np.array(sent)) * 1000.0
    assert np.all(np.diff([c.received for c in got]) >= 0)
    # JACK hands a message on within a period (5.3 ms; the old callback's times were up to a GIL
    # hold, 50 ms, late), and our anchor may be a poll's millisecond early. A jackd that a loaded
    # machine holds up can itself be a period or three late now and then.
    figures = f"arrival minus send: {lag.min():.1f}..{lag.max():.1f} ms, p90 {np.percentile(lag, 90):.1f}"
    assert -2.0 < lag.min() and np.percentile(lag, 90) < 8.0 and lag.max() < 30.0, figures


@pytest.mark.integration
def test_jack_clock_in_counts_every_pulse_while_the_gil_is_busy(jack_backend, sender):  # noqa: F811
    controller, name = sender
    slot: LatestSlot = LatestSlot()
    clock_in = MidiClockIn(slot, name, backend=jack_backend, retry_interval=0.05)
    try:
        clock_in.start()
        assert _wait(lambda: bool(clock_in.connected.get())), "the clock input never opened the JACK port"
        time.sleep(0.2)  # let JACK finish connecting the ports
        controller.play(72, PULSE, "clock")
        time.sleep(24 * PULSE)  # a beat before the machine gets busy: the follower has locked on
        with gil_hogged():  # and two beats while it is
            sent = controller.sent()
            time.sleep(0.1)
    finally:
        clock_in.stop()
    assert clock_in.follower._seq == 72, f"{72 - clock_in.follower._seq} of 72 pulses lost under a GIL hog"
    # Against the pulses as the sender really played them (its sleeps wake a few ms late on a
    # loaded machine): the same tempo, and the last pulse's fitted time JACK's period (5.3 ms) late
    # on average half of it (the callback's times were up to a GIL hold, 50 ms, late).
    reading, pulses = slot.get(), np.arange(len(sent))
    slope, intercept = np.polyfit(pulses, sent, 1)
    assert reading.bpm == pytest.approx(60.0 / (PPQN * slope), abs=0.1)
    lag = (reading.time - (intercept + slope * pulses[-1])) * 1000.0
    assert -2.0 < lag < 8.0, f"the last pulse's time is {lag:.1f} ms after it was sent"
