"""A prepared set's song plans played live (live.show.setplan): a small set of synthetic tracks, each
with a song preset and plan, rendered with ``--set``: the recognised track's preset goes live and its
sections switch at their planned places in the track (at another speed too), a hot-cue jump lands in
the right section, the next track brings its own plan, a manual /preset stops the plan until then,
and the autopilot gives way while a plan drives."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from live import fingerprint as fp
from live.bench import set as bench
from live.library import sets, song
from live.messages import AudioState, Command, TrackPosition
from live.show.autopilot import Autopilot
from live.show.render import render_file
from live.show.setplan import MANUAL_GRACE_S, PlanPlayer, TrackPlan, load_plans

RATE = 22050
FPS = 10
PLANS = {"a": (120.0, (0.0, 6.3, 12.1), ("low", "high", "mid")), "b": (100.0, (0.0, 5.0), ("mid", "high"))}


def _names(track: str) -> list[str]:
    return [f"{track}{i}" for i in range(len(PLANS[track][1]))]


@pytest.fixture(scope="module")
def gig(tmp_path_factory) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """(set folder, presets folder, tunes by name): tracks a and b prepared as `set add --song` leaves
    them (track.json, fingerprint.npz, plan.json, presets/song-NAME.toml), with known section starts;
    and an ``other`` preset to start on."""
    root = tmp_path_factory.mktemp("gig")
    setdir, presets = root / "gig", root / "presets"
    tunes = {}
    for k, (name, (bpm, starts, levels)) in enumerate(PLANS.items()):
        y = bench.synth_tune(10 + k, bpm=bpm, seconds=22.0)
        tunes[name] = y
        beats = [round(i * 60.0 / bpm, 4) for i in range(int(22.0 * bpm / 60.0) + 1)]
        sections = [song.SongSection(name=f"{name}{i}", start=s, end=(starts + (22.0,))[i + 1], bars=4, energy=1.0,
                                     level=lv, key="none", mode="none")
                    for i, (s, lv) in enumerate(zip(starts, levels))]
        plan = song.SongPlan(track=f"{name}.wav", duration=22.0, bpm=bpm, beats=beats, downbeats=beats[::4],
                             sections=sections)
        song.write_song_preset(plan, "x", presets, f"song-{name}", size=(256, 256))
        track = sets.PreparedTrack(name=name, source="", duration=22.0, origin="rekordbox", bpm=bpm, beats_per_bar=4,
                                   beats=beats, downbeats=beats[::4], sections=[s.__dict__ for s in sections],
                                   song_preset=f"song-{name}")
        folder = setdir / name
        folder.mkdir(parents=True)
        sets.save_landmarks(folder / sets.PRINTS_FILE, fp.landmarks(y, RATE))
        (folder / sets.PLAN_FILE).write_text(json.dumps(plan.to_json()))
        (folder / sets.TRACK_FILE).write_text(json.dumps(track.to_json()))
    other = song.SongPlan(track="o.wav", duration=8.0, bpm=120.0, beats=[], downbeats=[], sections=[
        song.SongSection(name="o0", start=0.0, end=8.0, bars=4, energy=1.0, level="mid", key="none", mode="none")])
    song.write_song_preset(other, "x", presets, "other", size=(256, 256))
    return setdir, presets, tunes


def _render(gig, audio: np.ndarray, tmp_path: Path, presets_dir: Path | None = None,
            **kw) -> tuple[list[tuple[str, str, bool]], dict]:
    """Render ``audio`` against the set from preset ``other``: per frame (preset, section, plan drives),
    and the last status."""
    setdir, presets = gig[0], presets_dir or gig[1]
    sf.write(tmp_path / "mix.wav", audio, RATE)
    frames, last = [], {}

    def on_frame(show, _renderer):
        frames.append((show.preset_name, show.section, bool(show.plan and show.plan.driving)))
        last.update(show._make_status())

    render_file(preset="other", audio=str(tmp_path / "mix.wav"), out=None, size="64x64", fps=FPS, presets_dir=presets,
                keyframes_dir=tmp_path / "kf", progress=False, matcher=sets.SetIndex.load(setdir), on_frame=on_frame,
                **kw)
    return frames, last


def _first(frames, section: str) -> int:
    return next(i for i, f in enumerate(frames) if f[1] == section)


def test_the_recognised_tracks_sections_switch_at_their_planned_places_at_another_speed(gig, tmp_path):
    speed = 1.04  # the pitch fader 4% up (resampled): the plan's places come 4% sooner
    y = gig[2]["a"]
    audio = np.interp(np.arange(0, len(y) / speed, 1.0) * speed, np.arange(len(y)), y)[: int(14.0 * RATE)]
    frames, status = _render(gig, audio.astype(np.float32), tmp_path)
    found = next(i for i, f in enumerate(frames) if f[2])
    assert 2.0 * FPS <= found <= 4.5 * FPS, found  # recognised within a few seconds
    assert all(f[:2] == ("other", "") for f in frames[:found])  # no plan until then: the starting preset
    assert frames[found][:2] == ("song-a", "a0")  # the preset, and the section playing at that place
    for name, start in (("a1", 6.3), ("a2", 12.1)):
        assert abs(_first(frames, name) - start / speed * FPS) <= 2, (name, _first(frames, name))
    assert all(f[0] == "song-a" and f[2] for f in frames[found:])
    assert status["plan"] is True and status["plan_section"] == "a2" and status["track"] == "a"
    from live.control.feedback import PUSHED
    from live.visuals.hud import status_lines

    assert {"plan", "plan_section"} <= set(PUSHED)
    track_line = [line for line in status_lines(status, _state(0.0, "a", 12.5)) if line.startswith("track a")]
    assert track_line and track_line[0].endswith("plan")


def test_a_jump_the_next_track_a_manual_preset_and_the_autopilot(gig, tmp_path):
    a, b = gig[2]["a"], gig[2]["b"]
    # a from 0 s; at 8 s a hot-cue jump to 13 s into it (past a2's start); at 15 s a cut to b.
    audio = np.concatenate((a[: 8 * RATE], a[13 * RATE: 20 * RATE], b[: 10 * RATE]))
    pilot = Autopilot("sequential", 1)  # would switch every bar
    cue = (11.5, Command("preset", ("other",), source="osc"))
    frames, status = _render(gig, audio, tmp_path, autopilot=pilot, cues=[cue])
    found = next(i for i, f in enumerate(frames) if f[2])
    driven = [i for i, f in enumerate(frames) if f[2]]
    # The autopilot gives way: while a plan drives, the picture is the plan's and nothing else.
    assert all(frames[i][0] == f"song-{frames[i][1][0]}" for i in driven)
    assert frames[found][1] == "a0" and _first(frames, "a1") == pytest.approx(6.3 * FPS, abs=2)
    jumped = _first(frames, "a2")  # the jump lands in the section of the new place at once
    assert 8 * FPS < jumped <= 11 * FPS and frames[jumped - 1][1] == "a1", jumped
    # The manual preset (queued for its bar) wins: the plan stops and the autopilot is off.
    manual = next(i for i in range(int(11.5 * FPS), len(frames)) if frames[i][0] == "other")
    assert manual <= 11.5 * FPS + 2.5 * FPS and not any(f[2] for f in frames[int(11.5 * FPS):manual + 1][1:])
    assert pilot.enabled is False
    # ... until the next track: b is recognised and its plan drives, sections at their places.
    b_found = next(i for i in range(manual, len(frames)) if frames[i][2])
    assert 15 * FPS < b_found <= 19 * FPS and frames[b_found][:2] == ("song-b", "b0"), b_found
    assert all(f[0] == "other" and not f[2] for f in frames[manual:b_found])
    assert _first(frames, "b1") == pytest.approx((15 + 5.0) * FPS, abs=2)
    assert status["plan"] is True and status["plan_section"] == "b1"


def _state(t: float, name: str | None, position: float = 0.0, speed: float = 1.0) -> AudioState:
    track = None if name is None else TrackPosition(name, position, speed, 0, 0, 0)
    return AudioState(time=t, track=track)


def test_the_player_follows_the_position_and_hands_over_cleanly():
    player = PlanPlayer({"a": TrackPlan("song-a", (0.0, 10.0, 20.0), ("low", "high", "mid")),
                         "b": TrackPlan("song-b", (0.0,), ("mid",))})
    assert player.cue(_state(0.0, None), 0.0) is None and not player.driving
    cue = player.cue(_state(1.0, "a", 9.0, 1.05), 1.5)  # 9.525 s into a
    assert (cue.plan.preset, cue.index) == ("song-a", 0) and player.driving
    assert player.cue(_state(1.0, "a", 9.0, 1.05), 1.9) is None  # still a0: nothing to do
    assert player.cue(_state(1.0, "a", 9.0, 1.05), 2.0).index == 1  # 10.05 s: a1, at the speed
    assert player.cue(_state(3.0, "a", 2.0), 3.0).index == 0  # a loop back lands in a0 at once
    assert player.cue(_state(4.0, "a", 25.0), 4.0).index == 2  # a jump forward in a2
    assert player.cue(_state(5.0, None), 5.0) is None and not player.driving  # lost: nothing changes
    assert player.cue(_state(6.0, "c", 3.0), 6.0) is None and not player.driving  # no plan for c
    assert player.cue(_state(7.0, "b", 1.0), 7.0).plan.preset == "song-b"
    player.take_over("osc preset")
    assert player.manual and not player.driving and player.cue(_state(8.0, "b", 2.0), 8.0) is None
    assert player.cue(_state(9.0, None), 9.0) is None and player.cue(_state(10.0, "b", 5.0), 10.0) is None  # same track
    assert player.cue(_state(11.0, "a", 1.0), 11.0).index == 0 and not player.manual  # the next track drives again
    player.refused(12.0)  # the preset could not go live: wait, then try again
    assert player.cue(_state(12.5, "a", 2.0), 12.5) is None and player.cue(_state(14.5, "a", 4.0), 14.5).index == 0


def test_a_track_without_a_plan_or_with_a_broken_one_has_none(gig, tmp_path, caplog):
    tracks = {t.name: t for t in sets.list_tracks(gig[0])}
    assert sorted(load_plans(tracks.values())) == ["a", "b"]
    plain = sets.PreparedTrack(**{**tracks["a"].to_json(), "song_preset": ""})
    assert sets.load_plan(plain) is None
    broken = tmp_path / "a"
    broken.mkdir()
    (broken / sets.PLAN_FILE).write_text("{not json")
    bad = sets.PreparedTrack(**{**tracks["a"].to_json(), "folder": str(broken)})
    with pytest.raises(sets.SetError, match="not a song plan"):
        sets.load_plan(bad)
    assert load_plans([bad, tracks["b"]]).keys() == {"b"} and "no song plan for a" in caplog.text


def test_what_set_add_song_writes_loads_as_a_plan_for_its_preset(gig, tmp_path):
    from live.library.presets import load_preset

    sf.write(tmp_path / "Tune.wav", gig[2]["a"], RATE)
    beats = np.round(np.arange(0.0, 22.0, 0.5), 4)
    grid = sets.Grid(beats=beats, downbeats=beats[::4], beats_per_bar=4, origin="rekordbox")
    track = sets.prepare_track(tmp_path / "Tune.wav", tmp_path / "gig", grid=grid, song_prompt="x",
                               presets_dir=tmp_path / "presets")
    plan = load_plans([track])["tune"]
    preset = load_preset(tmp_path / "presets" / f"{plan.preset}.toml")
    assert plan.preset == "song-tune" and len(preset.generation.sections) == len(plan.starts) >= 1
    assert plan.starts[0] == 0.0 and list(plan.starts) == sorted(plan.starts)


@pytest.mark.parametrize("how", ["deleted", "not precomputed"])
def test_a_plan_whose_preset_cannot_play_is_one_warning_at_start_and_the_autopilot_plays_that_track(
        gig, tmp_path, caplog, how):
    setdir, presets, tunes = gig
    mine = tmp_path / "presets"
    shutil.copytree(presets, mine)
    if how == "deleted":
        (mine / "song-b.toml").unlink()
    else:  # a model's preset whose keyframes were never precomputed
        plan = sets.load_plan(next(t for t in sets.list_tracks(setdir) if t.name == "b"))
        song.write_song_preset(plan, "x", mine, "song-b", images="", model="some/sd-model", size=(256, 256), force=True)
    audio = np.concatenate((tunes["a"][: 8 * RATE], tunes["b"][: 12 * RATE]))
    pilot = Autopilot("sequential", 1)  # switches every bar while no plan drives
    with caplog.at_level(logging.INFO):
        frames, status = _render(gig, audio, tmp_path, autopilot=pilot, presets_dir=mine)
    warned = [r for r in caplog.records if "song plan of b" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING, [r.getMessage() for r in warned]
    assert "song-b" in warned[0].getMessage() and ("not in" if how == "deleted" else "not precomputed") \
        in warned[0].getMessage()
    assert warned[0].created <= min(r.created for r in caplog.records if "set: " in r.getMessage())  # at start-up
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # nothing refused mid-show
    a_driven = [i for i, f in enumerate(frames) if f[2]]
    assert a_driven and all(frames[i][0] == "song-a" for i in a_driven)  # a's plan still plays
    b_part = frames[int(12 * FPS):]  # b recognised by now: no plan, the autopilot chooses
    assert not any(f[2] for f in b_part) and len({f[0] for f in b_part}) == 2
    assert status["track"] == "b" and status["tempo_source"] == "set" and status["plan"] is False


def test_a_plan_set_aside_plays_once_its_preset_is_ready(gig):
    class Bank:
        ready: set[str] = set()

        def names(self):
            return sorted(self.ready)

        def status(self):
            return [{"name": "song-a", "ok": "song-a" in self.ready, "reason": "not precomputed"}]

        def get(self, name):
            return type("P", (), {"generation": type("G", (), {"sections": [1]})()})(), None

    bank = Bank()
    player = PlanPlayer({"a": TrackPlan("song-a", (0.0,), ("mid",))})
    assert player.check(bank) == {"a": "is unavailable (not precomputed)"} and not player.plans
    assert player.cue(_state(1.0, "a", 3.0), 1.0) is None and not player.driving  # a plays without its plan
    assert player.restore(bank, ["song-a"]) == []  # still not ready
    bank.ready.add("song-a")
    assert player.restore(bank, ["other"]) == [] and player.restore(bank, ["song-a"]) == ["a"]
    assert player.cue(_state(2.0, "a", 4.0), 2.0).plan.preset == "song-a"


def _plan_doc(**section) -> dict:
    sections = [{"name": "a0", "start": 0.0, "end": 10.0, "bars": 4, "energy": 1.0, "level": "low", "key": "none",
                 "mode": "none"}, {"name": "a1", "start": 10.0, "end": 22.0, "bars": 4, "energy": 1.0, "level": "high",
                                   "key": "none", "mode": "none", **section}]
    return {"track": "a.wav", "duration": 22.0, "bpm": 120.0, "beats": [0.0], "downbeats": [0.0], "sections": sections}


@pytest.mark.parametrize("text", [
    json.dumps(_plan_doc(start="x")), json.dumps(_plan_doc(start=None)), json.dumps(_plan_doc(start=[1])),
    json.dumps(_plan_doc(start=10 ** 400)), json.dumps(_plan_doc(end="soon")), json.dumps(_plan_doc(level="loud")),
    json.dumps(_plan_doc(level=["x"])), json.dumps(_plan_doc(name=3)), "[" * 100000 + "]" * 100000,
], ids=["start-text", "start-null", "start-list", "start-huge-int", "end-text", "level-word", "level-list", "name-number",
        "nested-deep"])
def test_a_plan_edited_badly_is_one_warning_and_the_other_plans_play(tmp_path, caplog, text):
    """A plan.json edited by hand (a start that is not a number, a level the show has no speed for, JSON nested
    past the parser's stack) is one warning naming the file, and the other tracks' plans still load: it raised
    out of load_plans before, so the show (live --set, render --set, check) did not start at all."""
    tracks = []
    for name, doc in (("bad", text), ("good", json.dumps(_plan_doc()))):
        folder = tmp_path / name
        folder.mkdir()
        (folder / sets.PLAN_FILE).write_text(doc)
        tracks.append(sets.PreparedTrack(name=name, source="", duration=22.0, origin="librosa", bpm=120.0,
                                         beats_per_bar=4, beats=[0.0], downbeats=[0.0], sections=[],
                                         song_preset=f"song-{name}", folder=str(folder)))
    with caplog.at_level(logging.WARNING):
        plans = load_plans(tracks)
    assert list(plans) == ["good"] and plans["good"].starts == (0.0, 10.0)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "no song plan for bad" in warned[0] and sets.PLAN_FILE in warned[0], warned


def test_a_manual_choice_made_before_the_track_is_named_holds_for_it(gig, tmp_path):
    """The DJ starts track a, the VJ picks a preset a second later: the recogniser names a about 2.5 s in and
    the plan took the picture then (or cut in before the VJ's switch reached its bar, and lost it again when it
    landed). The choice was made over a: it holds for a, the plan never drives."""
    cue = (1.0, Command("preset", ("song-b",), source="osc"))
    frames, status = _render(gig, gig[2]["a"][: 8 * RATE], tmp_path, cues=[cue])
    assert status["track"] == "a" and status["plan"] is False
    assert not any(f[2] for f in frames) and not any(f[0] == "song-a" for f in frames), \
        sorted({(i, f[0]) for i, f in enumerate(frames) if f[0] == "song-a" or f[2]})[:3]
    assert frames[-1][0] == "song-b"


def test_how_long_a_manual_choice_holds():
    """Until the next track; one recognised just after a choice made while none was named is not the next
    track (it was playing, unnamed, when the VJ chose), nor one recognised while the VJ's switch waits for its bar."""
    plans = {"a": TrackPlan("song-a", (0.0, 10.0), ("low", "high")), "b": TrackPlan("song-b", (0.0,), ("mid",))}
    player = PlanPlayer(plans)
    assert player.cue(_state(0.5, None), 0.5) is None
    player.take_over("osc preset", 1.0)  # nothing named yet
    assert player.cue(_state(3.5, "a", 3.5), 3.5) is None and player.manual and not player.driving  # a holds it
    assert player.cue(_state(30.0, "b", 1.0), 30.0).plan.preset == "song-b"  # the next track drives
    late = PlanPlayer(plans)
    late.cue(_state(0.5, None), 0.5)
    late.take_over("osc preset", 1.0)
    assert late.cue(_state(1.0 + MANUAL_GRACE_S + 1.0, "a", 3.0), 1.0 + MANUAL_GRACE_S + 1.0).index == 0  # long ago
    named = PlanPlayer(plans)
    named.cue(_state(1.0, "a", 1.0), 1.0)
    named.take_over("osc preset", 2.0)  # over track a
    assert named.cue(_state(3.0, "b", 1.0), 3.0).plan.preset == "song-b"  # b is the next track, however soon
    waiting = PlanPlayer(plans)
    waiting.cue(_state(1.0, "a", 1.0), 1.0)
    waiting.take_over("osc preset", 2.0)
    assert waiting.cue(_state(30.0, "b", 1.0), 30.0, pending=True) is None  # the VJ's switch still waits
    waiting.take_over("a queued manual switch", 31.0)  # ... and lands: it holds for b
    assert waiting.cue(_state(32.0, "b", 3.0), 32.0) is None and waiting.manual


@contextlib.contextmanager
def _plan_show(gig, tmp_path: Path, autopilot: Autopilot | None = None):
    """(the real Show with track a's plan, from preset ``other``; ``tick(t, position)``: a frame at ``t`` with
    a steady 120 BPM clock and track a at ``position`` s, or no track for None)."""
    from live.library.bank import open_bank
    from live.show.show import Show, SyncDecode
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer

    dec = make_decoder("approx")
    bank = open_bank(dec.family, dec.latent_channels, dec.device, gig[1], tmp_path / "kf", None, watch=False)
    renderer = Renderer(64, 64, headless=True)
    show = Show(bank, SyncDecode(dec), renderer, preset="other", frame_period=1.0 / FPS, autopilot=autopilot,
                plan=PlanPlayer({"a": TrackPlan("song-a", PLANS["a"][1], PLANS["a"][2])}))

    def tick(t: float, position: float | None) -> None:
        index = math.floor(2.0 * t)
        track = None if position is None else TrackPosition("a", position, 1.0, 0, 0, 0)
        show.tick(t, AudioState(time=t, bpm=120.0, beat_index=index, beat_phase=2.0 * t - index, downbeat=index % 4,
                                tempo_source="set", track=track))
    try:
        yield show, tick
    finally:
        renderer.close()


def test_a_moment_without_the_track_does_not_let_the_autopilot_flash_another_preset(gig, tmp_path):
    """A hot-cue jump: the recogniser lets the track go for a moment before it follows it to its new place
    (measured on a set from `set add --song`: lost, found again 0.4 s later). The autopilot, due in that
    moment, switched to its next preset and the plan switched back a moment later; it waits a little now."""
    from live.show.setplan import LOST_HOLD_S

    seen = []
    with _plan_show(gig, tmp_path, Autopilot("sequential", 1)) as (show, tick):  # the autopilot: due every bar
        for i in range(12 * FPS):
            t = i / FPS
            gone = 3.5 <= t < 4.3 or t >= 8.0  # the jump's moment (across a bar at 4 s); then the track ends
            tick(t, None if gone else t + (5.0 if t >= 4.3 else 0.0))
            seen.append((t, show.preset_name))
    during = {p for t, p in seen if t < 8.0}
    assert during == {"song-a"}, sorted({(round(t, 1), p) for t, p in seen if p != "song-a" and t < 8.0})[:3]
    after = [t for t, p in seen if p != "song-a"]  # the track gone for good: the autopilot takes over
    assert after and 8.0 + LOST_HOLD_S <= after[0] <= 8.0 + LOST_HOLD_S + 2.1, after[:1]


@pytest.mark.parametrize("with_autopilot", [True, False])
def test_autopilot_on_gives_the_picture_back_to_the_plan(gig, tmp_path, with_autopilot):
    """A manual choice held for the rest of the track with no way back (a /section pressed by mistake lost a
    7-minute track's video); `/autopilot 1` hands the picture back to the plan, with or without an autopilot."""
    pilot = Autopilot("sequential", 16) if with_autopilot else None
    with _plan_show(gig, tmp_path, pilot) as (show, tick):
        for i in range(3 * FPS):
            tick(i / FPS, i / FPS)
        assert (show.preset_name, show.section) == ("song-a", "a0") and show.plan.driving
        show.commands.put(Command("preset", ("other",), source="osc"))  # queued for its bar
        for i in range(3 * FPS, 8 * FPS):
            tick(i / FPS, i / FPS)
        assert show.preset_name == "other" and not show.plan.driving  # the manual choice holds past a1's start
        show.commands.put(Command("autopilot", (1.0,), source="osc"))
        tick(8.0, 8.0)
        assert (show.preset_name, show.section) == ("song-a", "a1") and show.plan.driving
        assert show._make_status()["autopilot"] is with_autopilot


def test_check_with_set_warns_of_a_plan_json_edited_badly(gig, tmp_path):
    """`check --set` passed a set whose plan.json was broken ("2 track(s), 1 with a song plan", no row
    naming it): it is a WARN row naming the track and the file now, as the show's warning."""
    from live.show import preflight
    from live.show.runner import ShowSettings

    setdir = tmp_path / "gig"
    shutil.copytree(gig[0], setdir)
    doc = json.loads((setdir / "b" / sets.PLAN_FILE).read_text())
    doc["sections"][1]["start"] = "5,0"
    (setdir / "b" / sets.PLAN_FILE).write_text(json.dumps(doc))
    only = set(preflight.PROBES) - {"set"}
    result = preflight.run_preflight(ShowSettings(set=str(setdir), presets_dir=str(gig[1]),
                                                  keyframes_dir=str(tmp_path / "kf"), preset="other"), skip=only)
    got = {c.name: c for c in result.checks if c.probe == "set"}
    assert "1 with a song plan" in got["set"].detail and got["plan b"].status == preflight.WARN
    assert sets.PLAN_FILE in got["plan b"].detail and "5,0" in got["plan b"].detail and "plan a" not in got


def test_a_song_preset_with_other_sections_than_its_plan_is_one_warning_at_start(caplog):
    """The song preset's [[generation.sections]] edited (one removed): the plan's sections are paired with the
    preset's in order and the last planned ones wrapped round to the first without a word; one warning now."""
    class Bank:
        def names(self):
            return ["song-a", "song-b"]

        def status(self):
            return []

        def get(self, name):
            sections = [1, 2] if name == "song-a" else [1]
            return type("P", (), {"generation": type("G", (), {"sections": sections})()})(), None

    player = PlanPlayer({"a": TrackPlan("song-a", (0.0, 10.0, 20.0), ("low", "high", "mid")),
                         "b": TrackPlan("song-b", (0.0,), ("mid",))})
    with caplog.at_level(logging.WARNING):
        assert player.check(Bank()) == {} and sorted(player.plans) == ["a", "b"]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "song plan of a" in warned[0] and "2 sections, the plan 3" in warned[0], warned
