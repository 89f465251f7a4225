import os
from dataclasses import dataclass

import numpy as np
import pytest

from live.visuals.renderer import Renderer, shader_error_line


@dataclass
class Frame:
    rgb: np.ndarray
    display_time: float
    seq: int


GOOD = """#version 330 core
in vec2 v_uv; out vec4 f_color; uniform sampler2D u_image;
uniform float u_gain = 1.0; // @param 0..2 gain
void main() { f_color = vec4(texture(u_image, v_uv).rgb * u_gain, 1.0); }
"""
BAD = """#version 330 core
in vec2 v_uv; out vec4 f_color;
void main() { f_color = vec4(undeclared_thing); }
"""


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(64, 48, headless=True)
    yield r
    r.close()


def solid(colour, h=16, w=16):
    return np.full((h, w, 3), colour, np.uint8)


def test_frame_orientation_top_row_first(renderer):
    renderer.set_shaders([])
    img = np.zeros((16, 16, 3), np.uint8)
    img[:8, :, 0] = 255  # top half red
    img[8:, :, 2] = 255  # bottom half blue
    renderer.update_frames(None, Frame(img, 0.0, 1))
    renderer.draw(0.0, 1.0, {})
    out = renderer.read_pixels()
    assert out.shape == (48, 64, 3)
    assert out[2, 32, 0] > 200 and out[2, 32, 2] < 50
    assert out[-3, 32, 2] > 200 and out[-3, 32, 0] < 50


def test_frames_blend_by_mix_and_blackout(renderer):
    renderer.set_shaders([])
    renderer.update_frames(Frame(solid(0), 0.0, 10), Frame(solid(200), 1.0, 11))
    renderer.draw(0.0, 0.5, {})
    assert abs(renderer.read_pixels().mean() - 100) < 3
    renderer.draw(0.0, 0.5, {}, blackout=True)
    assert renderer.read_pixels().max() == 0


def test_pulse_shader_brightens_on_the_beat(renderer):
    renderer.set_shaders(["pulse"])
    renderer.update_frames(Frame(solid(100), 0.0, 20), Frame(solid(100), 0.0, 21))
    renderer.draw(0.0, 1.0, {"u_pulse": 0.0, "u_bar_phase": 0.5})
    calm = renderer.read_pixels().mean()
    renderer.draw(0.0, 1.0, {"u_pulse": 1.0, "u_bar_phase": 0.0})
    assert renderer.read_pixels().mean() > calm * 1.3


def test_broken_shader_keeps_last_good_program(renderer, tmp_path, caplog):
    shader = tmp_path / "mine.glsl"
    shader.write_text(GOOD)
    renderer.shader_dir = tmp_path
    renderer.set_shaders(["mine"], {"u_gain": 0.5})
    renderer.update_frames(Frame(solid(200), 0.0, 30), Frame(solid(200), 0.0, 31))
    renderer.draw(0.0, 1.0, {})
    assert abs(renderer.read_pixels().mean() - 100) < 3
    shader.write_text(BAD)
    os.utime(shader, (1, 1))  # a different mtime, as an editor save would give
    renderer.poll_shaders(force=True)
    assert "line 3" in renderer.shader_errors()["mine"]
    assert any("mine.glsl:3" in r.getMessage() for r in caplog.records)
    renderer.draw(0.0, 1.0, {})
    assert abs(renderer.read_pixels().mean() - 100) < 3  # still the good program
    renderer.set_param("u_gain", 1.0)
    renderer.draw(0.0, 1.0, {})
    assert abs(renderer.read_pixels().mean() - 200) < 3


def test_missing_or_never_good_shader_passes_picture_through(renderer, tmp_path):
    (tmp_path / "bad.glsl").write_text(BAD)
    renderer.shader_dir = tmp_path
    renderer.set_shaders(["bad", "absent"])
    assert set(renderer.shader_errors()) == {"bad", "absent"}
    renderer.update_frames(Frame(solid(77), 0.0, 40), Frame(solid(77), 0.0, 41))
    renderer.draw(0.0, 1.0, {})
    assert abs(renderer.read_pixels().mean() - 77) < 2


def test_transition_crossfades_from_previous_picture(renderer):
    renderer.set_shaders([])
    renderer.update_frames(Frame(solid(200), 0.0, 50), Frame(solid(200), 0.0, 51))
    renderer.draw(0.0, 1.0, {})
    renderer.start_transition(now=10.0, seconds=2.0)
    renderer.update_frames(Frame(solid(0), 0.0, 52), Frame(solid(0), 0.0, 53))
    renderer.draw(11.0, 1.0, {})
    assert abs(renderer.read_pixels().mean() - 100) < 3
    renderer.draw(12.5, 1.0, {})
    assert renderer.read_pixels().mean() < 2


def test_error_line_formats():
    mesa = "0:12(5): error: `foo' undeclared\n"
    nvidia = "0(7) : error C1008: undefined variable \"foo\"\n"
    assert shader_error_line(mesa) == "line 12: `foo' undeclared"
    assert shader_error_line(nvidia).startswith("line 7:")


def test_newer_frame_becoming_older_keeps_its_picture(renderer):
    renderer.set_shaders([])
    a, b, c = Frame(solid(0), 0.0, 60), Frame(solid(100), 1.0, 61), Frame(solid(200), 2.0, 62)
    renderer.update_frames(a, b)
    renderer.update_frames(b, c)  # b moves to the older slot without a second upload
    renderer.draw(100.0, 0.0, {})
    assert abs(renderer.read_pixels().mean() - 100) < 3
    renderer.draw(100.0, 1.0, {})
    assert abs(renderer.read_pixels().mean() - 200) < 3


def test_only_declared_params_in_range_are_kept(renderer, tmp_path, caplog):
    from live.errors import UserError

    (tmp_path / "mine.glsl").write_text(GOOD)
    renderer.shader_dir = tmp_path
    renderer.set_shaders(["mine"], {"u_gain": 0.5, "u_preset_only": 0.5})  # undeclared: logged, not kept
    assert any("u_preset_only" in r.getMessage() and "not declared" in r.getMessage() for r in caplog.records)
    assert set(renderer.settable_params()) == {"u_gain"}
    assert renderer.settable_params()["u_gain"].range == "0..2"
    renderer.set_param("u_gain", 0.25)
    for name in ("u_new", "u_image", "u_frame_mix", "u_preset_only"):  # unknown; a sampler; the composite's own
        with pytest.raises(UserError, match="not declared by the current shaders"):
            renderer.set_param(name, 0.5)
    for value in (-0.1, 2.5, float("nan"), float("inf")):
        with pytest.raises(UserError, match=r"out of range 0\.\.2"):
            renderer.set_param("u_gain", value)
    assert renderer._params == {"u_gain": 0.25}


def test_a_flood_of_new_names_leaves_the_per_frame_work_unchanged(renderer, tmp_path):
    import time

    from live.errors import UserError

    (tmp_path / "mine.glsl").write_text(GOOD)
    renderer.shader_dir = tmp_path
    renderer.set_shaders(["mine", "mine", "mine"])
    renderer.update_frames(Frame(solid(100), 0.0, 50), Frame(solid(100), 0.0, 51))

    def draw_time() -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(10):
                renderer.draw(0.0, 1.0, {"u_time": 1.0})
            renderer.read_pixels()  # wait for GL to finish
            best = min(best, time.perf_counter() - start)
        return best

    before = draw_time()
    for i in range(5000):
        with pytest.raises(UserError):
            renderer.set_param(f"u_flood{i}", 0.5)
    assert renderer._params == {}
    assert draw_time() < 2.0 * before + 0.005  # the same work (timing noise allowed), not 5000 more names


def test_switching_shader_chains_back_and_forth_compiles_each_shader_once(caplog):
    """A preset switch reuses the programs compiled before; a long show of switches must not
    compile (and keep) a new GL program per switch."""
    r = Renderer(32, 32, headless=True)
    try:
        with caplog.at_level("INFO", logger="live.visuals.renderer"):
            for _ in range(10):
                for chain in (["pulse"], ["rgbshift", "kaleido"], ["pulse", "rgbshift"]):
                    r.set_shaders(chain)
                    r.draw(0.0, 1.0, {"u_pulse": 0.5})
        compiled = [rec for rec in caplog.records if rec.getMessage().endswith(" compiled")]
        assert len(compiled) == 3, [rec.getMessage() for rec in compiled]
        assert len(r._quads) <= 2 + 3  # composite, passthrough and one quad per post shader
    finally:
        r.close()


def test_a_shader_recompiled_after_an_edit_frees_the_old_program(tmp_path):
    (tmp_path / "gain.glsl").write_text(GOOD)
    r = Renderer(32, 32, headless=True, shader_dir=tmp_path)
    try:
        r.set_shaders(["gain"])
        r.draw(0.0, 1.0, {})
        quads = len(r._quads)
        for k in range(5):  # each edit is a new mtime, so a recompile
            (tmp_path / "gain.glsl").write_text(GOOD.replace("1.0;", f"1.{k};", 1))
            os.utime(tmp_path / "gain.glsl", (k + 10.0, k + 10.0))
            r.poll_shaders(force=True)
            r.draw(0.0, 1.0, {})
        assert len(r._quads) == quads
    finally:
        r.close()


def test_a_controller_cannot_freeze_the_uniforms_the_show_drives(renderer):
    from live.errors import UserError

    renderer.set_shaders(["pulse"])
    renderer.draw(0.0, 1.0, {"u_pulse": 0.7, "u_time": 1.0})
    assert "u_pulse" not in renderer.settable_params()
    with pytest.raises(UserError, match="drives each frame"):
        renderer.set_param("u_pulse", 0.0)
