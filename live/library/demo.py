"""The built-in demo content: procedural keyframe images and a synthesised track with a known tempo.

The image sets (``images = "builtin:NAME"`` in a preset, see :data:`BUILTIN_SETS`) each have
their own palette and shapes, so preset switching, transitions and an autopilot can be tried
without a model. Nothing here needs model weights, a GPU or a sound card. The track is a 4-on-the-floor kick
with off-beat hats and a bass line, with a tempo change half way, so every beat time is known
exactly and the tests can check that the visuals land on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)


DEMO_PRESET = "demo"
DEMO_SAMPLERATE = 44100
DEMO_TEMPOS = (120.0, 128.0)  # first half, second half


# ---------------------------------------------------------------------------- images


def demo_images(width: int, height: int, count: int) -> np.ndarray:
    """``count`` deterministic, colourful abstract images, (count, height, width, 3) uint8.

    Each mixes a palette gradient, soft blobs and rings, so keyframes differ clearly in
    colour and layout and a walk between them is easy to see after the approx round trip.
    """
    rng = np.random.default_rng(1234)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x = (x + 0.5) / width * 2.0 - 1.0
    y = (y + 0.5) / height * 2.0 - 1.0
    images = np.empty((count, height, width, 3), dtype=np.uint8)
    for i in range(count):
        hue = i / max(count, 1)
        base = np.stack([_palette(hue + 0.33 * c + 0.25 * (x * np.cos(i) + y * np.sin(i))) for c in range(3)], -1)
        img = 0.35 + 0.45 * base
        for _ in range(4):
            cx, cy = rng.uniform(-0.8, 0.8, 2)
            radius = rng.uniform(0.15, 0.5)
            colour = rng.uniform(0.0, 1.0, 3)
            blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))[..., None]
            img = img * (1 - 0.8 * blob) + 0.8 * blob * colour
        rings = 0.5 + 0.5 * np.sin(np.hypot(x, y) * rng.uniform(6, 14) + i)
        img = img * (0.75 + 0.25 * rings[..., None])
        images[i] = np.clip(img * 255.0, 0, 255).astype(np.uint8)
    return images


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as x, y in -1..1 (float32, y down)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return (x + 0.5) / width * 2.0 - 1.0, (y + 0.5) / height * 2.0 - 1.0


def _waves(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, octaves: int = 4) -> np.ndarray:
    """Smooth pseudo-noise in about -1..1: random sine waves, each octave finer and fainter."""
    out = np.zeros_like(x)
    for octave in range(octaves):
        freq = 2.0 * 2.0**octave
        for _ in range(3):
            angle, phase = rng.uniform(0, 2 * np.pi, 2)
            out += np.sin(freq * (x * np.cos(angle) + y * np.sin(angle)) + phase) / (1.5 * 2.0**octave)
    return out / 2.0


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(img * 255.0, 0, 255).astype(np.uint8)


def nebula_images(width: int, height: int, count: int) -> np.ndarray:
    """Deep-space clouds: violet, magenta and teal gas on near-black, with stars. Dark, slow."""
    rng = np.random.default_rng(2024)
    x, y = _grid(width, height)
    out = np.empty((count, height, width, 3), np.uint8)
    colours = np.array([[0.45, 0.15, 0.75], [0.85, 0.2, 0.55], [0.1, 0.6, 0.7], [0.25, 0.3, 0.9]], np.float32)
    for i in range(count):
        img = np.zeros((height, width, 3), np.float32) + np.array([0.02, 0.01, 0.05], np.float32)
        for layer in range(3):
            gas = np.clip(_waves(x, y, rng) + rng.uniform(-0.2, 0.3), 0.0, None) ** 1.5
            img += gas[..., None] * colours[(i + layer) % len(colours)] * 0.8
        stars = rng.random((height, width)) > 0.998
        img[stars] = 1.0
        out[i] = _to_uint8(img)
    return out


def grid_images(width: int, height: int, count: int) -> np.ndarray:
    """Neon geometry: a perspective floor grid, rings and bars in cyan, magenta and yellow on
    black. Hard edges and high contrast, for peak-time looks."""
    rng = np.random.default_rng(77)
    x, y = _grid(width, height)
    out = np.empty((count, height, width, 3), np.uint8)
    neon = np.array([[0.0, 0.95, 1.0], [1.0, 0.1, 0.8], [1.0, 0.9, 0.1], [0.3, 1.0, 0.3]], np.float32)
    for i in range(count):
        img = np.zeros((height, width, 3), np.float32)
        horizon = rng.uniform(-0.2, 0.2)
        depth = np.where(y > horizon, 1.0 / np.maximum(y - horizon, 1e-3), 0.0)
        floor = (y > horizon) & ((np.abs(np.sin(depth * 2.0 + i)) < 0.08 + 0.0 * depth)
                                 | (np.abs(np.sin(x * depth * rng.uniform(3, 6))) < 0.06))
        img[floor] = neon[i % 4]
        cx, cy = rng.uniform(-0.5, 0.5), horizon - rng.uniform(0.2, 0.5)
        r = np.hypot(x - cx, y - cy)
        rings = (np.abs(np.sin(r * rng.uniform(14, 30))) > 0.8) & (r < 0.5) & (y < horizon)
        img[rings] = neon[(i + 1) % 4]
        bars = (np.abs(np.sin(x * rng.uniform(8, 20) + i)) > 0.93) & (y < horizon) & ~rings
        img[bars] = neon[(i + 2) % 4] * 0.6
        out[i] = _to_uint8(img)
    return out


def ink_images(width: int, height: int, count: int) -> np.ndarray:
    """Ink on paper: indigo and black blots with feathered, wandering edges on warm off-white.
    Light and calm."""
    rng = np.random.default_rng(5)
    x, y = _grid(width, height)
    out = np.empty((count, height, width, 3), np.uint8)
    paper = np.array([0.95, 0.92, 0.85], np.float32)
    inks = np.array([[0.1, 0.12, 0.35], [0.05, 0.05, 0.07], [0.55, 0.1, 0.12]], np.float32)
    for i in range(count):
        img = np.broadcast_to(paper, (height, width, 3)).copy()
        edge = 0.4 * _waves(x, y, rng, octaves=5)
        for _ in range(3):
            cx, cy = rng.uniform(-0.6, 0.6, 2)
            radius = rng.uniform(0.2, 0.45)
            d = np.hypot(x - cx, y - cy) / radius + edge
            ink = np.clip((1.2 - d) * 3.0, 0.0, 1.0)[..., None]
            img = img * (1.0 - 0.9 * ink) + 0.9 * ink * inks[rng.integers(len(inks))]
        out[i] = _to_uint8(img * (0.97 + 0.03 * _waves(x * 8, y * 8, rng, octaves=1))[..., None])
    return out


# builtin:NAME -> the function that draws its images (width, height, count) -> (count, h, w, 3) uint8
BUILTIN_SETS = {"demo": demo_images, "nebula": nebula_images, "grid": grid_images, "ink": ink_images}


def builtin_images(source: str, width: int, height: int, count: int) -> np.ndarray:
    """The images of ``builtin:NAME`` (see :data:`BUILTIN_SETS`); ValueError for an unknown name."""
    name = source.removeprefix("builtin:")
    if name not in BUILTIN_SETS:
        raise ValueError(f"unknown built-in image set {source!r}; choose "
                         f"{', '.join('builtin:' + n for n in BUILTIN_SETS)}")
    return BUILTIN_SETS[name](width, height, count)


def _palette(t: np.ndarray | float) -> np.ndarray:
    """Cosine palette (Inigo Quilez style): smooth, saturated colours for any t."""
    return 0.5 + 0.5 * np.cos(2.0 * np.pi * (np.asarray(t, dtype=np.float32)))


# ---------------------------------------------------------------------------- track


@dataclass(frozen=True)
class DemoTrack:
    """A synthesised track: stereo float32 samples and the exact time of every beat."""

    samples: np.ndarray  # (frames, 2) float32
    samplerate: int
    beat_times: np.ndarray  # seconds, every beat (kick)
    downbeat_times: np.ndarray  # seconds, first beat of every bar


def beat_grid(seconds: float, tempos: tuple[float, float] = DEMO_TEMPOS, start: float = 0.25) -> np.ndarray:
    """Beat times of the demo: ``tempos[0]`` until half way, then ``tempos[1]``."""
    times = []
    t, half = start, seconds / 2.0
    while t < seconds:
        times.append(t)
        t += 60.0 / (tempos[0] if t < half else tempos[1])
    return np.asarray(times)


def demo_track(seconds: float = 32.0, samplerate: int = DEMO_SAMPLERATE,
               tempos: tuple[float, float] = DEMO_TEMPOS) -> DemoTrack:
    """Synthesise ``seconds`` of kick, hats and bass with a tempo change half way."""
    n = int(seconds * samplerate)
    out = np.zeros(n, dtype=np.float32)
    beats = beat_grid(seconds, tempos)
    rng = np.random.default_rng(7)
    kick = _kick(samplerate)
    hat = _hat(samplerate, rng)
    bass_notes = (55.0, 55.0, 65.41, 49.0)  # A1 A1 C2 G1, one per bar
    for i, t in enumerate(beats):
        period = (beats[i + 1] - t) if i + 1 < len(beats) else 60.0 / tempos[1]
        _mix(out, kick, t, samplerate, 0.9)
        _mix(out, hat, t + period / 2.0, samplerate, 0.25)  # off-beat hat
        bass = _bass(bass_notes[(i // 4) % 4], period * 0.45, samplerate)
        _mix(out, bass, t + period / 2.0, samplerate, 0.3)
    out /= max(1.0, float(np.abs(out).max()) / 0.9)
    stereo = np.stack([out, out], axis=1)
    return DemoTrack(stereo, samplerate, beats, beats[::4])


def _kick(sr: int) -> np.ndarray:
    """A sine kick: pitch falls from 150 to 45 Hz with a fast amplitude decay."""
    t = np.arange(int(0.25 * sr)) / sr
    freq = 45.0 + 105.0 * np.exp(-t * 30.0)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return (np.sin(phase) * np.exp(-t * 12.0)).astype(np.float32)


def _hat(sr: int, rng: np.random.Generator) -> np.ndarray:
    """A closed hat: high-passed noise with a very short decay."""
    t = np.arange(int(0.05 * sr)) / sr
    noise = rng.standard_normal(len(t)).astype(np.float32)
    noise = np.diff(noise, prepend=0.0)  # first difference = crude high-pass
    return (noise * np.exp(-t * 90.0)).astype(np.float32)


def _bass(freq: float, duration: float, sr: int) -> np.ndarray:
    """A soft saw-ish bass note with attack and release so it adds no click onsets."""
    t = np.arange(int(duration * sr)) / sr
    wave = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t)
    env = np.minimum(1.0, t / 0.02) * np.minimum(1.0, (duration - t) / 0.03)
    return (wave * env).astype(np.float32)


def _mix(out: np.ndarray, sound: np.ndarray, at: float, sr: int, gain: float) -> None:
    start = int(round(at * sr))
    if start >= len(out):
        return
    end = min(len(out), start + len(sound))
    out[start:end] += gain * sound[: end - start]


def write_demo_track(path: str | Path, seconds: float = 32.0) -> DemoTrack:
    """Write the demo track to a WAV file and return it."""
    import soundfile as sf

    track = demo_track(seconds)
    sf.write(str(path), track.samples, track.samplerate, subtype="PCM_16")
    return track
