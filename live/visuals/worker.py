"""The decode worker: one decoder on its own thread that never makes the projector wait.

:class:`DecodeWorker` runs one decoder behind a latest-wins request slot: the show asks for the
latent of ``now + latency + one frame``, any request not yet started is replaced by a newer one,
and the two newest frames are published together as an immutable pair, each stamped with the
display time it was made for, so the renderer can blend by time.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from live.handoff import LatestSlot
from live.visuals.decoders import Decoder

_LOGGER = logging.getLogger(__name__)


SWITCH_INTERVAL = 0.0005  # seconds; see DecodeWorker.start


# ----- the worker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One decoded picture: ``rgb`` (H, W, 3) uint8, read-only; made for ``display_time``
    (perf_counter seconds); ``seq`` counts decoded frames; ``decode_s`` is the decode alone."""

    rgb: np.ndarray
    display_time: float
    seq: int
    decode_s: float
    latency_s: float = 0.0  # request to frame ready
    ready: float = 0.0  # perf_counter when the frame was published


@dataclass(frozen=True)
class _Request:
    latent: torch.Tensor
    display_time: float
    requested: float


class DecodeWorker:
    """Runs a :class:`Decoder` on its own thread behind a latest-wins request slot.

    :meth:`request` never blocks and replaces any request the worker has not started, so there
    is never a backlog: at most one request waits and at most one is being decoded. The two
    newest frames are published together as an immutable pair (:meth:`frames`). A decode that
    raises is logged and counted and the worker carries on; the last good frames stay.
    """

    EWMA = 0.2  # weight of the newest latency sample

    def __init__(self, decoder: Decoder, *, follows: "DecodeWorker | None" = None) -> None:
        """``follows``: a worker this one replaces (watchdog restart, failover); its two newest
        frames stay on screen and frame numbers carry on from its own, so the renderer never
        mistakes a new frame for one it already holds."""
        self.decoder = decoder
        self._requests: LatestSlot[_Request] = LatestSlot()
        self._frames: LatestSlot[tuple[Frame | None, Frame | None]] = LatestSlot(
            follows.frames() if follows is not None else (None, None))
        self._picked = threading.Event()  # set each time the worker takes a request
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._saved_switch: float | None = None  # the interval start() lowered, restored by stop()
        self._latency = 0.0
        self._decode_s = 0.0
        self._seq = follows._seq if follows is not None else 0
        self._busy = False  # written by the worker thread only
        self._busy_since: float | None = None  # perf_counter when the current decode began (worker thread)
        self._requested = 0  # written by the producer thread only
        self._taken = 0  # written by the worker thread only
        self.decoded = 0
        self.errors = 0
        self.last_error = ""

    # ----- control --------------------------------------------------------------------------

    def start(self) -> "DecodeWorker":
        """Start the worker thread (idempotent); returns self."""
        if self._thread is None or not self._thread.is_alive():
            # The worker shares the GIL with the display loop. At CPython's default 5 ms switch
            # interval the display thread waited up to 5 ms for the GIL on every GL call it made
            # while a decode ran Python code; 0.5 ms halved the display tick's median cost.
            # The process's own interval comes back in stop().
            if sys.getswitchinterval() > SWITCH_INTERVAL:
                self._saved_switch = sys.getswitchinterval()
                sys.setswitchinterval(SWITCH_INTERVAL)
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name=f"decode-{self.decoder.name}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish its current decode and exit; waits up to ``timeout`` seconds."""
        self._stop.set()  # the loop's take() times out every 0.1 s and sees it
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                _LOGGER.warning("decode worker still busy after %.1f s; leaving it to finish (daemon)", timeout)
            else:
                self._thread = None
        if self._saved_switch is not None:
            if abs(sys.getswitchinterval() - SWITCH_INTERVAL) < 1e-7:  # nobody changed it meanwhile
                sys.setswitchinterval(self._saved_switch)
            self._saved_switch = None

    def __enter__(self) -> "DecodeWorker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- producer side ----------------------------------------------------------------------

    def request(self, latent: torch.Tensor, display_time: float) -> None:
        """Ask for ``latent`` (1, C, h, w) to be decoded for ``display_time``; replaces any pending
        request. Never blocks. The tensor must not be modified afterwards."""
        self._requested += 1
        self._requests.put(_Request(latent, float(display_time), time.perf_counter()))

    @property
    def pending(self) -> bool:
        """True while a request waits that the worker has not started yet."""
        return self._requests.get() is not None

    @property
    def dropped(self) -> int:
        """Requests replaced before the worker started them (stale, never decoded)."""
        return max(0, self._requested - self._taken - (1 if self.pending else 0))

    def wait_picked(self, timeout: float | None = None) -> bool:
        """Block until the worker takes a request (True) or ``timeout`` passes (False).

        Lets a benchmark keep exactly one request ready without polling."""
        got = self._picked.wait(timeout)
        self._picked.clear()
        return got

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until no request is pending or decoding (True), or ``timeout`` passes (False).

        For benchmarks and shutdown. Idle is seen twice 20 ms apart, because a request taken
        from the slot is marked busy a few bytecodes later."""
        end = time.perf_counter() + timeout
        seen_idle = 0
        while seen_idle < 2:
            if time.perf_counter() > end:
                return False
            if self.pending or self._busy:
                seen_idle = 0
                time.sleep(0.002)
            else:
                seen_idle += 1
                if seen_idle < 2:
                    time.sleep(0.02)
        return True

    # ----- consumer side ----------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Request-to-frame latency, EWMA seconds (0 before the first frame). Request for
        ``now + latency + one frame`` so frames arrive for the moment they are shown."""
        return self._latency

    @property
    def decode_time(self) -> float:
        """Decode duration alone, EWMA seconds."""
        return self._decode_s

    def frames(self) -> tuple[Frame | None, Frame | None]:
        """The two newest frames (older, newer); either may be None early on. Never blocks long."""
        return self._frames.get() or (None, None)

    @property
    def alive(self) -> bool:
        """True while the worker thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def busy_for(self, now: float) -> float:
        """Seconds the decode in progress has run at ``now`` (0 when idle): the stall watchdog's measure."""
        since = self._busy_since
        return 0.0 if since is None else max(0.0, now - since)

    # ----- thread -----------------------------------------------------------------------------

    def _loop(self) -> None:
        threads = self.decoder.decode_threads
        if threads:
            # Always explicit: a new thread otherwise starts from whatever count another thread
            # last set (torch keeps one process-wide value), e.g. 1 after an approx worker ran.
            # OpenMP's count is per thread after that, so the display loop's thread keeps its own.
            torch.set_num_threads(threads)
        while not self._stop.is_set():
            req = self._requests.take(timeout=0.1)
            if req is None:
                continue
            self._taken += 1
            self._busy = True
            self._busy_since = time.perf_counter()
            self._picked.set()
            try:
                self.process(req)
            finally:
                self._busy = False
                self._busy_since = None

    def process(self, req: _Request) -> Frame | None:
        """Decode one request and publish the frame (worker thread; also usable synchronously)."""
        start = time.perf_counter()
        try:
            rgb = self.decoder.decode(req.latent)[0]
        except Exception as exc:  # noqa: BLE001 - the show must survive a failed decode
            self.errors += 1
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            if self.errors == 1 or self.errors % 100 == 0:
                _LOGGER.exception("decode failed (%d so far); keeping the last frame", self.errors)
            time.sleep(0.01)  # a decoder failing at once must not spin a core
            return None
        done = time.perf_counter()
        rgb.flags.writeable = False  # frames are shared read-only with the renderer
        decode_s = done - start
        latency = done - req.requested
        a = self.EWMA if self.decoded else 1.0
        self._decode_s += a * (decode_s - self._decode_s)
        self._latency += a * (latency - self._latency)
        self._seq += 1
        self.decoded += 1
        frame = Frame(rgb, req.display_time, self._seq, decode_s, latency, done)
        older = self.frames()[1]
        self._frames.put((older, frame))
        return frame

    def decode_now(self, latent: torch.Tensor, display_time: float) -> Frame | None:
        """Synchronous decode on the caller's thread (offline render); same bookkeeping as the worker."""
        return self.process(_Request(latent, float(display_time), time.perf_counter()))
