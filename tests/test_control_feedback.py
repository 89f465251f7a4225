"""OSC push feedback, /learn over OSC, a hypothesis fuzz and liblo's oscsend: real datagrams on
127.0.0.1, subscribers that are real python-osc servers, MIDI through a JACK dummy server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import uuid

import mido
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer

from live.control import feedback as feedback_module
from live.control.feedback import Feedback, Subscription
from live.control.midi import MidiInput, MidiMapping
from live.control.osc import OscServer, encode
from live.handoff import CommandQueue, LatestSlot
from live.messages import Command
from test_control_midi import _wait, jack_backend  # noqa: F401 - the JACK dummy server fixture


def _dgram(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


class Listener:
    """A python-osc server on 127.0.0.1 that keeps (time, address, args) of everything it gets."""

    def __init__(self) -> None:
        self.got: list[tuple[float, str, tuple]] = []
        dispatcher = Dispatcher()
        dispatcher.set_default_handler(lambda address, *args: self.got.append((time.monotonic(), address, args)))
        self.server = BlockingOSCUDPServer(("127.0.0.1", 0), dispatcher)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def values(self, address: str) -> list:
        return [args[0] for _t, a, args in list(self.got) if a == address]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    out = Listener()
    yield out
    out.close()


@pytest.fixture
def show_status():
    slot: LatestSlot[dict] = LatestSlot({"preset": "demo", "bpm": 120.0, "tempo_source": "audio", "blackout": False,
                                         "beat": 0, "bar_beat": 1, "fps": 60.0})
    return slot


@pytest.fixture
def server(show_status):
    srv = OscServer(CommandQueue(), host="127.0.0.1", port=0, status=show_status.get)
    srv.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2.0)
    yield srv, sock
    sock.close()
    srv.stop()


def test_subscriber_gets_the_state_then_each_change(server, listener, show_status):
    srv, sock = server
    sock.sendto(_dgram("/subscribe", listener.port), ("127.0.0.1", srv.port))
    assert _wait(lambda: listener.values("/status/preset") == ["demo"])
    assert listener.values("/status/bpm") == [120.0] and listener.values("/status/blackout") == [0]
    assert listener.values("/status/fps") == []  # counters are for /status, not pushed
    show_status.put({**show_status.get(), "preset": "acid", "blackout": True, "beat": 1, "bar_beat": 2})
    assert _wait(lambda: listener.values("/status/preset") == ["demo", "acid"])
    assert _wait(lambda: listener.values("/beat") == [1, 2])
    show_status.put({**show_status.get(), "beat": 3, "bar_beat": 1})
    assert _wait(lambda: listener.values("/downbeat") == [0, 3])  # the first state was a downbeat too
    assert listener.values("/status/blackout") == [0, 1]
    sock.sendto(_dgram("/unsubscribe", listener.port), ("127.0.0.1", srv.port))
    assert _wait(lambda: srv.feedback.subscribers == 0)
    count = len(listener.got)
    show_status.put({**show_status.get(), "preset": "calm"})
    time.sleep(0.2)
    assert len(listener.got) == count


def test_subscribe_without_a_port_uses_the_senders(server, show_status):
    srv, sock = server
    sock.sendto(_dgram("/subscribe"), ("127.0.0.1", srv.port))
    data, _ = sock.recvfrom(1024)
    assert data.startswith(b"/status/")


@pytest.mark.parametrize("args", [("x",), (0,), (70000,), (1, 2), (True,)])
def test_bad_subscribe_is_dropped(server, args):
    srv, sock = server
    sock.sendto(_dgram("/subscribe", *args), ("127.0.0.1", srv.port))
    assert _wait(lambda: srv.dropped == 1)
    assert srv.feedback.subscribers == 0


def test_flood_of_changes_stays_within_30_per_second_and_the_newest_value_wins(server, listener, show_status):
    srv, sock = server
    sock.sendto(_dgram("/subscribe", listener.port), ("127.0.0.1", srv.port))
    assert _wait(lambda: listener.values("/status/preset"))
    stop = time.monotonic() + 2.0
    n = 0
    while time.monotonic() < stop:  # a change of every pushed kind, thousands a second
        n += 1
        show_status.put({"preset": f"p{n}", "bpm": 100.0 + n % 50, "tempo_source": "audio", "blackout": bool(n % 2),
                         "beat": n, "bar_beat": n % 4 + 1})
        time.sleep(0.0005)
    final = show_status.get()
    assert _wait(lambda: listener.values("/status/preset")[-1:] == [final["preset"]], 3.0)
    times = sorted(t for t, _a, _args in listener.got)
    assert n > 1000
    # In any one-second window, at most 30 (a few ms of slack for the listener's own clock).
    worst = max(sum(1 for u in times if t <= u < t + 0.99) for t in times)
    assert 25 <= worst <= 30, worst


def test_only_allowed_senders_may_subscribe(show_status, listener):
    from live.control.osc import parse_allow

    srv = OscServer(CommandQueue(), host="127.0.0.1", port=0, status=show_status.get, allow=parse_allow("10.0.0.0/8"))
    with srv, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(_dgram("/subscribe", listener.port), ("127.0.0.1", srv.port))
        assert _wait(lambda: srv.dropped == 1)
        time.sleep(0.1)
        assert srv.feedback.subscribers == 0 and listener.got == []


def test_oldest_subscriber_goes_when_too_many_and_a_dead_one_is_dropped(caplog):
    status = {"preset": "demo", "beat": 0}
    fb = Feedback(lambda: dict(status), encode, max_subscribers=2)
    listeners = [Listener() for _ in range(3)]
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there: the kernel answers port unreachable
    try:
        for ln in listeners:
            fb.request(Subscription(("127.0.0.1", ln.port)))
        fb.step(0.0)
        assert fb.subscribers == 2
        assert "more than 2 subscribers, oldest goes" in caplog.text
        status["preset"] = "x"
        fb.step(0.1)
        assert _wait(lambda: listeners[2].values("/status/preset") == ["demo", "x"])
        assert listeners[0].got == []  # dropped as the third came, before anything was sent
        fb.request(Subscription(("127.0.0.1", listeners[2].port), on=False))
        fb.request(Subscription(("127.0.0.1", dead_port)))
        for k in range(5):
            status["beat"] = k + 1
            fb.step(0.2 + k * 0.05)
            time.sleep(0.02)
        assert fb.subscribers == 1  # listeners[1] only: the dead port errored on a send
        assert f"127.0.0.1:{dead_port} dropped" in caplog.text
    finally:
        fb.stop()
        for ln in listeners:
            ln.close()


def test_a_new_subscriber_gets_the_whole_state_and_the_others_only_changes():
    status = {"preset": "demo", "bpm": 120.0, "beat": 0}
    fb = Feedback(lambda: dict(status), encode)
    first, second = Listener(), Listener()
    try:
        fb.request(Subscription(("127.0.0.1", first.port)))
        fb.step(0.0)
        assert _wait(lambda: first.values("/status/preset") == ["demo"] and first.values("/status/bpm") == [120.0])
        status["bpm"] = 128.0
        fb.request(Subscription(("127.0.0.1", second.port)))
        fb.step(0.1)
        assert _wait(lambda: second.values("/status/preset") == ["demo"] and second.values("/status/bpm")[-1:] == [128.0])
        time.sleep(0.05)
        assert first.values("/status/preset") == ["demo"] and first.values("/status/bpm") == [120.0, 128.0]
    finally:
        fb.stop()
        first.close()
        second.close()


def test_rate_limit_is_exact_on_a_stepped_clock(monkeypatch):
    status = {"preset": "a", "beat": 0}
    fb = Feedback(lambda: dict(status), encode)
    listener = Listener()
    try:
        fb.request(Subscription(("127.0.0.1", listener.port)))
        sent = []
        for frame in range(600):  # 10 s at 60 steps a second, a beat and a preset change each step
            status["beat"], status["preset"] = frame, f"p{frame}"
            before = fb.sent
            fb.step(frame / 60.0)
            sent.append(fb.sent - before)
        windows = [sum(sent[i:i + 60]) for i in range(len(sent) - 60)]
        assert max(windows) == feedback_module.RATE
    finally:
        fb.stop()
        listener.close()


# ------------------------------------------------------------------------------- /learn


@pytest.mark.integration
def test_learn_over_osc_binds_the_next_jack_midi_control(jack_backend, tmp_path):  # noqa: F811
    path = tmp_path / "learn.toml"
    path.write_text('# my controller\n[[bind]]\nnote = 36\ncommand = "blackout"\n', encoding="utf-8")
    port_name = f"fake-pad-{uuid.uuid4().hex[:6]}"
    commands: CommandQueue[Command] = CommandQueue()
    out = jack_backend.open_output(port_name, virtual=True)
    midi = MidiInput(commands, port_name, MidiMapping.load(path), backend=jack_backend, retry_interval=0.1)
    srv = OscServer(commands, host="127.0.0.1", port=0, status=lambda: {"learning": midi.learning},
                    learn=midi.learn_from_osc)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    try:
        midi.start()
        srv.start()
        assert _wait(lambda: port_name in (midi.connected.get() or ""))
        time.sleep(0.2)
        sock.sendto(_dgram("/learn", "nope"), ("127.0.0.1", srv.port))
        sock.sendto(_dgram("/learn", "shader_param", "u_amount"), ("127.0.0.1", srv.port))
        assert _wait(lambda: midi.learning == "shader_param")
        assert srv.dropped == 1
        sock.sendto(_dgram("/status"), ("127.0.0.1", srv.port))
        replies = {}
        while "/status/learning" not in replies:
            data, _ = sock.recvfrom(1024)
            replies[data.split(b"\0")[0].decode()] = data
        assert b"shader_param" in replies["/status/learning"]
        out.send(mido.Message("control_change", control=21, value=64))  # learned, not a command
        assert _wait(lambda: midi.learned.get() is not None) and midi.learning == ""
        out.send(mido.Message("control_change", control=21, value=127))
        assert _wait(lambda: any(c.name == "shader_param" for c in commands.drain()))
        saved = MidiMapping.load(path)
        assert saved.to_command(mido.Message("control_change", control=21, value=127)).args == ("u_amount", 1.0)
        assert path.read_text(encoding="utf-8").startswith("# my controller")  # rewritten, comments kept
        assert not list(tmp_path.glob(".learn.toml.*"))  # the atomic write left no temp file
    finally:
        sock.close()
        srv.stop()
        midi.stop()
        out.close()


def test_learn_without_midi_input_is_dropped_in_one_line(server, caplog):
    srv, sock = server
    sock.sendto(_dgram("/learn", "tap"), ("127.0.0.1", srv.port))
    assert _wait(lambda: srv.dropped == 1)
    assert "no MIDI input to learn on" in caplog.text


@pytest.mark.parametrize("args", [("preset", "../../etc/passwd"), ("preset", ".hidden"), ("param", "__class__"),
                                  ("param", "motion.__class__"), ("param", "look.transition_beats"),
                                  ("shader_param", "u_amount\n"), ("jump", "\u00b2")])
def test_learn_targets_are_checked_by_the_command_table(server, args, caplog):
    """Before, /learn preset ../../etc/passwd and /learn param __class__ armed learn mode (the next
    control moved was bound and saved to the mapping file)."""
    srv, sock = server
    midi = MidiInput(CommandQueue(), None, MidiMapping(), backend="no_such_backend_module")  # learn only
    srv._learn = midi.learn_from_osc
    sock.sendto(_dgram("/learn", *args), ("127.0.0.1", srv.port))
    assert _wait(lambda: srv.dropped == 1)
    assert midi.learning == ""
    assert "Traceback" not in caplog.text
    sock.sendto(_dgram("/learn", "preset", "deep-house_2"), ("127.0.0.1", srv.port))  # a preset file stem
    assert _wait(lambda: midi.learning == "preset")


# ------------------------------------------------------------------------------- fuzz and liblo


_ARG = st.one_of(st.integers(-2**31, 2**31 - 1), st.floats(allow_nan=True, width=32), st.text(max_size=30),
                 st.booleans(), st.binary(max_size=20))
_ADDRESS = st.one_of(st.sampled_from(["/preset", "/bpm", "/section", "/av_offset", "/subscribe", "/unsubscribe",
                                      "/learn", "/status", "/calibrate", "/autopilot", "/jump/3", "/param/x"]),
                     st.text(max_size=20).map(lambda s: "/" + s))


def _message(address: str, args: list) -> bytes | None:
    try:
        return _dgram(address, *args)
    except Exception:  # python-osc cannot build it: send it as raw bytes below instead
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=200), st.builds(_message, _ADDRESS, st.lists(_ARG, max_size=4))),
                min_size=1, max_size=10))
def test_fuzzed_datagrams_then_status_still_answers(server, datagrams):
    srv, sock = server
    for data in datagrams:
        if data is not None:
            srv._on_datagram(data, ("127.0.0.1", 5))  # the server's own handling, no kernel in between
            sock.sendto(data, ("127.0.0.1", srv.port))
    srv._replies = (time.monotonic(), 5.0)  # /status's own rate limit is tested elsewhere
    sock.sendto(_dgram("/status"), ("127.0.0.1", srv.port))
    while True:
        data, _ = sock.recvfrom(4096)
        if data.startswith(b"/status/"):
            break


def test_liblo_oscsend_reaches_the_new_addresses(listener, show_status):
    oscsend = shutil.which("oscsend")
    if oscsend is None:
        pytest.skip("liblo's oscsend is not installed (apt-get install liblo-tools)")
    commands: CommandQueue[Command] = CommandQueue()
    with OscServer(commands, host="127.0.0.1", port=0, status=show_status.get) as srv:
        for argv in (["/section", "s", "drop"], ["/av_offset", "f", "-12.5"], ["/autopilot", "i", "1"],
                     ["/subscribe", "i", str(listener.port)]):
            subprocess.run([oscsend, "127.0.0.1", str(srv.port), *argv], check=True, timeout=10)
        assert _wait(lambda: listener.values("/status/preset") == ["demo"])
        got = [(c.name, c.args) for c in commands.drain()]
        assert got == [("section", ("drop",)), ("av_offset", (-12.5,)), ("autopilot", (True,))]


@pytest.mark.slow
def test_live_headless_pushes_to_a_subscriber_and_takes_the_new_commands(tmp_path, listener):
    """The runner's wiring: a real `live --headless` process with the autopilot and an offset."""
    import sys
    from pathlib import Path

    from live.library.demo import write_demo_track
    from test_show_live_headless import free_udp_port

    write_demo_track(tmp_path / "track.wav", 8.0)
    port = free_udp_port()
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "run_live.py", "live", "--headless", "--audio", str(tmp_path / "track.wav"), "--seconds", "9",
         "--osc-port", str(port), "--osc-host", "127.0.0.1", "--fps", "30", "--size", "128x128",
         "--av-offset", "25", "--autopilot", "shuffle", "--autopilot-bars", "2"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            deadline = time.monotonic() + 30
            while not listener.values("/status/preset") and time.monotonic() < deadline and proc.poll() is None:
                sock.sendto(_dgram("/subscribe", listener.port), ("127.0.0.1", port))
                time.sleep(0.5)
            assert _wait(lambda: len(listener.values("/beat")) >= 3, 10.0)
            sock.sendto(_dgram("/av_offset", -40.0), ("127.0.0.1", port))
            sock.sendto(_dgram("/section", "drop"), ("127.0.0.1", port))  # demo has none: refused, logged
            assert _wait(lambda: listener.values("/status/av_offset_ms")[-1:] == [-40.0], 5.0)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    assert listener.values("/status/av_offset_ms")[0] == 25.0 and listener.values("/status/autopilot")[0] == 1
    assert set(listener.values("/beat")) <= {1, 2, 3, 4}
    assert "section 'drop' is not in preset" in out
    assert "Traceback" not in out


# ------------------------------------------------------------------------------- /subscribe churn


FULL_STATUS = {"preset": "demo-preset", "section": "intro", "queued": "", "queued_section": "", "bpm": 128.0,
               "tempo_source": "audio", "blackout": False, "freeze": False, "fade": 0.0, "layer": "sd", "clip": "",
               "recording": False, "autopilot": False, "av_offset_ms": 0.0, "calibrate": False, "learning": "",
               "flash_limit": True, "holding": False, "failover": "", "decoder": "approx", "beat": 0, "bar_beat": 1}


def test_subscribe_churn_from_rotating_ports_sends_less_than_it_receives_and_logs_little():
    """/subscribe 500 times a second from 10 ports in turn: before, each new port got the whole
    state at once (21x the bytes in) and an INFO line (2.3 MiB of log a minute)."""
    from live.bench.osc import CHURN_LOG_30S, subscribe_churn

    srv = OscServer(CommandQueue(), host="127.0.0.1", port=0, status=lambda: dict(FULL_STATUS))
    with srv:
        r = subscribe_churn(srv.port, rate=500, ports=10, seconds=2.5, tail_s=0.5)
    assert r.sent >= 1000
    assert r.bytes_out > 0  # a few did subscribe and got the state
    assert r.bytes_out <= r.bytes_in, (r.bytes_in, r.bytes_out)
    assert r.log_per_30s <= CHURN_LOG_30S, r.log_bytes


def _bound(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))  # all of 127.0.0.0/8 is loopback: other "addresses" on this machine
    return sock


def test_new_subscriptions_are_limited_per_address_and_whole_states_in_total():
    status = dict(FULL_STATUS)
    fb = Feedback(lambda: dict(status), encode)
    mine = [_bound("127.0.0.1") for _ in range(20)]
    others = [_bound(f"127.0.0.{k + 2}") for k in range(20)]
    try:
        for sock in mine:  # 20 new ports from one address at once
            fb.request(Subscription(sock.getsockname()))
        fb.step(100.0)
        assert fb.subscribers == feedback_module.MAX_PER_HOST  # its burst; one address keeps at most that
        fb.step(100.5)
        sent = fb.sent
        for sock in others:  # 10 s later, 20 other addresses at once: the total limit holds
            fb.request(Subscription(sock.getsockname()))
        fb.step(110.0)
        pushed = len([key for key in feedback_module.PUSHED if key in status])
        assert fb.sent - sent == feedback_module.STATES_BURST * pushed  # the whole state to 8 of the 20
        assert fb.subscribers == feedback_module.MAX_SUBSCRIBERS
        sent = fb.sent
        fb.request(Subscription(others[-1].getsockname()))  # subscribed already: nothing sent again
        fb.step(110.1)
        assert fb.sent == sent
    finally:
        fb.stop()
        for sock in mine + others:
            sock.close()
