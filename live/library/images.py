"""Image ingestion: image folders (or the built-in demo images) to keyframes, and the
weight-free keyframes built on the fly for ``model = "approx"`` presets.

Without a model, images become *pixel* keyframes: the pictures themselves at the preset's size
(live/visuals/pixels.py), walked and blended at full resolution. The 8x8 approx latent would
average every line away; it stays the preview of SD latents only.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from live.library.presets import (
    APPROX_MODEL,
    Preset,
    as_written,
    is_builtin,
)

_LOGGER = logging.getLogger(__name__)


def image_files(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` sorted by name; KeyframeError when the folder is missing or has none."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise KeyframeError(f"{as_written(folder)}: images folder does not exist; give a folder of PNG/JPEG images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                   and not p.name.startswith("."))
    if not files:
        raise KeyframeError(f"{as_written(folder)}: no images in this folder (looked for "
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
            raise KeyframeError(f"{as_written(path)}: not a readable image ({first_line(exc)}); remove or re-export it") from None
        out.append(np.asarray(ImageOps.fit(rgb, (width, height), Image.Resampling.LANCZOS), dtype=np.uint8))
    return np.stack(out)


def images_identity(source: str, width: int, height: int, count: int) -> tuple[list[Path], str]:
    """The image files behind ``source`` and a content hash of them (for the cache key)."""
    if is_builtin(source):
        from live.library import demo  # the built-in images are code: hash the code that draws them

        digest = hashlib.sha256(Path(demo.__file__).read_bytes()).hexdigest()
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
    if is_builtin(source):
        from live.library.demo import builtin_images

        return builtin_images(source, g.width, g.height, count), digest, [f"{source}#{i}" for i in range(count)]
    return load_images(files, g.width, g.height), digest, [p.name for p in files]
from live.library.keyframes import (
    IMAGE_EXTENSIONS,
    KeyframeChanging,
    KeyframeError,
    PIXELS_FORMAT_VERSION,
    PIXELS_KIND,
    KeyframeSet,
    first_line,
    hash_json,
    keyframes_path,
    load_preset_keyframes,
    save_preset_keyframes,
    text_keyframe_count,
)


def approx_cache_key(preset: Preset, images_digest: str) -> str:
    """Cache key of keyframes made from images without a model (pixel keyframes).

    It holds the pixel file format's version: files of an older version (float32) are rebuilt."""
    return hash_json({"settings": preset.settings_hash(), "images": images_digest, "encoder": PIXELS_KIND,
                      "format": PIXELS_FORMAT_VERSION})


def save_pixel_keyframes(preset: Preset, images: np.ndarray, names: list[str], key: str,
                         keyframes_dir: str | Path, images_from: str = "") -> Path:
    """Write ``images`` (N, H, W, 3) uint8 as the preset's pixel keyframes; returns the file."""
    meta = {"family": preset.generation.family, "model": APPROX_MODEL, "model_revision": "pixels",
            "source": "images", "kind": PIXELS_KIND, "images": names, "encoder": PIXELS_KIND, "cache_key": key,
            "steps": 0, "guidance": 0.0, "note": "pictures as bytes 0..255, (N, 3, H, W): shown as they are, no VAE"}
    if images_from:
        meta["images_from"] = images_from
    array = np.ascontiguousarray(images, dtype=np.uint8)
    if not array.flags.writeable:  # pictures read from a file: torch warns "undefined behavior" mid-show
        array = array.copy()
    pixels = torch.from_numpy(array).permute(0, 3, 1, 2)
    return save_preset_keyframes(preset, pixels, keyframes_dir, meta)


def ensure_builtin_keyframes(preset: Preset, keyframes_dir: str | Path) -> KeyframeSet:
    """For ``model = "approx"`` presets: load the keyframes, building them from the images first if missing or stale.

    Building keeps the (cover-cropped) images as pixel keyframes at the preset's size: fast, no
    model, no progress output. A bad images folder raises KeyframeError naming it.
    """
    g = preset.generation
    if g.model != APPROX_MODEL or not g.images:
        raise KeyframeError(f"{as_written(preset.path)}: only model = \"approx\" presets with generation.images build "
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
        except KeyframeChanging:
            raise  # someone is writing it right now: never build over a file being written
        except KeyframeError as exc:
            _LOGGER.info("%s; rebuilding", exc)
    images, _, names = source_images(preset)
    save_pixel_keyframes(preset, images, names, key, keyframes_dir)
    return load_preset_keyframes(preset, keyframes_dir)
