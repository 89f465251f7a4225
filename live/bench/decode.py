"""`bench decode`: how fast each decoder turns latents into frames, and whether the show keeps up.

For each decoder and size it measures, on this machine:

- **bare fps**: ``decoder.decode`` in a tight loop on one thread (latents in, uint8 RGB on the host out);
- **pipeline fps**: the same decoder behind the live path: traversal on the main thread, the
  latest-wins :class:`~live.visuals.worker.DecodeWorker` thread, host copy, frame handoff. The producer
  keeps exactly one request waiting (it prepares the next latent while the worker decodes), so
  this is the pipeline's throughput, and ``efficiency = pipeline / bare``. The two alternate in
  ``--rounds`` interleaved rounds (order alternating too) and the efficiency is the median of
  the per-round ratios, reported with the rounds and their spread, because on a shared 2-core
  machine the background load moves either figure by 20% within seconds;
- **show loop**: the show's display loop at ``--display-fps``, run by the show's frame driver
  (:mod:`live.show.driver`, real-time clock) through the show's own
  :class:`~live.visuals.renderer.Renderer` offscreen (pyglet/EGL: a texture upload when a frame
  arrives, the blend and the ``pulse`` post shader every tick), requesting each tick for
  ``now + latency + one frame`` like ``Show.tick``: display-loop fps, frame latency p50/p99
  (request to frame ready) and the decode rate under show conditions. ``--no-display`` runs the
  same loop without GL.

``slow`` is the approx decoder padded with sleep to ``--slow-fps`` (1 by default): the
structural check that a decoder far slower than the display never slows the display loop.
Without weights on disk, ``tiny`` and ``vae`` are randomly initialised models of the real
architectures (TAESD, Stable Diffusion's VAE): the cost is the same, the pictures are noise.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import queue
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import numpy as np
import torch

# The flags and settings are declared in decode_settings (light, for --help); configure is kept here too.
from live.bench.decode_settings import BENCH_KINDS, BenchError, DecodeBenchSettings, configure  # noqa: F401
from live.bench.flags import check_folder
from live.bench.machine import machine_info
from live.bench.models import make_random_decoder
from live.device import pick_device
from live.messages import AudioState
from live.show import driver
from live.show.driver import NullSink, RealTimeClock, WindowSink
from live.visuals.decoders import Decoder, make_decoder
from live.visuals.traversal import Traversal
from live.visuals.worker import DecodeWorker

_LOGGER = logging.getLogger(__name__)


DISPLAY_NOTE = "offscreen pyglet/EGL through the frame driver and live.visuals.renderer (blend, pulse shader)"


# ----- pieces the bench (and the tests) share ------------------------------------------------


class ThrottledDecoder(Decoder):
    """Wraps a decoder and pads every decode with sleep to at least ``1 / fps`` seconds.

    The sleep releases the GIL and the CPU, like a GPU decode does, so it stands for a decoder
    that is slow without stealing the display loop's CPU.
    """

    def __init__(self, inner: Decoder, fps: float = 1.0) -> None:
        if not fps > 0:
            raise BenchError(f"--slow-fps {fps}: must be more than 0")
        self.inner = inner
        self.period = 1.0 / fps
        self.name = f"slow({inner.name}, {fps:g} fps)"
        for attr in ("latent_channels", "family", "device", "dtype", "scaling_factor", "channels_last", "cpu_threads"):
            setattr(self, attr, getattr(inner, attr))

    def _decode_unit(self, z: torch.Tensor) -> torch.Tensor:
        return self.inner._decode_unit(z)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """The inner decoder's frame, delivered no sooner than one period after the call."""
        start = time.perf_counter()
        rgb = self.inner.decode(latents)
        left = self.period - (time.perf_counter() - start)
        if left > 0:
            time.sleep(left)
        return rgb


def parse_size(text: str) -> tuple[int, int]:
    """'512x512' -> (512, 512); both sides must be multiples of 8 (one latent cell is 8x8 pixels)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise BenchError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 512x512 or 768x432") from None
    if w < 8 or h < 8 or w % 8 or h % 8 or w > 4096 or h > 4096:
        raise BenchError(f"--size {text}: width and height must be multiples of 8 from 8 to 4096")
    return w, h


def bench_keyframes(latent_shape: tuple[int, int, int], count: int = 4, seed: int = 0,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """``count`` seeded Gaussian latents (C, h, w), the statistics of diffusion-space SD latents."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn((count, *latent_shape), generator=gen).to(device)


def synthetic_state(t: float, bpm: float = 128.0, start: float = 0.0) -> AudioState:
    """A steady 4/4 clock from ``start``: kick-like onset envelope on every beat, a moderate level."""
    beats = max(0.0, (t - start) * bpm / 60.0)
    index, phase = int(beats), beats % 1.0
    onset = math.exp(-8.0 * phase)
    return AudioState(time=t, bpm=bpm, beat_phase=phase, beat_index=index, downbeat=index % 4, onset_env=onset,
                      low=onset, mid=0.4, high=0.3, level=0.6, confidence=1.0, tempo_source="bench", silent=False)


@dataclass
class LoopStats:
    """What a display loop did: ticks drawn, fps, decoded frames seen and their latencies."""

    seconds: float = 0.0
    ticks: int = 0
    target_fps: float = 60.0
    worst_tick_s: float = 0.0  # longest tick, work only (no sleep)
    frames_seen: int = 0
    latencies: list[float] = field(default_factory=list)
    drawn: bool = False
    note: str = ""

    @property
    def fps(self) -> float:
        """Ticks per second."""
        return self.ticks / self.seconds if self.seconds > 0 else 0.0


def display_loop(worker: DecodeWorker, traversal: Traversal, *, width: int, height: int, seconds: float,
                 fps: float = 60.0, draw: bool = True, min_frames: int = 0, max_seconds: float | None = None,
                 state_at: Callable[[float], AudioState] | None = None) -> LoopStats:
    """Run the show's display loop against a started ``worker`` for ``seconds``, through the frame driver.

    Each tick: latent for ``now + latency + one frame``, request (never waits), take the two
    newest frames, and with ``draw`` upload, blend and draw them through the show's Renderer
    with the pulse post shader, presented offscreen. Runs on longer, up to ``max_seconds``,
    until ``min_frames`` new frames came.
    """
    stats = LoopStats(target_fps=fps)
    renderer = _open_renderer(width, height, stats) if draw else None
    tick = _WorkerTick(worker, traversal, renderer, 1.0 / fps, stats)
    clock = RealTimeClock(fps, seconds=max(seconds, max_seconds if max_seconds is not None else seconds))
    start = time.perf_counter()

    def after_frame(t: float, frames: int) -> None:
        stats.worst_tick_s = max(stats.worst_tick_s, time.perf_counter() - t)  # work only, before the sleep

    def enough() -> bool:
        return time.perf_counter() - start >= seconds and stats.frames_seen >= min_frames

    try:
        done = driver.run(tick, clock, WindowSink(renderer) if renderer is not None else NullSink(),
                          state_at or synthetic_state, after_frame=after_frame, until=enough)
    finally:
        if renderer is not None:
            renderer.close()
    stats.ticks, stats.seconds = done.frames, done.seconds
    return stats


def _open_renderer(width: int, height: int, stats: LoopStats) -> Any:
    """The show's Renderer, offscreen, with the pulse post shader; None (and a note) without GL."""
    from live.visuals.renderer import Renderer

    try:
        renderer = Renderer(width, height, headless=True)
    except Exception as exc:  # noqa: BLE001 - no GL here: still measure the loop, and say so
        stats.note = f"no offscreen GL ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]}); loop ran without drawing"
        _LOGGER.warning("%s", stats.note)
        return None
    renderer.set_shaders(["pulse"])
    stats.drawn = True
    return renderer


class _WorkerTick:
    """The show's tick over a bare traversal and decode worker (the bench's own keyframes, no
    preset): request the latent for the moment the frame will be seen, note each new frame's
    latency, draw the two newest frames blended, with the show's uniforms."""

    def __init__(self, worker: DecodeWorker, traversal: Traversal, renderer: Any, period: float,
                 stats: LoopStats) -> None:
        self.worker, self.traversal, self.renderer = worker, traversal, renderer
        self.period, self.stats = period, stats
        self.last_seq = -1

    def __call__(self, now: float, state: AudioState) -> None:
        from live.show.show import frame_mix, shader_uniforms  # the show's own blend and uniforms

        display_time = now + self.worker.latency + self.period
        self.worker.request(self.traversal.latent_at(state, display_time), display_time)
        older, newer = self.worker.frames()
        if newer is not None and newer.seq != self.last_seq:
            self.last_seq = newer.seq
            self.stats.frames_seen += 1
            self.stats.latencies.append(newer.latency_s)
        if self.renderer is not None:
            self.renderer.update_frames(older, newer)
            self.renderer.draw(now, frame_mix(older, newer, now), shader_uniforms(state, now))


class BareRunner:
    """A persistent thread that runs ``decoder.decode`` in a tight loop on request: the bare side
    of the benchmark, under the same conditions as the decode worker's thread.

    Like the worker it sets the decoder's thread count explicitly (a new thread otherwise starts
    from whatever count another thread last set) and it is not Python's main thread (on the
    2-core test machine the same decode ran 1.5 to 3 times slower there, with 1.5 to 3 times
    the user CPU time: measured, cause not found). It is started, and warmed by one untimed
    decode, once, so each round measures decodes only, as the pipeline's rate does.
    """

    def __init__(self, decoder: Decoder, warm: torch.Tensor | None = None) -> None:
        self.decoder = decoder
        self._jobs: queue.Queue[tuple[list[torch.Tensor], float, int] | None] = queue.Queue()
        self._results: queue.Queue[tuple[float, int] | BaseException] = queue.Queue()
        self._warm = warm
        self._thread = threading.Thread(target=self._run, name="bench-bare", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        threads = self.decoder.decode_threads
        if threads:
            torch.set_num_threads(threads)  # as DecodeWorker._loop does
        if self._warm is not None:
            try:
                self.decoder.decode(self._warm)
            except BaseException as exc:  # noqa: BLE001 - reported by the first measure()
                self._results.put(exc)
        while (job := self._jobs.get()) is not None:
            try:
                self._results.put(_bare_loop(self.decoder, *job))
            except BaseException as exc:  # noqa: BLE001 - re-raised on the calling thread
                self._results.put(exc)

    def measure(self, latents: list[torch.Tensor], seconds: float, min_frames: int) -> tuple[float, int]:
        """Decodes per second in a tight loop for at least ``seconds`` and ``min_frames``: (fps, frames)."""
        if not self._results.empty():
            got = self._results.get()
            if isinstance(got, BaseException):
                raise got
        self._jobs.put((latents, seconds, min_frames))
        got = self._results.get()
        if isinstance(got, BaseException):
            raise got
        return got

    def stop(self) -> None:
        """Let the thread finish."""
        self._jobs.put(None)
        self._thread.join(timeout=600)


def measure_bare(decoder: Decoder, latents: list[torch.Tensor], seconds: float, min_frames: int) -> tuple[float, int]:
    """Decodes per second in a tight loop on a fresh thread set up like the worker's: (fps, frames).

    One untimed decode comes first (a new thread's first decode pays for its thread pool and
    allocator arenas). ``bench decode`` itself keeps one :class:`BareRunner` across its rounds.
    """
    runner = BareRunner(decoder, warm=latents[-1])
    try:
        return runner.measure(latents, seconds, min_frames)
    finally:
        runner.stop()


def _bare_loop(decoder: Decoder, latents: list[torch.Tensor], seconds: float, min_frames: int) -> tuple[float, int]:
    n = 0
    start = time.perf_counter()
    while True:
        decoder.decode(latents[n % len(latents)])
        n += 1
        elapsed = time.perf_counter() - start
        if n >= min_frames and elapsed >= seconds:
            return n / elapsed, n


def measure_pipeline(worker: DecodeWorker, traversal: Traversal, seconds: float, min_frames: int,
                     frame_period: float = 1 / 60) -> tuple[float, int]:
    """Frames per second through traversal, a started worker and the frame handoff: (fps, frames).

    The producer prepares the next request while the worker decodes the current one, so the
    worker never waits for work; the rate is taken between frame publication times.
    """
    t0 = time.perf_counter()
    ready: list[tuple[int, float]] = []
    worker.wait_idle(timeout=600)
    worker.wait_picked(timeout=0)  # forget a pick from an earlier run
    previous = worker.frames()[1]
    first_seq = previous.seq if previous is not None else 0  # frames up to this one are not ours

    def submit() -> None:
        now = time.perf_counter()
        display_time = now + worker.latency + frame_period
        worker.request(traversal.latent_at(synthetic_state(now, start=t0), display_time), display_time)

    submit()
    while True:
        if not worker.wait_picked(timeout=120.0):
            raise BenchError("decode worker took no request for 120 s; is the decoder stuck?")
        submit()  # the next request waits while the current one decodes
        newest = worker.frames()[1]
        if newest is not None and newest.seq > first_seq and (not ready or newest.seq != ready[-1][0]):
            ready.append((newest.seq, newest.ready))
        if len(ready) >= min_frames + 1 and ready[-1][1] - ready[0][1] >= seconds:
            break
    (s0, r0), (s1, r1) = ready[0], ready[-1]
    return (s1 - s0) / (r1 - r0), s1 - s0


def _percentile_ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000.0, 1) if values else None


# ----- one decoder at one size ----------------------------------------------------------------


@dataclass
class BenchResult:
    """The figures for one decoder at one size (JSON: one object in ``results``)."""

    decoder: str
    size: str
    weights: str
    setup: str
    bare_fps: float  # median over the rounds
    bare_frames: int  # all rounds together
    pipeline_fps: float  # median over the rounds
    pipeline_frames: int
    efficiency: float  # median of the per-round pipeline/bare ratios
    rounds: int
    efficiency_min: float  # spread of the per-round ratios
    efficiency_max: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_frames: int
    display_fps: float | None
    display_target_fps: float
    display_worst_tick_ms: float | None
    show_decode_fps: float
    display_note: str = ""


def build_decoder(kind: str, settings: DecodeBenchSettings) -> tuple[Decoder, str]:
    """The decoder for ``kind`` and a description of its weights."""
    common = dict(family=settings.family, device=settings.device, dtype=settings.dtype, compile=settings.compile,
                  cuda_graph=settings.cuda_graph, channels_last=settings.channels_last)
    if kind == "approx":
        return make_decoder("approx", family=settings.family, device=settings.device), "none (linear latent-to-RGB map)"
    if kind == "slow":
        inner = make_decoder("approx", family=settings.family, device=settings.device)
        return ThrottledDecoder(inner, settings.slow_fps), f"none (approx padded with sleep to {settings.slow_fps:g} fps)"
    folder = settings.vae_model if kind == "vae" else settings.tiny_model
    if folder:
        return make_decoder(kind, folder, **common), f"{folder}"
    arch = "Stable Diffusion VAE (AutoencoderKL)" if kind == "vae" else "TAESD (AutoencoderTiny)"
    return make_random_decoder(kind, **common), f"random init, real {arch} architecture (no weights given)"


def bench_one(kind: str, size: tuple[int, int], settings: DecodeBenchSettings,
              log: Callable[[str], None] = lambda msg: None) -> BenchResult:
    """Measure one decoder at one size: bare, pipeline, show loop; ``log`` hears the progress."""
    width, height = size
    decoder, weights = build_decoder(kind, settings)
    shape = (decoder.latent_channels, height // 8, width // 8)
    keyframes = bench_keyframes(shape, device=decoder.device)
    log(f"{kind} {width}x{height}: {decoder.describe()}; warming up")
    decoder.warmup((1, *shape), runs=settings.warmup)
    traversal = Traversal(keyframes, beats_per_keyframe=4, kick=0.3, energy=0.5, seed=1)
    state = synthetic_state(0.0)
    latents = [traversal.latent_at(state, 0.37 * i) for i in range(8)]
    # Bare and pipeline alternate, round by round and in alternating order, and the efficiency
    # is the median of the per-round ratios: on a shared 2-core machine the load changes within
    # seconds (the same measurement swung by +-20% between rounds), and a ratio of two
    # measurements taken back to back cancels most of that, where two sums did not.
    bare_fps: list[float] = []
    pipe_fps: list[float] = []
    bare_n = pipe_n = 0
    worker = DecodeWorker(decoder).start()
    runner = BareRunner(decoder, warm=latents[-1])
    try:
        # Warm the worker's thread too (its pool and arenas), so round 1 measures decodes only.
        worker.request(latents[-1], 0.0)
        worker.wait_idle(timeout=600)
        for r in range(settings.rounds):
            order = ("bare", "pipeline") if r % 2 == 0 else ("pipeline", "bare")
            for what in order:
                if what == "bare":
                    fps, n = runner.measure(latents, settings.seconds, settings.min_frames)
                    bare_fps.append(fps)
                    bare_n += n
                else:
                    fps, n = measure_pipeline(worker, traversal, settings.seconds, settings.min_frames, 1.0 / settings.display_fps)
                    worker.wait_idle(timeout=600)  # the next bare run must have the machine to itself
                    pipe_fps.append(fps)
                    pipe_n += n
            log(f"{kind} {width}x{height}: round {r + 1}/{settings.rounds}: bare {bare_fps[-1]:.2f} fps, pipeline "
                f"{pipe_fps[-1]:.2f} fps, ratio {pipe_fps[-1] / bare_fps[-1]:.3f}")
    finally:
        worker.stop(timeout=600)
        runner.stop()
    ratios = [p / b for b, p in zip(bare_fps, pipe_fps) if b > 0]
    # A fresh worker for the show loop, so its latency EWMA starts from show conditions.
    worker = DecodeWorker(decoder).start()
    try:
        decoded_before = worker.decoded
        loop = display_loop(worker, traversal, width=width, height=height, seconds=settings.seconds,
                            fps=settings.display_fps, draw=not settings.no_display, min_frames=2,
                            max_seconds=settings.max_show_seconds)
        show_decode_fps = (worker.decoded - decoded_before) / loop.seconds if loop.seconds > 0 else 0.0
    finally:
        worker.stop(timeout=600)
    return BenchResult(
        decoder=kind, size=f"{width}x{height}", weights=weights, setup=decoder.describe(),
        bare_fps=round(statistics.median(bare_fps), 3), bare_frames=bare_n,
        pipeline_fps=round(statistics.median(pipe_fps), 3), pipeline_frames=pipe_n,
        efficiency=round(statistics.median(ratios), 3) if ratios else 0.0,
        rounds=len(ratios), efficiency_min=round(min(ratios), 3) if ratios else 0.0,
        efficiency_max=round(max(ratios), 3) if ratios else 0.0,
        latency_p50_ms=_percentile_ms(loop.latencies, 50), latency_p99_ms=_percentile_ms(loop.latencies, 99),
        latency_frames=len(loop.latencies),
        display_fps=round(loop.fps, 2), display_target_fps=settings.display_fps,
        display_worst_tick_ms=round(loop.worst_tick_s * 1000.0, 1),
        show_decode_fps=round(show_decode_fps, 3),
        display_note=loop.note or (DISPLAY_NOTE if loop.drawn else "not drawn (--no-display)"),
    )


# ----- command line ---------------------------------------------------------------------------


def _split(values: list[str] | None, default: list[str]) -> list[str]:
    if not values:
        return default
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def run(args: argparse.Namespace) -> int:
    """Run the decode benchmark and print the table (or JSON)."""
    kinds = _split(args.decoder, list(BENCH_KINDS))
    for kind in kinds:
        if kind not in BENCH_KINDS:
            raise BenchError(f"--decoder {kind!r} is not known; choose from {', '.join(BENCH_KINDS)}")
    sizes = [parse_size(s) for s in _split(args.size, ["256x256", "512x512"])]
    for flag, folder in (("--vae-model", args.vae_model), ("--tiny-model", args.tiny_model)):
        if folder:  # checked when given, even when its decoder is not measured this run: a typo is a typo
            check_folder(flag, folder)
    settings = DecodeBenchSettings(**{f.name: getattr(args, f.name) for f in fields(DecodeBenchSettings)})
    device = pick_device(settings.device)
    machine = machine_info()
    shown = {
        "device": str(device),
        "dtype": settings.dtype or ("fp32" if device.type == "cpu" else "fp16 (bf16 for sdxl vae)"),
        "compile": settings.compile, "cuda_graph": settings.cuda_graph, "family": settings.family,
        "channels_last": "auto" if settings.channels_last is None else settings.channels_last,
        "seconds": settings.seconds, "min_frames": settings.min_frames, "rounds": settings.rounds,
        "warmup": settings.warmup, "display_fps_target": settings.display_fps,
        "display": "none" if settings.no_display else "show", "slow_fps": settings.slow_fps,
    }

    def log(msg: str) -> None:
        print(f"[bench decode] {msg}", file=sys.stderr, flush=True)

    results = []
    for kind in kinds:
        for size in sizes:
            results.append(bench_one(kind, size, settings, log))
    machine["load_avg_1min_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    if args.json:
        print(json.dumps({"machine": machine, "settings": shown, "results": [asdict(r) for r in results]}, indent=2))
    else:
        print(format_table(machine, shown, results))
    return 0


def format_table(machine: dict[str, Any], settings: dict[str, Any], results: list[BenchResult]) -> str:
    """The human-readable report: machine, settings, one row per decoder and size, then notes."""
    lines = [
        f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['os']}, torch {machine['torch']} "
        f"({machine['torch_threads']} threads), GPU: {machine['gpu'] or 'none'}, "
        f"load avg {machine['load_avg_1min']} -> {machine.get('load_avg_1min_end')}",
        "settings: " + ", ".join(f"{k} {v}" for k, v in settings.items()),
        "",
        f"{'decoder':<8} {'size':>9} {'bare fps':>9} {'pipe fps':>9} {'effic.':>7} {'rounds (min..max)':>18} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'display fps':>11} {'worst tick':>10} {'show dec fps':>12}",
    ]

    def num(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    for r in results:
        lines.append(
            f"{r.decoder:<8} {r.size:>9} {r.bare_fps:>9.2f} {r.pipeline_fps:>9.2f} {r.efficiency:>7.3f} "
            f"{f'{r.rounds} ({r.efficiency_min:.2f}..{r.efficiency_max:.2f})':>18} "
            f"{num(r.latency_p50_ms, '.1f'):>8} {num(r.latency_p99_ms, '.1f'):>8} "
            f"{num(r.display_fps, '.1f'):>6}/{r.display_target_fps:<4g} {num(r.display_worst_tick_ms, '.1f'):>8}ms "
            f"{r.show_decode_fps:>12.2f}"
        )
    lines.append("")
    for r in results:
        lines.append(f"{r.decoder} {r.size}: {r.setup}; weights: {r.weights}; display: {r.display_note}; "
                     f"latency from {r.latency_frames} frames")
    lines.append("bare = decode() in a tight loop; pipe = traversal + worker thread + host copy + handoff "
                 "(both: medians over interleaved rounds); effic. = median of the per-round pipe/bare ratios, "
                 "with their number and spread; p50/p99 = request-to-frame latency in the show loop; worst tick = "
                 "longest display-loop tick (work only); show dec fps = frames decoded during the show loop.")
    return "\n".join(lines)
