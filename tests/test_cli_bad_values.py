"""The README's promise, walked over every command: a flag that names a file, a folder, a device,
a size or a preset, given a bad value (missing, a folder for a file, a file for a folder,
garbage, out of range), is refused with exactly one ``error:`` line and exit status 2, before
anything starts: no traceback, no window or thread left, nothing run.

The commands run in this process through ``main`` (seconds for the whole walk); the frame loop
and the renderer are replaced by a tripwire, so a value that is not refused fails its case at
once instead of running a show. ``check`` is left out: it reports every problem as a FAIL row
(exit 1), which is its job."""

from __future__ import annotations

import argparse
import signal
import threading
import time
from pathlib import Path

import pytest

from live.cli import ENDS_ITSELF, build_parser, main

CASE_S = 30  # a case still running after this long ran instead of refusing


class Started(BaseException):
    """A command got past its checks: the frame loop or a window was about to start."""


# dest -> what it names
INPUT_FILES = {"audio", "clip", "midi_map", "map", "file", "track", "flash_audio"}
OUTPUT_FILES = {"out", "record", "plan", "log_file", "json"}
FOLDERS = {"presets_dir", "keyframes_dir", "shaders_dir", "mappings_dir", "model", "tiny_model", "vae",
           "from_images", "images", "vae_model", "workdir", "dir", "clips"}
SIZES = {"size", "output_size", "loop_sizes"}
PRESETS = {"preset", "presets"}
DEVICES = {"audio_device"}
# check: FAIL rows, exit 1; bench gpu: exit 2 without CUDA anyway; midi learn: --map and --mappings-dir
# are where it writes (created when new), and it waits for a controller
SKIP_COMMANDS = {("check",), ("bench", "gpu"), ("midi", "learn")}
SKIP_FLAGS = {(("precompute",), "keyframes_dir"),  # where precompute writes: made when missing
              (("live",), "keyframes_dir"), (("render",), "keyframes_dir")}  # the keyframe cache: likewise


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, (*path, name))
        elif action.nargs != 0 and not isinstance(action, argparse._HelpAction):
            yield path, action


def _bad_values(dest: str, tmp: Path) -> list[str]:
    missing = str(tmp / "no-such-thing")
    folder = str(tmp / "a-folder")
    garbage = str(tmp / "garbage.bin")
    under_file = str(tmp / "garbage.bin" / "x")
    if dest in INPUT_FILES:
        suffix = {"midi_map": ".toml", "map": ".toml", "clip": ".mp4"}.get(dest, ".wav")
        return [missing + suffix, folder, garbage]
    if dest in OUTPUT_FILES:
        return [folder, under_file + {"plan": ".json", "json": ".json", "log_file": ".log"}.get(dest, ".mp4")]
    if dest in FOLDERS:
        return [missing, garbage]
    if dest in SIZES:
        return ["12x", "0x0", "100000x100000"]
    if dest in PRESETS:
        return ["no-such-preset"]
    if dest in DEVICES:
        return ["no-such-device-anywhere"]
    return []


def _base(path: tuple[str, ...], tmp: Path) -> list[str]:
    """Valid arguments a command needs besides the flag under test."""
    wav, out = str(tmp / "track.wav"), str(tmp / "out" / "o.mp4")
    return {("live",): ["--headless", "--seconds", "1", "--osc-port", "0", "--audio", wav],
            ("render",): ["--preset", "demo", "--audio", wav, "--out", out, "--seconds", "1"],
            ("demo",): ["--render", "--seconds", "1"],
            ("beats",): [wav], ("song",): [wav, "--prompt", "x"], ("precompute",): ["demo"],
            ("midi", "learn"): ["tap"], ("bench", "song"): ["--minutes", "0.1"]}.get(path, [])


def _cases(tmp: Path, bench: bool):
    for path, action in _walk(build_parser()):
        if path[:2] in SKIP_COMMANDS or path[:1] in SKIP_COMMANDS or (path[0] == "bench") != bench:
            continue
        if (path, action.dest) in SKIP_FLAGS:
            continue
        for bad in _bad_values(action.dest, tmp):
            yield path, action, bad


def _argv(path: tuple[str, ...], action: argparse.Action, bad: str, tmp: Path) -> list[str]:
    base = _base(path, tmp)
    if not action.option_strings:  # a positional: the bad value takes the first one's place
        positional = [a for a in base if not a.startswith("-")][:1]
        rest = list(base)
        if positional and path not in (("precompute",),) and action.nargs not in ("*", "?"):
            rest.remove(positional[0])
        elif path == ("precompute",):
            rest.remove("demo")
        return [*path, bad, *rest]
    flag = action.option_strings[-1]
    if action.dest == "audio_device":  # only used without a file as the input
        i = base.index("--audio")
        base = base[:i] + base[i + 2:]
    for f in action.option_strings:
        if f in base:
            i = base.index(f)
            base = base[:i] + base[i + 2:]
    return [*path, *base, flag, bad]


@pytest.fixture()
def world(tmp_path, monkeypatch):
    from live.library.demo import write_demo_track
    from live.show import driver
    from live.visuals import renderer

    write_demo_track(tmp_path / "track.wav", 2.0)
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "garbage.bin").write_bytes(bytes(range(256)) * 8)
    monkeypatch.chdir(tmp_path)

    def tripwire(*args, **kwargs):
        raise Started("started")

    monkeypatch.setattr(driver, "run", tripwire)
    monkeypatch.setattr(renderer.Renderer, "__init__", tripwire)
    return tmp_path


def _alarm(signum, frame):
    raise Started(f"still running after {CASE_S} s")


def test_every_flag_that_names_something_refuses_a_bad_value_in_one_line(world, capsys):
    cases = list(_cases(world, bench=False))
    assert len(cases) > 60  # the walk found the commands' flags
    _walk_cases(cases, world, capsys)


def test_every_benchmark_flag_that_names_something_refuses_a_bad_value_in_one_line(world, capsys):
    cases = list(_cases(world, bench=True))
    assert len(cases) > 10
    _walk_cases(cases, world, capsys)


def _walk_cases(cases, world, capsys) -> None:
    before = set(threading.enumerate())
    failures, took = [], []
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for path, action, bad in cases:
            argv = _argv(path, action, bad, world)
            signal.alarm(CASE_S)
            started = time.perf_counter()
            try:
                code = main(argv)
            except Started as exc:
                code = f"not refused ({exc})"
            except BaseException as exc:  # noqa: BLE001 - a traceback is what this test looks for
                code = f"raised {exc!r}"
            finally:
                signal.alarm(0)
                took.append((time.perf_counter() - started, " ".join(argv)))
            out, err = capsys.readouterr()
            lines = err.strip().splitlines()
            left = [t.name for t in set(threading.enumerate()) - before if t.is_alive() and t.name not in ENDS_ITSELF]
            if code != 2 or len(lines) != 1 or not lines[0].startswith("error: ") or left:
                failures.append(f"{' '.join(argv)} -> {code}; stderr {lines[-3:]}; threads left {left}")
    finally:
        signal.signal(signal.SIGALRM, old)
    print("slowest cases:", *sorted(took, reverse=True)[:5], sep="\n  ")
    assert not failures, "\n".join(failures)
