"""Fault injection on the disk side of the show (issue 11): keyframe files truncated, overwritten
in place and replaced while the show runs, files caught half-written, and a really full disk.

The show is driven as in tests/test_show.py: real bank, approx decoder, synchronous decode and
an offscreen renderer. Each fault must leave the bank serving what it served before, the frames
coming, and one log line.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import live.library.keyframes as kf
from live.library.bank import PresetBank, open_bank
from live.library.keyframes import KeyframeChanging, KeyframeError, load_keyframe_file, save_preset_keyframes
from live.library.presets import load_preset
from live.messages import AudioState, Command
from live.show.show import Show, SyncDecode
from live.visuals.decoders import make_decoder
from live.visuals.renderer import Renderer

REPO = Path(__file__).resolve().parent.parent


def write_preset(presets: Path, name: str, prompts=("a", "b"), seeds=(1, 2), motion: str = "") -> Path:
    presets.mkdir(parents=True, exist_ok=True)
    path = presets / f"{name}.toml"
    quoted = ", ".join(f'"{p}"' for p in prompts)
    path.write_text(f'[generation]\nmodel = "/models/x"\nwidth = 256\nheight = 256\nprompts = [{quoted}]\n'
                    f"seeds = {list(seeds)}\n{motion}")
    return path


def precomputed(presets: Path, kdir: Path, name: str, seed: int = 0, **kw) -> Path:
    """A preset with keyframes (random latents with ``seed``) as precompute would write them."""
    preset = load_preset(write_preset(presets, name, **kw))
    n = len(preset.generation.all_prompts()) * len(preset.generation.seeds)
    latents = torch.randn(n, 4, 32, 32, generator=torch.Generator().manual_seed(seed))
    return save_preset_keyframes(preset, latents, kdir, {})


def state(t: float) -> AudioState:
    return AudioState(time=t, bpm=120.0, beat_index=int(t * 2), beat_phase=(t * 2) % 1.0, downbeat=int(t * 2) % 4)


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp-" in p.name]


def refused_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "live.library.bank" and r.levelno >= logging.WARNING]


@pytest.fixture()
def stage(tmp_path):
    """Two precomputed presets, the bank the show loads, and a running show on them."""
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    precomputed(presets, kdir, "alpha", seed=1)
    precomputed(presets, kdir, "beta", seed=2)
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, kdir)
    renderer = Renderer(64, 64, headless=True)
    show = Show(bank, SyncDecode(decoder), renderer, preset="alpha")
    show.clock_t = 0.0
    yield show, presets, kdir
    renderer.close()


def run_show(show: Show, seconds: float, fps: float = 30.0) -> list[float]:
    """Tick the show for ``seconds`` of show time; the display times of the frames it drew."""
    times = []
    for _ in range(int(seconds * fps)):
        show.clock_t += 1.0 / fps
        show.tick(show.clock_t, state(show.clock_t))
        _, newer = show.decode.frames()
        times.append(newer.display_time)
    return times


def assert_frames_keep_coming(show: Show, seconds: float = 1.0) -> None:
    first = show.renderer.read_pixels().astype(int)
    times = run_show(show, seconds)
    assert times == sorted(times) and len(set(times)) == len(times), "a frame was missed or repeated"
    assert times[-1] == pytest.approx(show.clock_t)
    assert np.abs(show.renderer.read_pixels().astype(int) - first).mean() > 0.5, "the picture stopped moving"


def switch(show: Show, name: str) -> None:
    show.commands.put(Command("preset", (name,), source="osc"))
    run_show(show, 0.1)


# ------------------------------------------------------------------ the show keeps the last good bank

def test_truncated_overwritten_and_replaced_files_never_reach_the_show(stage, caplog):
    show, _, kdir = stage
    bank = show.bank
    path = kdir / "alpha" / "keyframes.safetensors"
    good = {n: bank.get(n)[1].clone() for n in ("alpha", "beta")}
    original = path.read_bytes()
    assert_frames_keep_coming(show)

    def still_good() -> None:
        for name, latents in good.items():
            served = bank.get(name)[1]
            assert torch.equal(served, latents) and torch.isfinite(served).all(), name
        assert bank.names() == ["alpha", "beta"]

    faults = {
        # a copy that stopped half way (or `truncate`): with mmap'd latents this was SIGBUS
        "truncated": lambda: os.truncate(path, len(original) // 3),
        # an in-place overwrite with the same size: with mmap'd latents this fed NaN into the show
        "overwritten with NaN": lambda: _overwrite_tail(path, np.full(4096, np.nan, np.float32).tobytes()),
        "overwritten with garbage": lambda: _overwrite_tail(path, os.urandom(8192)),
        "emptied": lambda: path.write_bytes(b""),
        # a whole different file renamed over it (as an rsync or a precompute elsewhere would)
        "replaced by another preset's file": lambda: _replace_with(path, _other_shape_file(kdir.parent)),
        "deleted": lambda: path.unlink(),
    }
    for what, fault in faults.items():
        caplog.clear()
        fault()
        for _ in range(3):  # the file is read once it held still for one look
            bank.refresh()
        still_good()
        switch(show, "alpha")  # a preset switch onto the damaged preset takes the good latents
        switch(show, "beta")
        switch(show, "alpha")
        assert show.preset_name == "alpha"
        assert_frames_keep_coming(show)
        lines = refused_lines(caplog)
        assert len(lines) == 1 and "\n" not in lines[0], (what, lines)
        assert lines[0].startswith("preset alpha: changed files refused, still showing the keyframes loaded before: ")
        assert "alpha/keyframes.safetensors" in lines[0], lines[0]
        row = {r["name"]: r for r in bank.status()}["alpha"]
        assert row["ok"] and "changed files refused" in row["reason"]
        _replace_with(path, original)  # put the good file back (as a new file: a new signature)
        bank.refresh()
        bank.refresh()
        still_good()


def test_a_good_new_file_goes_live_through_the_shows_tick(stage, caplog):
    caplog.set_level(logging.INFO, logger="live.library.bank")
    show, presets, kdir = stage
    bank = show.bank
    old = bank.get("alpha")[1].clone()
    # precompute runs again during the show (a new seed): written to a temp file and renamed
    preset = load_preset(presets / "alpha.toml")
    new = torch.randn(4, 4, 32, 32, generator=torch.Generator().manual_seed(99))
    save_preset_keyframes(preset, new, kdir, {})
    deadline = time.monotonic() + 20.0
    while not torch.equal(bank.get("alpha")[1], new):
        assert time.monotonic() < deadline, "the new keyframes never went live"
        assert torch.equal(bank.get("alpha")[1], old) or torch.equal(bank.get("alpha")[1], new)
        run_show(show, 0.5)  # the tick looks once a show second, in the background
        time.sleep(0.02)
    switch(show, "beta")
    switch(show, "alpha")
    assert_frames_keep_coming(show)
    assert any("preset alpha: loaded 4 changed keyframes" in r.getMessage() for r in caplog.records)
    assert not refused_lines(caplog)


def test_the_tick_never_waits_for_the_disk(stage, monkeypatch):
    """A hung disk (a stat that never returns) holds up the refresh thread, never the show."""
    show = stage[0]
    import threading

    import live.library.bank as bank_module

    release = threading.Event()
    real_scan = bank_module._scan

    def hung_scan(*args):
        release.wait(120)
        return real_scan(*args)

    monkeypatch.setattr(bank_module, "_scan", hung_scan)
    try:
        started = time.perf_counter()
        times = run_show(show, 5.0)  # five refreshes come due while the first one hangs
        assert time.perf_counter() - started < 60.0 and len(times) == 150
        assert show.bank._job is not None and show.bank._job.is_alive()
        assert show.bank.names() == ["alpha", "beta"]
    finally:
        release.set()


def test_a_file_being_written_is_never_read_half_written(tmp_path, monkeypatch, caplog):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    path = precomputed(presets, kdir, "alpha", seed=1)
    bank = PresetBank.load(presets, kdir)
    good = bank.get("alpha")[1].clone()
    preset = load_preset(presets / "alpha.toml")
    new_file = _file_bytes(preset, torch.randn(4, 4, 32, 32, generator=torch.Generator().manual_seed(5)), tmp_path)
    reads = []
    real_read = kf._read_whole
    monkeypatch.setattr(kf, "_read_whole", lambda p, *rest: reads.append(p) or real_read(p, *rest))

    # a slow `cp` over the file, in place: every look sees it grow, so it is never read
    with open(path, "r+b") as fh:
        fh.truncate(0)
        for start in range(0, len(new_file), 20000):
            fh.write(new_file[start:start + 20000])
            fh.flush()
            assert bank.refresh() == []
            assert torch.equal(bank.get("alpha")[1], good)
    assert reads == [] and not refused_lines(caplog)
    # the copy is done: it holds still for one look, then it is read, verified and swapped in
    assert bank.refresh() == ["alpha"]
    assert reads == [path] and torch.equal(bank.get("alpha")[1], _latents_of(new_file))


def test_a_file_that_changes_during_the_read_is_read_again_later(tmp_path, monkeypatch, caplog):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    path = precomputed(presets, kdir, "alpha", seed=1)
    bank = PresetBank.load(presets, kdir)
    good = bank.get("alpha")[1].clone()
    precomputed(presets, kdir, "alpha", seed=7)  # new keyframes, written atomically
    real_signature = kf.file_signature
    writing = {"on": True}

    def writer_busy(p):
        if writing["on"] and Path(p) == path:
            with open(path, "ab") as fh:  # someone appends while we read
                fh.write(b"\0")
        return real_signature(p)

    monkeypatch.setattr(kf, "file_signature", writer_busy)
    monkeypatch.setattr(kf, "_READ_RETRY_S", 0.0)
    with pytest.raises(KeyframeChanging, match="changed while it was being read"):
        load_keyframe_file(path)
    caplog.clear()
    for _ in range(3):
        bank.refresh()
    assert torch.equal(bank.get("alpha")[1], good) and not refused_lines(caplog)  # not refused: retried
    writing["on"] = False
    precomputed(presets, kdir, "alpha", seed=7)  # the writer finishes properly
    bank.refresh()
    assert bank.refresh() == ["alpha"] and not torch.equal(bank.get("alpha")[1], good)


def test_refresh_follows_the_presets_folder(tmp_path, caplog):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    precomputed(presets, kdir, "alpha", seed=1)
    write_preset(presets, "later")  # not precomputed yet
    bank = PresetBank.load(presets, kdir)
    assert bank.names() == ["alpha"]
    kset = bank.keyframe_set("alpha")

    # precompute finishes during the show: the preset becomes available
    precomputed(presets, kdir, "later", seed=3)
    bank.refresh()
    assert bank.refresh() == ["later"] and bank.names() == ["alpha", "later"]

    # only motion changes: the new settings go live, the keyframes in memory are reused
    write_preset(presets, "alpha", motion="[motion]\nkick = 0.9\n")
    bank.refresh()
    assert bank.refresh() == ["alpha"]
    assert bank.get("alpha")[0].motion.kick == 0.9 and bank.keyframe_set("alpha") is kset

    # a typo in the preset: refused in one line, the loaded preset stays
    caplog.clear()
    write_preset(presets, "alpha", motion='[motion]\norder = "zigzag"\n')
    for _ in range(4):
        bank.refresh()
    [line] = refused_lines(caplog)
    assert "alpha.toml: motion.order" in line and bank.get("alpha")[0].motion.kick == 0.9

    # new prompts without a new precompute: the keyframes are stale, the old ones stay
    caplog.clear()
    write_preset(presets, "alpha", prompts=("c", "d"))
    bank.refresh()
    bank.refresh()
    [line] = refused_lines(caplog)
    assert "stale" in line and bank.keyframe_set("alpha") is kset

    # the preset file removed: kept until the show restarts
    caplog.clear()
    (presets / "alpha.toml").unlink()
    bank.refresh()
    bank.refresh()
    [line] = refused_lines(caplog)
    assert "alpha.toml was removed" in line and "alpha" in bank.names()

    # a brand-new preset with a broken keyframe file: unavailable with its reason, the rest untouched
    caplog.clear()
    write_preset(presets, "broken")
    (kdir / "broken").mkdir()
    (kdir / "broken" / "keyframes.safetensors").write_bytes(b"\x10" * 64)
    bank.refresh()
    bank.refresh()
    assert "broken" not in bank.names() and bank.names() == ["alpha", "later"]
    assert "corrupt or partial" in {r["name"]: r for r in bank.status()}["broken"]["reason"]
    assert len(refused_lines(caplog)) == 1


def test_refresh_if_due_is_rate_limited_and_swallows_errors(tmp_path, monkeypatch, caplog):
    import live.library.bank as bank_module

    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    precomputed(presets, kdir, "alpha")
    bank = PresetBank.load(presets, kdir)
    scans = []

    def failing_scan(*args):
        scans.append(args)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(bank_module, "_scan", failing_scan)
    for i in range(600):  # ten show seconds at 60 fps
        bank.refresh_if_due(i / 60.0)
        if bank._job is not None:
            bank._job.join()
    assert 8 <= len(scans) <= 11  # once a second
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "Input/output error" in errors[0]  # one line, not one a second
    assert bank.names() == ["alpha"]
    assert bank.refresh_if_due(-100.0) == []  # a clock that jumps back does not stop it either


# ------------------------------------------------------------------ loading never maps the file

def test_loaded_latents_do_not_depend_on_the_file(tmp_path):
    """The old mmap'd load died here with SIGBUS (truncate) or served NaN (overwrite): run it in a
    child process so a regression fails this test instead of killing the test run."""
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    path = precomputed(presets, kdir, "alpha")
    script = textwrap.dedent(f"""
        import os, torch
        from live.library.keyframes import load_keyframe_file
        kset = load_keyframe_file({str(path)!r})
        before = kset.latents.clone()
        size = os.path.getsize({str(path)!r})
        with open({str(path)!r}, "r+b") as fh:
            fh.seek(size // 2)
            fh.write(b"\\xff" * (size // 2))
        assert torch.equal(kset.latents, before), "overwrite reached the loaded latents"
        os.truncate({str(path)!r}, 16)
        assert torch.equal(kset.latents, before), "truncation reached the loaded latents"
        kset.latents.add_(1.0)  # ordinary writable memory
        print("ok", float(kset.latents.sum() - before.sum()))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert done.stdout.startswith("ok ")


# ------------------------------------------------------------------ a real full disk

def _namespaces_work() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return subprocess.run(["unshare", "-m", "--map-root-user", "true"], capture_output=True,
                              timeout=20, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _namespaces_work(), reason="needs unshare with a user+mount namespace for a small tmpfs")
def test_precompute_on_a_really_full_disk(tmp_path):
    """The keyframes folder on a tmpfs (in a private mount namespace) one and a half keyframe
    files big: the first preset fits, the second fills the disk. One error line, the first
    keyframes intact, no temp file."""
    presets = tmp_path / "presets"
    presets.mkdir()
    for name in ("first", "second"):
        (presets / f"{name}.toml").write_text('[generation]\nmodel = "approx"\nwidth = 256\nheight = 256\n'
                                              'images = "builtin:demo"\nseeds = [1, 2]\n')
    # Without a model the keyframes are the pictures themselves, (N, 3, H, W) bytes: the disk
    # is sized from that, so the first file fits whole and the second cannot.
    one_file = 2 * 3 * 256 * 256
    disk_kb = one_file * 3 // 2 // 1024
    kdir = tmp_path / "kf"
    kdir.mkdir()
    script = textwrap.dedent(f"""
        import contextlib, io, json, os
        from pathlib import Path
        from live.cli import main
        from live.library.bank import PresetBank
        kdir = Path({str(kdir)!r})
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            code = main(["precompute", "first", "second", "--quiet", "--presets-dir", {str(presets)!r},
                         "--keyframes-dir", str(kdir)])
        bank = PresetBank.load({str(presets)!r}, kdir)
        print(json.dumps({{"code": code, "err": err.getvalue(), "ready": bank.names(),
                           "files": sorted(str(p.relative_to(kdir)) for p in kdir.rglob("*") if p.is_file())}}))
    """)
    done = subprocess.run(["unshare", "-m", "--map-root-user", "sh", "-c",
                           f'mount -t tmpfs -o size={disk_kb}k tmpfs "{kdir}" && exec "{sys.executable}" -c "$0"', script],
                          cwd=REPO, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["code"] == 2
    lines = [line for line in out["err"].splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "second/keyframes.safetensors: disk full" in lines[0], out["err"]
    assert out["files"] == ["first/keyframes.safetensors"]  # no half file, no temp file
    assert "first" in out["ready"]
    assert not list(kdir.iterdir())  # and nothing leaked onto the real disk under the mount


# ------------------------------------------------------------------ helpers

def _overwrite_tail(path: Path, data: bytes) -> None:
    """Overwrite the end of the file in place (same size, header intact)."""
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size - len(data))
        fh.write(data)


def _replace_with(path: Path, data: bytes) -> None:
    tmp = path.with_name("incoming")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _other_shape_file(root: Path) -> bytes:
    """A valid keyframe file of the same preset name made at another size."""
    other = root / "other"
    path = precomputed(other / "presets", other / "kf", "alpha", seeds=(1,))
    return path.read_bytes()


def _file_bytes(preset, latents: torch.Tensor, root: Path) -> bytes:
    return save_preset_keyframes(preset, latents, root / "scratch", {}).read_bytes()


def _latents_of(data: bytes) -> torch.Tensor:
    from safetensors.torch import load

    return load(data)["latents"]


def test_bad_files_are_refused_in_one_line(tmp_path):
    presets, kdir = tmp_path / "presets", tmp_path / "kf"
    path = precomputed(presets, kdir, "alpha")
    original = path.read_bytes()
    cases = {
        "truncated": (original[: len(original) // 2], "corrupt or partial keyframe file"),
        "header only": (original[:8], "corrupt or partial keyframe file (header of"),
        "empty": (b"", "corrupt or partial keyframe file (0 bytes"),
        "NaN data": (original[:-4096] + np.full(1024, np.nan, np.float32).tobytes(), "checksum mismatch"),
        "huge header": ((10**12).to_bytes(8, "little") + original[8:], "over the 16 MB limit"),
        "not json": (original[:8] + b"{" * (len(original) - 8), "header is not JSON"),
    }
    for what, (data, expected) in cases.items():
        path.write_bytes(data)
        with pytest.raises(KeyframeError) as info:
            load_keyframe_file(path)
        assert expected in str(info.value) and "\n" not in str(info.value), what
        assert "alpha/keyframes.safetensors" in str(info.value), what

    # NaN with a checksum that matches (written by something that skipped our checks)
    preset = load_preset(presets / "alpha.toml")
    nan = torch.randn(4, 4, 32, 32)
    nan[1, 2, 3, 4] = float("nan")
    kf._atomic_save({"latents": nan}, path, kf._encode_meta(kf.build_meta(preset, nan, {})))
    with pytest.raises(KeyframeError, match="alpha/keyframes.safetensors: latents contain NaN or inf"):
        load_keyframe_file(path)
