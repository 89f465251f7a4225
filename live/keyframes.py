"""The keyframe cache: one safetensors file of latents per preset, and the preloaded bank.

Layout (``keyframes/`` is git-ignored)::

    keyframes/NAME/keyframes.safetensors     tensor "latents" (N, C, H/8, W/8) float32 + metadata
    keyframes/NAME/partial-KEY/k00012.safetensors   one finished keyframe of an unfinished precompute
    keyframes/NAME/preview.png               optional contact sheet

Stored latents are *scaled, diffusion-space* latents: exactly what a pipeline returns with
``output_type="latent"``; a VAE decodes them as ``vae.decode(latents / scaling_factor)``. The
metadata carries the scaling factor, family, shape, format version, model identity, prompts,
seeds, steps, guidance, creation time, a settings hash (stale check at load), a cache key
(settings + model/images content; precompute skips when it matches) and a SHA-256 of the
tensor bytes, so a file that is partial, corrupt, stale or for another decoder is named in
one line and never half-loaded. Every write goes to a temp file that is then renamed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from live.errors import UserError
from live.presets import (APPROX_MODEL, BUILTIN_IMAGES, LATENT_CHANNELS, SCALING_FACTORS, Preset, PresetError,
                          _where, load_presets)

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
        raise KeyframeError(f"{_where(path)}: unknown latent family {full['family']!r}; use sd1 or sdxl")
    _check_latents(_where(path), latents, preset, full["family"])
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
        raise KeyframeError(f"{_where(path)}: corrupt or partial keyframe file ({_short(exc)}); "
                            f"delete it or run precompute again") from None


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__


def load_keyframe_file(path: str | Path, verify: bool = True) -> KeyframeSet:
    """Load one keyframe file and check its format and checksum (not whether it fits a preset)."""
    path = Path(path)
    where = _where(path)
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
        raise KeyframeError(f"{where}: corrupt or partial keyframe file ({_short(exc)}); run precompute again") from None
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
    where = _where(path)
    if not path.is_file():
        raise KeyframeError(f"{where}: not precomputed; run `run_live.py precompute {preset.name}`")
    kset = load_keyframe_file(path)
    family = kset.meta.get("family")
    if family not in SCALING_FACTORS:
        raise KeyframeError(f"{where}: unknown latent family {family!r}; run precompute {preset.name} again")
    if preset.family_is_explicit and family != preset.generation.family:
        raise KeyframeError(f"{where}: holds {family} latents but {_where(preset.path)} says "
                            f"generation.family = {preset.generation.family!r}; run precompute {preset.name} again")
    _check_latents(where, kset.latents, preset, family, finite=False)
    if kset.meta.get("settings_hash") != preset.settings_hash():
        raise KeyframeError(f"{where}: stale, {_where(preset.path)} changed since it was precomputed; "
                            f"run `run_live.py precompute {preset.name}`")
    return kset


# ---------------------------------------------------------------- images -> latents (no model)

def image_files(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` sorted by name; KeyframeError when the folder is missing or has none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise KeyframeError(f"{_where(folder)}: images folder does not exist; give a folder of PNG/JPEG images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise KeyframeError(f"{_where(folder)}: no images in this folder (looked for "
                            f"{' '.join(IMAGE_EXTENSIONS)}); add some or point generation.images elsewhere")
    return files


def load_images(files: Iterable[Path], width: int, height: int) -> np.ndarray:
    """Read, cover-crop and resize each image to width x height: (N, H, W, 3) uint8. Names an unreadable file."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # deferred: only image presets need Pillow

    out = []
    for path in files:
        try:
            with Image.open(path) as img:
                img.load()
                rgb = ImageOps.exif_transpose(img).convert("RGB")
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
            raise KeyframeError(f"{_where(path)}: not a readable image ({_short(exc)}); remove or re-export it") from None
        out.append(np.asarray(ImageOps.fit(rgb, (width, height), Image.Resampling.LANCZOS), dtype=np.uint8))
    return np.stack(out)


def images_identity(source: str, width: int, height: int, count: int) -> tuple[list[Path], str]:
    """The image files behind ``source`` and a content hash of them (for the cache key)."""
    if source == BUILTIN_IMAGES:
        import live.demo  # the demo images are code: hash the code that draws them

        digest = hashlib.sha256(Path(live.demo.__file__).read_bytes()).hexdigest()
        return [], hash_json({"builtin": source, "code": digest, "count": count, "size": [width, height]})
    files = image_files(source)
    h = hashlib.sha256()
    for path in files:
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes())
    return files, h.hexdigest()


def source_images(preset: Preset, source: str | None = None) -> tuple[np.ndarray, str, list[str]]:
    """The preset's images as (N, H, W, 3) uint8, their content hash, and their names."""
    g = preset.generation
    source = source or preset.resolve(g.images)
    count = text_keyframe_count(preset)
    files, digest = images_identity(source, g.width, g.height, count)
    if source == BUILTIN_IMAGES:
        from live.demo import demo_images

        return demo_images(g.width, g.height, count), digest, [f"{BUILTIN_IMAGES}#{i}" for i in range(count)]
    return load_images(files, g.width, g.height), digest, [p.name for p in files]


def approx_cache_key(preset: Preset, images_digest: str) -> str:
    """Cache key of keyframes made from images with the weight-free approx encoder."""
    return hash_json({"settings": preset.settings_hash(), "images": images_digest, "encoder": "approx",
                      "format": FORMAT_VERSION})


def ensure_builtin_keyframes(preset: Preset, keyframes_dir: str | Path) -> KeyframeSet:
    """For ``model = "approx"`` presets: load the keyframes, building them from the images first if missing or stale.

    Building is the approx least-squares encoder on the (cover-cropped) images: fast, no model,
    no progress output. A bad images folder raises KeyframeError naming it.
    """
    from live.approx import rgb_to_latents

    g = preset.generation
    if g.model != APPROX_MODEL or not g.images:
        raise KeyframeError(f"{_where(preset.path)}: only model = \"approx\" presets with generation.images build "
                            f"automatically; run `run_live.py precompute {preset.name}`")
    path = keyframes_path(preset, keyframes_dir)
    count = text_keyframe_count(preset)
    files, digest = images_identity(preset.resolve(g.images), g.width, g.height, count)
    key = approx_cache_key(preset, digest)
    if path.is_file():
        try:
            kset = load_preset_keyframes(preset, keyframes_dir)
            if kset.meta.get("cache_key") == key:
                return kset
            _LOGGER.info("keyframes for %s are out of date; rebuilding from %s", preset.name, g.images)
        except KeyframeError as exc:
            _LOGGER.info("%s; rebuilding", exc)
    images, _, names = source_images(preset)
    latents = rgb_to_latents(images, family=g.family)
    save_preset_keyframes(preset, latents, keyframes_dir, {
        "family": g.family, "model": APPROX_MODEL, "model_revision": "approx-linear", "source": "images",
        "images": names, "encoder": "approx", "cache_key": key, "steps": 0, "guidance": 0.0,
    })
    return load_preset_keyframes(preset, keyframes_dir)


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
                _LOGGER.warning("%s: unusable partial keyframe, redoing it", _where(path))
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


# ---------------------------------------------------------------- the preloaded bank

@dataclass(frozen=True)
class _Entry:
    name: str
    preset: Preset | None
    kset: KeyframeSet | None
    reason: str


class PresetBank:
    """Every preset's keyframes, loaded and checked once at show start, on the decode device.

    Read-only afterwards, so the main thread may read it while other threads run. A preset
    whose file is bad, whose keyframes are missing/corrupt/stale, or whose latents do not fit
    the decoder (family, channels, scaling) is unavailable with a one-line reason; the rest load.
    """

    def __init__(self, entries: dict[str, _Entry], family: str, latent_channels: int, device: str) -> None:
        self._entries = dict(entries)
        self.family = family
        self.latent_channels = latent_channels
        self.device = device

    @classmethod
    def load(cls, presets_dir: str | Path, keyframes_dir: str | Path, latent_channels: int = 4,
             family: str = "sd1", device: str | torch.device = "cpu",
             scaling_factor: float | None = None) -> "PresetBank":
        """Load every preset in ``presets_dir`` and its keyframes from ``keyframes_dir``, checked for the decoder.

        ``family``/``latent_channels``/``scaling_factor`` describe the decoder the show will use:
        latents of another family (e.g. SDXL latents with an SD 1.x VAE) are refused by name.
        Approx presets with images build their keyframes here when missing or stale.
        """
        if family not in SCALING_FACTORS:
            raise UserError(f"unknown latent family {family!r}; choose {' or '.join(SCALING_FACTORS)}")
        started = time.perf_counter()
        good, bad = load_presets(presets_dir)
        entries: dict[str, _Entry] = {n: _Entry(n, None, None, reason) for n, reason in bad.items()}
        for name, preset in good.items():
            try:
                if preset.generation.model == APPROX_MODEL:
                    kset = ensure_builtin_keyframes(preset, keyframes_dir)
                else:
                    kset = load_preset_keyframes(preset, keyframes_dir)
                _fits_decoder(kset, family, latent_channels, scaling_factor)
                if str(device) != "cpu":
                    kset = KeyframeSet(kset.latents.to(device), kset.meta, kset.path)
                entries[name] = _Entry(name, preset, kset, "")
            except (KeyframeError, PresetError) as exc:
                _LOGGER.warning("preset %s unavailable: %s", name, exc)
                entries[name] = _Entry(name, preset, None, str(exc))
            except Exception as exc:  # noqa: BLE001 - one broken preset must not stop the show loading
                _LOGGER.exception("preset %s unavailable: unexpected error", name)
                entries[name] = _Entry(name, preset, None, f"{_where(preset.path)}: unexpected error while loading "
                                                           f"keyframes ({exc.__class__.__name__}: {_short(exc)})")
        bank = cls(dict(sorted(entries.items())), family, latent_channels, str(device))
        _LOGGER.info("preset bank: %d of %d presets ready (%.2f s)", len(bank.names()), len(entries),
                     time.perf_counter() - started)
        return bank

    def names(self) -> list[str]:
        """Names of the presets that are ready to show."""
        return [n for n, e in self._entries.items() if e.kset is not None]

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None or entry.kset is None:
            why = f" ({entry.reason})" if entry is not None else ""
            raise UserError(f"preset {name!r} is not available{why}; available: {', '.join(self.names()) or 'none'}")
        return entry

    def get(self, name: str) -> tuple[Preset, torch.Tensor]:
        """The preset and its latents (N, C, h, w) on the bank's device; UserError lists the available ones."""
        entry = self._entry(name)
        return entry.preset, entry.kset.latents  # type: ignore[union-attr,return-value]

    def keyframe_set(self, name: str) -> KeyframeSet:
        """The full keyframe set (latents, metadata with scaling factor) of an available preset."""
        return self._entry(name).kset  # type: ignore[return-value]

    def status(self) -> list[dict[str, Any]]:
        """One row per preset file: name, ok, reason, keyframes, bytes, and family/size/model when known."""
        rows = []
        for name, e in self._entries.items():
            g = e.preset.generation if e.preset else None
            rows.append({
                "name": name,
                "ok": e.kset is not None,
                "reason": e.reason,
                "keyframes": int(e.kset.latents.shape[0]) if e.kset is not None else 0,
                "bytes": e.kset.nbytes if e.kset is not None else 0,
                "family": e.kset.meta.get("family") if e.kset is not None else (g.family if g else ""),
                "size": f"{g.width}x{g.height}" if g else "",
                "model": g.model if g else "",
            })
        return rows


def _fits_decoder(kset: KeyframeSet, family: str, latent_channels: int, scaling_factor: float | None) -> None:
    """KeyframeError when the stored latents cannot be decoded by the show's decoder."""
    where = _where(kset.path)
    stored = kset.meta.get("family")
    if stored != family:
        raise KeyframeError(f"{where}: holds {stored} latents, the decoder is {family}; an {family} VAE would show "
                            f"garbage. Use a {stored} model/decoder or precompute this preset with a {family} model")
    if kset.latents.shape[1] != latent_channels:
        raise KeyframeError(f"{where}: latents have {kset.latents.shape[1]} channels, the decoder takes "
                            f"{latent_channels}; precompute with a model of the decoder's family")
    if scaling_factor is not None and abs(kset.scaling_factor - scaling_factor) > 1e-4:
        raise KeyframeError(f"{where}: latents were scaled by {kset.scaling_factor:g}, the decoder's VAE uses "
                            f"{scaling_factor:g}; precompute with the VAE you decode with")
