"""The picture on stage: pixel keyframes walked at full resolution, 16:9 built-ins, fold shaders
that never fold the letterbox, looks that show, a visible beat in every built-in preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from live.library.demo import BUILTIN_SETS, grid_images, write_demo_track
from live.visuals.pixels import PixelSet, images_to_pixels
from live.visuals.traversal import rotate_towards, slerp

REPO = Path(__file__).resolve().parents[1]
BUILTIN = ("demo", "nebula", "grid", "ink")
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def gradient(frame: np.ndarray) -> float:
    """Mean absolute luminance gradient (0..1 per pixel step), across and down."""
    lum = frame.astype(np.float32) @ LUMA / 255.0
    return float((np.abs(np.diff(lum, axis=1)).mean() + np.abs(np.diff(lum, axis=0)).mean()) / 2)


def saturation(frame: np.ndarray) -> float:
    """Mean HSV saturation (max - min) / max over pixels that are not black."""
    f = frame.astype(np.float32) / 255.0
    hi, lo = f.max(axis=-1), f.min(axis=-1)
    lit = hi > 0.05
    return float(((hi - lo)[lit] / hi[lit]).mean())


# ------------------------------------------------------------------ pixel keyframes


def test_the_walk_over_coordinates_is_the_walk_over_the_pictures():
    pixels = images_to_pixels(grid_images(256, 144, 3)).double()
    ps = PixelSet(pixels)
    walked = rotate_towards(slerp(ps.coords[0], ps.coords[2], 0.3), ps.light, 0.3)
    direct = rotate_towards(slerp(pixels[0], pixels[2], 0.3), torch.ones_like(pixels[0]), 0.3)
    expected = (direct.clamp(0, 1) * 255 + 0.5).floor().to(torch.uint8).permute(1, 2, 0).numpy()
    frame = ps.frame(walked.unsqueeze(0), 0.0)
    assert {i for i, _ in frame.terms} == {0, 2} and frame.light > 0  # two pictures and the kick's light
    assert np.abs(frame.rgb.astype(int) - expected.astype(int)).max() <= 1


def test_the_gpu_sums_a_pixel_frame_as_the_cpu_does():
    from live.visuals.renderer import Renderer

    # the pictures as the bank holds them: bytes, uploaded as an RGB8 texture array
    ps = PixelSet(torch.from_numpy(grid_images(256, 144, 3)).permute(0, 3, 1, 2))
    assert ps.keyframes.dtype == torch.uint8 and ps.images.dtype == np.uint8
    frame = ps.frame(rotate_towards(slerp(ps.coords[1], ps.coords[2], 0.6), ps.light, 0.2).unsqueeze(0), 0.0)
    assert frame.light > 0
    renderer = Renderer(256, 144, headless=True)
    try:
        renderer.set_shaders([])
        renderer.update_frames(None, frame)
        renderer.draw(0.0, 1.0, {})
        out = renderer.read_pixels()
    finally:
        renderer.close()
    assert np.abs(out.astype(int) - frame.rgb.astype(int)).max() <= 1


def test_pictures_as_bytes_walk_and_sum_as_the_floats_did():
    images = grid_images(256, 144, 4)
    as_bytes = PixelSet(torch.from_numpy(images).permute(0, 3, 1, 2))
    as_floats = PixelSet(images_to_pixels(images))  # the keyframes as they were held before (float32, 0..1)
    assert as_bytes.nbytes == images.nbytes and np.array_equal(as_bytes.images, as_floats.images)
    gram = lambda ps: torch.einsum("nr...,mr...->nm", ps.coords, ps.coords)  # noqa: E731
    assert torch.allclose(gram(as_bytes), gram(as_floats), rtol=1e-6)
    for a, b, t in ((0, 1, 0.3), (1, 3, 0.7), (2, 0, 0.5)):
        frames = [ps.frame(rotate_towards(slerp(ps.coords[a], ps.coords[b], t), ps.light, 0.25).unsqueeze(0), 0.0)
                  for ps in (as_bytes, as_floats)]
        assert np.abs(frames[0].rgb.astype(int) - frames[1].rgb.astype(int)).max() <= 1  # within a level


def test_builtin_sets_are_dark_and_sharp_at_16_9():
    for name, draw in BUILTIN_SETS.items():
        images = draw(256, 144, 2)
        lum = images.astype(np.float32) @ LUMA / 255.0
        assert lum.mean() < 0.15, name  # made for a dark room (ink was white paper at 0.75)
        assert np.mean([gradient(i) for i in images]) > 0.01, name


def test_builtin_presets_are_16_9_pixel_presets(tmp_path):
    from live.library.bank import open_bank
    from live.library.presets import load_preset

    for name in BUILTIN:
        g = load_preset(REPO / "presets" / f"{name}.toml").generation
        assert g.width * 9 == g.height * 16, name
    bank = open_bank(presets_dir=REPO / "presets", keyframes_dir=tmp_path, shaders_dir=REPO / "shaders")
    kset = bank.keyframe_set("grid")
    assert kset.kind == "pixels" and tuple(kset.latents.shape[1:]) == (3, 288, 512)


def test_render_takes_aspect_with_lives_default():
    import argparse

    from live.cli import render
    from live.show.runner import ShowSettings

    parser = argparse.ArgumentParser()
    render.configure(parser)
    args = parser.parse_args(["--preset", "demo", "--audio", "a.wav", "--out", "o.mp4"])
    assert args.aspect == ShowSettings.aspect and args.size == ShowSettings.size == "768x432"


# ------------------------------------------------------------------ looks


def _draw(shaders: list[str], picture: np.ndarray, uniforms: dict | None = None, size=(128, 72)) -> np.ndarray:
    from live.visuals.renderer import Renderer
    from live.visuals.worker import Frame

    renderer = Renderer(*size, headless=True, shader_dir=REPO / "shaders", aspect="fit")
    try:
        renderer.set_shaders(shaders)
        renderer.update_frames(None, Frame(picture, 0.0, 1, 0.0))
        base = {"u_chroma": (1.0, 0, 0, 0, 0.6, 0, 0, 0.7, 0, 0, 0, 0), "u_pulse": 0.0, "u_bar_phase": 0.3}
        renderer.draw(0.0, 1.0, {**base, **(uniforms or {})})
        return renderer.read_pixels()
    finally:
        renderer.close()


def test_palette_adds_colour():
    picture = BUILTIN_SETS["demo"](128, 72, 1)[0]
    before = _draw([], picture)
    after = _draw(["palette"], picture, {})
    assert saturation(after) > saturation(before) + 0.02, (saturation(before), saturation(after))


@pytest.mark.parametrize("shader", ["grade", "palette", "vignette", "pixelate"])
def test_looks_change_the_picture_at_their_defaults(shader):
    picture = BUILTIN_SETS["ink"](128, 72, 1)[0]
    plain, looked = _draw([], picture).astype(float), _draw([shader], picture).astype(float)
    assert np.abs(looked - plain).mean() / max(plain.mean(), 1.0) > 0.05, shader


@pytest.mark.parametrize("shader", ["kaleido", "mirror"])
def test_fold_shaders_never_fold_the_letterbox(shader):
    square = np.full((72, 72, 3), 200, np.uint8)  # a bright square picture in a 16:9 output: bars left and right
    out = _draw([shader], square, {"u_bar_phase": 0.37})
    inside = out[:, 28:100].astype(float) @ LUMA
    assert (inside > 150).mean() > 0.97  # no black folded into the picture
    assert out[:, :26].max() < 10 and out[:, -26:].max() < 10  # the bars stay bars


# ------------------------------------------------------------------ rendered presets (offline render)


class _Frames:
    """A VideoWriter stand-in that keeps the frames."""

    frames: list[np.ndarray] = []

    def __init__(self, out, width, height, fps):
        self.frames = _Frames.frames = []

    def add_audio(self, samples, samplerate):
        pass

    def write(self, frame):
        self.frames.append(frame.copy())

    def close(self):
        pass

    def abort(self):
        pass


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from live.show import render
    import live.visuals.video as video

    tmp = tmp_path_factory.mktemp("render")
    track = write_demo_track(tmp / "demo.wav", seconds=6.0)
    real = video.VideoWriter
    video.VideoWriter = _Frames
    out = {}
    try:
        for name in BUILTIN:
            stats = render.render_file(preset=name, audio=str(tmp / "demo.wav"), out=str(tmp / "o.mp4"),
                                       size="512x288", fps=20, presets_dir=REPO / "presets",
                                       keyframes_dir=tmp / "kf", shaders_dir=REPO / "shaders", progress=False)
            out[name] = (np.stack(_Frames.frames), stats)
    finally:
        video.VideoWriter = real
    return out, track


@pytest.mark.slow
def test_weight_free_presets_are_sharp(rendered):
    frames, _ = rendered
    grads = {n: float(np.mean([gradient(f) for f in fr[20:]])) for n, (fr, _) in frames.items()}
    assert min(grads.values()) >= 0.010 and np.mean(list(grads.values())) >= 0.015, grads


@pytest.mark.slow
def test_every_builtin_preset_has_a_visible_beat(rendered):
    from live.show.render import pulse_peaks

    frames, _ = rendered
    for name, (fr, stats) in frames.items():
        lum = np.array([(f.astype(np.float32) @ LUMA).mean() / 255.0 for f in fr])
        beats = [i for i in pulse_peaks(stats.pulses) if 20 <= i < len(fr)]
        jumps = [lum[i] - lum[i - 2] for i in beats]
        assert np.median(np.abs(jumps)) >= 0.01, (name, jumps)


@pytest.mark.slow
def test_no_builtin_frame_folds_the_letterbox(rendered):
    frames, _ = rendered
    for name, (fr, _) in frames.items():  # 16:9 pictures in a 16:9 output: no bars to fold at all
        cols = np.stack([f.max(axis=(0, 2)) for f in fr[20:]])  # brightest value of each column
        assert (cols.max(axis=0) > 20).mean() > 0.9, name
