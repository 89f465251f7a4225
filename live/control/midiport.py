"""MIDI inputs read by polling, never through a callback: the one way every input here (the
controller, the clock in, ``midi monitor``) takes its messages.

mido's rtmidi ports always take messages on a callback, and rtmidi's JACK backend runs that
callback on JACK's real-time process thread, which must then wait for the GIL: whenever another
thread held it longer than a JACK period the client missed its deadline and JACK dropped that
period's events (CCs, notes, clock pulses, Start/Stop), and an input closed while its callback
waited for the GIL could hang the process. Without a callback, rtmidi queues each message in
C++ with the time since the previous one, taken when it arrived (on JACK, in the process
callback; on ALSA, the sequencer's timestamp); an ordinary Python thread polls that queue and
rebuilds each message's arrival time (:class:`ArrivalTimes`). A busy interpreter then only
delays when messages are handled, not whether they arrive or when they are said to have arrived.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from typing import Any, Callable

import mido

from live.errors import UserError
from live.ratelog import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

QUEUE_SIZE = 4096  # messages rtmidi keeps until polled: over a second of a full-speed MIDI cable
POLL_S = 0.001  # the reader's sleep when the queue is empty, while messages come
IDLE_POLL_S = 0.005  # and once none came for QUIET_S: an idle controller costs a fifth of the CPU
QUIET_S = 0.25
CREEP = 1e-4  # s/s: how fast the arrival-time anchor may rise unprompted (clock drift, 100 ppm)
JOIN_S = 2.0  # how long closing waits for the reader thread to finish its message

Handler = Callable[[mido.Message, float], None]


ALSA_SEQ = "/dev/snd/seq"  # the ALSA sequencer's device: without it ALSA MIDI cannot work
JACK_HINT = ("to use JACK instead, start a JACK server and set MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK "
             "or pass `midi --backend mido.backends.rtmidi/UNIX_JACK`")


class MidiUnavailable(UserError):
    """The MIDI system the backend needs is not on this machine; the message says what is
    missing and how to use JACK instead, in one line."""


def resolve_backend(backend: mido.Backend | str | None) -> Any:
    """The mido backend ``backend`` names: the default (rtmidi unless MIDO_BACKEND says otherwise)
    for None, a module path (``mido.backends.rtmidi/UNIX_JACK``) for a string. MidiUnavailable
    when it would use ALSA and this machine has no ALSA sequencer (see :func:`check_alsa`)."""
    if backend is None:
        resolved = mido.backend
    elif isinstance(backend, str):
        resolved = mido.Backend(backend)
    else:
        resolved = backend
    check_alsa(resolved)
    return resolved


def check_alsa(backend: Any) -> None:
    """MidiUnavailable, in one line, when ``backend`` is mido's rtmidi on ALSA (named, or the
    default API on Linux, which tries ALSA first) and the ALSA sequencer device is missing or not
    usable. ALSA is then never asked: its C library would print a raw ``ALSA lib seq_hw.c`` line
    on the process's stderr before failing anyway."""
    if not sys.platform.startswith("linux") or getattr(backend, "name", None) != "mido.backends.rtmidi":
        return
    if getattr(backend, "api", None) not in (None, "UNSPECIFIED", "LINUX_ALSA"):
        return
    if not os.path.exists(ALSA_SEQ):
        raise MidiUnavailable(f"no ALSA sequencer on this machine: {ALSA_SEQ} is missing; {JACK_HINT}")
    if not os.access(ALSA_SEQ, os.R_OK | os.W_OK):
        raise MidiUnavailable(f"no access to the ALSA sequencer {ALSA_SEQ}: join the audio group; {JACK_HINT}")


def rtmidi_api(backend: mido.Backend | str | None) -> int | None:
    """The python-rtmidi API constant of ``backend`` (``rtmidi.API_UNIX_JACK``...), None when it
    is not mido's rtmidi backend; raises what loading the backend raises."""
    resolved = resolve_backend(backend)
    if getattr(resolved, "module", None) is None or resolved.module.__name__ != "mido.backends.rtmidi":
        return None
    import rtmidi  # python-rtmidi, mido's rtmidi backend's own dependency

    return getattr(rtmidi, f"API_{resolved.api or 'UNSPECIFIED'}")


class ArrivalTimes:
    """When each message arrived, on the ``time.perf_counter`` clock, from rtmidi's delta times
    (seconds since the previous message, taken when it arrived) and when it was polled.

    The deltas, summed from the first message, give every arrival on the MIDI clock's timeline;
    an anchor puts that timeline on ours. Each poll bounds the anchor from above (a message
    cannot have arrived after it was polled), and the anchor is the tightest bound seen, allowed
    to rise by :data:`CREEP` a second so that drift between the two clocks cannot build up. A
    poll delayed by a busy interpreter gives a loose bound and changes nothing, so the times
    stay right; they are never later than the poll, and never go back.
    """

    def __init__(self, creep: float = CREEP) -> None:
        self.creep = creep
        self._midi = 0.0  # seconds from the first message, on the MIDI clock
        self._anchor: float | None = None  # our time of the first message
        self._last = -float("inf")

    def stamp(self, delta: float, polled: float) -> float:
        """The arrival time of a message ``delta`` s after the previous one, polled at ``polled``."""
        self._midi += delta
        bound = polled - self._midi
        self._anchor = bound if self._anchor is None else min(self._anchor + self.creep * delta, bound)
        self._last = max(self._last, self._anchor + self._midi)
        return self._last


class PolledInput:
    """An open MIDI input (``virtual``: a new port of that name for others to connect to) read
    by polling. :meth:`pending` returns what has arrived, with arrival times; with ``handler``,
    a reader thread named ``thread_name`` polls every :data:`POLL_S` (:data:`IDLE_POLL_S` while
    nothing comes; the times do not depend on it) and calls ``handler(message, arrival_time)``
    for each message instead (nothing it raises stops the thread). Bytes that make no MIDI
    message are skipped, as mido's own ports do. With a backend other than mido's rtmidi, the
    port is mido's and messages are timed when polled."""

    def __init__(self, name: str, backend: mido.Backend | str | None = None, *, virtual: bool = False,
                 handler: Handler | None = None, thread_name: str = "midi-in") -> None:
        self.name = name
        self._times = ArrivalTimes()
        self._port: Any = None  # a mido port, where the backend is not rtmidi
        self._rt: Any = None
        api = rtmidi_api(backend)
        if api is None:
            self._port = resolve_backend(backend).open_input(name, virtual=virtual)
        else:
            self._rt = _open_rtmidi(api, name, virtual)
        self._handler = handler
        self._stop = threading.Event()
        self._problems = RateLimitedLog(_LOGGER)
        self._reader: threading.Thread | None = None
        if handler is not None:
            self._reader = threading.Thread(target=self._read, name=thread_name, daemon=True)
            self._reader.start()

    def pending(self) -> list[tuple[mido.Message, float]]:
        """Every message that arrived since the last call, oldest first, with its arrival time
        (``time.perf_counter`` seconds). Only one thread may call it (the reader, with a handler)."""
        if self._port is not None:
            return [(msg, time.perf_counter()) for msg in self._port.iter_pending()]
        out = []
        while (got := self._rt.get_message()) is not None:
            data, delta = got
            t = self._times.stamp(delta, time.perf_counter())  # the skipped ones' time counts too
            try:
                out.append((mido.Message.from_bytes(data), t))
            except ValueError:
                _LOGGER.debug("MIDI input %r: skipped bytes that are no MIDI message: %s", self.name, data[:8])
        return out

    def _read(self) -> None:
        heard = time.perf_counter()
        while not self._stop.is_set():
            batch = self.pending()
            for msg, t in batch:
                try:
                    self._handler(msg, t)  # type: ignore[misc]
                except Exception as exc:  # the handler's own bug: the next message is still read
                    self._problems.report("handler", f"MIDI input {self.name!r}: a message could not be handled: {exc!r}")
            if batch:
                heard = batch[-1][1]
            else:
                time.sleep(POLL_S if time.perf_counter() - heard < QUIET_S else IDLE_POLL_S)

    def close(self) -> None:
        """Stop the reader (after the message it handles) and close the port; safe to call twice."""
        self._stop.set()
        reader, self._reader = self._reader, None
        if reader is not None and reader is not threading.current_thread():
            reader.join(JOIN_S)
            if reader.is_alive():  # a handler stuck: closing under its poll could crash rtmidi
                _LOGGER.warning("MIDI input %r: the reader is still busy; its port stays open", self.name)
                return
        rt, self._rt = self._rt, None
        if rt is not None:
            rt.close_port()
            rt.delete()
        port, self._port = self._port, None
        if port is not None:
            port.close()


def _open_rtmidi(api: int, name: str, virtual: bool) -> Any:
    import rtmidi

    rt = rtmidi.MidiIn(rtapi=api, queue_size_limit=QUEUE_SIZE)
    try:
        # What mido's ports pass: sysex and clock (MIDI clock in needs it), not Active Sensing.
        rt.ignore_types(sysex=False, timing=False, active_sense=True)
        if virtual:
            rt.open_virtual_port(name)
        else:
            ports = rt.get_ports()
            if name not in ports:
                raise OSError(f"unknown MIDI input {name!r}; inputs: {ports or 'none'}")
            rt.open_port(ports.index(name))
    except BaseException:
        rt.delete()
        raise
    return rt
