"""VAE-only decoding: latents in, uint8 RGB frames out.

Three decoders share one interface (:class:`Decoder`):

- ``approx``: the weight-free linear latent-to-RGB map of :mod:`live.visuals.approx`, bicubic 8x upsample.
- ``tiny``: diffusers ``AutoencoderTiny`` (TAESD / TAESDXL) from a local folder.
- ``vae``: diffusers ``AutoencoderKL``, the model's own VAE, from a model folder (``vae/``
  subfolder) or a standalone VAE folder.

Scaling (``z / scaling_factor + shift_factor``) and the value range ([-1, 1] to uint8) are
handled in :meth:`Decoder.decode` and nowhere else. Loading is local only: nothing downloads.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from live.device import DEFAULT_CPU_THREADS, pick_device, pick_dtype, torch_threads
from live.errors import UserError
from live.quiet import quiet_library_notices
from live.visuals import approx
from live.visuals.choices import FAMILIES, FAMILY_SCALING, KINDS  # noqa: F401 (declared there, light, for the CLI)
from live.visuals.modelfiles import ModelFilesError, check_component, read_json, what_is_here

_LOGGER = logging.getLogger(__name__)
quiet_library_notices()  # before diffusers is imported: it speaks on import


class DecoderError(UserError):
    """A decoder that cannot be built or latents it cannot decode (path, kind, device, shape)."""


# ----- the decoders -------------------------------------------------------------------------


class Decoder:
    """Common interface: diffusion-space latents (B, C, h, w) -> uint8 RGB (B, 8h, 8w, 3).

    Subclasses implement :meth:`_decode_unit`, returning RGB floats in [0, 1] shaped
    (B, 3, H, W) on the decode device; :meth:`decode` wraps it with the latent check, the
    device/dtype move, inference mode and the single uint8 conversion.
    """

    name: str = "decoder"
    latent_channels: int = 4
    family: str = "sd1"
    scaling_factor: float = 1.0
    shift_factor: float = 0.0
    device: torch.device = torch.device("cpu")
    dtype: torch.dtype = torch.float32
    channels_last: bool = False
    randomly_initialised: bool = False  # True for the bench's weight-free real-size models
    cpu_threads: int | None = None  # torch threads for a CPU decode thread; None: torch's default

    def _decode_unit(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def decode_threads(self) -> int | None:
        """torch CPU threads a thread decoding with this decoder should run with (None off the CPU):
        ``cpu_threads`` when the decoder sets it, else torch's default (the physical cores)."""
        if self.device.type != "cpu":
            return None
        return self.cpu_threads or DEFAULT_CPU_THREADS

    def check_latents(self, latents: torch.Tensor, family: str | None = None) -> None:
        """Raise :class:`DecoderError` when ``latents`` (or their ``family``, when known) don't fit this decoder."""
        if not isinstance(latents, torch.Tensor):
            raise DecoderError(f"latents must be a torch tensor, got {type(latents).__name__}")
        if latents.ndim != 4:
            raise DecoderError(f"latents must be shaped (B, C, h, w), got {tuple(latents.shape)}")
        if latents.shape[1] != self.latent_channels:
            raise DecoderError(
                f"latents have {latents.shape[1]} channels but the {self.name} decoder takes {self.latent_channels}; "
                "precompute the keyframes with the same model family as the decoder"
            )
        if family is not None and family != self.family:
            raise DecoderError(
                f"latents are from the {family} family but the {self.name} decoder is {self.family}; "
                f"use a {family} VAE or --family {family}"
            )
        if not latents.is_floating_point():
            raise DecoderError(f"latents must be floating point, got {latents.dtype}")

    def to_rgb(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode to RGB floats in [0, 1], (B, 3, 8h, 8w) on the decode device (no host copy)."""
        self.check_latents(latents)
        with torch.inference_mode():
            z = latents.to(self.device, self.dtype, non_blocking=True)
            if self.channels_last:
                z = z.contiguous(memory_format=torch.channels_last)
            return self._decode_unit(z)

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Diffusion-space latents (B, C, h, w) -> (B, 8h, 8w, 3) uint8 RGB numpy on the host."""
        with torch.inference_mode():
            rgb = self.to_rgb(latents)
            if rgb.dtype == torch.bfloat16:
                # bf16 steps by 1 between 128 and 256, too coarse to round to 8-bit levels.
                rgb = rgb.float()
            return approx.to_uint8_hwc(rgb)

    def warmup(self, latent_shape: tuple[int, ...], runs: int = 2) -> None:
        """Decode ``runs`` blank latents of ``latent_shape`` so kernel selection, allocator growth
        and any compilation happen before the show instead of on its first frames."""
        shape = tuple(int(s) for s in latent_shape)
        if len(shape) == 3:
            shape = (1, *shape)
        gen = torch.Generator(device="cpu").manual_seed(0)
        z = torch.randn(shape, generator=gen).to(self.device)
        start = time.perf_counter()
        for _ in range(max(1, runs)):
            self.decode(z)
        _LOGGER.info("%s decoder warmed up for %s in %.2f s", self.name, shape, time.perf_counter() - start)

    def describe(self) -> str:
        """One line for logs and the bench: kind, family, device, dtype, flags."""
        flags = [f for f, on in (("channels_last", self.channels_last), ("random weights", self.randomly_initialised)) if on]
        extra = f" ({', '.join(flags)})" if flags else ""
        return f"{self.name} {self.family} on {self.device} {str(self.dtype).replace('torch.', '')}{extra}"


class ApproxDecoder(Decoder):
    """The weight-free linear latent-to-RGB map (live/approx.py) with a bicubic 8x upsample.

    :meth:`decode` computes the same picture as ``approx.to_uint8_hwc(approx.latents_to_rgb(z))``
    (within one 8-bit level) about ten times faster on a CPU: the bicubic upsample is separable,
    so it runs as two small matrix products (interpolation matrices built once per latent size
    by ``F.interpolate`` itself), in HWC order and already scaled to 0..255, which also saves the
    separate scale/permute passes. It must stay cheap: it drives the demo at 512x512 on 2 cores.
    """

    name = "approx"
    cpu_threads = 1  # a few ms of work: a second OpenMP thread only fights the display loop

    def __init__(self, family: str = "sd1", device: torch.device | None = None, dtype: torch.dtype | None = None) -> None:
        if family not in approx.LATENT_RGB_FACTORS:
            raise DecoderError(f"--family {family!r} has no approx factors; choose one of "
                               f"{', '.join(approx.LATENT_RGB_FACTORS)}")
        self.family = family
        self.device = device or torch.device("cpu")
        # A few multiply-adds per pixel: fp32 everywhere costs nothing and avoids fp16 banding.
        self.dtype = dtype or torch.float32
        self.latent_channels = len(approx.LATENT_RGB_FACTORS[family])
        # Factors pre-scaled so the map lands on 0..255 directly: (x + 1) / 2 * 255 = 127.5 x + 127.5.
        self._factors255 = torch.tensor(approx.LATENT_RGB_FACTORS[family], dtype=self.dtype, device=self.device) * 127.5
        self._interp: dict[int, torch.Tensor] = {}

    def _decode_unit(self, z: torch.Tensor) -> torch.Tensor:
        return approx.latents_to_rgb(z, self.family, upsample=True)

    def _interp_matrix(self, n: int) -> torch.Tensor:
        """(8n, n) matrix M with M @ x == 1-D bicubic 8x upsample of x, exactly as F.interpolate does it."""
        if n not in self._interp:
            eye = torch.eye(n, dtype=torch.float32).reshape(n, 1, n, 1)
            up = F.interpolate(eye, scale_factor=(approx.VAE_SCALE, 1), mode="bicubic", align_corners=False)
            self._interp[n] = up[:, 0, :, 0].T.contiguous().to(self.device, self.dtype)
        return self._interp[n]

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents (B, 4, h, w) -> (B, 8h, 8w, 3) uint8 RGB, via the separable upsample."""
        self.check_latents(latents)
        # Small matrix products: with more than one BLAS thread they got slower, not faster,
        # whenever the cores were busy (measured 19 ms vs 4 ms on 2 loaded cores).
        threads = self.cpu_threads if self.device.type == "cpu" else None
        with torch.inference_mode(), torch_threads(threads):
            z = latents.to(self.device, self.dtype)
            small = torch.einsum("bchw,cr->bhwr", z, self._factors255) + 128.0  # +0.5 rounds on truncation
            rows = torch.einsum("Hh,bhwr->bHwr", self._interp_matrix(z.shape[2]), small)
            full = torch.einsum("Ww,bHwr->bHWr", self._interp_matrix(z.shape[3]), rows)
            return full.clamp_(0.0, 255.0).to(torch.uint8).cpu().numpy()


class DiffusersDecoder(Decoder):
    """A diffusers autoencoder (AutoencoderKL or AutoencoderTiny), decoder half only."""

    def __init__(self, model: torch.nn.Module, name: str, family: str, device: torch.device, dtype: torch.dtype,
                 *, channels_last: bool | None = None, compile: bool = False, cuda_graph: bool = False,
                 source: str = "") -> None:
        self.name = name
        self.family = family
        self.device = device
        self.dtype = dtype
        self.source = source
        config = model.config
        self.latent_channels = int(config.latent_channels)
        self.scaling_factor = float(getattr(config, "scaling_factor", 1.0) or 1.0)
        self.shift_factor = float(getattr(config, "shift_factor", 0.0) or 0.0)
        # The encoder is never used live; dropping it frees memory (about a third of the KL VAE).
        if hasattr(model, "encoder"):
            model.encoder = None
        if hasattr(model, "quant_conv"):
            model.quant_conv = None
        self.channels_last = device.type != "cpu" if channels_last is None else bool(channels_last)
        # torch's own Module.to: diffusers' override warns about fp32-only modules even when a
        # VAE has none (an empty list), which would print on every start-up.
        model = torch.nn.Module.to(model, device=device, dtype=dtype).eval().requires_grad_(False)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._run = self._eager
        self.compiled = False
        if compile:
            # The decode call is the whole graph: compile it once; fixed shapes after warm-up.
            self._run = torch.compile(self._eager, fullgraph=False, dynamic=False)
            self.compiled = True
        if cuda_graph and device.type != "cuda":
            raise DecoderError("--cuda-graph needs a CUDA device; drop the flag or use --device cuda")
        self.cuda_graph = bool(cuda_graph)
        self._graphs: dict[tuple[int, ...], tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}

    def _eager(self, z: torch.Tensor) -> torch.Tensor:
        z = z / self.scaling_factor + self.shift_factor
        image = self.model.decode(z, return_dict=False)[0]  # [-1, 1]
        return (image * 0.5 + 0.5).clamp(0.0, 1.0)

    def _decode_unit(self, z: torch.Tensor) -> torch.Tensor:
        if not self.cuda_graph:
            return self._run(z)
        key = tuple(z.shape)
        if key not in self._graphs:
            self._graphs[key] = self._capture(z)
        graph, static_in, static_out = self._graphs[key]
        static_in.copy_(z)
        graph.replay()
        # The static output is overwritten by the next replay: hand out a copy.
        return static_out.clone()

    def _capture(self, z: torch.Tensor) -> tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]:
        """Record one decode of this shape as a CUDA graph (after side-stream warm-up runs)."""
        static_in = z.clone()
        stream = torch.cuda.Stream(device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._run(static_in)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = self._run(static_in)
        _LOGGER.info("%s decoder captured a CUDA graph for %s", self.name, tuple(z.shape))
        return graph, static_in, static_out

    def describe(self) -> str:
        """One line: kind, family, device, dtype, flags and where the weights came from."""
        text = super().describe()
        flags = [f for f, on in (("torch.compile", self.compiled), ("CUDA graph", self.cuda_graph)) if on]
        if flags:
            text += " +" + " +".join(flags)
        return text + (f" from {self.source}" if self.source else "")


# ----- loading ------------------------------------------------------------------------------


def _read_config(folder: Path) -> dict | None:
    path = folder / "config.json"
    if not path.is_file():
        return None
    try:
        return read_json(path)
    except ModelFilesError as exc:
        raise DecoderError(str(exc)) from None


def _is_hub_id(given: str) -> bool:
    return given.count("/") == 1 and not given.startswith(("/", ".", "~")) and "\\" not in given


def _cached_hub_folder(given: str) -> Path | None:
    """The local Hugging Face cache's snapshot of the hub id ``given`` (as precompute
    --allow-download left it), or None; never touches the network."""
    from huggingface_hub import try_to_load_from_cache

    for marker in ("model_index.json", "config.json"):
        try:
            cached = try_to_load_from_cache(given, marker)
        except ValueError:  # not a valid repo id after all
            return None
        if isinstance(cached, str):
            return Path(cached).parent
    return None


def _missing_folder(path: Path, given: str) -> DecoderError:
    """The message for a --model that is not on disk: a hub id ("owner/name") is never fetched."""
    if _is_hub_id(given):
        return DecoderError(f"{given} is not a folder on this machine; the decoders load local folders only "
                            f"(local_files_only, nothing is downloaded) and it is not in the Hugging Face "
                            f"cache: fetch it once with `precompute --allow-download --model {given}`, or pass "
                            f"its folder")
    return DecoderError(f"decoder folder {path} does not exist; pass the model folder (with vae/) or a VAE folder")


def _find_vae_folder(path: Path, kind: str, given: str = "") -> tuple[Path, str]:
    """The folder holding the autoencoder's config.json, and its diffusers class name."""
    if not path.exists():
        cached = _cached_hub_folder(given) if _is_hub_id(given) else None
        if cached is None:
            raise _missing_folder(path, given or str(path))
        path = cached
    if path.is_file():
        raise DecoderError(f"{path} is a file; pass the diffusers folder that holds config.json and the weights "
                           "(single-file checkpoints are not supported)")
    for folder in (path / "vae", path):
        config = _read_config(folder)
        if isinstance(config, dict) and str(config.get("_class_name", "")).startswith("Autoencoder"):
            return folder, str(config["_class_name"])
    if kind == "tiny" and (path / "vae").is_dir() is False and (path / "model_index.json").is_file():
        raise DecoderError(f"{path} is a pipeline folder without a vae/ folder; pass a TAESD folder for --decoder tiny")
    here = what_is_here(path)
    raise DecoderError(f"{path} holds no diffusers VAE (no config.json naming an Autoencoder class in it or in "
                       f"{path / 'vae'}){'; ' + here if here else ''}; pass a model folder with vae/ or a "
                       f"standalone VAE folder")


def _family_from_config(config_scaling: float, family: str, source: Path) -> str:
    for fam, sf in FAMILY_SCALING.items():
        if math.isclose(config_scaling, sf, rel_tol=1e-3) and fam != family:
            raise DecoderError(f"{source} is a {fam} VAE (scaling_factor {config_scaling}) but --family is {family}; "
                               f"use --family {fam} or a {family} VAE")
    return family


def find_autoencoder(kind: str, model: str | Path) -> Path:
    """The folder holding the ``kind`` ("tiny" or "vae") autoencoder in ``model``, found from its
    config alone (no weights read, cheap enough to check a flag before anything starts); a
    missing folder or one holding something else is a :class:`DecoderError`."""
    folder, class_name = _find_vae_folder(Path(model).expanduser(), kind, str(model))
    wanted = {"tiny": "AutoencoderTiny", "vae": "AutoencoderKL"}[kind]
    if class_name != wanted:
        other = {"AutoencoderTiny": "tiny", "AutoencoderKL": "vae"}.get(class_name)
        fix = f"use --decoder {other}" if other else f"pass an {wanted} folder"
        raise DecoderError(f"{folder} holds an {class_name}, not the {wanted} that --decoder {kind} needs; {fix}")
    try:  # headers only: a missing or cut-short weights file is one line now, not diffusers' at load
        check_component(folder)
    except ModelFilesError as exc:
        raise DecoderError(str(exc)) from None
    return folder


def load_autoencoder(kind: str, model: str | Path) -> tuple[torch.nn.Module, Path]:
    """Load the diffusers autoencoder for ``kind`` ("tiny" or "vae") from a local folder, on the CPU in fp32."""
    from diffusers import AutoencoderKL, AutoencoderTiny  # heavy import, only when a VAE is asked for

    folder = find_autoencoder(kind, model)
    wanted = {"tiny": "AutoencoderTiny", "vae": "AutoencoderKL"}[kind]
    cls = AutoencoderTiny if kind == "tiny" else AutoencoderKL
    try:
        vae = cls.from_pretrained(str(folder), local_files_only=True, torch_dtype=torch.float32)
    except (OSError, ValueError, EnvironmentError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DecoderError(f"could not load the {wanted} in {folder}: {first}") from None
    return vae, folder


def make_decoder(
    kind: str = "approx",
    model: str | Path | None = None,
    *,
    family: str = "sd1",
    device: str | None = None,
    dtype: torch.dtype | str | None = None,
    compile: bool = False,
    cuda_graph: bool = False,
    channels_last: bool | None = None,
) -> Decoder:
    """Build a decoder of ``kind`` ("approx", "tiny", "vae") from local files only.

    ``model`` is a model folder with a ``vae/`` subfolder or a standalone VAE / TAESD folder
    (ignored for approx). ``device`` defaults to cuda > mps > cpu; ``dtype`` to fp16/bf16 on a
    GPU and fp32 on the CPU. ``compile`` wraps the decode in ``torch.compile``; ``cuda_graph``
    replays a captured CUDA graph per latent shape (CUDA only). Raises :class:`DecoderError`.
    """
    if kind not in KINDS:
        raise DecoderError(f"--decoder {kind!r} is not known; choose one of {', '.join(KINDS)}")
    if family not in FAMILIES:
        raise DecoderError(f"--family {family!r} is not known; choose one of {', '.join(FAMILIES)}")
    dev = pick_device(device)
    if kind == "approx":
        if compile or cuda_graph:
            _LOGGER.info("approx decoder: --compile/--cuda-graph have nothing to speed up, ignored")
        return ApproxDecoder(family, dev)
    if model is None:
        raise DecoderError(f"--decoder {kind} needs a folder: pass the model folder (with vae/) or a "
                           f"{'TAESD' if kind == 'tiny' else 'VAE'} folder, or use --decoder approx")
    vae, folder = load_autoencoder(kind, model)
    if kind == "vae":
        family = _family_from_config(float(vae.config.scaling_factor), family, folder)
    return DiffusersDecoder(vae, kind, family, dev, pick_dtype(dev, family, dtype), channels_last=channels_last,
                            compile=compile, cuda_graph=cuda_graph, source=str(folder))


# Stable Diffusion's VAE architecture (the config every SD 1.x / 2.x / SDXL vae/ folder holds,
