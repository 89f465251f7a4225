"""The built-in demo content: procedural keyframe images and a synthesised track with a known tempo.

The image sets (``images = "builtin:NAME"`` in a preset, see :data:`BUILTIN_SETS`) each have
their own palette and shapes, so preset switching, transitions and an autopilot can be tried
without a model. Nothing here needs model weights, a GPU or a sound card. The track is a 4-on-the-floor kick
with off-beat hats and a bass line, with a tempo change half way, so every beat time is known
exactly and the tests can check that the visuals land on it.
"""

from __future__ import annotations

import functools

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)


DEMO_PRESET = "demo"
DEMO_SAMPLERATE = 44100
DEMO_TEMPOS = (120.0, 128.0)  # first half, second half


# ---------------------------------------------------------------------------- images


SUPERSAMPLE = 2  # the sets are drawn at twice the size and box-filtered down: clean, unstepped edges


def demo_images(width: int, height: int, count: int) -> np.ndarray:
    """``count`` deterministic neon line drawings on black, (count, height, width, 3) uint8.

    Each keyframe is a mandala of thin glowing lines: nested polygons turned against each other,
    a rose curve, spokes and a ring of dots, in its own colours from a cosine palette. Crisp,
    high-contrast and mostly black, made for a dark room; round at any aspect ratio.
    """
    return _supersampled(_demo, width, height, count)


def _demo(width: int, height: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(1234)
    x, y = _grid(width, height)
    px = 2.0 / height  # one pixel in these units
    aspect = width / height
    out = np.empty((count, height, width, 3), np.float32)
    for i in range(count):
        # one big mandala in the middle, two smaller ones filling the sides of a wide frame
        out[i] = _mandala(x, y, px, rng, i, count)
        for side in (-1.0, 1.0):
            if aspect > 1.3:
                cx = side * (aspect - 0.55)
                out[i] += 0.8 * _mandala((x - cx) / 0.5, y / 0.5, px / 0.5, rng, i + 2, count)
    return out


def _mandala(x: np.ndarray, y: np.ndarray, px: float, rng: np.random.Generator, i: int, count: int) -> np.ndarray:
    """One neon mandala of radius about 1 around the origin (float RGB)."""
    height, width = x.shape
    r, a = np.hypot(x, y), np.arctan2(y, x)
    hue = i / max(count, 1)
    c1, c2, c3 = (_palette(np.array([hue + k, hue + k + 0.33, hue + k + 0.67])) for k in (0.0, 0.2, 0.45))
    img = np.zeros((height, width, 3), np.float32) + 0.005
    sides = int(rng.integers(3, 9))
    for k in range(4):  # nested polygons, each turned a little more
        radius = 0.25 + 0.2 * k
        turn = k * rng.uniform(0.1, 0.5) + i
        poly = radius * np.cos(np.pi / sides) / np.cos((a - turn) % (2 * np.pi / sides) - np.pi / sides)
        img += _line(r - poly, 2.2 * px)[..., None] * (c1 if k % 2 else c2)
    petals = int(rng.integers(3, 8))
    rose = 0.85 * np.abs(np.cos(petals * (a + i) / 2.0))
    img += 0.8 * _line(r - rose, 1.8 * px)[..., None] * c3
    spokes = np.abs(np.sin(a * rng.integers(6, 16) + i)) * r
    img += 0.6 * (_line(spokes, 1.4 * px) * (r > 0.15) * (r < 1.05))[..., None] * c2
    dots = (np.abs(np.sin(a * 12 + i)) < 0.12) & (np.abs(r - 1.02) < 0.02)
    img += 0.9 * dots[..., None] * c1
    img += 0.25 * np.exp(-r * r / 0.02)[..., None] * c3  # a glowing core
    return img


def _line(d: np.ndarray, width: float) -> np.ndarray:
    """A line of ``width`` (in the grid's units) where the signed distance ``d`` is 0, with a soft glow."""
    core = np.clip(1.0 - np.abs(d) / width, 0.0, 1.0)
    return core + 0.25 * np.exp(-np.abs(d) / (4.0 * width))


def _supersampled(draw, width: int, height: int, count: int) -> np.ndarray:
    """``draw`` (float pictures) at :data:`SUPERSAMPLE` times the size, box-filtered down to uint8."""
    k = SUPERSAMPLE
    big = draw(width * k, height * k, count)
    small = big.reshape(count, height, k, width, k, 3).mean(axis=(2, 4))
    return _to_uint8(small)


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres as x, y (float32, y down): y in -1..1, x in the same units (-aspect..aspect)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return ((x + 0.5) - width / 2.0) / (height / 2.0), (y + 0.5) / height * 2.0 - 1.0


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
    return np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)


def nebula_images(width: int, height: int, count: int) -> np.ndarray:
    """Deep space: dim violet, blue and teal gas on black, crossed by thin bright filaments that
    flare and fade along their length, and sharp stars of every brightness, the brightest with
    four long diffraction spikes. Dark, slow, every detail a pixel wide."""
    return _supersampled(_nebula, width, height, count)


def _nebula(width: int, height: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(2024)
    x, y = _grid(width, height)
    px = 2.0 / height
    out = np.empty((count, height, width, 3), np.float32)
    colours = np.array([[0.35, 0.12, 0.8], [0.15, 0.3, 0.95], [0.05, 0.55, 0.7], [0.55, 0.15, 0.7]], np.float32)
    for i in range(count):
        img = np.zeros((height, width, 3), np.float32) + np.array([0.003, 0.002, 0.01], np.float32)
        for layer in range(2):
            field = _waves(x, y, rng, octaves=5)
            gas = np.clip(field + rng.uniform(-0.25, 0.0), 0.0, None) ** 2.0
            img += 0.3 * gas[..., None] * colours[(i + layer) % len(colours)]
            # filaments: thin contour lines of the gas field that brighten and fade along their
            # length (a second field), so they read as wisps of lit gas, not as a contour map
            wisp = np.clip(0.5 + 1.5 * _waves(x, y, rng, octaves=3), 0.0, 1.0)
            for level, gain in ((0.15, 0.5), (0.3, 1.0), (0.45, 0.7)):
                line = _line(field - level, 1.2 * px) * wisp
                img += gain * line[..., None] * (0.35 + colours[(i + layer + 1) % 4])
        _stars(img, x, y, px, rng)
        out[i] = img
    return out


def _stars(img: np.ndarray, x: np.ndarray, y: np.ndarray, px: float, rng: np.random.Generator) -> None:
    """Add a star field to ``img`` (float RGB, drawn at SUPERSAMPLE times the size): many faint
    one-pixel stars, and a few bright ones with a hard core and four thin diffraction spikes."""
    height, width = x.shape
    k = SUPERSAMPLE
    n_stars = int(width * height * 0.004 / k)
    sy, sx = rng.integers(0, height - k, n_stars), rng.integers(0, width - k, n_stars)
    bright = rng.uniform(0.25, 1.0, n_stars) ** 2
    tint = 0.75 + 0.25 * rng.random((n_stars, 3))
    for dy in range(k):  # one pixel at the output size
        for dx in range(k):
            np.add.at(img, (sy + dy, sx + dx), bright[:, None] * tint)
    for _ in range(int(rng.integers(14, 22))):  # the bright ones
        cx, cy = rng.uniform(x.min(), x.max()), rng.uniform(-0.95, 0.95)
        length = rng.uniform(10, 30) * px  # spike length, in output pixels times px
        colour = 0.8 + 0.2 * rng.random(3)
        dx, dy = np.abs(x - cx), np.abs(y - cy)
        near = (dx < 3 * length) & (dy < 3 * length)  # work only on the star's box
        spikes = (np.exp(-dx[near] / length) * _line(dy[near], 0.9 * px)
                  + np.exp(-dy[near] / length) * _line(dx[near], 0.9 * px))
        core = np.clip(1.5 - np.hypot(dx[near], dy[near]) / (1.2 * px), 0.0, 1.0)
        img[near] += (0.9 * spikes + core)[:, None] * colour


def grid_images(width: int, height: int, count: int) -> np.ndarray:
    """Neon geometry: a perspective floor grid, a ringed sun and bars in cyan, magenta and
    yellow on black, antialiased. Hard edges and high contrast, for peak-time looks."""
    return _supersampled(_grid_set, width, height, count)


def _grid_set(width: int, height: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(77)
    x, y = _grid(width, height)
    px = 2.0 / height
    out = np.empty((count, height, width, 3), np.float32)
    neon = np.array([[0.0, 0.95, 1.0], [1.0, 0.1, 0.8], [1.0, 0.9, 0.1], [0.3, 1.0, 0.3]], np.float32)
    for i in range(count):
        img = np.zeros((height, width, 3), np.float32)
        horizon = rng.uniform(-0.1, 0.2)
        below = y > horizon
        depth = 1.0 / np.maximum(y - horizon, 1e-3)
        # Floor lines: rows evenly spaced in depth, columns converging on the vanishing point;
        # their width follows the perspective so far lines stay one pixel.
        rows = np.abs(((depth * 0.5 + i * 0.25) % 1.0) - 0.5) / (0.5 * depth * depth * px + 1e-6)
        cols_freq = rng.uniform(3, 5)
        u = x * depth * cols_freq
        cols = np.abs(((u + 0.5) % 1.0) - 0.5) / (depth * cols_freq * 1.2 * px)
        floor = (np.clip(1.0 - rows / 1.2, 0, 1) + np.clip(1.0 - cols, 0, 1)).clip(0, 1) * below
        fade = np.clip((y - horizon) * 3.0, 0.0, 1.0)[..., None]
        img += floor[..., None] * neon[i % 4] * (0.3 + 0.7 * fade)
        img += 0.6 * _line(y - horizon, 1.5 * px)[..., None] * neon[(i + 1) % 4]
        cx, cy = rng.uniform(-0.8, 0.8), horizon - rng.uniform(0.35, 0.55)
        radius = rng.uniform(0.25, 0.4)
        r = np.hypot(x - cx, y - cy)
        rings_freq = rng.uniform(30, 50)
        rings = np.clip(1.0 - np.abs(np.sin(r * rings_freq)) / (rings_freq * 1.5 * px), 0, 1)
        sun = (r < radius) * (~below)
        img += (sun * rings)[..., None] * neon[(i + 1) % 4]
        img += 0.8 * (_line(r - radius, 1.5 * px) * ~below)[..., None] * neon[(i + 1) % 4]
        bar_freq = rng.uniform(8, 20)
        bars = np.clip(1.0 - np.abs(np.sin(x * bar_freq + i)) / (bar_freq * 2.0 * px) * 0.6, 0, 1) * ~below * (r > radius + 0.05)
        bars *= np.clip((horizon - y) * 2.0, 0, 1)  # fading up from the horizon
        img += 0.6 * bars[..., None] * neon[(i + 2) % 4]
        out[i] = img
    return out


def ink_images(width: int, height: int, count: int) -> np.ndarray:
    """Ink on dark paper: flowing brush lines in warm white, gold and vermilion on near-black
    paper with a faint grain, like sumi-e or marbling in reverse. Calm, and dark enough for a
    dark room."""
    return _supersampled(_ink, width, height, count)


def _ink(width: int, height: int, count: int) -> np.ndarray:
    rng = np.random.default_rng(5)
    x, y = _grid(width, height)
    px = 2.0 / height
    out = np.empty((count, height, width, 3), np.float32)
    paper = np.array([0.03, 0.025, 0.035], np.float32)
    inks = np.array([[0.95, 0.92, 0.85], [1.0, 0.75, 0.3], [0.95, 0.25, 0.15]], np.float32)
    grain = _waves(x * 30, y * 30, rng, octaves=1)
    for i in range(count):
        img = np.broadcast_to(paper, (height, width, 3)) * (1.0 + 0.3 * grain[..., None])
        field = _waves(x, y, rng, octaves=3)
        warp = 0.3 * _waves(x, y, rng, octaves=2)
        pressure = 0.5 + 0.5 * _waves(x * 0.7, y * 0.7, rng, octaves=1)  # the brush presses and lifts
        for k, level in enumerate(np.linspace(-0.5, 0.5, 7)):
            width_k = (0.6 + 3.0 * pressure) * px * (1.5 if k % 3 == 0 else 1.0)
            stroke = np.clip(1.0 - np.abs(field + warp * 0.2 - level) / width_k, 0.0, 1.0)
            img = img * (1.0 - stroke[..., None]) + stroke[..., None] * inks[(i + k) % 3] * (0.6 + 0.4 * pressure[..., None])
        cx, cy = rng.uniform(-1.0, 1.0), rng.uniform(-0.5, 0.5)  # one ensō, the brushed circle
        r = np.hypot(x - cx, y - cy)
        arc = (np.arctan2(y - cy, x - cx) + np.pi) / (2 * np.pi)
        enso = np.clip(1.0 - np.abs(r - 0.45) / ((1.0 + 6.0 * arc) * px), 0.0, 1.0) * (arc < 0.9)
        img = img * (1.0 - enso[..., None]) + enso[..., None] * inks[(i + 2) % 3]
        out[i] = img
    return out


# builtin:NAME -> the function that draws its images (width, height, count) -> (count, h, w, 3) uint8
BUILTIN_SETS = {"demo": demo_images, "nebula": nebula_images, "grid": grid_images, "ink": ink_images}


def builtin_images(source: str, width: int, height: int, count: int) -> np.ndarray:
    """The images of ``builtin:NAME`` (see :data:`BUILTIN_SETS`), read-only; ValueError for an
    unknown name."""
    name = source.removeprefix("builtin:")
    if name not in BUILTIN_SETS:
        raise ValueError(f"unknown built-in image set {source!r}; choose "
                         f"{', '.join('builtin:' + n for n in BUILTIN_SETS)}")
    return _drawn(name, width, height, count)


@functools.lru_cache(maxsize=len(BUILTIN_SETS))
def _drawn(name: str, width: int, height: int, count: int) -> np.ndarray:
    # Drawing a set takes seconds (supersampled); the same set at the same size is asked for again
    # whenever a keyframes folder is new (a fresh clone, each test's folder, `check` elsewhere).
    images = BUILTIN_SETS[name](width, height, count)
    images.setflags(write=False)
    return images


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
