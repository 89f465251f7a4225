"""`bench gpu`: every GPU figure in one prepared command, for whoever gets GPU time.

It runs the other benchmarks as separate processes, each under its own time limit inside one
overall budget (8 minutes by default), so one slow ``torch.compile`` or a crashed CUDA graph
capture costs its own row and never the whole run, and each variant starts with a clean CUDA
context. In order of importance:

1. ``bench decode``: ``tiny`` (TAESD) and ``vae`` (SD VAE), randomly initialised at real size,
   at 512x512 and 768x432 in fp16: bare ``decode()`` fps, pipeline fps and efficiency, latency
   and display-loop fps through the real frame driver and renderer;
2. ``bench bank --scale sd15``: precompute keyframes/s on a real-size random SD 1.5 pipeline;
3. the decode figures again with CUDA graphs, then with ``torch.compile``.

It writes one JSON file (``--out``) and prints a table. Without CUDA it says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from live import paths
from live.bench.flags import check_output_file, write_json
from live.bench.machine import machine_info
from live.errors import UserError

_LOGGER = logging.getLogger(__name__)

DECODE_ARGS = ["--decoder", "tiny,vae", "--size", "512x512,768x432", "--dtype", "fp16", "--rounds", "3",
               "--seconds", "1.5", "--json"]


@dataclass(frozen=True)
class Step:
    """One benchmark process: its name, its ``run_live.py`` arguments, its share of the budget."""

    name: str
    argv: tuple[str, ...]
    share: float  # fraction of the whole budget this step may use at most


def gpu_steps(device: str = "cuda", bank_json: str = "bank.json") -> list[Step]:
    """The suite, most important first. ``device`` is only changed by the tests (CPU smoke run)."""
    decode = ["bench", "decode", "--device", device, *DECODE_ARGS]
    return [
        Step("decode", tuple(decode), 0.25),
        Step("precompute", ("bench", "bank", "--scale", "sd15", "--device", device, "--presets", "10",
                            "--precompute-keyframes", "8", "--json", bank_json), 0.25),
        Step("decode_cuda_graph", (*decode, "--cuda-graph"), 0.2),
        Step("decode_compile", (*decode, "--compile"), 0.3),
    ]
from live.values import Bounded


def run_step(step: Step, timeout: float, workdir: Path) -> dict[str, Any]:
    """Run one step as a child process; its JSON figures, or why there are none."""
    started = time.perf_counter()
    cmd = [sys.executable, str(paths.ROOT / "run_live.py"), *step.argv]
    try:
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timed out", "limit_s": round(timeout, 1)}
    seconds = round(time.perf_counter() - started, 1)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"status": f"failed (exit {proc.returncode})", "seconds": seconds, "error": " | ".join(tail)}
    if step.name == "precompute":
        figures = json.loads((workdir / step.argv[step.argv.index("--json") + 1]).read_text())
    else:
        figures = json.loads(proc.stdout)
    return {"status": "ok", "seconds": seconds, **figures}


def run_suite(budget_s: float = 480.0, device: str = "cuda", log=print) -> dict[str, Any]:
    """Every step inside ``budget_s`` seconds; a step gets its share, plus whatever earlier ones left."""
    deadline = time.perf_counter() + budget_s
    report: dict[str, Any] = {"machine": machine_info(), "budget_s": budget_s, "steps": {}}
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        steps = gpu_steps(device)
        for i, step in enumerate(steps):
            left = deadline - time.perf_counter()
            later = sum(s.share for s in steps[i + 1:]) * budget_s
            limit = max(0.0, min(left, max(step.share * budget_s, left - later)))
            if limit < 20:
                report["steps"][step.name] = {"status": "skipped: out of time"}
                continue
            log(f"[bench gpu] {step.name}: run_live.py {' '.join(step.argv)} (limit {limit:.0f} s)")
            report["steps"][step.name] = run_step(step, limit, Path(tmp))
            log(f"[bench gpu] {step.name}: {report['steps'][step.name]['status']}")
    return report


def format_report(report: dict[str, Any]) -> str:
    """The table: one row per decode variant, decoder and size, then the precompute figure."""
    m = report["machine"]
    lines = [f"machine: {m['gpu'] or 'no GPU'}, {m['cpu']}, {m['cores']} cores, torch {m['torch']}, "
             f"python {m['python']}",
             f"{'variant':<18} {'decoder':<7} {'size':>8} {'bare fps':>9} {'pipe fps':>9} {'effic.':>7} "
             f"{'p50 ms':>7} {'p99 ms':>7} {'display fps':>11}"]
    for name, step in report["steps"].items():
        if name == "precompute":
            continue
        if step.get("status") != "ok":
            lines.append(f"{name:<18} {step.get('status')} {step.get('error', '')}".rstrip())
            continue
        for r in step["results"]:
            lines.append(f"{name:<18} {r['decoder']:<7} {r['size']:>8} {r['bare_fps']:>9.1f} {r['pipeline_fps']:>9.1f} "
                         f"{r['efficiency']:>7.3f} {_num(r['latency_p50_ms']):>7} {_num(r['latency_p99_ms']):>7} "
                         f"{_num(r['display_fps']):>6}/{r['display_target_fps']:g}")
    pre = report["steps"].get("precompute", {})
    if pre.get("status") == "ok" and "precompute" in pre:
        tp = pre["precompute"]
        lines.append(f"precompute: {tp['keyframes_per_s']:.2f} keyframes/s ({tp['scale']} random pipeline, "
                     f"{tp['device']}, {tp['size']}, {tp['steps']} steps, batch {tp['batch_size']})")
    else:
        status = "not measured" if pre.get("status") == "ok" else pre.get("status", "not run")
        lines.append(f"precompute: {status} {pre.get('error', '')}".rstrip())
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench gpu``."""
    parser.add_argument("--out", default="out/bench-gpu.json", help="where to write the JSON figures")
    parser.add_argument("--budget", type=Bounded(float, 60, 3600), default=480.0, help="seconds for the whole suite (8 minutes)")


def run(args: argparse.Namespace) -> int:
    """Run the GPU suite; exit 2 in one line where there is no CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        print("error: bench gpu needs a CUDA GPU, and torch sees none here; run `bench decode` for CPU figures",
              file=sys.stderr)
        return 2
    if args.budget < 60:
        raise UserError(f"--budget {args.budget:g}: give the suite at least 60 seconds")
    check_output_file("--out", args.out)
    report = run_suite(args.budget, log=lambda msg: print(msg, file=sys.stderr, flush=True))
    out = write_json("--out", args.out, report)
    print(format_report(report))
    print(f"figures written to {out}")
    return 0
