"""The flash limiter's decision: how much of each new frame may be shown (numpy; the GLSL of
the renderer's two limiter passes is kept here too, beside the maths it must match).

WCAG 2.3.1 (three flashes or below threshold): a *flash* is a pair of opposing changes in
relative luminance of 10% or more of the maximum, where the darker state is below 0.80; no
more than three general flashes may happen in any one-second period. The renderer measures the
mean relative luminance of a small grid of regions of each new frame (16x16 by default, so a
flash over a quarter, or a sixteenth, of the screen counts, not only the frame mean) and asks
:meth:`FlashLimiter.step` how much of the new frame to show. While a region still has budget in
the last second, the new frame is shown whole; once it has made six changes (three flashes),
the frame is mixed towards the last shown one, in linear light, just far enough that no region
rises again. Darkening is never held back (a blackout or a fade goes black at once): with the
rises stopped, at most one more fall can follow, and a flash needs both, so seven changes at most
make three flashes. The renderer mixes in linear light, so a region's luminance is exactly
``last + alpha * (new - last)`` and the decision is closed-form.
"""

from __future__ import annotations

import logging

import numpy as np

_LOGGER = logging.getLogger(__name__)

THRESHOLD = 0.1  # a change of 10% of the maximum relative luminance...
DARK_LIMIT = 0.8  # ...where the darker state is below 0.80
MAX_FLASHES = 3  # in any one second
WINDOW_S = 1.0
SLACK_S = 0.1  # the limiter's window is this much longer: frame times and measurement differ a little
MARGIN = 0.85  # a held-back region may move at most this fraction of the threshold


# The renderer's two passes for the limiter (GLSL; the renderer compiles them).
_LINEAR = "vec3 linear(vec3 c) { return mix(c / 12.92, pow((c + 0.055) / 1.055, vec3(2.4)), step(0.04045, c)); }\n"
# LUMA: the mean relative luminance (linear light, WCAG weights) of each cell of a small grid,
# from 8x8 taps per cell (each tap a bilinear mix of 4 texels).
LUMA_SOURCE = """#version 330 core
out vec4 f_color;
uniform sampler2D u_image;
uniform vec2 u_cells;
""" + _LINEAR + """void main() {
    vec2 cell = floor(gl_FragCoord.xy);
    float sum = 0.0;
    for (int j = 0; j < 8; j++)
        for (int i = 0; i < 8; i++)
            sum += dot(linear(texture(u_image, (cell + (vec2(i, j) + 0.5) / 8.0) / u_cells).rgb),
                       vec3(0.2126, 0.7152, 0.0722));
    f_color = vec4(vec3(sum / 64.0), 1.0);
}
"""
# LIMIT: the shown frame, mixed from the last shown one towards the new one in linear light, so
# that each cell's luminance moves exactly by the share the limiter allows.
LIMIT_SOURCE = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_image;
uniform sampler2D u_last;
uniform float u_allow;
""" + _LINEAR + """vec3 encode(vec3 c) { return mix(c * 12.92, 1.055 * pow(c, vec3(1.0 / 2.4)) - 0.055, step(0.0031308, c)); }
void main() {
    vec3 last = linear(texture(u_last, v_uv).rgb), next = linear(texture(u_image, v_uv).rgb);
    f_color = vec4(encode(mix(last, next, u_allow)), 1.0);
}
"""
FLASH_CELLS = 16  # the limiter's grid: a flash over a sixteenth of the width and height counts


def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    """sRGB-encoded values in 0..1 to linear light (the sRGB transfer function, as WCAG uses it)."""
    v = np.asarray(values, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance (0..1) of sRGB pixels, ``(..., 3)`` uint8 or floats in 0..1."""
    arr = np.asarray(rgb)
    scaled = arr / 255.0 if arr.dtype == np.uint8 else arr
    return srgb_to_linear(scaled) @ np.array([0.2126, 0.7152, 0.0722])


class FlashLimiter:
    """Tracks the luminance changes of each region over the last second and decides, frame by
    frame, how much of the new frame may be shown (:meth:`step`).

    Per region it keeps the last extreme luminance and the direction of the last change; a
    *change* is a move of ``threshold`` or more from that extreme in the other direction with
    the darker side below ``dark_limit``. A region may make ``2 * max_flashes`` changes in any
    ``window_s`` (+ a little slack); after that, the shown frame may fall freely but rise at most
    ``margin * threshold`` above its last low, until its oldest change leaves the window.
    """

    def __init__(self, *, max_flashes: int = MAX_FLASHES, window_s: float = WINDOW_S, threshold: float = THRESHOLD,
                 dark_limit: float = DARK_LIMIT, margin: float = MARGIN, slack_s: float = SLACK_S) -> None:
        self.budget = 2 * int(max_flashes)  # changes: a flash is a pair of them
        self.window_s = float(window_s) + float(slack_s)
        self.threshold, self.dark_limit, self.margin = float(threshold), float(dark_limit), float(margin)
        self.limited_frames = 0  # frames shown less than whole, for the benchmark and the log
        self.reset()

    def reset(self) -> None:
        """Forget every region's history (a new output, or time that went backwards)."""
        self._shown: np.ndarray | None = None  # luminance of each region as last shown
        self._extreme = np.zeros(0)
        self._direction = np.zeros(0, np.int8)  # +1 the last change went up, -1 down, 0 none yet
        self._changes = np.zeros((0, 0))  # per region, the times of its last `budget` changes
        self._last_now = -np.inf

    def step(self, now: float, luminance: np.ndarray) -> float:
        """How much (0..1) of the new frame, whose regions have mean relative luminance
        ``luminance``, may be shown at time ``now``; records what will be shown."""
        new = np.asarray(luminance, dtype=np.float64).ravel()
        if self._shown is None or self._shown.shape != new.shape or now < self._last_now:
            self._start(now, new)
            return 1.0
        self._last_now = now
        spent = self._changes.min(axis=1) > now - self.window_s
        alpha = self._allowed(new, spent)
        shown = self._shown + alpha * (new - self._shown)
        self._record(now, shown)
        if alpha < 1.0:
            self.limited_frames += 1
        return alpha

    def _start(self, now: float, new: np.ndarray) -> None:
        self._shown, self._extreme = new.copy(), new.copy()
        self._direction = np.zeros(new.shape, np.int8)
        self._changes = np.full((new.size, max(self.budget, 1)), -np.inf)
        self._last_now = now

    def _allowed(self, new: np.ndarray, spent: np.ndarray) -> float:
        """The largest share of the new frame that makes no rise in a region whose budget is spent."""
        if self.budget == 0:
            spent = np.ones_like(spent)
        if not spent.any():
            return 1.0
        last, target, extreme, direction = self._shown[spent], new[spent], self._extreme[spent], self._direction[spent]
        step = self.margin * self.threshold
        bright = self.dark_limit + self.threshold - step  # 0.8 and a margin: measurements differ a little
        # How high a region may go without a rise: a little above its last low (after a rise it is
        # at or below its peak, and going higher only moves the peak; a rise from 0.8 or more is
        # no change: its darker side is not under 0.8). It may fall as far as it likes.
        hi = np.where((direction <= 0) & (extreme < bright), extreme + step, np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            over = np.where(target > hi, (hi - last) / (target - last), 1.0)
        return float(np.clip(over.min(), 0.0, 1.0))

    def _record(self, now: float, shown: np.ndarray) -> None:
        """Follow each region's extreme and count its changes."""
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
        self._shown = shown
