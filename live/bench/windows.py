"""`bench windows`: what the operator window costs the output's frame rate.

The output is drawn offscreen as fast as it goes (the demo's pictures through the demo preset's
shader chain, beat-driven uniforms), through the show's frame driver, once without and once with
the operator view (preview and HUD, offscreen too), alternating for ``--rounds`` rounds. Each
frame waits for the GL to finish, as a display's vsync would, so the figure is the real drawing
cost and not queued work. Prints the median frames/s and CPU time per frame (every thread of the
process: llvmpipe draws on the CPU) of each, and the CPU time of an operator frame on its own.
The verdict is that operator frame's share of an output frame (it is drawn every
:data:`~live.visuals.windows.OPERATOR_EVERY` frames): CPU time, which other processes on a shared
machine disturb far less than fps, measured apart, which the side-by-side runs' noise does not blur.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

from live.bench.machine import machine_line
from live.library.demo import demo_images
from live.messages import AudioState
from live.show import driver
from live.show.driver import RealTimeClock, WindowSink
from live.values import Bounded, parse_size, positive

SHADERS = ["kaleido", "pulse", "rgbshift"]  # the demo preset's chain
TARGET_COST = 0.10  # the operator window may cost the output at most this share of its frame rate


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench windows``."""
    parser.add_argument("--size", default="512x512", help="output size WxH")
    parser.add_argument("--seconds", type=positive(float, 600), default=3.0, help="seconds per measurement")
    parser.add_argument("--rounds", type=Bounded(int, 1, 20), default=3, help="rounds, each without then with")


class _FinishedSink:
    """Presents through ``inner``, then waits for the GL to finish the frame (a display's pace)."""

    closed = False

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def present(self) -> None:
        """Present, then glFinish."""
        from pyglet import gl

        self.inner.present()
        gl.glFinish()


def measure(width: int, height: int, seconds: float, rounds: int) -> dict[str, list[float]]:
    """Frames/s of the output without and with the operator view, per round."""
    from live.show.show import shader_uniforms  # torch and GL only when it measures: --help stays quick
    from live.visuals.renderer import Renderer
    from live.visuals.windows import StageWindows
    from live.visuals.worker import Frame

    renderer = Renderer(width, height, headless=True, aspect="fit")
    images = [Frame(img, 0.0, i, 0.0) for i, img in enumerate(demo_images(512, 512, 4))]
    renderer.set_shaders(SHADERS)
    base = AudioState(bpm=128.0, tempo=128.0, confidence=0.9, tempo_source="audio", silent=False)

    def state_at(t: float) -> AudioState:
        return replace(base, time=t, low=0.5 + 0.5 * (t % 0.5), mid=0.4, high=0.3, level=0.6, onset_env=t % 1.0)

    def tick(t: float, state: AudioState) -> None:
        k = int(t * 2)
        renderer.update_frames(images[k % 4], images[(k + 1) % 4])
        renderer.draw(t, (t * 2) % 1.0, shader_uniforms(state, t))

    names = [f"preset{i}" for i in range(8)]
    thumbs = {n: img.rgb[::4, ::4].copy() for n, img in zip(names, images * 2)}
    status = {"preset": names[0], "fps": 60.0, "decoder": "approx", "decode_fps": 30.0, "latency_ms": 12.0,
              "queued": names[1], "queued_unit": "phrase", "due_beats": 6.0, "due_s": 2.8,
              "last_message": "osc: /preset ('preset1',)", "chain": "kaleido segments=6 | pulse amount=0.5 | rgbshift",
              "preset_list": names, "thumbnails": thumbs}  # the full operator view: strip, countdown, chain
    windows = StageWindows(renderer, operator="", hud_source=lambda: (state_at(time.perf_counter()), {
        **status, "last_message_at": time.perf_counter() - 2.0, "due_at": time.perf_counter() + 2.8}),
        key_help=["B  blackout"])
    out: dict[str, list[float]] = {"without": [], "with": [], "cpu without": [], "cpu with": [], "cpu operator": []}
    try:
        for _ in range(rounds):
            for label, sink in (("without", WindowSink(renderer)), ("with", WindowSink(windows))):
                cpu = time.process_time()
                done = driver.run(tick, RealTimeClock(1000, paced=False, seconds=seconds), _FinishedSink(sink), state_at)
                out[label].append(done.fps)
                out[f"cpu {label}"].append((time.process_time() - cpu) / max(done.frames, 1) * 1000)
            out["cpu operator"].append(_operator_frame_ms(windows))
    finally:
        windows.close()
        renderer.close()
    return out


def _operator_frame_ms(windows: object, frames: int = 30) -> float:
    """CPU ms of one operator view frame on its own (preview, HUD, flip, finished)."""
    from pyglet import gl

    cpu = time.process_time()
    for k in range(frames):
        windows.draw_operator(k / 30.0, restore=False)
        windows.operator.window.flip()
        gl.glFinish()
    windows.renderer.window.switch_to()
    return (time.process_time() - cpu) / frames * 1000


def run(args: argparse.Namespace) -> int:
    """Measure and print; exit 1 if the operator view costs more than :data:`TARGET_COST`."""
    from live.visuals.windows import OPERATOR_EVERY, OPERATOR_FPS, OPERATOR_SIZE

    width, height = parse_size(args.size)
    result = measure(width, height, args.seconds, args.rounds)
    med = {k: statistics.median(v) for k, v in result.items()}
    fps_cost = 1.0 - med["with"] / med["without"] if med["without"] > 0 else 0.0
    cost = med["cpu with"] / med["cpu without"] - 1.0 if med["cpu without"] > 0 else 0.0
    print(f"{machine_line()}, GL offscreen (EGL)")
    print(f"settings: output {args.size}, demo chain ({', '.join(SHADERS)}), operator view "
          f"{'x'.join(map(str, OPERATOR_SIZE))} at most {OPERATOR_FPS:g} fps and every {OPERATOR_EVERY} frames, "
          f"{args.rounds} rounds of {args.seconds:g} s, each frame finished (glFinish)")
    for label in ("without", "with"):
        print(f"output {label + ' operator:':<18} fps " + ", ".join(f"{v:.1f}" for v in result[label])
              + f" (median {med[label]:.1f}); CPU ms/frame " + ", ".join(f"{v:.1f}" for v in result[f"cpu {label}"])
              + f" (median {med[f'cpu {label}']:.1f})")
    share = med["cpu operator"] / OPERATOR_EVERY / med["cpu without"] if med["cpu without"] > 0 else 0.0
    print(f"operator frame alone: CPU ms " + ", ".join(f"{v:.1f}" for v in result["cpu operator"])
          + f" (median {med['cpu operator']:.1f}); drawn every {OPERATOR_EVERY} output frames: {share * 100:.1f}% "
          "of an output frame's CPU time")
    verdict = "ok" if share <= TARGET_COST else "over the target"
    print(f"side by side: {cost * 100:.1f}% more CPU time per output frame, {fps_cost * 100:.1f}% fewer fps")
    print(f"operator cost: {share * 100:.1f}% of the output's frame time (target <= {TARGET_COST * 100:.0f}%: {verdict})")
    return 0 if share <= TARGET_COST else 1

