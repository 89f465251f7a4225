"""shaders/strobe.glsl, drawn by the real renderer: each hit is one near-white frame with the
picture back on the next, at most one a beat, never more than 3 flashes a second at any tempo,
and evenly quantised to frames."""

import math

import numpy as np
import pytest
from flashcount import max_flashes_per_second

from live.messages import AudioState
from live.show.show import shader_uniforms
from live.visuals.flash import relative_luminance
from live.visuals.renderer import Renderer
from live.visuals.worker import Frame

FPS = 30
SECONDS = 4


def _state(t: float, bpm: float) -> AudioState:
    beats = t * bpm / 60.0
    return AudioState(time=t, bpm=bpm, beat_index=math.floor(beats), beat_phase=beats % 1.0,
                      downbeat=math.floor(beats) % 4, tempo_source="manual")


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(32, 32, headless=True)
    r.set_shaders(["strobe"])
    r.update_frames(None, Frame(np.full((8, 8, 3), 60, np.uint8), 0.0, 1, 0.0))  # a dark grey picture
    yield r
    r.close()


def _frames(renderer: Renderer, bpm: float, rate: float = 1.0) -> list[np.ndarray]:
    renderer.set_param("u_rate", rate)
    frames = []
    for k in range(FPS * SECONDS):
        middle = (k + 0.5) / FPS  # the show's uniforms describe the middle of a frame's time on screen
        renderer.draw(k / FPS, 1.0, shader_uniforms(_state(middle, bpm), middle, 1.0 / FPS))
        frames.append(renderer.read_pixels())
    return frames


@pytest.mark.parametrize("bpm,rate,every", [
    (90.0, 1.0, 1), (120.0, 1.0, 1), (128.0, 1.0, 1), (160.0, 1.0, 1),
    (175.0, 1.0, 2), (240.0, 1.0, 2), (400.0, 1.0, 4),  # fast: every 2nd or 4th beat, under 3 a second
    (120.0, 0.5, 2), (120.0, 0.25, 4),
])
def test_strobe_hits_are_single_white_frames_within_the_flash_budget(renderer, bpm, rate, every):
    frames = _frames(renderer, bpm, rate)
    lum = np.array([relative_luminance(f).mean() for f in frames])
    picture = float(np.median(lum))
    hits = np.flatnonzero(lum > 0.5)
    assert picture < 0.06  # the picture itself, between the hits
    assert lum[hits].min() > 0.9  # a hit is near white (not a grey wash)...
    rest = np.delete(lum, hits)
    assert np.abs(rest - picture).max() < 0.005  # ...and every other frame is the picture: no tail
    assert np.diff(hits).min() > 1  # one frame each
    period = every * 60.0 / bpm * FPS  # frames between hits
    assert set(np.diff(hits)) <= {math.floor(period), math.ceil(period)}  # evenly quantised to frames
    assert len(hits) >= math.floor(SECONDS * FPS / period) - 1  # none missed
    assert max_flashes_per_second(frames, [k / FPS for k in range(len(frames))]) <= 3
