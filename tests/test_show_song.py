"""Song mode end to end: `song` on a synthesised track of known structure (8 bars quiet, 16 loud,
8 quiet at 120 BPM) writes the plan and the song preset and renders a video of the track's
length whose sections go live on their downbeats; the song preset plays live."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from live.cli import main
from live.library.song import SongPlan, SongSection
from live.show.song import BEATS_PER_KEYFRAME, section_cues
from live.visuals.video import probe

ROOT = Path(__file__).resolve().parent.parent
FPS = 5


def test_section_cues_switch_now_on_the_frame_of_each_start_with_its_walk_speed_first():
    sections = [SongSection(name=n, start=s, end=e, bars=8, energy=1.0, level=lv, key="none", mode="none")
                for n, s, e, lv in (("a", 0.0, 16.0, "low"), ("b", 16.0, 48.0, "high"))]
    plan = SongPlan(track="t.wav", duration=48.0, bpm=120.0, beats=[], downbeats=[], sections=sections)
    cues = section_cues(plan, ["intro", "drop"], frame_period=0.1)  # the preset's (renamed) names count
    got = [(t, c.name, c.args) for t, c in cues]
    assert got == [(0.0, "param", ("motion.beats_per_keyframe", 16)), (0.0, "section", ("intro", "now")),
                   (15.95, "param", ("motion.beats_per_keyframe", 4)), (15.95, "section", ("drop", "now"))]


def test_the_render_switches_sections_on_the_frame_of_the_plans_start(tmp_path):
    """The plan's starts are its downbeats; the live clock's bars in the render need not line up
    with them (queued to the bar, a switch came up to a bar late: 40.53 s for 38.71 s)."""
    import soundfile as sf

    from live.bench.synth import synth_kick_track
    from live.library import song as lib
    from live.show.render import render_file

    y, _ = synth_kick_track([(120.0, 6.0)], 22050)
    sf.write(tmp_path / "t.wav", y, 22050)
    starts = [0.0, 2.3, 4.1]  # off the clock's bar grid, and between frames at 10 fps
    sections = [SongSection(name=f"s{i}", start=s, end=e, bars=2, energy=1.0, level="mid", key="none", mode="none")
                for i, (s, e) in enumerate(zip(starts, starts[1:] + [6.0]))]
    plan = SongPlan(track=str(tmp_path / "t.wav"), duration=6.0, bpm=120.0, beats=[], downbeats=[], sections=sections)
    lib.write_song_preset(plan, "x", tmp_path / "presets", "song-t", size=(256, 256))
    fps = 10
    stats = render_file(preset="song-t", audio=str(tmp_path / "t.wav"), out=None, size="64x64", fps=fps,
                        presets_dir=tmp_path / "presets", keyframes_dir=tmp_path / "kf", progress=False,
                        cues=section_cues(plan, ["s0", "s1", "s2"], 1.0 / fps))
    first = {name: stats.sections.index(name) for name in ("s0", "s1", "s2")}
    assert first == {"s0": 0, "s1": round(2.3 * fps), "s2": round(4.1 * fps)}, first  # the nearest frame


@pytest.mark.parametrize("size,expected", [("256x256", (256, 256)), ("1280x720", (1280, 720)), ("64x64", (256, 256))])
def test_the_written_song_preset_follows_size(tmp_path, monkeypatch, size, expected):
    from live.library import song as lib
    from live.library.presets import load_preset
    from live.show.song import SongOptions, make_song

    sections = [SongSection(name=n, start=s, end=e, bars=8, energy=1.0, level="mid", key="none", mode="none")
                for n, s, e in (("01-groove", 0.0, 16.0), ("02-groove", 16.0, 32.0))]
    plan = SongPlan(track="t.wav", duration=32.0, bpm=120.0, beats=[], downbeats=[], sections=sections)
    monkeypatch.setattr(lib, "analyse", lambda *a, **k: plan)  # the preset is the subject, not the analysis
    r = make_song(SongOptions(track=str(tmp_path / "t.wav"), prompt="a neon city", size=size,
                              presets_dir=tmp_path / "presets", keyframes_dir=tmp_path / "kf", progress=False))
    g = load_preset(r.preset_path).generation
    assert r.preset_written and (g.width, g.height) == expected


@pytest.fixture(scope="module")
def song_run(tmp_path_factory):
    import soundfile as sf

    from live.bench.synth import synth_song

    tmp = tmp_path_factory.mktemp("song")
    y, starts = synth_song([(8, False), (16, True), (8, False)])
    track = tmp / "synth.wav"
    sf.write(track, y, 44100)
    out, plan = tmp / "song.mp4", tmp / "plan.json"
    code = main(["song", str(track), "--prompt", "a neon city", "--out", str(out), "--plan", str(plan),
                 "--size", "64x64", "--fps", str(FPS), "--presets-dir", str(tmp / "presets"),
                 "--keyframes-dir", str(tmp / "keyframes")])
    assert code == 0
    return tmp, track, len(y) / 44100, starts, out, json.loads(plan.read_text())


@pytest.mark.slow
def test_song_writes_plan_and_preset_and_a_video_of_the_tracks_length(song_run, capsys):
    tmp, _, duration, starts, out, plan = song_run
    assert [round(s["start"]) for s in plan["sections"]] == [0, 16, 48]
    assert {"name", "start", "end", "bars", "energy", "key"} <= set(plan["sections"][0])
    assert abs(plan["bpm"] - 120) < 1 and len(plan["downbeats"]) == pytest.approx(32, abs=1)
    assert (tmp / "presets" / "song-synth.toml").is_file()
    info = probe(out)
    assert info["audio"] and (info["width"], info["height"]) == (64, 64)
    assert abs(info["frames"] / FPS - duration) <= 1.0 / FPS  # the track's length within one frame


@pytest.mark.slow
def test_sections_go_live_on_their_downbeats_and_the_preset_is_kept_on_a_second_run(song_run, capsys):
    from live.library.presets import load_preset
    from live.show.song import SongOptions, make_song

    tmp, track, _, starts, _, plan = song_run
    preset = tmp / "presets" / "song-synth.toml"
    preset.write_text(preset.read_text().replace('name = "02-peak"', 'name = "drop"'))  # the user renames one
    r = make_song(SongOptions(track=str(track), prompt="ignored now", out=str(tmp / "again.mp4"), size="64x64",
                              fps=FPS, presets_dir=tmp / "presets", keyframes_dir=tmp / "keyframes", progress=False))
    assert not r.preset_written and [s.name for s in load_preset(preset).generation.sections][1] == "drop"
    names = [n for n, _ in r.switches]
    times = np.array([t for _, t in r.switches])
    assert names == ["01-calm", "drop", "03-calm"]
    planned = [s.start for s in r.plan.sections]
    assert np.allclose(times, planned, atol=0.5 / FPS + 1e-9), r.switches  # on the plan's downbeat, the nearest frame
    assert np.allclose(planned, [0.0, *starts[1:]], atol=0.5), planned  # which is within a beat of the truth


@pytest.mark.slow
def test_song_preset_plays_live_headless(song_run):
    tmp = song_run[0]
    proc = subprocess.run([sys.executable, "run_live.py", "live", "--headless", "--preset", "song-synth",
                           "--seconds", "2", "--osc-port", "0", "--size", "64x64", "--presets-dir", str(tmp / "presets"),
                           "--keyframes-dir", str(tmp / "keyframes"), "--audio", str(song_run[1])],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "preset song-synth: 6 keyframes" in proc.stderr


@pytest.mark.slow
def test_images_are_shared_out_between_the_sections_and_encoded_without_a_model(song_run):
    from PIL import Image

    from live.library.bank import open_bank
    from live.show.song import SongOptions, make_song

    tmp, track = song_run[0], song_run[1]
    art = tmp / "art"
    art.mkdir()
    for i, colour in enumerate(["red", "green", "blue"]):
        Image.new("RGB", (64, 64), colour).save(art / f"{i}.png")
    r = make_song(SongOptions(track=str(track), prompt="album art", images=str(art), presets_dir=tmp / "img-presets",
                              keyframes_dir=tmp / "keyframes", progress=False, preview=True))
    assert r.preset_written and "your images" in r.keyframes
    # the section previews of an image song are its pictures (they were fed to the approx decoder)
    assert r.previews and all(p.is_file() for p in r.previews)
    bank = open_bank(presets_dir=tmp / "img-presets", keyframes_dir=tmp / "keyframes")
    _, latents = bank.get("song-synth")
    assert latents.shape[0] == 6  # three sections of two keyframes, the three images cycled
    colours = {tuple(np.round(latents[i].numpy().reshape(latents.shape[1], -1).mean(axis=1), 2)) for i in range(6)}
    assert len(colours) == 3  # every image is used
    assert not np.allclose(latents[2].numpy(), latents[3].numpy())  # the peak's two differ


@pytest.mark.slow
def test_regenerate_changes_only_the_keyframe_asked_for(song_run):
    from live.library.keyframes import load_preset_keyframes
    from live.library.presets import load_preset
    from live.show.song import SongOptions, make_song
    from tests.tiny_models import tiny_sd_path

    tmp, track = song_run[0], song_run[1]
    presets, keyframes = tmp / "model-presets", tmp / "model-keyframes"
    opts = dict(track=str(track), model=str(tiny_sd_path()), presets_dir=presets, keyframes_dir=keyframes,
                progress=False)
    first = make_song(SongOptions(prompt="a neon city", preview=True, **opts))
    assert "generated by" in first.keyframes and len(first.previews) == 3 and all(p.is_file() for p in first.previews)
    preset = load_preset(first.preset_path)
    before = load_preset_keyframes(preset, keyframes).latents.clone()
    r = make_song(SongOptions(prompt="", regenerate="02-peak:1", seed=7, out=str(tmp / "regen.mp4"), size="64x64",
                              fps=FPS, seconds=4.0, **opts))
    assert r.regenerated[:2] == (3, 7)  # section 02-peak starts at keyframe 2
    after = load_preset_keyframes(preset, keyframes).latents
    changed = [i for i in range(len(before)) if not np.allclose(before[i].numpy(), after[i].numpy())]
    assert changed == [3]
    assert r.render is not None and r.render.frames == 4 * FPS
    again = make_song(SongOptions(prompt="", **opts))  # a plain run keeps the edit (the cache is up to date)
    assert again.regenerated is None
    assert np.allclose(load_preset_keyframes(preset, keyframes).latents.numpy(), after.numpy())


@pytest.mark.slow
def test_madmom_tracker_finds_the_same_boundaries(song_run):
    from live.audio.rnn import import_madmom
    from live.show.song import SongOptions, make_song

    if import_madmom() is None:
        pytest.skip("madmom (the rnn extra) is not installed")
    tmp, track, _, starts = song_run[:4]
    r = make_song(SongOptions(track=str(track), prompt="x", tracker="madmom", presets_dir=tmp / "mm-presets",
                              keyframes_dir=tmp / "keyframes", progress=False))
    assert r.plan.tracker.startswith("madmom") and abs(r.plan.bpm - 120) < 1
    assert np.allclose([s.start for s in r.plan.sections], [0.0, *starts[1:]], atol=0.5), r.plan.sections
