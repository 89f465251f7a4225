"""OSC control: parse_osc validation, and the server fed real UDP datagrams on loopback."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from live.control.commands import COMMANDS, ControlError
from live.control.osc import OscServer, parse_osc
from live.errors import UserError
from live.handoff import CommandQueue
from live.messages import Command

# --- parse_osc ------------------------------------------------------------------------------

GOOD = [
    ("/preset", ("ambient",), "preset", ("ambient",)),
    ("/preset/next", (), "preset", ("+1",)),
    ("/preset/prev", (1.0,), "preset", ("-1",)),
    ("/blackout", (1,), "blackout", (True,)),
    ("/blackout", (0,), "blackout", (False,)),
    ("/blackout", (0.7,), "blackout", (True,)),
    ("/freeze", (0.2,), "freeze", (False,)),
    ("/freeze", (True,), "freeze", (True,)),
    ("/hold", (1.0,), "hold", (True,)),
    ("/lock", (0.5,), "lock", (True,)),
    ("/jump", (3,), "jump", (3,)),
    ("/jump", (3.0,), "jump", (3,)),
    ("/drop", (0,), "drop", (0,)),
    ("/jump/5", (), "jump", (5,)),
    ("/drop/2", (1.0,), "drop", (2,)),
    ("/tap", (), "tap", ()),
    ("/tap", (1.0,), "tap", ()),
    ("/resync", (1,), "resync", ()),
    ("/bpm", (128.0,), "bpm", (128.0,)),
    ("/bpm", (20,), "bpm", (20.0,)),
    ("/bpm", (300.0,), "bpm", (300.0,)),
    ("/nudge", (-0.5,), "nudge", (-0.5,)),
    ("/nudge", (0.125,), "nudge", (0.125,)),
    ("/fade", (1, 4.0), "fade", (True, 4.0)),
    ("/fade", (0,), "fade", (False,)),  # the length left off: the show's default
    ("/param", ("motion.kick", 0.375), "param", ("motion.kick", 0.375)),  # float32-exact over UDP
    ("/param", ("motion.order", "ping-pong"), "param", ("motion.order", "ping-pong")),
    ("/param", ("motion.beats_per_keyframe", 8), "param", ("motion.beats_per_keyframe", 8)),
    ("/param/motion.energy", (0.75,), "param", ("motion.energy", 0.75)),
    ("/shader/u_amount", (0.25,), "shader_param", ("u_amount", 0.25)),
    ("/shader/u_segments", (6,), "shader_param", ("u_segments", 6.0)),
    ("/layer", ("clip",), "layer", ("clip",)),
    ("/layer/toggle", (), "layer", ("toggle",)),
    ("/layer/sd", (1.0,), "layer", ("sd",)),
    ("/clip_every", (8,), "clip_every", (8.0,)),
    ("/section", ("drop",), "section", ("drop",)),
    ("/av_offset", (-35.5,), "av_offset", (-35.5,)),
    ("/calibrate", (1,), "calibrate", (True,)),
    ("/autopilot", (1.0,), "autopilot", (True,)),
]


@pytest.mark.parametrize("address,args,name,expected", GOOD)
def test_parse_osc_accepts(address, args, name, expected):
    cmd = parse_osc(address, args)
    assert cmd is not None
    assert cmd.name == name and cmd.name in COMMANDS
    assert cmd.args == expected
    assert [type(a) for a in cmd.args] == [type(e) for e in expected]
    assert cmd.source == "osc"
    assert cmd.received > 0


def test_every_command_is_reachable_over_osc():
    reached = {parse_osc(a, args).name for a, args, _n, _e in GOOD}
    assert reached == set(COMMANDS)


@pytest.mark.parametrize("address", ["/tap", "/resync", "/preset/next", "/preset/prev", "/jump/1", "/drop/1"])
def test_trigger_release_is_ignored(address):
    # A TouchOSC push button sends 1.0 on press and 0.0 on release: only the press counts.
    assert parse_osc(address, (0.0,)) is None
    assert parse_osc(address, (False,)) is None
    assert parse_osc(address, (1.0,)) is not None


def test_received_time_is_passed_through():
    assert parse_osc("/tap", (), received=12.5).received == 12.5


BAD = [
    ("/nope", (), "not known"),
    ("nope", (), "must start with '/'"),
    ("/bpm", (), "expected one tempo"),
    ("/bpm", (19.9,), "out of range 20..300"),
    ("/bpm", (301,), "out of range 20..300"),
    ("/bpm", ("fast",), "expected a number"),
    ("/bpm", (float("nan"),), "not finite"),
    ("/bpm", (True,), "expected a number"),
    ("/nudge", (0.6,), "out of range -0.5..0.5"),
    ("/nudge", (-0.51,), "out of range -0.5..0.5"),
    ("/preset", (3,), "preset name (string)"),
    ("/layer", ("video",), "layer must be one of sd, clip, toggle"),
    ("/layer", (1,), "layer must be one of sd, clip, toggle"),
    ("/clip_every", (65,), "out of range 0..64"),
    ("/preset", ("",), "1..200 characters"),
    ("/preset", ("a", "b"), "expected one preset name"),
    ("/blackout", (), "expected one value"),
    ("/fade", (), "expected a value (0/1, 0.0..1.0 or bool) and a length"),
    ("/fade", (1, 4.0, 2), "expected a value (0/1, 0.0..1.0 or bool) and a length"),
    ("/blackout", ("on",), "expected a number"),
    ("/jump", (-1,), "out of range"),
    ("/jump", (1.5,), "whole number"),
    ("/jump", ("x",), "keyframe index"),
    ("/jump/x", (), "keyframe index"),
    ("/tap", (1, 2), "no argument or one press value"),
    ("/tap", ("x",), "expected a number"),
    ("/param", ("motion.kick",), "parameter key (string) and a value"),
    ("/param", ("bad key!", 1.0), "not a valid name"),
    ("/param", (1.0, 1.0), "parameter key (string)"),
    ("/param/motion.kick", (b"\x00",), "number, string or bool"),
    ("/shader/u_amount", ("x",), "expected a number"),
    ("/shader/u_amount", (float("inf"),), "not finite"),
    ("/shader/1bad", (0.1,), "not a valid name"),
    ("/shader/u_amount", (0.1, 0.2), "one uniform value"),
    ("/shader/a/b", (0.1,), "not known"),
    ("/status", (), "answered by the OSC server"),
    ("/preset/other", (), "not known"),
    ("/param/bad key", (0.1,), "not a valid name"),
    ("/param/motion.kick", (float("nan"),), "not finite"),
    ("/drop/100001", (), "out of range"),
    # An index in the address: ASCII digits only ('²'.isdigit() is true and int() then failed).
    ("/jump/\u00b2", (), "digits 0-9"),
    ("/jump/\u0663", (), "digits 0-9"),  # Arabic-Indic three: int() took it
    ("/drop/1_0", (), "digits 0-9"),
    ("/jump/+5", (), "digits 0-9"),
    ("/jump/" + "1" * 5000, (), "digits 0-9"),  # int() refuses more than 4300 digits
    # Names are the command table's: a preset file stem, a live preset key.
    ("/preset", ("../../etc/passwd",), "not a valid name"),
    ("/preset", (".hidden",), "not a valid name"),
    ("/preset", ("demo\n",), "not a valid name"),
    ("/param", ("__class__", 1.0), "not a valid name"),
    ("/param", ("motion.__class__", 1.0), "not a valid name"),
    ("/param", ("look.transition_beats", 1.0), "not a valid name"),
    ("/shader/u_amount\n", (0.5,), "not a valid name"),
]


@pytest.mark.parametrize("address,args,reason", BAD)
def test_parse_osc_rejects_with_one_line_reason(address, args, reason):
    with pytest.raises(ControlError) as info:
        parse_osc(address, args)
    message = str(info.value)
    assert reason in message
    assert "\n" not in message
    assert isinstance(info.value, UserError)


# --- the server, over real UDP ---------------------------------------------------------------


def _msg(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


def _await_status(sock: socket.socket, port: int, when: str) -> None:
    """Ask for /status until a reply comes: while the server's socket buffer is full the kernel
    may drop the query itself, so one unanswered query proves nothing."""
    sock.settimeout(0.2)
    for _ in range(25):
        sock.sendto(_msg("/status"), ("127.0.0.1", port))
        try:
            sock.recvfrom(65536)
            return
        except TimeoutError:
            continue
    pytest.fail(f"server stopped answering /status {when}")


def _wait_for(queue: CommandQueue, n: int, timeout: float = 3.0) -> list[Command]:
    got: list[Command] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += queue.drain()
        time.sleep(0.005)
    return got


@pytest.fixture
def server():
    queue: CommandQueue[Command] = CommandQueue(maxsize=64)
    srv = OscServer(queue, host="127.0.0.1", port=0,
                    status=lambda: {"preset": "demo", "bpm": 128.0, "fps": 60, "blackout": False, "note": None})
    srv.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2.0)
    sock.bind(("127.0.0.1", 0))
    yield srv, queue, sock
    sock.close()
    srv.stop()


def test_server_binds_a_free_port_and_stops():
    queue: CommandQueue[Command] = CommandQueue()
    srv = OscServer(queue, host="127.0.0.1", port=0)
    assert srv.port == 0
    srv.start()
    port = srv.port
    assert port > 0
    srv.stop()
    srv.stop()  # idempotent
    # The port is free again once stopped.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    s.close()


def test_port_in_use_is_a_user_error():
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        srv = OscServer(CommandQueue(), host="127.0.0.1", port=taken.getsockname()[1])
        with pytest.raises(ControlError, match="--osc-port"):
            srv.start()
    finally:
        taken.close()


def test_each_command_over_udp(server):
    srv, queue, sock = server
    for address, args, _name, _expected in GOOD:
        sock.sendto(_msg(address, *args), ("127.0.0.1", srv.port))
    got = _wait_for(queue, len(GOOD))
    assert [(c.name, c.args) for c in got] == [(n, e) for _a, _args, n, e in GOOD]
    assert all(c.source == "osc" for c in got)
    assert srv.received == len(GOOD)


def test_bundle_with_future_timetag_is_handled_now(server):
    srv, queue, sock = server
    builder = OscBundleBuilder(time.time() + 30.0)  # strict timing would sleep the thread 30 s
    builder.add_content(_built("/bpm", 140.0))
    builder.add_content(_built("/tap"))
    sock.sendto(builder.build().dgram, ("127.0.0.1", srv.port))
    got = _wait_for(queue, 2, timeout=2.0)
    assert [(c.name, c.args) for c in got] == [("bpm", (140.0,)), ("tap", ())]


def _built(address: str, *args):
    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build()


def test_immediate_bundle(server):
    srv, queue, sock = server
    builder = OscBundleBuilder(IMMEDIATELY)
    builder.add_content(_built("/freeze", 1))
    builder.add_content(_built("/nope"))  # one bad message does not spoil the others
    builder.add_content(_built("/freeze", 0))
    sock.sendto(builder.build().dgram, ("127.0.0.1", srv.port))
    got = _wait_for(queue, 2)
    assert [(c.name, c.args) for c in got] == [("freeze", (True,)), ("freeze", (False,))]


def test_malformed_inputs_are_logged_and_dropped(server, caplog):
    srv, queue, sock = server
    caplog.set_level(logging.WARNING, logger="live.control.osc")
    bad = [
        _msg("/bpm", 500.0),
        _msg("/unknown/address", 1),
        _msg("/blackout", "yes"),
        b"garbage that is not OSC",
        b"",
        b"/bpm\x00\x00\x00\x00,f\x00",  # truncated: type tag promises a float that is missing
        b"#bundle\x00" + b"\x01" * 3,  # truncated bundle header
        bytes(range(256)),
    ]
    for dgram in bad:
        sock.sendto(dgram, ("127.0.0.1", srv.port))
    sock.sendto(_msg("/tap"), ("127.0.0.1", srv.port))  # still alive afterwards
    got = _wait_for(queue, 1)
    time.sleep(0.1)
    got += queue.drain()
    assert [c.name for c in got] == ["tap"]
    text = caplog.text
    assert "out of range 20..300" in text
    assert "'/unknown/address' is not known" in text
    assert "expected a number" in text
    assert "is not OSC" in text
    assert srv.dropped >= 5


def test_repeated_bad_address_is_logged_once_per_interval(server, caplog):
    srv, queue, sock = server
    caplog.set_level(logging.WARNING, logger="live.control.osc")
    for _ in range(50):
        sock.sendto(_msg("/bpm", 999.0), ("127.0.0.1", srv.port))
    sock.sendto(_msg("/tap"), ("127.0.0.1", srv.port))
    _wait_for(queue, 1)
    lines = [r for r in caplog.records if "999" in r.getMessage()]
    assert len(lines) == 1
    assert srv.dropped == 50


def test_status_reply(server):
    srv, queue, sock = server
    sock.sendto(_msg("/bpm", 128.0), ("127.0.0.1", srv.port))
    _wait_for(queue, 1)
    sock.sendto(_msg("/status"), ("127.0.0.1", srv.port))
    replies = {}
    while "osc_received" not in replies or "queue_dropped" not in replies:
        msg = OscMessage(sock.recvfrom(65536)[0])
        replies[msg.address.removeprefix("/status/")] = msg.params
    assert replies["preset"] == ["demo"]
    assert replies["bpm"] == [128.0]
    assert replies["fps"] == [60]
    assert replies["blackout"] == [0]
    assert replies["note"] == [""]
    assert replies["osc_received"] == [1]


def test_status_reply_to_a_given_port(server):
    srv, _queue, sock = server
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.settimeout(2.0)
    listener.bind(("127.0.0.1", 0))
    try:
        sock.sendto(_msg("/status", listener.getsockname()[1]), ("127.0.0.1", srv.port))
        msg = OscMessage(listener.recvfrom(65536)[0])
        assert msg.address == "/status/preset" and msg.params == ["demo"]
    finally:
        listener.close()


def test_status_callback_failure_still_replies(caplog):
    def broken() -> dict:
        raise RuntimeError("show not ready")

    queue: CommandQueue[Command] = CommandQueue()
    with OscServer(queue, host="127.0.0.1", port=0, status=broken) as srv:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2.0)
        sock.sendto(_msg("/status"), ("127.0.0.1", srv.port))
        msg = OscMessage(sock.recvfrom(65536)[0])
        assert msg.address == "/status/error"
        sock.close()


def test_flood_never_blocks_and_server_survives(server):
    srv, queue, sock = server  # queue holds 64
    dgram = _msg("/shader/u_amount", 0.5)
    start = time.monotonic()
    for _ in range(5000):
        sock.sendto(dgram, ("127.0.0.1", srv.port))
    # The server keeps up (or the kernel drops datagrams); either way it must not stall.
    deadline = time.monotonic() + 5.0
    while queue.dropped == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert queue.dropped > 0, "queue never filled: the server did not receive the flood"
    # /status is answered after every datagram queued before it, so the flood is over then.
    # The kernel may drop the query itself while the socket buffer is full: ask until answered.
    _await_status(sock, srv.port, "after the flood")
    assert len(queue.drain()) == 64  # bounded: the rest was dropped, not buffered
    sock.sendto(_msg("/tap"), ("127.0.0.1", srv.port))
    assert [c.name for c in _wait_for(queue, 1)] == ["tap"]
    assert time.monotonic() - start < 10.0


@pytest.mark.integration
def test_liblo_oscsend(server):
    oscsend = shutil.which("oscsend")
    if oscsend is None:
        pytest.skip("liblo's oscsend is not installed (apt-get install liblo-tools)")
    srv, queue, _sock = server
    sends = [
        (["/bpm", "f", "126.5"], ("bpm", (126.5,))),
        (["/preset", "s", "deep-house_2.1"], ("preset", ("deep-house_2.1",))),  # a file stem: no spaces
        (["/blackout", "i", "1"], ("blackout", (True,))),
        (["/freeze", "T"], ("freeze", (True,))),
        (["/jump", "i", "4"], ("jump", (4,))),
        (["/tap"], ("tap", ())),
        (["/param", "sf", "motion.kick", "0.5"], ("param", ("motion.kick", 0.5))),
        (["/shader/u_amount", "f", "0.25"], ("shader_param", ("u_amount", 0.25))),
        (["/bpm", "f", "1000"], None),  # dropped, not queued
        (["/nudge", "f", "-0.25"], ("nudge", (-0.25,))),
    ]
    for argv, _expected in sends:
        subprocess.run([oscsend, "127.0.0.1", str(srv.port), *argv], check=True, timeout=10)
    expected = [e for _a, e in sends if e is not None]
    got = _wait_for(queue, len(expected))
    assert [(c.name, c.args) for c in got] == expected
    assert srv.dropped == 1


def test_fuzzed_datagrams_never_raise_in_the_server(server, caplog):
    import random

    srv, queue, sock = server
    caplog.set_level(logging.WARNING)
    rng = random.Random(1234)
    seeds = [_msg(a, *args) for a, args, _n, _e in GOOD]
    for i in range(1500):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            if op < 0.5 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op < 0.75 and data:
                del data[rng.randrange(len(data)):]
            else:
                data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        sock.sendto(bytes(data), ("127.0.0.1", srv.port))
        if i % 100 == 0:
            time.sleep(0.005)  # don't overrun the socket buffer: every datagram should be parsed
    _await_status(sock, srv.port, "after fuzzed input")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "a datagram crashed a handler"
    assert all(c.name in COMMANDS for c in queue.drain())
    assert srv.dropped > 0


# --- bounded logging under attack --------------------------------------------------------------


def test_python_osc_warnings_go_through_the_rate_limit(server, caplog):
    srv, queue, sock = server
    caplog.set_level(logging.WARNING)
    unknown_tags = b"/bpm\x00\x00\x00\x00,xyz\x00\x00\x00\x00"  # python-osc warns once per tag, per datagram
    junk_bundle = b"#bundle\x00" + bytes(8) + (12).to_bytes(4, "big") + b"junkjunkjunk"
    for _ in range(200):
        sock.sendto(unknown_tags, ("127.0.0.1", srv.port))
        sock.sendto(junk_bundle, ("127.0.0.1", srv.port))
    _await_status(sock, srv.port, "after python-osc's warnings")
    from_python_osc = [r for r in caplog.records if "Unhandled parameter type" in r.getMessage()
                       or "Could not identify content type" in r.getMessage()]
    assert len(from_python_osc) <= 4  # x, y, z and the bundle: each at most once (none if just reported)
    assert all(r.name == "live.control.osc" for r in from_python_osc)  # not python-osc's root logger


def test_odd_address_patterns_warn_nothing(server, recwarn):
    srv, queue, sock = server
    # python-osc's dispatch turned these into regular expressions (FutureWarning: nested set).
    for address in ("/[[a", "/a[[b]", "/{x,[y]}", "/*?[!a-", "/" + "[" * 40):
        sock.sendto(_msg(address, 1.0), ("127.0.0.1", srv.port))
    _await_status(sock, srv.port, "after odd addresses")
    assert not [w for w in recwarn if "pythonosc" in w.filename]
    assert srv.dropped == 5


def test_huge_datagram_is_refused_before_it_is_parsed(server, caplog):
    srv, queue, sock = server
    caplog.set_level(logging.WARNING, logger="live.control.osc")
    sock.sendto(_msg("/preset", "x" * 60_000), ("127.0.0.1", srv.port))
    sock.sendto(_msg("/tap"), ("127.0.0.1", srv.port))
    assert [c.name for c in _wait_for(queue, 1)] == ["tap"]
    assert "larger than 8192 bytes" in caplog.text


def test_a_handler_bug_logs_one_traceback_and_the_server_goes_on(server, caplog, monkeypatch):
    import live.control.osc as osc

    srv, queue, sock = server
    caplog.set_level(logging.WARNING, logger="live.control.osc")

    def broken(address, args, received=None):
        raise RuntimeError("bug in routing")

    monkeypatch.setattr(osc, "parse_osc", broken)
    for _ in range(100):
        sock.sendto(_msg("/tap"), ("127.0.0.1", srv.port))
    _await_status(sock, srv.port, "after a handler bug")
    assert caplog.text.count("Traceback") == 1 and "bug in routing" in caplog.text
    assert srv.dropped == 100
    monkeypatch.undo()
    sock.sendto(_msg("/tap"), ("127.0.0.1", srv.port))
    assert [c.name for c in _wait_for(queue, 1)] == ["tap"]


def _server_with(allow):
    queue: CommandQueue[Command] = CommandQueue(maxsize=64)
    srv = OscServer(queue, host="127.0.0.1", port=0, status=lambda: {"preset": "demo"}, allow=allow)
    srv.start()
    return srv, queue


def test_only_allowed_senders_control_or_query_the_show():
    from live.control.osc import parse_allow

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    stranger, queue = _server_with(parse_allow("192.168.1.0/24, 10.0.0.7"))
    try:
        sock.sendto(_msg("/bpm", 128.0), ("127.0.0.1", stranger.port))
        sock.sendto(_msg("/status"), ("127.0.0.1", stranger.port))
        with pytest.raises(TimeoutError):  # no reply to a sender the list does not name
            sock.recvfrom(65536)
        assert queue.drain() == [] and stranger.dropped == 2
    finally:
        stranger.stop()
    friend, queue = _server_with(parse_allow("127.0.0.0/8"))
    try:
        sock.sendto(_msg("/bpm", 128.0), ("127.0.0.1", friend.port))
        assert [c.name for c in _wait_for(queue, 1)] == ["bpm"]
        _await_status(sock, friend.port, "to an allowed sender")
    finally:
        friend.stop()
        sock.close()


@pytest.mark.parametrize("text", ["192.168.1.0/33", "club", "10.0.0.1,,"])
def test_a_bad_allow_list_is_one_line_error(text):
    from live.control.osc import parse_allow

    with pytest.raises(ControlError, match="--osc-allow"):
        parse_allow(text)


def test_status_replies_are_rate_limited(server):
    """A burst of /status queries (a spoofed sender aiming replies at someone else) gets a bounded
    number of answers: at most the bucket's few queries, each a dozen small datagrams."""
    from live.control.osc import STATUS_PER_S

    srv, queue, sock = server
    for _ in range(50):
        sock.sendto(_msg("/status"), ("127.0.0.1", srv.port))
    sock.settimeout(0.5)
    replies = 0
    try:
        while True:
            sock.recvfrom(65536)
            replies += 1
    except TimeoutError:
        pass
    per_query = len([k for k in ("preset", "bpm", "fps", "blackout", "note", "osc_received", "osc_dropped",
                                 "queue_dropped")])
    assert 0 < replies <= (STATUS_PER_S + 1) * per_query
    assert srv.dropped >= 50 - STATUS_PER_S - 1


def test_a_non_ascii_digit_index_is_dropped_in_one_line_without_a_traceback(server, caplog):
    srv, queue, sock = server
    for address in ("/jump/\u00b2", "/drop/\u0663", "/jump/" + "9" * 5000):
        sock.sendto(_msg(address), ("127.0.0.1", srv.port))
    sock.sendto(_msg("/jump/7"), ("127.0.0.1", srv.port))
    assert [(c.name, c.args) for c in _wait_for(queue, 1)] == [("jump", (7,))]
    assert srv.dropped == 3
    assert "digits 0-9" in caplog.text
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)
