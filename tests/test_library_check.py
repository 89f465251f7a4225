"""`check`: one line per preset with status, keyframe count and memory, as the show would load them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
import torch

import live.cli.check as check_cli
import live.library.check as check
from live.errors import UserError
from live.library.check import human_bytes
from live.library.keyframes import save_preset_keyframes
from live.library.presets import load_preset

REPO = Path(__file__).resolve().parent.parent


# The preset table only: the other probes (audio, GL, memory...) are tested in test_show_preflight.py.
PRESETS_ONLY = ("--skip", "audio,osc,midi,decoder,shaders,memory")


def run_check(capsys, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    check_cli.configure(parser)
    code = check_cli.run(parser.parse_args([*PRESETS_ONLY, *argv]))
    return code, capsys.readouterr().out


def test_table_lists_every_preset(tmp_path, capsys):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    presets.mkdir()
    (presets / "demo.toml").write_text((REPO / "presets" / "demo.toml").read_text())
    (presets / "tunnel.toml").write_text('[generation]\nmodel = "/models/sd-turbo"\nwidth = 768\nheight = 432\n'
                                         'prompts = ["a", "b"]\nseeds = [1, 2]\n[look]\nshaders = ["pulse", "nope"]\n')
    (presets / "ready.toml").write_text('[generation]\nmodel = "/models/sd-turbo"\nprompts = ["a"]\nseeds = [1, 2]\n')
    save_preset_keyframes(load_preset(presets / "ready.toml"), torch.randn(2, 4, 64, 64), kdir, {})
    (presets / "typo.toml").write_text('[generation]\nmodel = "/m"\nprompts = ["a"]\n[motion]\neasing = "bouncy"\n')

    code, out = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(kdir),
                          "--shaders-dir", str(REPO / "shaders"))
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    demo_count = len(load_preset(presets / "demo.toml").generation.seeds)
    # the demo's keyframes are its pictures (pixel keyframes, 512x288x3 bytes), not 64x64x4 latents
    assert lines["demo"].split()[1:3] == ["ok", str(demo_count)]
    assert lines["ready"].split()[1:5] == ["ok", "2", "128.0", "KiB"]
    assert "not precomputed" in lines["tunnel"] and "768x432" in lines["tunnel"]
    assert "bad preset" in lines["typo"]
    assert "typo.toml: motion.easing = 'bouncy' is not allowed" in out
    assert "warning: look.shaders names 'nope'" in out
    g = load_preset(presets / "demo.toml").generation
    total = demo_count * 3 * g.height * g.width + 2 * 4 * 64 * 64 * 4  # pictures as bytes + float32 latents
    assert f"2 of 4 presets ready, {human_bytes(total)} of keyframes" in out

    code, _ = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(kdir), "--strict")
    assert code == 1
    code, out = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(kdir), "--json")
    rows = {r["name"]: r for r in json.loads(out)["presets"]}
    assert rows["ready"]["ok"] and rows["ready"]["bytes"] == 2 * 4 * 64 * 64 * 4 and not rows["tunnel"]["ok"]


def test_pixel_presets_show_family_pixels(tmp_path, capsys):
    """Keyframes made from images with no model have no latent family: `check` says pixels, not sd1."""
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    presets.mkdir()
    (presets / "demo.toml").write_text((REPO / "presets" / "demo.toml").read_text())
    (presets / "lost.toml").write_text('[generation]\nmodel = "approx"\nimages = "no-such-folder"\n')
    (presets / "ready.toml").write_text('[generation]\nmodel = "/models/sd-turbo"\nprompts = ["a"]\nseeds = [1, 2]\n')
    save_preset_keyframes(load_preset(presets / "ready.toml"), torch.randn(2, 4, 64, 64), kdir, {})
    code, out = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(kdir))
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line and not line.startswith(" ")}
    assert lines["PRESET"][5] == "FAMILY"
    assert lines["demo"][1] == "ok" and lines["demo"][6] == "pixels" and lines["demo"][7] == "approx"
    assert lines["lost"][1] != "ok" and "pixels" in lines["lost"]  # unavailable, but it would be pictures
    assert lines["ready"][6] == "sd1"
    code, out = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(kdir), "--json")
    rows = {r["name"]: r for r in json.loads(out)["presets"]}
    assert (rows["demo"]["family"], rows["lost"]["family"], rows["ready"]["family"]) == ("pixels", "pixels", "sd1")


def test_decoder_family_mismatch_shows(tmp_path, capsys):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    presets.mkdir()
    (presets / "xl.toml").write_text('[generation]\nmodel = "/m"\nprompts = ["a"]\nseeds = [1]\n')
    save_preset_keyframes(load_preset(presets / "xl.toml"), torch.randn(1, 4, 64, 64), kdir, {"family": "sdxl"})
    _, out = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(kdir))
    assert "mismatch" in out and "holds sdxl latents, the decoder is sd1" in out
    code, out = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(kdir), "--family", "sdxl",
                          "--preset", "xl", "--strict")
    assert code == 0 and "1 of 1 presets ready" in out


def test_missing_presets_folder(tmp_path, capsys):
    with pytest.raises(UserError, match="presets folder does not exist"):
        run_check(capsys, "--presets-dir", str(tmp_path / "nope"))


def test_human_bytes():
    assert check.human_bytes(512) == "512 B"
    assert check.human_bytes(65536) == "64.0 KiB"
    assert check.human_bytes(50 * 2**20) == "50.0 MiB"


def test_warns_when_the_model_is_not_on_disk(tmp_path, capsys):
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "far.toml").write_text(f'[generation]\nmodel = "{tmp_path}/models/sd-turbo"\nprompts = ["a"]\n')
    _, out = run_check(capsys, "--presets-dir", str(presets), "--keyframes-dir", str(tmp_path / "kf"))
    assert f"warning: precompute needs it: model folder {tmp_path}/models/sd-turbo does not exist" in out
    assert " auto " in out  # family comes from the model at precompute time


def test_repo_presets_found_from_another_working_folder(tmp_path, monkeypatch, capsys):
    """With no folder flags, check reads the repository's presets and shaders wherever it runs from."""
    monkeypatch.chdir(tmp_path)
    for kind in ("PRESETS", "SHADERS"):
        monkeypatch.delenv(f"LIVE_{kind}_DIR", raising=False)
    monkeypatch.setenv("LIVE_KEYFRAMES_DIR", str(tmp_path / "kf"))  # the demo's keyframes get built here, not in the repo
    code, out = run_check(capsys, "--json")
    rows = {r["name"]: r for r in json.loads(out)["presets"]}
    assert code == 0 and set(rows) == {p.stem for p in (REPO / "presets").glob("*.toml")}
    assert rows["demo"]["ok"] and rows["demo"]["warnings"] == []  # its shaders are found in the repo's folder
    assert (tmp_path / "kf" / "demo").is_dir()


def test_folders_from_environment_and_flags(tmp_path, monkeypatch, capsys):
    presets, shaders, other = tmp_path / "presets", tmp_path / "shaders", tmp_path / "other-shaders"
    for folder in (presets, shaders, other):
        folder.mkdir()
    (presets / "mine.toml").write_text('[generation]\nmodel = "/m"\nprompts = ["a"]\n[look]\nshaders = ["glow"]\n')
    (shaders / "glow.glsl").write_text("// glow\n")
    monkeypatch.chdir(tmp_path / "other-shaders")
    monkeypatch.setenv("LIVE_PRESETS_DIR", str(presets))
    monkeypatch.setenv("LIVE_KEYFRAMES_DIR", str(tmp_path / "kf"))
    monkeypatch.setenv("LIVE_SHADERS_DIR", str(shaders))
    _, out = run_check(capsys)
    assert out.startswith("PRESET") and "mine " in out and "warning: look.shaders" not in out
    _, out = run_check(capsys, "--shaders-dir", str(other))  # the flag wins over the environment
    assert f"warning: look.shaders names 'glow' but {other / 'glow.glsl'} does not exist" in out
    monkeypatch.setenv("LIVE_PRESETS_DIR", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="missing: presets folder does not exist; pass --presets-dir or set "
                                        "LIVE_PRESETS_DIR"):
        run_check(capsys)
    code, out = run_check(capsys, "--presets-dir", str(presets), "--strict")
    assert code == 1 and "0 of 1 presets ready" in out


def test_check_loads_the_bank_as_the_show_does(tmp_path, monkeypatch):
    import live.library.bank as bank_module

    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return bank_module.open_bank(*args, **kwargs)

    monkeypatch.setattr(check, "open_bank", spy)
    (tmp_path / "presets").mkdir()
    check.check_rows(tmp_path / "presets", tmp_path / "kf", "sdxl")
    assert calls == [{"family": "sdxl", "latent_channels": 4, "device": "cpu", "presets_dir": tmp_path / "presets",
                      "keyframes_dir": tmp_path / "kf", "shaders_dir": check.paths.shaders_dir()}]
