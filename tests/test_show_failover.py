"""Decoder failover and never-black, on real parts: the approx decoder, the decode worker
thread, a real bank and an offscreen GL renderer. The failing decoders are small test decoders
that raise or block the way a CUDA decoder does when it runs out of memory or hangs.

The decoded preset (``decoded``) holds SD-shaped latents written through the library's own
``save_preset_keyframes``, so every frame goes through the decoder; the built-in ``demo``
holds pictures (pixel keyframes), which the renderer composes without any decode."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from live.library.bank import open_bank
from live.library.keyframes import save_preset_keyframes
from live.library.presets import load_preset
from live.messages import AudioState
from live.show import driver
from live.show.driver import RealTimeClock, WindowSink
from live.show.runner import Stage
from live.show.show import AsyncDecode, HoldingVisual, Show
from live.visuals.approx import rgb_to_latents
from live.visuals.decoders import ApproxDecoder
from live.visuals.renderer import Renderer

ROOT = Path(__file__).resolve().parent.parent
FPS = 30


class Raising(ApproxDecoder):
    """A 'tiny' decoder that runs out of memory on every decode."""

    name = "tiny"

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")


class Stalling(ApproxDecoder):
    """A 'tiny' decoder that decodes ``good`` frames, then hangs inside a decode until released."""

    name = "tiny"

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good
        self.release = threading.Event()
        self.stalled_at: float | None = None

    def decode(self, latents: torch.Tensor) -> np.ndarray:
        if self.good > 0:
            self.good -= 1
            return super().decode(latents)
        self.stalled_at = time.perf_counter()
        self.release.wait(30)
        raise RuntimeError("released")


def beat(t: float) -> AudioState:
    return AudioState(time=t, bpm=120.0, beat_index=int(t * 2), beat_phase=(t * 2) % 1.0, downbeat=int(t * 2) % 4)


# A preset made by a model: its keyframes are latents, decoded frame by frame by the show's decoder.
DECODED = """[generation]
model = "test/latents"
width = 256
height = 256
prompts = ["colour fields"]
seeds = [0, 1, 2, 3]
[look]
shaders = ["pulse"]
"""


def colour_fields(count: int, size: int = 256) -> np.ndarray:
    """``count`` bright diagonal two-colour gradients, (count, size, size, 3) uint8: each
    keyframe clearly not black, so a black output frame can only come from the show."""
    ramp = np.add.outer(np.arange(size), np.arange(size))[..., None] / (2.0 * size - 2)
    rng = np.random.default_rng(7)
    out = [rng.uniform(80, 230, 3) * (1 - ramp) + rng.uniform(80, 230, 3) * ramp for _ in range(count)]
    return np.stack(out).astype(np.uint8)


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("failover")
    presets = tmp / "presets"
    presets.mkdir()
    (presets / "demo.toml").write_text((ROOT / "presets" / "demo.toml").read_text())
    (presets / "decoded.toml").write_text(DECODED)
    decoded = load_preset(presets / "decoded.toml")
    save_preset_keyframes(decoded, rgb_to_latents(colour_fields(4), family="sd1"), tmp / "keyframes",
                          {"model": "test/latents", "model_revision": "test"})
    dec = ApproxDecoder()
    loaded = open_bank(dec.family, dec.latent_channels, dec.device, presets, tmp / "keyframes")
    assert loaded.keyframe_set("decoded").kind == "latents" and loaded.keyframe_set("demo").kind == "pixels"
    return loaded


@pytest.fixture()
def renderer():
    r = Renderer(64, 64, headless=True)
    yield r
    r.close()


def test_a_raising_decoder_is_restarted_then_falls_back_to_approx(caplog):
    decode = AsyncDecode(Raising(), FPS, fallbacks=(ApproxDecoder(),))
    try:
        with caplog.at_level(logging.INFO):
            end = time.perf_counter() + 10
            while time.perf_counter() < end and not (decode.name == "approx" and decode.frames()[1] is not None):
                decode.request(torch.zeros(1, 4, 8, 8), time.perf_counter())
                decode.check()
                time.sleep(0.01)
        assert decode.name == "approx" and decode.frames()[1] is not None
        messages = [r.getMessage() for r in caplog.records]
        assert sum("restarting the decode worker" in m for m in messages) == 2, messages  # two restarts, then over
        assert any("decoder failover: tiny -> approx" in m and "out of memory" in m for m in messages), messages
        assert "3 failures in a row" in decode.failover and decode.failover.endswith("now approx")
    finally:
        decode.stop()


def test_a_stalled_decoder_fails_over_within_half_a_second_and_frames_keep_coming(bank, renderer, caplog):
    stall_after = 0.5
    stalling = Stalling(good=10)
    decode = AsyncDecode(stalling, FPS, fallbacks=(ApproxDecoder(),), stall_after=stall_after)
    HoldingVisual(renderer, 1.0 / FPS).tick(0.0, beat(0.0))  # what the live runner shows before the show
    show = Show(bank, decode, renderer, preset="decoded", frame_period=1.0 / FPS)
    seen: list[tuple[float, str, float]] = []  # (frame time, active decoder, output mean)
    first_approx: list[float] = []

    def after(t: float, frames: int) -> None:
        decode.check()
        newer = decode.frames()[1]
        if not first_approx and decode.name == "approx" and newer is not None and newer.ready > (stalling.stalled_at or 0):
            first_approx.append(newer.ready)
        seen.append((t, decode.name, float(renderer.read_pixels().mean())))

    try:
        with caplog.at_level(logging.INFO):
            done = driver.run(show.tick, RealTimeClock(FPS, seconds=3.0), WindowSink(renderer), beat,
                              after_frame=after)
    finally:
        stalling.release.set()
        decode.stop()
    assert stalling.stalled_at is not None and first_approx, seen
    failover_s = first_approx[0] - (stalling.stalled_at + stall_after)
    print(f"failover: first approx frame {failover_s * 1000:.0f} ms after the {stall_after} s stall threshold")
    assert failover_s < 0.5
    # Output never stopped and never went black: the stall held the last frame with shader motion.
    assert done.frames >= 0.5 * 3.0 * FPS
    assert min(mean for _, _, mean in seen) > 10
    stalled = [t for t, name, _ in seen if stalling.stalled_at <= t <= stalling.stalled_at + stall_after]
    assert len(stalled) >= 0.3 * stall_after * FPS  # frames kept coming during the stall itself
    assert show.status()["decoder"] == "approx" and "stalled" in show.status()["failover"]
    assert any("decoder failover: tiny -> approx" in r.getMessage() for r in caplog.records)


def test_holding_visual_is_up_from_the_first_frame_and_moves_on_the_beat(renderer):
    holding = HoldingVisual(renderer, 1.0 / FPS)
    holding.tick(0.0, beat(0.0))  # on a beat: the pulse shader punches
    on_beat = renderer.read_pixels().astype(float)
    holding.tick(0.25, beat(0.25))  # half a beat later
    off_beat = renderer.read_pixels().astype(float)
    # A picture, not black: the demo drawings are neon lines on black (made for a dark room),
    # so the mean is modest but a good share of the pixels is lit, on the beat and between beats.
    for frame in (on_beat, off_beat):
        assert frame.mean() > 15 and (frame.max(axis=2) > 40).mean() > 0.2
    assert on_beat.mean() > off_beat.mean() + 2  # brighter on the beat


def test_no_black_frame_from_holding_visual_to_the_first_decoded_frame(bank, renderer):
    holding = HoldingVisual(renderer, 1.0 / FPS)
    built: list[Show] = []

    def start_show():
        if len(means) < 10:  # the models are still "loading" for ten frames
            return None
        built.append(Show(bank, AsyncDecode(Stalling(good=1000), FPS), renderer, preset="decoded",
                          frame_period=1.0 / FPS))
        return built[0]

    means: list[float] = []
    stage = Stage(holding, start_show, Path("."))
    try:
        driver.run(stage.tick, RealTimeClock(FPS, seconds=1.5), WindowSink(renderer), beat,
                   after_frame=lambda t, n: means.append(float(renderer.read_pixels().mean())))
    finally:
        if built:
            built[0].decode.stop()
    assert built and built[0].decode.frames()[1] is not None  # the show took over and decoded
    assert min(means) > 10, means
    assert stage.status()["holding"] == "" and stage.status()["decoder"] == "tiny"


def test_no_black_frame_from_holding_visual_to_a_pixel_presets_first_frame(bank, renderer):
    """The built-in demo holds pictures: its frames are composed by the renderer, never decoded.
    The take-over from the holding visual must be just as seamless, from the very first frame."""
    holding = HoldingVisual(renderer, 1.0 / FPS)
    never = Stalling(good=0)  # the decoder must not be needed: any decode would hang here
    built: list[Show] = []
    means: list[float] = []
    lit: list[float] = []

    def start_show():
        if len(means) < 10:
            return None
        built.append(Show(bank, AsyncDecode(never, FPS), renderer, preset="demo", frame_period=1.0 / FPS))
        return built[0]

    def after(t: float, frames: int) -> None:
        pixels = renderer.read_pixels().astype(float)
        means.append(float(pixels.mean()))
        lit.append(float((pixels.max(axis=2) > 40).mean()))

    stage = Stage(holding, start_show, Path("."))
    try:
        driver.run(stage.tick, RealTimeClock(FPS, seconds=1.0), WindowSink(renderer), beat, after_frame=after)
    finally:
        never.release.set()
        if built:
            built[0].decode.stop()
    assert built and built[0].pixels is not None and stage.status()["holding"] == ""
    assert never.stalled_at is None  # composed by the renderer: no decode was asked for
    assert len(means) > 20, means
    assert min(means) > 10 and min(lit) > 0.2, (means, lit)  # every frame a picture, the switch included
