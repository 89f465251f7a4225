"""Keyframe files: a preset's latents as safetensors with metadata, written atomically, verified
on load, and the per-batch store that lets an interrupted precompute resume.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from live.errors import UserError
from live.library.presets import (
    LATENT_CHANNELS,
    SCALING_FACTORS,
    Preset,
    as_written,
)

_LOGGER = logging.getLogger(__name__)


FORMAT = "live-keyframes"
FORMAT_VERSION = 1
KEYFRAMES_FILE = "keyframes.safetensors"
PREVIEW_FILE = "preview.png"
TENSOR_NAME = "latents"
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# metadata values that are JSON (everything else is a plain string)
_JSON_KEYS = ("format_version", "scaled", "scaling_factor", "latent_shape", "count", "prompts", "seeds", "steps",
              "guidance", "sections", "images", "width", "height", "created")


class KeyframeError(UserError):
    """A keyframe file is missing, partial, corrupt, stale or made for another decoder (names the file)."""


@dataclass(frozen=True)
class KeyframeSet:
    """A preset's keyframes: ``latents`` (N, C, h, w) float32 scaled diffusion-space latents, their metadata."""

    latents: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()

    @property
    def scaling_factor(self) -> float:
        """The VAE scaling factor the latents were multiplied by (decode ``latents / scaling_factor``)."""
        return float(self.meta.get("scaling_factor", SCALING_FACTORS["sd1"]))

    @property
    def nbytes(self) -> int:
        """Memory the latents take."""
        return self.latents.numel() * self.latents.element_size()


def preset_dir(preset: Preset, keyframes_dir: str | Path) -> Path:
    """``keyframes/NAME``: the folder that holds everything cached for one preset."""
    return Path(keyframes_dir) / preset.name


def keyframes_path(preset: Preset, keyframes_dir: str | Path) -> Path:
    """``keyframes/NAME/keyframes.safetensors``."""
    return preset_dir(preset, keyframes_dir) / KEYFRAMES_FILE


def text_keyframe_count(preset: Preset) -> int:
    """Keyframes a text preset makes: one per prompt x seed (builtin:demo makes the same number)."""
    g = preset.generation
    return max(len(g.all_prompts()), 1) * len(g.seeds)


def hash_json(doc: Any) -> str:
    """SHA-256 hex of a JSON document with sorted keys (the cache key function)."""
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


def _encode_meta(meta: dict[str, Any]) -> dict[str, str]:
    return {k: json.dumps(v) if k in _JSON_KEYS or not isinstance(v, str) else v for k, v in meta.items()}


def _decode_meta(raw: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k in _JSON_KEYS:
            try:
                out[k] = json.loads(v)
            except json.JSONDecodeError:
                out[k] = v
        else:
            out[k] = v
    return out


def _tensor_digest(t: torch.Tensor) -> str:
    # hash the bytes in place (no copy): this runs over every keyframe at show start
    return hashlib.sha256(memoryview(t.contiguous().numpy()).cast("B")).hexdigest()


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write to a temp file in the same folder, flush to disk, then rename over ``path``.

    A crash at any point leaves either the old file or the new one under the real name, never a half.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphan_temps(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # the writer may create it private; others (the show user) must read it
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _remove_orphan_temps(path: Path) -> None:
    """Delete temp files a killed writer left next to ``path`` (their process is gone); live writers' stay."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
            if pid != os.getpid():
                os.kill(pid, 0)  # raises when no such process
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, PermissionError):
            continue  # not ours to judge


def build_meta(preset: Preset, latents: torch.Tensor, meta: dict[str, Any]) -> dict[str, Any]:
    """The full metadata record for ``latents`` of ``preset``: caller's ``meta`` over defaults from the preset."""
    g = preset.generation
    family = meta.get("family", g.family)
    full: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "preset": preset.name,
        "scaled": True,
        "scaling_factor": SCALING_FACTORS[family],
        "family": family,
        "model": g.model,
        "model_revision": "",
        "vae": g.vae,
        "source": "text" if not g.images else "images",
        "width": g.width,
        "height": g.height,
        "prompts": g.all_prompts(),
        "negative_prompt": g.negative_prompt,
        "sections": g.section_spans(),
        "seeds": g.seeds,
        "steps": g.steps,
        "guidance": g.guidance,
        "scheduler": g.scheduler,
        "settings_hash": preset.settings_hash(),
        "cache_key": preset.settings_hash(),
        "created": time.time(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": "latents are scaled diffusion-space latents (pipeline output_type='latent'); "
                "decode with vae.decode(latents / scaling_factor)",
    }
    full.update(meta)
    full["latent_shape"] = list(latents.shape[1:])
    full["count"] = int(latents.shape[0])
    full["dtype"] = "float32"
    full["latents_sha256"] = _tensor_digest(latents)
    return full


def _check_latents(where: str, latents: torch.Tensor, preset: Preset, family: str, finite: bool = True) -> None:
    expected = (LATENT_CHANNELS[family], preset.generation.height // 8, preset.generation.width // 8)
    if latents.ndim != 4 or tuple(latents.shape[1:]) != expected:
        got = "x".join(map(str, latents.shape[1:])) if latents.ndim == 4 else str(tuple(latents.shape))
        raise KeyframeError(
            f"{where}: latents are {got} per keyframe but preset {preset.name} "
            f"({preset.generation.width}x{preset.generation.height}, {family}) needs {'x'.join(map(str, expected))}; "
            f"run `run_live.py precompute {preset.name}` again")
    if latents.shape[0] == 0:
        raise KeyframeError(f"{where}: holds no keyframes; run `run_live.py precompute {preset.name}` again")
    # Only on write: a stored file matches its checksum, so it holds what passed this check.
    if finite and not torch.isfinite(latents).all():
        raise KeyframeError(f"{where}: latents contain NaN or inf (fp16 overflow?); run precompute "
                            f"{preset.name} again, with --device cpu if it repeats")


def save_preset_keyframes(preset: Preset, latents: torch.Tensor, keyframes_dir: str | Path,
                          meta: dict[str, Any]) -> Path:
    """Validate and atomically write ``latents`` (N, C, h, w) with full metadata; returns the file path."""
    path = keyframes_path(preset, keyframes_dir)
    latents = latents.detach().to("cpu", torch.float32).contiguous()
    full = build_meta(preset, latents, meta)
    if full["family"] not in SCALING_FACTORS:
        raise KeyframeError(f"{as_written(path)}: unknown latent family {full['family']!r}; use sd1 or sdxl")
    _check_latents(as_written(path), latents, preset, full["family"])
    _atomic_save({TENSOR_NAME: latents}, path, _encode_meta(full))
    _LOGGER.debug("wrote %d keyframes to %s", latents.shape[0], path)
    return path


def read_meta(path: str | Path) -> dict[str, Any]:
    """Only the metadata of a keyframe file (reads the header, not the tensors); KeyframeError if unreadable."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            return _decode_meta(fh.metadata() or {})
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise KeyframeError(f"{as_written(path)}: corrupt or partial keyframe file ({first_line(exc)}); "
                            f"delete it or run precompute again") from None


def first_line(exc: BaseException) -> str:
    """An exception as one short line for a message: its first line, at most 120 characters."""
    return str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__


def load_keyframe_file(path: str | Path, verify: bool = True) -> KeyframeSet:
    """Load one keyframe file and check its format and checksum (not whether it fits a preset)."""
    path = Path(path)
    where = as_written(path)
    if not path.is_file():
        raise KeyframeError(f"{where}: not precomputed")
    meta = read_meta(path)
    if meta.get("format") != FORMAT:
        raise KeyframeError(f"{where}: not a keyframe file of this tool (format {meta.get('format')!r}); "
                            f"delete it and run precompute again")
    if meta.get("format_version") != FORMAT_VERSION:
        raise KeyframeError(f"{where}: format version {meta.get('format_version')!r}, this tool reads "
                            f"{FORMAT_VERSION}; run precompute again")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise KeyframeError(f"{where}: corrupt or partial keyframe file ({first_line(exc)}); run precompute again") from None
    latents = tensors.get(TENSOR_NAME)
    if latents is None or latents.dtype != torch.float32 or latents.ndim != 4:
        raise KeyframeError(f"{where}: no float32 (N, C, h, w) tensor named {TENSOR_NAME!r}; run precompute again")
    if list(latents.shape[1:]) != meta.get("latent_shape") or latents.shape[0] != meta.get("count"):
        raise KeyframeError(f"{where}: partial keyframe file (shape {tuple(latents.shape)} but metadata says "
                            f"{meta.get('count')} x {meta.get('latent_shape')}); run precompute again")
    if verify and _tensor_digest(latents) != meta.get("latents_sha256"):
        raise KeyframeError(f"{where}: corrupt keyframe file (checksum mismatch); run precompute again")
    return KeyframeSet(latents=latents, meta=meta, path=path)


def load_preset_keyframes(preset: Preset, keyframes_dir: str | Path) -> KeyframeSet:
    """The preset's keyframes, checked: KeyframeError if missing, corrupt, partial, stale or mismatched."""
    path = keyframes_path(preset, keyframes_dir)
    where = as_written(path)
    if not path.is_file():
        raise KeyframeError(f"{where}: not precomputed; run `run_live.py precompute {preset.name}`")
    kset = load_keyframe_file(path)
    family = kset.meta.get("family")
    if family not in SCALING_FACTORS:
        raise KeyframeError(f"{where}: unknown latent family {family!r}; run precompute {preset.name} again")
    if preset.family_is_explicit and family != preset.generation.family:
        raise KeyframeError(f"{where}: holds {family} latents but {as_written(preset.path)} says "
                            f"generation.family = {preset.generation.family!r}; run precompute {preset.name} again")
    _check_latents(where, kset.latents, preset, family, finite=False)
    if kset.meta.get("settings_hash") != preset.settings_hash():
        raise KeyframeError(f"{where}: stale, {as_written(preset.path)} changed since it was precomputed; "
                            f"run `run_live.py precompute {preset.name}`")
    return kset


# ---------------------------------------------------------------- resumable precompute

class PartialStore:
    """Finished keyframes of an unfinished precompute, one small file each, so a crash loses at most a batch.

    The folder name carries the cache key, so leftovers from other settings are never mixed in.
    """

    def __init__(self, preset: Preset, keyframes_dir: str | Path, cache_key: str) -> None:
        self.preset = preset
        self.cache_key = cache_key
        self.dir = preset_dir(preset, keyframes_dir) / f"partial-{cache_key[:16]}"

    def _file(self, index: int) -> Path:
        return self.dir / f"k{index:05d}.safetensors"

    def remove_stale(self) -> None:
        """Delete partial folders left by runs with other settings (they can never be resumed)."""
        for other in self.dir.parent.glob("partial-*"):
            if other != self.dir and other.is_dir():
                for f in other.iterdir():
                    f.unlink()
                other.rmdir()

    def done(self, count: int, shape: tuple[int, ...]) -> dict[int, torch.Tensor]:
        """Every valid finished keyframe, by index; unreadable ones are deleted and redone."""
        found: dict[int, torch.Tensor] = {}
        if not self.dir.is_dir():
            return found
        for index in range(count):
            path = self._file(index)
            if not path.exists():
                continue
            try:
                meta = read_meta(path)
                t = load_file(str(path))[TENSOR_NAME]
                if meta.get("cache_key") != self.cache_key or tuple(t.shape) != tuple(shape) \
                        or not torch.isfinite(t).all():
                    raise KeyframeError("mismatch")
                found[index] = t
            except (KeyframeError, KeyError, SafetensorError, OSError):
                _LOGGER.warning("%s: unusable partial keyframe, redoing it", as_written(path))
                path.unlink(missing_ok=True)
        return found

    def put(self, index: int, latent: torch.Tensor) -> None:
        """Atomically keep one finished keyframe (C, h, w)."""
        latent = latent.detach().to("cpu", torch.float32).contiguous()
        _atomic_save({TENSOR_NAME: latent}, self._file(index), {"cache_key": self.cache_key, "index": str(index)})

    def clear(self) -> None:
        """Remove this run's partial files once the full keyframe file is written."""
        if self.dir.is_dir():
            for f in self.dir.iterdir():
                f.unlink()
            self.dir.rmdir()
