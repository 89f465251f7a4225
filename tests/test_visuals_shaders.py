"""Shader parameter declarations (parsed without GL) and every shipped post shader, drawn
offscreen with pixel read-back: each responds to each declared param and each per-frame
uniform it reads; feedback keeps the last frame; palette turns the chroma into colour."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from live.errors import UserError
from live.library.demo import demo_images
from live.visuals.renderer import Renderer
from live.visuals.shaders import (
    FRAME_UNIFORMS,
    ShaderDeclError,
    folder_params,
    merged,
    parse_params,
    shader_params,
)

REPO = Path(__file__).resolve().parent.parent
SHADERS = sorted(p.stem for p in (REPO / "shaders").glob("*.glsl"))
C_MAJOR = (1.0, 0.0, 0.3, 0.0, 0.8, 0.0, 0.0, 0.9, 0.0, 0.2, 0.0, 0.0)  # C, E, G (+ D, A a little)
F_SHARP = (0.0,) * 6 + (1.0,) + (0.0,) * 5
# The per-frame uniforms a test frame is drawn with, and the two values each is tried at.
BASE = {"u_time": 1.3, "u_pulse": 0.6, "u_beat_phase": 0.3, "u_bar_phase": 0.1, "u_onset": 0.5, "u_low": 0.5,
        "u_mid": 0.5, "u_high": 0.5, "u_level": 0.5, "u_bpm": 128.0, "u_chroma": C_MAJOR, "u_frame": 1 / 30}
VARY = {"u_time": (0.0, 3.7), "u_pulse": (0.0, 1.0), "u_beat_phase": (0.02, 0.55), "u_bar_phase": (0.05, 0.6),
        "u_onset": (0.0, 1.0), "u_low": (0.0, 1.0), "u_mid": (0.0, 1.0), "u_high": (0.0, 1.0),
        "u_level": (0.0, 1.0), "u_bpm": (90.0, 174.0), "u_chroma": (C_MAJOR, F_SHARP), "u_frame": (1 / 30, 1 / 120)}
# The strobe hits on one frame only: drawn on the frame of beat 3 of the bar at 240 BPM (hit
# every other beat), and varied across a hit and no hit.
BASE_FOR = {"strobe": {"u_beat_phase": 0.02, "u_bar_phase": 0.5, "u_bpm": 240.0}}
VARY_FOR = {"strobe": {"u_bar_phase": (0.0, 0.25), "u_bpm": (90.0, 1000.0)}}


@dataclass
class Frame:
    rgb: np.ndarray
    display_time: float
    seq: int


_seq = itertools.count(1000)

def _pictures() -> tuple[np.ndarray, np.ndarray]:
    """A colourful picture with sharp edges (the demo image under a checkerboard, so a shift or a
    fold shows) and, for the frame before, bright stripes (so trails show through)."""
    y, x = np.mgrid[0:48, 0:64]
    checker = ((x // 6 + y // 6) % 2)[..., None]
    picture = (demo_images(64, 48, 1)[0] * (0.45 + 0.3 * checker)).astype(np.uint8)
    stripes = np.where(((x // 3) % 2)[..., None] == 1, 250, 10).repeat(3, axis=2).astype(np.uint8)
    return picture, stripes


PICTURE, OTHER = _pictures()


@pytest.fixture(scope="module")
def renderer():
    r = Renderer(64, 48, headless=True, shader_dir=REPO / "shaders")
    yield r
    r.close()


def show(renderer: Renderer, rgb: np.ndarray) -> None:
    renderer.update_frames(Frame(rgb, 0.0, next(_seq)), Frame(rgb, 0.0, next(_seq)))


def draw(renderer: Renderer, name: str, params: dict[str, float], uniforms: dict) -> np.ndarray:
    """The picture through shader ``name``; the frame before shows another picture with every
    param at its low end (no trails), so a feedback shader starts from the same state each time."""
    declared = shader_params(REPO / "shaders" / f"{name}.glsl")
    renderer.set_shaders([name], {n: p.low for n, p in declared.items()})
    show(renderer, OTHER)
    renderer.draw(0.0, 1.0, BASE)
    renderer.set_shaders([name], params)
    show(renderer, PICTURE)
    renderer.draw(0.0, 1.0, uniforms)
    return renderer.read_pixels().astype(np.int16)


def differ(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def frame_uniforms_read(name: str) -> list[str]:
    """The per-frame uniforms shader ``name`` declares (and so reads)."""
    source = (REPO / "shaders" / f"{name}.glsl").read_text()
    found = re.findall(r"^\s*uniform\s+\w+\s+(u_\w+)", source, re.M)
    return [n for n in found if n in FRAME_UNIFORMS and n not in ("u_resolution", "u_picture")]  # set by the renderer


# ------------------------------------------------------------------ declarations, no GL


def test_a_declaration_gives_name_default_range_and_doc():
    params = parse_params("uniform float u_amount = 1.0; // @param 0..1 how strong the effect is\n"
                          "uniform float u_time;\nuniform float u_chroma[12];\n"
                          "uniform float u_depth=.25;//@param -0.5..1e0 zoom depth\n")
    assert list(params) == ["u_amount", "u_depth"]
    amount = params["u_amount"]
    assert (amount.default, amount.low, amount.high, amount.doc, amount.range) == (1.0, 0.0, 1.0,
                                                                                   "how strong the effect is", "0..1")
    assert (params["u_depth"].default, params["u_depth"].low, params["u_depth"].high) == (0.25, -0.5, 1.0)
    assert amount.check(0.5) == 0.5
    for bad in (-0.01, 1.01, float("nan")):
        with pytest.raises(UserError, match=r"out of range 0\.\.1"):
            amount.check(bad)


@pytest.mark.parametrize("line, reason", [
    ("uniform float u_x = 1.0; // @param 0-1 doc", "malformed @param declaration"),
    ("uniform float u_x; // @param 0..1 doc", "malformed @param declaration"),
    ("uniform float u_x = 1.0; // @param 0..1", "malformed @param declaration"),  # no description
    ("uniform vec2 u_x = vec2(1.0); // @param 0..1 doc", "malformed @param declaration"),
    ("uniform float u_x = 2.0; // @param 0..1 doc", "default 2.0 is outside its range 0..1"),
    ("uniform float u_x = 1.0; // @param 1..1 doc", "range 1..1 is empty"),
    ("uniform float u_pulse = 1.0; // @param 0..1 doc", "set by the show each frame"),
    ("uniform float u_x;", "u_x is not declared as a parameter"),
    ("uniform float u_time, u_x;", "u_x is not declared as a parameter"),
])
def test_a_malformed_declaration_names_file_and_line(line, reason):
    source = "#version 330 core\n// a comment\n" + line + "\n"
    with pytest.raises(ShaderDeclError, match=re.escape(reason)) as info:
        parse_params(source, "shaders/x.glsl")
    assert str(info.value).startswith("shaders/x.glsl:3: ") and info.value.line == 3


def test_a_shader_file_that_is_missing_is_one_line(tmp_path):
    from live.errors import UserError
    from live.visuals.shaders import shader_params

    with pytest.raises(UserError, match="cannot read the shader .no such file"):
        shader_params(tmp_path / "gone.glsl")


def test_a_name_declared_twice_is_refused():
    line = "uniform float u_x = 1.0; // @param 0..1 doc\n"
    with pytest.raises(ShaderDeclError, match=":2: u_x is declared twice"):
        parse_params(line + line, "x.glsl")


def test_every_shipped_shader_declares_its_params_once_with_one_range_per_name():
    per_shader = folder_params(REPO / "shaders")
    assert sorted(per_shader) == SHADERS  # every file parses
    assert len(SHADERS) >= 12
    for name in SHADERS:
        for param in shader_params(REPO / "shaders" / f"{name}.glsl").values():
            assert param.doc and param.low < param.high
    shared = merged(per_shader)  # a name shared by several shaders is one knob: one range
    for shader, params in per_shader.items():
        for name, param in params.items():
            assert (shared[name].low, shared[name].high) == (param.low, param.high), (shader, name)


def test_shader_readme_lists_every_shader():
    readme = (REPO / "shaders" / "README.md").read_text()
    for name in SHADERS:
        assert f"`{name}`" in readme, name


def test_shader_readme_rows_give_the_declared_defaults():
    """Each row of the shaders table names every parameter with the default the file declares
    (the rows said grade's contrast was 1 and feedback's decay 0.75 after the defaults changed)."""
    readme = (REPO / "shaders" / "README.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)` \|.*$", readme, re.M)}
    for name in SHADERS:
        row = rows[name]
        for pname, param in shader_params(REPO / "shaders" / f"{name}.glsl").items():
            shown = re.search(rf"`{pname}`[^(|]*\(([-\d.e]+)\)", row)
            assert shown is not None, (name, pname)
            assert float(shown.group(1)) == pytest.approx(param.default), (name, pname, shown.group(1), param.default)


# ------------------------------------------------------------------ GL, pixel read-back


def test_every_shader_compiles(renderer):
    renderer.set_shaders(SHADERS)
    assert renderer.shader_errors() == {}
    renderer.draw(0.0, 1.0, {**BASE, **BASE_FOR["strobe"]})
    assert renderer.read_pixels().max() > 0


@pytest.mark.parametrize("name", SHADERS)
def test_each_shader_responds_to_each_declared_param(renderer, name):
    declared = shader_params(REPO / "shaders" / f"{name}.glsl")
    assert declared, f"{name} has no live parameter"
    for param, p in declared.items():
        base = {**BASE, **BASE_FOR.get(name, {})}
        low = draw(renderer, name, {param: p.low}, base)
        mid = draw(renderer, name, {param: (p.low + p.high) / 2}, base)
        high = draw(renderer, name, {param: p.high}, base)
        # A hue turn of 0 and of 1 look the same: the param must change the picture somewhere in its range.
        assert max(differ(low, high), differ(low, mid)) > 0.5, f"{name}: {param} changes nothing"


@pytest.mark.parametrize("name", SHADERS)
def test_each_shader_responds_to_the_per_frame_uniforms_it_reads(renderer, name):
    reads = frame_uniforms_read(name)
    assert reads, f"{name} reads nothing from the show: it would not move with the music"
    base = {**BASE, **BASE_FOR.get(name, {})}
    for uniform in reads:
        a, b = {**VARY, **VARY_FOR.get(name, {})}[uniform]
        low = draw(renderer, name, {}, {**base, uniform: a})
        high = draw(renderer, name, {}, {**base, uniform: b})
        assert differ(low, high) > 0.5, f"{name}: {uniform} changes nothing"


def test_feedback_keeps_a_picture_in_the_next_frames(renderer):
    white, black = np.full((48, 64, 3), 230, np.uint8), np.zeros((48, 64, 3), np.uint8)
    calm = {**BASE, "u_pulse": 0.0}
    means = []
    for decay in (0.0, 0.9):
        renderer.set_shaders(["feedback"], {"u_decay": decay, "u_drift": 0.0})
        show(renderer, black)
        for _ in range(3):
            renderer.draw(0.0, 1.0, calm)  # no trails of earlier tests
        show(renderer, white)
        renderer.draw(0.0, 1.0, calm)
        show(renderer, black)
        trail = []
        for _ in range(3):
            renderer.draw(0.0, 1.0, calm)
            trail.append(renderer.read_pixels().mean())
        means.append(trail)
    assert max(means[0]) < 1.0  # no decay: the white frame is gone at once
    assert 200 < means[1][0] < 210 and means[1][0] > means[1][1] > means[1][2] > 150  # it fades over frames


def test_palette_turns_different_chroma_into_different_colours(renderer):
    grey = np.full((48, 64, 3), 128, np.uint8)
    colours = {}
    for key, chroma in {"C": (1.0,) + (0.0,) * 11, "F#": F_SHARP, "G": (0.0,) * 7 + (1.0,) + (0.0,) * 4,
                        "flat": (1.0,) * 12}.items():
        renderer.set_shaders(["palette"], {"u_amount": 1.0})
        show(renderer, grey)
        renderer.draw(0.0, 1.0, {**BASE, "u_chroma": chroma})
        colours[key] = renderer.read_pixels().reshape(-1, 3).mean(axis=0)
    assert np.abs(colours["C"] - colours["F#"]).max() > 40  # opposite on the wheel
    assert np.abs(colours["C"] - colours["G"]).max() > 10  # neighbours in fifths: near, not the same
    assert np.abs(colours["flat"] - 128).max() < 3  # no harmony: the picture keeps its colour


def test_a_shader_reading_part_of_the_chroma_array_gets_the_right_elements(tmp_path):
    """A driver may shrink an array a shader reads only in part; the renderer then sets the first
    elements with glUniform1fv (pyglet's setter wants the whole array)."""
    (tmp_path / "third.glsl").write_text(
        "#version 330 core\nin vec2 v_uv; out vec4 f_color; uniform sampler2D u_image;\n"
        "uniform float u_chroma[12];\nuniform float u_gain = 1.0; // @param 0..1 gain\n"
        "void main() { f_color = vec4(vec3(u_chroma[2]) * u_gain, 1.0); }\n")
    r = Renderer(16, 16, headless=True, shader_dir=tmp_path)
    try:
        r.set_shaders(["third"])
        for value in (0.25, 0.75):
            r.draw(0.0, 1.0, {"u_chroma": (0.0, 0.0, value) + (0.0,) * 9})
            assert abs(r.read_pixels().mean() - 255 * value) < 2
    finally:
        r.close()


def test_the_renderer_refuses_undeclared_and_out_of_range_params(renderer):
    renderer.set_shaders(["kaleido", "pulse"], {"u_segments": 8.0})
    assert renderer._params == {"u_segments": 8.0}
    for name, value, reason in (("u_decay", 0.5, r"not declared by the current shaders \(kaleido, pulse\); declared: u_amount 0\.\.1, u_segments"),
                                ("u_segments", 40.0, r"out of range 1\.\.16"),
                                ("u_amount", -1.0, r"out of range 0\.\.1"),
                                ("u_time", 1.0, "drives each frame")):
        with pytest.raises(UserError, match=reason):
            renderer.set_param(name, value)
    assert renderer._params == {"u_segments": 8.0}


def test_an_unset_param_takes_its_declared_default_after_a_preset_switch(renderer):
    """GL keeps uniform values per program: a value one preset set must not stick for the next."""
    show(renderer, PICTURE)
    renderer.set_shaders(["grade"])
    renderer.draw(0.0, 1.0, BASE)
    default = renderer.read_pixels().astype(np.int16)
    renderer.set_shaders(["grade"], {"u_saturation": 0.0})
    renderer.draw(0.0, 1.0, BASE)
    assert differ(renderer.read_pixels().astype(np.int16), default) > 2
    renderer.set_shaders(["grade"])
    renderer.draw(0.0, 1.0, BASE)
    assert differ(renderer.read_pixels().astype(np.int16), default) < 0.5


def test_a_malformed_declaration_on_disk_keeps_the_last_good_program(tmp_path, caplog):
    import os

    path = tmp_path / "gain.glsl"
    good = ("#version 330 core\nin vec2 v_uv; out vec4 f_color; uniform sampler2D u_image;\n"
            "uniform float u_gain = 0.5; // @param 0..1 gain\n"
            "void main() { f_color = vec4(texture(u_image, v_uv).rgb * u_gain, 1.0); }\n")
    path.write_text(good)
    r = Renderer(16, 16, headless=True, shader_dir=tmp_path)
    try:
        r.set_shaders(["gain"])
        show(r, np.full((16, 16, 3), 200, np.uint8))
        r.draw(0.0, 1.0, {})
        assert abs(r.read_pixels().mean() - 100) < 3
        path.write_text(good.replace("@param 0..1", "@param 0..0.25"))  # default now outside its range
        os.utime(path, (1e9, 1e9))
        r.poll_shaders(force=True)
        assert r.shader_errors() == {"gain": "line 3: u_gain: default 0.5 is outside its range 0..0.25"}
        assert any("gain.glsl:3" in rec.getMessage() for rec in caplog.records)
        r.draw(0.0, 1.0, {})
        assert abs(r.read_pixels().mean() - 100) < 3  # the last good program
        r.set_param("u_gain", 1.0)  # its declarations still hold
        r.draw(0.0, 1.0, {})
        assert abs(r.read_pixels().mean() - 200) < 3
    finally:
        r.close()
