"""Song mode, library half: key estimate, prompt words, song preset and plan (fast), and the
offline analysis of a synthesised track of known structure (slow: librosa's first call compiles)."""

import json

import numpy as np
import pytest

from live.errors import UserError
from live.library import song
from live.library.presets import load_preset


def _plan(levels=("low", "high", "low"), modes=("minor", "major", "none")) -> song.SongPlan:
    sections = [song.SongSection(name=f"{i + 1:02d}-{song.NAMES_BY_ENERGY[lv]}", start=16.0 * i, end=16.0 * (i + 1),
                                 bars=8, energy=0.3 if lv == "low" else 1.0, level=lv, key="A minor", mode=m)
                for i, (lv, m) in enumerate(zip(levels, modes))]
    return song.SongPlan(track="/x/My Track!.wav", duration=48.0, bpm=120.0, beats=[0.5 * i for i in range(96)],
                         downbeats=[2.0 * i for i in range(24)], sections=sections)


def test_key_of_a_minor_and_c_major_chords_and_none_for_flat_chroma():
    def chroma(*pcs):
        c = np.full(12, 0.05)
        c[list(pcs)] = 1.0
        return c

    assert song.estimate_key(chroma(9, 0, 4)) == ("A minor", "minor")  # A C E
    assert song.estimate_key(chroma(0, 4, 7)) == ("C major", "major")  # C E G
    assert song.estimate_key(np.ones(12)) == ("none", "none")


def test_section_prompt_adds_the_tables_words_for_energy_and_harmony():
    plan = _plan()
    calm, peak = plan.sections[0], plan.sections[1]
    assert song.section_prompt(" a neon city ", calm) == \
        f"a neon city, {song.ENERGY_WORDS['low']}, {song.HARMONY_WORDS['minor']}"
    assert song.ENERGY_WORDS["high"] in song.section_prompt("x", peak) and song.HARMONY_WORDS["major"] in \
        song.section_prompt("x", peak)


def test_song_preset_loads_with_one_section_per_detected_section_and_keeps_edits(tmp_path):
    plan = _plan()
    name = song.song_name(plan.track)
    assert name == "song-my-track"
    path, written = song.write_song_preset(plan, "a neon city", tmp_path, name)
    assert written and path == tmp_path / "song-my-track.toml"
    preset = load_preset(path)
    assert [s.name for s in preset.generation.sections] == ["01-calm", "02-peak", "03-calm"]
    assert [s["count"] for s in preset.generation.section_spans()] == [song.KEYFRAMES_PER_SECTION] * 3
    assert preset.generation.images == "builtin:demo" and preset.generation.model == "approx"
    path.write_text(path.read_text().replace("a neon city", "my own words"))
    _, written = song.write_song_preset(plan, "a neon city", tmp_path, name)
    assert not written and "my own words" in path.read_text()  # the user's edit survives
    _, written = song.write_song_preset(plan, "a neon city", tmp_path, name, force=True)
    assert written and "my own words" not in path.read_text()


def test_plan_round_trips_through_json(tmp_path):
    plan = _plan()
    path = song.write_plan(plan, tmp_path / "sub" / "plan.json")
    doc = json.loads(path.read_text())
    assert set(doc["sections"][0]) >= {"name", "start", "end", "bars", "energy", "key"}
    assert doc["bpm"] == 120.0 and len(doc["beats"]) == 96 and len(doc["downbeats"]) == 24
    assert song.SongPlan.from_json(doc) == plan


def _pictures(folder, how_many):
    """``how_many`` pictures from flat grey (least intense) to saturated red and cyan stripes (most),
    named so that name order is not intensity order."""
    from PIL import Image

    folder.mkdir()
    files = []
    for i in range(how_many):
        amount = 120.0 * i / max(1, how_many - 1)  # stripes of rising contrast and saturation
        stripes = ((np.arange(64) // 4) % 2 * 2.0 - 1.0)[None, :, None] * np.array([1.0, -1.0, -1.0])
        rgb = np.broadcast_to(128.0 + amount * stripes, (64, 64, 3))
        path = folder / f"{(7 * i) % how_many:02d}-{i}.png"  # shuffled names
        Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(path)
        files.append(path)
    return files  # in rising intensity


def test_every_image_is_used_and_the_most_intense_go_to_the_peak(tmp_path):
    files = _pictures(tmp_path / "art", 6)
    intensity = [song.image_intensity(f) for f in files]
    assert intensity == sorted(intensity) and intensity[0] < intensity[-1]  # the measure sees the rising intensity
    plan = _plan()  # calm, peak, calm
    shares = song.share_images(sorted(files), plan.sections)
    assert sorted(f for share in shares for f in share) == sorted(files)  # all six used, each once
    assert set(shares[1]) == set(files[-2:])  # the peak has the two most intense
    one = song.share_images(sorted(files), plan.sections[:1])  # a clip found to be one section: all six in it
    assert sorted(one[0]) == sorted(files)
    few = song.share_images(sorted(files[:2]), plan.sections)  # fewer pictures than keyframes: cycled, peak first
    assert [len(s) for s in few] == [song.KEYFRAMES_PER_SECTION] * 3 and set(few[1]) == set(files[:2])
    out = song.link_images(shares, tmp_path / "linked")
    assert [f.resolve() for f in sorted(out.iterdir())] == [f.resolve() for share in shares for f in share]


def test_image_shares_follow_section_length_and_the_preset_has_a_keyframe_per_image(tmp_path):
    files = _pictures(tmp_path / "art", 12)
    plan = _plan()
    plan.sections[1].bars = 24  # the peak is three times as long
    shares = song.share_images(files, plan.sections)
    assert [len(s) for s in shares] == [3, 6, 3]  # two each, the six spare by length
    path, _ = song.write_song_preset(plan, "x", tmp_path, "song-x", images=str(tmp_path / "art"),
                                     keyframes=[len(s) for s in shares])
    assert [s["count"] for s in load_preset(path).generation.section_spans()] == [3, 6, 3]


@pytest.mark.parametrize("levels,energy", [(("low", "high", "high"), "high"), (("low", "mid", "low"), "low"),
                                           (("mid", "mid", "high"), "mid")])
def test_preset_tags_and_walk_speed_follow_its_sections(tmp_path, levels, energy):
    """The README promises 16 / 8 / 4 beats per keyframe for low / mid / high energy."""
    path, _ = song.write_song_preset(_plan(levels=levels), "x", tmp_path, "song-x")
    preset = load_preset(path)
    assert preset.tags.energy == energy
    assert preset.motion.beats_per_keyframe == {"low": 16, "mid": 8, "high": 4}[energy]
    assert preset.tags.mood == ["song", *dict.fromkeys(song.NAMES_BY_ENERGY[lv] for lv in levels)]
    assert song.BEATS_PER_KEYFRAME == {"low": 16, "mid": 8, "high": 4}


def test_song_presets_default_to_16_9(tmp_path):
    path, _ = song.write_song_preset(_plan(), "x", tmp_path, "song-x")
    g = load_preset(path).generation
    assert (g.width, g.height) == (768, 432)


@pytest.mark.parametrize("seconds", [20.0, 30.0])
def test_a_medley_of_three_different_tracks_starts_a_section_within_2_5_s_of_each_change(tmp_path, seconds):
    """Loud 124 BPM kick, quiet 84 BPM pad, mid 104 BPM hats: at 84 BPM 8 bars are 23 s, so the
    8-bar minimum alone kept one section for the 20-s medley; a sharp change cuts early."""
    import soundfile as sf

    from live.bench.synth import synth_medley

    y, changes = synth_medley(seconds)
    sf.write(tmp_path / "medley.wav", y, 22050)
    plan = song.analyse(tmp_path / "medley.wav")
    starts = np.array([s.start for s in plan.sections[1:]])
    assert len(starts) and all(np.min(np.abs(starts - c)) <= 2.5 for c in changes), starts
    assert plan.sections[0].level == "high" and plan.sections[1].level == "low"  # loud kick, then the quiet pad


def test_a_given_grid_running_on_past_the_end_of_the_audio_is_cut_there(tmp_path):
    """A rekordbox grid (or a tracker) may name beats after the audio ends: they were analysed as
    empty slices (numpy RuntimeWarnings on every `set add` of such a track)."""
    import warnings

    import soundfile as sf

    from live.bench.synth import synth_kick_track

    y, beats = synth_kick_track([(120.0, 20.0)], 22050, bass=True, seed=3)
    sf.write(tmp_path / "kick.wav", y[: 16 * 22050], 22050)
    grid = np.arange(0.0, 24.0, 0.5)  # 8 s of beats past the end
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        plan = song.analyse(tmp_path / "kick.wav", lambda _y, _sr: (grid, grid[::4]), "grid")
    assert max(plan.beats) < 16.0 and plan.downbeats[0] == 0.0


def test_a_missing_or_too_short_track_is_a_one_line_error(tmp_path):
    import soundfile as sf

    with pytest.raises(UserError, match="audio file not found"):
        song.analyse(tmp_path / "nope.wav")
    sf.write(tmp_path / "short.wav", np.zeros(4410, np.float32), 44100)
    with pytest.raises(UserError, match="shorter than 2 s"):
        song.analyse(tmp_path / "short.wav")
    # The show's own checks (one reader for every part): an empty file says so.
    (tmp_path / "empty.mp3").write_bytes(b"")
    with pytest.raises(UserError, match="audio file is empty"):
        song.analyse(tmp_path / "empty.mp3")


@pytest.fixture(scope="module")
def synth_track(tmp_path_factory):
    """8 bars quiet, 16 bars loud, 8 bars quiet at 120 BPM: the truth is a boundary at 16 s and 48 s."""
    import soundfile as sf

    from live.bench.synth import synth_song

    y, starts = synth_song([(8, False), (16, True), (8, False)])
    path = tmp_path_factory.mktemp("song") / "synth.wav"
    sf.write(path, y, 44100)
    return path, starts, song.analyse(path)


@pytest.mark.slow
def test_boundaries_of_a_synthesised_track_fall_within_one_beat_of_the_truth(synth_track):
    _, starts, plan = synth_track
    assert abs(plan.bpm - 120.0) < 1.0
    assert len(plan.sections) == 3
    found = [s.start for s in plan.sections]
    assert found[0] == 0.0
    assert np.allclose(found[1:], starts[1:], atol=0.5), found  # one beat at 120 BPM
    downbeats = np.array(plan.downbeats)
    assert all(np.min(np.abs(downbeats - t)) < 1e-6 for t in found[1:])  # snapped to downbeats
    assert [s.level for s in plan.sections] == ["low", "high", "low"]
    assert plan.sections[1].mode == "minor" and plan.sections[1].key == "A minor"  # the A C E pad
    assert [s.bars for s in plan.sections] == [8, 16, 8]
    assert plan.sections[-1].end == pytest.approx(64.0, abs=0.01)
    assert len(plan.beats) == pytest.approx(128, abs=2) and len(plan.downbeats) == pytest.approx(32, abs=1)


@pytest.mark.parametrize("size,expected", [((256, 256), (256, 256)), ((512, 512), (512, 512)), ((64, 64), (256, 256)),
                                           ((1280, 720), (1280, 720)), ((3840, 2160), (2048, 1152))])
def test_preset_size_is_the_video_size_within_what_a_preset_allows(tmp_path, size, expected):
    got = song.preset_size(*size)
    assert got == expected
    path, _ = song.write_song_preset(_plan(), "a neon city", tmp_path, "song-x", size=got)
    g = load_preset(path).generation
    assert (g.width, g.height) == expected


def test_edits_metadata_round_trips_as_text_and_reads_old_and_bad_values():
    edits = {"3": {"section": "02-peak", "index": 1, "seed": 1002}}
    text = song.encode_edits(edits)
    assert isinstance(text, str) and song.decode_edits(text) == edits
    assert song.decode_edits(edits) == edits  # a reader that already decoded the JSON
    assert song.decode_edits(None) == {} and song.decode_edits("") == {}
    assert song.decode_edits("{not json") == {} and song.decode_edits("[1, 2]") == {}
    with pytest.raises(UserError, match="metadata holds"):
        song.encode_edits({str(i): {"seed": i, "prompt": "x" * 300} for i in range(20)})


@pytest.mark.slow
def test_regenerate_twice_in_a_row_keeps_both_edits(tmp_path):
    """The second --regenerate read the first one's ``edits`` back as text and failed (dict(str))."""
    from tiny_models import tiny_sd_path

    from live.library.keyframes import load_preset_keyframes
    from live.library.precompute import PrecomputeOptions, precompute

    plan = _plan()
    presets, keyframes = tmp_path / "presets", tmp_path / "kf"
    path, _ = song.write_song_preset(plan, "a neon city", presets, "song-x", images="", model=str(tiny_sd_path()),
                                     size=(256, 256))
    precompute(PrecomputeOptions(presets=("song-x",), presets_dir=presets, keyframes_dir=keyframes, device="cpu",
                                 progress=False))
    preset = load_preset(path)
    seed0 = preset.generation.seeds[1]
    first = song.regenerate_keyframe(preset, keyframes, "02-peak", 1, device="cpu")
    second = song.regenerate_keyframe(preset, keyframes, "02-peak", 1, device="cpu")  # failed here before
    third = song.regenerate_keyframe(preset, keyframes, "01-calm", 0, seed=5, prompt="a red moon", device="cpu")
    assert (first[0], first[1]) == (3, seed0 + 1000) and (second[0], second[1]) == (3, seed0 + 2000)
    assert third == (0, 5, "a red moon")
    edits = song.decode_edits(load_preset_keyframes(preset, keyframes).meta[song.EDITS_KEY])
    assert edits["3"]["seed"] == seed0 + 2000 and "prompt" not in edits["3"]  # the preset's own prompt
    assert edits["0"] == {"section": "01-calm", "index": 0, "seed": 5, "prompt": "a red moon"}
