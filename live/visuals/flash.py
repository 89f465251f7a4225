"""The flash limiter: it caps the rise in luminance of each region of the picture, and lets the
motion through (numpy; the GLSL of the renderer's two limiter passes is kept here too, beside the
maths it must match, and :class:`ArrayFlashLimit` is the same limiter for pictures as arrays).

WCAG 2.3.1 (three flashes or below threshold) and ITU-R BT.1702: a *flash* is a pair of opposing
changes in relative luminance of 10% or more of the maximum, where the darker state is below 0.80;
no more than three general flashes may happen in any one-second period. The renderer measures the
mean relative luminance (linear light) of a grid of regions of each new frame (16x16 by default,
so a flash over a sixteenth of the width and height counts, not only the frame mean) and asks
:meth:`FlashLimiter.step` for a *gain* per region. While a region still has budget in the last
second its gain is 1 (the frame is shown as it is); once it has made six changes (three flashes),
a rise in it is capped a little above its last low: the new frame is scaled down in linear light
in that region, just enough. Everything else passes: the rest of the picture, its motion, and
every fall (a blackout or a fade goes black at once). With the rises stopped, at most one more
fall can follow, and a flash needs both, so seven changes at most make three flashes.

Each region is scaled by its own gain alone (a gain texture of one texel a region, sampled
nearest): a smooth blend across region edges would either let a held region's edge through or
dim its still neighbours on every held frame, which makes them flash in turn. While it holds
back, a held region can show as a darker tile beside a free one; the rest of the time nothing
is touched. What was really shown (the output, measured a frame later) is what the limiter
keeps track of.
"""

from __future__ import annotations

import logging
import math

import numpy as np

_LOGGER = logging.getLogger(__name__)

THRESHOLD = 0.1  # a change of 10% of the maximum relative luminance...
DARK_LIMIT = 0.8  # ...where the darker state is below 0.80
MAX_FLASHES = 3  # in any one second
WINDOW_S = 1.0
SLACK_S = 0.1  # the limiter's window is this much longer: frame times and measurement differ a little
MARGIN = 0.85  # a held-back region may rise at most this fraction of the threshold above its last low
HOLDING_S = 0.5  # "holding back" (the HUD lamp, /status) lasts this long after the last touched frame
FLASH_CELLS = 16  # the limiter's grid: a flash over a sixteenth of the width and height counts


# The renderer's two passes for the limiter (GLSL; the renderer compiles them).
_LINEAR = "vec3 linear(vec3 c) { return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c)); }\n"
# LUMA: the mean relative luminance (linear light, WCAG weights) of each cell of a small grid,
# from 8x8 taps per cell, each the pixel under it (never one of the next cell: a held cell's
# neighbour must not look as if it flashed); the cells start at u_origin (in fragments), so two
# pictures can be measured side by side and read back at once.
LUMA_SOURCE = """#version 330 core
out vec4 f_color;
uniform sampler2D u_image;
uniform vec2 u_cells;
uniform vec2 u_origin;
""" + _LINEAR + """void main() {
    vec2 cell = floor(gl_FragCoord.xy - u_origin);
    vec2 size = vec2(textureSize(u_image, 0));
    float sum = 0.0;
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 8; i++) {
            ivec2 px = ivec2(floor((cell + (vec2(i, j) + 0.5) / 8.0) / u_cells * size));
            sum += dot(linear(texelFetch(u_image, px, 0).rgb), vec3(0.2126, 0.7152, 0.0722));
        }
    f_color = vec4(vec3(sum / 64.0), 1.0);
}
"""
# LIMIT: the new picture scaled in linear light by its region's gain (a texel a region, sampled
# nearest), so each region's luminance rises no further than the limiter allows; colours keep their hue.
LIMIT_SOURCE = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_image;
uniform sampler2D u_gain;
""" + _LINEAR + """vec3 encode(vec3 c) { return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c)); }
void main() {
    f_color = vec4(encode(linear(texture(u_image, v_uv).rgb) * texture(u_gain, v_uv).r), 1.0);
}
"""


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in 0..1 to linear light (the sRGB transfer function, as WCAG uses it)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    """Linear light in 0..1 to sRGB-encoded values (the inverse of :func:`srgb_to_linear`)."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1.0 / 2.4) - 0.055)


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance (0..1) of sRGB pixels, ``(..., 3)`` uint8 or floats in 0..1."""
    arr = np.asarray(rgb)
    scaled = arr / 255.0 if arr.dtype == np.uint8 else arr
    return srgb_to_linear(scaled) @ np.array([0.2126, 0.7152, 0.0722])


def _edges(size: int, cells: int) -> np.ndarray:
    return np.arange(cells + 1) * size // cells


def region_luminance(rgb: np.ndarray, cells: int = FLASH_CELLS) -> np.ndarray:
    """Mean relative luminance of each region of a ``cells`` x ``cells`` grid of an ``(h, w, 3)``
    picture (rows in the picture's order)."""
    lum = relative_luminance(rgb)
    h, w = lum.shape
    rows, cols = _edges(h, cells), _edges(w, cells)
    # Sums over the grid with one cumulative sum per axis (cheap at any picture size).
    acc = np.zeros((h + 1, w + 1))
    acc[1:, 1:] = lum.cumsum(0).cumsum(1)
    sums = acc[rows[1:]][:, cols[1:]] - acc[rows[:-1]][:, cols[1:]] - acc[rows[1:]][:, cols[:-1]] + acc[rows[:-1]][:, cols[:-1]]
    area = np.outer(np.diff(rows), np.diff(cols))
    return sums / np.maximum(area, 1)


def gain_map(gains: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per-pixel gains ``(height, width)``: each region's gain over its pixels (the regions of
    :func:`region_luminance`), as the renderer's nearest-sampled gain texture gives them."""
    g = np.asarray(gains, dtype=np.float64)
    rows = np.repeat(np.arange(g.shape[0]), np.diff(_edges(height, g.shape[0])))
    cols = np.repeat(np.arange(g.shape[1]), np.diff(_edges(width, g.shape[1])))
    return g[rows][:, cols]


def apply_gains(rgb: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``rgb`` (uint8, ``(h, w, 3)``) with each region scaled in linear light by its gain in
    ``gains`` (the CPU twin of :data:`LIMIT_SOURCE`)."""
    h, w = rgb.shape[:2]
    lin = srgb_to_linear(np.asarray(rgb) / 255.0) * gain_map(gains, h, w)[..., None]
    return np.round(linear_to_srgb(lin) * 255.0).astype(np.uint8)


class FlashLimiter:
    """Tracks the luminance changes of each region over the last second and decides, frame by
    frame, how much each region of the new frame may be shown (:meth:`step`).

    Per region it keeps the last extreme luminance and the direction of the last change; a
    *change* is a move of ``threshold`` or more from that extreme in the other direction with
    the darker side below ``dark_limit``. A region may make ``2 * max_flashes`` changes in any
    ``window_s`` (+ a little slack); after that, it may fall freely but rise at most
    ``margin * threshold`` above its last low, until its oldest change leaves the window.
    ``touched_frames`` counts the frames it scaled down anywhere; :meth:`holding` says whether it
    did lately.
    """

    def __init__(self, *, max_flashes: int = MAX_FLASHES, window_s: float = WINDOW_S, threshold: float = THRESHOLD,
                 dark_limit: float = DARK_LIMIT, margin: float = MARGIN, slack_s: float = SLACK_S) -> None:
        self.budget = 2 * int(max_flashes)  # changes: a flash is a pair of them
        self.window_s = float(window_s) + float(slack_s)
        self.threshold, self.dark_limit, self.margin = float(threshold), float(dark_limit), float(margin)
        self.touched_frames = 0  # frames shown less than whole somewhere, for /status, the HUD and the bench
        self.last_touched = -math.inf  # the time of the last of them
        self.reset()

    def reset(self) -> None:
        """Forget every region's history (a new output, or time that went backwards)."""
        self._planned: np.ndarray | None = None  # each region's luminance as it was to be shown last frame
        self._extreme = np.zeros(0)
        self._direction = np.zeros(0, np.int8)  # +1 the last change went up, -1 down, 0 none yet
        self._changes = np.zeros((0, 0))  # per region, the times of its last `budget` changes
        self._last_now = -math.inf

    def holding(self, now: float, within: float = HOLDING_S) -> bool:
        """True if the limiter scaled a frame down within the last ``within`` seconds before ``now``."""
        return now - self.last_touched <= within

    def step(self, now: float, luminance: np.ndarray, shown: np.ndarray | None = None) -> np.ndarray:
        """The gain (0..1, in linear light) of each region of the new frame at time ``now``, whose
        regions have mean relative luminance ``luminance`` (any shape; the gains have the same).
        ``shown``: the regions' luminance as the last frame was really shown (measured on the
        output), else the limiter takes its own plan for it."""
        new = np.asarray(luminance, dtype=np.float64)
        flat = new.ravel()
        if self._planned is None or self._planned.shape != flat.shape or now < self._last_now:
            self._start(now, flat)
            return np.ones(new.shape)
        last = self._planned if shown is None else np.asarray(shown, dtype=np.float64).ravel()
        self._record(self._last_now, last)
        self._last_now = now
        ceiling = self._ceiling(self._changes.min(axis=1) > now - self.window_s)
        over = flat > ceiling
        gains = np.ones(flat.shape)
        gains[over] = ceiling[over] / flat[over]
        self._planned = np.minimum(flat, ceiling)
        if over.any():
            self.touched_frames += 1
            self.last_touched = now
        return gains.reshape(new.shape)

    def _start(self, now: float, new: np.ndarray) -> None:
        self._planned, self._extreme = new.copy(), new.copy()
        self._direction = np.zeros(new.shape, np.int8)
        self._changes = np.full((new.size, max(self.budget, 1)), -np.inf)
        self._last_now = now

    def _ceiling(self, spent: np.ndarray) -> np.ndarray:
        """How high each region may go without a rise in a region whose budget is spent (inf: free)."""
        if self.budget == 0:
            spent = np.ones_like(spent)
        step = self.margin * self.threshold
        bright = self.dark_limit + self.threshold - step  # 0.8 and a margin: measurements differ a little
        # A little above its last low (after a rise it is at or below its peak, and going higher
        # only moves the peak; a rise from 0.8 or more is no change: its darker side is not under
        # 0.8). It may fall as far as it likes.
        held = spent & (self._direction <= 0) & (self._extreme < bright)
        return np.where(held, self._extreme + step, np.inf)

    def _record(self, now: float, shown: np.ndarray) -> None:
        """Follow each region's extreme and count its changes, for the frame shown at ``now``."""
        ext, d = self._extreme, self._direction
        up = (shown - ext >= self.threshold) & (ext < self.dark_limit) & (d <= 0)
        down = (ext - shown >= self.threshold) & (shown < self.dark_limit) & (d >= 0)
        changed = up | down
        if changed.any():
            rows = np.flatnonzero(changed)
            oldest = self._changes[rows].argmin(axis=1)
            self._changes[rows, oldest] = now
        d[up], d[down] = 1, -1
        # The extreme follows the luminance further in the current direction (or to the new level).
        follow = changed | ((d > 0) & (shown > ext)) | ((d < 0) & (shown < ext))
        ext[follow] = shown[follow]


class ArrayFlashLimit:
    """The flash limiter for pictures as arrays (the renderer's limiter passes on the CPU): call
    it with each ``(h, w, 3)`` uint8 frame and its time; it returns the frame to show."""

    def __init__(self, limiter: FlashLimiter | None = None, cells: int = FLASH_CELLS) -> None:
        self.limiter = limiter or FlashLimiter()
        self.cells = cells
        self._shown: np.ndarray | None = None  # regions' luminance of the last output, if it was scaled

    def __call__(self, now: float, rgb: np.ndarray) -> np.ndarray:
        """The frame ``rgb`` at time ``now`` as the limiter lets it be shown."""
        gains = self.limiter.step(now, region_luminance(rgb, self.cells), self._shown)
        if gains.min() >= 1.0:
            self._shown = None  # shown whole: the limiter's plan is what was shown
            return rgb
        out = apply_gains(rgb, gains)
        self._shown = region_luminance(out, self.cells)
        return out
