"""`set add|list|remove` as a DJ uses them the week before a gig: run again, files edited, two
files of one name, broken tracks, a set folder that cannot be made, two runs at once."""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import pytest
import soundfile as sf

from live import fingerprint as fp
from live import paths
from live.bench import set as bench
from live.cli import main
from live.library import sets

RATE = 22050


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """Two 12 s synthetic tracks in a folder whose name has a space and a quote, as a DJ's has."""
    folder = tmp_path_factory.mktemp("music") / "DJ's set"
    folder.mkdir()
    for k, bpm in enumerate((120.0, 100.0)):
        sf.write(folder / f"Tune {k}.wav", bench.synth_tune(20 + k, bpm=bpm, seconds=12.0), RATE)
    return folder


def _add(setdir: Path, *files: Path, extra: tuple[str, ...] = ()) -> int:
    return main(["set", "add", str(setdir), *map(str, files), "--tracker", "librosa", *extra])


def _xml(path: Path, file: Path, bpm: float) -> Path:
    loc = "file://localhost" + urllib.parse.quote(str(file.resolve()))
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><DJ_PLAYLISTS Version="1.0.0"><COLLECTION Entries="1">'
                    f'<TRACK TrackID="1" Location="{loc}" TotalTime="12"><TEMPO Inizio="0.000" Bpm="{bpm:.2f}" '
                    'Metro="4/4" Battito="1"/></TRACK></COLLECTION></DJ_PLAYLISTS>', encoding="utf-8")
    return path


def test_running_set_add_again_keeps_unchanged_tracks_and_makes_edited_ones_again(music, tmp_path, capsys):
    setdir, tune = tmp_path / "gig", music / "Tune 0.wav"
    assert _add(setdir, tune) == 0
    capsys.readouterr()
    # The same command again (after a Ctrl-C, or to make sure): kept, no error.
    assert _add(setdir, tune) == 0
    out = capsys.readouterr().out
    assert "kept: tune-0: already in the set, unchanged" in out and "error" not in out
    # The DJ trims the intro of the file: its fingerprints and grid are made again from the new audio.
    edited = tmp_path / "edited"
    edited.mkdir()
    y, _ = sf.read(tune, dtype="float32")
    sf.write(edited / "Tune 0.wav", y[2 * RATE:], RATE)
    tune_copy = edited / "Tune 0.wav"
    (setdir / "tune-0" / sets.TRACK_FILE).write_text(  # as if prepared from this path
        (setdir / "tune-0" / sets.TRACK_FILE).read_text().replace(str(tune.resolve()), str(tune_copy.resolve())))
    assert _add(setdir, tune_copy) == 0
    out = capsys.readouterr().out
    assert "updated tune-0" in out
    assert sets.list_tracks(setdir)[0].duration == pytest.approx(10.0, abs=0.05)


def test_another_file_of_the_same_name_is_refused_by_name_not_called_already_there(music, tmp_path, capsys):
    setdir = tmp_path / "gig"
    other = tmp_path / "other album"
    other.mkdir()
    sf.write(other / "Tune 0.wav", bench.synth_tune(33, bpm=110.0, seconds=12.0), RATE)
    assert _add(setdir, music / "Tune 0.wav", other / "Tune 0.wav") == 0
    out = capsys.readouterr().out
    assert "another file" in out and str((music / "Tune 0.wav").resolve()) in out and "rename one" in out
    assert "already in the set, unchanged" not in out
    assert sets.list_tracks(setdir)[0].source == str((music / "Tune 0.wav").resolve())


def test_a_broken_track_is_listed_and_set_add_makes_it_again(music, tmp_path, capsys):
    setdir = tmp_path / "gig"
    assert _add(setdir, music / "Tune 0.wav", music / "Tune 1.wav") == 0
    (setdir / "tune-0" / sets.PRINTS_FILE).unlink()
    (setdir / "tune-1" / sets.TRACK_FILE).write_text('{"name": ')
    capsys.readouterr()
    assert main(["set", "list", str(setdir)]) == 0
    out = capsys.readouterr().out
    assert "0 tracks, 2 broken" in out and out.count("  broken: ") == 2 and "fingerprints are missing" in out
    # What those lines say to do works: the same files added again are made again.
    assert _add(setdir, music / "Tune 0.wav", music / "Tune 1.wav") == 0
    out = capsys.readouterr().out
    assert "updated tune-0" in out and "updated tune-1" in out
    assert len(sets.SetIndex.load(setdir)) == 2


def test_a_new_rekordbox_grid_or_song_makes_the_track_again(music, tmp_path, capsys):
    setdir, tune = tmp_path / "gig", music / "Tune 0.wav"
    assert _add(setdir, tune, extra=("--rekordbox-xml", str(_xml(tmp_path / "a.xml", tune, 120.0)))) == 0
    assert sets.list_tracks(setdir)[0].bpm == pytest.approx(120.0, abs=0.01)
    # The DJ fixes the grid in rekordbox and exports again.
    assert _add(setdir, tune, extra=("--rekordbox-xml", str(_xml(tmp_path / "b.xml", tune, 121.0)))) == 0
    assert "updated tune-0" in capsys.readouterr().out
    assert sets.list_tracks(setdir)[0].bpm == pytest.approx(121.0, abs=0.01)
    # ... and asks for song plans afterwards.
    assert _add(setdir, tune, extra=("--song", "--presets-dir", str(tmp_path / "presets"))) == 0
    track = sets.list_tracks(setdir)[0]
    assert track.song_preset == "song-tune-0" and sets.load_plan(track) is not None
    assert track.origin == "rekordbox"  # a run without the export keeps the DJ's grid
    capsys.readouterr()
    assert main(["set", "remove", str(setdir), str(tune)]) == 0  # by its file, as the DJ knows it
    out = capsys.readouterr().out
    assert "removed tune-0" in out and "song-tune-0 stays" in out
    assert sets.list_tracks(setdir) == []


def test_each_track_is_said_when_it_is_done_not_at_the_end(music, tmp_path, capsys, monkeypatch):
    real, seen = sets.prepare_track, []

    def prepare(source, setdir, **kw):
        seen.append(capsys.readouterr().out)  # what the DJ has read when the next track starts
        return real(source, setdir, **kw)

    monkeypatch.setattr(sets, "prepare_track", prepare)
    assert _add(tmp_path / "gig", music / "Tune 0.wav", music / "Tune 1.wav") == 0
    assert "added tune-0" in seen[1]


def test_a_set_folder_that_cannot_be_made_is_one_line(music, tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert _add(tmp_path / "file" / "gig", music / "Tune 0.wav") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "cannot make the set folder" in err[0]


def test_a_failing_run_never_removes_the_track_another_run_finished(music, tmp_path, capsys, monkeypatch):
    """Two `set add` of one set at once: the one that fails (Ctrl-C here) after the other finished
    the same track leaves that track alone; the one that finishes second keeps the first's."""
    setdir, tune = tmp_path / "gig", music / "Tune 0.wav"
    real, save = fp.landmarks, sets.save_landmarks

    def other_run_finishes_first(path, marks):
        monkeypatch.setattr(sets, "save_landmarks", save)
        sets.prepare_track(tune, setdir)  # the other run, done while this one writes its files
        raise KeyboardInterrupt

    monkeypatch.setattr(sets, "save_landmarks", other_run_finishes_first)
    assert _add(setdir, tune) == 130
    assert [t.name for t in sets.list_tracks(setdir)] == ["tune-0"]
    assert len(sets.SetIndex.load(setdir)) == 1
    assert sorted(p.name for p in setdir.iterdir()) == sorted([sets.CACHE_FILE, "tune-0"])

    def other_run_finishes_meanwhile(y, sr):
        monkeypatch.setattr(fp, "landmarks", real)
        sets.prepare_track(tune, setdir)
        return real(y, sr)

    sets.remove_track(setdir, "tune-0")
    monkeypatch.setattr(fp, "landmarks", other_run_finishes_meanwhile)
    capsys.readouterr()
    assert _add(setdir, tune) == 0
    assert "added meanwhile by another" in capsys.readouterr().out
    assert not [p for p in setdir.iterdir() if p.name.startswith(".tune-0")]  # no half-made folder left


def test_the_set_commands_explain_themselves(capsys):
    for action, words in (("add", ("rekordbox", "Ctrl-C", "again", "name is its file")),
                          ("list", ("broken", "rekordbox")), ("remove", ("song preset",))):
        assert main(["set", action, "--help"]) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert all(w in text for w in words), (action, text)


def test_a_music_folder_named_like_the_set_is_not_taken_for_it(music, tmp_path, monkeypatch, capsys):
    """`set add gig gig/*.wav` run in the folder holding the DJ's music folder `gig`: the set goes to
    the sets folder (where `live --set gig` looks), not among the music files."""
    monkeypatch.setenv("LIVE_SETS_DIR", str(tmp_path / "sets"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gig").mkdir()
    sf.write(tmp_path / "gig" / "Tune 0.wav", sf.read(music / "Tune 0.wav")[0], RATE)
    assert main(["set", "add", "gig", "gig/Tune 0.wav", "--tracker", "librosa"]) == 0
    assert sorted(p.name for p in (tmp_path / "gig").iterdir()) == ["Tune 0.wav"]
    assert [t.name for t in sets.list_tracks(tmp_path / "sets" / "gig")] == ["tune-0"]
    # A set folder of that name in the working folder is still found when the sets folder has none.
    (tmp_path / "sets" / "gig").rename(tmp_path / "mine")
    monkeypatch.chdir(tmp_path)
    assert main(["set", "list", "mine"]) == 0 and "mine: 1 track" in capsys.readouterr().out


def test_a_folder_given_as_the_tracks_adds_its_audio_files(music, tmp_path, capsys):
    (music / "cover.jpg").write_bytes(b"\xff\xd8")  # a DJ's folder holds more than audio
    try:
        assert _add(tmp_path / "gig", music, tmp_path) == 0
    finally:
        (music / "cover.jpg").unlink()
    out = capsys.readouterr().out
    assert "added tune-0" in out and "added tune-1" in out and "cover" not in out
    assert f"skipped: {tmp_path}: a folder without audio files" in out
    assert main(["set", "list", str(tmp_path / "empty")]) == 2  # no such set
    (tmp_path / "empty").mkdir()
    assert main(["set", "list", str(tmp_path / "empty")]) == 0 and "no tracks: add some" in capsys.readouterr().out


def test_set_list_says_which_song_plan_is_broken_and_leftovers_of_a_killed_run_go(music, tmp_path, capsys):
    setdir = tmp_path / "gig"
    assert _add(setdir, music / "Tune 0.wav", extra=("--song", "--presets-dir", str(tmp_path / "presets"))) == 0
    (setdir / "tune-0" / sets.PLAN_FILE).write_text("{")
    capsys.readouterr()
    assert main(["set", "list", str(setdir)]) == 0
    out = capsys.readouterr().out
    assert "1 track" in out and "no plan: " in out and "plan.json: not a song plan" in out
    # A run killed mid-track (kill -9, the battery) left its half-made folder; the next run removes it.
    dead = setdir / ".tune-1.partial-999999999"
    dead.mkdir()
    (dead / sets.PRINTS_FILE).write_bytes(b"x" * 1000)
    assert _add(setdir, music / "Tune 1.wav") == 0
    assert sorted(p.name for p in setdir.iterdir() if p.name.startswith(".tune")) == []


def test_a_tilde_in_the_sets_folder_or_the_set_is_the_home_folder(monkeypatch, tmp_path):
    """`--sets-dir=~/sets` (no shell expands that `~`) or LIVE_SETS_DIR="~/sets" in a launcher made a
    folder called `~` in the working folder, and the show looked for the set there."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("LIVE_SETS_DIR", "~/sets")
    assert paths.set_dir("gig") == tmp_path / "sets" / "gig"
    assert paths.set_dir("gig", "~/other") == tmp_path / "other" / "gig"
    assert paths.set_dir("~/usb/gig") == tmp_path / "usb" / "gig"


def test_a_missing_track_is_one_line_not_also_a_warning_about_the_export(music, tmp_path, capsys, caplog):
    xml = _xml(tmp_path / "rb.xml", music / "Tune 0.wav", 120.0)
    with caplog.at_level("WARNING"):
        assert _add(tmp_path / "gig", tmp_path / "Typo.wav", music / "Tune 0.wav", extra=("--rekordbox-xml", str(xml))) == 0
    assert "Typo.wav" in capsys.readouterr().out
    assert not [r for r in caplog.records if "Typo" in r.getMessage()]


def test_a_presets_folder_that_cannot_be_written_is_one_line_per_track(music, tmp_path, capsys, monkeypatch):
    from live.library import song

    def read_only(*_a, **_k):
        raise PermissionError(13, "Permission denied", str(tmp_path / "presets"))

    monkeypatch.setattr(song, "write_song_preset", read_only)
    assert _add(tmp_path / "gig", music / "Tune 0.wav", extra=("--song", "--presets-dir", str(tmp_path / "presets"))) == 2
    out = capsys.readouterr().out
    assert f"cannot write {tmp_path / 'presets'} (Permission denied)" in out
    assert not (tmp_path / "gig").exists()  # nothing half-made, and no empty new set left behind


def test_set_list_without_a_set_lists_the_sets(music, tmp_path, capsys):
    assert main(["set", "list", "--sets-dir", str(tmp_path / "none")]) == 0
    assert "0 sets (make one with `set add" in capsys.readouterr().out
    assert _add(tmp_path / "sets" / "friday", music / "Tune 0.wav") == 0
    (tmp_path / "sets" / "saturday").mkdir()
    capsys.readouterr()
    assert main(["set", "list", "--sets-dir", str(tmp_path / "sets")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "2 sets" in lines[0] and "friday" in lines[1] and "1 track" in lines[1] and "0 tracks" in lines[2]


def test_an_edited_tracks_old_song_preset_is_kept_and_said(music, tmp_path, capsys, caplog):
    folder = tmp_path / "music"
    folder.mkdir()
    y, _ = sf.read(music / "Tune 0.wav", dtype="float32")
    sf.write(folder / "Tune 0.wav", y, RATE)
    song_flags = ("--song", "--presets-dir", str(tmp_path / "presets"))
    assert _add(tmp_path / "gig", folder / "Tune 0.wav", extra=song_flags) == 0
    sf.write(folder / "Tune 0.wav", y[3 * RATE:], RATE)  # the DJ's edit
    with caplog.at_level("WARNING"):
        assert _add(tmp_path / "gig", folder / "Tune 0.wav", extra=song_flags) == 0
    assert "updated tune-0" in capsys.readouterr().out
    assert any("song-tune-0 kept as it is" in r.getMessage() for r in caplog.records)
