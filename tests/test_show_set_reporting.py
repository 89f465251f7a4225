"""What a DJ sees of a prepared set (``--set``): the one-line refusal of a broken set, the phrase
count, the HUD's track line and /status while the models load. Fast: sets written by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from live import fingerprint as fp
from live.cli import main
from live.library import sets
from live.messages import AudioState, TrackPosition

BEAT = 0.5  # 120 BPM


def _track(name: str, first: float = 0.25, bars: int = 32, sections: tuple[float, ...] = (0.0,)) -> dict:
    beats = [round(first + k * BEAT, 4) for k in range(bars * 4)]
    return {"name": name, "source": f"/music/{name}.wav", "duration": round(beats[-1] + BEAT, 3), "origin": "librosa",
            "bpm": 120.0, "beats_per_bar": 4, "beats": beats, "downbeats": beats[::4],
            "sections": [{"name": f"s{k}", "start": s} for k, s in enumerate(sections)], "landmarks": 3,
            "song_preset": "", "format": sets.FORMAT}


def _write(setdir: Path, doc: dict, prints: bool = True) -> Path:
    folder = setdir / doc["name"]
    folder.mkdir(parents=True)
    if prints:
        sets.save_landmarks(folder / sets.PRINTS_FILE, fp.Landmarks(hashes=np.array([1, 2, 3], np.uint32),
                                                                   frames=np.array([0, 5, 9], np.uint32)))
    (folder / sets.TRACK_FILE).write_text(json.dumps(doc))
    return folder


def test_a_set_whose_every_track_is_broken_says_why_in_one_line(tmp_path, capsys):
    setdir = tmp_path / "gig"
    _write(setdir, _track("a"), prints=False)  # its fingerprints deleted
    (_write(setdir, _track("b")) / sets.TRACK_FILE).write_text('{"name": "b", "bpm": ')  # cut short
    with pytest.raises(sets.SetError) as err:
        sets.SetIndex.load(setdir)
    message = str(err.value)
    assert "2 broken" in message and "track.json: not a track file" in message and "(and 1 more)" in message and "no prepared tracks" not in message
    assert main(["beats", str(tmp_path / "any.wav"), "--set", str(setdir)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "broken" in lines[0]


@pytest.mark.parametrize("change, words", [
    ({"beats": [1.0]}, "beats"), ({"beats": ["1.0", "1.5"]}, "beats"), ({"beats": [1.0, 1.0, 1.5]}, "beats"),
    ({"downbeats": [2.0, 1.0]}, "downbeats"), ({"duration": "forty"}, "duration"), ({"beats_per_bar": 0}, "beats_per_bar"),
    ({"sections": [{"name": "x"}]}, "sections"),
])
def test_a_track_whose_grid_the_show_cannot_use_is_left_out_when_the_set_loads(tmp_path, change, words):
    setdir = tmp_path / "gig"
    _write(setdir, _track("good"))
    _write(setdir, {**_track("bad"), **change})
    index = sets.SetIndex.load(setdir)
    assert [t.name for t in index.tracks] == ["good"]
    assert len(index.skipped) == 1 and "bad" in index.skipped[0] and words in index.skipped[0]


def test_phrases_count_from_the_sections_first_downbeat():
    # The first section starts at 0.0, a quarter second before the first downbeat; the second one
    # starts on bar 16's downbeat, written 3 ms late (rounded).
    track = sets.PreparedTrack(**_track("a", sections=(0.0, 0.25 + 16 * 4 * BEAT + 0.003)))
    bar = 4 * BEAT

    def phrase(bars: float) -> int:
        return track.locate(0.25 + bars * bar).phrase

    assert [phrase(b) for b in (0.5, 7.5, 7.99, 8.01, 15.5)] == [0, 0, 0, 1, 1]
    assert [phrase(b) for b in (16.5, 23.5, 24.5)] == [0, 0, 1]


def test_the_hud_track_line_rolls_the_minute_over():
    from live.visuals.hud import clock_text, status_lines

    state = AudioState(track=TrackPosition(name="a", position=59.97, speed=1.0, bar=30, phrase=3, section=0))
    line = [x for x in status_lines({"preset": "demo"}, state) if x.startswith("track a")][0]
    assert "1:00.0" in line and "0:60.0" not in line
    assert clock_text(125.04) == "2:05.0" and clock_text(9.96) == "0:10.0"


def test_status_while_the_models_load_names_the_track_and_the_tempo(tmp_path):
    from live.show.runner import Stage

    class Holding:
        ticks = 0

        def tick(self, now: float, state: AudioState) -> None:
            self.ticks += 1

    stage = Stage(Holding(), lambda: None, tmp_path)
    track = TrackPosition(name="a", position=12.345, speed=1.04, bar=5, phrase=0, section=0)
    stage.tick(1.0, AudioState(tempo=128.0, confidence=1.0, tempo_source="set", track=track))
    status = stage.status()
    assert status["holding"] == "loading" and stage.holding.ticks == 1
    assert status["tempo_source"] == "set" and status["bpm"] == 128.0
    assert (status["track"], status["track_position"], status["track_speed"], status["track_bar"]) == ("a", 12.35, 1.04, 5)


def test_the_grids_tempo_is_steady_on_a_grid_quantised_to_analysis_frames():
    # librosa's beats sit on 512-sample frames at 22050 Hz: one interval's tempo jumps 123 <-> 129
    # BPM on a 123.8 BPM track; the published tempo must not flicker with it.
    frame = 512 / 22050
    beats = [round(round((0.2 + k * 60 / 123.8) / frame) * frame, 4) for k in range(160)]
    doc = {**_track("a"), "beats": beats, "downbeats": beats[::4], "duration": beats[-1] + 0.5}
    track = sets.PreparedTrack(**doc)
    tempos = [track.locate(p).steady_bpm for p in np.arange(0.0, beats[-1] + 1.0, 0.1)]
    assert max(tempos) - min(tempos) < 1.0 and abs(float(np.median(tempos)) - 123.8) < 0.3
    # ... while the clock keeps each beat's own interval (where it places the next beat).
    assert track.locate(beats[10] + 0.01).bpm == pytest.approx(60.0 / (beats[11] - beats[10]))
    # A grid that changes tempo (a rekordbox grid) still gives each part its own.
    steps = np.concatenate([np.arange(64) * 0.5, 32.0 + np.arange(1, 65) * 60 / 128])
    changed = sets.PreparedTrack(**{**_track("b"), "beats": steps.tolist(), "downbeats": steps[::4].tolist(),
                                    "duration": float(steps[-1]) + 0.5})
    assert changed.locate(10.0).steady_bpm == pytest.approx(120.0) and changed.locate(50.0).steady_bpm == pytest.approx(128.0)


def test_the_tempo_said_while_a_set_track_plays_is_its_grids_steady_one():
    """beats --set: the tempo each committed beat says (the published tempo, as /status and the HUD)
    stays steady on a grid quantised to analysis frames, while the clock follows the grid beat by beat."""
    from live.audio.beats import track_beats
    from live.bench.set import synth_tune

    rate, bpm = 22050, 123.8
    y = synth_tune(10, bpm=bpm, seconds=24.0)
    frame = 512 / rate
    beats = [round(round(k * 60 / bpm / frame) * frame, 4) for k in range(int(24 * bpm / 60))]
    track = sets.PreparedTrack(**{**_track("a"), "beats": beats, "downbeats": beats[::4], "duration": 24.0})
    index = sets.SetIndex([track], fp.Index(["a"], [fp.landmarks(y, rate)]))
    said = [b["bpm"] for b in track_beats(y, rate, matcher=index) if b["track"] == "a" and b["time"] > 6.0]
    assert len(said) > 20 and max(said) - min(said) < 1.5 and abs(float(np.median(said)) - bpm) < 1.0, said


def _follow_grid(clock, t0: float, t1: float, name: str, first_beat: float, period: float = 0.5) -> float:
    """Offer the set readings of track ``name`` (its grid beat ``first_beat`` at t0) every 10 ms up to t1."""
    from live.messages import TempoReading

    t = t0
    while t < t1:
        clock.offer(TempoReading("set", 60.0 / period, first_beat + (t - t0) / period, t), name)
        clock.sync(t)
        t += 0.01
    return t


def test_a_downbeat_given_by_hand_holds_for_its_track_and_the_next_tracks_grid_has_its_own_bar():
    import math

    from live.beat.clock import BeatClock

    clock = BeatClock()
    t = _follow_grid(clock, 30.0, 34.0, "a", 0.0)  # track a: its downbeats on grid beats 0, 4, 8...
    clock.resync(t + 0.5)  # R pressed a beat late: the DJ says the one is there
    one_by_hand = math.floor(clock.beats_at(t + 0.5) + 0.5)
    assert clock.downbeat_of(one_by_hand) == 0
    t = _follow_grid(clock, t, 38.0, "a", (t - 30.0) / 0.5)  # a plays on: the hand's one holds
    assert clock.downbeat_of(one_by_hand + 4) == 0
    # Track b comes in: its grid beat 1002 (the third beat of its bar) plays at tb.
    tb = t
    t = _follow_grid(clock, tb, tb + 6.0, "b", 1002.0)
    asked = t - 0.25  # between two beats, in the grid and the clock alike
    grid_beat = math.floor(1002.0 + (asked - tb) / 0.5)
    assert clock.downbeat_of(math.floor(clock.beats_at(asked))) == grid_beat % 4


def test_a_grid_that_fails_while_followed_loses_the_track_not_the_analysis(caplog):
    from live.audio.recognise import Recogniser, _Line

    track = sets.PreparedTrack(**_track("a"))
    line = _Line("a", track, 1.0)
    line.add(10.0, 5.0, 50.0)
    recogniser = Recogniser(matcher=object(), samplerate=22050)
    recogniser._line = line
    assert recogniser.at(10.2) is not None  # followed
    track.beats = [1.0]  # what a track.json of one beat made of it before the set checked grids on load
    with caplog.at_level("WARNING"):
        assert recogniser.at(10.4) is None and recogniser.following is None
    assert any("its grid cannot be followed" in r.getMessage() for r in caplog.records)
