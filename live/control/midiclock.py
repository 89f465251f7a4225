"""MIDI clock in and out: 24 pulses per quarter note, Start, Stop, Continue, Song Position Pointer.

In: :class:`ClockFollower` turns the messages of a clock source into
:class:`~live.messages.TempoReading` values (source ``midi_clock``). One pulse interval is
jittery (USB, a JACK period, the sender's own timer), so the tempo and the pulse grid come from
a line through the last :data:`WINDOW` pulses: a robust one (medians) finds the pulses that a
busy machine delivered late, and least squares through the rest averages the jitter away. The
tempo is its slope, and the reading's time is the line's time of the newest pulse. Pulses that
never arrived (a JACK client that missed its period drops its events) show as a whole-interval
step in the times and are counted, so the song position stays on the source's grid. The
beat is the song position: Start makes the next pulse beat 0, Song Position sets where Continue
resumes, and while stopped the count runs on from the stop (so the visuals keep moving; the
show's clock slews to the jump when the music starts again). :class:`MidiClockIn` opens a named
input (reopened when it comes back) and puts each reading into a latest-wins slot.

Out: :class:`MidiClockOut` sends 24 pulses per beat from the show's beat clock (the
:class:`~live.messages.AudioState` slot the analysis thread fills) on its own thread; Start just
before the first downbeat pulse, Stop when it ends. A port name that no output has becomes a
virtual output of that name, for other programs to connect to.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from typing import Any, NamedTuple

import mido
import numpy as np

from live.control.midi import InputNames, pick_port
from live.control.midiport import PolledInput, resolve_backend
from live.control.service import StoppableThread
from live.errors import UserError
from live.handoff import LatestSlot
from live.messages import BEATS_PER_BAR, AudioState, TempoReading
from live.ratelog import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

PPQN = 24  # MIDI clock pulses per quarter note
WINDOW = 96  # pulses in the tempo fit: four beats (two seconds at 120 BPM)
MIN_PULSES = 12  # pulses before the first reading (half a beat)
QUIET_S = 2.0  # while messages came this recently the port is not looked for
GAP_PULSES = 8.0  # a pause of this many pulse intervals starts a new fit (the source paused)
SONG_POSITION_PULSES = 6  # one Song Position unit is a sixteenth note
RECENT = 12  # newest pulses that must agree before pulses count as lost (half a beat)
STEP_TOLERANCE = 0.3  # of an interval: how closely they must agree, with one another and with a whole step
OUTLIER_S = 0.002  # a pulse this much off the robust line (and beyond its spread) is left out of the fit


class ClockFollower:
    """Tempo and song position from MIDI clock messages and their arrival times (pure; no I/O)."""

    def __init__(self, window: int = WINDOW) -> None:
        self._fit: deque[tuple[int, float]] = deque(maxlen=window)  # (pulse sequence number, arrival time)
        self._seq = 0  # pulses seen, ever
        self._next = 0  # song position (pulses) of the next pulse
        self._resume = 0  # where Continue resumes: the stop, or a Song Position
        self._gap_interval = 0.0  # the pulse interval before the fit last started over
        self.running = False

    def message(self, msg: mido.Message, t: float) -> TempoReading | None:
        """Take one message that arrived at ``t``; the new reading after a pulse, else None."""
        kind = msg.type
        if kind == "clock":
            return self._pulse(t)
        if kind == "start":
            self.running, self._next = True, 0
        elif kind == "continue":
            self.running, self._next = True, self._resume
        elif kind == "stop":
            self.running, self._resume = False, self._next
        elif kind == "songpos":
            self._resume = int(msg.pos) * SONG_POSITION_PULSES
            if not self.running:
                self._next = self._resume
        return None

    def _pulse(self, t: float) -> TempoReading | None:
        if len(self._fit) >= 2:
            interval = (self._fit[-1][1] - self._fit[0][1]) / (self._fit[-1][0] - self._fit[0][0])
            if t - self._fit[-1][1] > GAP_PULSES * interval:
                self._fit.clear()
                self._gap_interval = interval
        if self._fit and len(self._fit) < MIN_PULSES and t - self._fit[-1][1] < self._gap_interval / 2:
            self._fit.pop()  # a burst after a stall, not a pause: only its last pulse says when
        self._fit.append((self._seq, t))
        self._seq += 1
        position, self._next = self._next, self._next + 1
        if len(self._fit) < MIN_PULSES:
            return None
        fit = np.array(self._fit, dtype=float)
        seq, times = fit[:, 0] - fit[-1, 0], fit[:, 1] - t  # the newest pulse at 0: the intercept is its fitted time
        slope, intercept = robust_line(seq, times)
        if not slope > 0:
            return None
        lost = lost_pulses(times, times - slope * seq - intercept, slope)
        if lost:  # the older pulses are that many further back; the song position moves on
            seq[:-RECENT] -= lost
            position += lost
            self._next += lost
            self._fit = deque(zip((seq + self._seq - 1).astype(int).tolist(), (times + t).tolist()),
                              maxlen=self._fit.maxlen)
            slope, intercept = robust_line(seq, times)
            _LOGGER.debug("MIDI clock: %d pulse(s) never arrived; the song position counts them", lost)
        slope, intercept = inlier_line(seq, times, slope, intercept)
        return TempoReading("midi_clock", 60.0 / (PPQN * slope), position / PPQN, t + intercept)


def lost_pulses(times: np.ndarray, residuals: np.ndarray, interval: float) -> int:
    """How many pulses never arrived just before the newest :data:`RECENT` (``residuals``: the
    pulses' times off the robust line): those all sit a whole number of intervals late on the
    older pulses' grid, in step with one another (not drifting, as after a tempo change), which
    a delivery stall (a late burst that catches up) never does. Arrivals quantised to a period
    near the interval (a JACK period of 1024 frames at 120 BPM) skip a period now and then by
    themselves, so there a step says nothing."""
    older, recent = residuals[:-RECENT], residuals[-RECENT:]
    if len(older) < MIN_PULSES or recent.min() < (1 - STEP_TOLERANCE) * interval:
        return 0  # the common case, decided cheaply: the line runs through the older pulses
    if spread(older) > STEP_TOLERANCE / 2 * interval or arrival_grain(times[:-RECENT]) * 3 > interval:
        return 0
    step = (median(recent) - median(older)) / interval
    lost = round(step)
    if lost < 1 or lost >= GAP_PULSES or abs(step - lost) > STEP_TOLERANCE:
        return 0
    drift = abs(least_squares(np.arange(RECENT, dtype=float), recent)[0]) * RECENT
    return lost if np.ptp(recent) < STEP_TOLERANCE * interval and drift < STEP_TOLERANCE / 2 * interval else 0


def arrival_grain(times: np.ndarray) -> float:
    """The step in which arrival times come: the typical change between one interval and the
    next (a JACK period when arrivals are quantised to it, else their jitter). Intervals that
    never change at all come from a period as long as the interval: infinite then."""
    changes = np.abs(np.diff(np.diff(times)))
    changes = changes[changes > 1e-4]
    return median(changes) if len(changes) else float("inf")


def median(values: np.ndarray) -> float:
    """The upper median: a sort of at most :data:`WINDOW` values costs a tenth of ``np.median``
    on the reader thread."""
    return float(np.sort(values)[len(values) // 2])


def spread(values: np.ndarray) -> float:
    """The standard deviation that the median absolute deviation implies (not swayed by outliers)."""
    return 1.4826 * median(np.abs(values - median(values)))


def robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """A line through points that a few far-off ones (pulses a busy machine delivered late) do
    not tilt: the slope is the median over pairs half the points apart, the intercept the
    median of what each point says it is."""
    half = len(x) // 2
    slope = median((y[half:] - y[:-half]) / (x[half:] - x[:-half]))
    return slope, median(y - slope * x)


def inlier_line(x: np.ndarray, y: np.ndarray, slope: float, intercept: float) -> tuple[float, float]:
    """Least squares through the points near the robust line (``slope``, ``intercept``). The
    medians alone are biased when arrivals are quantised to a period (a JACK period of 256
    frames put them 0.3 BPM off); least squares averages the quantisation away."""
    residuals = y - slope * x - intercept
    near = np.abs(residuals - median(residuals)) <= max(4.0 * spread(residuals), OUTLIER_S)
    if near.sum() < MIN_PULSES:
        return slope, intercept
    return least_squares(x[near], y[near])


def least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of the least-squares line (closed form: this runs on the MIDI
    reader thread for every pulse, where ``np.polyfit`` would cost ten times as much)."""
    mx, my = x.mean(), y.mean()
    dx = x - mx
    slope = float(dx @ (y - my) / (dx @ dx))
    return slope, float(my - slope * mx)


class MidiClockIn:
    """Follows the MIDI clock on the input named ``port`` (part of its name), putting each
    reading into ``out``. A supervisor thread opens the port and reopens it when it comes back;
    the port's reader thread (:class:`~live.control.midiport.PolledInput`) hands each message
    on with the time it arrived, which a busy interpreter does not delay."""

    def __init__(self, out: LatestSlot[TempoReading], port: str, backend: mido.Backend | str | None = None,
                 retry_interval: float = 1.0) -> None:
        self.out, self.wanted, self._backend = out, port, backend
        self.retry_interval = retry_interval
        self._names = InputNames(backend)  # used only by the supervisor thread
        self.follower = ClockFollower()  # used only on the reader thread, under _lock
        self.connected: LatestSlot[str] = LatestSlot()  # the open port's name, "" when none
        self._lock = threading.Lock()
        self._port: Any = None
        self._runner = StoppableThread(self._supervise, "midi-clock-in", join_s=5.0)
        self._stop = self._runner.stopping  # what the thread watches
        self._problems = RateLimitedLog(_LOGGER)
        self._heard = -float("inf")  # when the last message arrived

    def start(self) -> None:
        """Start the supervisor, which opens the port now and whenever it reappears."""
        self._runner.start()

    def stop(self) -> None:
        """Close the port and stop the supervisor; safe to call twice."""
        self._runner.stop()
        self._close()
        self._names.close()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                if self._port is not None and time.perf_counter() - self._heard < QUIET_S:
                    # Pulses are flowing, so the port is there: no need to look.
                    self._stop.wait(self.retry_interval)
                    continue
                names = self._names()
                if self._port is not None and self._port.name not in names:
                    self._problems.report("gone", f"MIDI clock input {self._port.name!r} disappeared; waiting for it")
                    self._close()
                name = pick_port(names, self.wanted) if self._port is None else None
                if name is not None:
                    self._port = PolledInput(name, self._backend, handler=self._on_message, thread_name="midi-clock-read")
                    self.connected.put(name)
                    _LOGGER.info("MIDI clock input %r open", name)
                elif self._port is None:
                    self._problems.report("missing", f"MIDI clock input {self.wanted!r} not found "
                                                     f"(inputs: {names or 'none'}); retrying")
            except Exception as exc:  # no backend, a port that cannot open: keep trying, log rarely
                self._problems.report("error", f"MIDI clock input {self.wanted!r}: {exc}")
            self._stop.wait(self.retry_interval)

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception as exc:  # a vanished device may fail to close; it is gone either way
                _LOGGER.debug("closing MIDI clock input: %s", exc)
            self.connected.put("")

    def _on_message(self, msg: mido.Message, received: float) -> None:
        self._heard = received
        try:
            with self._lock:
                reading = self.follower.message(msg, received)
            if reading is not None:
                self.out.put(reading)
        except Exception as exc:  # one bad message must not reach the reader thread
            self._problems.report("message", f"MIDI clock message could not be handled: {exc!r}")


class Pulse(NamedTuple):
    """One planned clock pulse: its number on the show's pulse grid (beat * 24) and when it goes,
    with what the schedule goes on from once it is sent."""

    n: int
    at: float
    error: float = 0.0  # smoothed phase error, pulses (the show's beat ahead of the pulses: positive)
    drift: float = 0.0  # the learned rate offset from the tempo (a change the published tempo has not taken yet)
    tempo: float = 0.0  # the tempo it was planned at (0: placed on the show's beat line)


class PulseSchedule:
    """When each MIDI clock pulse goes (pure; no I/O, no clock of its own).

    The pulses run at the published tempo (:attr:`AudioState.tempo`, steady; the clock's own
    ``bpm`` until it is known), not along the clock's beat line, which re-estimates the tempo on
    every beat and so would make a receiving device see 1-3 BPM of wander. They stay in phase
    with the show's beat by a gentle correction: the phase error, smoothed over about a beat,
    is left alone within :data:`DEADBAND_S` (the beat line's own wobble); beyond it, a rate
    change of at most :data:`MAX_SLEW` takes it out over about :data:`SLEW_BEATS`, never a burst
    or a gap of pulses. An error that keeps coming back (the music changed tempo and the
    published tempo has not followed yet, which takes up to two bars) is learned as a rate
    offset (``drift``), so the pulses follow a DJ's pitch ride without lagging; when the
    published tempo then moves, the rate goes on where it was. A published change the pulses
    have not followed (a tempo set by hand, which the beat line takes at once) is taken at once.
    A jump of the beat count beyond :data:`RESYNC_BEATS` (the first audio re-anchoring the
    clock, a new track, a nudge) puts the next pulse back on the beat line, as does a pulse
    that could not be sent in time (the thread was held up)."""

    DEADBAND_S = 0.003  # a smoothed phase error within this is the beat line's wobble: no correction
    SMOOTH_BEATS = 1.0  # the phase error is smoothed over about this many beats
    SLEW_BEATS = 1.5  # the error beyond the dead band is taken out over about this many beats
    LEARN_BEATS = 3.0  # an error that persists this many slews is learned as a rate offset
    FADE_BEATS = 8.0  # while in phase, the learned offset fades over about two bars
    MAX_SLEW = 0.06  # the most the pulse rate moves off the tempo: a 4% step before it is published, and its lag
    RESYNC_BEATS = 0.125  # a phase error beyond this is a jump of the beat count: re-anchor
    LATE_S = 0.05  # a re-anchored pulse this late (the clock jumped ahead) is skipped, not sent in a burst

    def __init__(self) -> None:
        self.last: Pulse | None = None  # the last pulse sent

    @staticmethod
    def tempo(state: AudioState) -> float:
        """The tempo the pulses run at: the published one, the clock's own until it is known."""
        return state.tempo if state.tempo > 0 else state.bpm

    def plan(self, state: AudioState, now: float) -> Pulse:
        """The next pulse after the last one sent, from the newest ``state`` at ``now``."""
        last, tempo = self.last, self.tempo(state)
        if last is not None and tempo > 0:
            error = state.beats_at(last.at) * PPQN - last.n
            if abs(error) <= self.RESYNC_BEATS * PPQN:
                pulse = self._steady(last, error, tempo)
                if pulse.at >= now - self.LATE_S:
                    return pulse
        # On the show's beat line: the pulse at or just before now, or the one after the last
        # sent when the count went back by less than a beat (a gap, never a pulse twice).
        due = math.floor(state.beats_at(now) * PPQN + 1e-6)
        if last is None or last.n - due > PPQN:
            n = due + 1
        else:
            n = max(last.n + 1, due - int(self.LATE_S * state.bpm / 60.0 * PPQN))
        return Pulse(n, state.time + (n / PPQN - state.beat_index - state.beat_phase) * 60.0 / state.bpm)

    def _steady(self, last: Pulse, error: float, tempo: float) -> Pulse:
        drift = last.drift
        if last.tempo > 0 and tempo != last.tempo:
            # The published tempo moved. Where the pulses already run nearer the new tempo than
            # halfway (they followed the music while it was not published), the rate goes on
            # where it was; else (a tempo set by hand) the new tempo is taken at once.
            rate = last.tempo * (1.0 + drift)
            drift = rate / tempo - 1.0 if abs(rate - tempo) < abs(last.tempo - tempo) / 2 else 0.0
        smoothed = last.error + (error - last.error) / (self.SMOOTH_BEATS * PPQN)
        dead = self.DEADBAND_S * tempo / 60.0 * PPQN
        beyond = math.copysign(max(0.0, abs(smoothed) - dead), smoothed) / PPQN  # beats
        if beyond:
            drift = clamp(drift + beyond / (self.SLEW_BEATS * self.LEARN_BEATS * PPQN), self.MAX_SLEW)
        else:  # in phase: what was learned fades, so the pulses come back to the published tempo itself
            drift -= drift / (self.FADE_BEATS * PPQN)
        rate = 1.0 + clamp(drift + beyond / self.SLEW_BEATS, self.MAX_SLEW)
        return Pulse(last.n + 1, last.at + 60.0 / (tempo * rate * PPQN), smoothed, drift, tempo)

    def sent(self, pulse: Pulse) -> None:
        """Take ``pulse`` (as planned) as sent: the next plan follows on from it."""
        self.last = pulse

    @staticmethod
    def starts_song(pulse: Pulse, state: AudioState) -> bool:
        """Whether ``pulse`` is on a downbeat of the show's bar (Start goes just before it)."""
        return pulse.n % PPQN == 0 and round(state.bar_beats_at(pulse.at)) % BEATS_PER_BAR == 0


def clamp(value: float, limit: float) -> float:
    """``value`` limited to +-``limit``."""
    return max(-limit, min(limit, value))


class MidiClockOut:
    """Sends MIDI clock from the show's beat clock: ``states`` is the slot of the newest
    :class:`AudioState`; 24 pulses per beat on a thread, Start before the first downbeat pulse,
    Stop at :meth:`stop`."""

    def __init__(self, states: LatestSlot[AudioState], port: str, backend: mido.Backend | str | None = None) -> None:
        self.states, self.wanted, self._backend = states, port, backend
        self.sent = 0  # pulses sent
        self.started = False  # Start sent
        self._port: Any = None
        self._runner = StoppableThread(self._run, "midi-clock-out", join_s=2.0)
        self._stop = self._runner.stopping  # what the thread watches
        self._problems = RateLimitedLog(_LOGGER)

    def start(self) -> None:
        """Open the output (a virtual one named ``port`` when no output has that name) and start
        sending; UserError when no MIDI output can be opened at all."""
        try:
            name = pick_port(list(resolve_backend(self._backend).get_output_names()), self.wanted)
            self._port = resolve_backend(self._backend).open_output(name if name is not None else self.wanted,
                                                                    virtual=name is None)
        except Exception as exc:  # no MIDI system (ALSA/JACK) here: a setup error, said in one line
            raise UserError(f"--midi-clock-out {self.wanted}: cannot open a MIDI output ({str(exc).strip() or exc!r})") from None
        _LOGGER.info("MIDI clock out on %s%r", "" if name is not None else "new virtual output ", name or self.wanted)
        self._runner.start()

    def stop(self) -> None:
        """Send Stop, close the output; safe to call twice."""
        self._runner.stop()
        port, self._port = self._port, None
        if port is not None:
            _LOGGER.info("MIDI clock out: %d pulses sent to %r", self.sent, self.wanted)
            try:
                if self.started:
                    port.send(mido.Message("stop"))
                    time.sleep(0.05)  # JACK sends on its next period: closing at once can drop the Stop
            finally:
                port.close()

    def _run(self) -> None:
        schedule = PulseSchedule()
        while not self._stop.is_set():
            try:
                state = self.states.get()
                if state is None or state.bpm <= 0:
                    self._stop.wait(0.01)
                    continue
                now = time.perf_counter()
                pulse = schedule.plan(state, now)
                if pulse.at - now > 0.005:  # wake a little before, re-plan from the newest state
                    self._stop.wait(min(pulse.at - now - 0.002, 0.02))
                    continue
                # The last milliseconds: a plain sleep wakes within ~0.1 ms on Linux; a spin would
                # hold the GIL and delay every MIDI reader thread in the process.
                time.sleep(max(0.0, pulse.at - time.perf_counter()))
                if not self.started and schedule.starts_song(pulse, state):
                    self._port.send(mido.Message("start"))  # the next pulse is the song's beat 0
                    self.started = True
                self._port.send(mido.Message("clock"))
                schedule.sent(pulse)
                self.sent += 1
            except Exception as exc:  # a failing port must not end the thread: log rarely, go on
                self._problems.report("send", f"MIDI clock out on {self.wanted!r}: {exc}")
                self._stop.wait(0.1)
