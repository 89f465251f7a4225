"""precompute on a tiny random Stable Diffusion model loaded by the real diffusers code.

The model folder is built once per session (tests/tiny_models.py) and loaded through
AutoPipelineForText2Image.from_pretrained exactly as a user's model would be.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import tiny_sd_path, tiny_sdxl_path, tiny_vae

import live.cli.precompute as pc_cli
import live.library.precompute as pc
from live.errors import UserError
from live.library.bank import PresetBank
from live.library.keyframes import load_keyframe_file, load_preset_keyframes, save_preset_keyframes
from live.library.presets import load_preset

SIZE = 256  # the smallest size presets allow: 32x32 latents keep the tiny UNet quick


@pytest.fixture()
def model() -> Path:
    return tiny_sd_path()


def write_preset(root: Path, name: str, model: str | Path, prompts=("red cat", "blue dog"), seeds=(1, 2),
                 extra: str = "", size: tuple[int, int] = (SIZE, SIZE)) -> Path:
    presets = root / "presets"
    presets.mkdir(parents=True, exist_ok=True)
    path = presets / f"{name}.toml"
    prompt_list = ", ".join(f'"{p}"' for p in prompts)
    path.write_text(f'[generation]\nmodel = "{model}"\nwidth = {size[0]}\nheight = {size[1]}\n'
                    f"prompts = [{prompt_list}]\nseeds = {list(seeds)}\nsteps = 1\n{extra}")
    return path


def args_for(root: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    pc_cli.configure(parser)
    return parser.parse_args([*argv, "--presets-dir", str(root / "presets"), "--keyframes-dir", str(root / "kf"),
                              "--device", "cpu", "--quiet"])


def options_for(root: Path, *argv: str) -> pc.PrecomputeOptions:
    return pc_cli.options_from(args_for(root, *argv))


def test_writes_keyframes_with_metadata_then_skips(tmp_path, model):
    write_preset(tmp_path, "cats", model)
    [result] = pc.precompute(options_for(tmp_path, "cats", "--batch-size", "3"))
    assert result.action == "written" and result.generated == 4 and result.resumed == 0
    preset = load_preset(tmp_path / "presets" / "cats.toml")
    kset = load_preset_keyframes(preset, tmp_path / "kf")
    assert kset.latents.shape == (4, 4, SIZE // 8, SIZE // 8) and kset.latents.dtype == torch.float32
    m = kset.meta
    assert m["family"] == "sd1" and m["scaled"] is True and m["scaling_factor"] == pytest.approx(0.18215)
    assert m["model"] == str(model) and m["model_revision"].startswith("folder-sha256:")
    assert m["pipeline"] == "StableDiffusionPipeline" and m["source"] == "text"
    assert m["prompts"] == ["red cat", "blue dog"] and m["seeds"] == [1, 2] and m["steps"] == 1
    assert m["latent_shape"] == [4, SIZE // 8, SIZE // 8] and m["format_version"] == 1
    # every prompt x seed is its own picture
    flat = kset.latents.flatten(1)
    assert all(not torch.allclose(flat[i], flat[j]) for i in range(4) for j in range(i + 1, 4))
    # the partial files are gone once the set is complete
    assert [p.name for p in (tmp_path / "kf" / "cats").iterdir()] == ["keyframes.safetensors"]

    stamp = kset.path.stat().st_mtime_ns
    [again] = pc.precompute(options_for(tmp_path, "cats"))
    assert again.action == "skipped" and again.generated == 0
    assert kset.path.stat().st_mtime_ns == stamp

    # --force redoes it; CPU generators per seed make it reproducible whatever the batch size
    [forced] = pc.precompute(options_for(tmp_path, "cats", "--force", "--batch-size", "1"))
    assert forced.action == "written" and forced.generated == 4
    redone = load_preset_keyframes(preset, tmp_path / "kf")
    assert torch.allclose(redone.latents, kset.latents, atol=1e-4)
    assert PresetBank.load(tmp_path / "presets", tmp_path / "kf").names() == ["cats"]


def test_interrupted_run_resumes(tmp_path, model):
    write_preset(tmp_path, "cats", model, seeds=(1, 2, 3))
    batches = []

    def pull_the_plug(batch):
        batches.append(batch)
        if len(batches) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pc.precompute(options_for(tmp_path, "cats", "--batch-size", "2"), on_batch=pull_the_plug)
    folder = tmp_path / "kf" / "cats"
    assert not (folder / "keyframes.safetensors").exists()
    kept = sorted(p.name for p in next(folder.glob("partial-*")).iterdir())
    assert kept == ["k00000.safetensors", "k00001.safetensors", "k00002.safetensors", "k00003.safetensors"]

    batches.clear()
    [result] = pc.precompute(options_for(tmp_path, "cats", "--batch-size", "2"), on_batch=batches.append)
    assert result.resumed == 4 and result.generated == 2 and batches == [[4, 5]]
    resumed = load_keyframe_file(folder / "keyframes.safetensors").latents

    # identical to an uninterrupted run
    other = tmp_path / "other"
    write_preset(other, "cats", model, seeds=(1, 2, 3))
    pc.precompute(options_for(other, "cats", "--batch-size", "6"))
    assert torch.allclose(load_keyframe_file(other / "kf" / "cats" / "keyframes.safetensors").latents, resumed,
                          atol=1e-4)


def test_changed_settings_regenerate_and_drop_old_partials(tmp_path, model):
    write_preset(tmp_path, "cats", model, seeds=(1,))

    def stop(batch):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pc.precompute(options_for(tmp_path, "cats", "--batch-size", "1"), on_batch=stop)
    old_partial = next((tmp_path / "kf" / "cats").glob("partial-*"))
    write_preset(tmp_path, "cats", model, seeds=(5,))
    [result] = pc.precompute(options_for(tmp_path, "cats"))
    assert result.action == "written" and result.resumed == 0 and result.generated == 2
    assert not old_partial.exists()
    write_preset(tmp_path, "cats", model, seeds=(5,), extra="[motion]\nkick = 0.9\n")  # motion is not generation
    assert pc.precompute(options_for(tmp_path, "cats"))[0].action == "skipped"


def test_scheduler_and_model_override(tmp_path, model):
    write_preset(tmp_path, "ddim", "/not/used/because/of/--model", prompts=("x",), seeds=(3,),
                 extra='scheduler = "DDIMScheduler"\n')
    [result] = pc.precompute(options_for(tmp_path, "ddim", "--model", str(model)))
    meta = load_keyframe_file(result.path).meta
    assert meta["scheduler"] == "DDIMScheduler" and meta["model"] == str(model)


def _images(folder: Path, count: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (200 + 10 * i, 300, 3), dtype=np.uint8)).save(folder / f"cover{i}.png")
    return folder


def test_from_images_through_the_vae(tmp_path, model):
    images = _images(tmp_path / "art")
    write_preset(tmp_path, "art", model)
    [result] = pc.precompute(options_for(tmp_path, "art", "--from-images", str(images)))
    kset = load_keyframe_file(result.path)
    assert kset.latents.shape == (3, 4, SIZE // 8, SIZE // 8)
    assert kset.meta["encoder"] == "vae" and kset.meta["source"] == "images"
    assert kset.meta["images"] == ["cover0.png", "cover1.png", "cover2.png"]
    # the same numbers as encoding those images with the model's own VAE
    from diffusers import AutoencoderKL

    from live.library.images import image_files, load_images

    vae = AutoencoderKL.from_pretrained(model, subfolder="vae")
    expected, scaling = pc.encode_images_with_vae(vae, load_images(image_files(images), SIZE, SIZE))
    assert scaling == pytest.approx(0.18215) and torch.allclose(kset.latents, expected, atol=1e-5)
    assert pc.precompute(options_for(tmp_path, "art", "--from-images", str(images)))[0].action == "skipped"
    _images(images, 4)  # a new cover: the cache key changes
    assert pc.precompute(options_for(tmp_path, "art", "--from-images", str(images)))[0].count == 4


def test_from_images_without_a_model_keeps_the_pictures(tmp_path):
    images = _images(tmp_path / "art", 2)
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "cover.toml").write_text(f'[generation]\nmodel = "approx"\nwidth = 256\nheight = 256\n'
                                        f'images = "{images}"\n')
    [result] = pc.precompute(options_for(tmp_path, "cover", "--preview"))
    kset = load_keyframe_file(result.path)
    assert kset.meta["encoder"] == "pixels" and kset.kind == "pixels" and kset.latents.shape == (2, 3, 256, 256)
    assert (tmp_path / "kf" / "cover" / "preview.png").is_file()
    assert pc.precompute(options_for(tmp_path, "cover"))[0].action == "skipped"



def test_a_vae_flag_is_checked_even_where_no_model_uses_it(tmp_path, caplog):
    images = _images(tmp_path / "art", 2)
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "cover.toml").write_text(f'[generation]\nmodel = "approx"\nwidth = 256\nheight = 256\n'
                                        f'images = "{images}"\n')
    with pytest.raises(UserError, match=r"VAE folder .*nope does not exist.*config\.json.*--vae"):
        pc.precompute(options_for(tmp_path, "cover", "--vae", str(tmp_path / "nope")))
    vae = tmp_path / "vae"
    tiny_vae().save_pretrained(vae)
    assert pc.precompute(options_for(tmp_path, "cover", "--vae", str(vae)))[0].action == "written"
    assert "--vae is not used" in caplog.text


def test_returns_results_and_prints_nothing(tmp_path, model, capsys):
    write_preset(tmp_path, "cats", model)
    reported = []
    [result] = pc.precompute(options_for(tmp_path, "cats", "--preview"), on_result=reported.append)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""  # the library reports nothing itself
    assert reported == [result] and result.action == "written" and result.generated == 4
    assert result.preview == tmp_path / "kf" / "cats" / "preview.png" and result.preview.is_file()
    [again] = pc.precompute(options_for(tmp_path, "cats"))
    assert again.action == "skipped" and again.preview is None and capsys.readouterr().out == ""


def test_cli_prints_the_report_and_preview_lines(tmp_path, model, capsys):
    write_preset(tmp_path, "cats", model)
    assert pc_cli.run(args_for(tmp_path, "cats", "--preview")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("cats: wrote 4 keyframes to ") and "keyframes/s" in lines[0]
    assert lines[1] == f"cats: preview {tmp_path / 'kf' / 'cats' / 'preview.png'}"
    assert pc_cli.run(args_for(tmp_path, "cats")) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("cats: up to date, 4 keyframes in ") and line.endswith("(use --force to redo)")


def test_options_take_plain_values_and_check_the_batch_size():
    options = pc.PrecomputeOptions(presets=["a", "b"], batch_size=2)
    assert options.presets == ("a", "b") and options.progress and options.presets_dir is None
    for bad in (0, 65):
        with pytest.raises(UserError, match=f"--batch-size {bad} is out of range; use 1..64"):
            pc.PrecomputeOptions(presets=("a",), batch_size=bad)


def test_repo_presets_found_from_another_working_folder(tmp_path, monkeypatch):
    """With no folder flags, precompute finds the repository's presets wherever it runs from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIVE_KEYFRAMES_DIR", str(tmp_path / "kf"))  # never write into the repo's keyframes
    monkeypatch.delenv("LIVE_PRESETS_DIR", raising=False)
    [result] = pc.precompute(pc.PrecomputeOptions(presets=("demo",), progress=False))
    assert result.action == "written" and result.path.is_relative_to(tmp_path / "kf")
    assert load_keyframe_file(result.path).meta["encoder"] == "pixels"


def test_presets_folder_from_environment_and_flag(tmp_path, monkeypatch, capsys):
    from live.cli import main

    images = _images(tmp_path / "art", 2)
    for folder, name in (("env-presets", "cover"), ("flag-presets", "flagged")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.toml").write_text(f'[generation]\nmodel = "approx"\nwidth = 256\n'
                                                        f'height = 256\nimages = "{images}"\n')
    monkeypatch.chdir(tmp_path / "art")
    monkeypatch.setenv("LIVE_PRESETS_DIR", str(tmp_path / "env-presets"))
    monkeypatch.setenv("LIVE_KEYFRAMES_DIR", str(tmp_path / "env-kf"))
    assert main(["precompute", "cover", "--quiet"]) == 0
    assert (tmp_path / "env-kf" / "cover").is_dir()
    assert "cover: wrote 2 keyframes to " in capsys.readouterr().out
    # the flags win over the environment
    assert main(["precompute", "flagged", "--quiet", "--presets-dir", str(tmp_path / "flag-presets"),
                 "--keyframes-dir", str(tmp_path / "flag-kf")]) == 0
    assert (tmp_path / "flag-kf" / "flagged").is_dir() and not (tmp_path / "env-kf" / "flagged").exists()
    capsys.readouterr()
    assert main(["precompute", "flagged", "--quiet"]) == 2
    assert f"unknown preset 'flagged' (no {tmp_path / 'env-presets' / 'flagged.toml'})" in capsys.readouterr().err


def test_preview_contact_sheet(tmp_path, model):
    write_preset(tmp_path, "cats", model)
    pc.precompute(options_for(tmp_path, "cats", "--preview"))
    sheet = Image.open(tmp_path / "kf" / "cats" / "preview.png")
    assert sheet.size == (2 * (SIZE + 4) + 4, 2 * (SIZE + 4) + 4)  # 4 keyframes in a 2x2 grid
    pixels = np.asarray(sheet)
    assert pixels[4:4 + SIZE, 4:4 + SIZE].std() > 1.0  # a decoded picture, not the background


def test_sdxl_family_and_scaling_come_from_the_model(tmp_path):
    xl = tiny_sdxl_path()
    write_preset(tmp_path, "xl", xl, prompts=("acid",), seeds=(1, 2))
    [result] = pc.precompute(options_for(tmp_path, "xl"))
    meta = load_keyframe_file(result.path).meta
    assert meta["family"] == "sdxl" and meta["scaling_factor"] == pytest.approx(0.13025)
    assert meta["pipeline"] == "StableDiffusionXLPipeline"
    # an SD 1.x decoder must refuse SDXL latents by name, not show garbage
    row = PresetBank.load(tmp_path / "presets", tmp_path / "kf", family="sd1").status()[0]
    assert not row["ok"] and "holds sdxl latents, the decoder is sd1" in row["reason"]
    assert PresetBank.load(tmp_path / "presets", tmp_path / "kf", family="sdxl", scaling_factor=0.13025).names() == ["xl"]
    # a preset that insists on sd1 for an SDXL model is refused before anything is written
    write_preset(tmp_path, "wrong", xl, prompts=("acid",), seeds=(1,), extra='family = "sd1"\n')
    _refused(args_for(tmp_path, "wrong"), "wrong.toml: generation.family = 'sd1' but model")
    assert not (tmp_path / "kf" / "wrong" / "keyframes.safetensors").exists()


def test_hub_id_from_the_local_cache(tmp_path, model, monkeypatch):
    """A hub id already in the Hugging Face cache loads offline; its revision is the snapshot commit."""
    import huggingface_hub.constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "models--djs--tiny-sd"
    shutil.copytree(model, repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_preset(tmp_path, "hub", "djs/tiny-sd", prompts=("x",), seeds=(1,))
    [result] = pc.precompute(options_for(tmp_path, "hub"))
    meta = load_keyframe_file(result.path).meta
    assert meta["model"] == "djs/tiny-sd" and meta["model_revision"] == sha


def test_a_hub_id_only_partly_in_the_cache_says_to_complete_it(tmp_path, model, monkeypatch):
    """An interrupted download: the snapshot has its configs but not the VAE weights."""
    import huggingface_hub.constants

    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "models--djs--tiny-sd"
    shutil.copytree(model, repo / "snapshots" / sha)
    (repo / "snapshots" / sha / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    write_preset(tmp_path, "hub", "djs/tiny-sd", prompts=("x",), seeds=(1,))
    with pytest.raises(pc.PrecomputeError, match=r"only partly in the Hugging Face cache.*vae has no weights.*"
                                                 r"--allow-download to complete it"):
        pc.precompute(options_for(tmp_path, "hub"))


def test_progress_bar_with_eta(tmp_path, model, capsys):
    write_preset(tmp_path, "cats", model, prompts=("x",), seeds=(1, 2))
    args = args_for(tmp_path, "cats", "--batch-size", "1")
    args.quiet = False
    pc_cli.run(args)
    captured = capsys.readouterr()
    assert "2/2 keyframes" in captured.err and "<00:00" in captured.err  # elapsed<remaining
    assert "cats: wrote 2 keyframes" in captured.out and "keyframes/s" in captured.out


def test_cli_exit_code_and_one_line(tmp_path, capsys):
    from live.cli import main

    write_preset(tmp_path, "p", tmp_path / "no-such-model")
    code = main(["precompute", "p", "--presets-dir", str(tmp_path / "presets"), "--keyframes-dir",
                 str(tmp_path / "kf")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: model folder ") and "does not exist" in err[0]


# ------------------------------------------------------------------ bad input

@pytest.fixture()
def guarded(tmp_path):
    """A keyframes folder that already holds a good set; every bad-input test checks it is untouched."""
    keep = write_preset(tmp_path, "keep", "/models/x")
    preset = load_preset(keep)
    save_preset_keyframes(preset, torch.randn(4, 4, 32, 32), tmp_path / "kf", {})
    before = {p: p.read_bytes() for p in (tmp_path / "kf").rglob("*") if p.is_file()}
    yield tmp_path
    after = {p: p.read_bytes() for p in (tmp_path / "kf").rglob("*") if p.is_file()}
    assert after == before, "bad input changed keyframes/"


def _refused(args: argparse.Namespace, expected: str) -> str:
    with pytest.raises(UserError) as info:
        pc_cli.run(args)
    msg = str(info.value)
    assert info.value.exit_code == 2 and "\n" not in msg
    assert expected in msg, msg
    return msg


def test_missing_model_folder(guarded):
    write_preset(guarded, "p", guarded / "models" / "sd-turbo")
    _refused(args_for(guarded, "p"), f"model folder {guarded / 'models' / 'sd-turbo'} does not exist")


def test_folder_that_is_not_a_diffusers_model(guarded):
    folder = guarded / "downloads"
    folder.mkdir()
    (folder / "model.ckpt").write_bytes(b"\0" * 64)
    write_preset(guarded, "p", folder)
    _refused(args_for(guarded, "p"), "is not a diffusers model (no model_index.json)")
    write_preset(guarded, "p", folder / "model.ckpt")
    _refused(args_for(guarded, "p"), "model.ckpt is a file, not a diffusers model folder")


@pytest.mark.parametrize("part,expected", [
    ("single file", r"single-file checkpoint \(v1-5-pruned-emaonly\.safetensors\).*from_single_file"),
    ("vae", "is a VAE folder \\(AutoencoderKL\\): give it as --vae"),
    ("unet", "UNet2DConditionModel in config.json.*use the folder above it"),
])
def test_a_folder_that_is_not_a_pipeline_says_what_it_holds(guarded, model, part, expected):
    if part == "single file":
        folder = guarded / "downloads"
        folder.mkdir()
        shutil.copy(model / "unet" / "diffusion_pytorch_model.safetensors", folder / "v1-5-pruned-emaonly.safetensors")
    else:
        folder = model / part
    write_preset(guarded, "p", folder)
    with pytest.raises(UserError, match=expected):
        pc_cli.run(args_for(guarded, "p"))


def test_broken_model_folder(guarded, model):
    broken = guarded / "broken"
    shutil.copytree(model, broken)
    shutil.rmtree(broken / "unet")
    write_preset(guarded, "p", broken)
    _refused(args_for(guarded, "p"), f"{broken / 'unet'} is missing; copy the model folder again")


@pytest.mark.parametrize("how,expected", [
    ("missing", "vae has no weights file"),
    ("cut short", "vae/diffusion_pytorch_model.safetensors is cut short"),
    ("garbage", "vae/diffusion_pytorch_model.safetensors is not a safetensors file"),
    ("config", "vae/config.json is not valid JSON"),
    ("index", "model_index.json is not valid JSON"),
])
def test_damaged_model_copies_are_one_line_naming_the_file(guarded, model, capfd, how, expected):
    """A copy that lost or cut short a weights file, or whose JSON is not JSON, is refused while
    planning (before any pipeline loads), naming the file and the fix; diffusers prints nothing."""
    broken = guarded / "my models" / "sd 1.5"
    shutil.copytree(model, broken)
    weights = broken / "vae" / "diffusion_pytorch_model.safetensors"
    if how == "missing":
        weights.unlink()
    elif how == "cut short":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif how == "garbage":
        weights.write_bytes(b"<html>404</html>" * 10)
    elif how == "config":
        (broken / "vae" / "config.json").write_text("{oops")
    else:
        (broken / "model_index.json").write_text("")
    write_preset(guarded, "p", broken)
    msg = _refused(args_for(guarded, "p"), expected)
    assert "copy the model folder again" in msg
    assert capfd.readouterr().err == ""


def test_a_copy_without_its_safety_checker_folder_still_loads(tmp_path, model):
    """SD 1.5 copies list a safety_checker people delete (1.2 GB); precompute never loads it."""
    import json

    copy = tmp_path / "sd15 no checker"
    shutil.copytree(model, copy)
    index = json.loads((copy / "model_index.json").read_text())
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    (copy / "model_index.json").write_text(json.dumps(index))
    write_preset(tmp_path, "p", copy, prompts=("red",), seeds=(1,))
    assert pc.precompute(options_for(tmp_path, "p"))[0].action == "written"


def test_another_models_unet_file_is_refused_naming_it(guarded, model):
    """SDXL's UNet weights copied into an SD 1.5 folder: one line naming the file and a tensor whose
    shape differs, before any pipeline loads (diffusers said only "Error(s) in loading state_dict")."""
    broken = guarded / "mixed"
    shutil.copytree(model, broken)
    shutil.copy(tiny_sdxl_path() / "unet" / "diffusion_pytorch_model.safetensors",
                broken / "unet" / "diffusion_pytorch_model.safetensors")
    write_preset(guarded, "p", broken)
    msg = _refused(args_for(guarded, "p"), f"{broken / 'unet' / 'diffusion_pytorch_model.safetensors'} does not fit "
                                           f"its config.json")
    assert "other shapes" in msg and "copy the model folder again" in msg


def test_vae_flag_takes_a_model_folder_and_refuses_taesd_and_other_families(tmp_path, model):
    from diffusers import AutoencoderTiny

    write_preset(tmp_path, "p", model, prompts=("red",), seeds=(1,))
    [result] = pc.precompute(options_for(tmp_path, "p", "--vae", str(model)))  # its vae/ is meant
    assert result.action == "written"
    AutoencoderTiny(encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4).save_pretrained(
        tmp_path / "taesd")
    with pytest.raises(pc.PrecomputeError, match="AutoencoderTiny, not the AutoencoderKL.*--decoder tiny"):
        pc.precompute(options_for(tmp_path, "p", "--vae", str(tmp_path / "taesd"), "--force"))
    with pytest.raises(pc.PrecomputeError, match="scaling_factor 0.13025 but model .* is sd1"):
        pc.precompute(options_for(tmp_path, "p", "--vae", str(tiny_sdxl_path() / "vae"), "--force"))
    assert load_keyframe_file(result.path).meta["scaling_factor"] == pytest.approx(0.18215)


def test_hub_model_needs_download(guarded, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(guarded / "empty-hf-cache"))
    write_preset(guarded, "p", "someone/sd-turbo-mirror")
    _refused(args_for(guarded, "p"), "model 'someone/sd-turbo-mirror' is not a local folder and not in the Hugging "
                                     "Face cache; give a local folder, or run once with --allow-download")


def test_bad_presets_are_refused_before_any_work(guarded, model):
    write_preset(guarded, "ok", model)
    write_preset(guarded, "sched", model, extra='scheduler = "TurboWarpScheduler"\n')
    _refused(args_for(guarded, "ok", "sched"), "sched.toml: generation.scheduler = 'TurboWarpScheduler' is not allowed")
    assert not (guarded / "kf" / "ok").exists()  # the good one named first was not started either
    write_preset(guarded, "odd", model, size=(500, 256))
    _refused(args_for(guarded, "odd"), "odd.toml: generation.width = 500 is not allowed; allowed: 256..2048 and a "
                                       "multiple of 8")
    (guarded / "presets" / "empty.toml").write_text(f'[generation]\nmodel = "{model}"\nprompts = []\n')
    _refused(args_for(guarded, "empty"), "empty.toml: generation.prompts is empty")
    _refused(args_for(guarded, "nope"), "unknown preset 'nope'")
    _refused(args_for(guarded), "name at least one preset")


def test_bad_images_folders(guarded, model):
    write_preset(guarded, "p", model)
    empty = guarded / "empty"
    empty.mkdir()
    _refused(args_for(guarded, "p", "--from-images", str(empty)), "empty: no images in this folder")
    (empty / "broken.png").write_bytes(b"\x89PNG but not really")
    _refused(args_for(guarded, "p", "--from-images", str(empty)), "broken.png: not a readable image")
    _refused(args_for(guarded, "p", "--from-images", str(guarded / "missing")), "images folder does not exist")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_device_without_cuda(guarded, model):
    write_preset(guarded, "p", model)
    parser = argparse.ArgumentParser()
    pc_cli.configure(parser)
    args = parser.parse_args(["p", "--presets-dir", str(guarded / "presets"), "--keyframes-dir",
                              str(guarded / "kf"), "--device", "cuda"])
    _refused(args, "--device cuda: no CUDA GPU is visible to torch")


def test_folder_hash_tracks_configs_and_sizes(tmp_path, model):
    copy = tmp_path / "m"
    shutil.copytree(model, copy)
    first = pc.folder_hash(copy)
    assert pc.folder_hash(copy) == first
    cfg = copy / "scheduler" / "scheduler_config.json"
    cfg.write_text(cfg.read_text().replace('"trailing"', '"leading"'))
    assert pc.folder_hash(copy) != first


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_on_gpu(tmp_path, model):
    write_preset(tmp_path, "cats", model)
    parser = argparse.ArgumentParser()
    pc_cli.configure(parser)
    args = parser.parse_args(["cats", "--presets-dir", str(tmp_path / "presets"), "--keyframes-dir",
                              str(tmp_path / "kf"), "--device", "cuda", "--quiet"])
    [result] = pc.precompute(pc_cli.options_from(args))
    kset = load_keyframe_file(result.path)
    assert kset.meta["dtype_generated"] == "float16" and kset.latents.dtype == torch.float32
    assert torch.isfinite(kset.latents).all()


def test_keyframes_decode_with_the_shows_vae_decoder(tmp_path, model):
    """What precompute writes, the bank hands to the show's decoder, which decodes it with the model's VAE."""
    from live.visuals.decoders import make_decoder

    write_preset(tmp_path, "cats", model, prompts=("x",), seeds=(1, 2))
    pc.precompute(options_for(tmp_path, "cats"))
    decoder = make_decoder("vae", model, device="cpu")
    bank = PresetBank.load(tmp_path / "presets", tmp_path / "kf", latent_channels=decoder.latent_channels,
                           family=decoder.family, device="cpu", scaling_factor=0.18215)
    _, latents = bank.get("cats")
    frames = decoder.decode(latents)
    assert frames.shape == (2, SIZE, SIZE, 3) and frames.dtype == np.uint8
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(model, subfolder="vae")
    expected = pc.decode_for_preview(latents, "sd1", bank.keyframe_set("cats").scaling_factor, vae)
    assert np.abs(frames.astype(int) - expected.astype(int)).mean() < 2.0  # same pictures, up to rounding


def test_all_skips_unusable_presets_and_does_the_rest(tmp_path, model, capsys):
    write_preset(tmp_path, "cats", model)
    write_preset(tmp_path, "elsewhere", tmp_path / "no-such-model")
    (tmp_path / "presets" / "broken.toml").write_text("[motion]\norder = 'zigzag'\n")
    code = pc_cli.run(args_for(tmp_path, "--all"))
    err = capsys.readouterr().err
    assert code == 2
    assert "2 preset(s) could not be precomputed" in err and "broken" in err and "elsewhere" in err
    assert len(load_preset_keyframes(load_preset(tmp_path / "presets" / "cats.toml"), tmp_path / "kf").latents) == 4
    results = {r.name: r for r in pc.precompute(options_for(tmp_path, "--all"))}
    assert results["cats"].action == "skipped" and results["elsewhere"].action == "unusable"
    assert "no-such-model does not exist" in results["elsewhere"].reason and "broken.toml" in results["broken"].reason
    with pytest.raises(UserError, match="no-such-model"):  # named explicitly, it still stops at once
        pc.precompute(options_for(tmp_path, "elsewhere", "cats"))


# ------------------------------------------------------------------ stopped or out of disk half way

def _no_temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name]


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("keyframes.safetensors")}


@pytest.fixture()
def sigterm_is_default():
    import signal

    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        pytest.skip("something else handles SIGTERM in this test process")
    yield
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "precompute left its SIGTERM handler behind"


def test_sigterm_between_batches_keeps_everything_finished(tmp_path, model, sigterm_is_default):
    import os
    import signal

    write_preset(tmp_path, "done", model, prompts=("x",), seeds=(1,))
    pc.precompute(options_for(tmp_path, "done"))
    before = _snapshot(tmp_path / "kf")
    write_preset(tmp_path, "cats", model, seeds=(1, 2, 3))
    batches = []

    def terminate(batch):
        batches.append(batch)
        if len(batches) == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` or a closing terminal would

    with pytest.raises(KeyboardInterrupt):
        pc.precompute(options_for(tmp_path, "done", "cats", "--batch-size", "2"), on_batch=terminate)
    assert _snapshot(tmp_path / "kf") == before  # earlier keyframes intact, no half keyframe file
    assert not _no_temp_files(tmp_path / "kf")
    partial = next((tmp_path / "kf" / "cats").glob("partial-*"))
    assert sorted(p.name for p in partial.iterdir()) == [f"k{i:05d}.safetensors" for i in range(4)]
    [result] = pc.precompute(options_for(tmp_path, "cats", "--batch-size", "2"))
    assert result.resumed == 4 and result.generated == 2


def test_sigterm_while_the_keyframe_file_is_written(tmp_path, model, monkeypatch, sigterm_is_default):
    import os
    import signal

    import live.library.keyframes as kf

    write_preset(tmp_path, "cats", model, seeds=(1,))
    pc.precompute(options_for(tmp_path, "cats"))
    before = _snapshot(tmp_path / "kf")
    write_preset(tmp_path, "cats", model, seeds=(1, 2))  # new settings: the file is redone
    real_write = kf._write_chunk

    def terminated_mid_write(fh, chunk):
        if Path(fh.name).name.startswith(".keyframes.safetensors.tmp-"):
            real_write(fh, chunk[: len(chunk) // 2])
            os.kill(os.getpid(), signal.SIGTERM)
        real_write(fh, chunk)

    monkeypatch.setattr(kf, "_write_chunk", terminated_mid_write)
    with pytest.raises(KeyboardInterrupt):
        pc.precompute(options_for(tmp_path, "cats"))
    assert _snapshot(tmp_path / "kf") == before and not _no_temp_files(tmp_path / "kf")
    monkeypatch.setattr(kf, "_write_chunk", real_write)
    [result] = pc.precompute(options_for(tmp_path, "cats"))
    assert result.resumed == 4 and result.generated == 0 and result.count == 4  # every keyframe was kept


@pytest.mark.slow
def test_sigterm_from_outside_stops_a_real_run(tmp_path, model):
    """`kill PID` on a real precompute process: exit 130 with the resume hint, nothing half written."""
    import os
    import signal
    import subprocess
    import sys
    import time

    write_preset(tmp_path, "done", model, prompts=("x",), seeds=(1,))
    pc.precompute(options_for(tmp_path, "done"))
    before = _snapshot(tmp_path / "kf")
    write_preset(tmp_path, "cats", model, prompts=("x",), seeds=tuple(range(200)))
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, str(repo / "run_live.py"), "precompute", "done", "cats", "--batch-size",
                             "1", "--device", "cpu", "--quiet", "--presets-dir", str(tmp_path / "presets"),
                             "--keyframes-dir", str(tmp_path / "kf")], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(repo)})
    try:
        deadline = time.monotonic() + 120
        while not list((tmp_path / "kf" / "cats").glob("partial-*/k00002.safetensors")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "precompute never got going"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: every finished keyframe is kept" in out and err.strip().splitlines()[-1] == "stopped"
    assert _snapshot(tmp_path / "kf") == before and not _no_temp_files(tmp_path / "kf")
    kept = list((tmp_path / "kf" / "cats").glob("partial-*/*.safetensors"))
    assert len(kept) >= 3
    preset = load_preset(tmp_path / "presets" / "cats.toml")
    store = pc.PartialStore(preset, tmp_path / "kf", pc.text_cache_key(preset, pc.resolve_model(str(model)), None))
    assert store.dir == kept[0].parent
    assert len(store.done(200, (4, SIZE // 8, SIZE // 8))) == len(kept)  # every kept one is whole: resumable


def test_disk_full_mid_run_is_one_line_and_resumes(tmp_path, model, monkeypatch, capsys):
    import errno

    import live.library.keyframes as kf
    from live.cli import main

    write_preset(tmp_path, "done", model, prompts=("x",), seeds=(1,))
    pc.precompute(options_for(tmp_path, "done"))
    before = _snapshot(tmp_path / "kf")
    write_preset(tmp_path, "cats", model, seeds=(1, 2, 3))
    real_write = kf._write_chunk
    files = []

    def fills_up(fh, chunk):
        files.append(fh.name)
        if len(files) > 3:  # three partial keyframes fit, then the disk is full half way into a file
            real_write(fh, chunk[: len(chunk) // 3])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(fh, chunk)

    monkeypatch.setattr(kf, "_write_chunk", fills_up)
    code = main(["precompute", "done", "cats", "--batch-size", "2", "--device", "cpu", "--quiet",
                 "--presets-dir", str(tmp_path / "presets"), "--keyframes-dir", str(tmp_path / "kf")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: ") and "k00003.safetensors: disk full" in err[0] and "resume" in err[0]
    assert _snapshot(tmp_path / "kf") == before and not _no_temp_files(tmp_path / "kf")
    monkeypatch.setattr(kf, "_write_chunk", real_write)  # space freed
    [result] = pc.precompute(options_for(tmp_path, "cats", "--batch-size", "2"))
    assert result.resumed == 3 and result.generated == 3


def test_metadata_prompts_are_capped(tmp_path, model):
    long = "neon " * 200  # 1000 characters
    sections = "".join(f'[[generation.sections]]\nname = "s{i}"\nprompts = [{", ".join(chr(34) + long + str(j) + chr(34) for j in range(40))}]\n'
                       for i in range(8))
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "long.toml").write_text(f'[generation]\nmodel = "{model}"\nwidth = {SIZE}\nheight = {SIZE}\n'
                                       f'seeds = [1]\nsteps = 1\nnegative_prompt = "{long}"\n' + sections)
    preset = load_preset(presets / "long.toml")
    assert len(preset.generation.all_prompts()) == 320
    path = save_preset_keyframes(preset, torch.randn(320, 4, SIZE // 8, SIZE // 8), tmp_path / "kf", {})
    meta = load_keyframe_file(path).meta
    assert len(meta["prompts"]) == 256 and all(len(p) <= 300 for p in meta["prompts"])
    assert meta["prompts"][0].startswith("neon neon") and meta["prompts"][0].endswith("\u2026")
    assert len(meta["negative_prompt"]) == 300 and meta["count"] == 320
    assert path.stat().st_size < 320 * 4 * (SIZE // 8) ** 2 * 4 + 120_000  # the header stays small


def test_preview_frames_are_the_pictures_of_a_pixel_preset(tmp_path):
    """Image presets keep their pictures: their preview is those pictures, not a decode of them."""
    import shutil

    from live.library.images import ensure_builtin_keyframes
    from live.library.precompute import preview_frames
    from live.library.presets import load_preset

    from live.paths import ROOT

    shutil.copy(ROOT / "presets" / "demo.toml", tmp_path / "demo.toml")
    kset = ensure_builtin_keyframes(load_preset(tmp_path / "demo.toml"), tmp_path / "kf")
    frames = preview_frames(kset)
    assert frames.dtype == np.uint8 and frames.shape == (len(kset.latents), *kset.latents.shape[2:], 3)
