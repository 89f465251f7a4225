"""An independent WCAG 2.3.1 flash counter for tests: it reads rendered frames and trusts nothing
of the limiter (live/visuals/flash.py) it checks.

Per pixel relative luminance from sRGB (WCAG formula, a 256-entry table); the mean of it over the
whole frame and over each cell of a 4x4 grid (a flash over a quarter of the screen shows in
four cells); per series, the *transitions*: moves of 0.1 or more from the last turning point in
the other direction, with the darker side below 0.80. A flash is a pair of transitions, so the
flashes in a window are its transitions // 2.
"""

from __future__ import annotations

import numpy as np

_CHANNEL = np.array([c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
                     for c in (np.arange(256) / 255.0)])
WEIGHTS = (0.2126, 0.7152, 0.0722)


def frame_series(frame: np.ndarray, grid: int = 4) -> np.ndarray:
    """Mean relative luminance of the whole frame, then of each grid cell (row by row)."""
    lin = _CHANNEL[frame]
    lum = lin[..., 0] * WEIGHTS[0] + lin[..., 1] * WEIGHTS[1] + lin[..., 2] * WEIGHTS[2]
    h, w = lum.shape
    cells = [lum[r * h // grid:(r + 1) * h // grid, c * w // grid:(c + 1) * w // grid].mean()
             for r in range(grid) for c in range(grid)]
    return np.array([lum.mean(), *cells])


def transitions(series: list[float], times: list[float]) -> list[float]:
    """Times of the WCAG transitions in one luminance series."""
    out: list[float] = []
    turn = series[0]
    rising: bool | None = None  # direction since the last turning point
    for value, t in zip(series[1:], times[1:]):
        if (rising is True and value > turn) or (rising is False and value < turn):
            turn = value  # still going the same way: the turning point moves with it
        elif abs(value - turn) >= 0.1 and min(value, turn) < 0.8:
            out.append(t)
            rising = value > turn
            turn = value
    return out


def max_flashes_per_second(frames: list[np.ndarray], times: list[float], grid: int = 4) -> int:
    """The most flashes in any one-second window (inclusive), over the frame and each cell of a
    ``grid`` x ``grid`` grid."""
    series = np.array([frame_series(f, grid) for f in frames])
    worst = 0
    for column in series.T:
        ts = transitions(list(column), times)
        for i, start in enumerate(ts):
            count = sum(1 for t in ts[i:] if t - start <= 1.0 + 1e-9)
            worst = max(worst, count // 2)
    return worst
