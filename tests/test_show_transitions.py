"""Preset transitions, quantised switches and the fade, through the real Show and renderer:
presets of solid-colour images (the approx decoder keeps them solid), pixels read back."""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from live.library.bank import open_bank
from live.messages import AudioState, Command
from live.show import driver
from live.show.driver import NullSink, SteppedClock
from live.show.show import Show, SyncDecode
from live.visuals.decoders import make_decoder
from live.visuals.renderer import Renderer

RED, BLUE = (200, 40, 40), (30, 60, 210)
FPS = 60
W = 64


def _preset(folder: Path, name: str, colour: tuple[int, int, int], **look: str | int) -> None:
    images = folder / "images" / name
    images.mkdir(parents=True)
    Image.fromarray(np.full((64, 64, 3), colour, np.uint8)).save(images / "a.png")
    lines = "\n".join(f"{k} = {v!r}" if isinstance(v, int) else f'{k} = "{v}"' for k, v in look.items())
    (folder / "presets" / f"{name}.toml").write_text(f"""[generation]
model = "approx"
width = 256
height = 256
images = "{images}"
seeds = [0]
[look]
shaders = []
transition_beats = 2
{lines}
""")


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("transitions")
    (tmp / "presets").mkdir()
    _preset(tmp, "red", RED, transition="cut", transition_quantize="none")
    for kind in ("crossfade", "black", "wipe", "cut"):
        _preset(tmp, kind, BLUE, transition=kind, transition_quantize="none")
    for unit in ("beat", "bar", "phrase"):
        _preset(tmp, unit, BLUE, transition="cut", transition_quantize=unit)
    decoder = make_decoder("approx")
    return open_bank(decoder.family, decoder.latent_channels, decoder.device, tmp / "presets", tmp / "keyframes"), decoder


@pytest.fixture
def show(bank):
    presets, decoder = bank
    renderer = Renderer(W, W, headless=True)
    yield Show(presets, SyncDecode(decoder), renderer, preset="red", frame_period=1.0 / FPS)
    renderer.close()


def beats(bpm: float = 120.0, offset: float = 0.0, source: str = "manual"):
    """A steady beat clock: beat k at ``offset + k * 60 / bpm``, the bar starting on beat 0."""
    def state_at(t: float) -> AudioState:
        count = (t - offset) * bpm / 60.0
        index = math.floor(count)
        return AudioState(time=t, bpm=bpm, beat_index=index, beat_phase=count - index, downbeat=index % 4,
                          tempo_source=source)
    return state_at


def colour(show: Show) -> np.ndarray:
    return show.renderer.read_pixels().reshape(-1, 3).mean(axis=0)


def switch_at(show: Show, name: str, t0: float = 0.5) -> None:
    """Draw red, then switch to ``name`` at ``t0`` (120 BPM: the 2-beat transition takes 1 s)."""
    state = beats()
    show.tick(0.0, state(0.0))
    assert np.allclose(colour(show), RED, atol=2)
    show.commands.put(Command("preset", (name,)))
    show.tick(t0, state(t0))


def test_crossfade_midpoint_is_the_blend_of_both_sides(show):
    switch_at(show, "crossfade")
    show.tick(1.0, beats()(1.0))
    assert np.allclose(colour(show), (np.array(RED) + BLUE) / 2, atol=3)
    show.tick(1.5, beats()(1.5))
    assert np.allclose(colour(show), BLUE, atol=2)


def test_through_black_is_dark_at_its_midpoint(show):
    switch_at(show, "black")
    show.tick(0.75, beats()(0.75))  # a quarter: the old picture at half strength
    assert np.allclose(colour(show), np.array(RED) / 2, atol=3)
    show.tick(1.0, beats()(1.0))
    assert show.renderer.read_pixels().max() <= 2
    show.tick(1.25, beats()(1.25))  # three quarters: the new one at half strength
    assert np.allclose(colour(show), np.array(BLUE) / 2, atol=3)


@pytest.mark.parametrize("progress", [0.25, 0.5, 0.75])
def test_wipe_edge_moves_left_to_right(show, progress):
    switch_at(show, "wipe")
    show.tick(0.5 + progress, beats()(0.5 + progress))
    row = show.renderer.read_pixels()[W // 2].astype(float)
    edge = -0.05 + 1.1 * progress  # the soft edge's centre, as a share of the width
    left, right = row[: int((edge - 0.08) * W)], row[int((edge + 0.08) * W) + 1:]
    assert np.allclose(left, BLUE, atol=3) and np.allclose(right, RED, atol=3)
    blend = np.abs(row - RED).sum(axis=1) / np.abs(np.subtract(BLUE, RED)).sum()  # 1 blue .. 0 red
    middle = int(np.argmin(np.abs(blend - 0.5)))
    assert abs((middle + 0.5) / W - edge) <= 1.5 / W


def test_cut_switches_at_once(show):
    switch_at(show, "cut")
    assert np.allclose(colour(show), BLUE, atol=2)


@pytest.mark.parametrize("unit,beats_per", [("beat", 1), ("bar", 4), ("phrase", 16)])
def test_quantised_switch_lands_on_the_frame_nearest_the_boundary(show, unit, beats_per):
    bpm, offset = 128.0, 0.137  # boundaries fall between frames
    state_at = beats(bpm, offset)
    shown: list[tuple[float, str, str]] = []

    def after(t: float, frames: int) -> None:
        if frames == 30:  # carried out by the tick at t = 0.5
            show.commands.put(Command("preset", (unit,)))
        shown.append((t, show.preset_name, show.status()["queued"]))  # the status is published 4 times a second

    driver.run(show.tick, SteppedClock(FPS, int(9 * FPS)), NullSink(), state_at, after_frame=after)
    period = 60.0 / bpm
    span = beats_per * period
    boundary = offset + span * math.floor((31 / FPS - offset) / span + 1)  # the first one after the request
    first = next(t for t, name, _ in shown if name == unit)
    display = first + 0.5 / FPS  # the middle of the frame's time on screen, as the uniforms use
    assert abs(display - boundary) <= 0.5 / FPS + 1e-9
    assert all(name == "red" for t, name, _ in shown if t < first)
    assert any(q == unit for t, _, q in shown if t < first)  # the status said what waits
    assert np.allclose(colour(show), BLUE, atol=2)


def test_no_tempo_source_switches_at_once_and_a_new_request_replaces_the_queued_one(show):
    show.tick(0.0, beats(source="none")(0.0))
    show.commands.put(Command("preset", ("bar",)))
    show.tick(0.1, beats(source="none")(0.1))
    assert show.preset_name == "bar" and show.queued is None
    show.commands.put(Command("preset", ("red",)))  # red is "none": at once
    show.tick(0.2, beats()(0.2))
    show.commands.put(Command("preset", ("bar",)))
    show.tick(0.3, beats()(0.3))
    assert show.queued is not None and show.preset_name == "red"
    show.commands.put(Command("preset", ("cut",)))  # quantize none: at once, the queue is dropped
    show.tick(0.4, beats()(0.4))
    assert show.preset_name == "cut" and show.queued is None
    show.tick(0.7, beats()(0.7))
    assert show.status()["queued"] == ""


def test_fade_to_black_reaches_black_and_comes_back(show):
    state = beats()
    show.tick(0.0, state(0.0))
    show.commands.put(Command("fade", (True, 2.0)))  # 2 beats at 120 BPM: 1 s
    show.tick(0.1, state(0.1))
    show.tick(0.6, state(0.6))
    assert np.allclose(colour(show), np.array(RED) / 2, atol=3)
    show.tick(1.1, state(1.1))
    assert show.renderer.read_pixels().max() == 0
    show.tick(1.5, state(1.5))
    assert show.status()["fade"] is True and show.renderer.read_pixels().max() == 0
    show.commands.put(Command("fade", (False, 0.0)))
    show.tick(1.6, state(1.6))
    assert np.allclose(colour(show), RED, atol=2)
    show.commands.put(Command("fade", ()))  # a toggle with no length: to black over a bar
    show.tick(1.7, state(1.7))
    assert show.fade.to_black and 0.0 < show.fade.level(2.7) < 1.0 and show.fade.level(3.7) == 1.0
