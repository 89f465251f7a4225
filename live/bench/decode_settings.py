"""`bench decode`'s flags and settings, declared once and importing nothing heavy, so its --help
and a mistyped flag answer at once; the benchmark, :mod:`live.bench.decode` (torch, the decoders,
the renderer), is imported only when it runs (see ``FLAGS`` in :mod:`live.cli`)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from live.errors import UserError
from live.precisions import PRECISIONS
from live.values import Bounded, positive
from live.visuals.choices import FAMILIES

BENCH_KINDS = ("approx", "slow", "tiny", "vae")


class BenchError(UserError):
    """A bench setting that cannot be used."""


@dataclass(frozen=True)
class DecodeBenchSettings:
    """How ``bench decode`` measures, declared once with its defaults (the flags of the same
    names are built from these), so code can call :func:`live.bench.decode.bench_one` with plain values."""

    family: str = "sd1"
    device: str = "auto"
    dtype: str | None = None  # None: fp16 on GPU (bf16 for the SDXL VAE), fp32 on CPU
    compile: bool = False
    cuda_graph: bool = False
    channels_last: bool | None = None  # None: on for GPU, off for CPU
    vae_model: str | None = None  # None: a random real-size SD VAE
    tiny_model: str | None = None  # None: a random real-size TAESD
    seconds: float = 3.0  # minimum per measurement
    min_frames: int = 2  # minimum decoded frames per measurement
    rounds: int = 5
    warmup: int = 1
    display_fps: float = 60.0
    max_show_seconds: float = 30.0
    slow_fps: float = 1.0
    no_display: bool = False

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.min_frames < 1 or self.display_fps <= 0 or self.warmup < 0 or self.rounds < 1:
            raise BenchError("--seconds and --display-fps must be more than 0, --min-frames and --rounds at least 1, "
                             "--warmup 0 or more")


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench decode``: which decoders and sizes, and one flag per :class:`DecodeBenchSettings` field."""
    d = DecodeBenchSettings  # the defaults, declared once there
    parser.add_argument("--decoder", action="append", default=None, metavar="KIND[,KIND]",
                        help=f"decoder(s) to measure, from {', '.join(BENCH_KINDS)}; repeat or comma-separate "
                             "[all four when not given]")
    parser.add_argument("--size", action="append", default=None, metavar="WxH[,WxH]",
                        help="frame size(s), multiples of 8; repeat or comma-separate [256x256,512x512 when not given]")
    parser.add_argument("--vae-model", default=d.vae_model, metavar="PATH",
                        help="model folder (with vae/) or VAE folder for --decoder vae [a random real-size SD VAE "
                             "when not given]")
    parser.add_argument("--tiny-model", default=d.tiny_model, metavar="PATH",
                        help="TAESD folder for --decoder tiny [a random real-size TAESD when not given]")
    parser.add_argument("--family", default=d.family, choices=FAMILIES, help="latent family")
    parser.add_argument("--device", default=d.device, help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default=d.dtype, choices=sorted(PRECISIONS),
                        help="decode precision [fp16 on GPU (bf16 for the SDXL VAE), fp32 on CPU when not given]")
    parser.add_argument("--compile", action="store_true", help="torch.compile the tiny/vae decode")
    parser.add_argument("--cuda-graph", action="store_true", help="replay the tiny/vae decode as a CUDA graph")
    parser.add_argument("--channels-last", default=d.channels_last, type=_on_off, metavar="on|off",
                        help="channels_last memory format for tiny/vae [on for GPU, off for CPU when not given]")
    parser.add_argument("--seconds", type=positive(float, 3600), default=d.seconds, help="minimum seconds per measurement")
    parser.add_argument("--min-frames", type=Bounded(int, 1, 10000), default=d.min_frames, help="minimum decoded frames per measurement")
    parser.add_argument("--rounds", type=Bounded(int, 1, 100), default=d.rounds,
                        help="interleaved bare/pipeline rounds; efficiency is the median of the per-round ratios")
    parser.add_argument("--warmup", type=Bounded(int, 0, 100), default=d.warmup, help="warm-up decodes before measuring")
    parser.add_argument("--display-fps", type=positive(float, 1000), default=d.display_fps, help="display loop target rate")
    parser.add_argument("--max-show-seconds", type=positive(float, 3600), default=d.max_show_seconds,
                        help="how long the show loop may run on waiting for 2 frames from a slow decoder")
    parser.add_argument("--slow-fps", type=positive(float, 1000), default=d.slow_fps, help="rate of the 'slow' decoder")
    parser.add_argument("--no-display", action="store_true",
                        help="run the show loop without drawing (no GL) [drawn through the show's renderer otherwise]")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")


def _on_off(text: str) -> bool:
    if text.lower() in ("on", "1", "true", "yes"):
        return True
    if text.lower() in ("off", "0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r}: use on or off")
