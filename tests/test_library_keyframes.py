"""Keyframe files and the preset bank: metadata, atomic writes, and every way a file can be refused."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import live.library.bank as bank_module
import live.library.keyframes as kf
from live.errors import UserError
from live.library.bank import PresetBank
from live.library.images import ensure_builtin_keyframes
from live.library.keyframes import (
    KeyframeError,
    keyframes_path,
    load_preset_keyframes,
    read_meta,
    save_preset_keyframes,
)
from live.library.presets import load_preset

REPO = Path(__file__).resolve().parent.parent


def make_preset(folder: Path, name: str = "p", size: tuple[int, int] = (512, 512), prompts=("a", "b"),
                seeds=(1, 2), extra: str = "", model: str = "/models/x"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    path.write_text(f'[generation]\nmodel = "{model}"\nwidth = {size[0]}\nheight = {size[1]}\n'
                    f"prompts = {list(prompts)!r}\nseeds = {list(seeds)!r}\n".replace("'", '"') + extra)
    return load_preset(path)


def latents_for(preset, n=None, channels=4):
    g = preset.generation
    n = n if n is not None else len(g.all_prompts()) * len(g.seeds)
    return torch.randn(n, channels, g.height // 8, g.width // 8, generator=torch.Generator().manual_seed(0))


def test_roundtrip_and_metadata(tmp_path):
    preset = make_preset(tmp_path / "presets", size=(768, 432))
    lat = latents_for(preset)
    path = save_preset_keyframes(preset, lat, tmp_path / "kf", {"model_revision": "folder-sha256:abc"})
    assert path == tmp_path / "kf" / "p" / "keyframes.safetensors"
    kset = load_preset_keyframes(preset, tmp_path / "kf")
    assert torch.equal(kset.latents, lat) and kset.latents.dtype == torch.float32
    m = kset.meta
    assert m["format"] == "live-keyframes" and m["format_version"] == 1
    assert m["scaled"] is True and m["scaling_factor"] == pytest.approx(0.18215) and kset.scaling_factor == 0.18215
    assert m["family"] == "sd1" and m["latent_shape"] == [4, 54, 96] and m["count"] == 4
    assert m["prompts"] == ["a", "b"] and m["seeds"] == [1, 2] and m["steps"] == 2 and m["guidance"] == 0.0
    assert m["model"] == "/models/x" and m["model_revision"] == "folder-sha256:abc"
    assert m["settings_hash"] == preset.settings_hash() and m["created"] > 0
    assert "vae.decode(latents / scaling_factor)" in m["note"]
    assert kset.nbytes == 4 * 4 * 54 * 96 * 4
    # no temp files left next to it
    assert sorted(p.name for p in path.parent.iterdir()) == ["keyframes.safetensors"]


def test_sdxl_scaling_factor(tmp_path):
    preset = make_preset(tmp_path / "presets", extra="")
    save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {"family": "sdxl"})
    assert read_meta(keyframes_path(preset, tmp_path / "kf"))["scaling_factor"] == pytest.approx(0.13025)


def test_crash_during_write_keeps_the_old_file(tmp_path, monkeypatch):
    preset = make_preset(tmp_path / "presets")
    old = latents_for(preset)
    path = save_preset_keyframes(preset, old, tmp_path / "kf", {})
    before = path.read_bytes()
    written = []

    def dies_half_way(fh, chunk):
        fh.write(chunk[: len(chunk) // 2])  # half of the temp file is on disk
        written.append(fh.name)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(kf, "_write_chunk", dies_half_way)
    with pytest.raises(KeyframeError) as info:
        save_preset_keyframes(preset, old * 2, tmp_path / "kf", {})
    msg = str(info.value)
    assert "\n" not in msg and "p/keyframes.safetensors: disk full" in msg and "previous file is kept" in msg
    assert written and ".tmp-" in written[0]
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["keyframes.safetensors"]

    def interrupted(fh, chunk):
        fh.write(chunk[:10])
        raise KeyboardInterrupt  # Ctrl-C (or SIGTERM, see precompute) in the middle of the write

    monkeypatch.setattr(kf, "_write_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_preset_keyframes(preset, old * 2, tmp_path / "kf", {})
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["keyframes.safetensors"]


def test_missing_is_not_precomputed(tmp_path):
    preset = make_preset(tmp_path / "presets")
    with pytest.raises(KeyframeError, match=r"p/keyframes.safetensors: not precomputed; run `run_live.py precompute p`"):
        load_preset_keyframes(preset, tmp_path / "kf")


def test_truncated_file_is_partial(tmp_path):
    preset = make_preset(tmp_path / "presets")
    path = save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(KeyframeError, match="keyframes.safetensors: corrupt or partial keyframe file") as info:
        load_preset_keyframes(preset, tmp_path / "kf")
    assert "\n" not in str(info.value)
    path.write_bytes(b"")
    with pytest.raises(KeyframeError, match="corrupt or partial"):
        load_preset_keyframes(preset, tmp_path / "kf")


def test_flipped_bytes_fail_the_checksum(tmp_path):
    preset = make_preset(tmp_path / "presets")
    path = save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x55  # inside the tensor data, the header still parses
    path.write_bytes(bytes(data))
    with pytest.raises(KeyframeError, match="corrupt keyframe file \\(checksum mismatch\\)"):
        load_preset_keyframes(preset, tmp_path / "kf")


def test_size_mismatch_names_both_shapes(tmp_path):
    preset = make_preset(tmp_path / "presets")
    save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})
    resized = make_preset(tmp_path / "presets", size=(768, 432))
    with pytest.raises(KeyframeError, match=r"latents are 4x64x64 per keyframe but preset p \(768x432, sd1\) "
                                            r"needs 4x54x96"):
        load_preset_keyframes(resized, tmp_path / "kf")


def test_wrong_shape_refused_on_save(tmp_path):
    preset = make_preset(tmp_path / "presets")
    with pytest.raises(KeyframeError, match="needs 4x64x64"):
        save_preset_keyframes(preset, torch.randn(2, 4, 32, 32), tmp_path / "kf", {})
    with pytest.raises(KeyframeError, match="NaN or inf"):
        save_preset_keyframes(preset, torch.full((1, 4, 64, 64), float("nan")), tmp_path / "kf", {})
    assert not (tmp_path / "kf" / "p" / "keyframes.safetensors").exists()


def test_changed_prompts_make_it_stale(tmp_path):
    preset = make_preset(tmp_path / "presets")
    save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})
    changed = make_preset(tmp_path / "presets", prompts=("a", "c"))
    with pytest.raises(KeyframeError, match="stale, .*p.toml changed since it was precomputed"):
        load_preset_keyframes(changed, tmp_path / "kf")


def test_other_format_or_version_refused(tmp_path):
    from safetensors.torch import save_file

    preset = make_preset(tmp_path / "presets")
    path = keyframes_path(preset, tmp_path / "kf")
    path.parent.mkdir(parents=True)
    save_file({"latents": latents_for(preset)}, str(path), metadata={"format": "something-else"})
    with pytest.raises(KeyframeError, match="not a keyframe file of this tool"):
        load_preset_keyframes(preset, tmp_path / "kf")
    save_file({"latents": latents_for(preset)}, str(path), metadata={"format": "live-keyframes",
                                                                      "format_version": "99"})
    with pytest.raises(KeyframeError, match="format version 99, this tool reads 1"):
        load_preset_keyframes(preset, tmp_path / "kf")


def test_builtin_demo_builds_once(tmp_path):
    preset = load_preset(REPO / "presets" / "demo.toml")
    kset = ensure_builtin_keyframes(preset, tmp_path)
    g = preset.generation
    # made from images without a model: the pictures themselves at the preset's size (pixel keyframes)
    assert kset.latents.shape == (len(g.seeds), 3, g.height, g.width) and kset.kind == "pixels"
    assert kset.meta["encoder"] == "pixels" and kset.meta["model"] == "approx" and kset.meta["source"] == "images"
    assert kset.latents.dtype == torch.uint8 and kset.latents.float().div(255).std() > 0.05  # real pictures, as bytes
    stamp = kset.path.stat().st_mtime_ns
    again = ensure_builtin_keyframes(preset, tmp_path)
    assert again.path.stat().st_mtime_ns == stamp and torch.equal(again.latents, kset.latents)


def _png(path: Path, colour) -> None:
    Image.fromarray(np.full((300, 400, 3), colour, dtype=np.uint8)).save(path)


def test_images_folder_rebuilds_when_images_change(tmp_path):
    images = tmp_path / "art"
    images.mkdir()
    _png(images / "a.png", (255, 0, 0))
    _png(images / "b.png", (0, 0, 255))
    (images / "notes.txt").write_text("not an image, ignored")
    preset = make_preset(tmp_path / "presets", size=(256, 256), model="approx",
                         extra=f'images = "{images}"\n')
    kset = ensure_builtin_keyframes(preset, tmp_path / "kf")
    assert kset.latents.shape == (2, 3, 256, 256) and kset.meta["images"] == ["a.png", "b.png"]
    # the pictures as they are, in file order: a red, b blue
    assert kset.latents[0].float().mean(dim=(1, 2)).div(255).tolist() == [1.0, 0.0, 0.0]
    assert kset.latents[1].float().mean(dim=(1, 2)).div(255).tolist() == [0.0, 0.0, 1.0]
    _png(images / "c.png", (0, 255, 0))
    assert ensure_builtin_keyframes(preset, tmp_path / "kf").latents.shape[0] == 3


def test_images_folder_errors_name_the_thing(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    preset = make_preset(tmp_path / "presets", model="approx", extra=f'images = "{empty}"\n')
    with pytest.raises(KeyframeError, match="empty: no images in this folder"):
        ensure_builtin_keyframes(preset, tmp_path / "kf")
    (empty / "cover.jpg").write_bytes(b"this is not a jpeg")
    with pytest.raises(KeyframeError, match="cover.jpg: not a readable image"):
        ensure_builtin_keyframes(preset, tmp_path / "kf")
    missing = make_preset(tmp_path / "presets", name="m", model="approx", extra=f'images = "{tmp_path}/nope"\n')
    with pytest.raises(KeyframeError, match="nope: images folder does not exist"):
        ensure_builtin_keyframes(missing, tmp_path / "kf")
    assert not (tmp_path / "kf").exists()  # nothing written on bad input


def test_bank_marks_bad_ones_and_loads_the_rest(tmp_path):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    good = make_preset(presets, "good")
    save_preset_keyframes(good, latents_for(good), kdir, {})
    xl = make_preset(presets, "xl")
    save_preset_keyframes(xl, latents_for(xl), kdir, {"family": "sdxl"})
    broken = make_preset(presets, "broken")
    path = save_preset_keyframes(broken, latents_for(broken), kdir, {})
    path.write_bytes(path.read_bytes()[:200])
    make_preset(presets, "fresh")
    (presets / "typo.toml").write_text('[motion]\norder = "zigzag"\n')
    (presets / "demo.toml").write_text((REPO / "presets" / "demo.toml").read_text())

    bank = PresetBank.load(presets, kdir, latent_channels=4, family="sd1")
    assert bank.names() == ["demo", "good"]
    rows = {r["name"]: r for r in bank.status()}
    assert rows["good"]["ok"] and rows["good"]["keyframes"] == 4 and rows["good"]["bytes"] == 4 * 4 * 64 * 64 * 4
    assert "holds sdxl latents, the decoder is sd1" in rows["xl"]["reason"]
    assert "Start the show with --family sdxl" in rows["xl"]["reason"]  # the flag that fixes it, by name
    assert "corrupt or partial" in rows["broken"]["reason"] and "broken/keyframes.safetensors" in rows["broken"]["reason"]
    assert "not precomputed" in rows["fresh"]["reason"]
    assert "typo.toml: " in rows["typo"]["reason"] and not rows["typo"]["ok"]
    assert all("\n" not in r["reason"] for r in rows.values())
    preset, latents = bank.get("good")
    assert preset.name == "good" and latents.shape == (4, 4, 64, 64) and latents.device.type == "cpu"
    with pytest.raises(UserError, match="preset 'xl' is not available .*available: demo, good"):
        bank.get("xl")
    with pytest.raises(UserError, match="preset 'nope' is not available; available: demo, good"):
        bank.get("nope")

    xl_bank = PresetBank.load(presets, kdir, family="sdxl")
    # demo is made of pictures (pixel keyframes): no decoder reads it, so every family shows it
    assert xl_bank.names() == ["demo", "xl"] and xl_bank.keyframe_set("demo").kind == "pixels"
    assert "holds sd1 latents, the decoder is sdxl" in {r["name"]: r for r in xl_bank.status()}["good"]["reason"]


def test_bank_checks_channels_and_scaling(tmp_path):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    p = make_preset(presets, "p")
    save_preset_keyframes(p, latents_for(p), kdir, {})
    assert "the decoder takes 16" in PresetBank.load(presets, kdir, latent_channels=16).status()[0]["reason"]
    assert "scaled by 0.18215, the decoder's VAE uses 0.13025" in \
        PresetBank.load(presets, kdir, scaling_factor=0.13025).status()[0]["reason"]
    assert PresetBank.load(presets, kdir, scaling_factor=0.18215).names() == ["p"]


def test_repo_presets_on_a_fresh_clone(tmp_path):
    """The shipped presets: the built-in ones (approx, builtin:NAME images) build themselves, the
    examples honestly need a precompute."""
    bank = PresetBank.load(REPO / "presets", tmp_path)
    builtin = {"demo", "nebula", "grid", "ink"}
    assert builtin <= set(bank.names())
    for row in bank.status():
        if row["name"] not in builtin:
            assert not row["ok"] and "not precomputed" in row["reason"], row


def test_partial_store_keeps_and_rejects(tmp_path):
    preset = make_preset(tmp_path / "presets")
    store = kf.PartialStore(preset, tmp_path / "kf", "k" * 64)
    store.put(0, torch.ones(4, 64, 64))
    store.put(2, torch.ones(4, 64, 64) * 2)
    (store.dir / "k00001.safetensors").write_bytes(b"garbage")
    done = store.done(4, (4, 64, 64))
    assert sorted(done) == [0, 2] and float(done[2].mean()) == 2.0
    assert not (store.dir / "k00001.safetensors").exists()  # unusable ones are redone
    other = kf.PartialStore(preset, tmp_path / "kf", "z" * 64)
    other.remove_stale()
    assert not store.dir.exists()
    other.clear()
    assert os.listdir(tmp_path / "kf" / "p") == []


def test_bank_survives_an_unexpected_error(tmp_path, monkeypatch):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    good = make_preset(presets, "good")
    save_preset_keyframes(good, latents_for(good), kdir, {})
    (presets / "demo.toml").write_text((REPO / "presets" / "demo.toml").read_text())

    def explodes(preset, keyframes_dir):
        raise RuntimeError("bug in the image code")

    monkeypatch.setattr(bank_module, "ensure_builtin_keyframes", explodes)
    bank = PresetBank.load(presets, kdir)
    assert bank.names() == ["good"]
    reason = {r["name"]: r for r in bank.status()}["demo"]["reason"]
    assert "demo.toml: unexpected error while loading keyframes (RuntimeError: bug in the image code)" in reason


def test_relative_images_folder_is_found_next_to_the_preset(tmp_path, monkeypatch):
    presets = tmp_path / "show" / "presets"
    art = presets / "art"
    art.mkdir(parents=True)
    _png(art / "a.png", (10, 200, 30))
    preset = make_preset(presets, "cover", size=(256, 256), model="approx", extra='images = "art"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the show may start from any folder
    assert preset.resolve("art") == str(art)
    assert preset.resolve("~/x").startswith(os.path.expanduser("~"))
    assert preset.resolve("stabilityai/sd-turbo") == "stabilityai/sd-turbo"
    assert ensure_builtin_keyframes(preset, tmp_path / "kf").latents.shape == (1, 3, 256, 256)


def test_temp_file_of_a_killed_writer_is_cleaned_up(tmp_path):
    preset = make_preset(tmp_path / "presets")
    folder = tmp_path / "kf" / "p"
    folder.mkdir(parents=True)
    orphan = folder / ".keyframes.safetensors.tmp-999999999"  # no such process
    orphan.write_bytes(b"half a file")
    save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})
    assert not orphan.exists()
    assert load_preset_keyframes(preset, tmp_path / "kf").latents.shape[0] == 4


def test_overlong_metadata_from_elsewhere_is_capped_on_read(tmp_path):
    """A file written by another tool (or an older version) with huge prompt metadata still loads;
    what the bank keeps of it is capped."""
    import json

    preset = make_preset(tmp_path / "presets")
    lat = latents_for(preset)
    path = keyframes_path(preset, tmp_path / "kf")
    encoded = kf._encode_meta(kf.build_meta(preset, lat, {}))
    encoded["prompts"] = json.dumps([f"{i} " + "x" * 5000 for i in range(1000)])  # a 5 MB header
    encoded["model"] = "m" * 100_000
    kf._atomic_save({"latents": lat}, path, encoded)
    kset = load_preset_keyframes(preset, tmp_path / "kf")
    assert torch.equal(kset.latents, lat)
    assert len(kset.meta["prompts"]) == kf.MAX_META_ITEMS and kset.meta["prompts"][0].startswith("0 xxx")
    assert all(len(p) <= kf.MAX_META_TEXT for p in kset.meta["prompts"])
    assert len(kset.meta["model"]) == kf.MAX_META_VALUE
    assert len(read_meta(path)["prompts"]) == kf.MAX_META_ITEMS


def test_loaded_set_records_the_file_it_came_from(tmp_path):
    preset = make_preset(tmp_path / "presets")
    path = save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})
    kset = load_preset_keyframes(preset, tmp_path / "kf")
    assert kset.signature == kf.file_signature(path) and kset.signature[2] == path.stat().st_size
    save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})  # rewritten: a new file
    assert kf.file_signature(path) != kset.signature
    assert kf.file_signature(tmp_path / "nope") is None


def test_a_file_too_big_for_the_preset_is_refused_unread(tmp_path, monkeypatch):
    preset = make_preset(tmp_path / "presets")
    path = save_preset_keyframes(preset, latents_for(preset), tmp_path / "kf", {})
    with open(path, "ab") as fh:
        fh.truncate(kf.MAX_HEADER_BYTES + 10 * 4 * 64 * 64 * 4)  # sparse: far more than 4 keyframes need
    reads = []
    monkeypatch.setattr(kf, "_decode_file", lambda *a: reads.append(a))
    with pytest.raises(KeyframeError, match=r"p/keyframes.safetensors: \d+ bytes, more than a keyframe file for it "
                                            r"can hold \(\d+\); not a keyframe file or corrupt"):
        load_preset_keyframes(preset, tmp_path / "kf")
    assert reads == []
    monkeypatch.setattr(kf, "MAX_FILE_BYTES", 1000)
    with pytest.raises(KeyframeError, match="more than a keyframe file for it can hold \\(1000\\)"):
        kf.load_keyframe_file(path, max_bytes=kf.MAX_FILE_BYTES)


def test_metadata_that_is_not_text_reads_back_as_written(tmp_path):
    """Any value that is not text is written as JSON, and read back as the same value (a dict
    came back as its JSON text before, and `song --regenerate` failed on the second edit)."""
    from live.library.keyframes import _decode_meta, _encode_meta

    meta = {"prompts": ["a"], "edits": {"3": {"seed": 7}}, "note": "text", "flags": [1, 2]}
    assert _decode_meta(_encode_meta(meta)) == meta


# ---------------------------------------------------------------- pixel keyframes as bytes


def _old_float32_pixel_file(preset, path: Path, pixels: torch.Tensor, extra: dict | None = None) -> None:
    """A pixel keyframe file as the tool wrote it before bytes: format version 1, float32 in 0..1."""
    from safetensors.torch import save_file

    floats = (pixels.float() / 255.0).contiguous()
    meta = kf.build_meta(preset, floats, {"kind": "pixels", "model": "approx", "encoder": "pixels", **(extra or {})})
    meta.update(format_version=1, dtype="float32")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"latents": floats}, str(path), metadata=kf._encode_meta(meta))


def _file_dtype(path: Path) -> str:
    import json

    n = int.from_bytes(path.read_bytes()[:8], "little")
    return json.loads(path.read_bytes()[8:8 + n])["latents"]["dtype"]


def test_pixel_keyframes_are_bytes_in_the_file_and_held_once_in_the_bank(tmp_path):
    preset = load_preset(REPO / "presets" / "demo.toml")
    g = preset.generation
    kset = ensure_builtin_keyframes(preset, tmp_path)
    pictures = len(g.seeds) * 3 * g.height * g.width
    assert _file_dtype(kset.path) == "U8" and kset.meta["format_version"] == 2 and kset.meta["dtype"] == "uint8"
    assert pictures < kset.path.stat().st_size < pictures + 64 * 1024  # a byte a value, not 4
    loaded = bank_module._load_kset(preset, tmp_path, "sd1", 4, None, "cpu")
    assert loaded.latents.dtype == torch.uint8 and loaded.nbytes == pictures
    assert loaded.latents.data_ptr() == loaded.pixels.images.ctypes.data  # one copy: a view of the upload's bytes
    assert torch.equal(loaded.latents, kset.latents)


def test_an_old_float32_pixel_file_is_read_as_bytes(tmp_path):
    # precompute --model approx --from-images for a preset of a real model: loaded as it is, never rebuilt
    preset = make_preset(tmp_path / "presets", size=(256, 256), prompts=("a",), seeds=(1, 2))
    pixels = torch.randint(0, 256, (2, 3, 256, 256), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    path = keyframes_path(preset, tmp_path / "kf")
    _old_float32_pixel_file(preset, path, pixels)
    kset = load_preset_keyframes(preset, tmp_path / "kf")
    assert kset.kind == "pixels" and kset.latents.dtype == torch.uint8 and torch.equal(kset.latents, pixels)


def test_an_old_float32_builtin_pixel_file_is_rebuilt_as_bytes(tmp_path):
    from live.library.images import images_identity, source_images
    from live.library.keyframes import hash_json, text_keyframe_count

    preset = make_preset(tmp_path / "presets", size=(256, 256), prompts=("a",), seeds=(1, 2), model="approx",
                         extra='images = "builtin:grid"\n')
    g = preset.generation
    images, digest, _ = source_images(preset)
    assert digest == images_identity(g.images, g.width, g.height, text_keyframe_count(preset))[1]
    old_key = hash_json({"settings": preset.settings_hash(), "images": digest, "encoder": "pixels", "format": 1})
    path = keyframes_path(preset, tmp_path / "kf")
    _old_float32_pixel_file(preset, path, torch.from_numpy(images).permute(0, 3, 1, 2), {"cache_key": old_key})
    assert _file_dtype(path) == "F32"
    kset = ensure_builtin_keyframes(preset, tmp_path / "kf")
    assert _file_dtype(path) == "U8" and kset.meta["format_version"] == 2  # rebuilt in the new format
    assert torch.equal(kset.latents, torch.from_numpy(images).permute(0, 3, 1, 2))


def test_bytes_only_for_pictures_of_version_2(tmp_path):
    from safetensors.torch import save_file

    preset = make_preset(tmp_path / "presets", size=(256, 256), prompts=("a",), seeds=(1,))
    path = keyframes_path(preset, tmp_path / "kf")
    path.parent.mkdir(parents=True)
    floats = torch.rand(1, 3, 256, 256)
    meta = kf.build_meta(preset, floats, {"kind": "pixels"})  # says version 2, holds float32
    save_file({"latents": floats}, str(path), metadata=kf._encode_meta(meta))
    with pytest.raises(KeyframeError, match="no uint8 .* tensor"):
        load_preset_keyframes(preset, tmp_path / "kf")
    latent_bytes = torch.zeros(1, 4, 32, 32, dtype=torch.uint8)
    meta = kf.build_meta(preset, latent_bytes, {})  # latents as bytes: never written, refused
    save_file({"latents": latent_bytes}, str(path), metadata=kf._encode_meta(meta))
    with pytest.raises(KeyframeError, match="no float32 .* tensor"):
        load_preset_keyframes(preset, tmp_path / "kf")
