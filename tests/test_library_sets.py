"""Prepared sets: the set folder, rekordbox grids, the fingerprint index and its matcher, `set add`'s
one-line refusals, and `bench set`'s small case."""

from __future__ import annotations

import json
import os
import tracemalloc
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from live import fingerprint as fp
from live import paths
from live.bench import set as bench
from live.cli import main
from live.library import sets

RATE = 22050


@pytest.fixture(scope="module")
def tunes() -> list[np.ndarray]:
    """Three synthetic tracks of their own (melody, bass, drums), 20 s each. Their tempi are more
    than the pitch fader's 8% apart: these tunes share one instrument, scale family and grid, so at
    a speed that maps one tempo onto the other they would be the same music."""
    return [bench.synth_tune(10 + k, bpm=(120.0, 100.0, 140.0)[k], seconds=20.0) for k in range(3)]


def _rekordbox_xml(path: Path, tracks: dict[Path, list[tuple[float, float, int]]]) -> Path:
    """A rekordbox 6 collection export with TEMPO rows (Inizio, Bpm, Battito) per track."""
    rows = []
    for k, (file, tempos) in enumerate(tracks.items()):
        loc = "file://localhost" + urllib.parse.quote(str(file.resolve()))
        marks = "".join(f'<TEMPO Inizio="{i:.3f}" Bpm="{b:.2f}" Metro="4/4" Battito="{n}"/>' for i, b, n in tempos)
        rows.append(f'<TRACK TrackID="{k + 1}" Name="{file.stem}" Location="{loc}" TotalTime="20">{marks}</TRACK>')
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><DJ_PLAYLISTS Version="1.0.0">'
                    '<PRODUCT Name="rekordbox" Version="6.8.2" Company="AlphaTheta"/>'
                    f'<COLLECTION Entries="{len(rows)}">{"".join(rows)}</COLLECTION></DJ_PLAYLISTS>', encoding="utf-8")
    return path


def test_set_dir_is_a_name_in_the_sets_folder_or_a_path(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVE_SETS_DIR", str(tmp_path / "env"))
    assert paths.set_dir("gig") == tmp_path / "env" / "gig"
    assert paths.set_dir("gig", tmp_path / "flag") == tmp_path / "flag" / "gig"
    assert paths.set_dir(str(tmp_path / "mine" / "gig")) == tmp_path / "mine" / "gig"


def test_track_names_are_plain_distinct_and_stable_whatever_the_alphabet():
    from live.library import song

    # Accents are dropped however Unicode spells them (macOS decomposes "é" in file names).
    assert sets.track_name("Beyonc\u00e9 - D\u00e9j\u00e0 Vu.wav") == sets.track_name("Beyonce\u0301 - De\u0301ja\u0300 Vu.wav") \
        == "beyonce-deja-vu"
    # Titles with no ASCII spelling get distinct names (they were all "track": the second refused).
    names = [sets.track_name(n) for n in ("\u041a\u0438\u043d\u043e.mp3", "\u0426\u043e\u0439.mp3", "\u6771\u4eac.flac")]
    assert len(set(names)) == 3 and all(n == sets.track_name(n) and n.isascii() for n in names)
    assert names[0] == sets.track_name("/elsewhere/\u041a\u0438\u043d\u043e.mp3")  # the same file, the same name
    assert song.song_name("\u041a\u0438\u043d\u043e.mp3") == f"song-{names[0]}"
    assert sets.track_name("Daft Punk - One More Time.mp3") == "daft-punk-one-more-time"


def test_rekordbox_grid_follows_tempo_changes_and_the_bar_count(tmp_path):
    # 120 BPM from 0.5 s, the first beat a "3": downbeats two beats later; then 126 BPM from a downbeat.
    # As in rekordbox, the first tempo also runs back to the file's start (a beat "2" at 0 s).
    xml = _rekordbox_xml(tmp_path / "rb.xml", {tmp_path / "a b.wav": [(0.5, 120.0, 3), (8.5, 126.0, 1)]})
    grids = sets.read_rekordbox(xml)
    grid = sets.grid_for(grids, tmp_path / "a b.wav")
    assert grid is not None and grid.origin == "rekordbox" and grid.beats_per_bar == 4
    assert np.allclose(grid.beats[:17], 0.5 * np.arange(17))
    assert grid.beats[17] == pytest.approx(8.5) and grid.beats[18] == pytest.approx(8.5 + 60 / 126, abs=1e-4)
    assert np.allclose(grid.downbeats[:4], [1.5, 3.5, 5.5, 7.5]) and grid.downbeats[4] == pytest.approx(8.5)
    # Matched by file name when the export came from another machine (a different folder).
    assert sets.grid_for(grids, "/elsewhere/a b.wav") is grid
    assert sets.location_path("file://localhost/C:/Music/a%20b.mp3") == "C:/Music/a b.mp3"


def test_one_unreadable_grid_spoils_no_other_track_of_the_export(tmp_path):
    # A whole collection is exported: one track's bad TEMPO says why for that track alone.
    xml = tmp_path / "rb.xml"
    xml.write_text('<DJ_PLAYLISTS><COLLECTION>'
                   '<TRACK Location="file://localhost/m/bad.wav"><TEMPO Inizio="0" Bpm="x"/></TRACK>'
                   '<TRACK Location="file://localhost/m/zero.wav"><TEMPO Inizio="0" Bpm="0.00"/></TRACK>'
                   '<TRACK Location="file://localhost/m/good.wav"><TEMPO Inizio="0" Bpm="120" Battito="1"/></TRACK>'
                   "</COLLECTION></DJ_PLAYLISTS>")
    grids = sets.read_rekordbox(xml)
    assert isinstance(sets.grid_for(grids, "/m/good.wav"), sets.Grid)
    for name in ("bad", "zero"):
        why = sets.grid_for(grids, f"/m/{name}.wav")
        assert isinstance(why, str) and "TEMPO" in why and str(xml) in why and "\n" not in why


def test_a_grid_is_found_however_unicode_spells_the_file_name(tmp_path):
    # macOS writes "é" in file names decomposed (e + a combining accent), an export may compose it.
    composed, decomposed = "Beyonc\u00e9 - D\u00e9j\u00e0 Vu.wav", "Beyonce\u0301 - De\u0301ja\u0300 Vu.wav"
    xml = _rekordbox_xml(tmp_path / "rb.xml", {tmp_path / composed: [(0.5, 120.0, 1)]})
    grids = sets.read_rekordbox(xml)
    assert isinstance(sets.grid_for(grids, tmp_path / decomposed), sets.Grid)
    assert isinstance(sets.grid_for(grids, "/elsewhere/" + decomposed), sets.Grid)


@pytest.mark.parametrize("text, words", [
    ("<DJ_PLAYLISTS><COLLECTION>", "not valid XML"),
    ("<html><body/></html>", "not a rekordbox collection export"),
])
def test_a_bad_rekordbox_xml_is_one_line(tmp_path, text, words):
    bad = tmp_path / "bad.xml"
    bad.write_text(text)
    with pytest.raises(sets.SetError, match=words) as err:
        sets.read_rekordbox(bad)
    assert "\n" not in str(err.value)
    with pytest.raises(sets.SetError, match="no such rekordbox XML"):
        sets.read_rekordbox(tmp_path / "missing.xml")


def test_an_export_that_is_not_rekordbox_s_or_not_a_file_is_refused_before_it_is_read(tmp_path):
    # Another XML document is refused at its root, whatever follows it.
    other = tmp_path / "other.xml"
    other.write_bytes(b"<html><body>" + b"<p>" * 1000 + b"&broken")
    with pytest.raises(sets.SetError, match="not a rekordbox collection export"):
        sets.read_rekordbox(other)
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    with pytest.raises(sets.SetError, match="not a regular file"):
        sets.read_rekordbox(fifo)


@pytest.mark.parametrize("location, path", [
    # rekordbox leaves '#' unescaped (a URL parser took it for a fragment and cut the name there)
    ("file://localhost/C:/Kit/04%20Kit%20%26%20Kin%20#1%20(100%25%20Flip).mp3", "C:/Kit/04 Kit & Kin #1 (100% Flip).mp3"),
    ("file://localhost/Users/dj/Music/Why%3F%20-%20What?.mp3", "/Users/dj/Music/Why? - What?.mp3"),
    ("file://localhost/Users/dj/%23%20Caf%C3%A9%20%E6%9D%B1%E4%BA%AC.mp3", "/Users/dj/# Caf\u00e9 \u6771\u4eac.mp3"),
    ("file://localhost/Volumes/USB%20Key/a+b.mp3", "/Volumes/USB Key/a+b.mp3"),  # '+' is no space here
    ("file:///C:/Music/a.mp3", "C:/Music/a.mp3"),
    ("file://localhost//NAS/Music/a.mp3", "//NAS/Music/a.mp3"),  # network shares, either spelling
    ("file://NAS/Music/a.mp3", "//NAS/Music/a.mp3"),
    ("soundcloud:tracks:12345", "soundcloud:tracks:12345"),  # a stream: no file, kept as it is
])
def test_rekordbox_locations_are_read_whole(location, path):
    assert sets.location_path(location) == path


def _export(path: Path, tracks: str, encoding: str = "utf-8", bom: bytes = b"") -> Path:
    """A rekordbox export around raw ``TRACK`` elements, written in ``encoding``."""
    text = (f'<?xml version="1.0" encoding="{encoding}"?>\n<DJ_PLAYLISTS Version="1.0.0">\n'
            '  <PRODUCT Name="rekordbox" Version="7.0.4" Company="AlphaTheta"/>\n'
            f'  <COLLECTION Entries="9">\n{tracks}\n  </COLLECTION>\n'
            '  <PLAYLISTS><NODE Type="0" Name="ROOT" Count="1"><NODE Name="gig" Type="1" KeyType="0" Entries="1">'
            '<TRACK Key="1"/></NODE></NODE></PLAYLISTS>\n</DJ_PLAYLISTS>\n')
    path.write_bytes(bom + text.encode(encoding))
    return path


def test_a_track_is_found_by_its_windows_path_whatever_its_case_or_slashes(tmp_path):
    # Two tracks share a file name: only the full path tells them apart (Windows ignores case).
    xml = _export(tmp_path / "rb.xml",
                  '<TRACK TrackID="1" Location="file://localhost/C:/Music/House/Intro.mp3" TotalTime="60">'
                  '<TEMPO Inizio="0.010" Bpm="124.00" Metro="4/4" Battito="1"/></TRACK>'
                  '<TRACK TrackID="2" Location="file://localhost/C:/Music/Techno/Intro.mp3" TotalTime="60">'
                  '<TEMPO Inizio="0.020" Bpm="132.00" Metro="4/4" Battito="1"/></TRACK>')
    grids = sets.read_rekordbox(xml, ["c:\\music\\techno\\INTRO.mp3"])
    grid = sets.grid_for(grids, "c:\\music\\techno\\INTRO.mp3")
    assert isinstance(grid, sets.Grid) and grid.beats[0] == pytest.approx(0.02)
    assert sets.grid_for(grids, "/elsewhere/Intro.mp3") is None  # by name alone: two candidates, none taken


def test_a_grid_that_starts_late_or_a_hair_before_zero_runs_from_the_files_start(tmp_path):
    # First TEMPO at 30 s, a "3": rekordbox runs its tempo back to the start, so the beats and bars
    # before it follow it (they were missing: the intro had no grid).
    xml = _export(tmp_path / "rb.xml",
                  '<TRACK TrackID="1" Location="file://localhost/m/late.mp3" TotalTime="60">'
                  '<TEMPO Inizio="30.000" Bpm="120.00" Metro="4/4" Battito="3"/></TRACK>'
                  '<TRACK TrackID="2" Location="file://localhost/m/early.mp3" TotalTime="60">'
                  '<TEMPO Inizio="-0.012" Bpm="128.0000001" Metro="4/4" Battito="1"/></TRACK>'
                  '<TRACK TrackID="3" Location="file://localhost/m/waltz.mp3" TotalTime="60">'
                  '<TEMPO Inizio="0.100" Bpm="90.00" Metro="3/4" Battito="1"/></TRACK>')
    grids = sets.read_rekordbox(xml)
    late = sets.grid_for(grids, "/m/late.mp3")
    assert isinstance(late, sets.Grid) and np.allclose(late.beats[:4], [0.0, 0.5, 1.0, 1.5])
    assert late.downbeats[0] == pytest.approx(1.0) and 30.0 in late.downbeats - 1.0  # 30 s is a "3"
    assert np.allclose(np.diff(late.beats), 0.5) and late.beats[-1] == pytest.approx(61.0)
    early = sets.grid_for(grids, "/m/early.mp3")  # was refused: "its TEMPO cannot be read (Inizio -0.012 ...)"
    assert isinstance(early, sets.Grid) and early.beats[0] == pytest.approx(-0.012 + 60 / 128, abs=1e-4)
    assert early.downbeats[0] == pytest.approx(-0.012 + 4 * 60 / 128, abs=1e-4)
    waltz = sets.grid_for(grids, "/m/waltz.mp3")
    assert waltz.beats_per_bar == 3 and np.allclose(np.diff(waltz.downbeats), 2.0)


def test_duplicate_tempo_rows_and_tracks_listed_twice_give_one_grid(tmp_path):
    rows = "".join(f'<TEMPO Inizio="{0.5 * i:.3f}" Bpm="120.00" Metro="4/4" Battito="{i % 4 + 1}"/>' * 2 for i in range(40))
    xml = _export(tmp_path / "rb.xml",
                  f'<TRACK TrackID="1" Location="file://localhost/m/a.mp3" TotalTime="20">{rows}</TRACK>'
                  '<TRACK TrackID="2" Location="file://localhost/m/a.mp3" TotalTime="20">'
                  '<TEMPO Inizio="0" Bpm="0.00"/></TRACK>'
                  '<TRACK TrackID="3" Location="file://localhost/m/a.mp3" TotalTime="20"/>')
    grid = sets.grid_for(sets.read_rekordbox(xml), "/m/a.mp3")
    assert isinstance(grid, sets.Grid)  # the readable entry stands (the later, broken one replaced it)
    assert np.allclose(grid.beats, 0.5 * np.arange(len(grid.beats))) and grid.beats[-1] == pytest.approx(29.5)
    assert np.allclose(grid.downbeats, 2.0 * np.arange(len(grid.downbeats)))


def test_a_grid_is_fitted_to_the_audio_when_total_time_is_missing_or_wrong():
    tempo = ET.fromstring('<TEMPO Inizio="0.25" Bpm="120.00" Metro="4/4" Battito="1"/>')
    short = sets.grid_from_tempos([tempo], 0.0)  # no TotalTime: 10 s of grid
    assert short.beats[-1] == pytest.approx(10.25)
    fitted = sets.fit_grid(short, 180.4)  # the audio is 3 minutes: its last tempo and bars carry on
    assert fitted.beats[-1] == pytest.approx(180.25) and np.allclose(np.diff(fitted.beats), 0.5)
    assert np.allclose(fitted.downbeats, 0.25 + 2.0 * np.arange(len(fitted.downbeats)))
    cut = sets.fit_grid(sets.grid_from_tempos([tempo], 300.0), 120.0)  # the export's file was longer
    assert cut.beats[-1] <= 120.0 and cut.downbeats[-1] <= 120.0


@pytest.mark.parametrize("encoding, bom", [("utf-8", b"\xef\xbb\xbf"), ("utf-16", b""), ("iso-8859-1", b""),
                                           ("windows-1252", b"")])
def test_an_export_in_another_encoding_or_with_a_bom_is_read(tmp_path, encoding, bom):
    xml = _export(tmp_path / "rb.xml",
                  '<TRACK TrackID="1" Name="D\u00e9j\u00e0" Location="file://localhost/m/D%C3%A9j%C3%A0.mp3">'
                  '<TEMPO Inizio="0.02" Bpm="120" Metro="4/4" Battito="1"/></TRACK>', encoding, bom)
    source = "/x/De\u0301ja\u0300.mp3"  # as macOS spells it, on another machine
    assert isinstance(sets.grid_for(sets.read_rekordbox(xml, [source]), source), sets.Grid)


def test_the_set_s_tracks_are_read_from_a_big_collection_with_a_tempo_per_beat(tmp_path):
    # rekordbox writes one TEMPO per beat for a dynamic grid (~70 bytes each): a 10,000-track
    # collection of 7-minute tracks is ~650 MB; the set's few tracks are all that is gridded.
    beats = "".join(f'      <TEMPO Inizio="{0.025 + i * 0.46875:.3f}" Bpm="128.00" Metro="4/4" Battito="{i % 4 + 1}"/>\n'
                    for i in range(300))
    tracks = "".join(f'<TRACK TrackID="{k}" Name="T{k}" Location="file://localhost/Users/dj/Music/t{k}.mp3" '
                     f'TotalTime="141">\n{beats}</TRACK>\n' for k in range(1000))
    xml = _export(tmp_path / "rb.xml", tracks)
    wanted = ["/Users/dj/Music/t7.mp3", "/Users/dj/Music/t993.mp3"]
    tracemalloc.start()
    try:
        grids = sets.read_rekordbox(xml, wanted)  # ~20 MB, 300,000 TEMPO rows
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < xml.stat().st_size / 4  # streamed: it was read whole first (peak over its size)
    inizio = np.round(0.025 + 0.46875 * np.arange(300), 3)
    assert sorted(grids) == wanted and all(np.allclose(grids[w].beats[:300], inizio, atol=1e-3) for w in wanted)


def _mix(a: np.ndarray, b: np.ndarray, speed: float, resampled: bool, at: float = 6.0, fade: float = 4.0) -> np.ndarray:
    """``a`` then ``b`` (played at ``speed``) coming in at ``at`` s over a ``fade`` s crossfade."""
    inc = bench.play(b, speed, resampled)
    n = int((at + fade + 6.0) * RATE)
    inc = np.pad(inc, (0, n))[: n - int(at * RATE)]
    out = np.resize(a, n).copy()
    ramp = np.clip((np.arange(n) / RATE - at) / fade, 0.0, 1.0)
    out *= np.cos(ramp * np.pi / 2)
    out[int(at * RATE):] += inc * np.sin(ramp[int(at * RATE):] * np.pi / 2)
    return out.astype(np.float32)


@pytest.mark.parametrize("speed, resampled", [(0.92, True), (1.06, False), (1.08, True)])
def test_index_follows_a_track_in_a_blend_at_another_speed_and_never_claims_others(tunes, speed, resampled):
    index = fp.Index(["t0", "t1"], [fp.landmarks(tunes[0], RATE), fp.landmarks(tunes[1], RATE)])
    mix = _mix(tunes[2], tunes[1], speed, resampled)  # t2 is not in the set
    named = {}
    for end in np.arange(4.0, len(mix) / RATE, 0.5):
        m = index.match(mix[int((end - 4.0) * RATE): int(end * RATE)], RATE)
        named[end] = m
        assert m is None or m.track == 1, f"claimed {m} at {end} s"
    hits = [t for t, m in named.items() if m is not None]
    assert hits and hits[0] <= 8.0 + 4.0  # within 4 s of the blend's middle (8 s)
    m = named[hits[-1]]
    assert m.speed == pytest.approx(speed, abs=0.01) and m.resampled == resampled
    # Position: the incoming track started at 0 s of its file at 6 s of the mix.
    assert m.position == pytest.approx((hits[-1] - 6.0) * speed, abs=0.08)


def test_align_reports_both_decks_of_a_blend_and_which_leads_the_newest_second(tunes):
    index = fp.Index(["t0", "t1"], [fp.landmarks(tunes[0], RATE), fp.landmarks(tunes[1], RATE)])
    mix = _mix(tunes[0], tunes[1], 1.04, True)  # t1 comes in at 6 s; the blend's middle is at 8 s
    window = mix[6 * RATE:9 * RATE]
    assert index.match(window, RATE) is None  # neither is there clearly on its own
    found = index.align(window, RATE)
    out, inc = found.matches[:2]
    assert (out.track, inc.track) == (0, 1) and out.score > inc.score >= fp.MIN_SCORE
    assert inc.recent > 2 * out.recent and found.recent_pairs > inc.recent  # t1 leads the newest second
    assert out.position == pytest.approx(9.0, abs=0.08) and inc.position == pytest.approx(3.0 * 1.04, abs=0.08)
    alone = index.align(mix[12 * RATE:15 * RATE], RATE).matches[0]
    assert fp.identified(alone.score, alone.margin) and index.match(mix[12 * RATE:15 * RATE], RATE) == alone


def test_music_not_in_the_set_and_silence_are_refused(tunes):
    import librosa

    index = fp.Index(["t0"], [fp.landmarks(tunes[0], RATE)])
    shifted = librosa.effects.pitch_shift(tunes[1], sr=RATE, n_steps=2)
    for y in (tunes[1], tunes[2], shifted, np.zeros(4 * RATE, np.float32)):
        for end in np.arange(4.0, len(y) / RATE, 1.0):
            assert index.match(y[int((end - 4.0) * RATE): int(end * RATE)], RATE) is None
    assert index.match(tunes[0][: RATE // 2], RATE) is None  # too short to say


@pytest.fixture(scope="module")
def prepared(tunes, tmp_path_factory):
    """A set from two synthetic tracks, one with a varying rekordbox grid, plus the CLI's output."""
    tmp = tmp_path_factory.mktemp("set")
    files = []
    for k, y in enumerate(tunes[:2]):
        files.append(tmp / f"Track {k}.wav")
        sf.write(files[-1], y, RATE)
    (tmp / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    sf.write(tmp / "silent.wav", np.zeros(10 * RATE, np.float32), RATE)
    # Track 0 is at 120 BPM with its first kick at 0 s; the DJ's grid in the XML nudges the tempo mid-way.
    bpms = [120.0 if i < 16 else 119.5 for i in range(32)]  # one TEMPO per beat, as rekordbox writes a varying grid
    starts = np.concatenate([[0.0], np.cumsum(60.0 / np.array(bpms))])
    tempos = [(float(starts[i]), bpms[i], i % 4 + 1) for i in range(32)]
    xml = _rekordbox_xml(tmp / "rekordbox.xml", {files[0]: tempos})
    setdir = tmp / "gig"
    return tmp, files, xml, setdir


def test_set_add_refuses_bad_tracks_in_one_line_each_and_keeps_the_rest(prepared, capsys):
    tmp, files, xml, setdir = prepared
    rc = main(["set", "add", str(setdir), str(files[0]), str(tmp / "missing.wav"), str(tmp / "corrupt.wav"),
               str(tmp / "silent.wav"), str(files[1]), "--rekordbox-xml", str(xml), "--tracker", "librosa"])
    out = capsys.readouterr().out
    assert rc == 0, out
    skipped = [line for line in out.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 3 and all(w in " ".join(skipped) for w in ("missing.wav", "corrupt.wav", "silent"))
    tracks = {t.name: t for t in sets.list_tracks(setdir)}
    assert set(tracks) == {"track-0", "track-1"}
    t0, t1 = tracks["track-0"], tracks["track-1"]
    assert t0.origin == "rekordbox" and t1.origin == "librosa"
    assert t0.beats[:3] == [0.0, 0.5, 1.0] and t0.downbeats[:2] == [0.0, 2.0] and t0.sections
    assert t0.beats[17] - t0.beats[16] == pytest.approx(60 / 119.5, abs=1e-3)  # the varying grid is kept
    point = t0.locate(2.25)
    assert point.beat == pytest.approx(4.5) and point.bar == pytest.approx(1.125) and point.beat_in_bar == pytest.approx(0.5)
    doc = json.loads((setdir / "track-0" / sets.TRACK_FILE).read_text())
    assert doc["origin"] == "rekordbox" and doc["format"] == sets.FORMAT
    # Again (the same command run once more): both are already there, one line each, nothing changes, no error;
    # track 0 keeps the export's grid though this run has no export.
    rc = main(["set", "add", str(setdir), str(files[0]), str(files[1]), "--tracker", "librosa"])
    out = capsys.readouterr().out
    assert rc == 0 and out.count("kept: ") == 2 and out.count("already in the set, unchanged") == 2
    assert sets.list_tracks(setdir)[0].origin == "rekordbox"
    assert main(["set", "list", str(setdir)]) == 0
    listing = capsys.readouterr().out
    assert "2 tracks" in listing and "rekordbox" in listing
    # The loaded set names the track playing at another speed, with its position.
    index = sets.SetIndex.load(setdir)
    y = bench.play(np.asarray(sf.read(files[1], dtype="float32")[0]), 1.05, True)
    m = index.match(y[int(5 * RATE): int(9 * RATE)], RATE)
    assert m is not None and m.name == "track-1" and m.track.name == "track-1"
    assert m.position == pytest.approx(9 * 1.05, abs=0.08) and m.speed == pytest.approx(1.05, abs=0.01)


def test_set_add_with_a_bad_xml_is_one_line_and_adds_nothing(prepared, capsys, tmp_path):
    tmp, files, _, _ = prepared
    bad = tmp_path / "bad.xml"
    bad.write_text("<DJ_PLAYLISTS><COLLECTION>")
    rc = main(["set", "add", str(tmp_path / "s"), str(files[0]), "--rekordbox-xml", str(bad), "--tracker", "librosa"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "not valid XML" in err
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_a_track_whose_xml_grid_cannot_be_read_is_analysed_from_its_audio(prepared, caplog, tmp_path, monkeypatch):
    import logging
    import sys

    from tqdm import tqdm

    tmp, files, _, _ = prepared
    xml = _rekordbox_xml(tmp_path / "rb.xml", {files[1]: [(0.0, 0.0, 1)]})  # Bpm 0.00: no grid to use
    # The console's log lines go above the progress bar (tqdm.write), not through it.
    above: list[str] = []
    monkeypatch.setattr(tqdm, "write", classmethod(lambda cls, s, file=None, end="\n", nolock=False: above.append(s)))
    console = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(console)
    try:
        with caplog.at_level("WARNING"):
            rc = main(["set", "add", str(tmp_path / "s"), str(files[1]), "--rekordbox-xml", str(xml), "--tracker", "librosa"])
    finally:
        logging.getLogger().removeHandler(console)
    assert rc == 0
    assert [t.origin for t in sets.list_tracks(tmp_path / "s")] == ["librosa"]
    assert any("TEMPO" in r.getMessage() and "analysing its audio" in r.getMessage() for r in caplog.records)
    assert any("TEMPO" in line and "analysing its audio" in line for line in above), above


def test_an_export_without_total_time_gives_a_grid_over_the_whole_track(prepared, caplog, tmp_path):
    tmp, files, _, _ = prepared
    xml = _export(tmp_path / "rb.xml", f'<TRACK TrackID="1" Location="file://localhost{urllib.parse.quote(str(files[1]))}">'
                  '<TEMPO Inizio="0.000" Bpm="100.00" Metro="4/4" Battito="1"/></TRACK>')  # no TotalTime
    with caplog.at_level("WARNING"):
        rc = main(["set", "add", str(tmp_path / "s"), str(files[1]), str(files[0]), "--rekordbox-xml", str(xml),
                   "--tracker", "librosa"])
    assert rc == 0
    tracks = {t.name: t for t in sets.list_tracks(tmp_path / "s")}
    t1 = tracks["track-1"]
    assert t1.origin == "rekordbox" and t1.beats[-1] == pytest.approx(19.8) and len(t1.beats) == 34  # was 10 s of it
    assert t1.downbeats[-1] == pytest.approx(19.2) and max(t1.beats) <= t1.duration
    assert tracks["track-0"].origin == "librosa"  # not in the export: said, and analysed from its audio
    assert any("not in" in r.getMessage() and "track 0" in r.getMessage().lower() for r in caplog.records)

def test_an_interrupted_set_add_keeps_the_finished_tracks(prepared, capsys, tmp_path, monkeypatch):
    tmp, files, _, _ = prepared
    real = sets.prepare_track
    calls = []

    def prepare(source, setdir, **kw):
        calls.append(source)
        if len(calls) == 2:
            (Path(setdir) / sets.track_name(source)).mkdir(parents=True)  # half-made, as a Ctrl-C leaves it
            raise KeyboardInterrupt
        return real(source, setdir, **kw)

    monkeypatch.setattr(sets, "prepare_track", prepare)
    rc = main(["set", "add", str(tmp_path / "s"), str(files[0]), str(files[1]), "--tracker", "librosa"])
    out = capsys.readouterr().out
    assert rc == 130 and "interrupted: 1 track(s) kept" in out
    assert [t.name for t in sets.list_tracks(tmp_path / "s")] == ["track-0"]
    monkeypatch.setattr(sets, "prepare_track", real)
    assert main(["set", "add", str(tmp_path / "s"), str(files[1]), "--tracker", "librosa"]) == 0  # the rest, later
    assert [t.name for t in sets.list_tracks(tmp_path / "s")] == ["track-0", "track-1"]
    assert main(["set", "remove", str(tmp_path / "s"), "track-0"]) == 0
    assert main(["set", "remove", str(tmp_path / "s"), "nope"]) == 2
    assert "no such track" in capsys.readouterr().err
    assert [t.name for t in sets.list_tracks(tmp_path / "s")] == ["track-1"]


def test_set_add_decodes_each_track_once(prepared, capsys, tmp_path, monkeypatch):
    from live import audiofile

    tmp, files, _, _ = prepared
    real, decoded = audiofile.decode, []
    monkeypatch.setattr(audiofile, "decode", lambda path: decoded.append(str(path)) or real(path))
    rc = main(["set", "add", str(tmp_path / "s"), str(files[1]), "--tracker", "librosa", "--song",
               "--presets-dir", str(tmp_path / "presets")])
    assert rc == 0, capsys.readouterr().out
    assert decoded == [str(files[1])]  # one decode for the grid, the sections, the plan and the fingerprints
    seen = []

    def tracker(y: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:  # as madmom's: the samples decoded
        seen.append(len(y) / rate)
        beats = np.arange(0.0, len(y) / rate, 0.6)
        return beats, beats[::4]

    decoded.clear()
    track = sets.prepare_track(files[0], tmp_path / "s", tracker=tracker, tracker_name="madmom")
    assert decoded == [str(files[0])] and seen == [pytest.approx(20.0, abs=0.01)]
    assert track.origin == "madmom" and track.bpm == pytest.approx(100.0, abs=0.1)


def test_set_add_reads_a_djs_aac_m4a_track(tunes, tmp_path, capsys):
    import av

    path = tmp_path / "Artist - Title.m4a"  # AAC in an MP4 container, as iTunes and stores sell it
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tunes[2][None, :].astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    assert main(["set", "add", str(tmp_path / "s"), str(path), "--tracker", "librosa"]) == 0, capsys.readouterr().out
    track = sets.list_tracks(tmp_path / "s")[0]
    assert track.name == "artist-title" and track.duration == pytest.approx(20.0, abs=0.1)  # was "cannot read it as audio"


def test_a_broken_track_leaves_the_loaded_set_with_one_line(prepared, tmp_path, caplog):
    import shutil

    from live.show.inputs import load_set

    _, _, _, setdir = prepared
    copy = tmp_path / "copy"
    shutil.copytree(setdir, copy)
    (copy / "track-1" / sets.PRINTS_FILE).write_bytes(b"not a zip")
    shutil.copytree(copy / "track-0", copy / "track-2")
    (copy / "track-2" / sets.TRACK_FILE).write_text('{"name": "track-2", "bpm": ')  # cut short
    with caplog.at_level("WARNING"):
        index = load_set(str(copy), None)
    assert [t.name for t in index.tracks] == ["track-0"]
    assert len(index.skipped) == 2 and "corrupt fingerprint" in " ".join(index.skipped) and "track-2" in " ".join(index.skipped)
    logged = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(logged) == 2 and all(line.startswith("left out of the set") for line in logged)  # each once


def test_bench_set_small_case_identifies_within_4_s_without_false_claims():
    f = bench.measure(synth=2, speeds=(0.92, 1.08), variants=False, big_tracks=3, big_minutes=0.5, use_clips=False)
    assert len(f.latencies) == 2 * 2 * 2 and max(f.latencies) <= bench.TARGET_S, f.cases
    assert f.wrong_in_mix == 0 and f.false_windows == 0
    assert f.core_share < 0.5 and f.big["tracks"] == 3 and f.big["cached_s"] < 2.0
    assert any("identification" in line for line in bench.report(f))
    # Through a microphone in a room: the right track in most windows, never a wrong one, no claim on the rest.
    assert len(f.rooms) == len(bench.ROOMS) and all(wrong == 0 and claims == 0 for _, _, wrong, _, claims, _ in f.rooms)
    assert f.rooms[0][1] >= 0.9 * f.rooms[0][3] and any("through a room" in line for line in bench.report(f))
