"""Precompute: presets to keyframe latents with the user's diffusers model (or images through
the model's VAE or the approx encoder), resumable, with a content-hash cache key.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from live import paths
from live.errors import UserError
from live.library.images import (
    approx_cache_key,
    ensure_builtin_keyframes,
    images_identity,
    save_pixel_keyframes,
    source_images,
)
from live.library.keyframes import (
    PIXELS_KIND,
    PREVIEW_FILE,
    KeyframeError,
    KeyframeSet,
    PartialStore,
    first_line,
    hash_json,
    keyframes_path,
    load_keyframe_file,
    load_preset_keyframes,
    preset_dir,
    save_preset_keyframes,
    text_keyframe_count,
)
from live.library.precompute_options import PrecomputeOptions
from live.library.presets import APPROX_MODEL, SCALING_FACTORS, Preset, as_written, find_preset, load_presets
from live.quiet import quiet_library_notices
from live.visuals.modelfiles import ModelFilesError, check_component, check_pipeline, what_is_here

_LOGGER = logging.getLogger(__name__)
quiet_library_notices()  # before diffusers is imported: it speaks on import


# Files whose bytes define a diffusers model folder cheaply: configs, tokenizer files, and the
# names and sizes of everything (hashing gigabytes of weights on every run would take minutes).
_CONFIG_SUFFIXES = (".json", ".txt", ".model")


class PrecomputeError(UserError):
    """A model, device or images folder that precompute cannot use (message names it and the fix)."""


@dataclass(frozen=True)
class ModelRef:
    """A model as the user named it, where it loads from, and its identity for the cache key."""

    name: str
    load_from: str
    identity: str
    revision: str
    is_local: bool


# ---------------------------------------------------------------- model and device

def folder_hash(folder: str | Path) -> str:
    """Hash of a model folder: every file's relative path and size, and the bytes of its config files."""
    folder = Path(folder)
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts):
        rel = path.relative_to(folder).as_posix()
        h.update(f"{rel}\0{path.stat().st_size}\0".encode())
        if path.suffix in _CONFIG_SUFFIXES and path.stat().st_size < 4_000_000:
            h.update(path.read_bytes())
    return h.hexdigest()


def _looks_like_path(model: str) -> bool:
    """A folder unless it is shaped like a hub id ("owner/name") and nothing by that name is on disk."""
    if Path(model).expanduser().exists() or model.startswith(("/", ".", "~")) or "\\" in model:
        return True
    return model.count("/") != 1


def _check_files(folder: Path, what: str, given: str) -> None:
    """The ``what`` ("model", or a VAE) in ``folder`` is whole (configs and safetensors headers
    only; ModelFilesError naming the file); a VAE must be a whole AutoencoderKL (not TAESD, not a UNet)."""
    if what == "model":
        check_pipeline(folder)
        return
    config = check_component(folder)
    name = config.get("_class_name", "") if isinstance(config, dict) else ""
    if name != "AutoencoderKL":
        tiny = " (TAESD is only for the show's --decoder tiny)" if name == "AutoencoderTiny" else ""
        raise PrecomputeError(f"VAE {given} holds {name or 'a model with no _class_name'}, not the AutoencoderKL "
                              f"precompute needs{tiny}; pass the model's vae/ folder or leave --vae out")


def resolve_model(model: str, allow_download: bool = False, what: str = "model") -> ModelRef:
    """Check that ``model`` is a usable diffusers model folder or cached hub id, without loading weights."""
    if _looks_like_path(model):
        folder = Path(model).expanduser()
        marker, setting = ("model_index.json", "generation.model or pass --model") if what == "model" else \
            ("config.json", "generation.vae or pass --vae")
        if not folder.exists():
            raise PrecomputeError(f"{what} folder {model} does not exist; give the folder that holds {marker} "
                                  f"(set {setting})")
        if not folder.is_dir():
            raise PrecomputeError(f"{what} {model} is a file, not a diffusers model folder; convert single-file "
                                  f"checkpoints with diffusers' conversion script first")
        if what != "model" and not (folder / marker).is_file() and (folder / "vae" / marker).is_file():
            folder = folder / "vae"  # a whole model folder given as --vae: its own VAE is meant
        if not (folder / marker).is_file():
            here = what_is_here(folder) if what == "model" else ""
            raise PrecomputeError(f"{what} folder {model} is not a diffusers model (no {marker}); "
                                  f"{here + '; ' if here else ''}point to the folder that holds {marker}")
        # configs and safetensors headers only: a damaged folder is one line naming the file, now
        try:
            _check_files(folder, what, model)
        except ModelFilesError as exc:
            raise PrecomputeError(str(exc)) from None
        digest = folder_hash(folder)
        return ModelRef(model, str(folder), digest, f"folder-sha256:{digest[:16]}", True)
    # a hub id ("owner/name"): only what is already in the local Hugging Face cache, unless allowed
    from huggingface_hub import try_to_load_from_cache

    marker = "model_index.json" if what == "model" else "config.json"
    cached = try_to_load_from_cache(model, marker)
    if isinstance(cached, str):
        snapshot = Path(cached).parent
        if not allow_download:  # an interrupted download leaves a snapshot without some weights
            try:
                _check_files(snapshot, what, model)
            except ModelFilesError as exc:
                raise PrecomputeError(f"{what} {model!r} is only partly in the Hugging Face cache ({exc}); run "
                                      f"once with --allow-download to complete it") from None
        return ModelRef(model, model, f"hub:{model}@{snapshot.name}", snapshot.name, False)
    if not allow_download:
        raise PrecomputeError(f"{what} {model!r} is not a local folder and not in the Hugging Face cache; give a "
                              f"local folder, or run once with --allow-download to fetch it")
    return ModelRef(model, model, "", "", False)


def resolve_device(name: str) -> str:
    """'auto' -> cuda, then mps, then cpu; a named device must exist."""
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise PrecomputeError("--device cuda: no CUDA GPU is visible to torch; use --device cpu (slow) or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise PrecomputeError("--device mps: Apple Metal is not available here; use --device cpu or auto")
    return name


def _dtype_for(device: str, fp32: bool) -> torch.dtype:
    return torch.float16 if device in ("cuda", "mps") and not fp32 else torch.float32


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide diffusers/transformers loading bars and chatter so only our progress bar shows."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    d_level, t_level = dlog.get_verbosity(), tlog.get_verbosity()
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            # e.g. the torch_dtype -> dtype rename: we keep torch_dtype so older diffusers still work
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            yield
    finally:
        dlog.set_verbosity(d_level)
        tlog.set_verbosity(t_level)
        dlog.enable_progress_bar()
        tlog.enable_progress_bar()


def infer_family(pipe: Any) -> str:
    """'sdxl' for SDXL-style UNets (text_time added embeddings, 2048-d cross attention), else 'sd1'."""
    cfg = pipe.unet.config
    if getattr(cfg, "addition_embed_type", None) == "text_time" or "XL" in type(pipe).__name__:
        return "sdxl"
    return "sd1"


def load_pipeline(ref: ModelRef, device: str, dtype: torch.dtype, allow_download: bool,
                  vae: ModelRef | None = None) -> Any:
    """The text-to-image auto pipeline for ``ref`` on ``device``; PrecomputeError names a model that won't load."""
    from diffusers import AutoencoderKL, AutoPipelineForText2Image

    kwargs: dict[str, Any] = {"torch_dtype": dtype, "local_files_only": not allow_download}
    if ref.is_local:
        import json

        index = json.loads((Path(ref.load_from) / "model_index.json").read_text())
        if "safety_checker" in index:  # not needed for latents; skipping it saves ~1 GB
            kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        with quiet_loading():
            pipe = AutoPipelineForText2Image.from_pretrained(ref.load_from, **kwargs)
            if vae is not None:
                pipe.vae = AutoencoderKL.from_pretrained(vae.load_from, torch_dtype=dtype,
                                                         local_files_only=not allow_download)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RuntimeError) as exc:
        raise PrecomputeError(f"model {ref.name} cannot be loaded as a diffusers text-to-image pipeline "
                              f"({first_line(exc)}); check the folder or the model id") from None
    if not hasattr(pipe, "unet") or getattr(pipe.unet.config, "in_channels", None) != 4:
        raise PrecomputeError(f"model {ref.name} is not an SD 1.x/2.x or SDXL model (this tool needs a UNet "
                              f"with 4 latent channels)")
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def load_vae(ref: ModelRef, device: str, dtype: torch.dtype, allow_download: bool, separate: bool) -> Any:
    """Only the VAE (encoder for --from-images, decoder for previews), from the model folder or a VAE folder."""
    from diffusers import AutoencoderKL

    kwargs: dict[str, Any] = {"torch_dtype": dtype, "local_files_only": not allow_download}
    if not separate:
        kwargs["subfolder"] = "vae"
    try:
        with quiet_loading():
            vae = AutoencoderKL.from_pretrained(ref.load_from, **kwargs)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise PrecomputeError(f"VAE of {ref.name} cannot be loaded ({first_line(exc)}); check the folder") from None
    return vae.to(device).eval()


def _set_scheduler(pipe: Any, name: str) -> None:
    if not name:
        return
    import diffusers

    pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)


# ---------------------------------------------------------------- the work for one preset

@dataclass
class Result:
    """What happened to one preset: 'skipped' (up to date), 'written', or 'unusable' (``all_presets``
    only, with its ``reason``); keyframes made now and kept from before, and the contact sheet
    written when a preview was asked for."""

    name: str
    action: str
    path: Path | None
    count: int
    generated: int = 0
    resumed: int = 0
    seconds: float = 0.0
    preview: Path | None = None
    reason: str = ""


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _progress(total: int, initial: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="kf", dynamic_ncols=True,
                bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} keyframes "
                           "[{elapsed}<{remaining}, {rate_fmt}]")


def text_cache_key(preset: Preset, model: ModelRef, vae: ModelRef | None) -> str:
    """Cache key for text-made keyframes: settings, model identity, separate VAE identity, format."""
    from live.library.keyframes import FORMAT_VERSION

    return hash_json({"settings": preset.settings_hash(), "model": model.identity,
                      "vae": vae.identity if vae else "", "source": "text", "format": FORMAT_VERSION})


def image_cache_key(preset: Preset, model: ModelRef, vae: ModelRef | None, images_digest: str) -> str:
    """Cache key for VAE-encoded image keyframes."""
    from live.library.keyframes import FORMAT_VERSION

    return hash_json({"settings": preset.settings_hash(), "model": model.identity, "vae": vae.identity if vae else "",
                      "images": images_digest, "source": "images", "format": FORMAT_VERSION})


def _up_to_date(preset: Preset, keyframes_dir: Path, key: str) -> KeyframeSet | None:
    path = keyframes_path(preset, keyframes_dir)
    if not path.is_file():
        return None
    try:
        kset = load_keyframe_file(path)
    except KeyframeError as exc:
        _LOGGER.warning("%s; it will be rebuilt", exc)
        return None
    return kset if kset.meta.get("cache_key") == key else None


def generate_text_keyframes(preset: Preset, pipe: Any, model: ModelRef, keyframes_dir: Path, key: str,
                            batch_size: int = 4, on_batch: Callable[[list[int]], None] | None = None,
                            vae: ModelRef | None = None, progress: bool = True) -> Result:
    """Run the pipeline for every prompt x seed not already kept, then write the keyframe file.

    ``on_batch`` is called with the indices of each finished batch after they are kept
    (tests use it to interrupt a run). Seeds use CPU generators so a seed gives the same
    keyframe on any device and in any batch.
    """
    g = preset.generation
    family = infer_family(pipe)
    if preset.family_is_explicit and family != g.family:
        raise PrecomputeError(f"{as_written(preset.path)}: generation.family = {g.family!r} but model {model.name} is "
                              f"{family}; set family = \"{family}\" or remove the line")
    scaling = float(getattr(pipe.vae.config, "scaling_factor", SCALING_FACTORS[family]))
    if vae is not None and not math.isclose(scaling, SCALING_FACTORS[family], rel_tol=1e-3):
        # another family's VAE (sdxl's 0.13025 with an sd1 UNet): its latents would decode wrong everywhere
        raise PrecomputeError(f"VAE {vae.name} has scaling_factor {scaling} but model {model.name} is {family} "
                              f"({SCALING_FACTORS[family]}); use a {family} VAE or leave --vae out")
    items = [(p, s) for p in g.all_prompts() for s in g.seeds]
    shape = (4, g.height // 8, g.width // 8)
    store = PartialStore(preset, keyframes_dir, key)
    store.remove_stale()
    done = store.done(len(items), shape)
    todo = [i for i in range(len(items)) if i not in done]
    started = time.perf_counter()
    _set_scheduler(pipe, g.scheduler)
    use_negative = g.guidance > 1.0 and bool(g.negative_prompt)
    with _progress(len(items), len(done), preset.name) if progress else contextlib.nullcontext() as bar:
        for batch in _chunks(todo, max(1, batch_size)):
            gens = [torch.Generator("cpu").manual_seed(items[i][1]) for i in batch]
            with torch.inference_mode():
                out = pipe(prompt=[items[i][0] for i in batch],
                           negative_prompt=[g.negative_prompt] * len(batch) if use_negative else None,
                           num_inference_steps=g.steps, guidance_scale=g.guidance, width=g.width,
                           height=g.height, generator=gens, output_type="latent")
            latents = out.images if hasattr(out, "images") else out[0]
            if tuple(latents.shape[1:]) != shape:
                raise PrecomputeError(f"model {model.name} made latents of shape {tuple(latents.shape[1:])}, "
                                      f"expected {shape}; it is not an SD-family model with an 8x VAE")
            for i, latent in zip(batch, latents):
                latent = latent.float().cpu()
                if not torch.isfinite(latent).all():
                    raise PrecomputeError(f"model {model.name} produced NaN/inf latents for prompt "
                                          f"{items[i][0]!r} seed {items[i][1]} (fp16 overflow?); try --fp32")
                store.put(i, latent)
                done[i] = latent
            if bar is not None:
                bar.update(len(batch))
            if on_batch is not None:
                on_batch(batch)
    latents = torch.stack([done[i] for i in range(len(items))])
    path = save_preset_keyframes(preset, latents, keyframes_dir, {
        "family": family, "scaling_factor": scaling, "model": model.name, "model_revision": model.revision,
        "model_identity": model.identity, "vae": vae.name if vae else "", "source": "text", "cache_key": key,
        "pipeline": type(pipe).__name__, "scheduler": type(pipe.scheduler).__name__,
        "dtype_generated": str(pipe.unet.dtype).replace("torch.", ""),
    })
    store.clear()
    return Result(preset.name, "written", path, len(items), len(todo), len(items) - len(todo),
                  time.perf_counter() - started)


def encode_images_with_vae(vae: Any, images: np.ndarray, batch_size: int = 4) -> tuple[torch.Tensor, float]:
    """(N, H, W, 3) uint8 -> scaled latents (N, 4, H/8, W/8) through the VAE encoder (posterior mean)."""
    scaling = float(vae.config.scaling_factor)
    shift = getattr(vae.config, "shift_factor", None) or 0.0
    out = []
    if vae.dtype != torch.float32 and getattr(vae.config, "force_upcast", False):
        vae = vae.to(torch.float32)  # SDXL's VAE overflows in fp16, as diffusers' own pipelines know
    device, dtype = vae.device, vae.dtype
    for start in range(0, len(images), batch_size):
        x = torch.from_numpy(images[start:start + batch_size]).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        with torch.inference_mode():
            dist = vae.encode(x.to(device, dtype)).latent_dist
        out.append(((dist.mean.float() - shift) * scaling).cpu())
    return torch.cat(out), scaling


# ---------------------------------------------------------------- preview

def decode_for_preview(latents: torch.Tensor, family: str, scaling: float, vae: Any | None) -> np.ndarray:
    """Keyframes -> (N, H, W, 3) uint8 through the VAE when given, else the approx decoder."""
    from live.visuals.approx import latents_to_rgb, to_uint8_hwc

    if vae is None:
        return to_uint8_hwc(latents_to_rgb(latents.float(), family))
    frames = []
    # fp16 SD VAEs can overflow to NaN (SDXL's does): decode previews in float32
    if vae.dtype != torch.float32:
        vae = vae.to(torch.float32)
    for i in range(len(latents)):
        with torch.inference_mode():
            img = vae.decode(latents[i:i + 1].to(vae.device, torch.float32) / scaling).sample
        frames.append(to_uint8_hwc(((img.float().cpu() + 1.0) * 0.5).clamp(0, 1))[0])
    return np.stack(frames)


def preview_frames(kset: KeyframeSet, vae: Any | None = None) -> np.ndarray:
    """A keyframe set as (N, H, W, 3) uint8 pictures: pixel keyframes as they are, latents decoded
    (through ``vae`` when given, else the approx decoder)."""
    if kset.kind == PIXELS_KIND:
        from live.visuals.pixels import pixels_to_images

        return pixels_to_images(kset.latents)
    return decode_for_preview(kset.latents, kset.meta.get("family", "sd1"), kset.scaling_factor, vae)


def contact_sheet(frames: np.ndarray, thumb_width: int = 256, pad: int = 4) -> np.ndarray:
    """Frames (N, H, W, 3) uint8 tiled in a near-square grid of thumbnails on a dark background."""
    from PIL import Image

    n, h, w, _ = frames.shape
    tw = min(thumb_width, w)
    th = max(1, round(h * tw / w))
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    sheet = np.full((rows * (th + pad) + pad, cols * (tw + pad) + pad, 3), 16, dtype=np.uint8)
    for i, frame in enumerate(frames):
        thumb = np.asarray(Image.fromarray(frame).resize((tw, th), Image.Resampling.LANCZOS))
        r, c = divmod(i, cols)
        y, x = pad + r * (th + pad), pad + c * (tw + pad)
        sheet[y:y + th, x:x + tw] = thumb
    return sheet


def write_preview(preset: Preset, kset: KeyframeSet, keyframes_dir: Path, vae: Any | None) -> Path:
    """Write keyframes/NAME/preview.png (temp file + rename) and return its path; a failed write
    (disk full) leaves no temp file and raises PrecomputeError in one line."""
    from PIL import Image

    frames = preview_frames(kset, vae)
    path = preset_dir(preset, keyframes_dir) / PREVIEW_FILE
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        Image.fromarray(contact_sheet(frames)).save(tmp, format="PNG")
        os.replace(tmp, path)
    except OSError as exc:
        raise PrecomputeError(f"{as_written(path)}: cannot write the preview ({exc.strerror or first_line(exc)}); "
                              f"the keyframes are written, free some space and ask for --preview again") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While precompute runs in the main thread, SIGTERM stops it like Ctrl-C (KeyboardInterrupt),
    so every finished keyframe is kept and no temp file is left; the old handler comes back after.
    A handler someone else installed is left alone."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class _Job:
    preset: Preset
    model: ModelRef | None
    vae: ModelRef | None
    images: str


def _plan(options: PrecomputeOptions, presets_dir: Path) -> tuple[list[_Job], dict[str, str]]:
    """Validate every named preset, model and images folder before any keyframe is touched.

    Named presets must all be usable (the first problem is raised). With ``all_presets`` an
    unusable preset (bad file, model not on disk...) is skipped and returned with its reason, so
    one preset written for a model this machine lacks does not stop the others.
    """
    skipped: dict[str, str] = {}
    if options.all_presets:
        good, skipped = load_presets(presets_dir)
        names = list(good)
    else:
        names = list(options.presets)
    if not names and not skipped:
        raise UserError("name at least one preset (e.g. `precompute demo`) or pass --all")
    jobs = []
    refs: dict[str, ModelRef] = {}
    for name in names:
        try:
            jobs.append(_plan_one(name, presets_dir, options, refs))
        except UserError as exc:
            if not options.all_presets:
                raise
            skipped[name] = str(exc)
    return jobs, skipped


def _plan_one(name: str, presets_dir: Path, options: PrecomputeOptions, refs: dict[str, ModelRef]) -> _Job:
    """Check one preset's model, VAE and images folder; raise UserError naming what is wrong."""
    preset = find_preset(name, presets_dir)
    g = preset.generation
    model_name = options.model or preset.resolve(g.model)
    images = options.from_images or preset.resolve(g.images)
    if model_name == APPROX_MODEL:
        if not images:
            raise PrecomputeError(f"{as_written(preset.path)}: model \"approx\" can only encode images; pass --model "
                                  f"FOLDER or --from-images DIR")
        model = None
    else:
        if model_name not in refs:
            refs[model_name] = resolve_model(model_name, options.allow_download)
        model = refs[model_name]
    vae_name = options.vae or preset.resolve(g.vae)
    # A --vae typed on the command line is checked even where no model uses it: a typo is an error, not ignored.
    vae = resolve_model(vae_name, options.allow_download, what="VAE") if vae_name and (model or options.vae) else None
    if vae is not None and model is None:
        _LOGGER.warning("%s: --vae is not used: the preset has no model (approx)", preset.name)
        vae = None
    if images:
        images_identity(images, g.width, g.height, text_keyframe_count(preset))  # names a bad folder now
    return _Job(preset, model, vae, images)


def _images_job(job: _Job, options: PrecomputeOptions, keyframes_dir: Path, device: str, dtype: torch.dtype,
                vae_cache: dict[str, Any]) -> tuple[Result, Any]:
    preset, g = job.preset, job.preset.generation
    started = time.perf_counter()
    if job.model is None:
        if job.images == preset.resolve(g.images) and not options.force:
            before = keyframes_path(preset, keyframes_dir)
            stamp = before.stat().st_mtime_ns if before.is_file() else None
            kset = ensure_builtin_keyframes(preset, keyframes_dir)
            action = "skipped" if stamp is not None and before.stat().st_mtime_ns == stamp else "written"
            return Result(preset.name, action, kset.path, len(kset.latents), 0 if action == "skipped"
                          else len(kset.latents), 0, time.perf_counter() - started), None
        images, digest, names = source_images(preset, job.images)
        key = approx_cache_key(preset, digest)
        if not options.force and _up_to_date(preset, keyframes_dir, key) is not None:
            return Result(preset.name, "skipped", keyframes_path(preset, keyframes_dir), len(images)), None
        path = save_pixel_keyframes(preset, images, names, key, keyframes_dir, images_from=job.images)
        return Result(preset.name, "written", path, len(images), len(images), 0,
                      time.perf_counter() - started), None
    files, digest = images_identity(job.images, g.width, g.height, text_keyframe_count(preset))
    key = image_cache_key(preset, job.model, job.vae, digest)
    vae_ref = job.vae or job.model
    cache_id = vae_ref.load_from + ("" if job.vae else "#vae")
    if not options.force and _up_to_date(preset, keyframes_dir, key) is not None:
        return Result(preset.name, "skipped", keyframes_path(preset, keyframes_dir), len(files) or 0), None
    if cache_id not in vae_cache:
        vae_cache.clear()
        vae_cache[cache_id] = load_vae(vae_ref, device, dtype, options.allow_download, separate=job.vae is not None)
    vae = vae_cache[cache_id]
    images, _, names = source_images(preset, job.images)
    family = g.family if preset.family_is_explicit else ("sdxl" if abs(vae.config.scaling_factor - 0.13025) < 1e-4
                                                        else "sd1")
    latents, scaling = encode_images_with_vae(vae, images, options.batch_size)
    path = save_preset_keyframes(preset, latents, keyframes_dir, {
        "family": family, "scaling_factor": scaling, "model": job.model.name, "model_revision": job.model.revision,
        "model_identity": job.model.identity, "vae": job.vae.name if job.vae else "", "source": "images",
        "images": names, "images_from": job.images, "encoder": "vae", "cache_key": key, "steps": 0, "guidance": 0.0})
    return Result(preset.name, "written", path, len(latents), len(latents), 0, time.perf_counter() - started), vae


def precompute(options: PrecomputeOptions, on_batch: Callable[[list[int]], None] | None = None,
               on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Precompute the presets ``options`` name; returns one :class:`Result` per preset, in order.

    Nothing is printed but the progress bar (``options.progress``): the caller reports.
    ``on_result`` is called with each preset's result (preview included) as soon as it is done,
    so a long run can report as it goes; ``on_batch`` as in :func:`generate_text_keyframes`.
    SIGTERM stops it like Ctrl-C (KeyboardInterrupt): finished keyframes and earlier presets stay,
    no half file is left, and the same command resumes.
    """
    with sigterm_interrupts():
        return _precompute(options, on_batch, on_result)


def _precompute(options: PrecomputeOptions, on_batch: Callable[[list[int]], None] | None,
                on_result: Callable[[Result], None] | None) -> list[Result]:
    presets_dir = paths.presets_dir(options.presets_dir)
    keyframes_dir = paths.keyframes_dir(options.keyframes_dir)
    device = resolve_device(options.device)
    dtype = _dtype_for(device, options.fp32)
    jobs, skipped = _plan(options, presets_dir)
    results: list[Result] = []
    for name, reason in skipped.items():
        _LOGGER.warning("skipping preset %s: %s", name, reason)
        results.append(Result(name, "unusable", None, 0, reason=reason))
        if on_result is not None:
            on_result(results[-1])
    pipe_key, pipe = None, None
    vae_cache: dict[str, Any] = {}
    for job in jobs:
        preset = job.preset
        preview_vae = None
        if job.images:
            result, preview_vae = _images_job(job, options, keyframes_dir, device, dtype, vae_cache)
        else:
            model = job.model
            assert model is not None
            if not model.identity:  # allow_download of a hub id not yet cached: fetch, then identify
                pipe = load_pipeline(model, device, dtype, True, job.vae)
                pipe_key = (model.load_from, job.vae.load_from if job.vae else "")
                model = resolve_model(model.name, False)
            key = text_cache_key(preset, model, job.vae)
            wanted = (model.load_from, job.vae.load_from if job.vae else "")
            existing = None if options.force else _up_to_date(preset, keyframes_dir, key)
            if existing is not None:
                result = Result(preset.name, "skipped", existing.path, len(existing.latents))
            else:
                if pipe_key != wanted:
                    pipe = None  # free the previous model before loading the next
                    pipe = load_pipeline(model, device, dtype, options.allow_download, job.vae)
                    pipe_key = wanted
                result = generate_text_keyframes(preset, pipe, model, keyframes_dir, key, options.batch_size,
                                                 on_batch, job.vae, progress=options.progress)
            preview_vae = pipe.vae if pipe is not None and pipe_key == wanted else None
        if options.preview:
            kset = load_preset_keyframes(preset, keyframes_dir)
            if preview_vae is None and job.model is not None:
                ref = job.vae or job.model
                preview_vae = load_vae(ref, device, dtype, options.allow_download, separate=job.vae is not None)
            result.preview = write_preview(preset, kset, keyframes_dir, preview_vae)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results
