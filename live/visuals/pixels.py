"""Pixel keyframes: presets made from pictures, walked at full resolution, no weights and no VAE.

A preset made from images (the built-in procedural sets, an images folder, ``--from-images``
without a model) keeps its pictures as they are: keyframes of kind ``pixels``, (N, 3, H, W)
bytes (uint8, 0..255; floats in 0..1 are taken too). They stay bytes in memory and on the GPU
(one RGB8 texture array); only the CPU sum turns them into floats, a picture at a time. Squeezing them through the 8x8 approx latent would average every line and star
away; the approx latent stays only as the preview of SD latents.

The traversal does not need to touch a pixel to walk them. Everything it does (slerp, the onset
kick's rotation, holds and drops) is a linear combination of its inputs whose weights depend
only on dot products. So :class:`PixelSet` gives it *coordinates*: each keyframe (and the
kick's direction, a uniform light) as a short vector in an orthonormal basis of the span of the
pictures, with exactly the pictures' dot products. The walk runs unchanged on those vectors, a
few dozen numbers, and :meth:`PixelSet.frame` turns the result back into weights over the
pictures. The renderer sums the weighted pictures on the GPU at full resolution
(:data:`COMPOSE_SOURCE`); :func:`compose` is the same sum on the CPU, for tests and tools.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

PIXEL_CHANNELS = 3  # a keyframe tensor with 3 channels holds pictures; SD latents have 4 (or more)
MAX_TERMS = 8  # pictures one frame sums at most (a walk mixes 2, a held mid-move start a few more)
MIN_WEIGHT = 1e-4  # weights smaller than this are rounding noise of the basis change: dropped
_RANK_TOL = 1e-9  # eigenvalues below this fraction of the largest: directions the pictures do not span
_GRAM_CHUNK = 1 << 16  # values per picture turned into float64 at a time for the Gram matrix
_SEQ = itertools.count(1 << 40)  # frame numbers of composed frames, apart from decoded ones


def is_pixels(keyframes: torch.Tensor) -> bool:
    """True when ``keyframes`` (N, C, H, W) are pictures (3 channels), not SD latents."""
    return keyframes.ndim == 4 and keyframes.shape[1] == PIXEL_CHANNELS


def images_to_pixels(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 pictures -> (N, 3, H, W) float32 keyframes in 0..1."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0).contiguous()


def pixels_to_images(pixels: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) keyframes, uint8 or floats in 0..1 -> (N, H, W, 3) uint8 pictures (previews, contact sheets)."""
    pixels = pixels.detach().cpu()
    if pixels.dtype != torch.uint8:
        pixels = (pixels.float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return pixels.permute(0, 2, 3, 1).contiguous().numpy()


@dataclass(frozen=True)
class PixelFrame:
    """One composed picture: ``terms`` ((keyframe index, weight), ...) plus ``light`` (a uniform
    lift) over the pictures of ``pixels``; made for ``display_time``. The renderer sums it on the
    GPU; :attr:`rgb` is the same sum on the CPU."""

    pixels: "PixelSet"
    terms: tuple[tuple[int, float], ...]
    light: float
    display_time: float
    seq: int
    decode_s: float = 0.0

    @cached_property
    def rgb(self) -> np.ndarray:
        """The picture as (H, W, 3) uint8, summed on the CPU (read-only)."""
        out = compose(self.pixels.images, self.terms, self.light)
        out.flags.writeable = False
        return out


def compose(images: np.ndarray, terms: tuple[tuple[int, float], ...], light: float) -> np.ndarray:
    """sum(weight * images[index]) + light, clamped and rounded to uint8: (H, W, 3).

    ``images`` (N, H, W, 3) uint8. The GL compose pass computes the same (within one level)."""
    acc = np.full(images.shape[1:], float(light), np.float32)
    for index, weight in terms:
        acc += images[index].astype(np.float32) * np.float32(weight / 255.0)
    return (np.clip(acc, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class PixelSet:
    """A preset's pictures, and the coordinates the traversal walks in their place.

    ``pixels`` (N, 3, H, W) uint8 0..255 (or floats in 0..1, rounded to bytes). :attr:`coords`
    (N, r, 1, 1) and :attr:`light` (r, 1, 1) have the dot products of the pictures (in 0..1) and
    of the uniform white picture (all ones), so any walk over them is the walk over the
    pictures; :meth:`weights` maps a walked vector back to weights over the pictures and the
    light. The pictures are kept once, as bytes: :attr:`images` (N, H, W, 3), what the renderer
    uploads, and :attr:`keyframes`, the same memory seen as (N, 3, H, W).
    """

    def __init__(self, pixels: torch.Tensor) -> None:
        if not is_pixels(pixels) or pixels.shape[0] < 1:
            raise ValueError(f"pixel keyframes must be shaped (N, 3, H, W), got {tuple(pixels.shape)}")
        hwc = torch.from_numpy(pixels_to_images(pixels))  # (N, H, W, 3) uint8, the one copy kept
        gram = _gram(hwc.reshape(hwc.shape[0], -1))
        values, vectors = np.linalg.eigh(gram)
        keep = values > values.max() * _RANK_TOL
        values, vectors = values[keep], vectors[:, keep]
        root = np.sqrt(values)
        coords = vectors * root  # row k: coordinates of basis picture k; rows' dot products == gram
        self._to_weights = vectors / root  # (K, r): weights = _to_weights @ c (the least-norm solution)
        self.count = int(pixels.shape[0])
        self.coords = torch.from_numpy(coords[:-1].copy()).reshape(self.count, -1, 1, 1)
        self.light = torch.from_numpy(coords[-1].copy()).reshape(-1, 1, 1)
        self.keyframes = hwc.permute(0, 3, 1, 2)  # a view, no copy: what the bank's KeyframeSet holds
        self.images = hwc.numpy()  # what the renderer uploads, and compose() sums
        self.images.flags.writeable = False
        self.height, self.width = int(pixels.shape[2]), int(pixels.shape[3])

    @property
    def nbytes(self) -> int:
        """Memory the pictures take (bytes, held once)."""
        return int(self.images.nbytes)

    def weights(self, vector: torch.Tensor) -> tuple[tuple[tuple[int, float], ...], float]:
        """A walked vector (1, r, 1, 1) as (terms over the pictures, light weight); at most
        :data:`MAX_TERMS` terms, the largest, each above :data:`MIN_WEIGHT`."""
        w = self._to_weights @ vector.detach().reshape(-1).to("cpu", torch.float64).numpy()
        light, pics = float(w[-1]), w[:-1]
        order = np.argsort(-np.abs(pics))[:MAX_TERMS]
        terms = tuple((int(i), float(pics[i])) for i in order if abs(pics[i]) > MIN_WEIGHT)
        return terms, (light if abs(light) > MIN_WEIGHT else 0.0)

    def frame(self, vector: torch.Tensor, display_time: float) -> PixelFrame:
        """The frame for a walked vector, for ``display_time``."""
        terms, light = self.weights(vector)
        return PixelFrame(self, terms, light, float(display_time), next(_SEQ))


def _gram(flat: torch.Tensor) -> np.ndarray:
    """Dot products (float64) of the pictures ``flat`` (N, D) uint8 taken in 0..1, and of the
    white picture (all ones) as row and column N; a slice of columns at a time, so the float64
    copy of every picture (8x the bytes) never exists whole."""
    n, d = flat.shape
    gram = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    for start in range(0, d, _GRAM_CHUNK):
        block = flat[:, start:start + _GRAM_CHUNK].to(torch.float64).div_(255.0)
        gram[:n, :n] += block @ block.T
        gram[:n, n] += block.sum(dim=1)
    gram[n, :n] = gram[:n, n]
    gram[n, n] = float(d)
    return gram.numpy()


# The renderer's compose pass: the weighted pictures summed at their own size into a frame
# texture (rows as uploaded, top row first, like any decoded frame). Same sum as compose().
COMPOSE_SOURCE = f"""#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2DArray u_pictures;
uniform int u_terms;
uniform int u_layer[{MAX_TERMS}];
uniform float u_weight[{MAX_TERMS}];
uniform float u_light;
void main() {{
    vec3 c = vec3(u_light);
    for (int i = 0; i < u_terms; i++)
        c += u_weight[i] * texture(u_pictures, vec3(v_uv, float(u_layer[i]))).rgb;
    f_color = vec4(clamp(c, 0.0, 1.0), 1.0);
}}
"""
