"""`live --set SETDIR` as a DJ runs it: a real process, headless, a set of two synthetic tracks
prepared as `set add --rekordbox-xml --song` leaves them (one of them with its song preset deleted),
the audio input a file of one set track, and `/status` asked over a real OSC socket on loopback.

The track is named, the beat clock follows its grid (``tempo_source`` ``set``, its BPM), the
position moves on at the speed reported, the bar counts agree with the grid, the track's song plan
drives the picture, and the plan whose preset is gone is one warning at start-up."""

from __future__ import annotations

import math
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from live.bench import set as bench
from live.library import sets, song
from live.library.bank import PresetBank

ROOT = Path(__file__).resolve().parent.parent
RATE = 22050
TEMPI = {"tune0": 120.0, "tune1": 100.0}
SECONDS = 20.0


def _rekordbox_xml(path: Path, files: list[Path]) -> Path:
    """A rekordbox collection export with one TEMPO row per track: a steady grid from 0 s."""
    rows = []
    for k, file in enumerate(files):
        loc = "file://localhost" + urllib.parse.quote(str(file.resolve()))
        rows.append(f'<TRACK TrackID="{k + 1}" Name="{file.stem}" Location="{loc}" TotalTime="{SECONDS:.0f}">'
                    f'<TEMPO Inizio="0.000" Bpm="{TEMPI[file.stem]:.2f}" Metro="4/4" Battito="1"/></TRACK>')
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><DJ_PLAYLISTS Version="1.0.0">'
                    f'<COLLECTION Entries="{len(rows)}">{"".join(rows)}</COLLECTION></DJ_PLAYLISTS>', encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def gig(tmp_path_factory) -> Path:
    """A folder with the set (gig/), the tracks' files, presets/ (a start preset and song-tune0;
    song-tune1 deleted) and keyframes/ already built, so the show starts at once."""
    root = tmp_path_factory.mktemp("liveset")
    files = []
    for k, (name, bpm) in enumerate(TEMPI.items()):
        files.append(root / f"{name}.wav")
        sf.write(files[-1], bench.synth_tune(10 + k, bpm=bpm, seconds=SECONDS), RATE)
    report = sets.add_tracks(root / "gig", [str(f) for f in files], rekordbox_xml=_rekordbox_xml(root / "rb.xml", files),
                             song_prompt="x", presets_dir=root / "presets", progress=False)
    assert [t.name for t in report.added] == list(TEMPI) and not report.refused, report
    (root / "presets" / "song-tune1.toml").unlink()  # the DJ deleted it: its plan cannot play
    start = song.SongPlan(track="s.wav", duration=8.0, bpm=120.0, beats=[], downbeats=[], sections=[
        song.SongSection(name="s0", start=0.0, end=8.0, bars=4, energy=1.0, level="mid", key="none", mode="none")])
    song.write_song_preset(start, "x", root / "presets", "start", size=(256, 256))
    assert PresetBank.load(root / "presets", root / "keyframes").names() == ["song-tune0", "start"]  # builds them
    return root


def _status(sock: socket.socket, port: int) -> dict:
    """One ``/status`` over OSC: the ``/status/KEY value`` replies as a dict ({} when none came)."""
    sock.sendto(OscMessageBuilder("/status").build().dgram, ("127.0.0.1", port))
    out: dict = {}
    end = time.time() + 0.4
    while time.time() < end:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        msg = OscMessage(data)
        out[msg.address.removeprefix("/status/")] = msg.params[0] if msg.params else None
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_set_recognises_the_track_follows_its_grid_and_plays_its_plan(gig):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "run_live.py", "live", "--headless", "--audio", str(gig / "tune0.wav"), "--set",
         str(gig / "gig"), "--presets-dir", str(gig / "presets"), "--keyframes-dir", str(gig / "keyframes"),
         "--preset", "start", "--seconds", "40", "--osc-port", str(port), "--osc-host", "127.0.0.1",
         "--fps", "20", "--size", "64x64"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[tuple[float, dict]] = []  # (when asked, status) while tune0 is followed
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(0.1)
            deadline = time.time() + 35
            while time.time() < deadline and proc.poll() is None:
                asked = time.time()
                status = _status(sock, port)
                if status.get("track") == "tune0" and status.get("plan"):
                    seen.append((asked, status))
                if len(seen) >= 2 and seen[-1][0] - seen[0][0] >= 3.0:
                    break
                time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "show stopped" in out and "Traceback" not in out, out[-3000:]
    assert len(seen) >= 2, out[-3000:]
    (t0, first), (t1, last) = seen[0], seen[-1]
    for s in (first, last):
        assert s["tempo_source"] == "set" and s["preset"] == "song-tune0" and s["plan_section"] == s["section"] != ""
        assert abs(s["track_speed"] - 1.0) < 0.03 and abs(s["bpm"] - 120.0) < 2.5, s
        # The grid's bars: a downbeat every 2 s from 0 s at 120 BPM.
        assert abs(s["track_bar"] - math.floor(s["track_position"] / 2.0)) <= 1 and s["track_phrase"] == 0, s
        assert isinstance(s["bar"], int) and isinstance(s["beat"], int)
    moved = (last["track_position"] - first["track_position"]) % SECONDS  # the file loops
    assert moved == pytest.approx((t1 - t0) * last["track_speed"], abs=0.8), (first, last, t1 - t0)
    # The plan whose preset was deleted: one warning naming the track and the preset, before the show runs.
    lines = out.splitlines()
    warned = [i for i, line in enumerate(lines) if "song plan of tune1" in line]
    assert len(warned) == 1 and "WARNING" in lines[warned[0]] and "song-tune1" in lines[warned[0]], out[-3000:]
    assert warned[0] < next(i for i, line in enumerate(lines) if "show running" in line)
    assert "ERROR" not in out


def test_a_missing_set_is_one_error_line_before_any_window_or_thread(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(RATE, np.float32), RATE)
    done = subprocess.run([sys.executable, "run_live.py", "live", "--headless", "--set", str(tmp_path / "nope"),
                           "--audio", str(tmp_path / "a.wav"), "--seconds", "5", "--size", "64x64"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].startswith("error: ") and "no such set" in done.stderr
    # refused while checking the flags: no renderer, no model loader (it would have to be stopped)
    assert "shader" not in done.stderr and "loader" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_check_with_set_warns_of_a_plan_whose_preset_cannot_play(gig, tmp_path):
    from live.show import preflight
    from live.show.runner import ShowSettings

    only = set(preflight.PROBES) - {"presets", "set"}
    folders = {"presets_dir": str(gig / "presets"), "keyframes_dir": str(gig / "keyframes"), "preset": "start"}
    result = preflight.run_preflight(ShowSettings(set=str(gig / "gig"), **folders), skip=only)
    got = {c.name: c for c in result.checks if c.probe == "set"}
    assert got["set"].status == preflight.PASS and "2 track(s), 2 with a song plan" in got["set"].detail
    assert got["plan tune1"].status == preflight.WARN and "song-tune1" in got["plan tune1"].detail
    assert "plan tune0" not in got and result.exit_code(False) == 0
    missing = preflight.run_preflight(ShowSettings(set=str(tmp_path / "nope"), **folders), skip=only)
    bad = [c for c in missing.checks if c.probe == "set"]
    assert len(bad) == 1 and bad[0].status == preflight.FAIL and "no such set" in bad[0].detail
    assert preflight.run_preflight(ShowSettings(**folders), skip=only | {"presets"}).checks == []  # no --set, no rows
