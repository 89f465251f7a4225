"""`bench osc`: OSC message arrival to its effect in the output frame, and a flood of valid messages.

The real show (the demo preset, approx decoder, the real Renderer offscreen) runs through the one
frame driver on a real-time clock at 60 fps, with an OscServer on 127.0.0.1 feeding its command
queue, as ``live --headless`` does.

Latency: another thread sends ``/blackout 1`` and ``/blackout 0`` in turn, each at a random
moment (seeded); after every frame the picture is read back, and the first frame that shows the
change (black, or not) ends the measure. Two figures per message: to the frame (the time the
frame is drawn for, the clock's time for it: what a display would show at its next refresh) and
to the pixels read back (drawing and read-back included; llvmpipe's cost, not a GPU's). Target:
p99 to the frame at most one frame (16.7 ms at 60 fps).

Flood: a separate process sends 10,000 valid messages a second (blackout, freeze, bpm, shader
and parameter values: nothing that switches presets) for 10 s. Reported: output fps before,
during and after, the longest command queue seen, what the server read and what it let the
kernel drop, memory before and after. Targets: fps within 10% of before, the queue bounded (its
size is fixed; the figure is how full it got), no error.

Subscribe churn (:func:`subscribe_churn`): ``/subscribe`` 500 times a second, each from the next
of 10 source ports in turn (every one a new subscriber that would get the whole state), for
10 s while the show draws. Reported: the bytes the sender sent and the bytes the show sent back
to those ports (UDP payloads), and the log the show wrote meanwhile (formatted lines, INFO and
up). Targets: bytes out <= bytes in, the log <= 200 KiB in 30 s.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from live import paths
from live.bench.machine import machine_line
from live.handoff import CommandQueue, LatestSlot
from live.messages import AudioState, Command
from live.show import driver
from live.show.driver import RealTimeClock, WindowSink
from live.show.preflight import rss_bytes
from live.values import Bounded, positive

_LOGGER = logging.getLogger(__name__)

FPS = 60
SIZE = 128  # the output's side in pixels: small, so that llvmpipe's draw is not what is measured
MESSAGES = 300  # blackout changes timed
FLOOD_RATE = 10_000  # valid messages per second
FLOOD_S = 10.0
BEFORE_S = 4.0  # fps measured before the flood, and after it
BLACK = 1.0  # mean pixel value at or below which the output is black
CHURN_RATE = 500  # /subscribe a second
CHURN_PORTS = 10  # source ports they rotate over
CHURN_S = 10.0
CHURN_LOG_30S = 200 * 1024  # target: bytes of log in 30 s of churn, at most

# Run as its own process, so that the flood's sending does not share the show's GIL (a controller
# is another machine). It paces itself to RATE messages a second in 10 ms batches.
SENDER = r'''
import socket, sys, time
from pythonosc.osc_message_builder import OscMessageBuilder

def msg(address, *args):
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram

port, rate, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
dgrams = [msg("/blackout", 0), msg("/freeze", 0), msg("/bpm", 120.0), msg("/shader/u_amount", 0.5),
          msg("/param", "motion.kick", 0.2), msg("/nudge", 0.0), msg("/fade", 0, 1.0), msg("/hold", 0)]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print("ready", flush=True)
sys.stdin.readline()
start = time.monotonic()
sent, batch = 0, max(1, int(rate / 100))
while True:
    now = time.monotonic()
    if now - start >= seconds:
        break
    due = int((now - start) * rate) - sent
    for k in range(min(due, batch * 4)):
        try:
            sock.sendto(dgrams[(sent + k) % len(dgrams)], ("127.0.0.1", port))
        except OSError:
            pass
    sent += max(0, min(due, batch * 4))
    time.sleep(0.01)
print(sent, flush=True)
'''


@dataclass
class OscBenchReport:
    """What ``bench osc`` measured."""

    fps: int
    size: int
    to_frame_ms: list[float] = field(default_factory=list)
    to_pixels_ms: list[float] = field(default_factory=list)
    missed: int = 0  # changes never seen within half a second
    fps_before: float = 0.0
    fps_flood: float = 0.0
    fps_after: float = 0.0
    flood_sent: int = 0
    flood_received: int = 0
    flood_paused: int = 0
    queue_max: int = 0
    queue_capacity: int = 0
    queue_dropped: int = 0
    rss_before_mb: float = 0.0
    rss_after_mb: float = 0.0
    errors: int = 0
    churn: "ChurnReport | None" = None

    def p(self, values: list[float], q: float) -> float:
        """Percentile ``q`` of ``values`` (nan when empty)."""
        return float(np.percentile(values, q)) if values else float("nan")


@dataclass
class ChurnReport:
    """What :func:`subscribe_churn` measured: UDP payload bytes each way and log bytes written."""

    seconds: float
    sent: int = 0  # /subscribe datagrams
    bytes_in: int = 0  # what the sender sent the show
    bytes_out: int = 0  # what the show sent back to the sender's ports
    log_bytes: int = 0  # formatted log lines (INFO and up), tracebacks included

    @property
    def log_per_30s(self) -> float:
        """The log's growth scaled to 30 s of churn."""
        return self.log_bytes * 30.0 / self.seconds if self.seconds > 0 else 0.0


class _LogBytes(logging.Handler):
    """Counts the bytes the records it sees would take in a log file."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.bytes = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.bytes += len(self.format(record).encode("utf-8", "replace")) + 1


def subscribe_churn(port: int, rate: float = CHURN_RATE, ports: int = CHURN_PORTS, seconds: float = CHURN_S,
                    tail_s: float = 1.0) -> ChurnReport:
    """Send ``/subscribe`` to the OSC server on 127.0.0.1:``port`` ``rate`` times a second for
    ``seconds``, from ``ports`` source ports in turn, reading everything sent back to them (and
    ``tail_s`` longer, for what was still queued). The log of the ``live`` loggers is counted at
    INFO meanwhile (their level is lowered to INFO for the measure, then restored)."""
    import socket

    from pythonosc.osc_message_builder import OscMessageBuilder

    dgram = OscMessageBuilder(address="/subscribe").build().dgram
    report = ChurnReport(seconds=seconds)
    counter = _LogBytes()
    live_logger = logging.getLogger("live")
    level = live_logger.level
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(ports)]
    logging.getLogger().addHandler(counter)
    live_logger.setLevel(logging.INFO)
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if now - start >= seconds + tail_s:
                break
            if now - start < seconds:
                for _ in range(int((now - start) * rate) - report.sent):
                    try:
                        socks[report.sent % ports].sendto(dgram, ("127.0.0.1", port))
                        report.bytes_in += len(dgram)
                    except OSError:
                        pass
                    report.sent += 1
            for sock in socks:
                while True:
                    try:
                        report.bytes_out += len(sock.recv(65536))
                    except (BlockingIOError, ConnectionRefusedError):
                        break
            time.sleep(0.005)
    finally:
        live_logger.setLevel(level)
        logging.getLogger().removeHandler(counter)
        for sock in socks:
            sock.close()
    report.log_bytes = counter.bytes
    return report


class _Counter(logging.Handler):
    """Counts records at ERROR and above (the show's refusals and failures)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def _show(folder: Path, size: int) -> Any:
    from live.library.bank import open_bank
    from live.show.show import Show, SyncDecode
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer

    presets = folder / "presets"
    presets.mkdir()
    shutil.copy(paths.presets_dir() / "demo.toml", presets / "demo.toml")
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, folder / "keyframes")
    renderer = Renderer(size, size, headless=True, vsync=False)
    return Show(bank, SyncDecode(decoder), renderer, preset="demo", frame_period=1.0 / FPS)


def _state(t: float) -> AudioState:
    return AudioState(time=t, bpm=120.0, beat_index=int(t * 2), beat_phase=(t * 2) % 1.0, tempo_source="manual")


class _Latency:
    """The sender thread and the per-frame check of the latency half."""

    def __init__(self, show: Any, port: int, report: OscBenchReport, messages: int, seed: int) -> None:
        self.show, self.port, self.report, self.messages = show, port, report, messages
        self.rng = np.random.default_rng(seed)
        self.sent: LatestSlot[tuple[int, bool, float]] = LatestSlot()  # (number, to black, perf_counter)
        self.seen: LatestSlot[int] = LatestSlot()  # the number of the last change a frame showed
        self.black = False
        self.done = threading.Event()

    def send(self) -> None:
        """Sender thread: each change at a random moment after the last one was seen."""
        import socket

        from pythonosc.osc_message_builder import OscMessageBuilder

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for n in range(self.messages):
                time.sleep(float(self.rng.uniform(0.02, 0.06)))
                on = n % 2 == 0
                builder = OscMessageBuilder(address="/blackout")
                builder.add_arg(int(on))
                dgram = builder.build().dgram
                self.sent.put((n, on, time.perf_counter()))
                sock.sendto(dgram, ("127.0.0.1", self.port))
                if self.seen.take(timeout=0.5) is None:
                    self.report.missed += 1
        self.done.set()

    def after_frame(self, t: float, frames: int) -> None:
        """Read the picture back; on a change, time it against the send."""
        rgb = self.show.renderer.read_pixels()
        back = time.perf_counter()
        black = float(rgb.mean()) <= BLACK
        if black == self.black:
            return
        self.black = black
        sent = self.sent.get()
        if sent is not None and sent[1] == black:
            self.report.to_frame_ms.append(1000.0 * (t - sent[2]))
            self.report.to_pixels_ms.append(1000.0 * (back - sent[2]))
            self.seen.put(sent[0])


def bench(messages: int = MESSAGES, flood_rate: int = FLOOD_RATE, flood_s: float = FLOOD_S,
          before_s: float = BEFORE_S, seed: int = 0, size: int = SIZE, churn_rate: int = CHURN_RATE,
          churn_s: float = CHURN_S) -> OscBenchReport:
    """Run the three parts on one show; the report (``churn_s`` 0 leaves the churn out)."""
    from live.control.osc import OscServer

    report = OscBenchReport(fps=FPS, size=size)
    errors = _Counter()
    logging.getLogger().addHandler(errors)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-osc-") as tmp:
            show = _show(Path(tmp), size)
            server = OscServer(show.commands, host="127.0.0.1", port=0, status=show.status)
            try:
                server.start()
                _latency_half(show, server.port, report, messages, seed)
                _flood_half(show, server, report, flood_rate, flood_s, before_s)
                if churn_s > 0:
                    report.churn = _churn_part(show, server.port, churn_rate, churn_s)
            finally:
                server.stop()
                show.renderer.close()
    finally:
        logging.getLogger().removeHandler(errors)
    report.errors = errors.count
    return report


def _latency_half(show: Any, port: int, report: OscBenchReport, messages: int, seed: int) -> None:
    latency = _Latency(show, port, report, messages, seed)
    driver.run(show.tick, RealTimeClock(FPS, paced=True, seconds=0.5), WindowSink(show.renderer), _state)  # warm up
    sender = threading.Thread(target=latency.send, name="bench-osc-sender", daemon=True)
    sender.start()
    driver.run(show.tick, RealTimeClock(FPS, paced=True), WindowSink(show.renderer), _state,
               after_frame=latency.after_frame, until=latency.done.is_set)
    sender.join()
    show.commands.put(Command("blackout", (False,)))


def _flood_half(show: Any, server: Any, report: OscBenchReport, rate: int, seconds: float, before_s: float) -> None:
    queue: CommandQueue[Command] = show.commands
    report.queue_capacity = queue.maxsize
    proc = subprocess.Popen([sys.executable, "-c", SENDER, str(server.port), str(rate), str(seconds)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        proc.stdout.readline()  # ready
        frames: list[float] = []

        def after(t: float, n: int) -> None:
            frames.append(time.perf_counter())
            report.queue_max = max(report.queue_max, queue.waiting())

        report.rss_before_mb = rss_bytes() / 1e6
        dropped, received = queue.dropped, server.received
        start = time.perf_counter()
        flood_at = start + before_s
        flood_end = flood_at + seconds

        def go(t: float, n: int) -> None:
            after(t, n)
            if flood_at <= frames[-1] and not proc.stdin.closed:
                proc.stdin.write("go\n")
                proc.stdin.close()

        driver.run(show.tick, RealTimeClock(FPS, paced=True, seconds=before_s + seconds + before_s),
                   WindowSink(show.renderer), _state, after_frame=go)
        report.flood_sent = int(proc.stdout.readline() or 0)
        report.flood_received = server.received - received
        report.queue_dropped = queue.dropped - dropped
        report.flood_paused = server.paused
        report.rss_after_mb = rss_bytes() / 1e6
        stamps = np.array(frames)
        report.fps_before = _rate(stamps, start + 0.5, flood_at)
        report.fps_flood = _rate(stamps, flood_at + 0.5, flood_end)
        report.fps_after = _rate(stamps, flood_end + 0.5, flood_end + before_s)
    finally:
        proc.kill()
        proc.wait()


def _churn_part(show: Any, port: int, rate: int, seconds: float) -> ChurnReport:
    """The show draws while another thread churns ``/subscribe`` at it."""
    out: list[ChurnReport] = []
    churn = threading.Thread(target=lambda: out.append(subscribe_churn(port, rate, CHURN_PORTS, seconds)),
                             name="bench-osc-churn", daemon=True)
    churn.start()
    driver.run(show.tick, RealTimeClock(FPS, paced=True), WindowSink(show.renderer), _state,
               until=lambda: not churn.is_alive())
    churn.join()
    return out[0]


def _rate(stamps: np.ndarray, start: float, end: float) -> float:
    inside = stamps[(stamps >= start) & (stamps < end)]
    return (len(inside) - 1) / (inside[-1] - inside[0]) if len(inside) > 1 else 0.0


def format_report(r: OscBenchReport, flood_rate: int, flood_s: float) -> str:
    """The report as lines with the targets."""
    frame_ms = 1000.0 / r.fps

    def ok(good: bool) -> str:
        return "ok" if good else "MISSED"

    p99 = r.p(r.to_frame_ms, 99)
    within = abs(r.fps_flood - r.fps_before) <= 0.1 * r.fps_before
    return "\n".join([
        f"latency, /blackout arrival to the frame that shows it ({len(r.to_frame_ms)} changes, {r.missed} missed):",
        f"  to the frame:          p50 {r.p(r.to_frame_ms, 50):.1f} ms, p99 {p99:.1f} ms, max "
        f"{max(r.to_frame_ms, default=float('nan')):.1f} ms   target p99 <= {frame_ms:.1f} ms {ok(p99 <= frame_ms)}",
        f"  to the pixels read back: p50 {r.p(r.to_pixels_ms, 50):.1f} ms, p99 {r.p(r.to_pixels_ms, 99):.1f} ms "
        "(draw and read-back on llvmpipe included)",
        f"flood, {flood_rate} valid messages/s for {flood_s:g} s ({r.flood_sent} sent):",
        f"  output fps: before {r.fps_before:.1f}, during {r.fps_flood:.1f}, after {r.fps_after:.1f}   target within "
        f"10% {ok(within)}",
        f"  server read {r.flood_received} ({r.flood_paused} pauses at its CPU share; the kernel dropped the rest)",
        f"  command queue: at most {r.queue_max} of {r.queue_capacity} waiting, {r.queue_dropped} dropped when full "
        f"  target bounded {ok(r.queue_max <= r.queue_capacity)}",
        f"  memory: {r.rss_before_mb:.1f} MB before, {r.rss_after_mb:.1f} MB after",
        *(format_churn(r.churn) if r.churn is not None else []),
        f"errors logged: {r.errors}   target 0 {ok(r.errors == 0)}",
    ])


def churn_ok(c: ChurnReport) -> bool:
    """Both churn targets met: no more bytes out than in, the log within its 30 s budget."""
    return c.bytes_out <= c.bytes_in and c.log_per_30s <= CHURN_LOG_30S


def format_churn(c: ChurnReport) -> list[str]:
    """The churn's lines of the report."""
    ratio = c.bytes_out / c.bytes_in if c.bytes_in else float("nan")
    return [
        f"subscribe churn, {c.sent / c.seconds:.0f} /subscribe a second from {CHURN_PORTS} ports in turn for "
        f"{c.seconds:g} s:",
        f"  bytes in {c.bytes_in / 1024 / c.seconds:.1f} KiB/s, out {c.bytes_out / 1024 / c.seconds:.1f} KiB/s "
        f"({ratio:.2f}x)   target out <= in {'ok' if c.bytes_out <= c.bytes_in else 'MISSED'}",
        f"  log {c.log_bytes / 1024:.1f} KiB, {c.log_per_30s / 1024:.1f} KiB per 30 s   target <= "
        f"{CHURN_LOG_30S // 1024} KiB {'ok' if c.log_per_30s <= CHURN_LOG_30S else 'MISSED'}",
    ]


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench osc``."""
    parser.add_argument("--messages", type=Bounded(int, 2, 100_000), default=MESSAGES, help="blackout changes timed")
    parser.add_argument("--flood-rate", type=Bounded(int, 0, 1_000_000), default=FLOOD_RATE,
                        help="valid OSC messages per second in the flood")
    parser.add_argument("--flood-seconds", type=positive(float, 3600), default=FLOOD_S, help="length of the flood")
    parser.add_argument("--seed", type=Bounded(int, 0, 2**32 - 1), default=0, help="seed of the send moments")
    parser.add_argument("--churn-rate", type=Bounded(int, 1, 100_000), default=CHURN_RATE,
                        help="/subscribe messages per second in the churn, from 10 ports in turn")
    parser.add_argument("--churn-seconds", type=Bounded(float, 0.0, 3600.0), default=CHURN_S,
                        help="length of the subscribe churn (0: left out)")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the report with the machine line; 1 if a target was missed."""
    r = bench(args.messages, args.flood_rate, args.flood_seconds, seed=args.seed, churn_rate=args.churn_rate,
              churn_s=args.churn_seconds)
    print(f"{machine_line()}, GL offscreen (EGL)")
    print(f"settings: demo preset, approx decoder, {r.size}x{r.size} output, real-time clock at {FPS} fps, "
          "OSC on 127.0.0.1")
    print(format_report(r, args.flood_rate, args.flood_seconds))
    missed = (r.p(r.to_frame_ms, 99) > 1000.0 / r.fps or abs(r.fps_flood - r.fps_before) > 0.1 * r.fps_before
              or r.errors or r.missed or (r.churn is not None and not churn_ok(r.churn)))
    return 1 if missed else 0
