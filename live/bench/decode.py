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
- **show loop**: the show's display loop at ``--display-fps`` (offscreen pyglet window through
  the show's own :class:`~live.visuals.renderer.Renderer`, a texture upload when a frame arrives, the
  blend and a post shader every tick), requesting each tick for ``now + latency + one frame``
  like ``Show.tick``: display-loop fps, frame latency p50/p99 (request to frame ready) and the
  decode rate under show conditions.

``slow`` is the approx decoder padded with sleep to ``--slow-fps`` (1 by default): the
structural check that a decoder far slower than the display never slows the display loop.
Without weights on disk, ``tiny`` and ``vae`` are randomly initialised models of the real
architectures (TAESD, Stable Diffusion's VAE): the cost is the same, the pictures are noise.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import math
import os
import queue
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from live.bench.machine import machine_info
from live.bench.models import make_random_decoder
from live.device import DTYPES, pick_device
from live.errors import UserError
from live.messages import AudioState
from live.visuals.decoders import Decoder, make_decoder
from live.visuals.traversal import Traversal
from live.visuals.worker import DecodeWorker, Frame

_LOGGER = logging.getLogger(__name__)


BENCH_KINDS = ("approx", "slow", "tiny", "vae")
DISPLAY_NOTES = {
    "quad": "offscreen pyglet/EGL window, texture upload per new frame, one blended quad + glFinish per tick",
    "show": "offscreen pyglet/EGL through live.visuals.renderer (blend, pulse shader, blit)",
}


class BenchError(UserError):
    """A bench setting that cannot be used."""


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


QUAD_VERTEX = """#version 330 core
in vec2 position;
out vec2 v_uv;
void main() {
    v_uv = vec2(position.x * 0.5 + 0.5, 0.5 - position.y * 0.5);  // frames come top row first
    gl_Position = vec4(position, 0.0, 1.0);
}
"""
QUAD_FRAGMENT = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_older;
uniform sampler2D u_newer;
uniform float u_mix;
void main() { f_color = vec4(mix(texture(u_older, v_uv).rgb, texture(u_newer, v_uv).rgb, u_mix), 1.0); }
"""


class QuadDisplay:
    """The smallest honest display: an offscreen pyglet window (EGL), two frame textures, one
    blended quad per tick, finished (glFinish) so the GL work is paid inside the tick."""

    def __init__(self, width: int, height: int) -> None:
        import pyglet

        pyglet.options["headless"] = True
        import pyglet.window  # noqa: F401  (after the headless option)
        from pyglet import gl
        from pyglet.graphics.shader import Shader, ShaderProgram

        self.gl = gl
        self.width, self.height = width, height
        # Ask for 8 bits a channel: EGL's default pbuffer config here was 16-bit (565).
        config = gl.Config(double_buffer=True, major_version=3, minor_version=3,
                           red_size=8, green_size=8, blue_size=8, alpha_size=8)
        self.window = pyglet.window.Window(width, height, visible=False, config=config)
        self.window.switch_to()
        self.program = ShaderProgram(Shader(QUAD_VERTEX, "vertex"), Shader(QUAD_FRAGMENT, "fragment"))
        self.quad = self.program.vertex_list(4, gl.GL_TRIANGLE_STRIP, position=("f", (-1, -1, 1, -1, -1, 1, 1, 1)))
        self.textures = [self._texture(), self._texture()]
        self.seqs = [-1, -2]  # the frame seq each texture holds
        self.uploads = 0

    def _texture(self) -> int:
        gl = self.gl
        tex = gl.GLuint()
        gl.glGenTextures(1, ctypes.byref(tex))
        gl.glBindTexture(gl.GL_TEXTURE_2D, tex.value)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MIN_FILTER, gl.GL_LINEAR)
        gl.glTexParameteri(gl.GL_TEXTURE_2D, gl.GL_TEXTURE_MAG_FILTER, gl.GL_LINEAR)
        gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, gl.GL_RGB8, self.width, self.height, 0, gl.GL_RGB,
                        gl.GL_UNSIGNED_BYTE, None)
        return tex.value

    def update_frames(self, older: Frame | None, newer: Frame | None) -> None:
        """Bind the two newest frames, uploading only a frame no texture holds yet: when a new
        frame arrives the old "newer" becomes "older" by swapping textures, not re-uploading."""
        gl = self.gl
        wanted = [older, newer]
        holding = dict(zip(self.seqs, self.textures))
        keep = {f.seq for f in wanted if f is not None}
        free = [tex for seq, tex in zip(self.seqs, self.textures) if seq not in keep]
        textures, seqs = [], []
        for slot, frame in enumerate(wanted):
            if frame is not None and frame.seq in holding:
                textures.append(holding[frame.seq])
                seqs.append(frame.seq)
                continue
            tex = free.pop(0) if free else self.textures[slot]
            seq = self.seqs[self.textures.index(tex)]
            rgb = np.ascontiguousarray(frame.rgb) if frame is not None else None
            if rgb is not None and rgb.shape[:2] == (self.height, self.width):
                gl.glBindTexture(gl.GL_TEXTURE_2D, tex)
                gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
                gl.glTexSubImage2D(gl.GL_TEXTURE_2D, 0, 0, 0, self.width, self.height, gl.GL_RGB,
                                   gl.GL_UNSIGNED_BYTE, rgb.ctypes.data)
                seq = frame.seq
                self.uploads += 1
            textures.append(tex)
            seqs.append(seq)
        self.textures, self.seqs = textures, seqs

    def draw(self, now: float, mix: float, uniforms: dict[str, float]) -> None:
        """Draw the blended quad and wait for GL to finish it."""
        gl = self.gl
        self.window.switch_to()
        gl.glViewport(0, 0, self.width, self.height)
        self.program.use()
        for unit, (name, tex) in enumerate((("u_older", self.textures[0]), ("u_newer", self.textures[1]))):
            gl.glActiveTexture(gl.GL_TEXTURE0 + unit)
            gl.glBindTexture(gl.GL_TEXTURE_2D, tex)
            self.program[name] = unit
        self.program["u_mix"] = float(mix)
        self.quad.draw(gl.GL_TRIANGLE_STRIP)
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glFinish()

    def flip(self) -> None:
        """Present (a pbuffer swap offscreen)."""
        self.window.flip()

    def close(self) -> None:
        """Free the window and its context."""
        self.window.close()


def make_display(kind: str, width: int, height: int) -> Any:
    """``quad``: :class:`QuadDisplay`; ``show``: the show's Renderer with the pulse post shader."""
    if kind == "quad":
        return QuadDisplay(width, height)
    from live.visuals.renderer import Renderer

    renderer = Renderer(width, height, headless=True)
    renderer.set_shaders(["pulse"])
    return renderer


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
                 state_at: Callable[[float], AudioState] | None = None, display: str = "quad") -> LoopStats:
    """Run the show's display loop against a started ``worker`` for ``seconds``.

    Each tick: latent for ``now + latency + one frame``, request (never waits), take the two
    newest frames, and with ``draw`` upload, blend and present them offscreen (``display``:
    "quad", one blended quad, or "show", the show's Renderer with a post shader). Runs on
    longer, up to ``max_seconds``, until ``min_frames`` new frames came.
    """
    from live.show.show import frame_mix, shader_uniforms  # the show's own blend and uniforms

    state_at = state_at or synthetic_state
    stats = LoopStats(target_fps=fps)
    renderer = None
    if draw:
        try:
            renderer = make_display(display, width, height)
            stats.drawn = True
        except Exception as exc:  # noqa: BLE001 - no GL here: still measure the loop, and say so
            stats.note = f"no offscreen GL ({exc.__class__.__name__}: {str(exc).splitlines()[0][:120]}); loop ran without drawing"
            _LOGGER.warning("%s", stats.note)
    period = 1.0 / fps
    max_seconds = max(seconds, max_seconds if max_seconds is not None else seconds)
    last_seq = -1
    start = time.perf_counter()
    next_tick = start
    try:
        while True:
            now = time.perf_counter()
            elapsed = now - start
            if elapsed >= seconds and (stats.frames_seen >= min_frames or elapsed >= max_seconds):
                break
            display_time = now + worker.latency + period
            state = state_at(now)
            worker.request(traversal.latent_at(state, display_time), display_time)
            older, newer = worker.frames()
            if newer is not None and newer.seq != last_seq:
                last_seq = newer.seq
                stats.frames_seen += 1
                stats.latencies.append(newer.latency_s)
            if renderer is not None:
                renderer.update_frames(older, newer)
                renderer.draw(now, frame_mix(older, newer, now), shader_uniforms(state, now))
                renderer.flip()
            stats.ticks += 1
            stats.worst_tick_s = max(stats.worst_tick_s, time.perf_counter() - now)
            next_tick += period
            pause = next_tick - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            elif pause < -period:
                next_tick = time.perf_counter()  # fell behind: don't burst to catch up
    finally:
        stats.seconds = time.perf_counter() - start
        if renderer is not None:
            renderer.close()
    return stats


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


def build_decoder(kind: str, args: argparse.Namespace) -> tuple[Decoder, str]:
    """The decoder for ``kind`` and a description of its weights."""
    common = dict(family=args.family, device=args.device, dtype=args.dtype, compile=args.compile,
                  cuda_graph=args.cuda_graph, channels_last=args.channels_last)
    if kind == "approx":
        return make_decoder("approx", family=args.family, device=args.device), "none (linear latent-to-RGB map)"
    if kind == "slow":
        inner = make_decoder("approx", family=args.family, device=args.device)
        return ThrottledDecoder(inner, args.slow_fps), f"none (approx padded with sleep to {args.slow_fps:g} fps)"
    folder = args.vae_model if kind == "vae" else args.tiny_model
    if folder:
        return make_decoder(kind, folder, **common), f"{folder}"
    arch = "Stable Diffusion VAE (AutoencoderKL)" if kind == "vae" else "TAESD (AutoencoderTiny)"
    return make_random_decoder(kind, **common), f"random init, real {arch} architecture (no weights given)"


def bench_one(kind: str, size: tuple[int, int], args: argparse.Namespace, log: Callable[[str], None]) -> BenchResult:
    """Measure one decoder at one size: bare, pipeline, show loop."""
    width, height = size
    decoder, weights = build_decoder(kind, args)
    shape = (decoder.latent_channels, height // 8, width // 8)
    keyframes = bench_keyframes(shape, device=decoder.device)
    log(f"{kind} {width}x{height}: {decoder.describe()}; warming up")
    decoder.warmup((1, *shape), runs=args.warmup)
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
        for r in range(args.rounds):
            order = ("bare", "pipeline") if r % 2 == 0 else ("pipeline", "bare")
            for what in order:
                if what == "bare":
                    fps, n = runner.measure(latents, args.seconds, args.min_frames)
                    bare_fps.append(fps)
                    bare_n += n
                else:
                    fps, n = measure_pipeline(worker, traversal, args.seconds, args.min_frames, 1.0 / args.display_fps)
                    worker.wait_idle(timeout=600)  # the next bare run must have the machine to itself
                    pipe_fps.append(fps)
                    pipe_n += n
            log(f"{kind} {width}x{height}: round {r + 1}/{args.rounds}: bare {bare_fps[-1]:.2f} fps, pipeline "
                f"{pipe_fps[-1]:.2f} fps, ratio {pipe_fps[-1] / bare_fps[-1]:.3f}")
    finally:
        worker.stop(timeout=600)
        runner.stop()
    ratios = [p / b for b, p in zip(bare_fps, pipe_fps) if b > 0]
    # A fresh worker for the show loop, so its latency EWMA starts from show conditions.
    worker = DecodeWorker(decoder).start()
    try:
        decoded_before = worker.decoded
        loop = display_loop(worker, traversal, width=width, height=height, seconds=args.seconds,
                            fps=args.display_fps, draw=not args.no_display, min_frames=2,
                            max_seconds=args.max_show_seconds, display=args.display)
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
        display_fps=round(loop.fps, 2), display_target_fps=args.display_fps,
        display_worst_tick_ms=round(loop.worst_tick_s * 1000.0, 1),
        show_decode_fps=round(show_decode_fps, 3),
        display_note=loop.note or (DISPLAY_NOTES[args.display] if loop.drawn else "not drawn (--no-display)"),
    )


# ----- command line ---------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench decode``."""
    parser.add_argument("--decoder", action="append", default=None, metavar="KIND[,KIND]",
                        help=f"decoder(s) to measure, from {', '.join(BENCH_KINDS)}; repeat or comma-separate "
                             "[all four when not given]")
    parser.add_argument("--size", action="append", default=None, metavar="WxH[,WxH]",
                        help="frame size(s), multiples of 8; repeat or comma-separate [256x256,512x512 when not given]")
    parser.add_argument("--vae-model", default=None, metavar="PATH",
                        help="model folder (with vae/) or VAE folder for --decoder vae [a random real-size SD VAE "
                             "when not given]")
    parser.add_argument("--tiny-model", default=None, metavar="PATH",
                        help="TAESD folder for --decoder tiny [a random real-size TAESD when not given]")
    parser.add_argument("--family", default="sd1", choices=["sd1", "sdxl"], help="latent family")
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default=None, choices=sorted(DTYPES),
                        help="decode precision [fp16 on GPU (bf16 for the SDXL VAE), fp32 on CPU when not given]")
    parser.add_argument("--compile", action="store_true", help="torch.compile the tiny/vae decode")
    parser.add_argument("--cuda-graph", action="store_true", help="replay the tiny/vae decode as a CUDA graph")
    parser.add_argument("--channels-last", default=None, type=_on_off, metavar="on|off",
                        help="channels_last memory format for tiny/vae [on for GPU, off for CPU when not given]")
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum seconds per measurement")
    parser.add_argument("--min-frames", type=int, default=2, help="minimum decoded frames per measurement")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved bare/pipeline rounds; efficiency is the median of the per-round ratios")
    parser.add_argument("--warmup", type=int, default=1, help="warm-up decodes before measuring")
    parser.add_argument("--display-fps", type=float, default=60.0, help="display loop target rate")
    parser.add_argument("--max-show-seconds", type=float, default=30.0,
                        help="how long the show loop may run on waiting for 2 frames from a slow decoder")
    parser.add_argument("--slow-fps", type=float, default=1.0, help="rate of the 'slow' decoder")
    parser.add_argument("--display", default="quad", choices=sorted(DISPLAY_NOTES),
                        help="display loop: quad (upload + one blended quad) or show (the show's renderer and shaders)")
    parser.add_argument("--no-display", action="store_true", help="run the show loop without drawing (no GL)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def _on_off(text: str) -> bool:
    if text.lower() in ("on", "1", "true", "yes"):
        return True
    if text.lower() in ("off", "0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: use on or off")


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
    if args.seconds <= 0 or args.min_frames < 1 or args.display_fps <= 0 or args.warmup < 0 or args.rounds < 1:
        raise BenchError("--seconds and --display-fps must be more than 0, --min-frames and --rounds at least 1, "
                         "--warmup 0 or more")
    device = pick_device(args.device)
    machine = machine_info()
    settings = {
        "device": str(device), "dtype": args.dtype or ("fp32" if device.type == "cpu" else "fp16 (bf16 for sdxl vae)"),
        "compile": args.compile, "cuda_graph": args.cuda_graph, "family": args.family,
        "channels_last": "auto" if args.channels_last is None else args.channels_last,
        "seconds": args.seconds, "min_frames": args.min_frames, "rounds": args.rounds, "warmup": args.warmup,
        "display_fps_target": args.display_fps, "display": "none" if args.no_display else args.display,
        "slow_fps": args.slow_fps,
    }

    def log(msg: str) -> None:
        print(f"[bench decode] {msg}", file=sys.stderr, flush=True)

    results = []
    for kind in kinds:
        for size in sizes:
            results.append(bench_one(kind, size, args, log))
    machine["load_avg_1min_end"] = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    if args.json:
        print(json.dumps({"machine": machine, "settings": settings, "results": [asdict(r) for r in results]}, indent=2))
    else:
        print(format_table(machine, settings, results))
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
