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
from live.visuals.flash import (ArrayFlashLimit, FlashLimiter, apply_gains, gain_map, region_luminance,
                                relative_luminance)
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
    ramp = [limiter.step(k / FPS, np.full((4, 4), k / 120)).min() for k in range(120)]  # black to white in 2 s
    assert min(ramp) == 1.0
    limiter = FlashLimiter()
    shown, gains = [], []
    for k in range(60):
        new = float(k % 2)
        gains.append(float(limiter.step(k / FPS, np.full((4, 4), new)).min()))
        shown.append(gains[-1] * new)  # a gain scales the region's luminance (linear light)
    assert gains[:7] == [1.0] * 7  # the first frame and six changes: three flashes
    assert max(shown[8:]) < 0.1  # then no region rises by a change again
    assert limiter.touched_frames == sum(g < 1.0 for g in gains)


def test_darkening_is_never_held_back():
    limiter = FlashLimiter()
    for k in range(7):  # six changes, the last one up: the budget is spent at white
        limiter.step(k / FPS, np.full((2, 2), float((k + 1) % 2)))
    assert limiter.step(7 / FPS, np.zeros((2, 2))).min() == 1.0  # a blackout goes black at once
    assert limiter.step(8 / FPS, np.ones((2, 2))).max() < 0.1  # but the light does not come back yet
    assert limiter.step(9 / FPS, np.full((2, 2), 0.05)).min() == 1.0  # a darker picture than shown: whole


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


def test_one_region_flashing_is_limited_there_and_nowhere_else():
    limiter = FlashLimiter()
    gains = []
    for k in range(60):
        grid = np.full((16, 16), 0.3)
        grid[:4, :4] = k % 2  # a sixteenth of the screen: the mean moves by 0.06 only
        gains.append(limiter.step(k / FPS, grid))
    assert max(g[:4, :4].max() for g in gains[9::2]) < 0.1  # its rises (odd frames) are held back...
    assert min(g[:, 4:].min() for g in gains) == 1.0  # ...and the rest of the picture is left alone


def test_each_region_is_scaled_by_its_own_gain_alone():
    gains = np.ones((16, 16))
    gains[3, 5] = 0.25
    pixel = gain_map(gains, 64, 96)
    assert np.all(pixel[12:16, 30:36] == 0.25)  # the held region, all of it...
    assert (pixel == 0.25).sum() == 4 * 6  # ...and nothing of its neighbours
    rgb = np.full((64, 96, 3), 255, np.uint8)
    lum = region_luminance(apply_gains(rgb, gains))
    assert abs(lum[3, 5] - 0.25) < 0.01 and np.allclose(np.delete(lum.ravel(), 3 * 16 + 5), 1.0)


def test_time_going_back_starts_afresh():
    limiter = FlashLimiter()
    for k in range(20):
        limiter.step(k / FPS, np.full((2, 2), float(k % 2)))
    assert limiter.step(0.0, np.ones((2, 2))).min() == 1.0


def moving_strobe(k: int, size: int = 64) -> np.ndarray:
    """Frame ``k`` of a synthetic input: the left half flashes black/white every frame, with a
    dark square drifting through it; the right half is a low-contrast pattern sliding 1 px a
    frame (motion, but no flash)."""
    rgb = np.zeros((size, size, 3), np.uint8)
    half = size // 2
    rgb[:, :half] = 255 * (k % 2)
    x = (k % (half - 8)) + 2
    rgb[20:28, x:x + 6] = (40, 40, 160)
    pattern = 110 + 12 * np.sin(2 * np.pi * (np.arange(half) - k) / 8.0)
    rgb[:, half:] = pattern.astype(np.uint8)[None, :, None]
    return rgb


def test_limited_picture_keeps_moving_and_only_the_flashing_regions_are_scaled():
    """The render path (the real renderer, its GL limiter passes) against a flashing, moving input:
    every output frame is new (no frame shown again, no stall), no region of a 16x16 grid flashes
    more than 3 times a second, the still part of the picture is shown as it is, and a picture
    darker than the last one shown passes at once."""
    renderer = Renderer(64, 64, headless=True, flash_limit=True)
    frames, inputs = [], []
    try:
        renderer.set_shaders([])
        for k in range(2 * FPS):
            inputs.append(moving_strobe(k))
            renderer.update_frames(None, Frame(inputs[-1], k / FPS, k))
            renderer.draw(k / FPS, 1.0, {})
            frames.append(renderer.read_pixels())
        touched = renderer.flash_state()[0]
    finally:
        renderer.close()
    times = [k / FPS for k in range(len(frames))]
    assert touched > FPS // 2  # it held back most of the white frames (60 in the 2 s)...
    steps = [int(np.abs(a[:, 40:].astype(int) - b[:, 40:]).max()) for a, b in zip(frames, frames[1:])]
    assert min(steps) > 4  # ...and every frame still moved on from the one before (no frame shown again)
    assert max_flashes_per_second(frames, times, grid=16) <= 3
    assert max_flashes_per_second(inputs, times, grid=16) >= 25  # the counter sees the input flash
    for out, src in zip(frames, inputs):
        assert np.abs(out[:, 40:].astype(int) - src[:, 40:]).max() <= 1  # the still half passes whole
    for k in range(10, len(frames), 2):  # the black frames: darker than shown, so shown at once
        assert np.abs(frames[k].astype(int) - inputs[k]).max() <= 1
    # The moving square is still there in the held-back white frames: darker than around it.
    for k in range(11, len(frames), 2):
        x = (k % 24) + 2
        assert relative_luminance(frames[k][20:28, x:x + 6]).mean() < relative_luminance(frames[k][4:12, 2:30]).mean()


def test_array_limit_is_the_renderers_limiter_on_the_cpu():
    limit = ArrayFlashLimit()
    frames, inputs = [], []
    for k in range(2 * FPS):
        inputs.append(moving_strobe(k))
        frames.append(limit(k / FPS, inputs[-1]))
    times = [k / FPS for k in range(len(frames))]
    assert max_flashes_per_second(frames, times, grid=16) <= 3
    assert min(int(np.abs(a.astype(int) - b).max()) for a, b in zip(frames, frames[1:])) > 8
    assert all(np.array_equal(out[:, 40:], src[:, 40:]) for out, src in zip(frames, inputs))
    renderer = Renderer(64, 64, headless=True, flash_limit=True)
    try:
        renderer.set_shaders([])
        for k, rgb in enumerate(inputs):
            renderer.update_frames(None, Frame(rgb, k / FPS, k))
            renderer.draw(k / FPS, 1.0, {})
            gl = renderer.read_pixels()
            # The GL pass measures with taps, the CPU exactly: the same picture within a little.
            assert np.abs(relative_luminance(gl) - relative_luminance(frames[k])).mean() < 0.02, k
    finally:
        renderer.close()


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


@pytest.mark.parametrize("limit", [True, False])
def test_status_counts_the_frames_the_limiter_touched_and_the_hud_lamp_shows_it_holding(tmp_path, limit):
    from live.visuals.hud import FLAGS, lamp_colour, status_lines

    show = _strobe_show(tmp_path, limit, "u_rate = 4.0")
    out = _Frames()
    try:
        driver.run(show.tick, SteppedClock(FPS, 2 * FPS), VideoSink(show.renderer, out), _beats(180.0))
    finally:
        show.renderer.close()
    status = show.status()
    on = dict((key, colour) for key, _, colour in FLAGS)["flash_limit"]
    if limit:
        assert status["flash_limited_frames"] > FPS // 2 and status["flash_limiting"] is True
        assert lamp_colour(status, "flash_limit", on) not in (on, lamp_colour({}, "flash_limit", on))
        assert any("flash limit holding back" in line for line in status_lines(status, _beats(180.0)(2.0)))
        calm = {**status, "flash_limiting": False}
        assert lamp_colour(calm, "flash_limit", on) == on  # on, not holding back: the first state
        assert not any("holding back" in line for line in status_lines(calm, _beats(180.0)(2.0)))
    else:
        assert status["flash_limited_frames"] == 0 and status["flash_limiting"] is False
