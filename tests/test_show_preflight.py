"""`check` as a preflight: real probes (audio file and devices, a UDP port, MIDI, the approx
decoder, the bank, GL shader compiles, memory) turned into PASS / WARN / FAIL rows."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from test_audio_pulse import SINK, _pulse_input_or_skip, pulse  # noqa: F401  (pulse is a fixture)
from test_control_midi import jack_backend  # noqa: F401  (a fixture)

import live.cli.check as check_cli
import live.show.preflight as preflight
from live.library.demo import write_demo_track
from live.show.preflight import FAIL, PASS, WARN, run_preflight
from live.show.runner import ShowSettings
from live.visuals.decoders import make_decoder

REPO = Path(__file__).resolve().parent.parent
HARDWARE = frozenset({"audio", "osc", "midi"})
N_SHADERS = len(list((REPO / "shaders").glob("*.glsl")))


@pytest.fixture
def folders(tmp_path):
    """A presets folder with the demo and a copy of the repo's shaders; returns the folder kwargs."""
    presets, shaders = tmp_path / "presets", tmp_path / "shaders"
    presets.mkdir()
    shaders.mkdir()
    (presets / "demo.toml").write_text((REPO / "presets" / "demo.toml").read_text())
    for path in (REPO / "shaders").glob("*.glsl"):
        (shaders / path.name).write_text(path.read_text())
    return {"presets_dir": str(presets), "keyframes_dir": str(tmp_path / "kf"), "shaders_dir": str(shaders),
            "mappings_dir": str(tmp_path / "mappings")}  # no MIDI mapping, so no controller looked for


def add_latent_preset(folders, name: str = "sd") -> None:
    """A preset of SD latents (random, precomputed) beside the demo's pictures: one that needs decoding."""
    import torch

    from live.library.keyframes import save_preset_keyframes
    from live.library.presets import load_preset

    path = Path(folders["presets_dir"]) / f"{name}.toml"
    path.write_text('[generation]\nmodel = "/models/x"\nwidth = 256\nheight = 256\nprompts = ["a", "b"]\nseeds = [1]\n')
    preset = load_preset(path)
    latents = torch.randn(2, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    save_preset_keyframes(preset, latents, folders["keyframes_dir"], {})


def decode_row(checks, name: str = "sd") -> preflight.Check:
    """The decode row of preset ``name``."""
    (check,) = [c for c in checks if c.name == f"decode {name}"]
    return check


def rows(result) -> dict[str, preflight.Check]:
    return {c.name: c for c in result.checks}


def test_every_probe_on_a_ready_show(folders):
    add_latent_preset(folders)
    result = run_preflight(ShowSettings(osc_port=0, **folders), skip={"audio"})
    got = rows(result)
    assert got["osc port"].status == PASS and got["midi input"].status == PASS
    assert got["decoder"].status == PASS and "approx sd1 on cpu" in got["decoder"].detail
    assert got["preset demo"].status == PASS and got["preset demo"].detail.startswith("8 keyframes, 512x288")
    assert got["decode sd"].status == PASS and "at 256x256" in got["decode sd"].detail
    assert "against 16.7 ms at 60 fps" in got["decode sd"].detail
    # the demo is pictures: nothing to decode, the renderer sums them
    assert got["decode demo"].status == PASS and got["decode demo"].detail.startswith("no decode: 8 pictures at 512x288")
    assert got["shaders"].status == PASS and got["shaders"].detail.startswith(f"{N_SHADERS} of {N_SHADERS} compiled")
    assert got["memory"].status in (PASS, WARN) and "GiB free" in got["memory"].detail
    assert got["vram"].status in (PASS, WARN)
    assert result.presets[0]["name"] == "demo" and result.skipped == ("audio",)
    assert result.exit_code() == 0
    assert result.exit_code(strict=True) == (1 if result.count(WARN) else 0)


def test_audio_file_signal_silence_and_a_bad_file(tmp_path):
    write_demo_track(tmp_path / "track.wav", 2.0)
    sf.write(tmp_path / "silent.wav", np.zeros((44100, 2), np.float32), 44100)
    (tmp_path / "bad.wav").write_bytes(b"not audio at all")
    only_audio = set(preflight.PROBES) - {"audio"}
    for name, status, words in (("track.wav", PASS, "2.0 s at 44100 Hz: signal"), ("silent.wav", WARN, "silent"),
                                ("bad.wav", FAIL, "bad.wav")):
        result = run_preflight(ShowSettings(audio=str(tmp_path / name)), skip=only_audio)
        (check,) = result.checks
        assert (check.name, check.status) == ("audio file", status) and words in check.detail, check
        assert "\n" not in check.detail


def test_no_audio_device_is_one_fail_line(monkeypatch):
    import live.audio.sources as sources

    monkeypatch.setattr(sources, "list_input_devices", lambda: [])
    result = run_preflight(ShowSettings(), skip=set(preflight.PROBES) - {"audio"})
    assert [(c.name, c.status) for c in result.checks] == [("audio input", FAIL)]
    assert result.checks[0].detail.startswith("no audio input device found") and result.exit_code() == 1


def test_osc_port_taken_fails():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run_preflight(ShowSettings(osc_port=port, osc_host="127.0.0.1"), skip=set(preflight.PROBES) - {"osc"})
    (check,) = result.checks
    assert check.status == FAIL and f"OSC port {port}" in check.detail
    free = run_preflight(ShowSettings(osc_port=port, osc_host="127.0.0.1"), skip=set(preflight.PROBES) - {"osc"})
    assert free.checks[0].status == PASS


def test_midi_input_missing_and_a_bad_mapping(tmp_path):
    (tmp_path / "bad.toml").write_text("[[bind]]\ncommand = 'nope'\ncc = 1\n")
    result = run_preflight(ShowSettings(midi_input="no-such-controller", midi_map=str(tmp_path / "bad.toml")),
                           skip=set(preflight.PROBES) - {"midi"})
    got = rows(result)
    assert got["midi input"].status == FAIL and "no MIDI input matches 'no-such-controller'" in got["midi input"].detail
    assert got["midi map"].status == FAIL and "bad.toml" in got["midi map"].detail


def test_a_mappings_device_is_checked_without_midi_input(tmp_path):
    (tmp_path / "generic.toml").write_text('device = "no-such-pad"\n[[bind]]\ncc = 1\ncommand = "tap"\n')
    result = run_preflight(ShowSettings(mappings_dir=str(tmp_path)), skip=set(preflight.PROBES) - {"midi"},
                           midi_backend="no_such_backend_module")
    got = rows(result)
    # The show opens the mapping's device; absent, it goes on without it: a WARN, not a FAIL.
    assert got["midi input"].status == WARN and "'no-such-pad' is not plugged in" in got["midi input"].detail
    assert got["midi map"].status == PASS and result.exit_code() == 0


def test_start_preset_missing_or_not_ready_fails(folders, tmp_path):
    (Path(folders["presets_dir"]) / "far.toml").write_text('[generation]\nmodel = "/m"\nprompts = ["a"]\n')
    skip = HARDWARE | {"shaders", "memory", "decoder"}
    result = run_preflight(ShowSettings(**folders), skip=skip)
    assert rows(result)["preset far"].status == WARN and result.exit_code() == 0  # not the start preset
    result = run_preflight(ShowSettings(preset="far", **folders), skip=skip)
    assert rows(result)["preset far"].status == FAIL and "the show starts with it" in rows(result)["preset far"].detail
    result = run_preflight(ShowSettings(preset="gone", **folders), skip=skip)
    assert rows(result)["preset gone"].status == FAIL and "has no gone.toml" in rows(result)["preset gone"].detail


def test_broken_shader_fails_when_a_ready_preset_uses_it(folders):
    shaders = Path(folders["shaders_dir"])
    (shaders / "pulse.glsl").write_text("#version 330 core\nout vec4 f_color;\nvoid main() { f_color = oops; }\n")
    (shaders / "spare.glsl").write_text("#version 330 core\nvoid main() { nope }\n")
    result = run_preflight(ShowSettings(**folders), skip=HARDWARE | {"memory"})
    got = rows(result)
    assert got["shaders"].status == WARN and got["shaders"].detail.startswith(f"{N_SHADERS - 1} of {N_SHADERS + 1} compiled")
    assert got["shader pulse"].status == FAIL and "line 3" in got["shader pulse"].detail
    assert got["shader spare"].status == WARN and "no ready preset uses it" in got["shader spare"].detail
    assert result.exit_code() == 1


class SlowDecoder:
    """The approx decoder made as slow as a big VAE on a small GPU."""

    def __init__(self, seconds: float) -> None:
        self.inner, self.seconds = make_decoder("approx"), seconds

    def decode(self, latents):
        time.sleep(self.seconds)
        return self.inner.decode(latents)


def test_decode_time_against_the_frame_budget(folders):
    from live.library.bank import open_bank

    add_latent_preset(folders)
    bank = open_bank(presets_dir=folders["presets_dir"], keyframes_dir=folders["keyframes_dir"])
    settings = ShowSettings(fps=30, **folders)
    for seconds, status in ((0.0, PASS), (0.05, WARN), (0.2, FAIL)):
        check = decode_row(preflight.probe_decode_times(settings, SlowDecoder(seconds), bank))
        assert check.status == status and "against 33.3 ms at 30 fps" in check.detail, check


class ClockedDecoder:
    """A decoder that takes exactly ``seconds`` on a fake clock (the figures are the subject, not timing)."""

    def __init__(self, clock, seconds: float) -> None:
        self.inner, self.clock, self.seconds = make_decoder("approx"), clock, seconds

    def decode(self, latents):
        self.clock.now += self.seconds
        return self.inner.decode(latents)


@pytest.mark.parametrize("ms,status,shown", [(127.5, FAIL, "7.8 fps"), (125.0, WARN, "8.0 fps"), (124.0, WARN, "8.0 fps"),
                                             (33.4, WARN, "29.9 fps"), (1000 / 30, PASS, "30.0 fps")])
def test_the_printed_decode_rate_and_the_verdict_agree(folders, monkeypatch, ms, status, shown):
    """127.5 ms printed "(8 fps)" and then "under 8 fps": the line must show the number it judged."""
    import re
    import types

    from live.library.bank import open_bank

    clock = types.SimpleNamespace(now=0.0)
    monkeypatch.setattr(preflight, "time", types.SimpleNamespace(perf_counter=lambda: clock.now))
    add_latent_preset(folders)
    bank = open_bank(presets_dir=folders["presets_dir"], keyframes_dir=folders["keyframes_dir"])
    check = decode_row(preflight.probe_decode_times(ShowSettings(fps=30, **folders), ClockedDecoder(clock, ms / 1000), bank))
    assert check.status == status and f"({shown})" in check.detail, check
    fps = float(re.search(r"\(([\d.]+) fps\)", check.detail).group(1))
    assert (fps < preflight.MIN_DECODE_FPS) == (check.status == FAIL) and (fps >= 30) == (check.status == PASS)


class RefusingDecoder:
    """A decoder that must not be asked: pictures have nothing to decode."""

    def decode(self, latents):
        raise AssertionError(f"decoded {tuple(latents.shape)}")


def test_presets_made_of_pictures_are_not_decoded(folders):
    """The decode probe once decoded the demo's walk coordinates (N, 9, 1, 1) and failed: "latents
    have 9 channels but the approx decoder takes 4" (the vae's the same). Pictures need no decoder."""
    from live.library.bank import open_bank

    bank = open_bank(presets_dir=folders["presets_dir"], keyframes_dir=folders["keyframes_dir"])
    assert bank.keyframe_set("demo").kind == "pixels"
    check = decode_row(preflight.probe_decode_times(ShowSettings(fps=60, **folders), RefusingDecoder(), bank), "demo")
    assert check.status == PASS and check.detail.startswith("no decode: 8 pictures at 512x288, summed by the renderer")
    assert "ms a frame" in check.detail


def test_a_probe_that_raises_is_one_fail_row(folders, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("GL driver exploded\nwith a second line")

    monkeypatch.setattr(preflight, "probe_shaders", broken)
    result = run_preflight(ShowSettings(osc_port=0, **folders), skip={"audio", "memory"})
    got = rows(result)
    assert got["shaders"].status == FAIL and got["shaders"].detail == "RuntimeError: GL driver exploded"
    assert got["decode demo"].status == PASS  # the other probes still ran


def test_cli_json_and_exit_codes(folders, capsys):
    parser = argparse.ArgumentParser()
    check_cli.configure(parser)
    argv = ["--presets-dir", folders["presets_dir"], "--keyframes-dir", folders["keyframes_dir"],
            "--shaders-dir", folders["shaders_dir"], "--osc-port", "0", "--skip", "audio,midi"]
    code = check_cli.run(parser.parse_args([*argv, "--json"]))
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["summary"]["FAIL"] == 0 and out["presets"][0]["name"] == "demo"
    assert {c["name"] for c in out["checks"]} >= {"osc port", "decoder", "preset demo", "decode demo", "shaders",
                                                   "memory", "vram"}
    strict = check_cli.run(parser.parse_args([*argv, "--strict"]))
    text = capsys.readouterr().out
    assert strict == (1 if out["summary"]["WARN"] else 0)
    assert "CHECK" in text and "preset demo" in text and "(skipped: audio, midi)" in text
    with pytest.raises(Exception, match="not a probe"):
        check_cli.run(parser.parse_args([*argv, "--skip", "audio,nonsense"]))


@pytest.mark.integration
def test_pulse_input_with_and_without_signal(pulse, tmp_path):  # noqa: F811
    _pulse_input_or_skip()
    settings = ShowSettings(audio_device="pulse", samplerate=44100)
    only_audio = set(preflight.PROBES) - {"audio"}
    (silent,) = run_preflight(settings, skip=only_audio, listen_seconds=0.5).checks
    assert silent.status == WARN and "silent" in silent.detail and "'pulse' at 44100 Hz" in silent.detail
    write_demo_track(tmp_path / "track.wav", 8.0)
    player = subprocess.Popen(["paplay", f"--device={SINK}", str(tmp_path / "track.wav")])
    try:
        time.sleep(0.5)
        (heard,) = run_preflight(settings, skip=only_audio, listen_seconds=1.0).checks
    finally:
        player.kill()
        player.wait()
    assert heard.status == PASS and "signal, peak" in heard.detail, heard


@pytest.mark.integration
def test_jack_midi_input_found(jack_backend):  # noqa: F811
    port = jack_backend.open_output("preflight-pads", virtual=True)
    try:
        result = run_preflight(ShowSettings(midi_input="preflight-pads"), skip=set(preflight.PROBES) - {"midi"},
                               midi_backend=jack_backend)
    finally:
        port.close()
    got = rows(result)
    assert got["midi input"].status == PASS and "preflight-pads" in got["midi input"].detail
    assert got["midi map"].status == PASS and "generic.toml" in got["midi map"].detail


def test_outputs_clip_record_and_ndi(tmp_path, monkeypatch):
    import sys

    from tiny_video import write_clip

    only = set(preflight.PROBES) - {"outputs"}
    assert run_preflight(ShowSettings(), skip=only).checks == []  # nothing asked for, no rows
    clip = write_clip(tmp_path / "loop.mp4", [(255, 0, 0), (0, 0, 255)])
    record = tmp_path / "show.mp4"
    good = rows(run_preflight(ShowSettings(clip=str(clip), record=str(record)), skip=only))
    assert good["clip"].status == PASS and good["record"].status == PASS
    assert list(tmp_path.iterdir()) == [clip]  # the probe left no file behind
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    monkeypatch.setitem(sys.modules, "cyndilib.sender", None)  # as if cyndilib were not installed
    bad = rows(run_preflight(ShowSettings(clip=str(tmp_path / "broken.mp4"), record=str(record), ndi="stage"),
                             skip=only))
    assert bad["outputs"].status == FAIL and "--clip" in bad["outputs"].detail
    bad = rows(run_preflight(ShowSettings(record=str(clip / "x.mp4")), skip=only))  # a file where its folder should be
    assert bad["outputs"].status == FAIL and "--record" in bad["outputs"].detail
    bad = rows(run_preflight(ShowSettings(ndi="stage"), skip=only))
    assert bad["outputs"].status == FAIL and "cyndilib" in bad["outputs"].detail
