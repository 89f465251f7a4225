"""Files in the folders the show reads: a bad file in presets/ (nested past the parser's
recursion, a FIFO, a device behind a symlink, gigabytes) costs only itself, at show start and
when dropped in mid-show, and keyframes are read without a buffer of the size limit."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import torch

from live.library.bank import open_bank
from live.library.keyframes import load_keyframe_file, save_preset_keyframes
from live.library.presets import load_preset, load_presets

REPO = Path(__file__).resolve().parent.parent
NESTED = "x = " + "[" * 100_000  # 100 KB: tomllib's recursion overflows long before the end
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and /dev/zero are POSIX")


def within(seconds: float, work):
    """``work()``'s result, or a test failure when it blocks longer than ``seconds`` (the old code
    blocked forever on a FIFO; a daemon thread lets the test report that instead of hanging)."""
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["result"]


def presets_with_demo(tmp_path: Path) -> Path:
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "demo.toml").write_text((REPO / "presets" / "demo.toml").read_text())
    return presets


@pytest.mark.parametrize("kind", ["nested", "fifo", "folder"])
def test_one_bad_preset_file_costs_only_itself(tmp_path, caplog, kind):
    presets = presets_with_demo(tmp_path)
    bad = presets / "bad.toml"
    if kind == "nested":
        bad.write_text(NESTED)
    elif kind == "fifo":
        os.mkfifo(bad)
    else:
        bad.mkdir()
    caplog.set_level(logging.WARNING)
    good, errors = within(20, lambda: load_presets(presets))
    assert list(good) == ["demo"] and list(errors) == ["bad"]
    assert "bad.toml: " in errors["bad"] and "\n" not in errors["bad"]
    expected = {"nested": "nested too deeply", "fifo": "not a regular file", "folder": "is a folder"}[kind]
    assert expected in errors["bad"]
    assert [r.getMessage() for r in caplog.records if "bad.toml" in r.getMessage()] == [errors["bad"]]

    bank = within(30, lambda: open_bank(presets_dir=presets, keyframes_dir=tmp_path / "kf"))
    assert bank.names() == ["demo"]
    assert expected in {r["name"]: r for r in bank.status()}["bad"]["reason"]


def test_unexpected_error_in_one_file_is_one_line_and_the_rest_load(tmp_path, caplog, monkeypatch):
    import live.library.presets as presets_mod

    presets = presets_with_demo(tmp_path)
    (presets / "other.toml").write_text((REPO / "presets" / "demo.toml").read_text())
    real = presets_mod.load_toml

    def flaky(path, *args, **kwargs):
        if Path(path).stem == "other":
            raise RecursionError("maximum recursion depth exceeded\nwhile parsing")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(presets_mod, "load_toml", flaky)
    caplog.set_level(logging.WARNING)
    good, errors = load_presets(presets)
    assert list(good) == ["demo"]
    assert errors["other"].endswith("other.toml: unexpected error while reading the preset "
                                    "(RecursionError: maximum recursion depth exceeded)")
    assert [r.getMessage() for r in caplog.records] == [errors["other"]]


def test_listing_presets_never_opens_special_files(tmp_path, monkeypatch):
    from live.library.presets import preset_files

    presets = presets_with_demo(tmp_path)
    os.mkfifo(presets / "fifo.toml")
    (presets / "zero.toml").symlink_to("/dev/zero")
    (presets / "notes.txt").write_text("not a preset")

    def no_open(*args, **kwargs):
        raise AssertionError("listing opened a file")

    monkeypatch.setattr(os, "open", no_open)
    monkeypatch.setattr(os, "stat", no_open)
    names = [p.name for p in within(10, lambda: preset_files(presets))]
    assert names == ["demo.toml", "fifo.toml", "zero.toml"]


@pytest.mark.parametrize("kind", ["nested", "fifo"])
def test_bad_file_dropped_in_mid_show_is_said_once_per_version(tmp_path, caplog, kind):
    presets = presets_with_demo(tmp_path)
    bank = open_bank(presets_dir=presets, keyframes_dir=tmp_path / "kf")
    assert bank.names() == ["demo"]
    bad = presets / "late.toml"
    if kind == "nested":
        bad.write_text(NESTED)
    else:
        os.mkfifo(bad)
    caplog.set_level(logging.WARNING)

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if "late.toml" in r.getMessage()]

    for _ in range(5):  # the first look sees it change, the second reads it, the rest see it unchanged
        within(20, bank.refresh)
    assert len(said()) == 1, said()
    line = said()[0]
    assert "\n" not in line
    assert ("nested too deeply" if kind == "nested" else "not a regular file") in line
    assert bank.names() == ["demo"] and not {r["name"]: r for r in bank.status()}["late"]["ok"]

    # a new version of the file is said again, once
    bad.unlink()
    bad.write_text(NESTED + "[" * 10)
    for _ in range(4):
        within(20, bank.refresh)
    assert len(said()) == 2 and "nested too deeply" in said()[1]
    assert bank.names() == ["demo"]


def test_keyframe_file_is_read_without_a_buffer_of_the_limit(tmp_path):
    """The old read(max_bytes + 1) asked for the whole limit up front: with a limit far beyond
    memory it failed at once, as 8 GiB did under `ulimit -v 8000000`."""
    (tmp_path / "p.toml").write_text('[generation]\nmodel = "/m"\nprompts = ["a"]\nseeds = [1, 2]\n')
    path = save_preset_keyframes(load_preset(tmp_path / "p.toml"), torch.randn(2, 4, 64, 64), tmp_path / "kf", {})
    kset = load_keyframe_file(path, max_bytes=1 << 50)
    assert kset.latents.shape == (2, 4, 64, 64) and kset.signature is not None


def test_fifo_in_place_of_a_keyframe_file_is_refused(tmp_path):
    from live.library.keyframes import _read_whole

    fifo = tmp_path / "keyframes.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(Exception, match="not a regular file"):
        within(10, lambda: _read_whole(fifo, "keyframes.safetensors"))


# What `check` and the show do with a folder holding one of every bad file, in a process whose
# address space is capped below the old 8 GiB read buffer (and far below /dev/zero read whole).
_TARGET_SCRIPT = textwrap.dedent("""
    import argparse, io, json, resource, sys, contextlib
    limit = int(4e9)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    presets, kf = sys.argv[1], sys.argv[2]
    from live.library.bank import open_bank
    bank = open_bank(presets_dir=presets, keyframes_dir=kf)
    reasons = {r["name"]: r["reason"] for r in bank.status()}
    import live.cli.check as check_cli
    parser = argparse.ArgumentParser()
    check_cli.configure(parser)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = check_cli.run(parser.parse_args(["--presets-dir", presets, "--keyframes-dir", kf,
                                                "--skip", "audio,osc,midi,decoder,shaders,memory,outputs"]))
    print(json.dumps({"names": bank.names(), "reasons": reasons, "check": out.getvalue(), "code": code}))
""")


def test_show_and_check_start_on_the_good_presets_beside_every_kind_of_bad_file(tmp_path):
    presets = presets_with_demo(tmp_path)
    (presets / "nested.toml").write_text(NESTED)
    os.mkfifo(presets / "fifo.toml")
    (presets / "zero.toml").symlink_to("/dev/zero")
    with open(presets / "huge.toml", "wb") as fh:
        fh.truncate(8 * 1024 ** 3)  # sparse: 8 GB long, no disk used
    env = {**os.environ, "PYTHONPATH": str(REPO), "LIVE_PRESETS_DIR": str(presets)}
    try:
        done = subprocess.run([sys.executable, "-c", _TARGET_SCRIPT, str(presets), str(tmp_path / "kf")],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("the bank or `check` blocked on a bad preset file")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["names"] == ["demo"]
    reasons = result["reasons"]
    assert "nested.toml: is nested too deeply" in reasons["nested"]
    assert "fifo.toml: is not a regular file" in reasons["fifo"]
    assert "zero.toml: is not a regular file" in reasons["zero"]
    assert "huge.toml: is 8,589,934,592 bytes, over the limit" in reasons["huge"]
    out = result["check"]
    assert result["code"] == 0, out
    for name in ("nested", "fifo", "zero", "huge"):
        assert f"{name}.toml: " in out
    assert "1 of 5 presets ready" in out
