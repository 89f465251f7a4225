"""OSC push feedback: the show's state sent to subscribed controllers as it changes.

A TouchOSC or Open Stage Control layout sends ``/subscribe [port]`` once; from then on the
:class:`Feedback` thread watches the show's status snapshots (the same immutable dicts
``/status`` answers from, read through a callable, never the show's own objects) and sends each
change to every subscriber as ``/status/KEY value`` (the ``/status`` reply's form), plus
``/beat i`` (1..4, the beat of the bar) on each beat and ``/downbeat i`` (the beat count) on
each bar.

Each subscriber gets at most :data:`RATE` messages in any second. What it cannot get yet waits,
one message per address, the newest value replacing an older one (a beat may be dropped, a
preset name is never stale). At most :data:`MAX_SUBSCRIBERS` are kept (the oldest is dropped
and logged), :data:`MAX_PER_HOST` of them from one address (its own oldest goes first); one
whose socket errors (the controller went away: ICMP port unreachable comes back on its
connected socket) is dropped. All sending happens on this module's own thread.

A ``/subscribe`` is 16 bytes and a new subscriber's whole state some 600, so subscribing is
bounded as a reply is: :data:`NEW_PER_HOST_PER_S` new subscriptions a second from one address
and :data:`STATES_PER_S` whole-state sends a second from all together (a few more at once); a
``/subscribe`` past either is refused in the log (send it again) and costs no bytes out. Under a
flood of ``/subscribe`` from ever new ports the show sends less than it receives (``bench osc``).
"""

from __future__ import annotations

import collections
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from live.control.service import StoppableThread
from live.handoff import CommandQueue
from live.ratelog import KeyedBuckets, RateLimitedLog, TokenBucket

_LOGGER = logging.getLogger(__name__)

RATE = 30  # messages per second to each subscriber, at most
MAX_SUBSCRIBERS = 8
MAX_PER_HOST = 4  # subscribers from one address: one host's churn cannot push the others out
NEW_PER_HOST_PER_S = 1.0  # new subscriptions a second from one address, after a burst of NEW_BURST
NEW_BURST = 4
STATES_PER_S = 2.0  # whole-state sends a second to new subscribers, all addresses, after STATES_BURST
STATES_BURST = 8
POLL_S = 0.004  # how often the thread looks at the status and its queues
# The status keys pushed when they change (keys a show does not have are skipped); counters that
# change every snapshot (fps, confidence, osc_received...) are for /status, not for pushing.
PUSHED = ("preset", "section", "queued", "queued_section", "bpm", "tempo_source", "blackout", "freeze", "fade",
          "layer", "clip", "recording", "autopilot", "av_offset_ms", "calibrate", "learning", "flash_limit",
          "flash_limiting", "holding", "failover", "decoder", "track", "track_speed", "track_bar", "track_phrase",
          "plan", "plan_section")
ROUND = {"bpm": 1, "track_speed": 2}  # decimals a pushed value keeps: a BPM that wobbles in the 2nd decimal is not a change


@dataclass(frozen=True)
class Subscription:
    """A ``/subscribe`` (``on``) or ``/unsubscribe`` request from the OSC thread for ``address``."""

    address: tuple[str, int]
    on: bool = True


@dataclass
class _Subscriber:
    address: tuple[str, int]
    sock: socket.socket
    sent: collections.deque = field(default_factory=collections.deque)  # send times in the last second
    pending: dict = field(default_factory=dict)  # address -> datagram, oldest change first


class Feedback:
    """The push thread: ``status`` returns the newest status dict; ``encode`` turns one
    ``(address, value)`` into a datagram (the OSC module's builder). Subscriptions arrive through
    :meth:`request` (any thread) on a bounded queue."""

    def __init__(self, status: Callable[[], dict], encode: Callable[[str, Any], bytes], *, rate: int = RATE,
                 max_subscribers: int = MAX_SUBSCRIBERS) -> None:
        self._status, self._encode = status, encode
        self.rate, self.max_subscribers = int(rate), int(max_subscribers)
        self._requests: CommandQueue[Subscription] = CommandQueue(64)
        self._subscribers: dict[tuple[str, int], _Subscriber] = {}  # only the feedback thread touches it
        self._last: dict[str, Any] = {}
        self._last_beat: int | None = None
        self._runner = StoppableThread(self._run, "osc-feedback", join_s=2.0)
        self._stop = self._runner.stopping  # what the thread watches
        self._log = RateLimitedLog(_LOGGER)
        self._notes = RateLimitedLog(_LOGGER, level=logging.INFO, noun="event(s)")  # subscribers added
        self._new = KeyedBuckets(NEW_PER_HOST_PER_S, NEW_BURST)  # new subscriptions per sending address
        self._states = TokenBucket(STATES_PER_S, STATES_BURST)  # whole-state sends, all addresses
        self.sent = 0  # datagrams sent, all subscribers (an int: read for tests and the bench)
        self.subscribers = 0  # how many now (an int, written by the thread)

    def request(self, sub: Subscription) -> None:
        """Ask for a subscription change; never blocks (a flood of them is dropped by the queue)."""
        self._requests.put(sub)

    def start(self) -> None:
        """Start the push thread."""
        self._runner.start()

    def stop(self) -> None:
        """Stop the thread and close every subscriber's socket; safe to call twice."""
        self._runner.stop()
        for sub in list(self._subscribers.values()):
            sub.sock.close()
        self._subscribers.clear()
        self._log.flush()
        self._notes.flush()

    # ----- the feedback thread

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.step(time.monotonic())
            except Exception:  # never let the feedback thread die: log, go on
                self._log.report("step", "OSC feedback failed; going on", exc_info=True)

    def step(self, now: float) -> None:
        """One round: subscription changes, the status's changes queued, what the rate allows sent."""
        for sub in self._requests.drain():
            self._subscribe(sub, now) if sub.on else self._unsubscribe(sub.address, "unsubscribed")
        if not self._subscribers:
            self._last_beat = None
            return
        changes = self._changes()
        for sub in list(self._subscribers.values()):
            for address, dgram in changes:
                sub.pending.pop(address, None)  # the newest value goes to the back of the line
                sub.pending[address] = dgram
            self._send(sub, now)
        self.subscribers = len(self._subscribers)

    def _changes(self) -> list[tuple[str, bytes]]:
        status = self._status()
        out = []
        for key in PUSHED:
            if key not in status:
                continue
            value = status[key]
            if key in ROUND and isinstance(value, float):
                value = round(value, ROUND[key])
            if self._last.get(key, object()) != value:
                self._last[key] = value
                out.append(self._status_message(key, value))
        beat = status.get("beat")
        if isinstance(beat, int) and beat != self._last_beat:
            self._last_beat = beat
            bar_beat = int(status.get("bar_beat", beat % 4 + 1))
            out.append(("/beat", self._encode("/beat", bar_beat)))
            if bar_beat == 1:
                out.append(("/downbeat", self._encode("/downbeat", beat)))
        return out

    def _status_message(self, key: str, value: Any) -> tuple[str, bytes]:
        """``(address, datagram)`` of the pushed ``/status/KEY value``."""
        address = f"/status/{key}"
        return address, self._encode(address, value)

    def _send(self, sub: _Subscriber, now: float) -> None:
        while sub.sent and now - sub.sent[0] >= 1.0:
            sub.sent.popleft()
        while sub.pending and len(sub.sent) < self.rate:
            address = next(iter(sub.pending))
            dgram = sub.pending.pop(address)
            try:
                sub.sock.send(dgram)
            except BlockingIOError:  # the socket's buffer is full: try again next round
                sub.pending[address] = dgram
                return
            except OSError as exc:
                self._unsubscribe(sub.address, f"dropped: {exc.strerror or exc}")
                return
            sub.sent.append(now)
            self.sent += 1

    def _subscribe(self, sub: Subscription, now: float) -> None:
        if sub.address in self._subscribers:
            return  # subscribed already: sending /subscribe again costs nothing
        host = sub.address[0]
        if not self._new.take(host, now):
            self._log.report(f"new:{host}", f"OSC /subscribe from {host} refused: more than {NEW_PER_HOST_PER_S:g} new "
                                            "subscription(s) a second from one address")
            return
        if not self._states.take(now):
            self._log.report("states", f"OSC /subscribe from {host} refused: more than {STATES_PER_S:g} new "
                                       "subscribers a second from all addresses; send it again")
            return
        mine = [a for a in self._subscribers if a[0] == host]
        if len(mine) >= MAX_PER_HOST:
            self._unsubscribe(mine[0], f"dropped: more than {MAX_PER_HOST} subscribers from {host}, its oldest goes")
        while len(self._subscribers) >= self.max_subscribers:
            oldest = next(iter(self._subscribers))
            self._unsubscribe(oldest, f"dropped: more than {self.max_subscribers} subscribers, oldest goes")
        try:
            sock = socket.socket(socket.AF_INET6 if ":" in sub.address[0] else socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(sub.address)  # connected: a controller that went away errors on the next send
        except OSError as exc:
            self._log.report("subscribe", f"OSC subscriber {sub.address} refused: {exc}")
            return
        # The new subscriber alone gets the whole state first (as last pushed: this round's
        # changes follow it); the others are not sent it again.
        self._subscribers[sub.address] = _Subscriber(
            sub.address, sock, pending=dict(self._status_message(key, value) for key, value in self._last.items()))
        self._notes.report(f"added:{host}", f"OSC subscriber {host}:{sub.address[1]} added "
                                            f"({len(self._subscribers)} now)")

    def _unsubscribe(self, address: tuple[str, int], why: str) -> None:
        sub = self._subscribers.pop(address, None)
        if sub is not None:
            sub.sock.close()
            self._log.report(f"unsub:{why[:20]}", f"OSC subscriber {address[0]}:{address[1]} {why}")
        self.subscribers = len(self._subscribers)
