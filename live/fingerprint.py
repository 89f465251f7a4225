"""Audio fingerprints of prepared tracks: which track is playing, where in it, at what speed.

Shared by the set preparation (:mod:`live.library.sets`, which builds and stores the index) and
the live recogniser (``live.audio``, which matches the input against it); both may import this
bottom-level module, neither imports the other.

The method is landmark hashing (Wang 2003, Ellis's audfprint), made robust to the DJ's pitch
fader by a search over speed hypotheses:

* the audio is resampled to 11,025 Hz and cut into 93 ms frames every 23 ms;
* spectral peaks are local maxima of the log spectrum that stand out from their neighbourhood
  (prominence over a smoothed spectrum, so EQ and filters, which move whole regions, change
  little), about :data:`PEAKS_PER_S` of the most prominent per second; each peak's frequency is
  interpolated between bins and kept on a log scale;
* each peak (anchor) is paired with the next :data:`FAN_OUT` peaks 2..48 frames later and within
  an octave; a pair hashes to (anchor's log frequency in 1/24 octave, log-frequency difference in
  1/24 octave, frame distance): 19 bits;
* the index is every pair's hash with its track and anchor frame, sorted by hash.

A query at speed ``s`` has its frame distances divided by ``s`` and, when the deck resamples
(the pitch moves with the speed), its frequencies multiplied by ``s``; with key lock
(time-stretched) the frequencies stay. Log frequencies make the pitch change one shift of every
peak, and the frequency difference inside a pair does not change at all. :func:`match` undoes
each hypothesis (speeds :data:`SPEEDS`, 1% apart, both modes) on the query's pairs, looks every
hash up in the sorted index (one ``searchsorted``), and counts, per hypothesis and track, the
matches that agree on one time offset (reference frame - speed x query frame). The best count
must reach :data:`MIN_SCORE` and beat the runner-up track clearly (:data:`MIN_MARGIN`), else the
query is refused: music not in the set is never claimed. The speed is then refined by a line
fitted through the agreeing matches' (query time, reference time).

:meth:`Index.align` is the same lookup reporting every track's best alignment (its count, and
``recent``: how many of those matches lie in the query's newest :data:`RECENT_S`), plus how many
query pairs that newest part holds; :meth:`Index.match` is its first answer when that passes the
rule above (:func:`identified`). ``expect`` asks after given hypotheses (a track, a position,
a speed): each one's best alignment near it, however it ranks (the recogniser weighs the line it
follows against other repeats of a loop with it). In a crossfade the outgoing track keeps most of a window's
matches for seconds after the blend's middle, so no track passes the margin; the recogniser
(``live.audio.recognise``) reads the recent counts to see which deck leads now.

How steady a true alignment's score is (six development clips, 3 s windows): it swings about 2x
as the window moves by a few milliseconds, and the swing follows the query's frame phase against
the reference's (its period is one hop, 23 ms; at speed 1.0, 103..229 matches), not the 1/24-octave
frequency bins (looking the neighbouring bin up when the shifted anchor frequency lies within a
quarter bin of an edge adds 2-5% and leaves the swing). The peaks themselves move with the phase;
looking an integer frame distance up as d-1, d, d+1 lifts the troughs by a quarter, and matching a
second query shifted by half a hop (the better of the two per track) as much, at 1.5x the cost,
but neither helped the mixes of `bench set` as a whole (each lost downbeats on one of them), so
neither is done. Key lock costs most: a phase vocoder's peaks keep about 35-40% of the resampled
case's matches (disco at 1.04: 61 vs 166, hiphop 33 vs 100); looking d-1 and d+1 up too for the
key-lock hypotheses gains a third there, and lost downbeats on the generated mix as well.

Why this and not beat-synchronous chroma alignment: landmarks need no beat tracking of the live
input (which is what is unreliable), find the position to one frame (23 ms) from any point in the
track (loops and jumps cost nothing), and ignore the other deck in a crossfade unless its peaks
line up by chance; a chroma/onset alignment needs a few bars of steady beats before it can say
anything and confuses tracks in the same key. The measured figures are in the README ("Prepared
sets") and printed by ``run_live.py bench set``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

RATE = 11025  # fingerprint rate: the peaks that survive a club PA live below 5 kHz
N_FFT = 1024  # 93 ms frames: resolves a semitone down to ~190 Hz
HOP = 256  # 23 ms between frames
FRAME_S = HOP / RATE
F_MIN, F_MAX = 150.0, 5000.0  # peaks outside are mostly noise or lost to the room
BINS_PER_OCTAVE = 24  # log-frequency quantum of a hash: 1/24 octave, a quarter tone
PEAKS_PER_S = 24  # how many peaks a second of audio keeps (the most prominent)
NEIGHBOURHOOD = (13, 9)  # (bins, frames) a peak must be the maximum of
FAN_OUT = 5  # pairs per anchor
DT_MIN, DT_MAX = 2, 48  # frame distance of a pair (46 ms .. 1.1 s)
DF_MAX = BINS_PER_OCTAVE  # an octave either way
SPEED_MAX = 0.08  # the pitch fader's usual range, +-8%
SPEEDS = np.round(np.arange(1.0 - SPEED_MAX, 1.0 + SPEED_MAX + 1e-9, 0.01), 3)
MIN_SCORE = 20  # agreeing matches an identification needs (`bench set`: real music not in the set stays under 14; grid-locked synthetic tunes reach 15)
MIN_MARGIN = 2.0  # and that many times the best other track's count
MIN_SPAN_S = 1.0  # a query shorter than this is not looked at
RECENT_S = 1.0  # the newest part of a query whose matches are counted apart (Match.recent): who plays now
MIN_VOTES = 4  # a track with fewer agreeing matches is not among the alignments at all
TOP = 4  # how many tracks' alignments Index.align reports
REFINE_SPEED = 0.02  # how far a match's fitted speed may lie from its hypothesis (`bench set`'s check below)
EXPECT_S = 0.12  # an expected alignment (Index.align's ``expect``) is looked for this close to its position
EXPECT_SPEED = 0.015  # ... at the speed hypotheses this close to its speed

_F_BITS, _DF_BITS, _DT_BITS = 7, 6, 6
_FRAME_BITS = 20
MAX_TRACKS = 4096  # 12 bits of an index entry
MAX_BUCKET = 64  # entries of one hash looked at (more when the index is large, see Index.match)
_LOG_F_MIN = math.log2(F_MIN)


@dataclass(frozen=True)
class Match:
    """A query identified: ``track`` (its index in the set's track list), ``position`` (seconds
    into the original file at the end of the query), ``speed`` (played / original, 1.04 = 4% fast),
    ``resampled`` (True: the pitch moves with the speed; False: key lock, time-stretched),
    ``score`` (agreeing landmark matches), ``margin`` (score / the best other track's) and ``recent``
    (how many of the matches lie in the newest :data:`RECENT_S` of the query)."""

    track: int
    position: float
    speed: float
    resampled: bool
    score: int
    margin: float
    recent: int = 0  # of ``score``, the matches anchored in the newest RECENT_S of the query


@dataclass(frozen=True)
class Alignment:
    """:meth:`Index.align`'s answer: ``matches``, every track's best alignment (best first), and
    ``recent_pairs``, the query's landmark pairs anchored in its newest :data:`RECENT_S` (the
    matches a track playing there could have: few in a breakdown, many when other music plays)."""

    matches: list[Match]
    recent_pairs: int
    expected: list[Match | None] = field(default_factory=list)  # one per ``expect`` of Index.align


@dataclass
class Landmarks:
    """One track's landmark pairs: ``hashes`` (uint32) and the anchor ``frames`` (uint32)."""

    hashes: np.ndarray
    frames: np.ndarray


def resample(samples: np.ndarray, samplerate: int, rate: int = RATE) -> np.ndarray:
    """Mono float32 ``samples`` at ``samplerate`` as float32 at ``rate`` (polyphase, scipy)."""
    import scipy.signal

    x = np.asarray(samples, dtype=np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if samplerate == rate:
        return x
    ratio = Fraction(rate, int(samplerate)).limit_denominator(2000)
    return scipy.signal.resample_poly(x, ratio.numerator, ratio.denominator).astype(np.float32)


_WINDOW = np.hanning(N_FFT).astype(np.float32)
_BIN_LO = int(F_MIN * N_FFT / RATE)
_BIN_HI = int(F_MAX * N_FFT / RATE) + 2


def peaks(samples: np.ndarray, samplerate: int = RATE) -> tuple[np.ndarray, np.ndarray]:
    """Spectral peaks of mono ``samples``: (frame index int32, log2 frequency in Hz float32), in time
    order; about :data:`PEAKS_PER_S` a second, fewer in silence."""
    import scipy.ndimage

    x = resample(samples, samplerate)
    if len(x) < N_FFT:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP]
    spec = np.abs(np.fft.rfft(frames * _WINDOW, axis=1))[:, _BIN_LO:_BIN_HI].astype(np.float32)
    level = spec.max()
    if level <= 1e-6:  # digital silence has no landmarks
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    logspec = np.log(spec + level * 1e-4)  # a floor 80 dB under the loudest bin
    # Prominence over a smoothed spectrum: EQ tilts whole regions, which this subtracts.
    prominence = logspec - scipy.ndimage.uniform_filter(logspec, size=(9, 31), mode="nearest")
    local = scipy.ndimage.maximum_filter(logspec, size=(NEIGHBOURHOOD[1], NEIGHBOURHOOD[0]), mode="nearest")
    t, f = np.nonzero((logspec == local) & (prominence > 0.5))
    t, f = t[(f > 0) & (f < spec.shape[1] - 1)], f[(f > 0) & (f < spec.shape[1] - 1)]
    if len(t) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.float32)
    # Keep the most prominent per one-second block, so loud and quiet passages both have peaks.
    block = np.maximum(1, int(round(1.0 / FRAME_S)))
    strength = prominence[t, f]
    order = np.lexsort((-strength, t // block))
    t, f = t[order], f[order]
    rank = np.arange(len(t)) - np.searchsorted(t // block, t // block, side="left")
    keep = rank < PEAKS_PER_S
    t, f = t[keep], f[keep]
    # Parabolic interpolation of the peak's bin on the log spectrum.
    a, b, c = logspec[t, f - 1], logspec[t, f], logspec[t, f + 1]
    denom = a - 2 * b + c
    shift = np.where(denom != 0, 0.5 * (a - c) / np.where(denom != 0, denom, 1), 0.0).clip(-0.5, 0.5)
    freq = (f + _BIN_LO + shift) * RATE / N_FFT
    order = np.argsort(t, kind="stable")
    return t[order].astype(np.int32), np.log2(freq[order]).astype(np.float32)


def pairs(times: np.ndarray, logf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Landmark pairs of time-ordered peaks: (anchor frame, anchor log2 f, log2 f difference, frame
    distance), each anchor with its next :data:`FAN_OUT` peaks DT_MIN..DT_MAX frames later, within an octave."""
    n = len(times)
    if n < 2:
        empty = np.zeros(0, np.float32)
        return np.zeros(0, np.int32), empty, empty, np.zeros(0, np.int32)
    # Candidates: each peak with the following peaks up to a generous count, then filtered.
    reach = min(n - 1, FAN_OUT * 6)
    i = np.repeat(np.arange(n), reach)
    j = i + np.tile(np.arange(1, reach + 1), n)
    ok = j < n
    i, j = i[ok], j[ok]
    dt = times[j] - times[i]
    df = logf[j] - logf[i]
    ok = (dt >= DT_MIN) & (dt <= DT_MAX) & (np.abs(df) * BINS_PER_OCTAVE < DF_MAX)
    i, j, dt, df = i[ok], j[ok], dt[ok], df[ok]
    # The first FAN_OUT survivors of each anchor (candidates are in anchor, then time order).
    rank = np.arange(len(i)) - np.searchsorted(i, i, side="left")
    keep = rank < FAN_OUT
    i, dt, df = i[keep], dt[keep], df[keep]
    return times[i], logf[i], df, dt.astype(np.int32)


def _hash(logf: np.ndarray, df: np.ndarray, dt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes uint32, valid) of pairs given as continuous anchor log2 f, log2 f difference and frame distance."""
    qf = np.floor((logf - _LOG_F_MIN) * BINS_PER_OCTAVE).astype(np.int64)
    qdf = np.rint(df * BINS_PER_OCTAVE).astype(np.int64) + DF_MAX
    qdt = np.rint(dt).astype(np.int64)
    valid = (qf >= 0) & (qf < 1 << _F_BITS) & (qdf >= 0) & (qdf < 1 << _DF_BITS) & (qdt > 0) & (qdt < 1 << _DT_BITS)
    h = (qf << (_DF_BITS + _DT_BITS)) | (qdf << _DT_BITS) | qdt
    return h.astype(np.uint32), valid


def landmarks(samples: np.ndarray, samplerate: int) -> Landmarks:
    """The landmarks of a whole track (what the index stores)."""
    t, f = peaks(samples, samplerate)
    anchor, logf, df, dt = pairs(t, f)
    h, valid = _hash(logf, df, dt.astype(np.float32))
    return Landmarks(hashes=h[valid], frames=anchor[valid].astype(np.uint32))


class Index:
    """Landmarks of several tracks in one sorted table; track ``k`` is ``names[k]``.

    Each landmark is one uint64: hash (high 32 bits), track (12 bits), anchor frame (20 bits, 6.7
    hours); sorting the keys sorts by hash, and a hash's entries are one ``searchsorted`` range."""

    def __init__(self, names: list[str], tracks: list[Landmarks] | None = None, keys: np.ndarray | None = None):
        """Merge ``tracks`` (``tracks[k]`` belongs to ``names[k]``), or take ``keys`` already merged
        (:attr:`keys` of an earlier Index of the same names, e.g. from a cache file)."""
        self.names = list(names)
        if len(self.names) > MAX_TRACKS:
            raise ValueError(f"at most {MAX_TRACKS} tracks in one index")
        if keys is None:
            tracks = tracks or []
            if len(names) != len(tracks):
                raise ValueError("one Landmarks per name")
            parts = [(t.hashes.astype(np.uint64) << np.uint64(32)) | np.uint64(k << _FRAME_BITS)
                     | np.minimum(t.frames, (1 << _FRAME_BITS) - 1).astype(np.uint64) for k, t in enumerate(tracks)]
            keys = np.concatenate(parts) if parts else np.zeros(0, np.uint64)
            keys.sort()
        self.keys = keys

    @property
    def nbytes(self) -> int:
        """Memory of the table, in bytes."""
        return int(self.keys.nbytes)

    def __len__(self) -> int:
        return len(self.keys)

    def match(self, samples: np.ndarray, samplerate: int) -> Match | None:
        """Identify mono ``samples`` (a few seconds, the newest last) against the index: the best
        :class:`Match`, or None when nothing in the index is clearly there (see the module doc)."""
        found = self.align(samples, samplerate).matches
        return found[0] if found and identified(found[0].score, found[0].margin) else None

    def align(self, samples: np.ndarray, samplerate: int, top: int = TOP,
              expect: Sequence[tuple[int, float, float]] = ()) -> Alignment:
        """Every track's best alignment with mono ``samples`` (the newest last), best first: the
        ``top`` tracks that have at least :data:`MIN_VOTES` agreeing matches, whether or not any is
        clearly there (:func:`identified` says that). One lookup serves them all.

        ``expect`` asks after given hypotheses, (track, position at the query's end, speed) each:
        :attr:`Alignment.expected` holds, per hypothesis, that track's best alignment within
        :data:`EXPECT_S` of the position at a speed within :data:`EXPECT_SPEED` (None: no match
        there), however it ranks against the track's other offsets (a repeated bar of a loop)."""
        x = np.asarray(samples, dtype=np.float32)
        none: list[Match | None] = [None] * len(expect)
        if len(self.keys) == 0 or len(x) < MIN_SPAN_S * samplerate:
            return Alignment([], 0, none)
        end_frame = (len(x) * RATE / samplerate - N_FFT / 2) / HOP  # the query's end on the frame axis
        t, f = peaks(x, samplerate)
        anchor, logf, df, dt = pairs(t, f)
        heard = int(np.sum(anchor >= end_frame - RECENT_S / FRAME_S))
        if len(anchor) == 0:
            return Alignment([], 0, none)
        found, expected = self._align_pairs(anchor, logf, df, dt, end_frame, top, expect)
        return Alignment(found, heard, expected)

    def _align_pairs(self, anchor: np.ndarray, logf: np.ndarray, df: np.ndarray, dt: np.ndarray,
                     end_frame: float, top: int, expect: Sequence[tuple[int, float, float]] = ()
                     ) -> tuple[list[Match], list[Match | None]]:
        hyps = [(float(s), resampled) for s in SPEEDS for resampled in (True, False)]
        n = len(anchor)
        speed = np.repeat(np.array([s for s, _ in hyps], np.float32), n)
        shift = np.repeat(np.array([math.log2(s) if r else 0.0 for s, r in hyps], np.float32), n)
        # A scaled frame distance between two integers is looked up as both: peak times jitter by a
        # frame (more so after a phase vocoder), and a lost pair is a lost vote.
        scaled = np.tile(dt, len(hyps)) * speed
        lf, d = np.tile(logf, len(hyps)) - shift, np.tile(df, len(hyps))
        h1, v1 = _hash(lf, d, np.floor(scaled))
        h2, v2 = _hash(lf, d, np.ceil(scaled))
        v2 &= np.ceil(scaled) != np.floor(scaled)
        hyp_all = np.repeat(np.arange(len(hyps)), n)
        anchors = np.tile(anchor, len(hyps))
        hyp = np.concatenate([hyp_all[v1], hyp_all[v2]])
        qframe = np.concatenate([anchors[v1], anchors[v2]])
        h = np.concatenate([h1[v1], h2[v2]])
        hk = h.astype(np.uint64) << np.uint64(32)
        lo = np.searchsorted(self.keys, hk, side="left")
        hi = np.searchsorted(self.keys, hk + np.uint64(1 << 32), side="left")
        counts = hi - lo
        # A hash that half the collection shares says little and costs much: leave it out (audfprint does too).
        counts[counts > max(MAX_BUCKET, 8 * len(self.keys) >> (_F_BITS + _DF_BITS + _DT_BITS))] = 0
        if counts.sum() == 0:
            return [], [None] * len(expect)
        # Expand every query hash into its index entries.
        q = np.repeat(np.arange(len(h)), counts)
        pos = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        mhyp = hyp[q]
        mspeed = np.array([s for s, _ in hyps], np.float64)[mhyp]
        entry = self.keys[pos]
        ref = (entry & np.uint64((1 << _FRAME_BITS) - 1)).astype(np.float64)
        qf = qframe[q].astype(np.float64)
        offset = np.rint((ref - mspeed * qf) / 2.0).astype(np.int64)  # 2-frame bins: peak times jitter a frame
        track = ((entry >> np.uint64(_FRAME_BITS)) & np.uint64(MAX_TRACKS - 1)).astype(np.int64)
        key = (mhyp.astype(np.int64) * 65536 + track) * (1 << 24) + (offset + (1 << 23))
        keys, inverse, kcount = np.unique(key, return_inverse=True, return_counts=True)
        # The newest RECENT_S of the query: who plays now, not who played at the window's start.
        kre = np.bincount(inverse.ravel(), weights=(qf >= end_frame - RECENT_S / FRAME_S).astype(np.float64), minlength=len(keys))
        # A bin's score counts its neighbours too (an offset on a bin edge splits its votes).
        near, near_re = kcount.copy(), kre.copy()
        for d in (-1, 1):
            at = np.searchsorted(keys, keys + d)
            found = (at < len(keys)) & (keys[np.minimum(at, len(keys) - 1)] == keys + d)
            near[found] += kcount[at[found]]
            near_re[found] += kre[at[found]]
        # Each track's best bin, best tracks first.
        ktrack = (keys >> 24) % 65536
        order = np.lexsort((-near, ktrack))
        first = order[np.r_[True, ktrack[order][1:] != ktrack[order][:-1]]]
        first = first[np.argsort(-near[first], kind="stable")]
        scores = near[first]
        answers = []
        for rank, b in enumerate(first[:top]):
            score = int(near[b])
            if score < MIN_VOTES:
                break
            runner_up = int(scores[1]) if rank == 0 and len(scores) > 1 else int(scores[0]) if rank else 0
            answers.append(self._refine(int(keys[b]), score, int(near_re[b]), score / max(1, runner_up),
                                        mhyp, track, offset, qf, ref, hyps, end_frame))
        expected: list[Match | None] = []
        hyp_speed = np.array([s for s, _ in hyps])
        for k, position, speed in expect:
            # The matches of track k at a speed near the hypothesis' whose reference frame lies
            # within EXPECT_S of where the hypothesis puts it; their best bin, scored as above.
            ref_end = (position * RATE - N_FFT / 2) / HOP
            sel = (track == k) & (np.abs(hyp_speed[mhyp] - speed) <= EXPECT_SPEED + 1e-6)
            sel &= np.abs(ref - (ref_end - speed * (end_frame - qf))) <= EXPECT_S / FRAME_S
            if not sel.any():
                expected.append(None)
                continue
            bins = np.unique(inverse.ravel()[sel])
            b = int(bins[np.argmax(near[bins])])
            score = int(near[b])
            others = max((int(near[o]) for o in first[:top + 1] if int(ktrack[o]) != k), default=0)
            expected.append(self._refine(int(keys[b]), score, int(near_re[b]), score / max(1, others),
                                         mhyp, track, offset, qf, ref, hyps, end_frame))
        return answers, expected

    @staticmethod
    def _refine(best_key: int, score: int, recent: int, margin: float, mhyp: np.ndarray, track: np.ndarray,
                offset: np.ndarray, qf: np.ndarray, ref: np.ndarray, hyps: list[tuple[float, bool]],
                end_frame: float) -> Match:
        """The Match of one bin: speed and offset refined by a line through its agreeing matches'
        (query frame, reference frame)."""
        best_track = (best_key >> 24) % 65536
        best_hyp = (best_key >> 24) // 65536
        boff = best_key % (1 << 24) - (1 << 23)
        sel = (mhyp == best_hyp) & (track == best_track) & (np.abs(offset - boff) <= 1)
        s0 = hyps[best_hyp][0]
        x, y = qf[sel], ref[sel]
        slope = s0
        if len(x) >= 4 and np.ptp(x) > 40:  # a second of spread says more than the 1% grid
            # Within REFINE_SPEED of the hypothesis, not only its 1% cell: a frame distance is looked
            # up as its floor and ceiling, so hypotheses 2% apart find the same pairs, and a tie
            # goes to the slower one (1.0 read as 0.975 when the fit was held in the cell).
            slope = float(np.clip(np.polyfit(x, y, 1)[0], s0 - REFINE_SPEED, s0 + REFINE_SPEED))
        intercept = float(np.median(y - slope * x))
        position = ((intercept + slope * end_frame) * HOP + N_FFT / 2) / RATE
        return Match(track=best_track, position=position, speed=round(slope, 4), resampled=hyps[best_hyp][1],
                     score=score, margin=round(margin, 2), recent=recent)


def identified(score: int, margin: float) -> bool:
    """Whether an alignment with ``score`` agreeing matches, ``margin`` times the best other track's,
    is clearly there on its own (the identification rule: :data:`MIN_SCORE` and :data:`MIN_MARGIN`)."""
    return score >= MIN_SCORE and margin >= MIN_MARGIN
