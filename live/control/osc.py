"""OSC control: validate OSC messages into :class:`live.messages.Command` values and serve them.

Routing and validation (:func:`parse_osc`) are plain functions with no network, so tests and
other front ends can feed them directly; :class:`OscServer` only owns the UDP socket and its
thread. Every command crosses to the show through a :class:`live.handoff.CommandQueue`, whose
``put`` never blocks, so a controller flooding us cannot stall or grow anything.

The addresses, their arguments and ranges are declared once in
:data:`live.control.commands.OSC_FORMS` (the README's OSC table is generated from it). Every
argument may arrive as OSC int or float (TouchOSC and Open Stage Control send floats 0..1 from
faders and buttons); toggles are on at >= 0.5 and also take OSC bools. ``/status [i]`` is
answered by the server with one ``/status/KEY value`` message per status field.

Presses (addresses whose arguments all come from the address, e.g. ``/tap``, ``/preset/next``,
``/jump/N``) fire when sent with no argument or with a value >= 0.5; a value < 0.5 is a button
release and is ignored (otherwise a TouchOSC push button would tap twice per press).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
import time
from functools import partial
from typing import Any, Callable

import pythonosc
from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer

from live.control.commands import MAX_STRING, OSC_FORMS, Arg, ControlError, OscForm, expected, parse_index, shown
from live.control.feedback import Feedback, Subscription
from live.handoff import CommandQueue
from live.messages import Command
from live.ratelog import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

_PRESS = Arg("switch", "press value")
# A control message is a few dozen bytes (strings are at most MAX_STRING characters); python-osc
# reads strings a byte at a time in Python, so a larger datagram is refused before it is parsed
# (the server reads one byte more than this, to tell).
MAX_DATAGRAM = 8192
# The server thread may use this share of one core; past it, it pauses reading until the next
# window and the system drops what a flood sends meanwhile, so the show's thread keeps the CPU.
# 10% still reads about 2,000 valid messages a second (ten times a busy controller); at 25% a
# 10,000/s flood cost the show a fifth of its frames on a 2-core machine (`bench osc`), as the
# display thread waits for the GIL at each of its many GL calls while this thread parses.
CPU_SHARE = 0.10
PACE_WINDOW_S = 0.1
# /status replies per second, all senders together: each query makes about a dozen datagrams, so
# a spoofed sender must not turn the show into a traffic reflector.
STATUS_PER_S = 5.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow(text: str | None) -> tuple[Network, ...] | None:
    """``--osc-allow 192.168.1.0/24,127.0.0.1`` as networks (None: everyone may control the show);
    ControlError naming the entry that is not an address or network."""
    if not text:
        return None
    networks = []
    for entry in (e.strip() for e in text.split(",")):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ControlError(f"--osc-allow {entry!r:.60} is not an address or network, e.g. 192.168.1.0/24 or "
                               "127.0.0.1") from None
    return tuple(networks)


def _route(form: OscForm, address: str, args: tuple, when: float) -> Command | None:
    """One message to ``form``'s command: address placeholder, fixed and message arguments checked."""
    # A hostile address is cut, as every other shown value, and quoted if it could break the line.
    where = f"OSC {address[:80]}" if address.isprintable() else f"OSC {address!r:.80}"
    carried = form.message_args
    try:
        if not carried:  # a press: no argument or one press value, < 0.5 is a release
            if len(args) > 1:
                raise ControlError(f"expected no argument or one press value, got {len(args)} argument(s) {shown(args)}")
            if args and not _PRESS.check(args[0]):
                return None
        elif not form.min_args <= len(args) <= len(carried):
            raise ControlError(f"expected {expected(carried)}, got {len(args)} argument(s) {shown(args)}")
        values = list(form.fixed)
        if form.placeholder:
            values.append(_placeholder(form, address.rsplit("/", 1)[1]))
        values += [arg.check(value) for arg, value in zip(carried, args)]
    except ControlError as exc:
        raise ControlError(f"{where}: {exc}") from None
    # origin: the message as received, for the HUD's last-message line (the source says OSC already).
    return Command(form.spec.name, tuple(values), source="osc", received=when, origin=f"{where[4:]} {shown(args)}")


def _placeholder(form: OscForm, text: str) -> Any:
    """The argument named in the address (``/jump/5`` -> 5, ``/shader/u_amount`` -> "u_amount")."""
    arg = form.spec.args[len(form.fixed)]
    if arg.type == "index":
        try:
            return arg.check(parse_index(text, arg.what))
        except ControlError as exc:
            raise ControlError(f"{form.placeholder} of {form.address}: {exc}") from None
    return arg.check(text)


def _not_a_command(address: str, args: tuple, when: float) -> Command | None:
    raise ControlError(f"OSC {address} is answered by the OSC server, not a command")


# Address -> handler, built from the table as python-osc's dispatcher maps addresses. A
# placeholder address ("/jump/N") is stored as its prefix plus "/*".
_ROUTES: dict[str, Callable[[str, tuple, float], Command | None]] = {
    (f.address.rsplit("/", 1)[0] + "/*" if f.placeholder else f.address): partial(_route, f) for f in OSC_FORMS
}
for _address in ("/status", "/subscribe", "/unsubscribe", "/learn"):
    _ROUTES[_address] = _not_a_command


def parse_osc(address: str, args: tuple, received: float | None = None) -> Command | None:
    """Validate one OSC message and turn it into a :class:`Command` with ``source="osc"``.

    Returns None for a valid message that asks for nothing: a press's button release
    (value < 0.5). Raises :class:`ControlError` with a one-line reason for an unknown address,
    a wrong argument count or type, or a value out of range. ``/status`` is answered by the
    server, not turned into a command, so it is refused here. ``received`` defaults to now
    (``perf_counter``), which tap tempo relies on.
    """
    when = time.perf_counter() if received is None else received
    if not isinstance(address, str) or not address.startswith("/"):
        raise ControlError(f"OSC address {address!r:.60} must start with '/'")
    path = "/" + address.strip("/")
    handler = _ROUTES.get(path) or _ROUTES.get(path.rsplit("/", 1)[0] + "/*")
    if handler is None:
        raise ControlError(f"OSC address {address!r:.60} is not known; see `/preset`, `/bpm`, `/shader/NAME`... in the README")
    return handler(path, tuple(args), when)


# ---------------------------------------------------------------------------------------------


def encode(address: str, value: Any) -> bytes:
    """One OSC datagram ``address value``; values OSC cannot carry become strings."""
    builder = OscMessageBuilder(address=address)
    if value is None:
        value = ""
    if isinstance(value, bool):
        builder.add_arg(int(value), OscMessageBuilder.ARG_TYPE_INT)
    elif isinstance(value, int) and -(2**31) <= value < 2**31:
        builder.add_arg(value, OscMessageBuilder.ARG_TYPE_INT)
    elif isinstance(value, (int, float)):
        builder.add_arg(float(value), OscMessageBuilder.ARG_TYPE_FLOAT)
    else:
        builder.add_arg(str(value)[:MAX_STRING * 4], OscMessageBuilder.ARG_TYPE_STRING)
    return builder.build().dgram


def _status_messages(status: dict) -> list[bytes]:
    """One ``/status/KEY value`` datagram per field."""
    return [encode("/status/" + (re.sub(r"[^A-Za-z0-9_.-]", "_", str(key)) or "_"), value)
            for key, value in status.items()]


class _Server(BlockingOSCUDPServer):
    """python-osc's blocking UDP server (it binds IPv4 or IPv6 as the host asks), but every
    datagram goes to :meth:`OscServer._on_datagram`. python-osc's own dispatch is bypassed: it
    compiles a regular expression from each sender's address pattern (a warning and CPU per
    message under a flood of odd addresses), and our routes are exact addresses anyway."""

    max_packet_size = MAX_DATAGRAM + 1

    def __init__(self, address: tuple[str, int], owner: "OscServer") -> None:
        self._owner = owner
        super().__init__(address, Dispatcher())

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return True  # _on_datagram names what it drops instead of staying silent

    def process_request(self, request: Any, client_address: Any) -> None:
        self._owner._on_datagram(request[0], client_address)
        self._owner._pace()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr for each datagram; _on_datagram catches
        # everything, so this is a last resort: one traceback, then counts.
        self._owner._drop("server-error", f"OSC datagram from {client_address} could not be handled; server keeps running",
                          exc_info=True)


_PYTHONOSC_DIR = os.path.dirname(pythonosc.__file__)
_PYTHONOSC_LOG = RateLimitedLog(_LOGGER)  # shared by every server: python-osc logs without saying which


class _QuietPythonOsc(logging.Filter):
    """python-osc logs to the root logger once per odd type tag or bundle part, each line
    different (f-strings): its records go through one rate limit instead of straight to the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.pathname.startswith(_PYTHONOSC_DIR):
            return True
        if record.levelno >= logging.WARNING:
            _PYTHONOSC_LOG.report(f"{record.module}:{record.lineno}", f"python-osc: {record.getMessage()}")
        return False


_QUIET_PYTHONOSC = _QuietPythonOsc()


class OscServer:
    """UDP OSC server on its own thread, turning messages into commands on ``commands``.

    ``status`` (called from the server thread) returns the dict sent back for ``/status``; it
    must only read immutable snapshots (e.g. a LatestSlot's value), never mutable show state.
    Nothing a datagram contains escapes the server thread: each problem is logged through a
    :class:`live.ratelog.RateLimitedLog` (a few lines, then counts) and the next datagram is read.
    """

    def __init__(
        self,
        commands: CommandQueue[Command],
        host: str = "0.0.0.0",
        port: int = 9000,
        status: Callable[[], dict] | None = None,
        allow: tuple[Network, ...] | None = None,
        learn: Callable[[tuple], str] | None = None,
    ) -> None:
        self._commands = commands
        self._host = host
        self._requested_port = port
        self._status = status
        self._allow = allow  # None: any sender; else only these networks may control or query the show
        self._learn = learn  # arms MIDI learn from /learn's arguments (the MIDI input's learn_from_osc)
        # Push feedback to /subscribe'd controllers, from the same status snapshots, on its own thread.
        self.feedback = Feedback(status or dict, encode)
        self._replies = (time.monotonic(), STATUS_PER_S)  # token bucket of /status replies: (when, tokens)
        self._bad = RateLimitedLog(_LOGGER)
        self._flood = RateLimitedLog(_LOGGER)  # pauses in reading (counted apart from dropped messages)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.received = 0  # messages turned into commands (read for the HUD; an int is atomic)
        self._window = (time.monotonic(), time.thread_time())  # the pacing window: start, CPU time then

    @property
    def port(self) -> int:
        """The bound UDP port once started (port=0 picks a free one), else the requested one."""
        if self._server is not None:
            return self._server.server_address[1]
        return self._requested_port

    @property
    def dropped(self) -> int:
        """How many malformed messages or datagrams have been dropped so far."""
        return self._bad.count

    @property
    def paused(self) -> int:
        """How many times reading paused because a flood used the thread's CPU share."""
        return self._flood.count

    def start(self) -> None:
        """Bind the socket and serve on a daemon thread; ControlError if the port cannot be bound."""
        if self._server is not None:
            return
        try:
            self._server = _Server((self._host, self._requested_port), self)
        except OSError as exc:
            raise ControlError(
                f"OSC port {self._requested_port} on {self._host} cannot be opened ({exc.strerror or exc}); "
                "choose another with --osc-port"
            ) from None
        if _QUIET_PYTHONOSC not in logging.getLogger().filters:
            logging.getLogger().addFilter(_QUIET_PYTHONOSC)
        self._thread = threading.Thread(target=self._serve, name="osc", daemon=True)
        self._thread.start()
        self.feedback.start()
        _LOGGER.info("OSC listening on %s:%d", self._host, self.port)

    def _serve(self) -> None:
        assert self._server is not None
        while True:
            try:
                self._server.serve_forever(poll_interval=0.1)
                return  # shutdown() was called
            except Exception:  # never let the control thread die; log and keep serving
                self._bad.report("loop", "OSC server loop failed; restarting it", exc_info=True)
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        self.feedback.stop()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        self._bad.flush()
        self._flood.flush()

    def __enter__(self) -> "OscServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Handlers run on the server thread.

    def _drop(self, key: str, message: str, exc_info: bool = False) -> None:
        self._bad.report(key, f"dropped OSC message: {message}", exc_info=exc_info)

    def _pace(self) -> None:
        """Sleep out the rest of the window once this thread used its CPU share in it (a flood)."""
        now, cpu = time.monotonic(), time.thread_time()
        start, start_cpu = self._window
        if now - start >= PACE_WINDOW_S:
            self._window = (now, cpu)
        elif cpu - start_cpu >= CPU_SHARE * PACE_WINDOW_S:
            self._flood.report("flood", f"more OSC than {CPU_SHARE:.0%} of a core can read; "
                                "pausing the reads, the system drops what comes meanwhile")
            time.sleep(start + PACE_WINDOW_S - now)
            self._window = (time.monotonic(), time.thread_time())

    def _allowed(self, host: str) -> bool:
        if self._allow is None:
            return True
        try:
            address = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            return False
        return any(address in network for network in self._allow)

    def _on_datagram(self, data: bytes, client: tuple[str, int]) -> None:
        """One datagram: parse it, route each message in it; nothing raised here escapes."""
        if not self._allowed(client[0]):  # before parsing: a stranger costs us nothing but this check
            self._drop(f"denied:{client[0]}", f"datagram from {client[0]}, which --osc-allow does not list")
            return
        if len(data) > MAX_DATAGRAM:
            self._drop(f"large:{client[0]}", f"datagram from {client[0]} is larger than {MAX_DATAGRAM} bytes; not read")
            return
        try:
            messages = [timed.message for timed in osc_packet.OscPacket(data).messages]
        except Exception as exc:  # ParseError and whatever a hostile datagram provokes
            self._drop(f"garbage:{client[0]}", f"{len(data)}-byte datagram from {client[0]} is not OSC ({exc})")
            return
        # Bundles are handled now whatever their timetag: a future one must never sleep this thread.
        for message in messages:
            try:
                if message.address == "/status":
                    self._on_status(client, message.address, *message.params)
                elif message.address in ("/subscribe", "/unsubscribe", "/learn"):
                    self._on_server_address(client, message.address, tuple(message.params))
                else:
                    self._on_message(message.address, *message.params)
            except Exception:  # a bug in a handler: its traceback once, then counts
                self._drop(f"failed:{message.address[:64]}",
                           f"handling {message.address!r:.60} failed; the server keeps running", exc_info=True)

    def _on_message(self, address: str, *args: Any) -> None:
        try:
            command = parse_osc(address, args)
        except ControlError as exc:
            self._drop(address[:64], str(exc))
            return
        if command is not None:
            self.received += 1
            self._commands.put(command)

    def _on_server_address(self, client: tuple[str, int], address: str, args: tuple) -> None:
        """``/subscribe [port]``, ``/unsubscribe [port]`` (the sender, at its port or that one),
        ``/learn COMMAND [name] [value]`` (MIDI learn, when the show has a MIDI input)."""
        if address == "/learn":
            try:
                if self._learn is None:
                    raise ControlError("no MIDI input to learn on; start the show with --midi-input")
                self._learn(args)
            except ControlError as exc:
                self._drop("learn", f"OSC /learn: {exc}")
            return
        port = client[1]
        if args:
            if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int) or not 0 < args[0] < 65536:
                self._drop(address, f"OSC {address}: expected no argument or a port 1..65535, got {shown(args)}")
                return
            port = args[0]
        self.feedback.request(Subscription((client[0].split("%")[0], port), on=address == "/subscribe"))

    def _on_status(self, client: tuple[str, int], address: str, *args: Any) -> None:
        when, tokens = self._replies
        now = time.monotonic()
        tokens = min(STATUS_PER_S, tokens + (now - when) * STATUS_PER_S)
        if tokens < 1.0:
            self._replies = (now, tokens)
            self._drop("status-rate", f"/status from {client[0]}: more than {STATUS_PER_S:g} queries a second; "
                                      "not answered")
            return
        self._replies = (now, tokens - 1.0)
        reply_to = client
        if args:
            if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int) or not 0 < args[0] < 65536:
                self._drop(address, f"OSC /status: expected no argument or a reply port 1..65535, got {shown(args)}")
                return
            reply_to = (client[0], args[0])
        try:
            status = dict(self._status()) if self._status is not None else {}
        except Exception:  # its traceback once, then counts: /status may come 5 times a second
            self._bad.report("status-callback", "status callback failed; replying with the error", exc_info=True)
            status = {"error": "status unavailable"}
        # Our own counters, so a /status query answers something even without a show attached.
        status.setdefault("osc_received", self.received)
        status.setdefault("osc_dropped", self.dropped)
        status.setdefault("queue_dropped", self._commands.dropped)
        server = self._server
        if server is None:
            return
        for dgram in _status_messages(status):
            try:
                server.socket.sendto(dgram, reply_to)
            except OSError as exc:
                self._drop("status-reply", f"cannot reply to {reply_to}: {exc}")
                return
