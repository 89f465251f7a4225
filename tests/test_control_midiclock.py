"""MIDI clock: the follower's tempo fit and song position (pure, fake times), the clock out's pulse
schedule on a synthetic show (pure, simulated time), then real JACK ports (a dummy server of our
own, mido's UNIX_JACK backend): clock in at 120 BPM through the live analysis thread,
Start/Stop/Continue/Song Position, and clock out received by a mido input."""

from __future__ import annotations

import bisect
import math
import threading
import time
import uuid

import mido
import numpy as np
import pytest

from live.bench.sync import JACK_PERIOD, Unavailable, dummy_jack, midi_clock_sync, sleep_until
from live.control.midiport import PolledInput
from live.control.midiclock import PPQN, ClockFollower, MidiClockIn, MidiClockOut, Pulse, PulseSchedule
from live.handoff import LatestSlot
from live.messages import AudioState, TempoReading
from test_control_midi import _wait

PULSE = 60.0 / 120.0 / PPQN


def feed(follower: ClockFollower, t0: float, n: int, jitter: float = 0.0, stalls: float = 0.0, seed: int = 0):
    """``n`` pulses at 120 BPM from ``t0``, each late by up to ``jitter`` s, and a share ``stalls``
    of them 10-40 ms late (a busy machine); the last reading."""
    rng = np.random.default_rng(seed)
    reading = None
    for i in range(n):
        late = rng.uniform(0, jitter) + (rng.uniform(0.01, 0.04) if rng.random() < stalls else 0.0)
        reading = follower.message(mido.Message("clock"), t0 + i * PULSE + late) or reading
    return reading


def test_tempo_and_phase_from_a_window_of_jittery_pulses():
    follower = ClockFollower()
    follower.message(mido.Message("start"), 0.99)
    r = feed(follower, 1.0, 200, jitter=0.002)  # 2 ms of jitter on 20.8 ms pulses: one interval is +-10%
    assert r.source == "midi_clock"
    assert r.bpm == pytest.approx(120.0, abs=0.1)
    # The reading's time is the fitted time of the newest pulse (beat 199/24): within 2 ms of it
    # (the jitter is 0..2 ms late, so the fit sits about 1 ms late).
    assert r.beat == pytest.approx(199 / PPQN)
    assert abs(r.time - (1.0 + 199 * PULSE)) < 0.002
    for seed in range(5):  # and with a pulse in twenty stalled by 10-40 ms
        follower = ClockFollower()
        r = feed(follower, 1.0, 200, jitter=0.002, stalls=0.05, seed=seed)
        assert r.bpm == pytest.approx(120.0, abs=0.1)
        assert abs(r.time - (1.0 + 199 * PULSE)) < 0.002
    # From one interval alone the tempo would be off by up to 10%.
    single = 60.0 / (PPQN * (PULSE + 0.002))
    assert abs(single - 120.0) > 10 * abs(r.bpm - 120.0)


def arrivals(bpm_at, n: int, period_frames: int = 0, lose: frozenset[int] = frozenset(), jitter: float = 0.0003,
             seed: int = 0) -> list[tuple[int, float]]:
    """(pulse number, arrival time) of ``n`` pulses at ``bpm_at(i)`` BPM, each up to ``jitter`` s
    late, delivered at the end of a JACK period of ``period_frames`` at 48 kHz (0: at once),
    without the pulses in ``lose``."""
    rng = np.random.default_rng(seed)
    out, t = [], 0.0011  # off the period grid
    for i in range(n):
        arrive = t + rng.uniform(0, jitter)
        if period_frames:
            grain = period_frames / 48000
            arrive = np.ceil(arrive / grain) * grain
        if i not in lose:
            out.append((i, float(arrive)))
        t += 60.0 / bpm_at(i) / PPQN
    return out


def follow(pulses: list[tuple[int, float]], after: int = 150) -> list[tuple[int, TempoReading]]:
    """The follower's readings for ``pulses`` (after a Start), from pulse ``after`` on."""
    follower = ClockFollower()
    follower.message(mido.Message("start"), -0.01)
    readings = [(i, follower.message(mido.Message("clock"), t)) for i, t in pulses]
    return [(i, r) for i, r in readings if r is not None and i >= after]


@pytest.mark.parametrize("period", [64, 256, 512])
@pytest.mark.parametrize("bpm", [90.0, 120.0, 126.0, 174.0])
def test_arrivals_quantised_to_an_audio_period_keep_the_tempo_unbiased(period, bpm):
    # Medians alone were 0.3 BPM off at 256 frames: from a steady sender the quantisation error
    # repeats in a pattern that is not symmetric about its middle.
    readings = follow(arrivals(lambda i: bpm, 500, period, jitter=0.0))
    assert max(abs(r.bpm - bpm) for _, r in readings) < 0.1 * (2 if period == 512 else 1)
    assert all(r.beat == pytest.approx(i / PPQN) for i, r in readings)


@pytest.mark.parametrize("period", [0, 64, 256])
def test_pulses_that_never_arrive_are_counted_so_the_song_position_stays_on_the_grid(period):
    # A JACK client that misses its period loses that period's events: one pulse, then two.
    readings = follow(arrivals(lambda i: 120.0, 700, period, lose=frozenset({300, 480, 481})))
    settled = [(i, r) for i, r in readings if not 300 <= i < 300 + 24 and not 480 <= i < 480 + 24]
    assert all(r.beat == pytest.approx(i / PPQN) for i, r in settled)
    assert max(abs(r.bpm - 120.0) for _, r in settled) < 0.1


@pytest.mark.parametrize("period", [64, 256, 1024])
@pytest.mark.parametrize("change", [-0.10, -0.05, -0.03, -0.01, 0.01, 0.03, 0.10])
def test_a_tempo_change_is_never_taken_for_lost_pulses(period, change):
    # At 1024 frames (21 ms, about one interval) a slower clock skips a period now and then,
    # which looks exactly like a lost pulse: there the follower must not count any.
    readings = follow(arrivals(lambda i: 120.0 if i < 300 else 120.0 * (1 + change), 700, period))
    assert all(r.beat == pytest.approx(i / PPQN) for i, r in readings)
    # A 21 ms grain over the 2 s window cannot tell the tempo closer than about 1%.
    assert abs(readings[-1][1].bpm - 120.0 * (1 + change)) < (0.5 if period < 1024 else 1.5)


@pytest.mark.parametrize("period", [0, 64, 256])
@pytest.mark.parametrize("new_bpm", [114.0, 126.0])
def test_a_tempo_step_is_followed_within_three_beats(period, new_bpm):
    # The fit's window is four beats, and its robust line goes over once half of it is new.
    readings = follow(arrivals(lambda i: 120.0 if i < 300 else new_bpm, 600, period), after=300)
    settled = next(i for k, (i, _) in enumerate(readings) if all(abs(r.bpm - new_bpm) < 0.5 for _, r in readings[k:]))
    assert (settled - 300) / PPQN < 3.5


def test_a_burst_after_a_long_stall_does_not_throw_the_tempo():
    # Delivery held for 150 ms (more than the 8-interval gap at 174 BPM), then all at once: the
    # fit starts over from the burst's last pulse, not from ten pulses that arrived together.
    pulses = [(i, max(t, 3.0) if 2.85 <= t < 3.0 else t) for i, t in arrivals(lambda i: 174.0, 600, 64)]
    assert max(abs(r.bpm - 174.0) for _, r in follow(pulses)) < 0.5


def test_no_reading_before_enough_pulses_and_a_gap_starts_over():
    follower = ClockFollower()
    assert feed(follower, 0.0, 11) is None
    assert feed(follower, 11 * PULSE, 1) is not None
    assert feed(follower, 10.0, 11) is None  # a pause of seconds: the old pulses are not in the fit


def test_start_stop_continue_and_song_position():
    f = ClockFollower()
    feed(f, 0.0, 30)  # pulses before any Start: a free count
    f.message(mido.Message("start"), 1.0)
    assert f.running
    r = feed(f, 1.0, 30)
    assert r.beat == pytest.approx(29 / PPQN)  # Start: the first pulse after it is beat 0
    f.message(mido.Message("stop"), 2.0)
    assert not f.running
    r = feed(f, 2.0, 24)  # still pulsing while stopped: the count runs on (visuals keep moving)
    assert r.beat == pytest.approx(53 / PPQN)
    f.message(mido.Message("continue"), 3.0)
    r = feed(f, 3.0, 12)
    assert r.beat == pytest.approx((30 + 11) / PPQN)  # resumed where Stop left the song
    f.message(mido.Message("stop"), 4.0)
    f.message(mido.Message("songpos", pos=16), 4.0)  # 16 sixteenths = beat 4
    f.message(mido.Message("continue"), 4.1)
    r = feed(f, 4.1, 12)
    assert r.beat == pytest.approx(4 + 11 / PPQN)


# --- clock out: the pulse schedule -----------------------------------------------------------------


class JitteryShow:
    """The show's AudioState stream on music whose beats come at ``tempo(k)`` BPM (beat k to k+1)
    from ``t0``: the beat clock hears each beat ``latency`` s late (and up to 1 ms off), re-anchors
    its line on it with its own tempo estimate (the music's two beats before, off by up to
    +-``jitter`` BPM: the 1-3 BPM the tracker wanders on a steady track), and the published tempo
    is the music's ``publish_lag`` beats before."""

    def __init__(self, tempo, beats: int, jitter: float = 1.5, latency: float = 0.03, publish_lag: int = 6,
                 seed: int = 0, t0: float = 1.0) -> None:
        rng = np.random.default_rng(seed)
        self.grid = [t0]
        for k in range(beats):
            self.grid.append(self.grid[-1] + 60.0 / tempo(k))
        self.known = [g + latency for g in self.grid]
        self.lines = [(g + rng.uniform(-0.001, 0.001), k, tempo(max(k - 2, 0)) + rng.uniform(-jitter, jitter),
                       tempo(max(k - publish_lag, 0))) for k, g in enumerate(self.grid)]

    def state(self, t: float, jump: float = 0.0) -> AudioState:
        """What the analysis publishes at ``t`` (its beat count moved by ``jump`` beats)."""
        at, k, bpm, published = self.lines[max(bisect.bisect_right(self.known, t) - 1, 0)]
        beat = k + jump + (t - at) * bpm / 60.0
        return AudioState(time=t, bpm=bpm, beat_index=math.floor(beat), beat_phase=beat - math.floor(beat),
                          downbeat=math.floor(beat) % 4, tempo=published, tempo_source="audio")

    def music(self, beat: float) -> float:
        """When the music plays ``beat``."""
        return float(np.interp(beat, np.arange(len(self.grid)), self.grid))


def send_pulses(states, t0: float, t1: float, schedule: PulseSchedule | None = None,
                seed: int = 1) -> list[tuple[Pulse, AudioState]]:
    """MidiClockOut's loop in simulated time (no OS sleeps): a state every 10 ms (the analysis
    rate), a wake-up at most every 20 ms and 2 ms before a pulse, each pulse sent up to 0.5 ms
    late; the pulses sent, each with the state it was planned from."""
    rng = np.random.default_rng(seed)
    schedule = schedule or PulseSchedule()
    now, published, state, sent = t0, -1.0, None, []
    while now < t1:
        if now - published >= 0.01:
            state, published = states(now), now
        pulse = schedule.plan(state, now)
        if pulse.at - now > 0.005:
            now += min(pulse.at - now - 0.002, 0.02)
            continue
        now = max(now, pulse.at) + rng.uniform(0, 0.0005)
        sent.append((pulse, state))
        schedule.sent(pulse)
    return sent


def per_beat_tempo(sent) -> np.ndarray:
    """The tempo the pulse intervals imply over each beat (24 intervals), from each pulse on."""
    at = np.array([p.at for p, _ in sent])
    return 60.0 / (at[PPQN:] - at[:-PPQN])


def beat_phase_ms(sent) -> np.ndarray:
    """How far each beat's pulse is from that beat on the show's beat line (ms, pulse late positive)."""
    return np.array([(s.beats_at(p.at) - p.n / PPQN) * 60.0 / s.bpm * -1000.0 for p, s in sent if p.n % PPQN == 0])


@pytest.mark.parametrize("seed", range(4))
def test_clock_out_pulses_at_the_published_tempo_not_the_jittery_beat_line(seed):
    show = JitteryShow(lambda k: 124.0, 48, seed=seed)
    sent = send_pulses(show.state, show.known[0], show.grid[-1] - 0.5)
    tempo = per_beat_tempo(sent)[4 * PPQN:]  # after a bar
    assert np.ptp([s.bpm for _, s in sent]) > 2.0  # the beat line's own tempo wanders
    assert np.abs(tempo - 124.0).max() < 0.2  # 0.00-0.03 measured; pulses on the beat line (as before): 2.5-3.0
    phase = beat_phase_ms(sent)[4:]
    assert np.abs(phase).max() < 10.0  # 7 measured: the beat line's own wobble around the music's beat
    music = [(p.at - show.music(p.n / PPQN)) * 1000.0 for p, _ in sent[4 * PPQN:] if p.n % PPQN == 0]
    assert np.abs(music).max() < 2.0  # 0.9 measured: on the music's beat itself
    assert [p.n for p, _ in sent] == list(range(sent[0][0].n, sent[0][0].n + len(sent)))  # no pulse twice or skipped


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("step", [1.04, 0.96])
def test_clock_out_follows_a_real_tempo_step_without_a_burst_or_a_gap(step, seed):
    # The music steps at beat 20, the beat line follows within two beats, the published tempo at beat 26.
    show = JitteryShow(lambda k: 124.0 if k < 20 else 124.0 * step, 60, seed=seed)
    sent = send_pulses(show.state, show.known[0], show.grid[-1] - 0.5)
    at = np.array([p.at for p, _ in sent])
    intervals = np.diff(at)
    # One interval to the next: a glide (up to 1.8% measured, a third of a millisecond), never a
    # burst or a gap (a whole interval).
    assert np.abs(np.diff(intervals) / intervals[1:]).max() < 0.03
    low, high = 60.0 / (124.0 * max(1, step) * 1.07 * PPQN), 60.0 / (124.0 * min(1, step) * 0.93 * PPQN)
    assert low < intervals.min() and intervals.max() < high  # the rate moves by at most the bounded slew
    assert all(p.tempo > 0 for p, _ in sent[1:])  # never re-anchored: followed, not jumped
    phase = beat_phase_ms(sent)
    assert np.abs(phase).max() < 50.0  # 36-47 ms at the step (the beat line lags the music there too)
    beats = np.array([p.n for p, _ in sent])[PPQN:] / PPQN
    off = np.abs(per_beat_tempo(sent) - 124.0 * step)
    assert off[beats >= 26 + 12].max() < 0.6  # three bars after the published tempo moved (0.3-0.9 measured)
    assert off[beats >= 26 + 24].max() < 0.35  # six bars after (0.01-0.30)
    assert np.abs(phase[26 + 16:]).max() < 10.0  # 5-9 ms measured


def test_clock_out_re_anchors_on_a_jump_of_the_beat_count():
    show = JitteryShow(lambda k: 120.0, 40, jitter=0.0)
    t0 = show.known[0]

    def states(t: float) -> AudioState:  # half a beat on at 5 s (a nudge), two beats back at 10 s (a new track)
        return show.state(t, jump=0.5 if 5.0 <= t < 10.0 else -2.0 if t >= 10.0 else 0.0)

    sent = send_pulses(states, t0, 15.0)
    numbers = [p.n for p, _ in sent]
    jumps = [(p.n, p.at) for p, _ in sent if p.tempo == 0]
    assert len(jumps) == 3  # the first pulse and the two jumps
    # At once, each on the show's beat line (the pulses due up to 50 ms before go at once, as before).
    assert 5.0 - PulseSchedule.LATE_S <= jumps[1][1] < 5.03 and 10.0 <= jumps[2][1] < 10.03
    # Half a beat ahead: the pulses due in the last 50 ms go at once (today's rule), the rest are skipped.
    assert jumps[1][0] - numbers[numbers.index(jumps[1][0]) - 1] >= PPQN // 2 - 3
    assert all(b - a == 1 for a, b in zip(numbers, numbers[1:]) if b not in (jumps[1][0], jumps[2][0]))
    assert np.abs(beat_phase_ms([s for s in sent if s[1].time > 10.5])).max() < 2.0


def test_clock_out_runs_at_the_clock_s_tempo_until_one_is_published_and_starts_on_a_downbeat():
    state = AudioState(time=1.0, bpm=120.0, beat_index=1, beat_phase=0.3, downbeat=1, tempo=0.0)
    schedule = PulseSchedule()
    sent = send_pulses(lambda t: state, 1.0, 4.0, schedule)
    at = np.array([p.at for p, _ in sent])
    assert np.diff(at) == pytest.approx(60.0 / 120.0 / PPQN)
    assert sent[0][0].n == math.floor(1.3 * PPQN) + 1  # the next pulse on the beat line
    start = next(p for p, s in sent if schedule.starts_song(p, s))
    bar = state.bar_beats_at(start.at)
    assert start.n == 4 * PPQN and min(bar, 4 - bar) < 1e-6


def test_clock_out_skips_pulses_it_could_not_send_in_time_instead_of_a_burst():
    state = AudioState(time=0.0, bpm=120.0, tempo=120.0)
    schedule = PulseSchedule()
    schedule.sent(schedule.plan(state, 0.0))
    first = schedule.last
    held = schedule.plan(state, first.at + 0.3)  # the thread was held up for 0.3 s
    assert held.tempo == 0 and held.at >= first.at + 0.3 - schedule.LATE_S - 1e-9


# --- JACK ----------------------------------------------------------------------------------------


@pytest.fixture
def jack(request):
    """mido's UNIX_JACK backend on a JACK dummy server of the test's own; its period in frames is
    the test's parameter, else the benchmark's 64."""
    try:
        with dummy_jack(getattr(request, "param", JACK_PERIOD)) as backend:
            yield backend
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.integration
def test_jack_clock_in_sets_the_show_clock_tempo(jack):
    # 126, not the show's default 120, so that only following the clock passes. A pulse that a
    # busy machine makes JACK drop (an xrun) is counted back in by the follower.
    r = midi_clock_sync(jack, seconds=0.8, settle=2.3, bpm=126.0)
    assert r["on_source"] == 1.0
    assert r["bpm_err_max"] < 0.1, r


# The 5 ms phase bound is the benchmark's target (`bench sync`): a Python sender on a loaded 2-core
# machine can miss it by a pulse's jitter, so the default run checks the tempo and this one the phase.
@pytest.mark.slow
@pytest.mark.integration
def test_jack_clock_in_sets_the_show_clock_tempo_and_phase(jack):
    r = midi_clock_sync(jack, seconds=0.8, settle=2.3)
    assert r["on_source"] == 1.0
    assert r["bpm_err_max"] < 0.1, r
    assert r["phase_ms_abs_max"] < 5.0, r


# A JACK client that misses its period loses that period's events, and a lost Song Position
# cannot be told from the times: 5.3 ms periods make that rare on a loaded machine.
@pytest.mark.parametrize("jack", [256], indirect=True)
@pytest.mark.integration
def test_jack_transport_messages(jack):
    name = f"dj-{uuid.uuid4().hex[:6]}"
    out = jack.open_output(name, virtual=True)
    slot: LatestSlot = LatestSlot()
    clock_in = MidiClockIn(slot, name, backend=jack, retry_interval=0.05)
    clock_in.start()
    try:
        assert _wait(lambda: bool(clock_in.connected.get())), "the clock input never opened the JACK port"

        def pulses(n: int) -> None:
            start = time.perf_counter()
            for i in range(n):
                sleep_until(start + i * PULSE)
                out.send(mido.Message("clock"))
            time.sleep(0.05)

        out.send(mido.Message("start"))
        pulses(30)
        assert clock_in.follower.running
        assert slot.get().beat == pytest.approx(29 / PPQN)
        out.send(mido.Message("stop"))
        out.send(mido.Message("songpos", pos=8))  # beat 2
        assert _wait(lambda: not clock_in.follower.running)
        time.sleep(0.2)  # paused: the pulses after it start a new tempo fit
        out.send(mido.Message("continue"))
        pulses(13)
        assert clock_in.follower.running
        assert slot.get().beat == pytest.approx(2 + 12 / PPQN)
        # Rough: 13 pulses over 0.25 s, arriving on a 5.3 ms grid, tell the tempo to about 2%.
        assert slot.get().bpm == pytest.approx(120.0, abs=3.0)
    finally:
        clock_in.stop()
        out.close()


@pytest.mark.integration
def test_jack_clock_out_is_received_at_the_show_tempo_with_start_on_a_downbeat(jack):
    name = f"lights-{uuid.uuid4().hex[:6]}"
    got: list[tuple[float, str]] = []
    lock = threading.Lock()

    def received(msg: mido.Message, t: float) -> None:
        with lock:
            got.append((t, msg.type))

    sink = PolledInput(name, jack, virtual=True, handler=received)
    now = time.perf_counter()
    state = AudioState(time=now, bpm=120.0, beat_index=1, beat_phase=0.3, downbeat=1, tempo_source="audio")
    clock_out = MidiClockOut(LatestSlot(state), name, backend=jack)
    clock_out.start()
    try:
        time.sleep(2.6)
    finally:
        clock_out.stop()
        time.sleep(0.1)
        sink.close()
    with lock:
        events = list(got)
    kinds = [k for _, k in events]
    assert "start" in kinds and kinds[-1] == "stop"
    start = kinds.index("start")
    assert kinds[start + 1] == "clock"
    # Start comes just before the pulse of a downbeat: where the show's bar starts.
    first = events[start + 1][0]
    bar = state.bar_beats_at(first)
    assert min(bar, 4 - bar) * 0.5 < 0.005, f"beat 0 of the song is {min(bar, 4 - bar) * 500:.1f} ms off the bar"
    # Read back with the show's own clock in: the tempo within 0.1 BPM, the pulses on the show's
    # 1/24-beat grid within 5 ms (JACK latency included).
    follower = ClockFollower()
    readings = [follower.message(mido.Message(k), t) for t, k in events]
    reading = [r for r in readings if r is not None][-1]
    assert reading.bpm == pytest.approx(120.0, abs=0.1)
    grid = state.beats_at(reading.time) * PPQN
    assert abs(grid - round(grid)) * PULSE < 0.005
    # and the song position counts from the downbeat where Start was sent
    assert reading.beat * PPQN == round((state.beats_at(reading.time) - state.beats_at(first)) * PPQN)
