"""The causal beat tracker over the onset function (:class:`BeatTracker`), one frame at a time:

* tempo: autocorrelation of the recent onset function, scored as a comb (a period scores its
  own lag and its multiples), weighted by a broad log-tempo prior, limited to the tempo range
  (a period outside it is folded by octaves), smoothed over a few seconds with hysteresis (a
  big move also needs the last few seconds not to prefer the current tempo), so half- and
  double-time errors are corrected by the comb and the prior together. Where both a
  tempo and its half fit the range, a backbeat decides: onsets folded over two beats of the
  slower tempo that alternate strong / weak (kick and snare, a one-drop) make the slower
  tempo the beat. A big tempo move re-runs the phase DP over the stored history. A DJ
  transition may make it jump: when the last ~3 s alone clearly prefer another tempo on three
  evaluations running *and* the beat chain already beats at that tempo (or for ~2 s when the
  chain cannot follow so big a change, unless the old tempo has vanished from those seconds),
  the tempo moves at once, and its window restarts there: the new track's tempo and octave come
  from its own onsets, as at start-up;
* phase: Ellis' dynamic-programming beat tracker run forward only, over the onset function
  smoothed by a ~12 ms Gaussian (so it runs two frames behind). Each frame's cumulative score
  is its onset strength plus the best earlier cumulative score one beat period back, minus a
  penalty for deviating from the period. The best-scoring frame in the last period is the
  latest beat; the next beats are predicted from a straight line fitted through the recent
  beat chain. The fit reaches back only as far as the beats lie on one line (the two newest
  beats off it to the same side mean the tempo or phase changed), so it re-locks within two
  or three beats of a change instead of averaging old and new;
* beat or off-beat: the chain follows the densest onsets, which can be off-beat hats; loud
  (power) onsets on the grid versus half a beat off it decide which half is the beat. The
  estimate is reused until a new latest beat wins or the tempo moves (most frames).

The clock the show reads is :mod:`live.beat.clock`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class BeatEstimate:
    """The tracker's belief: a beat at ``beat_time`` (clock seconds), then one every ``period`` seconds."""

    beat_time: float
    period: float
    confidence: float


# Tuned once against the development clips (``bench beats``); no caller varies them.
TEMPO_PRIOR = 120.0  # BPM the log-tempo prior centres on
PRIOR_OCTAVES = 1.0  # its width (standard deviation, octaves)
WINDOW = 10.0  # seconds of onsets the tempo autocorrelation sees
SHORT_WINDOW = 3.0  # seconds of recent onsets that may make the tempo jump (DJ transition)
TEMPO_EVERY = 0.25  # seconds between tempo estimates
TEMPO_SMOOTHING = 2.0  # time constant (s) of the smoothed tempo salience
TIGHTNESS = 300.0  # DP penalty for a beat interval off the period (Ellis' tightness)
# Each beat back in a chain counts ``LEAK`` times less: chains ending at different frames compare
# fairly, and a phase or tempo change wins within a few beats.
LEAK = 0.85
# Bonus for a latest-beat candidate on the current grid, as a fraction of the best cumulative
# score, so the phase does not flip between beat and off-beat on every frame. Relative, like the
# tempo's hysteresis: in the first seconds, when the scores are small and the grid is a guess,
# it holds the phase as little as it should.
STICKINESS = 0.15
CHAIN_BEATS = 8  # beats of the DP chain the grid is fitted through
CHAIN_WEIGHT = 0.8  # weight of a chain beat per beat of age in the fit
# Beat / off-beat arbitration: the DP follows the densest onset train, which in dance music can
# be the off-beat hi-hat. Kicks (bass onsets) decide which half is the beat: the other half must
# be ``OFFBEAT_RATIO`` times stronger, and its peaks ``ACCENT_CONTRAST`` times the mean accent.
OFFBEAT_RATIO = 1.5
ACCENT_CONTRAST = 12.0
ACCENT_MIN_WEIGHT = 4.0  # the accent sums are normalised by at least this much beat weight
JUMP_RATIO = 1.2  # a tempo jump needs the recent salience this many times the current tempo's
JUMP_PEAK = 2.0  # ... at a peak this many times the mean salience,
JUMP_CONFIRM = 3  # ... on this many evaluations running when the beat chain agrees,
JUMP_CONFIRM_ALONE = 9  # ... or this many when it does not
# Grid fit tolerance, as a fraction of the period: beats further off a straight line than this
# end the fit (a tempo change or a phase jump happened there).
FIT_TOLERANCE = 0.035
OLDEST_TOLERANCE = 0.7  # the oldest beat of a fit must lie this close (x tolerance) to the newer beats' line
FIT_FLOOR = 0.5  # onset strength (std units) added to every chain beat's fit weight
SLOPE_RANGE = 0.15  # how far (fraction of the period) the grid slope may move the period
# Octave choice: the slower of two octave-related tempi wins when its two beats alternate
# strong / weak below this ratio (see _backbeat_octave).
BACKBEAT = 0.6
RESCORE = 0.04  # a tempo move larger than this (fraction) re-runs the DP over the history
# The DP reads the onset function smoothed by a Gaussian of ``SMOOTHING`` seconds (as Ellis
# smooths the onset envelope): a flam, a strum or a swung cluster then scores as one peak at its
# centre instead of pulling the chain to whichever spike is tallest.
SMOOTHING = 0.012
REFRESH = 0.25  # seconds: the cached estimate is recomputed at least this often


class BeatTracker:
    """Causal tempo + phase tracker over an onset-strength function sampled at ``fps`` frames/s,
    reporting tempi in ``tempo_min..tempo_max`` BPM (validated by
    :class:`~live.audio.settings.AnalysisSettings`)."""

    def __init__(self, fps: float, tempo_min: float = 70.0, tempo_max: float = 180.0) -> None:
        self.fps = float(fps)
        self.tempo_min, self.tempo_max = float(tempo_min), float(tempo_max)
        self.expected: float | None = None
        self.half_shift = False
        # History long enough for the autocorrelation window plus comb multiples.
        self._hist = int(round(max(WINDOW, 4 * 60.0 / tempo_min) * fps)) + 8
        self._win = int(round(WINDOW * fps))
        self._first_estimate = int(round(2.0 * fps))  # tempo estimates start after 2 s of audio
        size = 4 * self._hist
        self._onset = np.zeros(size)  # normalised onset strength per frame
        self._score = np.zeros(size)  # cumulative DP score per frame
        self._back = np.zeros(size, dtype=np.int64)
        # The smoothing kernel is centred, so the DP runs ``_delay`` frames (2 sigma) behind the input.
        sigma = SMOOTHING * self.fps
        self._delay = max(1, int(round(2.0 * sigma)))
        self._kernel = _gaussian(self._delay, sigma)
        self._obs = np.zeros(size)  # smoothed onset, as the DP sees it
        self._accent = np.zeros(size)  # bass onset strength per frame
        self._pos = 0  # write position in the arrays
        self.frame = -1  # absolute index of the newest frame
        self._base = 0  # absolute index of array position 0
        # Candidate tempi on a fine log grid; period (frames) per candidate.
        self._bpms = np.exp(np.linspace(math.log(tempo_min), math.log(tempo_max), 160))
        self._periods = 60.0 * fps / self._bpms
        lp = np.log2(self._bpms / TEMPO_PRIOR)
        self._prior = np.exp(-0.5 * (lp / PRIOR_OCTAVES) ** 2)
        self._sal_smooth = np.zeros_like(self._bpms)
        # Comb teeth: each candidate scores its own lag, its multiples and its half. The half
        # tooth weighs as much as the double: a tactus is a pulse whose subdivision is periodic
        # too (Klapuri's tatum/tactus link), which favours the beat over a slower or a 3:2
        # pulse that merely lines up with some of the onsets.
        mults = np.array([1.0, 2.0, 3.0, 4.0, 0.5])
        self._comb_lags = mults[:, None] * self._periods[None, :]
        self._comb_weights = np.broadcast_to(np.array([1.0, 0.5, 0.33, 0.25, 0.5])[:, None], self._comb_lags.shape)
        self._maxlag = int(self._periods.max() * 4) + 2
        # Short window for tempo jumps: long enough for a few beats at the slowest tempo.
        self.first_line = int(round(max(SHORT_WINDOW, 2.5 * 60.0 / tempo_min) * fps))
        self._jump_candidate: float | None = None
        self._jump_count = 0
        self._cache: tuple[float, float, float] | None = None
        self._cache_key: tuple[int, float] | None = None
        self._cache_frame = -1
        self._refresh_frames = max(1, int(round(REFRESH * fps)))
        self._chain_period: float | None = None  # period of the latest consistent beat chain (>= 4 beats)
        self.jumps = 0  # tempo jumps taken (for tests and the log)
        self._track_start = 0  # absolute frame where the current track's tempo evidence starts
        self._tempo_every = max(1, int(round(TEMPO_EVERY * fps)))
        self._tempo_alpha = 1.0 - math.exp(-TEMPO_EVERY / TEMPO_SMOOTHING)
        self.period = 60.0 * fps / 120.0  # frames; 120 BPM until the audio says otherwise
        self.fixed_period: float | None = None  # set when the tempo is locked or set by hand
        self.tempo_confidence = 0.0
        self._alt: float | None = None  # smoothed alternation of the slower candidate
        self._mean = 0.0
        self._var = 1.0
        self._norm_alpha = 1.0 - math.exp(-1.0 / (4.0 * fps))  # ~4 s running statistics
        self._penalty_period = -1.0
        self._penalty = np.zeros(0)
        self._lags = np.zeros(0, dtype=np.int64)

    # -- input -----------------------------------------------------------------------------

    def update(self, value: float, accent: float = 0.0) -> None:
        """Add one onset-function frame (any non-negative scale: normalised here) and its
        ``accent`` (bass onset strength, any scale), used to tell beats from off-beats."""
        self.frame += 1
        if self._pos >= len(self._onset):
            keep = self._hist
            for arr in (self._onset, self._obs, self._score, self._back, self._accent):
                arr[:keep] = arr[self._pos - keep : self._pos]
            self._base += self._pos - keep
            self._pos = keep
        # Running mean/std so loud and quiet passages weigh the same. Until ~4 s have been
        # seen, every frame weighs the same (a plain running mean and variance): starting
        # from a guess (var 1 against a true ~0.005-0.06) would under-scale ~15 s of onsets
        # against the DP's tempo penalty, which assumes std units.
        v = float(value)
        a = max(self._norm_alpha, 1.0 / (self.frame + 1))
        d = v - self._mean
        self._mean += a * d
        self._var = (1 - a) * (self._var + a * d * d)
        o = max(0.0, v - self._mean) / math.sqrt(self._var + 1e-12)
        i = self._pos
        self._onset[i] = o
        self._accent[i] = accent
        j = i - self._delay
        if j - self._delay >= 0:
            self._obs[j] = float(np.dot(self._kernel, self._onset[j - self._delay : j + self._delay + 1]))
            self._dp_step(j)
        self._pos += 1
        if self.frame % self._tempo_every == 0 and self.frame >= self._first_estimate:
            self._estimate_tempo()

    def _dp_step(self, i: int) -> None:
        period = self.period
        if abs(period - self._penalty_period) > 1e-6:
            lo, hi = max(1, int(round(period * 0.5))), int(round(period * 2.0))
            self._lags = np.arange(lo, hi + 1)
            self._penalty = -TIGHTNESS * np.log(self._lags / period) ** 2
            self._penalty_period = period
        lags = self._lags
        if i - lags[-1] < 0:
            self._score[i] = self._obs[i]
            self._back[i] = -1
            return
        cand = LEAK * self._score[i - lags] + self._penalty
        k = int(np.argmax(cand))
        best = cand[k]
        if best > 0:
            self._score[i] = self._obs[i] + best
            self._back[i] = self._base + i - lags[k]
        else:
            self._score[i] = self._obs[i]
            self._back[i] = -1

    def _rescore(self) -> None:
        # The tempo moved a lot (start-up, a jump, an octave change): run the beat DP again
        # over the stored history with the new period, so the chains agree with it at once
        # instead of after a few beats of mixed old and new links.
        top = self._pos - self._delay  # frames past this have no smoothed onset yet
        for i in range(max(2 * self._delay, top - self._hist), top):
            self._dp_step(i)

    def _salience(self, n: int) -> np.ndarray | None:
        # Comb-scored autocorrelation of the last ``n`` onset frames, one value per candidate
        # tempo (prior applied); None when there is too little signal.
        x = self._onset[self._pos - n : self._pos]
        x = x - x.mean()
        if not np.any(x):
            return None
        maxlag = min(self._maxlag, n)
        spec = np.fft.rfft(x, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[:maxlag]
        if ac[0] <= 0:
            return None
        ac = ac / (ac[0] * (1.0 - np.arange(maxlag) / n))  # unbiased, 1 at lag 0
        # Every comb tooth is a fixed (candidate, multiple) lag: one interpolation for all.
        ok = self._comb_lags < maxlag - 1
        vals = np.interp(self._comb_lags, np.arange(maxlag), ac) * np.where(ok, self._comb_weights, 0.0)
        return np.maximum(vals.sum(axis=0), 0.0) * self._prior

    def _estimate_tempo(self) -> None:
        if self.fixed_period is not None:
            self.period = self.fixed_period
            return
        before = self.period
        n = min(self._pos, self._win, self.frame - self._track_start)  # this track's onsets only
        if n < self._maxlag // 2:
            return
        sal = self._salience(n)
        if sal is None:
            return
        if n < self._win:
            # Still filling the window: each estimate sees more audio than all earlier ones.
            self._sal_smooth = sal
        else:
            self._sal_smooth += self._tempo_alpha * (sal - self._sal_smooth)
        best = int(np.argmax(self._sal_smooth))
        cur = int(np.argmin(np.abs(self._periods - self.period)))
        new_period = float(self._periods[best])
        ns = min(self._pos, self.first_line)
        short = self._salience(ns) if ns >= self.first_line else None
        # Hysteresis: keep the current tempo unless another one is clearly better. A big move
        # also needs the last few seconds not to prefer the current tempo: right after a jump
        # the long window is still mostly the old track and would pull the tempo back to it.
        if abs(new_period / self.period - 1) < 0.04:
            self.period = new_period
        elif self._sal_smooth[best] > 1.1 * self._sal_smooth[cur] and (short is None or short[best] >= short[cur]):
            self.period = new_period
        # Tempo jump (DJ transition): the recent few seconds alone clearly prefer another
        # tempo on several evaluations running. The smoothed salience is then restarted from the
        # recent evidence instead of creeping there over several seconds.
        if short is not None:
            sb = int(np.argmax(short))
            sc = int(np.argmin(np.abs(self._periods - self.period)))
            ratio = self._periods[sb] / self.period
            octave = min(abs(ratio - m) for m in _METRIC_RATIOS) < 0.04 * max(ratio, 1.0)
            need = JUMP_RATIO * (1.5 if octave else 1.0)
            # A clear periodicity (peak well above the average salience) that beats the
            # current tempo by ``need``, on ``JUMP_CONFIRM`` evaluations running when the beat
            # chain the phase tracker follows already beats at that tempo, or on
            # ``JUMP_CONFIRM_ALONE`` (~2 s) when it does not (a big change, which the DP's
            # tempo penalty keeps the chain from following), so that a passing ambiguity of
            # the tempo evidence never moves the tracker.
            clear = short[sb] > JUMP_PEAK * (float(short.mean()) + 1e-9)
            chain = self._chain_period
            agree = chain is not None and abs(chain / self._periods[sb] - 1.0) < 0.04
            # The outgoing track has faded: the current tempo, clear over the long window, has no
            # more periodicity than average in the last few seconds. The ~2 s wait that guards a
            # chain that cannot follow then guards nothing but a tempo that is gone (a DJ mix
            # between distant tempi lost 2-3 s here after every fade).
            gone = (short[sc] <= float(short.mean())
                    and self._sal_smooth[sc] > JUMP_PEAK * float(self._sal_smooth.mean()))
            if abs(ratio - 1.0) > 0.03 and clear and short[sb] > need * short[sc]:
                # The same new tempo read at its double or half is the same evidence: in a mix the
                # incoming track's short-window peak often hops between octaves from one
                # evaluation to the next, and counting each hop as a new candidate restarted the
                # confirmation while the old tempo was long gone.
                if self._jump_candidate is not None and same_tempo(self._periods[sb], self._jump_candidate):
                    self._jump_count += 1
                else:
                    self._jump_count = 1
                self._jump_candidate = float(self._periods[sb])
                if self._jump_count >= (JUMP_CONFIRM if agree or gone else JUMP_CONFIRM_ALONE):
                    self.period = float(self._periods[sb])
                    self._sal_smooth = short.copy()
                    self._jump_candidate = None
                    self.jumps += 1
                    # A new track: its tempo and octave are chosen as at start-up, from its own
                    # onsets only (the window grows from the short one that proved the jump).
                    # The old track's onsets in the 10 s window flipped the new tempo's octave.
                    self._track_start = self.frame - self.first_line
                    self._alt = None
            else:
                self._jump_candidate = None
        self.period = self._backbeat_octave(self.period)
        if abs(self.period / before - 1.0) > RESCORE:
            self._rescore()
        mean_sal = float(self._sal_smooth.mean()) + 1e-9
        best = int(np.argmax(self._sal_smooth))
        self.tempo_confidence = float(np.clip((self._sal_smooth[best] / mean_sal - 1.0) / 2.0, 0.0, 1.0))

    def _alternation(self, period: float) -> float | None:
        # Onsets of the recent window folded over two beats of ``period`` frames: the weaker
        # of the two beats' peaks over the stronger, at the phase where both together peak.
        n = min(self._pos, self._hist, self.frame - self._track_start)
        cycle = 2.0 * period
        if n < 3 * cycle:
            return None
        x = self._onset[self._pos - n : self._pos]
        bins = int(round(cycle))
        ph = (np.arange(n) % cycle) * (bins / cycle)
        idx = ph.astype(np.int64) % bins
        h = np.bincount(idx, weights=x, minlength=bins) / np.maximum(np.bincount(idx, minlength=bins), 1)
        h = np.convolve(np.concatenate((h[-3:], h, h[:3])), _SMOOTH3, "valid")
        half = bins // 2
        pair = h + np.roll(h, -half)
        i = int(np.argmax(pair))
        a, b = h[i], h[(i + half) % bins]
        return float(min(a, b) / max(a, b, 1e-12))

    def _backbeat_octave(self, period: float) -> float:
        # Between a tempo and its half (both in range), a backbeat decides: when every other
        # beat of the slower pulse is clearly weaker (kick / snare, one-drop), the slower pulse
        # is the beat and the faster one its subdivision.
        if self.fixed_period is not None:
            return period
        if 60.0 * self.fps / (2.0 * period) >= self.tempo_min:
            fast = period
        elif 2.0 * 60.0 * self.fps / period <= self.tempo_max:
            fast = 0.5 * period
        else:
            self._alt = None  # no octave pair in range: forget the old pattern
            return period
        alt = self._alternation(2.0 * fast)
        if alt is not None:
            self._alt = alt if self._alt is None else self._alt + self._tempo_alpha * (alt - self._alt)
        if self._alt is not None and self._alt < BACKBEAT:
            return 2.0 * fast
        return period

    # -- output ----------------------------------------------------------------------------

    def _refine(self, idx: np.ndarray) -> np.ndarray:
        # Sub-frame offset of onset peaks (array positions): a parabola through each frame and
        # its neighbours, so beat times are not quantised to the ~11 ms hop.
        idx = np.asarray(idx)
        # The DP's frame may sit one frame off the onset peak (the tempo penalty tilts the
        # cumulative score toward the lag it prefers, most after a tempo change): move to the
        # higher neighbour first, so the parabola is fitted around the peak itself.
        ok = (idx > 1) & (idx < self._pos - self._delay - 1)  # both neighbours smoothed already
        i = np.where(ok, idx, 2)
        s0, s1, s2 = self._obs[i - 1], self._obs[i], self._obs[i + 1]
        step = np.where(ok & (s2 > s1) & (s2 >= s0), 1, np.where(ok & (s0 > s1) & (s0 > s2), -1, 0))
        i = i + step
        y0, y1, y2 = self._onset[i - 1], self._onset[i], self._onset[i + 1]
        den = y0 - 2 * y1 + y2
        good = ok & (den < 0)
        off = np.where(good, 0.5 * (y0 - y2) / np.where(good, den, -1.0), 0.0)
        return step + np.clip(off, -0.5, 0.5)

    def _accent_sums(self, last: float, period: float, beats: int = 16,
                     decay: float = 0.92) -> tuple[float, float, float]:
        # Bass onset strength on the grid and half a beat off it, recent beats weighing more;
        # also the total weight of the beats that had history, to normalise by.
        k = np.arange(beats)
        w = decay ** k
        centres = np.round(last - np.concatenate((k, k + 0.5))[:, None] * period).astype(np.int64)
        cols = centres + np.arange(-2, 3)
        valid = (cols >= 0) & (cols < self._pos)
        vals = np.where(valid, self._accent[np.clip(cols, 0, self._pos - 1)], 0.0).max(axis=1)
        has = centres[:, 0] - 2 >= 0
        vals = np.where(has, vals, 0.0)
        on = float(np.dot(w, vals[:beats]))
        off = float(np.dot(w, vals[beats:]))
        wsum = float(np.dot(w, has[:beats] & has[beats:]))
        return on, off, wsum

    def _fit_grid(self, times: np.ndarray, period: float, strength: np.ndarray) -> tuple[float, float] | None:
        """Straight beat grid through the chain ``times`` (frames, oldest first): ``(last, period)``.

        Recent beats and strong onsets (``strength`` per beat) weigh more, so one jittery onset
        moves the prediction a little instead of a whole error. The fit only reaches back as far
        as the beats lie on one line: after a tempo change or a phase jump the older beats drop
        out and the grid follows the new beats within two or three of them instead of averaging
        old and new.
        """
        d = np.diff(times)
        steps = np.round(d / period)
        if np.any(steps < 1) or np.any(np.abs(d / np.maximum(steps, 1) / period - 1.0) > 0.2):
            return None
        j = np.concatenate(([0.0], np.cumsum(steps)))
        tol = FIT_TOLERANCE * period + 0.25
        n = len(times)
        for start in range(0, n - 2):
            jj, tt = j[start:], times[start:]
            if n - start >= 5:
                # Do the two newest beats continue the line through the older ones? Both
                # off it to the same side means the tempo or the phase changed: start later.
                tm, slope, jm = _wfit(jj[:-2], tt[:-2], CHAIN_WEIGHT, strength[start:-2])
                r = tt[-2:] - (tm + slope * (jj[-2:] - jm))
                if r[0] * r[1] > 0 and min(abs(r[0]), abs(r[1])) > tol:
                    continue
            if n - start >= 4:
                # And does the oldest beat continue the line through the newer ones? A fit
                # through all of them bends toward it and hides the kink, so one old beat (or the
                # one straddling a tempo change) would keep tilting the slope for several beats.
                tm, slope, jm = _wfit(jj[1:], tt[1:], CHAIN_WEIGHT, strength[start + 1 :])
                if abs(tt[0] - (tm + slope * (jj[0] - jm))) > OLDEST_TOLERANCE * tol:
                    continue
            tm, slope, jm = _wfit(jj, tt, CHAIN_WEIGHT, strength[start:])
            resid = tt - (tm + slope * (jj - jm))
            if np.max(np.abs(resid)) <= tol or n - start == 3:
                self._chain_period = slope if n - start >= 4 and np.max(np.abs(resid)) <= tol else None
                return float(tm + slope * (jj[-1] - jm)), slope
        return None

    def estimate(self) -> tuple[float, float, float] | None:
        """``(last_beat_frame, period_frames, confidence)``: frames are absolute indices; None early on."""
        if self._pos < int(self.period * 2):
            return None
        period = self.period
        top = self._pos - self._delay  # newest frame the DP has scored, plus one
        lo = top - int(round(period))
        window = self._score[lo:top]
        if self.expected is not None:
            # Distance (in beats, wrapped) of each candidate from the grid the clock follows.
            # While the beat is half a beat off the chain, the chain's own phase is the one to
            # keep: a bonus on the clock's grid would pull the DP onto the beat and flip both.
            d = (np.arange(lo, top) + self._base - self.expected) / period + (0.5 if self.half_shift else 0.0)
            d -= np.round(d)
            bonus = STICKINESS * max(float(window.max()), 0.0)
            window = window + bonus * np.exp(-0.5 * (d / 0.08) ** 2)
        b = int(np.argmax(window)) + lo
        # The estimate only changes when a new latest beat wins or the tempo moves: reuse it
        # otherwise (most frames), refreshing it now and then. This is most of the saving
        # that keeps the analysis near 1-2% of a core.
        key = (b + self._base, self.period)
        if key == self._cache_key and self.frame - self._cache_frame < self._refresh_frames:
            return self._cache
        # The recent beat chain (DP back-links), each beat refined to sub-frame precision.
        chain = [b]
        while len(chain) < CHAIN_BEATS:
            prev = self._back[chain[-1]] - self._base
            if prev < 1:
                break
            chain.append(int(prev))
        idx = np.array(chain[::-1])
        times = idx + self._refine(idx)
        last = float(times[-1])
        if len(times) >= 3:
            # Each chain beat weighs by its smoothed onset strength (plus a floor, so none drops
            # out): in fills and sparse passages the chain links stray weak onsets, which then
            # barely move the line that the strong beats around them define.
            strength = np.maximum(self._obs[idx], 0.0) + FIT_FLOOR
            fit = self._fit_grid(times, period, strength)
            if fit is not None:
                last, slope = fit
                # The chain's slope refines the period only near the tempo estimate: a chain
                # that drifts further is following expressive timing or stray onsets, and a
                # real tempo change moves the estimate itself (smoothing or a jump).
                if self.fixed_period is None and 1.0 - SLOPE_RANGE < slope / period < 1.0 + SLOPE_RANGE:
                    period = slope
        on, off, wsum = self._accent_sums(last, period)
        # Only a clear, regular accent pattern may flip the phase: off-grid peaks must
        # stand well above the average accent (true of kicks, not of diffuse music).
        span = self._accent[max(0, self._pos - int(16 * period)) : self._pos]
        sharp = wsum > 0 and off / max(wsum, ACCENT_MIN_WEIGHT) > ACCENT_CONTRAST * (float(span.mean()) + 1e-12)
        if not self.half_shift and off > OFFBEAT_RATIO * on and sharp:
            self.half_shift = True
        elif self.half_shift and on > OFFBEAT_RATIO * off:
            self.half_shift = False
        if self.half_shift:
            last += 0.5 * period
        # Confidence: how strongly onsets sit on the recent beat chain versus elsewhere.
        on_beats = float(self._onset[idx].mean())
        recent = self._onset[max(0, self._pos - self._win) : self._pos]
        contrast = on_beats / (float(recent.mean()) + 1e-9)
        conf = float(np.clip((contrast - 1.0) / 3.0, 0.0, 1.0)) * (0.5 + 0.5 * self.tempo_confidence)
        self._cache = (last + self._base, period, conf)
        self._cache_key, self._cache_frame = key, self.frame
        return self._cache


# Tempo ratios between metrical levels (octaves, triple and dotted feels): a jump between
# them needs more evidence than a DJ's tempo change.
_METRIC_RATIOS = (2.0, 0.5, 3.0, 1.0 / 3.0, 1.5, 2.0 / 3.0, 4.0 / 3.0, 0.75)


def same_tempo(a: float, b: float, tolerance: float = 0.03) -> bool:
    """Whether periods ``a`` and ``b`` are one tempo within ``tolerance``, its octaves (x2, x1/2) included."""
    return any(abs(a * m / b - 1.0) < tolerance for m in (1.0, 2.0, 0.5))


def _gaussian(half: int, sigma: float) -> np.ndarray:
    """Normalised Gaussian kernel of ``2 * half + 1`` taps."""
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    return kernel / kernel.sum()


_SMOOTH3 = _gaussian(3, 1.5)  # for folded onset profiles


def _wfit(j: np.ndarray, t: np.ndarray, decay: float, strength: np.ndarray) -> tuple[float, float, float]:
    """Weighted least-squares line ``t = tm + slope * (j - jm)``, weight ``decay ** age`` times
    ``strength`` per beat; returns ``(tm, slope, jm)``."""
    w = decay ** (j[-1] - j) * strength
    ws = w.sum()
    jm = float(np.dot(w, j) / ws)
    tm = float(np.dot(w, t) / ws)
    dj = j - jm
    slope = float(np.dot(w, dj * (t - tm)) / np.dot(w, dj * dj))
    return tm, slope, jm
