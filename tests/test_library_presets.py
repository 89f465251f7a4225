"""Preset schema: the shipped presets load, and every bad value is named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from live.errors import UserError
from live.library.presets import Preset, PresetError, find_preset, load_preset, load_presets

REPO = Path(__file__).resolve().parent.parent
GOOD = """
[generation]
model = "/models/sd-turbo"
width = 768
height = 432
prompts = ["neon tunnel, volumetric light", "chrome jellyfish swarm"]
seeds = [7, 8]
steps = 2
"""


def write(tmp_path: Path, text: str, name: str = "p") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def test_shipped_presets_all_load():
    good, bad = load_presets(REPO / "presets")
    assert not bad, bad
    assert "demo" in good
    # the examples a VJ would start from, besides the demo
    assert len([n for n in good if n != "demo"]) >= 3
    for preset in good.values():
        assert preset.name == preset.path.stem
        assert preset.generation.width % 8 == 0 and preset.generation.height % 8 == 0


def test_good_preset_fields_and_defaults(tmp_path):
    p = load_preset(write(tmp_path, GOOD, "tunnel"))
    assert p.name == "tunnel" and p.path == tmp_path / "tunnel.toml"
    assert p.generation.latent_shape == (4, 54, 96)  # 16:9 projector size works
    assert p.generation.all_prompts()[1] == "chrome jellyfish swarm"
    assert p.motion.order == "sequential" and p.look.shaders == ["pulse"] and p.tags.energy == "mid"
    assert not p.family_is_explicit


def test_sections_flatten_in_order(tmp_path):
    text = """
[generation]
model = "/m"
seeds = [1, 2]
[[generation.sections]]
name = "intro"
prompts = ["fog"]
[[generation.sections]]
name = "drop"
prompts = ["lasers", "strobes"]
"""
    p = load_preset(write(tmp_path, text))
    assert p.generation.all_prompts() == ["fog", "lasers", "strobes"]
    assert p.generation.section_spans() == [{"name": "intro", "start": 0, "count": 2},
                                            {"name": "drop", "start": 2, "count": 4}]


def test_settings_hash_tracks_generation_only(tmp_path):
    a = load_preset(write(tmp_path, GOOD, "a"))
    b = load_preset(write(tmp_path, GOOD + "[motion]\nkick = 0.9\n", "b"))
    c = load_preset(write(tmp_path, GOOD.replace("seeds = [7, 8]", "seeds = [7, 9]"), "c"))
    assert a.settings_hash() == b.settings_hash()
    assert a.settings_hash() != c.settings_hash()


G = '[generation]\nmodel = "/m"\nprompts = ["a"]\n'  # a valid [generation]; lines appended stay in it
BAD = [
    (G + '[motion]\norder = "zigzag"', "motion.order = 'zigzag' is not allowed; choose sequential, pingpong or random"),
    (G + "width = 500", "generation.width = 500 is not allowed; allowed: 256..2048 and a multiple of 8"),
    (G + "height = 4000", "generation.height = 4000 is not allowed; allowed: 256..2048"),
    ('[generation]\nmodel = "/m"\nprompts = []', "generation.prompts is empty"),
    ('[generation]\nmodel = "/m"\nprompts = ["ok", "  "]',
     "generation.prompts = ['ok', '  '] is not allowed; a prompt is blank"),
    (G + 'scheduler = "WarpDriveScheduler"',
     "generation.scheduler = 'WarpDriveScheduler' is not allowed; unknown diffusers scheduler"),
    (G + "[motion]\nbeats_per_keyframe = 100", "motion.beats_per_keyframe = 100 is not allowed; allowed: 1..64"),
    (G + "[motion]\nkick = 1.5", "motion.kick = 1.5 is not allowed; allowed: 0.0..1.0"),
    (G + "[motion]\nspeed = 2", "unknown key motion.speed; allowed in [motion]: beats_per_keyframe, order"),
    (G + "[lights]\non = true", "unknown key lights; allowed in [top level]: generation, motion, look, tags"),
    (G + '[look]\ntransition = "slide"', "look.transition = 'slide' is not allowed; choose crossfade, black, wipe or cut"),
    (G + '[look]\ntransition_quantize = "2bars"', "look.transition_quantize = '2bars' is not allowed; choose none, beat, bar or phrase"),
    (G + '[look]\nparams = { glow = "lots" }', "look.params.glow = 'lots' is not allowed"),
    (G + '[look]\nshaders = ["pulse.glsl"]', "write the file stem of shaders/NAME.glsl"),
    (G + '[tags]\nenergy = "extreme"', "tags.energy = 'extreme' is not allowed; choose low, mid or high"),
    (G + "seeds = [-3]", "seed -3 is out of range"),
    (G + "seeds = []", "generation.seeds has 0 entries"),
    (G + "steps = 0", "generation.steps = 0 is not allowed; allowed: 1..150"),
    (G + 'family = "sd3"', "generation.family = 'sd3' is not allowed; choose sd1 or sdxl"),
    ('[generation]\nmodel = "approx"', 'model = "approx" has no text-to-image; set generation.images'),
    (G + '[[generation.sections]]\nname = "a"\nprompts = ["x"]',
     "generation.prompts and generation.sections are both set"),
    ("[generation\nwidth = 512", "not valid TOML"),
]


@pytest.mark.parametrize("text, expected", BAD, ids=[b[1][:40] for b in BAD])
def test_bad_value_names_file_key_and_allowed(tmp_path, text, expected):
    path = write(tmp_path, text, "bad")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(str(path)), msg  # the file first, as the user would open it
    assert expected in msg, msg
    assert isinstance(info.value, UserError) and info.value.exit_code == 2


def test_missing_file_and_bad_name(tmp_path):
    with pytest.raises(PresetError, match="no such preset file"):
        load_preset(tmp_path / "nothing.toml")
    with pytest.raises(PresetError, match="preset name"):
        load_preset(write(tmp_path, GOOD, "bad name"))


def test_load_presets_keeps_good_and_names_bad(tmp_path):
    write(tmp_path, GOOD, "good")
    write(tmp_path, G + '[motion]\norder = "zigzag"', "broken")
    good, bad = load_presets(tmp_path)
    assert list(good) == ["good"]
    assert "motion.order" in bad["broken"] and "broken.toml" in bad["broken"]
    with pytest.raises(PresetError, match="presets folder does not exist"):
        load_presets(tmp_path / "nope")


def test_find_preset_lists_available(tmp_path):
    write(tmp_path, GOOD, "good")
    assert find_preset("good", tmp_path).name == "good"
    with pytest.raises(PresetError, match="unknown preset 'nope'.*available: good"):
        find_preset("nope", tmp_path)


def test_preset_is_immutable(tmp_path):
    p = load_preset(write(tmp_path, GOOD))
    with pytest.raises(Exception):
        p.motion.kick = 0.9  # type: ignore[misc]
    assert isinstance(p, Preset)


def test_common_schedulers_exist_in_installed_diffusers():
    import diffusers

    from live.library.presets import COMMON_SCHEDULERS, scheduler_names

    for name in COMMON_SCHEDULERS:
        assert name in scheduler_names()
        assert issubclass(getattr(diffusers, name), diffusers.SchedulerMixin)

