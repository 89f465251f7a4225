"""Live recognition of a prepared set (live.audio.recognise): a small set of synthetic tracks with
known grids, mixed at other speeds with a crossfade; identification, the clock following the grid
(beats and downbeats), no claims on music not in the set, the hand-back to the audio without a jump,
a manual tempo winning, and `beats --set --format json`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from live import fingerprint as fp
from live.audio.analysis import AudioEngine
from live.audio.beats import track_beats
from live.audio.recognise import MOVE, WINDOW_S, YOUNG_MOVE, Recogniser
from live.beat.sources import TempoSources
from live.bench import set as bench
from live.cli import main
from live.library import sets
from live.messages import Command, TempoReading

RATE = 22050
BPMS = (120.0, 100.0, 140.0)


def _track(name: str, bpm: float, seconds: float, first_down: int) -> sets.PreparedTrack:
    """A prepared track whose grid is the synthetic tune's: a beat every 60/bpm s from 0, the bar's
    one on beat ``first_down`` (the clock must take the bar from the grid, not the audio)."""
    beats = [round(k * 60.0 / bpm, 4) for k in range(int(seconds * bpm / 60.0) + 1)]
    return sets.PreparedTrack(name=name, source="", duration=seconds, origin="rekordbox", bpm=bpm, beats_per_bar=4,
                              beats=beats, downbeats=beats[first_down::4], sections=[{"start": 0.0}])


@pytest.fixture(scope="module")
def tunes() -> list[np.ndarray]:
    """Three synthetic tunes, 24 s each: the first two in the set, the third not."""
    return [bench.synth_tune(10 + k, bpm=BPMS[k], seconds=24.0) for k in range(3)]


@pytest.fixture(scope="module")
def index(tunes) -> sets.SetIndex:
    tracks = [_track("a", BPMS[0], 24.0, 1), _track("b", BPMS[1], 24.0, 0)]
    return sets.SetIndex(tracks, fp.Index(["a", "b"], [fp.landmarks(tunes[0], RATE), fp.landmarks(tunes[1], RATE)]))


def _blend(a: np.ndarray, b: np.ndarray, at: float, fade: float, total: float) -> np.ndarray:
    """``a`` from its start, then ``b`` from its start coming in at ``at`` s over a ``fade`` s crossfade."""
    n = int(total * RATE)
    out = np.pad(a, (0, max(0, n - len(a))))[:n].copy()
    ramp = np.clip((np.arange(n) / RATE - at) / fade, 0.0, 1.0)
    out *= np.cos(ramp * np.pi / 2)
    inc = np.pad(b, (0, n))[: n - int(at * RATE)]
    out[int(at * RATE):] += inc * np.sin(ramp[int(at * RATE):] * np.pi / 2)
    return out.astype(np.float32)


def _nearest(times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    return np.min(np.abs(times[:, None] - grid[None, :]), axis=1)


def test_a_blend_at_other_speeds_names_each_track_and_the_clock_follows_its_grid(tunes, index):
    s1, s2, at, fade = 1.03, 0.97, 10.0, 3.0
    mix = _blend(bench.play(tunes[0], s1, True), bench.play(tunes[1], s2, False), at, fade, 24.0)
    beats = track_beats(mix, RATE, matcher=index)
    assert all("track" in b for b in beats)
    named = {b["track"] for b in beats}
    assert named <= {"a", "b", None}
    t = np.array([b["time"] for b in beats])
    track = [b["track"] for b in beats]
    # a is named within 3 s of the start and until the blend; b (time-stretched: fewer landmarks) 5.5 s
    # after the blend's middle at the latest.
    assert all(n == "a" for n, x in zip(track, t) if 3.0 <= x < at + fade / 2)
    assert all(n == "b" for n, x in zip(track, t) if x >= at + fade / 2 + 5.5)
    # Each track's beats land on its grid mapped through the speed (the mix's time = file time / speed).
    grid_a = np.arange(0, 30, 60 / BPMS[0]) / s1
    grid_b = at + np.arange(0, 30, 60 / BPMS[1]) / s2
    on_a = np.array([n == "a" and x >= 3.0 for n, x in zip(track, t)])
    on_b = np.array([n == "b" for n in track])
    # (b is key-locked: the phase vocoder smears its peaks, its positions are a little rougher; it is
    # named from its first answers in the blend, so its first three beats may still be on a rough line.)
    assert np.max(_nearest(t[on_a], grid_a)) < 0.03 and np.max(_nearest(t[on_b][3:], grid_b)) < 0.05
    # Downbeats (bar 1) are the grid's: a's bar starts on its second beat, b's on its first.
    bar = np.array([b["bar"] for b in beats])
    assert np.max(_nearest(t[on_a & (bar == 1)], grid_a[1::4])) < 0.03
    assert np.max(_nearest(t[on_b & (bar == 1)][1:], grid_b[0::4])) < 0.05
    # The published tempo is the grid's times the speed.
    assert beats[int(np.argmax(on_a)) + 4]["bpm"] == pytest.approx(BPMS[0] * s1, rel=0.01)
    assert beats[-1]["bpm"] == pytest.approx(BPMS[1] * s2, rel=0.01)
    # The count never jumps: consecutive indices, no two beats closer than half a beat.
    assert np.all(np.diff([b["beat"] for b in beats]) == 1)
    assert np.min(np.diff(t)) > 0.5 * 60 / (BPMS[0] * s1)


def test_music_not_in_the_set_is_never_claimed_and_losing_a_track_hands_back_without_a_jump(tunes, index):
    # a, then the tune not in the set (hard cut at 12 s): a is followed, then nothing is named.
    mix = _blend(tunes[0], bench.play(tunes[2], 1.02, True), 12.0, 0.05, 26.0)
    beats = track_beats(mix, RATE, matcher=index)
    track = [b["track"] for b in beats]
    t = np.array([b["time"] for b in beats])
    assert "a" in track and "b" not in track
    # The last window that still holds enough of a ends about 2.5 s after the cut; HOLD_S later it is lost.
    assert all(n is None for n, x in zip(track, t) if x >= 12.0 + WINDOW_S + 0.5)
    assert np.all(np.diff([b["beat"] for b in beats]) == 1)
    gaps = np.diff(t)
    assert np.min(gaps) > 0.5 * 60 / BPMS[2]
    alone = track_beats(tunes[2], RATE, matcher=index)
    assert alone and all(b["track"] is None for b in alone)


def _named(index, audio: np.ndarray) -> tuple[np.ndarray, list]:
    """The track a Recogniser names after each 512-sample block of ``audio``: (times, names)."""
    rec = Recogniser(index, RATE)
    times, names = [], []
    for k in range(0, len(audio), 512):
        t = (k + 512) / RATE
        rec.push(audio[k:k + 512], t)
        now = rec.at(t)
        times.append(t)
        names.append(None if now is None else now[0].name)
    return np.array(times), names


@pytest.mark.parametrize("out, s_out, r_out, inc, s_in, r_in", [
    (1, 1.0, True, 0, 1.0, True),  # a straight blend
    (0, 0.96, False, 1, 1.05, True),  # the outgoing key-locked (fewer landmarks), the incoming resampled
    (1, 1.05, True, 0, 0.96, False),  # and the other way round
])
def test_a_blend_hands_over_to_the_incoming_track_near_its_middle_and_stays_there(tunes, index, out, s_out, r_out,
                                                                                inc, s_in, r_in):
    # The outgoing track's matches fill most of a window well past the blend's middle; the incoming
    # one is followed once it is identified but for them and leads the window's newest second.
    at, fade = 8.0, 4.0
    mix = _blend(bench.play(tunes[out], s_out, r_out), bench.play(tunes[inc], s_in, r_in), at, fade, 20.0)
    times, names = _named(index, mix)
    old, new = "ab"[out], "ab"[inc]
    first = times[names.index(new)]
    middle = at + fade / 2
    assert middle - 1.0 <= first <= middle + 1.6, (first, middle)
    assert all(n == new for n, t in zip(names, times) if t >= first)  # no flapping back, no gap
    assert all(n == old for n, t in zip(names, times) if 3.0 <= t < min(first, middle - 1.0))


def test_a_hard_cut_to_music_not_in_the_set_lets_the_track_go_within_2_s(tunes, index):
    # The window still holds 2.5 s of a after the cut; the newest second, loud and full of landmarks
    # none of which is a's, says a is gone (it was named ~3.5 s after the cut).
    cut = 12.0
    times, names = _named(index, _blend(tunes[0], bench.play(tunes[2], 1.02, True), cut, 0.05, 20.0))
    assert all(n == "a" for n, t in zip(names, times) if 3.0 <= t < cut)
    assert all(n is None for n, t in zip(names, times) if t >= cut + 2.0)


@pytest.mark.parametrize("breakdown", ["noise", "lowpass"])
def test_a_quiet_breakdown_keeps_the_track(tunes, index, breakdown):
    # 1.5 s of room noise only (-30 dB), or 4 s low-passed at 300 Hz: quieter, or a's own landmarks,
    # not other music. The track stays named throughout.
    import scipy.signal

    y = tunes[0].copy()
    if breakdown == "noise":
        y[10 * RATE:int(11.5 * RATE)] = 0.01 * np.random.default_rng(0).standard_normal(int(1.5 * RATE))
    else:
        b, a = scipy.signal.butter(4, 300 / (RATE / 2))
        y[9 * RATE:13 * RATE] = scipy.signal.lfilter(b, a, y[9 * RATE:13 * RATE])
    times, names = _named(index, y)
    assert all(n == "a" for n, t in zip(names, times) if t >= 3.0)


def test_the_set_source_sits_between_a_manual_lock_and_the_audio():
    sources = TempoSources()
    sources.offer(TempoReading("set", 124.0, 8.0, 10.0))
    assert sources.active(10.1).source == "set"
    assert sources.active(10.1, manual=True) is None  # tap, /bpm and lock win over the set
    assert sources.active(10.5) is None  # the set's readings come with every publish: a gap is a loss
    sources.offer(TempoReading("midi_clock", 120.0, 0.0, 10.0))
    sources.offer(TempoReading("set", 124.0, 8.0, 10.05))
    assert sources.active(10.1).source == "midi_clock"  # Link and MIDI clock keep their places


def test_a_manual_tempo_wins_over_the_set_and_the_count_stays_continuous(tunes, index):
    engine = AudioEngine(RATE, recogniser=Recogniser(index, RATE))
    block = 512
    y = tunes[0]
    for k in range(0, int(8 * RATE), block):
        engine.feed(y[k:k + block], (k + block) / RATE)
    assert engine.state.tempo_source == "set" and engine.state.track.name == "a"
    assert engine.state.tempo == pytest.approx(120.0, rel=0.01)
    before = engine.clock.beats_at(engine.time)
    engine.command(Command("bpm", (90.0,), received=engine.time))
    assert engine.state.tempo_source == "manual" and engine.state.bpm == 90.0
    assert engine.clock.beats_at(engine.time) == pytest.approx(before, abs=1e-6)
    for k in range(int(8 * RATE), int(10 * RATE), block):
        engine.feed(y[k:k + block], (k + block) / RATE)
    assert engine.state.tempo_source == "manual" and engine.state.track.name == "a"  # still recognised
    engine.command(Command("lock", (0,), received=engine.time))
    engine.feed(y[int(10 * RATE):int(10 * RATE) + block], 10 * RATE / RATE + block / RATE)
    assert engine.state.tempo_source == "set"


def test_beats_with_a_set_adds_the_track_to_every_json_beat(tunes, tmp_path, capsys):
    setdir = tmp_path / "gig"
    for track, y in ((_track("a", BPMS[0], 24.0, 1), tunes[0]), (_track("b", BPMS[1], 24.0, 0), tunes[1])):
        folder = setdir / track.name
        folder.mkdir(parents=True)
        sets.save_landmarks(folder / sets.PRINTS_FILE, fp.landmarks(y, RATE))
        (folder / sets.TRACK_FILE).write_text(json.dumps(track.to_json()))
    audio = tmp_path / "mix.wav"
    sf.write(audio, tunes[1][: 10 * RATE], RATE)
    assert main(["beats", str(audio), "--set", str(setdir), "--format", "json"]) == 0
    beats = json.loads(capsys.readouterr().out)
    assert all("track" in b for b in beats) and beats[-1]["track"] == "b" and beats[0]["track"] is None
    assert main(["beats", str(audio), "--set", str(setdir)]) == 0
    lines = capsys.readouterr().out.split()
    assert lines == [f"{b['time']:.3f}" for b in beats]  # text: times only, as without --set
    assert main(["beats", str(audio), "--set", str(tmp_path / "nope")]) == 2
    assert "no such set" in capsys.readouterr().err


def test_bench_set_counts_claims_once_the_set_s_tracks_go_out_into_other_music(tunes, index):
    from live.bench import setmix

    other = setmix.structured_tune(7, 131.0, seconds=24.0)[0]  # music of other instruments, not in the set
    tracks = [(name, y, np.zeros(0), np.zeros(0)) for name, y in zip(("a", "b"), tunes[:2])]
    named, total, cases = setmix.out_of_set(index, tracks, [other])
    assert cases == 4 and total > 4 * 20 and named == 0  # a hard cut and a blend out of each: nothing claimed


def test_bench_set_mix_small_case_follows_the_grids(tmp_path):
    from live.bench import setmix

    names = []
    for k, bpm in enumerate(BPMS):
        name = f"tune{k}"
        y = bench.synth_tune(30 + k, bpm=bpm, seconds=30.0)
        sf.write(tmp_path / f"{name}.wav", y, RATE)
        beats = np.arange(0, 30.0, 60.0 / bpm)
        (tmp_path / f"{name}.beats").write_text("".join(f"{t:.4f}\t{i % 4 + 1}\n" for i, t in enumerate(beats)))
        names.append(name)
    # Grids from the XML only: librosa puts these synthetic tunes' beats on the off-beat (a fault of
    # the offline analysis, not of the live following, which the real clips measure).
    f = setmix.measure_mix(str(tmp_path), tuple(names), audio_set=False)
    lines = setmix.report_mix(f)
    assert f.beat_f["rekordbox"] >= 0.9 and f.downbeat_f["rekordbox"] >= 0.85, lines
    assert f.named["rekordbox"] >= 0.97, lines
    # The target (3 s) is measured on the real clips; these tunes repeat one drum pattern, whose
    # landmarks keep voting for the old position (~70% of the new one's matches): a jump inside a
    # track must then lead the followed line for 3 answers (repeats are not jumps), about 4 s.
    assert max(f.realign_s) <= 4.5 and f.core_share < 0.1, lines
    assert f.beat_f["rekordbox"] > f.clock_f - 0.02 and any("downbeat F" in line for line in lines)
    assert f.room[2] >= 0.9 and any("microphone in a room" in line for line in lines), lines


def test_bench_set_beat_matched_mix_lines_the_incoming_beats_and_bars_up_with_the_outgoing():
    """`bench set`'s DJ mix (make_mix matched=True): a track within the pitch fader's reach comes in
    at the outgoing track's tempo, one of its downbeats on one of the outgoing's; one out of reach
    (here 150 after 120 BPM) comes in at its own speed, as in the unmatched mix."""
    from live.bench import setmix

    rng = np.random.default_rng(0)

    def grid(bpm: float, first: float) -> tuple[np.ndarray, np.ndarray]:
        beats = np.arange(first, 30.0, 60.0 / bpm)
        return beats, np.arange(len(beats)) % 4 + 1

    tracks = [(name, (0.1 * rng.standard_normal(30 * setmix.RATE)).astype(np.float32), *grid(bpm, first))
              for name, bpm, first in (("a", 120.0, 0.2), ("b", 125.0, 0.33), ("c", 150.0, 0.1))]
    mix = setmix.make_mix(tracks, matched=True)
    assert mix.matched == 1
    def around_a_to_b(times: np.ndarray) -> np.ndarray:
        return times[(times >= setmix.PLAY_S - setmix.FADE_S - 8.0) & (times < setmix.PLAY_S + 8.0)]

    assert np.allclose(np.diff(around_a_to_b(mix.beats)), 0.5, atol=0.01)  # one beat line through a > b
    assert np.allclose(np.diff(around_a_to_b(mix.downbeats)), 2.0, atol=0.02)
    plain = setmix.make_mix(tracks)
    assert plain.matched == 0 and not np.allclose(np.diff(around_a_to_b(plain.beats)), 0.5, atol=0.01)


def test_live_the_matching_runs_on_its_own_thread_and_stops(tunes, index):
    import time

    rec = Recogniser(index, RATE, threaded=True)
    try:
        y = tunes[1]
        for k in range(0, int(10 * RATE), 512):
            rec.push(y[k:k + 512], (k + 512) / RATE)
            time.sleep(0.002)  # the analysis thread's pace, roughly: the matcher keeps up
        now = rec.at(10.0)
        assert now is not None and now[0].name == "b" and now[0].position == pytest.approx(10.0, abs=0.1)
        assert rec.matches >= 5
    finally:
        rec.close()
    assert rec._thread is None


def _answer(*found: tuple[str, float, int, int], heard: int = 60, track: object = None) -> SimpleNamespace:
    """A matcher's answer: (name, position, score, recent) per track, best first; identified as the
    matcher says (MIN_SCORE, MIN_MARGIN over the next). ``track``: every match's prepared track (None: no grid)."""
    matches = []
    for k, (name, position, score, recent) in enumerate(found):
        runner = max([s for j, (n, _, s, _) in enumerate(found) if n != name] or [0])
        matches.append(SimpleNamespace(name=name, track=track, position=position, speed=1.0, score=score,
                                       recent=recent, identified=k == 0 and fp.identified(score, score / max(1, runner))))
    return SimpleNamespace(matches=matches, recent_pairs=heard, expected=[])


def _following_a(rec: Recogniser, track: object = None) -> None:
    """``rec`` follows track "a" (position = stream time), established over 4 s of answers."""
    for t in np.arange(1.0, 5.01, 0.5):
        rec.observe(float(t), _answer(("a", float(t), 80, 25), track=track))
    assert rec.following == "a"


def test_a_repeat_a_part_of_a_bar_off_moves_the_bar_only_by_the_vote_and_one_a_whole_bar_off_takes_over_the_line(caplog):
    """A loop-based track: its best alignment flips between repeats. One a whole number of bars off
    keeps the clock's bar: when the followed repeat ends there (the line's own matches gone), the line
    moves onto it; the track is not let go. One 2 beats off moves the bar only once MOVE of the last
    VOTES answers put the track's best alignment on its phase, not when it leads the line over
    answers whose best lies elsewhere (it moved after three such answers)."""
    grid = _track("a", 120.0, 60.0, 0)  # a beat every 0.5 s, a bar every 2 s from 0
    rec = Recogniser(None, RATE)
    _following_a(rec, grid)
    with caplog.at_level("INFO", logger="live.audio.recognise"):
        for t in (5.5, 6.0):  # the line's own matches are gone; the track plays 4 bars on (8 s)
            rec.observe(t, _answer(("a", t + 8.0, 80, 25), track=grid))
    assert rec.following == "a" and rec.at(6.0)[0].position == pytest.approx(14.0, abs=0.05)
    assert not [r for r in caplog.records if "lost" in r.getMessage()]
    # The line still plays (a loop); a repeat 2 beats (1 s) off scores better in each answer, but the
    # best of the second answer is another whole-bar repeat.
    off, bars = 9.0, 16.0
    for t, best in ((6.5, off), (7.0, bars), (7.5, off)):
        found = [("a", t + best, 120, 25), ("a", t + 8.0, 80, 25)]
        rec.observe(t, _answer(*found, *([("a", t + off, 110, 25)] if best != off else []), track=grid))
        assert rec.at(t)[0].position == pytest.approx(t + 8.0, abs=0.05)  # the bar stays
    assert MOVE == 3
    rec.observe(8.0, _answer(("a", 8.0 + off, 120, 25), ("a", 16.0, 80, 25), track=grid))
    assert rec.following == "a" and rec.at(8.0)[0].position == pytest.approx(8.0 + off, abs=0.05)


def test_a_new_line_moves_its_bar_on_fewer_votes_than_an_established_one():
    """A first identification (mostly in a blend) is the least sure: over a new line's first VOTES
    answers, YOUNG_MOVE answers whose best alignment lies 2 beats off move its bar."""
    grid = _track("a", 120.0, 60.0, 0)
    rec = Recogniser(None, RATE)
    for t in (1.0, 1.5):
        rec.observe(t, _answer(("a", t + 8.0, 80, 25), track=grid))
    assert rec.following == "a"
    for t in np.arange(2.0, 2.0 + 0.5 * YOUNG_MOVE, 0.5):
        assert rec.at(float(t) - 0.01)[0].position == pytest.approx(t - 0.01 + 8.0, abs=0.05)
        rec.observe(float(t), _answer(("a", float(t) + 9.0, 120, 25), ("a", float(t) + 8.0, 80, 25), track=grid))
    assert YOUNG_MOVE < MOVE and rec.at(float(t))[0].position == pytest.approx(t + 9.0, abs=0.05)


def test_a_blend_takes_the_incoming_track_from_a_weaker_lead_confirmed_by_the_next_answer():
    """The incoming track of a blend leads the newest second before it has MIN_SCORE in the whole
    window: a weaker lead (HINT x MIN_SCORE) at one position, confirmed by the next answer there,
    takes over half a second sooner than two full overtakes (the old rule named b at 6.5 s)."""
    rec = Recogniser(None, RATE)
    _following_a(rec)
    rec.observe(5.5, _answer(("a", 5.5, 60, 6), ("b", 20.0, 12, 9)))
    assert rec.following == "a"  # one weaker lead claims nothing
    rec.observe(6.0, _answer(("a", 6.0, 45, 4), ("b", 20.5, 22, 11)))
    assert rec.following == "b"
    # Two weaker leads in a row at one position are the blend's identification too.
    rec = Recogniser(None, RATE)
    _following_a(rec)
    rec.observe(5.5, _answer(("a", 5.5, 60, 6), ("b", 20.0, 12, 9)))
    rec.observe(6.0, _answer(("a", 6.0, 50, 5), ("b", 20.5, 15, 11)))
    assert rec.following == "b"


def test_weaker_leads_at_other_positions_or_without_a_followed_track_claim_nothing():
    """Chance: weaker leads that disagree on the position, or that lag the outgoing track in the
    newest second, or with no track followed (music not in the set), name nothing new."""
    rec = Recogniser(None, RATE)
    _following_a(rec)
    rec.observe(5.5, _answer(("a", 5.5, 60, 6), ("b", 20.0, 12, 9)))
    rec.observe(6.0, _answer(("a", 6.0, 50, 5), ("b", 31.0, 15, 11)))  # elsewhere in b
    rec.observe(6.5, _answer(("a", 6.5, 50, 12), ("b", 31.5, 15, 11)))  # b trails a in the newest second
    assert rec.following == "a"
    rec = Recogniser(None, RATE)
    for t in (1.0, 1.5, 2.0, 2.5):
        rec.observe(t, _answer(("b", 20.0 + t, 15, 10)))
    assert rec.following is None


@pytest.mark.parametrize("k", [0, 1])
def test_a_blend_into_music_not_in_the_set_lets_the_track_go_after_its_middle(tunes, index, k):
    # A DJ crossfade (4 s) from a set track into the tune not in the set: the track is let go once
    # its newest second is under LET_GO of its rate, and its fading tail (the window's older part
    # still identifies it) must not start it again (b was named until 5 s after the middle).
    at, fade = 8.0, 4.0
    mix = _blend(bench.play(tunes[k], 1.0, True), bench.play(tunes[2], 1.02, True), at, fade, 20.0)
    times, names = _named(index, mix)
    middle, name = at + fade / 2, "ab"[k]
    assert all(n == name for n, t in zip(names, times) if 3.0 <= t < middle - 1.0)
    assert all(n is None for n, t in zip(names, times) if t >= middle + 2.5), max(
        t for n, t in zip(names, times) if n is not None)
