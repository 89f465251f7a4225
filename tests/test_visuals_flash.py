"""The flash limiter: its decision module, and the real renderer and show against strobes, the
output's flashes counted by the independent WCAG counter in tests/flashcount.py."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from flashcount import max_flashes_per_second

from live.library.bank import open_bank
from live.messages import AudioState
from live.show import driver
from live.show.driver import SteppedClock, VideoSink
from live.show.show import Show, SyncDecode
from live.visuals.decoders import make_decoder
from live.visuals.flash import FlashLimiter, relative_luminance
from live.visuals.renderer import Renderer

FPS = 60
STROBE = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform float u_beat_phase;
uniform float u_rate = 1.0; // @param 0.25..8 flashes per beat
uniform float u_area = 1.0; // @param 0..1 1: the whole screen; 0.5: the lower left quarter
void main() {
    bool on = fract(u_beat_phase * u_rate) < 0.5 && v_uv.x < u_area && v_uv.y < u_area;
    f_color = vec4(vec3(on ? 1.0 : 0.0), 1.0);
}
"""


@dataclass
class Frame:
    rgb: np.ndarray
    display_time: float
    seq: int


def test_relative_luminance_follows_wcag():
    px = np.array([[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 0, 0]], np.uint8)
    assert np.allclose(relative_luminance(px), [0.0, 1.0, 0.2158605, 0.2126], atol=1e-6)


def test_slow_changes_pass_and_a_strobe_is_held_after_three_flashes():
    limiter = FlashLimiter()
    ramp = [limiter.step(k / FPS, np.full((4, 4), k / 120)) for k in range(120)]  # black to white in 2 s
    assert min(ramp) == 1.0
    limiter = FlashLimiter()
    shown, allowed = [], []
    for k in range(60):
        new = float(k % 2)
        allowed.append(limiter.step(k / FPS, np.full((4, 4), new)))
        shown.append(allowed[-1] * new + (1 - allowed[-1]) * (shown[-1] if shown else 0.0))
    assert allowed[:7] == [1.0] * 7  # the first frame and six changes: three flashes
    assert max(abs(a - b) for a, b in zip(shown[8:], shown[9:])) < 0.1


def test_darkening_is_never_held_back():
    limiter = FlashLimiter()
    for k in range(7):  # six changes, the last one up: the budget is spent at white
        limiter.step(k / FPS, np.full((2, 2), float((k + 1) % 2)))
    assert limiter.step(7 / FPS, np.zeros((2, 2))) == 1.0  # a blackout goes black at once
    assert limiter.step(8 / FPS, np.ones((2, 2))) < 0.1  # but the light does not come back yet


def test_renderer_blackout_is_black_with_the_budget_spent():
    renderer = Renderer(32, 32, headless=True, flash_limit=True)
    try:
        renderer.set_shaders([])
        for k in range(7):  # white, black, ... white: six changes, the budget spent at a peak
            renderer.update_frames(None, Frame(np.full((8, 8, 3), 255 * ((k + 1) % 2), np.uint8), k / FPS, k))
            renderer.draw(k / FPS, 1.0, {})
        assert renderer.read_pixels().min() == 255
        renderer.draw(7 / FPS, 1.0, {}, blackout=True)
        assert renderer.read_pixels().max() == 0
    finally:
        renderer.close()


def test_one_region_flashing_is_limited_though_the_frame_mean_barely_moves():
    limiter = FlashLimiter()
    allowed = []
    for k in range(60):
        grid = np.zeros((16, 16))
        grid[:4, :4] = k % 2  # a sixteenth of the screen: the mean moves by 0.06 only
        allowed.append(limiter.step(k / FPS, grid))
    assert min(allowed[8:]) < 0.1


def test_time_going_back_starts_afresh():
    limiter = FlashLimiter()
    for k in range(20):
        limiter.step(k / FPS, np.full((2, 2), float(k % 2)))
    assert limiter.step(0.0, np.ones((2, 2))) == 1.0


def _strobe_frames(renderer: Renderer, seconds: float = 3.0) -> tuple[list[np.ndarray], list[float]]:
    """Alternate black and white decoded frames, one per output frame at 60 fps."""
    renderer.set_shaders([])
    frames, times = [], []
    for k in range(int(seconds * FPS)):
        t = k / FPS
        rgb = np.full((8, 8, 3), 255 * (k % 2), np.uint8)
        renderer.update_frames(None, Frame(rgb, t, k))
        renderer.draw(t, 1.0, {})
        frames.append(renderer.read_pixels())
        times.append(t)
    return frames, times


@pytest.mark.parametrize("limit", [True, False])
def test_renderer_holds_alternating_black_and_white_frames(limit):
    renderer = Renderer(64, 48, headless=True, flash_limit=limit)
    try:
        frames, times = _strobe_frames(renderer)
    finally:
        renderer.close()
    flashes = max_flashes_per_second(frames, times)
    if limit:
        assert 1 <= flashes <= 3  # the limit holds, and the picture still moves
    else:
        assert flashes >= 25  # the same input, unlimited, flashes: the counter sees it


def write_strobe(tmp: Path, params: str) -> tuple[Path, Path]:
    """A preset "strobe" (its shaders and presets folders under ``tmp``) running the strobe shader."""
    shaders, presets = tmp / "shaders", tmp / "presets"
    shaders.mkdir(exist_ok=True)
    presets.mkdir(exist_ok=True)
    (shaders / "strobe.glsl").write_text(STROBE)
    (presets / "strobe.toml").write_text(f"""[generation]
model = "approx"
width = 256
height = 256
images = "builtin:demo"
seeds = [0]
[look]
shaders = ["strobe"]
params = {{ {params} }}
""")
    return shaders, presets


def _strobe_show(tmp: Path, limit: bool, params: str) -> Show:
    shaders, presets = write_strobe(tmp, params)
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, tmp / "keyframes", shaders)
    renderer = Renderer(64, 64, headless=True, shader_dir=shaders, flash_limit=limit)
    return Show(bank, SyncDecode(decoder), renderer, preset="strobe", frame_period=1.0 / FPS)


class _Frames:
    """A video writer that keeps the frames."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []

    def write(self, frame: np.ndarray) -> None:
        self.frames.append(frame)


def _beats(bpm: float):
    def state_at(t: float) -> AudioState:
        beats = t * bpm / 60.0
        return AudioState(time=t, bpm=bpm, beat_index=math.floor(beats), beat_phase=beats % 1.0,
                          downbeat=math.floor(beats) % 4, tempo_source="manual")
    return state_at


@pytest.mark.parametrize("bpm,params", [
    (180.0, "u_rate = 2.0"),  # 180 BPM, on the beat and the offbeat: 6 flashes a second
    (240.0, "u_rate = 1.0"),  # a flash on every beat at 240 BPM
    (180.0, "u_rate = 4.0"),  # 12 flashes a second
    (300.0, "u_rate = 2.0, u_area = 0.5"),  # 10 a second, over a quarter of the screen only
])
@pytest.mark.parametrize("limit", [True, False])
def test_show_with_a_strobe_shader_stays_under_three_flashes_a_second(tmp_path, bpm, params, limit):
    show = _strobe_show(tmp_path, limit, params)
    out = _Frames()
    n = 3 * FPS
    try:
        driver.run(show.tick, SteppedClock(FPS, n), VideoSink(show.renderer, out), _beats(bpm))
    finally:
        show.renderer.close()
    assert show.status()["flash_limit"] is limit
    flashes = max_flashes_per_second(out.frames, [k / FPS for k in range(n)])
    if limit:
        assert 1 <= flashes <= 3
    else:
        assert flashes >= 4


def test_flash_limit_flag_is_on_unless_lifted():
    from live.cli import build_parser
    from live.cli.live import settings_from_args

    parser = build_parser()
    assert settings_from_args(parser.parse_args(["live"])).flash_limit is True
    assert settings_from_args(parser.parse_args(["live", "--no-flash-limit"])).flash_limit is False
    render = ["render", "--preset", "p", "--audio", "a.wav", "--out", "o.mp4"]
    assert parser.parse_args(render).flash_limit is True
    assert parser.parse_args([*render, "--no-flash-limit"]).flash_limit is False
