"""OSC control: validate OSC messages into :class:`live.messages.Command` values and serve them.

Routing and validation (:func:`parse_osc`) are plain functions with no network, so tests and
other front ends can feed them directly; :class:`OscServer` only owns the UDP socket and its
thread. Every command crosses to the show through a :class:`live.handoff.CommandQueue`, whose
``put`` never blocks, so a controller flooding us cannot stall or grow anything.

Address space (all arguments may arrive as OSC int or float; TouchOSC and Open Stage Control
send floats 0..1 from faders and buttons):

==========================  ==========================================================
``/preset s``               switch to preset by name
``/preset/next``            next preset in the bank  -> ``Command("preset", ("+1",))``
``/preset/prev``            previous preset          -> ``Command("preset", ("-1",))``
``/blackout x``             toggle; x >= 0.5 is on (x: int, float or OSC bool)
``/freeze x``, ``/hold x``, ``/lock x``   toggles like ``/blackout``
``/jump i``, ``/drop i``    keyframe index (a float with an integral value is accepted)
``/jump/N``, ``/drop/N``    the same for a button grid, N in the address
``/tap``, ``/resync``       triggers
``/bpm f``                  20..300
``/nudge f``                -0.5..0.5 beat
``/param s v``              preset parameter key and value (number, string or bool)
``/param/KEY v``            the same with the key in the address (one fader per parameter)
``/shader/NAME f``          shader uniform NAME (finite float)
``/status [i]``             reply to the sender (or to port i on the sender's host) with one
                            ``/status/KEY value`` message per status field
==========================  ==========================================================

Triggers (``/tap``, ``/resync``, ``/preset/next``, ``/preset/prev``, ``/jump/N``, ``/drop/N``)
fire when sent with no argument or with a value >= 0.5; a value < 0.5 is a button release
and is ignored (otherwise a TouchOSC push button would tap twice per press).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from typing import Any, Callable

from pythonosc import osc_packet
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_server import BlockingOSCUDPServer

from live.errors import UserError
from live.handoff import CommandQueue
from live.messages import Command

_LOGGER = logging.getLogger(__name__)


BPM_RANGE = (20.0, 300.0)
NUDGE_RANGE = (-0.5, 0.5)
MAX_KEYFRAME_INDEX = 100_000  # far above any real bank; only guards against nonsense like 1e12
# Uniform and parameter names: identifiers, with dots for nested preset keys ("motion.beats").
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_UNIFORM_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MAX_STRING = 200

TOGGLES = ("blackout", "freeze", "hold", "lock")
TRIGGERS = ("tap", "resync")


class ControlError(UserError):
    """A control message (OSC or MIDI) or mapping file that cannot be used; one line, names it."""


# ---------------------------------------------------------------------------------------------
# Argument validation helpers. Each raises ControlError with the address and what is allowed.


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(address: str, args: tuple, allowed: tuple[int, ...], shape: str) -> None:
    if len(args) not in allowed:
        raise ControlError(f"OSC {address}: expected {shape}, got {len(args)} argument(s) {_show(args)}")


def _show(args: tuple) -> str:
    text = repr(tuple(args))
    return text if len(text) <= 80 else text[:77] + "..."


def _float(address: str, value: Any, lo: float | None = None, hi: float | None = None) -> float:
    if not _is_number(value):
        raise ControlError(f"OSC {address}: expected a number, got {type(value).__name__} {value!r:.40}")
    out = float(value)
    if not math.isfinite(out):
        raise ControlError(f"OSC {address}: value {out} is not finite")
    if lo is not None and hi is not None and not lo <= out <= hi:
        raise ControlError(f"OSC {address}: value {out:g} out of range {lo:g}..{hi:g}")
    return out


def _switch(address: str, value: Any) -> bool:
    """Toggle value: OSC bool, or a number where >= 0.5 is on (fader or button 0..1, int 0/1)."""
    if isinstance(value, bool):
        return value
    return _float(address, value) >= 0.5


def _index(address: str, value: Any) -> int:
    if isinstance(value, bool) or not _is_number(value):
        raise ControlError(f"OSC {address}: expected a keyframe index (int), got {type(value).__name__} {value!r:.40}")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise ControlError(f"OSC {address}: keyframe index must be a whole number, got {value!r}")
    out = int(value)
    if not 0 <= out <= MAX_KEYFRAME_INDEX:
        raise ControlError(f"OSC {address}: keyframe index {out} out of range 0..{MAX_KEYFRAME_INDEX}")
    return out


def _string(address: str, value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ControlError(f"OSC {address}: expected {what} (string), got {type(value).__name__} {value!r:.40}")
    if not value.strip() or len(value) > _MAX_STRING:
        raise ControlError(f"OSC {address}: {what} must be 1..{_MAX_STRING} characters, got {value!r:.60}")
    return value


def _name(address: str, value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise ControlError(f"OSC {address}: {what} {value!r:.60} is not a valid name (letters, digits, _{', .' if pattern is _NAME_RE else ''})")
    return value


def _param_value(address: str, value: Any) -> float | int | str | bool:
    if isinstance(value, bool):
        return value
    if _is_number(value):
        return _float(address, value) if isinstance(value, float) else int(value)
    if isinstance(value, str) and len(value) <= _MAX_STRING:
        return value
    raise ControlError(f"OSC {address}: parameter value must be a number, string or bool, got {type(value).__name__}")


def _pressed(address: str, args: tuple) -> bool:
    """Trigger semantics: no argument or a value >= 0.5 fires; < 0.5 is a button release."""
    _count(address, args, (0, 1), "no argument or one press value")
    return not args or _switch(address, args[0])


# ---------------------------------------------------------------------------------------------


def parse_osc(address: str, args: tuple, received: float | None = None) -> Command | None:
    """Validate one OSC message and turn it into a :class:`Command` with ``source="osc"``.

    Returns None for a valid message that asks for nothing: a trigger's button release
    (value < 0.5). Raises :class:`ControlError` with a one-line reason for an unknown address,
    a wrong argument count or type, or a value out of range. ``/status`` is answered by the
    server, not turned into a command, so it is refused here. ``received`` defaults to now
    (``perf_counter``), which tap tempo relies on.
    """
    when = time.perf_counter() if received is None else received
    args = tuple(args)
    if not isinstance(address, str) or not address.startswith("/"):
        raise ControlError(f"OSC address {address!r:.60} must start with '/'")
    parts = address.strip("/").split("/")
    head = parts[0]

    def make(name: str, *values: Any) -> Command:
        return Command(name, tuple(values), source="osc", received=when)

    if len(parts) == 1:
        if head == "preset":
            _count(address, args, (1,), "one preset name (string)")
            return make("preset", _string(address, args[0], "preset name"))
        if head in TOGGLES:
            _count(address, args, (1,), "one value (0/1, 0.0..1.0 or bool)")
            return make(head, _switch(address, args[0]))
        if head in ("jump", "drop"):
            _count(address, args, (1,), "one keyframe index")
            return make(head, _index(address, args[0]))
        if head in TRIGGERS:
            return make(head) if _pressed(address, args) else None
        if head == "bpm":
            _count(address, args, (1,), "one tempo in BPM")
            return make("bpm", _float(address, args[0], *BPM_RANGE))
        if head == "nudge":
            _count(address, args, (1,), "one fraction of a beat")
            return make("nudge", _float(address, args[0], *NUDGE_RANGE))
        if head == "param":
            _count(address, args, (2,), "a parameter key (string) and a value")
            key = _name(address, _string(address, args[0], "parameter key"), _NAME_RE, "parameter key")
            return make("param", key, _param_value(address, args[1]))
    elif len(parts) == 2:
        tail = parts[1]
        if head == "preset" and tail in ("next", "prev"):
            return make("preset", "+1" if tail == "next" else "-1") if _pressed(address, args) else None
        if head in ("jump", "drop"):
            if not tail.isdigit():
                raise ControlError(f"OSC {address}: expected /{head}/N with N a keyframe index")
            index = _index(address, int(tail))
            return make(head, index) if _pressed(address, args) else None
        if head == "param":
            _count(address, args, (1,), "one value")
            return make("param", _name(address, tail, _NAME_RE, "parameter key"), _param_value(address, args[0]))
        if head == "shader":
            _count(address, args, (1,), "one uniform value (float)")
            return make("shader_param", _name(address, tail, _UNIFORM_RE, "uniform"), _float(address, args[0]))
    if head == "status":
        raise ControlError("OSC /status is answered by the OSC server, not a command")
    raise ControlError(f"OSC address {address!r:.60} is not known; see `/preset`, `/bpm`, `/shader/NAME`... in the README")


# ---------------------------------------------------------------------------------------------


class _RateLimitedLog:
    """Logs the first problem for each key at once, then at most one summary per ``interval``.

    Used only from the server thread, so it needs no lock. The key table is bounded because a
    sender spraying random addresses must not grow memory.
    """

    def __init__(self, interval: float = 5.0, max_keys: int = 256) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self.count = 0

    def warn(self, key: str, message: str) -> None:
        self.count += 1
        if key not in self._last and len(self._last) >= self.max_keys:
            key = "<other>"
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return
        extra = self._suppressed.pop(key, 0)
        self._last[key] = now
        suffix = f" ({extra} more like it since the last report)" if extra else ""
        _LOGGER.warning("dropped OSC message: %s%s", message, suffix)


def _status_messages(status: dict) -> list[bytes]:
    """One ``/status/KEY value`` datagram per field; values OSC cannot carry become strings."""
    out: list[bytes] = []
    for key, value in status.items():
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(key)) or "_"
        builder = OscMessageBuilder(address=f"/status/{name}")
        if value is None:
            value = ""
        if isinstance(value, bool):
            builder.add_arg(int(value), OscMessageBuilder.ARG_TYPE_INT)
        elif isinstance(value, int) and -(2**31) <= value < 2**31:
            builder.add_arg(value, OscMessageBuilder.ARG_TYPE_INT)
        elif isinstance(value, (int, float)):
            builder.add_arg(float(value), OscMessageBuilder.ARG_TYPE_FLOAT)
        else:
            builder.add_arg(str(value)[:_MAX_STRING * 4], OscMessageBuilder.ARG_TYPE_STRING)
        out.append(builder.build().dgram)
    return out


class _Server(BlockingOSCUDPServer):
    """python-osc's blocking UDP server, but it names what it drops instead of staying silent."""

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, owner: "OscServer") -> None:
        self._owner = owner
        super().__init__(address, dispatcher)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        data = request[0]
        try:
            osc_packet.OscPacket(data)
        except Exception as exc:  # ParseError and whatever a hostile datagram provokes
            self._owner._bad.warn(f"garbage:{client_address[0]}",
                                  f"{len(data)}-byte datagram from {client_address[0]} is not OSC ({exc})")
            return False
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver would print a traceback to stderr; a bug in a handler must not reach the
        # projector operator as noise, but it must be logged with its traceback once.
        _LOGGER.exception("OSC handler failed for a datagram from %s; server keeps running", client_address)


class OscServer:
    """UDP OSC server on its own thread, turning messages into commands on ``commands``.

    ``status`` (called from the server thread) returns the dict sent back for ``/status``; it
    must only read immutable snapshots (e.g. a LatestSlot's value), never mutable show state.
    """

    def __init__(
        self,
        commands: CommandQueue[Command],
        host: str = "0.0.0.0",
        port: int = 9000,
        status: Callable[[], dict] | None = None,
    ) -> None:
        self._commands = commands
        self._host = host
        self._requested_port = port
        self._status = status
        self._bad = _RateLimitedLog()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.received = 0  # messages turned into commands (read for the HUD; an int is atomic)
        # Routing lives in the dispatcher, separate from the socket. strict_timing=False: a
        # bundle with a future timetag is handled now, never by sleeping the server thread.
        self.dispatcher = Dispatcher(strict_timing=False)
        self.dispatcher.map("/status", self._on_status, needs_reply_address=True)
        self.dispatcher.set_default_handler(self._on_message)

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

    def start(self) -> None:
        """Bind the socket and serve on a daemon thread; ControlError if the port cannot be bound."""
        if self._server is not None:
            return
        try:
            self._server = _Server((self._host, self._requested_port), self.dispatcher, self)
        except OSError as exc:
            raise ControlError(
                f"OSC port {self._requested_port} on {self._host} cannot be opened ({exc.strerror or exc}); "
                "choose another with --osc-port"
            ) from None
        self._thread = threading.Thread(target=self._serve, name="osc", daemon=True)
        self._thread.start()
        _LOGGER.info("OSC listening on %s:%d", self._host, self.port)

    def _serve(self) -> None:
        assert self._server is not None
        while True:
            try:
                self._server.serve_forever(poll_interval=0.1)
                return  # shutdown() was called
            except Exception:  # never let the control thread die; log and keep serving
                _LOGGER.exception("OSC server loop failed; restarting it")
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def __enter__(self) -> "OscServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Handlers run on the server thread.

    def _on_message(self, address: str, *args: Any) -> None:
        try:
            command = parse_osc(address, args)
        except ControlError as exc:
            self._bad.warn(address if len(address) <= 64 else address[:64], str(exc))
            return
        if command is not None:
            self.received += 1
            self._commands.put(command)

    def _on_status(self, client: tuple[str, int], address: str, *args: Any) -> None:
        reply_to = client
        if args:
            if len(args) != 1 or isinstance(args[0], bool) or not isinstance(args[0], int) or not 0 < args[0] < 65536:
                self._bad.warn(address, f"OSC /status: expected no argument or a reply port 1..65535, got {_show(args)}")
                return
            reply_to = (client[0], args[0])
        try:
            status = dict(self._status()) if self._status is not None else {}
        except Exception:
            _LOGGER.exception("status callback failed; replying with the error")
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
                self._bad.warn("status-reply", f"cannot reply to {reply_to}: {exc}")
                return
