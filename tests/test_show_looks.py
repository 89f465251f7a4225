"""The look library through the show: preset params, OSC and MIDI bindings checked against the
shaders' declared params (undeclared or out-of-range names refused in one line, nothing
changed), and the built-in weight-free presets loading and drawing frames that are not black."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from live.control.commands import ControlError
from live.control.midi import MidiMapping
from live.control.osc import parse_osc
from live.library.bank import open_bank
from live.library.presets import PresetError, load_preset
from live.messages import AudioState, Command
from live.show.show import Show, SyncDecode, shader_uniforms
from live.visuals.decoders import make_decoder
from live.visuals.renderer import Renderer

REPO = Path(__file__).resolve().parent.parent
BUILTIN = ("demo", "nebula", "grid", "ink")
DEMO = (REPO / "presets" / "demo.toml").read_text()  # shaders kaleido, pulse, rgbshift


def preset_with(tmp_path: Path, params: str, shaders: str = '["kaleido", "pulse", "rgbshift"]') -> Path:
    text = DEMO.replace('shaders = ["kaleido", "pulse", "rgbshift"]', f"shaders = {shaders}")
    text = text.replace("params = { u_segments = 6.0 }", f"params = {params}")
    path = tmp_path / "look.toml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------ preset loader


def test_preset_params_inside_the_declared_ranges_load(tmp_path):
    preset = load_preset(preset_with(tmp_path, "{ u_segments = 16.0, u_amount = 0.0 }"))
    assert preset.look.params == {"u_segments": 16.0, "u_amount": 0.0}


@pytest.mark.parametrize("params, message", [
    ("{ u_segments = 40.0 }", "look.params.u_segments = 40.0 is not allowed; allowed: 1..16 (kaleido.glsl: "),
    ("{ u_amount = -0.5 }", "look.params.u_amount = -0.5 is not allowed; allowed: 0..1"),
    ("{ u_decay = 0.5 }", "look.params.u_decay is not a parameter of look.shaders (kaleido, pulse, rgbshift); "
                          "declared: u_amount 0..1, u_segments 1..16"),
    ("{ u_pulse = 0.5 }", "look.params.u_pulse is set by the show each frame"),
])
def test_preset_params_are_checked_against_the_declarations(tmp_path, params, message):
    with pytest.raises(PresetError) as info:
        load_preset(preset_with(tmp_path, params))
    assert str(info.value).startswith(str(tmp_path / "look.toml")) or str(info.value).startswith("look.toml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_missing_shader_file_leaves_its_params_to_the_renderer(tmp_path):
    """`check` warns about the missing file; the preset itself still loads."""
    preset = load_preset(preset_with(tmp_path, "{ u_glow = 0.5 }", '["pulse", "glow"]'))
    assert preset.look.params == {"u_glow": 0.5}


# ------------------------------------------------------------------ OSC / commands through the show


@pytest.fixture(scope="module")
def show(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("looks")
    presets = tmp / "presets"
    presets.mkdir()
    for name in BUILTIN:
        (presets / f"{name}.toml").write_text((REPO / "presets" / f"{name}.toml").read_text())
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, tmp / "keyframes")
    renderer = Renderer(96, 64, headless=True)
    s = Show(bank, SyncDecode(decoder), renderer, preset="demo")
    yield s
    renderer.close()


def state(t: float) -> AudioState:
    chroma = tuple(float(k in (0, 4, 7)) for k in range(12))
    return AudioState(time=t, bpm=120.0, beat_index=int(t * 2), beat_phase=(t * 2) % 1.0, downbeat=int(t * 2) % 4,
                      onset_env=0.5, low=0.6, mid=0.4, high=0.3, level=0.7, chroma=chroma)


@pytest.mark.parametrize("address, args, why", [
    ("/shader/u_decay", (0.5,), "not declared by the current shaders (kaleido, pulse, rgbshift)"),
    ("/shader/u_segments", (40.0,), "out of range 1..16"),
    ("/param/look.params.u_amount", (2.0,), "out of range 0..1"),
    ("/param", ("look.params.u_nope", 0.5), "not declared by the current shaders"),
])
def test_osc_to_undeclared_or_out_of_range_params_is_refused_and_changes_nothing(show, caplog, address, args, why):
    show.switch_preset("demo")
    before = dict(show.renderer._params)
    show._refusals.clear()
    caplog.clear()
    show.commands.put(parse_osc(address, args))
    show.tick(1.0, state(1.0))
    assert show.renderer._params == before
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and why in refused[0] and "\n" not in refused[0], refused


@pytest.mark.parametrize("address, args", [("/shader/u_pulse", (0.0,)), ("/shader/u_chroma", (1.0,))])
def test_per_frame_uniforms_cannot_be_set_over_osc(address, args):
    with pytest.raises(ControlError, match="driven by the show each frame"):
        parse_osc(address, args)


def test_per_frame_uniforms_cannot_be_set_as_look_params(show, caplog):
    show._refusals.clear()
    caplog.clear()
    show.commands.put(parse_osc("/param/look.params.u_time", (3.0,)))
    show.tick(1.2, state(1.2))
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "u_time is driven by the show each frame" in refused[0]
    assert "u_time" not in show.renderer._params


def test_osc_sets_a_declared_param_in_range(show):
    show.switch_preset("demo")
    show.commands.put(parse_osc("/shader/u_segments", (12.0,)))
    show.commands.put(Command("param", ("look.params.u_amount", 0.5), source="osc"))
    show.tick(1.5, state(1.5))
    assert show.renderer._params == {"u_segments": 12.0, "u_amount": 0.5}


def test_show_passes_the_chroma_to_the_shaders():
    s = state(0.0)
    uniforms = shader_uniforms(s, 0.0)
    assert uniforms["u_chroma"] == s.chroma and len(uniforms["u_chroma"]) == 12


# ------------------------------------------------------------------ MIDI mappings


def midi_map(tmp_path: Path, bind: str) -> Path:
    path = tmp_path / "map.toml"
    path.write_text("[[bind]]\ncc = 48\ncommand = \"shader_param\"\n" + bind)
    return path


def test_midi_shader_bindings_are_checked_against_the_declarations(tmp_path):
    shaders = REPO / "shaders"
    for bind, why in (('name = "u_nope"\n', "u_nope is not a parameter of any shader"),
                      ('name = "u_segments"\nmin = 0.0\nmax = 12.0\n', "min = 0.0 is outside u_segments's range 1..16"),
                      ('name = "u_amount"\nvalue = 3\n', "value = 3 is outside u_amount's range 0..1")):
        with pytest.raises(ControlError, match=why) as info:
            MidiMapping.load(midi_map(tmp_path, bind), shaders)
        assert "[[bind]] #1 (cc 48 -> shader_param" in str(info.value)
    with pytest.raises(ControlError, match="driven by the show each frame"):
        MidiMapping.load(midi_map(tmp_path, 'name = "u_bpm"\n'))


def test_a_midi_fader_with_no_range_sweeps_the_declared_range(tmp_path):
    import mido

    mapping = MidiMapping.load(midi_map(tmp_path, 'name = "u_segments"\n'), REPO / "shaders")
    top = mapping.to_command(mido.Message("control_change", control=48, value=127))
    bottom = mapping.to_command(mido.Message("control_change", control=48, value=0))
    assert top.args == ("u_segments", 16.0) and bottom.args == ("u_segments", 1.0)


def test_the_shipped_midi_mapping_fits_the_shipped_shaders():
    MidiMapping.load(REPO / "mappings" / "generic.toml", REPO / "shaders")


# ------------------------------------------------------------------ built-in presets


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_presets_load_and_draw_frames_that_are_not_black(show, name):
    preset, latents = show.bank.get(name)
    assert preset.generation.model == "approx" and preset.generation.images == f"builtin:{name}"
    assert latents.shape[0] >= 6
    show.commands.put(Command("preset", (name,)))
    means = []
    for i in range(8):
        t = 10.0 + 0.25 * i
        show.tick(t, state(t))
        assert show.preset_name == name and show.renderer.shader_errors() == {}
        means.append(show.renderer.read_pixels().mean())
    # Dark-room pictures (thin bright lines on black) have low means; black would be ~0.
    assert min(means[2:]) > 3, means  # after the crossfade from the last preset


def test_builtin_presets_differ_in_look_and_tags():
    presets = [load_preset(REPO / "presets" / f"{n}.toml") for n in BUILTIN]
    assert len({tuple(p.look.shaders) for p in presets}) == len(presets)
    assert {p.tags.energy for p in presets} == {"low", "mid", "high"}
    assert len({p.generation.images for p in presets}) == len(presets)


def test_builtin_image_sets_differ_in_colour():
    from live.library.demo import BUILTIN_SETS, builtin_images

    def lit_colour(pixels: np.ndarray) -> np.ndarray:
        """Mean colour of the lit pixels, brightness taken out: the sets are lines on black."""
        lit = pixels[pixels.max(axis=1) > 40].astype(np.float32)
        return (lit / lit.max(axis=1, keepdims=True)).mean(axis=0) * 255.0

    means = {n: lit_colour(builtin_images(f"builtin:{n}", 128, 72, 4).reshape(-1, 3)) for n in BUILTIN_SETS}
    names = list(means)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(means[a] - means[b]).max() > 15, (a, b, means[a], means[b])
    with pytest.raises(ValueError, match="unknown built-in image set"):
        builtin_images("builtin:nope", 8, 8, 1)


def test_an_unknown_builtin_set_is_a_preset_error(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(DEMO.replace('images = "builtin:demo"', 'images = "builtin:nope"'))
    with pytest.raises(PresetError, match='generation.images = .builtin:nope. is not allowed; no such built-in '
                                          'image set; choose builtin:demo, builtin:nebula, builtin:grid, builtin:ink'):
        load_preset(path)


def test_the_bank_checks_preset_params_against_the_shaders_folder_it_is_given(tmp_path):
    shaders, presets = tmp_path / "shaders", tmp_path / "presets"
    shaders.mkdir()
    presets.mkdir()
    (shaders / "mine.glsl").write_text("#version 330 core\nin vec2 v_uv; out vec4 f_color; uniform sampler2D u_image;\n"
                                       "uniform float u_glow = 0.5; // @param 0..1 glow\n"
                                       "void main() { f_color = texture(u_image, v_uv) * u_glow; }\n")
    text = DEMO.replace('shaders = ["kaleido", "pulse", "rgbshift"]', 'shaders = ["mine"]')
    (presets / "good.toml").write_text(text.replace("params = { u_segments = 6.0 }", "params = { u_glow = 0.75 }"))
    (presets / "bad.toml").write_text(text.replace("params = { u_segments = 6.0 }", "params = { u_glow = 2.0 }"))
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, tmp_path / "kf", shaders)
    status = {row["name"]: row for row in bank.status()}
    assert status["good"]["ok"]
    assert not status["bad"]["ok"] and "look.params.u_glow = 2.0 is not allowed; allowed: 0..1 (mine.glsl: glow)" \
        in status["bad"]["reason"]
