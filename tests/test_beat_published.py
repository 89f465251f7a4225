"""The published tempo: steady on a steady track, follows a real change, never an octave blip."""

import numpy as np

from live.beat.published import PublishedTempo


def feed(published: PublishedTempo, times, bpms, source: str = "audio") -> np.ndarray:
    return np.array([published.update(float(t), float(b), source) for t, b in zip(times, bpms)])


def test_unknown_until_a_bar_is_heard_then_steady_under_jitter():
    rng = np.random.default_rng(1)
    t = np.arange(0.0, 60.0, 0.01)
    internal = 126.0 + rng.uniform(-1.5, 1.5, len(t))  # the clock's wobble on a steady track
    out = feed(PublishedTempo(), t, internal)
    assert out[0] == 0.0
    assert out[t >= 2.5].min() > 0
    late = out[t >= 10.0]
    assert late.max() - late.min() <= 0.5
    assert abs(np.median(late) - 126.0) < 0.5


def test_a_four_percent_step_is_followed_within_two_bars():
    t = np.arange(0.0, 40.0, 0.01)
    internal = np.where(t < 20.0, 125.0, 130.0)
    out = feed(PublishedTempo(), t, internal)
    bar_s = 4 * 60.0 / 125.0
    followed = t[(t >= 20.0) & (np.abs(out - 130.0) < 0.5)]
    assert followed.size and followed[0] - 20.0 <= 2 * bar_s
    assert np.all(out[t >= followed[0]] == out[-1])  # then it holds


def test_an_octave_blip_the_tracker_corrects_is_never_published():
    t = np.arange(0.0, 30.0, 0.01)
    internal = np.where((t > 12.0) & (t < 16.0), 240.0, 120.0)  # four seconds at double time
    out = feed(PublishedTempo(), t, internal)
    assert set(np.unique(out[t > 5.0])) == {120.0}


def test_a_tempo_set_by_hand_or_by_a_peer_is_published_at_once():
    p = PublishedTempo()
    feed(p, np.arange(0.0, 5.0, 0.01), np.full(500, 120.0))
    assert p.update(5.0, 133.3, "manual") == 133.3
    assert p.update(5.01, 98.0, "link") == 98.0


def test_the_live_chain_follows_a_four_percent_step_within_two_bars():
    from live.bench.beats import measure_tempo_step

    bar_s = 4 * 60.0 / 124.0
    assert measure_tempo_step(0.04) <= 2 * bar_s
    assert measure_tempo_step(-0.04) <= 2 * bar_s


def test_beats_json_reports_the_steady_published_tempo():
    from live.audio.beats import track_beats
    from live.bench.beats import tempo_spread
    from live.bench.synth import synth_kick_track

    samples, _ = synth_kick_track([(126.0, 30.0)], 48000)
    beats = track_beats(samples, 48000)
    assert beats[0]["bpm"] is None or beats[0]["bpm"] > 0  # null until known, never a made-up 120
    assert tempo_spread(beats) <= 0.5
    assert abs(beats[-1]["bpm"] - 126.0) < 0.5
