"""Keyframe files: a preset's latents as safetensors with metadata, written atomically, verified
on load, and the per-batch store that lets an interrupted precompute resume.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from live.errors import UserError
from live.library.presets import (
    LATENT_CHANNELS,
    SCALING_FACTORS,
    Preset,
    as_written,
)

_LOGGER = logging.getLogger(__name__)


FORMAT = "live-keyframes"
FORMAT_VERSION = 1          # of latent files; part of the SD cache keys, so a bump would re-precompute them all
# Pixel files are version 2: the pictures as bytes (uint8, 0..255), a quarter of the float32 of
# version 1. A tool that reads only version 1 refuses them by name; this one reads both, and
# turns a version 1 float32 pixel file into bytes on load (the approx presets rebuild it anyway:
# the version is part of their cache key).
PIXELS_FORMAT_VERSION = 2
READ_VERSIONS = (FORMAT_VERSION, PIXELS_FORMAT_VERSION)
KEYFRAMES_FILE = "keyframes.safetensors"
PREVIEW_FILE = "preview.png"
TENSOR_NAME = "latents"
# What a file holds (metadata "kind"): SD latents (N, 4, H/8, W/8) float32, or the pictures
# themselves, (N, 3, H, W) uint8 0..255, for presets made from images without a model
# (live/visuals/pixels.py).
LATENTS_KIND = "latents"
PIXELS_KIND = "pixels"
PIXEL_CHANNELS = 3
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Metadata is for people (check, the HUD), never for the show's logic, so it is capped: on write
# and again on read, so a file written elsewhere cannot bloat the bank or a status line.
MAX_META_TEXT = 300        # characters of one prompt, negative prompt or image name
MAX_META_ITEMS = 256       # entries of one list (prompts, images, seeds, sections)
MAX_META_VALUE = 4096      # characters of any other text value (model paths, notes)
MAX_HEADER_BYTES = 16 * 1024 * 1024  # a larger header is refused as corrupt (safetensors allows 100 MB)
MAX_FILE_BYTES = 8 * 1024 ** 3  # a larger file is refused before it is read into memory
_TEXT_KEYS = ("negative_prompt",)
_TEXT_LIST_KEYS = ("prompts", "images")
_WRITE_CHUNK = 1 << 20
_READ_TRIES = 3            # a file that changes under the reader is read again this often, then refused
_READ_RETRY_S = 0.05
# metadata values that are JSON (everything else is a plain string)
_JSON_KEYS = ("format_version", "scaled", "scaling_factor", "latent_shape", "count", "prompts", "seeds", "steps",
              "guidance", "sections", "images", "width", "height", "created")


class KeyframeError(UserError):
    """A keyframe file is missing, partial, corrupt, stale or made for another decoder (names the file)."""


class KeyframesMissing(KeyframeError):
    """A preset's keyframe file does not exist yet: it needs `precompute` (not a fault of any file)."""


class KeyframeChanging(KeyframeError):
    """A keyframe file kept changing while it was read (someone is writing it): read it again later."""


@dataclass(frozen=True)
class KeyframeSet:
    """A preset's keyframes and their metadata: ``latents`` (N, C, h, w) float32 scaled diffusion-space
    latents, or for kind :data:`PIXELS_KIND` the pictures (N, 3, H, W) uint8 0..255."""

    latents: torch.Tensor
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()
    # the file's (device, inode, size, mtime_ns, ctime_ns) when it was read: what the bank compares
    signature: tuple[int, ...] | None = None
    # for pixel keyframes, the bank's live.visuals.pixels.PixelSet (the pictures and their coordinates)
    pixels: Any = None

    @property
    def kind(self) -> str:
        """What the tensor holds: :data:`LATENTS_KIND` or :data:`PIXELS_KIND` (pictures, full size)."""
        return str(self.meta.get("kind", LATENTS_KIND))

    @property
    def scaling_factor(self) -> float:
        """The VAE scaling factor the latents were multiplied by (decode ``latents / scaling_factor``)."""
        return float(self.meta.get("scaling_factor", SCALING_FACTORS["sd1"]))

    @property
    def nbytes(self) -> int:
        """Memory the latents (or pictures) take."""
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


def _cap_text(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[:limit - 1] + "\u2026"


def cap_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` with prompts, image names and other text cut to the caps above (a new dict)."""
    out: dict[str, Any] = {}
    for key, value in meta.items():
        limit = MAX_META_TEXT if key in _TEXT_KEYS or key in _TEXT_LIST_KEYS else MAX_META_VALUE
        if isinstance(value, str):
            value = _cap_text(value, limit)
        elif isinstance(value, list):
            value = [_cap_text(v, limit) if isinstance(v, str) else v for v in value[:MAX_META_ITEMS]]
        out[_cap_text(str(key), 128)] = value
    return out


_EXTRA_JSON = "json_keys"  # the other keys whose values were written as JSON (so they read back as written)


def _encode_meta(meta: dict[str, Any]) -> dict[str, str]:
    # safetensors metadata is text only: the known keys and any value that is not text go as JSON,
    # and the keys of the latter are listed, so that reading gives back exactly what was written.
    extra = sorted(k for k, v in meta.items() if k not in _JSON_KEYS and not isinstance(v, str))
    out = {k: json.dumps(v) if k in _JSON_KEYS or k in extra else v for k, v in meta.items() if k != _EXTRA_JSON}
    if extra:
        out[_EXTRA_JSON] = json.dumps(extra)
    return out


def _decode_meta(raw: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        extra = set(json.loads(raw.get(_EXTRA_JSON, "[]")))
    except (json.JSONDecodeError, TypeError):
        extra = set()
    for k, v in raw.items():
        if k == _EXTRA_JSON:
            continue
        if k in _JSON_KEYS or k in extra:
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


def _write_chunk(fh: Any, chunk: memoryview) -> None:
    """One write of the temp file (its own function so tests can fail it as a full disk would)."""
    fh.write(chunk)


def _write_error(where: str, exc: OSError) -> KeyframeError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return KeyframeError(f"{where}: disk full, the keyframes could not be written (the previous file is kept); "
                             f"free some space and run precompute again to resume")
    return KeyframeError(f"{where}: cannot write keyframes ({exc.strerror or first_line(exc)}); the previous file "
                         f"is kept; check the folder's permissions and free space")


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    """Write to a temp file in the same folder, flush to disk, then rename over ``path``.

    A crash at any point leaves either the old file or the new one under the real name, never a half;
    a failed write (disk full, interrupted) removes its temp file and raises KeyframeError in one line.
    """
    where = as_written(path)
    data = memoryview(save_bytes(tensors, metadata=metadata))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphan_temps(path)
        with open(tmp, "wb") as fh:
            for start in range(0, len(data), _WRITE_CHUNK):
                _write_chunk(fh, data[start:start + _WRITE_CHUNK])
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # the writer may create it private; others (the show user) must read it
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise _write_error(where, exc) from None
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # a later write removes it as an orphan


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
    if full.get("kind") == PIXELS_KIND:
        full["format_version"] = PIXELS_FORMAT_VERSION
    full["latent_shape"] = list(latents.shape[1:])
    full["count"] = int(latents.shape[0])
    full["dtype"] = str(latents.dtype).removeprefix("torch.")
    full["latents_sha256"] = _tensor_digest(latents)
    return cap_meta(full)


def _check_latents(where: str, latents: torch.Tensor, preset: Preset, family: str, finite: bool = True,
                   kind: str = LATENTS_KIND) -> None:
    g = preset.generation
    if kind == PIXELS_KIND:
        expected = (PIXEL_CHANNELS, g.height, g.width)
    elif kind == LATENTS_KIND:
        expected = (LATENT_CHANNELS[family], g.height // 8, g.width // 8)
    else:
        raise KeyframeError(f"{where}: holds keyframes of kind {kind!r}, this tool reads {LATENTS_KIND} and "
                            f"{PIXELS_KIND}; run `run_live.py precompute {preset.name}` again")
    if latents.ndim != 4 or tuple(latents.shape[1:]) != expected:
        got = "x".join(map(str, latents.shape[1:])) if latents.ndim == 4 else str(tuple(latents.shape))
        raise KeyframeError(
            f"{where}: latents are {got} per keyframe but preset {preset.name} "
            f"({preset.generation.width}x{preset.generation.height}, {family}) needs {'x'.join(map(str, expected))}; "
            f"run `run_live.py precompute {preset.name}` again")
    if latents.shape[0] == 0:
        raise KeyframeError(f"{where}: holds no keyframes; run `run_live.py precompute {preset.name}` again")
    # load_keyframe_file checks finiteness itself, so loaders skip it here; bytes are always finite.
    if finite and latents.is_floating_point() and not torch.isfinite(latents).all():
        raise KeyframeError(f"{where}: latents contain NaN or inf (fp16 overflow?); run precompute "
                            f"{preset.name} again, with --device cpu if it repeats")


def save_preset_keyframes(preset: Preset, latents: torch.Tensor, keyframes_dir: str | Path,
                          meta: dict[str, Any]) -> Path:
    """Validate and atomically write ``latents`` (N, C, h, w) with full metadata; returns the file path.

    Latents are written as float32; pictures (``meta["kind"] == "pixels"``) as uint8, the bytes
    given or floats in 0..1 rounded to the nearest of 256 levels."""
    path = keyframes_path(preset, keyframes_dir)
    latents = latents.detach().to("cpu")
    latents = (as_pixel_bytes(latents) if meta.get("kind") == PIXELS_KIND else latents.to(torch.float32)).contiguous()
    full = build_meta(preset, latents, meta)
    if full["family"] not in SCALING_FACTORS:
        raise KeyframeError(f"{as_written(path)}: unknown latent family {full['family']!r}; use sd1 or sdxl")
    _check_latents(as_written(path), latents, preset, full["family"], kind=full.get("kind", LATENTS_KIND))
    _atomic_save({TENSOR_NAME: latents}, path, _encode_meta(full))
    _LOGGER.debug("wrote %d keyframes to %s", latents.shape[0], path)
    return path


def as_pixel_bytes(pixels: torch.Tensor) -> torch.Tensor:
    """Pictures as uint8 0..255: bytes as they are, floats in 0..1 rounded (clamped) to the nearest level."""
    if pixels.dtype == torch.uint8:
        return pixels
    return (pixels.float().clamp(0.0, 1.0) * 255.0 + 0.5).to(torch.uint8)


def _corrupt(where: str, detail: str) -> KeyframeError:
    return KeyframeError(f"{where}: corrupt or partial keyframe file ({detail}); run precompute again")


def _header_length(prefix: bytes, size: int, where: str) -> int:
    """The header length a file's first 8 bytes announce, checked against the limit and the file size."""
    if len(prefix) < 8:
        raise _corrupt(where, f"{size} bytes, too short for a header")
    n = int.from_bytes(prefix[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise _corrupt(where, f"header of {n} bytes, over the {MAX_HEADER_BYTES // (1 << 20)} MB limit")
    if 8 + n > size:
        raise _corrupt(where, f"header of {n} bytes but the file has {size}")
    return n


def _parse_header(raw: bytes, where: str) -> dict[str, Any]:
    """The metadata of a header's JSON text, decoded and capped."""
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _corrupt(where, f"header is not JSON: {first_line(exc)}") from None
    if not isinstance(header, dict):
        raise _corrupt(where, "header is not a JSON object")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _corrupt(where, "metadata is not a table of strings")
    return cap_meta(_decode_meta(meta))


def read_meta(path: str | Path) -> dict[str, Any]:
    """Only the metadata of a keyframe file (reads the header, not the tensors); KeyframeError if unreadable."""
    path = Path(path)
    where = as_written(path)
    try:
        with open(path, "rb", opener=_open_nonblocking) as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _corrupt(where, "not a regular file")
            size = info.st_size
            n = _header_length(fh.read(8), size, where)
            raw = fh.read(n)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _corrupt(where, first_line(exc)) from None
    if len(raw) != n:
        raise _corrupt(where, "it shrank while being read")
    return _parse_header(raw, where)


def first_line(exc: BaseException) -> str:
    """An exception as one short line for a message: its first line, at most 120 characters."""
    return str(exc).splitlines()[0][:120] if str(exc) else exc.__class__.__name__


def file_signature(path: str | Path) -> tuple[int, ...] | None:
    """(device, inode, size, mtime_ns, ctime_ns) of a file, None when it is missing or cannot be
    looked at: it changes with every write, rename over it, or permission change."""
    try:
        return _signature(os.stat(path))
    except (OSError, ValueError):
        return None


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _too_big(where: str, size: int, limit: int) -> KeyframeError:
    return KeyframeError(f"{where}: {size} bytes, more than a keyframe file for it can hold ({limit}); "
                         f"not a keyframe file or corrupt, run precompute again")


def _read_whole(path: Path, where: str, max_bytes: int = MAX_FILE_BYTES) -> tuple[bytes, tuple[int, ...]]:
    """All of a file's bytes, and its signature, read while it did not change.

    The stat before and after the read (and the name's own) must agree, else the file is
    being written: read again a few times, then KeyframeChanging. Nothing stays mapped. A file
    over ``max_bytes`` is refused before it is read.
    """
    for attempt in range(_READ_TRIES):
        try:
            with open(path, "rb", opener=_open_nonblocking) as fh:
                info = os.fstat(fh.fileno())
                if not stat.S_ISREG(info.st_mode):
                    raise KeyframeError(f"{where}: not a regular file (a FIFO or device); delete it and run "
                                        f"precompute again")
                before = _signature(info)
                if before[2] > max_bytes:
                    raise _too_big(where, before[2], max_bytes)
                # exactly the size fstat gave: read(max_bytes + 1) made Python allocate a buffer of the
                # limit (8 GiB) before reading a byte; a file that grows meanwhile shows in ``after``
                data = fh.read(before[2])
                after = _signature(os.fstat(fh.fileno()))
            current = file_signature(path)
        except FileNotFoundError:
            raise KeyframesMissing(f"{where}: not precomputed") from None
        except OSError as exc:
            raise KeyframeError(f"{where}: cannot be read ({first_line(exc)}); check the disk and "
                                f"run precompute again") from None
        if before == after == current and len(data) == before[2]:
            return data, before
        if attempt + 1 < _READ_TRIES:
            time.sleep(_READ_RETRY_S * (attempt + 1))
    raise KeyframeChanging(f"{where}: changed while it was being read (still being written?); "
                           f"it is read again once it stops changing")


def _open_nonblocking(path: str, flags: int) -> int:
    """``open()``'s opener: O_NONBLOCK, so a FIFO put where a keyframe file belongs cannot block the open."""
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def _decode_file(data: bytes, where: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A whole keyframe file's bytes -> (tensors in ordinary memory, capped metadata)."""
    n = _header_length(data[:8], len(data), where)
    meta = _parse_header(data[8:8 + n], where)
    try:
        # load() copies out of ``data``; clone so each tensor owns writable memory of its own
        tensors = {k: t.clone() for k, t in load_bytes(data).items()}
    except (SafetensorError, ValueError, RuntimeError, TypeError, KeyError, OverflowError) as exc:
        raise _corrupt(where, first_line(exc)) from None
    return tensors, meta


def load_keyframe_file(path: str | Path, verify: bool = True, max_bytes: int = MAX_FILE_BYTES) -> KeyframeSet:
    """Read one keyframe file into memory and check it: format, dtype, shape against the metadata,
    finite values and (``verify``) the checksum. Not whether it fits a preset.

    The file is read whole and parsed from memory, so truncating or overwriting it afterwards
    cannot touch the returned latents (a memory-mapped tensor would SIGBUS or turn to NaN).
    A file larger than ``max_bytes`` is refused unread.
    """
    path = Path(path)
    where = as_written(path)
    if not path.is_file():
        raise KeyframesMissing(f"{where}: not precomputed")
    data, signature = _read_whole(path, where, max_bytes)
    tensors, meta = _decode_file(data, where)
    del data
    if meta.get("format") != FORMAT:
        raise KeyframeError(f"{where}: not a keyframe file of this tool (format {meta.get('format')!r}); "
                            f"delete it and run precompute again")
    version = meta.get("format_version")
    if isinstance(version, bool) or version not in READ_VERSIONS:
        raise KeyframeError(f"{where}: format version {str(version)[:40]}, this tool reads "
                            f"{' and '.join(map(str, READ_VERSIONS))}; run precompute again")
    pixels = meta.get("kind") == PIXELS_KIND
    # bytes only for pictures of version 2; float32 for everything else (pictures of version 1 too)
    dtype = torch.uint8 if pixels and version == PIXELS_FORMAT_VERSION else torch.float32
    latents = tensors.get(TENSOR_NAME)
    if latents is None or latents.dtype != dtype or latents.ndim != 4:
        raise KeyframeError(f"{where}: no {str(dtype).removeprefix('torch.')} (N, C, h, w) tensor named "
                            f"{TENSOR_NAME!r}; run precompute again")
    if list(latents.shape[1:]) != meta.get("latent_shape") or latents.shape[0] != meta.get("count"):
        raise KeyframeError(f"{where}: partial keyframe file (shape {tuple(latents.shape)} but metadata says "
                            f"{meta.get('count')} x {meta.get('latent_shape')}); run precompute again")
    scaling = meta.get("scaling_factor", SCALING_FACTORS["sd1"])
    if isinstance(scaling, bool) or not isinstance(scaling, (int, float)) or not 0.0 < scaling < 100.0:
        raise KeyframeError(f"{where}: scaling factor {str(scaling)[:40]!r} is not a positive number; "
                            f"run precompute again")
    if verify and _tensor_digest(latents) != meta.get("latents_sha256"):
        raise KeyframeError(f"{where}: corrupt keyframe file (checksum mismatch); run precompute again")
    if latents.is_floating_point() and not torch.isfinite(latents).all():
        raise KeyframeError(f"{where}: latents contain NaN or inf; run precompute again")
    if pixels and latents.dtype != torch.uint8:
        # a version 1 pixel file (float32 in 0..1): held as bytes like a new one, a quarter of the memory
        latents = as_pixel_bytes(latents)
        meta = {**meta, "dtype": "uint8"}
    return KeyframeSet(latents=latents, meta=meta, path=path, signature=signature)


def load_preset_keyframes(preset: Preset, keyframes_dir: str | Path) -> KeyframeSet:
    """The preset's keyframes, checked: KeyframeError if missing, corrupt, partial, stale or mismatched."""
    path = keyframes_path(preset, keyframes_dir)
    where = as_written(path)
    if not path.is_file():
        raise KeyframesMissing(f"{where}: not precomputed; run `run_live.py precompute {preset.name}`")
    kset = load_keyframe_file(path, max_bytes=_max_file_bytes(preset))
    family = kset.meta.get("family")
    if family not in SCALING_FACTORS:
        raise KeyframeError(f"{where}: unknown latent family {family!r}; run precompute {preset.name} again")
    if preset.family_is_explicit and family != preset.generation.family:
        raise KeyframeError(f"{where}: holds {family} latents but {as_written(preset.path)} says "
                            f"generation.family = {preset.generation.family!r}; run precompute {preset.name} again")
    _check_latents(where, kset.latents, preset, family, finite=False, kind=kset.kind)
    if kset.meta.get("settings_hash") != preset.settings_hash():
        raise KeyframeError(f"{where}: stale, {as_written(preset.path)} changed since it was precomputed; "
                            f"run `run_live.py precompute {preset.name}`")
    return kset


def _max_file_bytes(preset: Preset) -> int:
    """The most a keyframe file of ``preset`` can hold: its keyframes at its size, plus a header.
    Image presets make one keyframe per image, so only the general limit applies to them."""
    g = preset.generation
    if g.images:
        return MAX_FILE_BYTES
    c, h, w = g.latent_shape
    return min(MAX_FILE_BYTES, 8 + MAX_HEADER_BYTES + text_keyframe_count(preset) * c * h * w * 4)


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
                tensors, meta = _decode_file(_read_whole(path, as_written(path))[0], as_written(path))
                t = tensors[TENSOR_NAME]
                if meta.get("cache_key") != self.cache_key or tuple(t.shape) != tuple(shape) \
                        or t.dtype != torch.float32 or not torch.isfinite(t).all():
                    raise KeyframeError("mismatch")
                found[index] = t
            except (KeyframeError, KeyError, OSError):
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
