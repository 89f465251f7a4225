"""Audio analysis: aubio onset novelty, band energies, loudness with slow gain control, silence,
and the beat clock on top; plus the thread that runs it live.

:class:`AudioEngine` is single-threaded and deterministic: the live show (through
:class:`AnalysisThread`), ``beats`` and ``render`` all feed it blocks of mono audio stamped with
the clock time after their last sample, so the same object produces the same beats live and
offline.

Per hop (about 11 ms) one aubio phase vocoder frame gives the magnitude spectrum. The onset
novelty is, by default, a log-compressed mel-band spectral flux (aubio filterbank; half-wave
rectified band differences, averaged), which is markedly better for beats than linear flux;
any aubio spectral descriptor (``specflux``, ``hfc``, ``complex``, ``kl`` ...) can be chosen
instead. The same spectrum gives the low/mid/high bands. The chroma (12 pitch-class energies)
needs finer bins than that 1024-point spectrum has (47 Hz apart: a semitone only above 800 Hz),
so every eighth hop one 8-hop (4096-point) FFT of the newest audio is folded into pitch classes
by one small matrix product (see :func:`chroma_weights`).

With ``beat_activation = "rnn"`` the beat tracker follows madmom's causal LSTM beat activation
(:mod:`live.audio.rnn`, 100 frames a second) instead of the onset novelty; the envelope, the
bands and the downbeat evidence stay on the aubio frames. With ``beat_activation = "beatnet"`` it
follows BeatNet's causal CRNN (:mod:`live.audio.beatnet`, 50 frames a second), whose downbeat
probability is also the ``learned`` downbeat cue (``downbeat = "learned"``, with any activation).
"""

from __future__ import annotations

import logging
import math
import threading
import time

import aubio
import numpy as np
import scipy.fft

from live.audio import beatnet, rnn
from live.audio.beatnet import BeatNetActivation
from live.audio.recognise import Recogniser
from live.audio.rnn import RNNBeatActivation
from live.audio.settings import DEFAULTS, AnalysisSettings
from live.audio.sources import AudioError, to_mono
from live.beat.clock import BeatClock
from live.beat.downbeat import BeatChroma
from live.beat.published import PublishedTempo
from live.beat.tracker import BeatEstimate, BeatTracker
from live.handoff import CommandQueue, LatestSlot, RingBuffer
from live.messages import PITCH_CLASSES, AudioState, Command, TempoReading

_LOGGER = logging.getLogger(__name__)

MEL_BANDS = 40  # bands of the logflux onset function
LOG_COMPRESSION = 1000.0  # log1p(C x band energy): the logflux compression
# Seconds the published beat grid runs ahead of the novelty peaks: people place the beat of real
# instruments about 10 ms after the peak (the median offset against the annotated development
# clips). Frame timing is the show's business.
LEAD = -0.010
# Seconds from a beat to the rnn frame that marks it: the median offset of the committed beats
# against the annotated development clips (one global constant, like LEAD).
RNN_DELAY = 0.022
# Seconds from a beat to the end of the BeatNet frame that marks it: the frame is centred on the
# beat, its window ends half a window (32 ms) later (the median offset on the tune half of the
# development clips).
BEATNET_DELAY = 0.021
# The BeatNet beat probability reaches the tracker at this many times its 50 frames a second
# (linear interpolation between frames): the tracker's comb and peak picking were tuned at
# 86-100 frames a second.
BEATNET_UPSAMPLE = 2
# ``blend``: aubio's novelty plus BeatNet's beat probability at this weight, each over its running
# mean (chosen on the tune half: weight 0 / 0.1 / 0.2 / 0.3 gave beat F 0.801 / 0.794 / 0.798 /
# 0.788 and downbeat F 0.434 / 0.459 / 0.492 / 0.494 with the learned downbeat cues).
HYBRID_WEIGHT = 0.2
HYBRID_MEAN_RATE = 0.002  # running means over ~5 s of frames: the common scale of the two
BEATNET_ACCENT = True  # the tracker's beat / off-beat check reads aubio's bass accent with BeatNet too
LEARNED_WINDOW = 0.15  # beats: the learned downbeat cue of beat k is its largest probability within +-this of k
LOW_HZ, HIGH_HZ = 150.0, 2500.0  # band edges: kick/bass | body | hats and air
SILENCE_DB = -60.0  # below this RMS (dBFS) for SILENCE_HOLD seconds the input counts as silent
SILENCE_HOLD = 0.3
TRACK_GAP = 2.0  # seconds of silence after which the music is taken for a new track (its bar guessed afresh)
CLIP_LEVEL = 0.999  # a sample this close to full scale counts as clipping (-0.01 dBFS)
CLIP_HOLD_S = 2.0  # the clip lamp stays lit this long after the last clipped sample
PEAK_FALL_DB_S = 20.0  # the held input peak falls this fast, as a peak meter's does
_FLOORS = (1e-3, 1e-3, 1e-3, 10 ** (SILENCE_DB / 20.0), 1e-3)  # gain floors: low, mid, high, level, novelty
# Chroma: a CHROMA_HOPS-hop FFT every CHROMA_EVERY hops; bins up to CHROMA_HIGH_HZ that are at most
# CHROMA_MAX_WIDTH semitones wide (4096 points at 48 kHz: from ~100 Hz), smoothed over ~0.25 s.
CHROMA_HOPS = 8
CHROMA_EVERY = 8
CHROMA_HIGH_HZ = 5000.0
CHROMA_MAX_WIDTH = 2.5  # semitones
CHROMA_SMOOTH_S = 0.25


def chroma_weights(samplerate: int, fft_size: int) -> tuple[slice, np.ndarray]:
    """The spectrum bins the chroma reads and the (12, bins) matrix that folds their power into
    pitch classes (C first). Each bin is spread over the pitch classes around its centre with a
    Gaussian as wide as the bin (in semitones), its weights summing to 1."""
    width_hz = samplerate / fft_size
    # Bin k is about 17.3 / k semitones wide: start where that is at most CHROMA_MAX_WIDTH.
    first = max(1, math.ceil(12.0 / math.log(2.0) / CHROMA_MAX_WIDTH))
    last = min(fft_size // 2, int(CHROMA_HIGH_HZ / width_hz))
    freqs = np.arange(first, last + 1) * width_hz
    pitch = 12.0 * np.log2(freqs / 440.0) + 9.0  # A4 = pitch class 9
    sigma = np.maximum(0.5, 0.5 * 12.0 / math.log(2.0) * width_hz / freqs)
    distance = (pitch[None, :] - np.arange(PITCH_CLASSES)[:, None] + 6.0) % 12.0 - 6.0
    weights = np.exp(-0.5 * (distance / sigma[None, :]) ** 2)
    weights /= weights.sum(axis=0, keepdims=True)
    return slice(first, last + 1), weights.astype(np.float32)


def default_hop(samplerate: int) -> int:
    """Hop giving ~86-94 analysis frames per second: 256 at 22.05/24 kHz, 512 at 44.1/48 kHz."""
    return int(2 ** round(math.log2(samplerate / 90.0)))


class AudioEngine:
    """Analysis + beat clock, fed block by block; :attr:`state` is the newest :class:`AudioState`.

    ``settings`` (:class:`~live.audio.settings.AnalysisSettings`, default: its defaults) choose
    the onset function and the tempo range; the rest is tuned once, here and in the tracker.
    ``recogniser`` (:mod:`live.audio.recognise`, ``--set``) follows a prepared set's tracks in the
    same input; while it recognises one, the clock follows that track's grid.
    """

    def __init__(self, samplerate: int, settings: AnalysisSettings = DEFAULTS,
                 recogniser: Recogniser | None = None) -> None:
        if not 8000 <= int(samplerate) <= 192000:
            raise AudioError(f"sample rate {samplerate} is out of range; use 8000..192000 (e.g. 44100 or 48000)")
        self.samplerate = int(samplerate)
        self.settings = settings
        self.hop = default_hop(self.samplerate)
        self.buf = 2 * self.hop  # FFT size
        self.onset_method = settings.onset_method
        self._accent_peak = 1e-9
        self._prev_total = 0.0
        self.fps = self.samplerate / self.hop
        # The novelty of an onset peaks this long after the onset (the FFT window's centre lag).
        self.onset_delay = 0.4 * self.buf / self.samplerate

        self._pvoc = aubio.pvoc(self.buf, self.hop)
        if self.onset_method == "logflux":
            self._fb = aubio.filterbank(MEL_BANDS, self.buf)
            self._fb.set_mel_coeffs(float(self.samplerate), 30.0, min(11000.0, self.samplerate / 2.0 - 1.0))
            self._prev_bands = np.zeros(MEL_BANDS, dtype=np.float32)
            self._desc = None
        else:
            self._desc = aubio.specdesc(self.onset_method, self.buf)
        freqs = np.arange(self.buf // 2 + 1) * self.samplerate / self.buf
        self._low = slice(1, int(np.searchsorted(freqs, LOW_HZ)))
        self._mid = slice(self._low.stop, int(np.searchsorted(freqs, HIGH_HZ)))
        self._high = slice(self._mid.stop, len(freqs))
        chroma_fft = CHROMA_HOPS * self.hop
        self._chroma_bins, self._chroma_w = chroma_weights(self.samplerate, chroma_fft)
        self._chroma_audio = np.zeros(chroma_fft, dtype=np.float32)  # the newest CHROMA_HOPS hops, a ring
        self._chroma_window = np.hanning(chroma_fft).astype(np.float32)
        self._chroma = np.zeros(PITCH_CLASSES, dtype=np.float32)

        # What the beat tracker follows: the learned activation (100 frames/s, its own framing)
        # or the onset novelty above (one value per hop).
        self.beat_activation = settings.beat_activation
        self._rnn: RNNBeatActivation | None = None
        if self.beat_activation == "rnn":
            if rnn.available():
                self._rnn = RNNBeatActivation(self.samplerate)
            else:
                _LOGGER.warning("--beat-activation rnn needs madmom, which is not installed (%s): using aubio",
                                rnn.INSTALL_HINT)
                self.beat_activation = "aubio"
        # BeatNet: its beat probability for the tracker and/or its downbeat probability for the bar.
        self._beatnet: BeatNetActivation | None = None
        self.downbeat = settings.downbeat
        if self.beat_activation in ("beatnet", "blend") or self.downbeat == "learned":
            if beatnet.available():
                self._beatnet = BeatNetActivation(self.samplerate)
            else:
                _LOGGER.warning("the beatnet activation needs BeatNet, which is not installed (%s): using aubio "
                                "and the harmony downbeat cues", beatnet.INSTALL_HINT)
                self.beat_activation = "aubio" if self.beat_activation in ("beatnet", "blend") else self.beat_activation
                self.downbeat = "harmony" if self.downbeat == "learned" else self.downbeat
        self._accent_hold = 0.0  # the largest aubio accent since the last learned frame
        # aubio + BeatNet: the onset novelty with BeatNet's beat probability of the same moment added.
        self._hybrid = self.beat_activation == "blend"
        self._hybrid_queue: list[tuple[float, float, float]] = []
        self._hybrid_prev = (-1.0, 0.0)  # time and beat probability of the previous BeatNet frame
        self._hybrid_means = [0.0, 0.0, 0]  # running means of the novelty and the probability, count
        self._beatnet_last = 0.0  # the previous frame's beat probability (for the upsampling)
        self._learned_beat: int | None = None  # the beat whose learned downbeat cue is being collected
        self._learned_max = 0.0
        if self._rnn is not None:
            self._beat_dt = 1.0 / rnn.FPS
            # The networks mark the beat in the frame whose window ends just after it.
            self.beat_delay = RNN_DELAY
        elif self.beat_activation == "beatnet":
            self._beat_dt = 1.0 / (beatnet.FPS * BEATNET_UPSAMPLE)
            self.beat_delay = BEATNET_DELAY
        else:
            self._beat_dt = self.hop / self.samplerate
            self.beat_delay = self.onset_delay  # the onset novelty peaks at the FFT window's centre lag
        self.tracker = BeatTracker(1.0 / self._beat_dt, settings.tempo_min, settings.tempo_max)
        self.clock = BeatClock(settings.tempo_min, settings.tempo_max, downbeat=self.downbeat)
        # Chord changes for the downbeat: the chroma frames summed per beat (not needed for "bass").
        self._beat_chroma = BeatChroma() if self.downbeat in ("harmony", "learned") else None

        self._pending = np.zeros(0, dtype=np.float32)
        self._time = 0.0  # clock time just after the newest analysed sample
        self._started = False
        self._frame_dt = self.hop / self.samplerate
        # Slow automatic gain: peak followers that fall by half in ~8 s.
        self._agc_release = 0.5 ** (self._frame_dt / 8.0)
        self._peaks = [1e-4] * 5  # low, mid, high, level, novelty
        self._silence_rms = 10.0 ** (SILENCE_DB / 20.0)
        self._env_decay = math.exp(-self._frame_dt / 0.12)
        self._smooth = 1.0 - math.exp(-self._frame_dt / 0.05)
        self._chroma_smooth = 1.0 - math.exp(-CHROMA_EVERY * self._frame_dt / CHROMA_SMOOTH_S)
        self._env = 0.0
        self._bands = [0.0] * 4  # smoothed low, mid, high, level (after gain)
        self._silent_for = SILENCE_HOLD
        self._low_flux = 0.0
        self._prev_low = 0.0
        self._last_beat_floor: int | None = None
        self._input_peak, self._peak_time, self._clip_time = 0.0, 0.0, -math.inf  # the input meter (raw)
        self._state = AudioState()
        self._published = PublishedTempo()
        self.frames = 0
        self.recogniser = recogniser

    # -- feeding ---------------------------------------------------------------------------

    def feed(self, samples: np.ndarray, end_time: float) -> None:
        """Analyse ``samples`` (mono float32, any length) ending at clock time ``end_time``."""
        x = np.asarray(samples, dtype=np.float32)
        if len(x) == 0:
            return
        self._meter(x, end_time)  # before the mix-down: one clipping channel is not averaged away
        if x.ndim > 1:
            x = to_mono(x)
        if not self._started:
            self._started = True
            self.clock.anchor_time = end_time - len(x) / self.samplerate
        block = x
        if len(self._pending):
            x = np.concatenate((self._pending, x))
        hop = self.hop
        n_frames = len(x) // hop
        for f in range(n_frames):
            frame = x[f * hop : (f + 1) * hop]
            frame_end = end_time - (len(x) - (f + 1) * hop) / self.samplerate
            self._frame(frame, frame_end)
        self._pending = x[n_frames * hop :].copy()
        if self._rnn is not None:
            self._feed_rnn(block, end_time)
        if self._beatnet is not None:
            self._feed_beatnet(block, end_time)
        if self.recogniser is not None:
            self.recogniser.push(block, end_time)
        self._time = end_time
        self._publish(end_time)

    def _meter(self, x: np.ndarray, end_time: float) -> None:
        """The input peak meter: the block's sample peak, held and falling :data:`PEAK_FALL_DB_S`;
        a sample at :data:`CLIP_LEVEL` or above marks the input as clipping."""
        peak = float(np.abs(x).max())
        fall = 10.0 ** (-PEAK_FALL_DB_S * max(0.0, end_time - self._peak_time) / 20.0)
        self._input_peak, self._peak_time = max(peak, self._input_peak * fall), end_time
        if peak >= CLIP_LEVEL:
            self._clip_time = end_time

    def idle(self, now: float) -> None:
        """No audio is arriving (device lost, stalled): advance the snapshot to ``now`` as silence,
        keeping the clock free-running at its last tempo."""
        if now <= self._time:
            return
        dt = now - self._time
        self._time = now
        self._env *= self._env_decay ** (dt / self._frame_dt)
        self._bands = [b * math.exp(-dt / 0.2) for b in self._bands]
        self._chroma *= math.exp(-dt / 0.2)
        self._meter(np.zeros(1, np.float32), now)
        self._silent_for = max(self._silent_for, SILENCE_HOLD)
        self.clock.decay(dt)
        self._publish(now)

    def _frame(self, frame: np.ndarray, frame_end: float) -> None:
        self.frames += 1
        spec = self._pvoc(frame)
        mag = spec.norm
        if self._desc is None:
            bands = np.log1p(LOG_COMPRESSION * self._fb(spec))
            diff = bands - self._prev_bands
            novelty = float(diff[diff > 0].sum()) / len(diff)  # mean of the half-wave rectified flux
            self._prev_bands = bands
        else:
            novelty = float(self._desc(spec)[0])
        # Per-frame scalars in plain Python: tiny numpy arrays cost more in call overhead
        # than the arithmetic itself at ~90 frames a second.
        low_p = float(np.dot(mag[self._low], mag[self._low]))
        mid_p = float(np.dot(mag[self._mid], mag[self._mid]))
        high_p = float(np.dot(mag[self._high], mag[self._high]))
        self._update_chroma(frame, frame_end)
        low, mid, high = math.sqrt(low_p), math.sqrt(mid_p), math.sqrt(high_p)
        rms = math.sqrt(float(np.dot(frame, frame)) / len(frame) + 1e-20)
        silent_now = rms < self._silence_rms
        if not silent_now and self._silent_for >= TRACK_GAP:
            self.clock.restart_bar()  # music after a long silence: a new track, with its own bar
        self._silent_for = self._silent_for + self._frame_dt if silent_now else 0.0

        # Gain: divide by slow peak followers (never below a floor, so silence stays near 0).
        raw = (low, mid, high, rms, novelty)
        release = self._agc_release
        peaks = self._peaks
        levels = [0.0] * 5
        for i in range(5):
            p = max(raw[i], peaks[i] * release)
            peaks[i] = p
            levels[i] = min(raw[i] / max(p, _FLOORS[i]), 1.0)
        bands_s = self._bands
        for i in range(4):
            bands_s[i] += self._smooth * (levels[i] - bands_s[i])
        self._env = max(levels[4], self._env * self._env_decay)
        low_flux = max(0.0, levels[0] - self._prev_low)
        self._prev_low = levels[0]

        # Accent (beat or off-beat?): the rise of the total power, relative to its slow peak.
        e_total = low_p + mid_p + high_p + float(mag[0]) ** 2
        self._accent_peak = max(e_total, self._accent_peak * self._agc_release)
        accent = max(0.0, e_total - self._prev_total) / (self._accent_peak + 1e-12)
        self._prev_total = e_total
        if self._hybrid:
            self._hybrid_queue.append((novelty, accent, frame_end))  # waits for BeatNet's frame of that time
        elif self.beat_activation == "aubio":
            self._beat_step(novelty, accent, frame_end)
        else:
            self._accent_hold = max(self._accent_hold, accent)
        # Downbeat evidence: the strongest bass onset within the first part of each beat.
        onset_time = frame_end - self.onset_delay
        pos = self.clock.beats_at(onset_time)
        k = math.floor(pos + 0.15)
        if pos + 0.15 - k < 0.3:
            self._low_flux = max(self._low_flux, low_flux)
        elif self._low_flux > 0 or self._last_beat_floor != k:
            self.clock.accent(k, self._low_flux)
            self._low_flux = 0.0
            self._last_beat_floor = k

    def _feed_rnn(self, samples: np.ndarray, end_time: float) -> None:
        # The learned activation, frame by frame as its frames complete; each frame's end time
        # follows from how many samples it lies before the newest one.
        assert self._rnn is not None
        first = self._rnn.frames
        values = self._rnn.process(samples)
        received = self._rnn.received
        for i, value in enumerate(values):
            frame_end = end_time - (received - self._rnn.frame_end(first + i)) / self.samplerate
            # No bass accent: the networks already tell beats from off-beats (feeding aubio's
            # accent here scored lower on the development clips).
            self._beat_step(float(value), 0.0, frame_end)

    def _feed_beatnet(self, samples: np.ndarray, end_time: float) -> None:
        # BeatNet's frames as they complete: the beat probability into the tracker (when it is the
        # beat activation), the downbeat probability into the bar (when the cue is "learned").
        assert self._beatnet is not None
        net = self._beatnet
        first = net.frames
        beat, down = net.process(samples)
        received = net.received
        for i in range(len(beat)):
            frame_end = end_time - (received - net.frame_end(first + i)) / self.samplerate
            if self.beat_activation == "beatnet":
                value = float(beat[i])
                for j in range(1, BEATNET_UPSAMPLE + 1):  # the last step is the frame itself
                    w = j / BEATNET_UPSAMPLE
                    accent = self._accent_hold if BEATNET_ACCENT else 0.0
                    self._accent_hold = 0.0
                    self._beat_step(self._beatnet_last + w * (value - self._beatnet_last), accent,
                                    frame_end - (1.0 - w) / beatnet.FPS)
                self._beatnet_last = value
            if self.downbeat == "learned":
                self._learned_cue(float(down[i]), frame_end - BEATNET_DELAY)
            if self._hybrid:
                self._hybrid_step(float(beat[i]), frame_end - (net.frame_size - net.frame_size // 2) / self.samplerate)

    def _hybrid_step(self, probability: float, centre: float) -> None:
        # The aubio frames whose onset time BeatNet has now reached get its beat probability
        # (interpolated to their time) added, each signal over its running mean.
        t0, p0 = self._hybrid_prev
        self._hybrid_prev = (centre, probability)
        means = self._hybrid_means
        while self._hybrid_queue and self._hybrid_queue[0][2] - self.onset_delay <= centre:
            novelty, accent, frame_end = self._hybrid_queue.pop(0)
            t = frame_end - self.onset_delay
            p = p0 + (probability - p0) * (t - t0) / (centre - t0) if t0 < t < centre else probability
            if self._silent_for < SILENCE_HOLD:  # silence would drag both scales toward 0
                means[2] += 1
                rate = max(HYBRID_MEAN_RATE, 1.0 / means[2])
                means[0] += rate * (novelty - means[0])
                means[1] += rate * (p - means[1])
            value = novelty / max(means[0], 1e-9) + HYBRID_WEIGHT * p / max(means[1], 1e-9)
            self._beat_step(value, accent, frame_end)

    def _learned_cue(self, probability: float, t: float) -> None:
        # The largest downbeat probability within LEARNED_WINDOW beats of each beat, handed to the
        # clock once that window has passed.
        pos = self.clock.beats_at(t)
        k = math.floor(pos + LEARNED_WINDOW)
        if pos + LEARNED_WINDOW - k < 2 * LEARNED_WINDOW:
            if self._learned_beat != k:
                self._learned_beat, self._learned_max = k, 0.0
            self._learned_max = max(self._learned_max, probability)
        elif self._learned_beat is not None:
            self.clock.learned(self._learned_beat, self._learned_max)
            self._learned_beat = None

    def _beat_step(self, value: float, accent: float, frame_end: float) -> None:
        # One frame of the beat activation into the tracker, and the tracker's estimate into the clock.
        dt = self._beat_dt
        silent = self._silent_for >= SILENCE_HOLD
        self.tracker.update(0.0 if silent else value, 0.0 if silent else accent)
        if silent:
            self.clock.decay(dt)
            return
        if self.clock.source == "none":
            self.tracker.expected = None
        else:
            # Where the clock's own grid puts the latest beat, in tracker frames.
            t_on = frame_end - self.beat_delay - LEAD  # the clock's grid includes the lead
            pos = self.clock.beats_at(t_on) - self.clock.offset
            last_beat = t_on - (pos - math.floor(pos)) * 60.0 / self.clock.bpm
            self.tracker.expected = self.tracker.frame - (t_on - last_beat) / dt
        est = self.tracker.estimate()
        if est is not None:
            b_frame, period_frames, conf = est
            beat_time = frame_end - (self.tracker.frame - b_frame) * dt - self.beat_delay - LEAD
            if conf >= 0.05:
                self.clock.follow(BeatEstimate(beat_time, period_frames * dt, conf), frame_end)
            else:
                self.clock.decay(dt)

    def _update_chroma(self, frame: np.ndarray, frame_end: float) -> None:
        """Keep the hop in the chroma window (a ring of hops); every CHROMA_EVERY hops fold the
        window's spectrum into the 12 pitch classes and smooth (~12 times a second at 48 kHz;
        scipy's float32 FFT is about 3x cheaper than numpy's here)."""
        hop = len(frame)
        slot = self.frames % CHROMA_HOPS
        self._chroma_audio[slot * hop:(slot + 1) * hop] = frame
        if self.frames % CHROMA_EVERY:
            return
        oldest = (slot + 1) % CHROMA_HOPS * hop  # the ring starts after the newest hop
        audio = np.concatenate((self._chroma_audio[oldest:], self._chroma_audio[:oldest]))
        part = np.abs(scipy.fft.rfft(audio * self._chroma_window)[self._chroma_bins])
        raw = self._chroma_w @ (part * part)
        self._chroma += self._chroma_smooth * (raw - self._chroma)
        if self._beat_chroma is not None:
            # Downbeat evidence: the chord change into the beat this frame finishes (window centre).
            centre = frame_end - 0.5 * len(audio) / self.samplerate
            change = self._beat_chroma.add(self.clock.beats_at(centre), raw)
            if change is not None:
                self.clock.harmony(*change)

    def _publish(self, t: float) -> None:
        track = self.recogniser.at(t) if self.recogniser is not None else None
        if track is not None:
            self.clock.offer(track[1], track[0].name)  # the set's grid, a tempo source below a manual lock
        self.clock.sync(t)  # the tempo source priority (Link, MIDI clock, manual, audio) at t
        pos = self.clock.beats_at(t)
        index = math.floor(pos)
        self._state = AudioState(
            time=t,
            bpm=float(self.clock.bpm),
            beat_phase=float(pos - index),
            beat_index=int(index),
            downbeat=self.clock.downbeat_of(index),
            onset_env=float(self._env),
            low=float(self._bands[0]),
            mid=float(self._bands[1]),
            high=float(self._bands[2]),
            level=float(self._bands[3]),
            confidence=float(self.clock.confidence),
            tempo_source=self.clock.source,
            # The set's tempo to say is its grid's steady one (the clock places beats by each beat's own).
            tempo=self._published.update(t, track[0].bpm if track is not None and self.clock.source == "set"
                                         and track[0].bpm > 0 else self.clock.bpm, self.clock.source),
            silent=self._silent_for >= SILENCE_HOLD,
            chroma=self._chroma_now(),
            input_peak=self._input_peak,
            clipping=t - self._clip_time <= CLIP_HOLD_S,
            track=None if track is None else track[0],
        )

    def _chroma_now(self) -> tuple[float, ...]:
        """The smoothed chroma scaled so the strongest pitch class is 1 (all 0 when silent)."""
        peak = float(self._chroma.max())
        if self._silent_for >= SILENCE_HOLD or peak <= 1e-12:
            return (0.0,) * PITCH_CLASSES
        return tuple((self._chroma / peak).tolist())

    # -- output and control ----------------------------------------------------------------

    @property
    def state(self) -> AudioState:
        """The newest immutable snapshot."""
        return self._state

    @property
    def time(self) -> float:
        """Clock time just after the newest analysed sample."""
        return self._time

    def external(self, reading: TempoReading) -> None:
        """A reading of an external tempo source (Link, MIDI clock); followed from the next
        snapshot on while it is the highest source heard in the last 2 s."""
        self.clock.offer(reading)

    def command(self, cmd: Command) -> None:
        """Apply a clock command (tap, bpm, nudge, resync, lock); others are ignored here.

        The command's ``received`` time is used when set, else the newest audio time. Bad
        arguments are logged and ignored: the control side validates, and the clock must
        never stop over one bad message.
        """
        t = cmd.received if cmd.received > 0 else self._time
        try:
            if cmd.name == "tap":
                self.clock.tap(t)
            elif cmd.name == "bpm":
                # The show checked the range against the command table (live.control.commands);
                # this only keeps a nonsense value from dividing the clock by zero.
                bpm = float(cmd.args[0])
                if not bpm > 0 or bpm == float("inf"):
                    raise ValueError(f"bpm {bpm} is not a tempo")
                self.clock.set_bpm(bpm, t)
                self.tracker.fixed_period = 60.0 * self.tracker.fps / bpm
                self.tracker.period = self.tracker.fixed_period
            elif cmd.name == "nudge":
                self.clock.nudge(float(cmd.args[0]))
            elif cmd.name == "resync":
                self.clock.resync(t)
            elif cmd.name == "lock":
                on = bool(int(cmd.args[0])) if cmd.args else not self.clock.locked  # no argument: flip, like every toggle
                self.clock.lock(on, t)
                self.tracker.fixed_period = 60.0 * self.tracker.fps / self.clock.bpm if on else None
            else:
                return
        except (IndexError, TypeError, ValueError) as exc:
            _LOGGER.warning("ignored clock command %s%r from %s: %s", cmd.name, cmd.args, cmd.source, exc)
            return
        if cmd.name == "tap" and self.clock.locked:
            self.tracker.fixed_period = 60.0 * self.tracker.fps / self.clock.bpm
            self.tracker.period = self.tracker.fixed_period
        self._publish(self._time)


class AnalysisThread(threading.Thread):
    """Live analysis: reads the ring buffer, applies clock commands, feeds the engine and
    publishes each new :class:`AudioState` to ``out`` (latest wins). When no audio arrives
    (lost device) it keeps publishing a free-running clock. ``tempo`` are the slots the external
    tempo peers (Link, MIDI clock) put their readings in; each pass takes the newest of each.
    Exceptions are logged, never raised.
    """

    POLL = 0.005
    IDLE_AFTER = 0.25

    def __init__(self, ring: RingBuffer, engine: AudioEngine, out: LatestSlot, commands: CommandQueue,
                 tempo: tuple[LatestSlot[TempoReading], ...] = ()) -> None:
        super().__init__(name="audio-analysis", daemon=True)
        if ring.samplerate != engine.samplerate:
            raise AudioError(f"ring buffer rate {ring.samplerate} differs from analysis rate {engine.samplerate}")
        self.ring, self.engine, self.out, self.commands = ring, engine, out, commands
        self.tempo = tuple(tempo)
        self._stop_event = threading.Event()
        self.busy = 0.0  # seconds spent analysing (for the cost figure)
        self.errors = 0

    def stop(self) -> None:
        """Ask the thread to finish and wait for it."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=2.0)

    def run(self) -> None:
        """Thread body: poll, analyse, publish until stopped."""
        last_audio = time.perf_counter()
        while not self._stop_event.is_set():
            try:
                for cmd in self.commands.drain():
                    self.engine.command(cmd)
                for slot in self.tempo:
                    reading = slot.take(timeout=0)
                    if reading is not None:
                        self.engine.external(reading)
                block, end_time = self.ring.read()
                now = time.perf_counter()
                if len(block):
                    t0 = time.perf_counter()
                    self.engine.feed(block, end_time)  # the engine meters every channel, then mixes down
                    self.busy += time.perf_counter() - t0
                    last_audio = now
                    self.out.put(self.engine.state)
                elif now - last_audio > self.IDLE_AFTER:
                    self.engine.idle(now)
                    self.out.put(self.engine.state)
            except Exception:  # never let analysis die: the show must keep its clock
                self.errors += 1
                if self.errors == 1 or self.errors % 1000 == 0:
                    _LOGGER.exception("audio analysis error (%d so far); continuing", self.errors)
            self._stop_event.wait(self.POLL)
