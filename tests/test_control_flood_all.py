"""Every OSC address flooded with valid and invalid messages at a ticking show: the log stays small.

Valid messages are routine for the show (an offset, calibration on and off, a preset switch, a
subscription, MIDI learn armed), so before they each wrote an INFO line, and a flood of them
wrote a line per message or per frame; invalid ones are refused. Every line now goes through a
rate-limited log: whatever arrives, a few lines a source, no traceback. Real datagrams on
127.0.0.1 from another process rotating over 10 source ports, a real show (weight-free bank,
approx decoder, offscreen renderer) ticking through the one frame driver, /learn reaching a real
MidiInput (learn armed only: no MIDI port is opened).
"""

from __future__ import annotations

import math
import struct
import subprocess
import sys
import time

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from live.control.commands import OSC_FORMS, Arg
from live.control.midi import MidiInput, MidiMapping
from live.control.osc import OscServer
from test_show_flood import FPS, _make_show, _run, _state, serving

SENDER = r'''
import os, socket, struct, sys, time
os.nice(19)  # the attacker's CPU is not the show's: on this shared test machine it gets what is left
port, seconds, path = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
data, dgrams = open(path, "rb").read(), []
while data:
    (n,) = struct.unpack(">I", data[:4])
    dgrams.append(data[4:4 + n])
    data = data[4 + n:]
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(10)]
for s in socks:
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
print("ready", flush=True)
sys.stdin.readline()  # go
sent, end = 0, time.monotonic() + seconds
while time.monotonic() < end:
    for d in dgrams:
        try:
            socks[sent % 10].sendto(d, ("127.0.0.1", port))
        except OSError:
            pass
        sent += 1
    time.sleep(0.002)
print(sent)
'''


def _dgram(address: str, *args) -> bytes:
    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


_PLACE = {"N": "3", "KEY": "motion.kick", "NAME": "u_amount"}
_BAD_PLACE = {"N": "\u00b2", "KEY": "__class__", "NAME": "u_amount\n"}


def _valid(arg: Arg, k: int):
    """A value ``arg`` accepts (alternating for switches, so each message is a change)."""
    if arg.type == "switch":
        return k % 2
    if arg.type == "float":
        lo, hi = arg.fader_span
        return float(lo + (hi - lo) * (0.25 + 0.5 * (k % 2)))
    return {"index": 2, "preset": "demo", "name": "intro", "key": "motion.kick", "uniform": "u_amount",
            "value": 0.5, "choice": arg.choices[0] if arg.choices else ""}[arg.type]


def _datagrams() -> list[bytes]:
    """Each address of the table with valid arguments (twice, alternating) and invalid ones,
    then the server's own addresses."""
    out = []
    for form in OSC_FORMS:
        head, _, last = form.address.rpartition("/")
        address = f"{head}/{_PLACE[last]}" if form.placeholder else form.address
        for k in (0, 1):
            out.append(_dgram(address, *[_valid(a, k) for a in form.message_args]))
        out.append(_dgram(address, "x", math.nan, 1e9, 4))  # wrong type, count and range
        out.append(_dgram(address, *[math.inf for _ in form.message_args]))
        if form.placeholder:
            out.append(_dgram(f"{head}/{_BAD_PLACE[form.placeholder]}", *[_valid(a, 0) for a in form.message_args]))
    out += [_dgram("/status"), _dgram("/status", "x"), _dgram("/subscribe"), _dgram("/subscribe", 70000),
            _dgram("/unsubscribe"), _dgram("/learn", "tap"), _dgram("/learn", "shader_param", "u_amount"),
            _dgram("/learn", "preset", "../../etc/passwd"), _dgram("/learn", "param", "__class__"),
            _dgram("/learn", "explode"), _dgram("/preset", "../../etc/passwd"), _dgram("/jump/" + "9" * 5000),
            b"#bundle\x00" + bytes(8) + struct.pack(">i", 12) + b"junkjunkjunk", b"\xff" * 40]
    return out


@pytest.fixture
def show_with_learn(tmp_path):
    show = _make_show(tmp_path)
    midi = MidiInput(show.commands, None, MidiMapping(), backend="no_such_backend_module")  # learn only
    server = OscServer(show.commands, host="127.0.0.1", port=0, status=show.status, learn=midi.learn_from_osc)
    with serving(show, server) as served:
        yield served


def test_flood_of_every_address_valid_and_invalid_keeps_the_log_small(show_with_learn, tmp_path):
    show, server, log = show_with_learn
    dgrams = _datagrams()
    assert len({d.split(b"\0")[0] for d in dgrams}) >= len(OSC_FORMS) + 4  # every address, bad forms too
    path = tmp_path / "dgrams.bin"
    path.write_bytes(b"".join(struct.pack(">I", len(d)) + d for d in dgrams))
    seconds = 2.5
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(server.port), str(seconds + 0.3), str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        _run(show, 0.3)  # warm up: shaders compiled, first frames decoded
        assert sender.stdout.readline().strip() == "ready"
        sender.stdin.write("go\n")
        sender.stdin.flush()
        deadline = time.monotonic() + 10.0
        while server.received == 0 and time.monotonic() < deadline:  # the flood has reached the server
            show.tick(time.perf_counter(), _state(time.perf_counter()))
            time.sleep(0.01)
        start = time.monotonic()
        run = _run(show, seconds)
        end = time.monotonic()
        sent = int(sender.communicate(timeout=30)[0].strip() or 0)
    finally:
        sender.kill()
    during = log.between(start, end)
    steady = log.between(start + 1.0, end)
    figures = {"sent": sent, "received": server.received, "dropped": server.dropped, "fps": run.fps,
               "lines": len(during), "bytes": sum(b for _t, b, _x in during), "steady_lines": len(steady),
               "subscribers": server.feedback.subscribers}
    print("flood figures:", figures)
    texts = [x for _t, _b, x in log.records]  # from the start: a traceback is logged once, maybe before `start`
    assert sent > 2000 and server.received > 100 and server.dropped > 100, figures
    assert not [x for x in texts if "Traceback" in x], "an exception was logged with its traceback"
    # Each source (the OSC server's drops, python-osc, feedback, MIDI learn, the show's refusals
    # and notes, the command queue) writes a burst of at most 10 lines, then one per 10 s. Before,
    # the valid messages alone wrote a line each: hundreds a second.
    assert figures["lines"] <= 120 and figures["bytes"] <= 30_000, figures
    assert figures["steady_lines"] <= 30, figures
    assert run.fps > 0.5 * FPS, figures
    assert server._thread is not None and server._thread.is_alive()
