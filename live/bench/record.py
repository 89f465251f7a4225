"""`bench record`: what ``--record`` costs the output's frame rate.

The holding visual (demo pictures through the beat-driven ``pulse`` shader) is drawn offscreen by
the show's renderer through the show's frame driver, once without outputs and once with
``--record`` (asynchronous read-back, the writer thread encoding H.264), in turns, paced at the
display rate (what the show does) and unpaced (as fast as the machine draws).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from live.bench.machine import machine_line
from live.messages import AudioState
from live.show import driver
from live.show.driver import MAX_FPS, RealTimeClock, TeeSink, WindowSink
from live.values import Bounded, parse_size, positive

TARGET = 0.10  # --record may cost the output at most this share of its frame rate


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench record``."""
    parser.add_argument("--seconds", type=positive(float, 600), default=5.0, help="seconds per measured run")
    parser.add_argument("--rounds", type=Bounded(int, 1, 20), default=2, help="runs of each kind, taken in turns")
    parser.add_argument("--size", default="512x512", help="output size WxH")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=60, help="display rate of the paced runs")


def measure(size: str = "512x512", fps: int = 60, seconds: float = 5.0, rounds: int = 2) -> dict[str, Any]:
    """Frame rates without and with --record, paced and unpaced (medians over ``rounds``), with
    the recorder's written and dropped frames and the display thread's read-back time per frame."""
    from live.show.show import HoldingVisual
    from live.visuals.outputs import open_outputs
    from live.visuals.renderer import Renderer

    width, height = parse_size(size)
    renderer = Renderer(width, height, headless=True)
    holding = HoldingVisual(renderer, 1.0 / fps)
    state = AudioState(bpm=120.0)
    runs: dict[str, list[float]] = {}
    recorded = {"written": 0, "dropped": 0, "skipped": 0, "capture_ms": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(rounds):
                for paced in (True, False):
                    for record in (False, True):
                        outputs = open_outputs(renderer, record=str(Path(tmp) / f"{n}.mp4"), fps=fps) if record else None
                        sink = TeeSink(WindowSink(renderer), outputs) if outputs else WindowSink(renderer)
                        done = driver.run(holding.tick, RealTimeClock(fps, paced=paced, seconds=seconds), sink,
                                          lambda t: state)
                        runs.setdefault(f"{'paced' if paced else 'unpaced'} {'record' if record else 'off'}", []).append(done.fps)
                        if outputs is not None:
                            outputs.close()
                            recorder = outputs.outputs[0]
                            recorded["written"] += recorder.sent
                            recorded["dropped"] += recorder.dropped
                            recorded["skipped"] += recorder.skipped
                            recorded["capture_ms"].append(1000 * outputs.capture_s / max(outputs.frames, 1))
    finally:
        renderer.close()
    fps_of = {kind: statistics.median(values) for kind, values in runs.items()}
    return {"fps": fps_of, "written": recorded["written"], "dropped": recorded["dropped"],
            "skipped": recorded["skipped"],
            "capture_ms": statistics.median(recorded["capture_ms"]),
            "cost": {pace: 1 - fps_of[f"{pace} record"] / fps_of[f"{pace} off"] for pace in ("paced", "unpaced")}}


def run(args: argparse.Namespace) -> int:
    """Measure and print the figures with the machine and settings; 1 if the paced cost is over 10%."""
    result = measure(args.size, args.fps, args.seconds, args.rounds)
    f, cost = result["fps"], result["cost"]
    print(f"{machine_line()}, GL offscreen (EGL)")
    print(f"settings: holding visual (pulse shader), {args.size}, {args.rounds} x {args.seconds:g} s per kind, "
          "H.264 ultrafast CRF 20 on a writer thread (nice +5)")
    print(f"paced at {args.fps} fps: {f['paced off']:.1f} fps without, {f['paced record']:.1f} fps with --record "
          f"(cost {100 * cost['paced']:.1f}%, target <= {100 * TARGET:.0f}%)")
    print(f"unpaced: {f['unpaced off']:.1f} fps without, {f['unpaced record']:.1f} fps with --record "
          f"(cost {100 * cost['unpaced']:.1f}%)")
    total = result["written"] + result["dropped"]
    print(f"recorder: {result['written']} frames written, {result['dropped']} dropped "
          f"({100 * result['dropped'] / max(total, 1):.1f}%), {result['skipped']} skipped (unpaced frames "
          f"beyond {args.fps} a second); read-back {result['capture_ms']:.2f} ms a frame on the display thread")
    return 0 if cost["paced"] <= TARGET else 1
