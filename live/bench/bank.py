"""`bench bank`: keyframe memory, preset bank load time, and precompute throughput.

Every figure comes from the real code paths: keyframe files are written by
:func:`live.library.keyframes.save_preset_keyframes`, the bank is loaded by
:func:`~live.library.bank.open_bank` as the show loads it, and throughput is measured through :func:`live.library.precompute.precompute` on a randomly
initialised Stable Diffusion pipeline built here (no weights are downloaded): ``tiny`` for
CPU smoke figures, ``sd15`` for a real-size SD 1.5 UNet/VAE/CLIP-L on a GPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from live.bench.flags import check_folder, check_output_file, write_json
from live.bench.machine import machine_info, machine_line
from live.bench.models import SCALES, build_random_sd
from live.errors import UserError
from live.library.precompute_options import MAX_BATCH
from live.values import Bounded

_LOGGER = logging.getLogger(__name__)


def _write_preset(presets_dir: Path, name: str, model: str, size: tuple[int, int], prompts: int, seeds: int,
                  steps: int = 2) -> Path:
    words = ["neon tunnel", "chrome jellyfish", "acid rain city", "laser cathedral", "velvet storm", "glass desert"]
    prompt_list = [f"{words[i % len(words)]} {i}" for i in range(prompts)]
    path = presets_dir / f"{name}.toml"
    path.write_text(
        "[generation]\n"
        f"model = {json.dumps(model)}\nwidth = {size[0]}\nheight = {size[1]}\n"
        f"prompts = {json.dumps(prompt_list)}\nseeds = {list(range(1, seeds + 1))}\nsteps = {steps}\n")
    return path


def bytes_per_keyframe(workdir: Path, size: tuple[int, int]) -> tuple[int, int]:
    """(in-memory bytes, file bytes) per keyframe at ``size``, from a 16-keyframe file written for real."""
    import torch  # torch and the library's files only when it measures: `bench bank --help` stays quick

    from live.library.keyframes import save_preset_keyframes
    from live.library.presets import load_preset

    presets_dir, kdir = workdir / f"bpk-presets-{size[0]}x{size[1]}", workdir / "bpk-keyframes"
    presets_dir.mkdir(parents=True, exist_ok=True)
    preset = load_preset(_write_preset(presets_dir, f"bpk{size[0]}x{size[1]}", "/models/x", size, 4, 4))
    latents = torch.randn(16, 4, size[1] // 8, size[0] // 8)
    path = save_preset_keyframes(preset, latents, kdir, {})
    return latents[0].numel() * latents.element_size(), path.stat().st_size // 16


def pixel_bytes_per_keyframe(workdir: Path, size: tuple[int, int]) -> tuple[int, int]:
    """(in-memory bytes, file bytes) per pixel keyframe (a picture, presets without a model) at
    ``size``: the built-in demo pictures built and loaded as the show's bank loads them."""
    from live.library.bank import open_bank
    from live.library.keyframes import KEYFRAMES_FILE

    presets_dir, kdir = workdir / f"pix-presets-{size[0]}x{size[1]}", workdir / "pix-keyframes"
    presets_dir.mkdir(parents=True, exist_ok=True)
    (presets_dir / "pix.toml").write_text(f'[generation]\nmodel = "approx"\nwidth = {size[0]}\n'
                                          f'height = {size[1]}\nimages = "builtin:demo"\nseeds = [1, 2, 3, 4]\n')
    bank = open_bank(presets_dir=presets_dir, keyframes_dir=kdir, watch=False)
    (row,) = bank.status()
    count = row["keyframes"]
    return row["bytes"] // count, (kdir / "pix" / KEYFRAMES_FILE).stat().st_size // count


def _drop_page_cache() -> None:
    """Make the next read come from disk (Linux, root only): the show's first load after a reboot."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise UserError(f"--drop-caches needs root on Linux ({exc.strerror}); run without it") from None


def bank_load_seconds(workdir: Path, presets: int, keyframes: int, size: tuple[int, int],
                      repeat: int, drop_caches: bool = False) -> tuple[list[float], int, int]:
    """Write ``presets`` x ``keyframes`` keyframe files and time :func:`open_bank` ``repeat`` times.

    With ``drop_caches`` the first load reads from disk (page cache dropped; root only).
    """
    import torch

    from live.library.bank import open_bank
    from live.library.keyframes import save_preset_keyframes
    from live.library.presets import load_preset

    presets_dir, kdir = workdir / "bank-presets", workdir / "bank-keyframes"
    presets_dir.mkdir(parents=True, exist_ok=True)
    seeds = 4
    for i in range(presets):
        preset = load_preset(_write_preset(presets_dir, f"p{i:03d}", "/models/x", size, keyframes // seeds, seeds))
        save_preset_keyframes(preset, torch.randn(keyframes, 4, size[1] // 8, size[0] // 8), kdir, {})
    times = []
    bank = None
    for i in range(repeat):
        if i == 0 and drop_caches:
            _drop_page_cache()
        started = time.perf_counter()
        bank = open_bank(presets_dir=presets_dir, keyframes_dir=kdir)
        times.append(time.perf_counter() - started)
    assert bank is not None
    total_bytes = sum(r["bytes"] for r in bank.status())
    return times, len(bank.names()), total_bytes


def precompute_throughput(workdir: Path, scale: str, device: str, size: tuple[int, int], keyframes: int,
                          batch_size: int, steps: int) -> dict:
    """Keyframes/s of the real precompute path on a random ``scale`` pipeline (after a warm-up preset)."""
    from live.library.precompute import PrecomputeOptions, precompute, quiet_loading

    model_dir = workdir / f"random-{scale}"
    started = time.perf_counter()
    with quiet_loading():
        build_random_sd(model_dir, scale)
    build_s = time.perf_counter() - started
    presets_dir, kdir = workdir / "tp-presets", workdir / "tp-keyframes"
    presets_dir.mkdir(parents=True, exist_ok=True)
    _write_preset(presets_dir, "warmup", str(model_dir), size, 1, batch_size, steps)
    _write_preset(presets_dir, "measure", str(model_dir), size, max(1, keyframes // 4), 4, steps)
    options = PrecomputeOptions(presets=("warmup", "measure"), device=device, batch_size=batch_size, force=True,
                                progress=False, presets_dir=presets_dir, keyframes_dir=kdir)
    started = time.perf_counter()
    results = precompute(options)
    total_s = time.perf_counter() - started
    measured = results[1]
    return {"scale": scale, "device": device, "size": f"{size[0]}x{size[1]}", "steps": steps,
            "batch_size": batch_size, "keyframes": measured.generated, "seconds": measured.seconds,
            "keyframes_per_s": measured.generated / measured.seconds, "model_build_s": build_s,
            "run_with_load_s": total_s}


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not WIDTHxHEIGHT, e.g. 512x512") from None
    if w % 8 or h % 8 or not (64 <= w <= 2048 and 64 <= h <= 2048):
        raise argparse.ArgumentTypeError(f"size {text!r}: width and height must be multiples of 8 in 64..2048")
    return w, h


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `bench bank`."""
    parser.add_argument("--presets", type=Bounded(int, 1, 10000), default=50, help="presets in the bank to load")
    parser.add_argument("--keyframes", type=Bounded(int, 4, 4096), default=16, help="keyframes per preset (a multiple of 4)")
    parser.add_argument("--size", type=_size, default=(512, 512), help="bank keyframe size WxH")
    parser.add_argument("--repeat", type=Bounded(int, 1, 100), default=3, help="bank loads to time")
    parser.add_argument("--drop-caches", action="store_true",
                        help="drop the OS page cache before the first bank load (Linux, root): a cold-start figure")
    parser.add_argument("--scale", choices=sorted(SCALES), default="tiny",
                        help="random pipeline for the precompute throughput (sd15 = real SD 1.5 size; use a GPU)")
    parser.add_argument("--device", default="auto", choices=["auto", "cuda", "mps", "cpu"], help="precompute device")
    parser.add_argument("--precompute-size", type=_size, default=None,
                        help="precompute image size (default 256x256 for tiny, 512x512 for sd15)")
    parser.add_argument("--precompute-keyframes", type=Bounded(int, 1, 1024), default=16, help="keyframes to time")
    parser.add_argument("--batch-size", type=Bounded(int, 1, MAX_BATCH), default=4, help="precompute batch size")
    parser.add_argument("--steps", type=Bounded(int, 1, 1000), default=2, help="denoising steps per keyframe")
    parser.add_argument("--skip-precompute", action="store_true", help="only the memory and bank load figures")
    parser.add_argument("--json", default="", metavar="FILE", help="also write the figures to FILE as JSON")
    parser.add_argument("--workdir", default="", help="keep the generated files here (default: a temp folder)")


def run(args: argparse.Namespace) -> int:
    """Entry point of `bench bank`: prints the figures and the machine."""
    if args.keyframes < 4 or args.keyframes % 4 or args.presets < 1:
        raise UserError("--keyframes must be a multiple of 4 (>= 4) and --presets >= 1")
    if args.json:
        check_output_file("--json", args.json)
    if args.workdir:
        check_folder("--workdir", args.workdir)
    from live.library.precompute import resolve_device

    figures: dict = {"machine": machine_info()}
    print(machine_line())
    with tempfile.TemporaryDirectory(prefix="bankbench-") as tmp:
        workdir = Path(args.workdir or tmp)
        for size in ((512, 512), (768, 432)):
            mem, disk = bytes_per_keyframe(workdir, size)
            figures[f"bytes_per_keyframe_{size[0]}x{size[1]}"] = {"memory": mem, "file": disk}
            print(f"keyframe {size[0]}x{size[1]}: {mem} bytes in memory (float32 4x{size[1] // 8}x{size[0] // 8}), "
                  f"{disk} bytes on disk per keyframe in a 16-keyframe file")
        mem, disk = pixel_bytes_per_keyframe(workdir, (512, 288))
        figures["pixel_bytes_per_keyframe_512x288"] = {"memory": mem, "file": disk}
        print(f"pixel keyframe 512x288 (a picture, presets without a model): {mem} bytes in memory (uint8 "
              f"3x288x512), {disk} bytes on disk per keyframe")
        times, ready, total = bank_load_seconds(workdir, args.presets, args.keyframes, args.size, args.repeat,
                                                args.drop_caches)
        figures["bank_load"] = {"presets": args.presets, "keyframes": args.keyframes,
                                "size": f"{args.size[0]}x{args.size[1]}", "seconds": times, "ready": ready,
                                "bytes": total}
        print(f"bank load: {args.presets} presets x {args.keyframes} keyframes at {args.size[0]}x{args.size[1]} "
              f"({total / 2**20:.1f} MiB, {ready} ready): first {times[0]:.3f} s, median "
              f"{statistics.median(times):.3f} s over {len(times)} loads (target < 2 s; first load "
              f"{'from disk, page cache dropped' if args.drop_caches else 'from the page cache'})")
        if not args.skip_precompute:
            device = resolve_device(args.device)
            size = args.precompute_size or ((256, 256) if args.scale == "tiny" else (512, 512))
            tp = precompute_throughput(workdir, args.scale, device, size, args.precompute_keyframes,
                                       args.batch_size, args.steps)
            figures["precompute"] = tp
            print(f"precompute ({tp['scale']} random SD pipeline, {tp['device']}, {tp['size']}, {tp['steps']} steps, "
                  f"batch {tp['batch_size']}): {tp['keyframes']} keyframes in {tp['seconds']:.2f} s = "
                  f"{tp['keyframes_per_s']:.2f} keyframes/s (incl. writing files; model build "
                  f"{tp['model_build_s']:.1f} s, whole run with load {tp['run_with_load_s']:.1f} s)")
    if args.json:
        write_json("--json", args.json, figures)
    return 0
