"""The offline beat and downbeat analysis of a whole track (``set add``, ``song --tracker madmom``).

madmom's joint beat/downbeat network (RNNDownBeatProcessor) and its bar-aware DBN
(DBNDownBeatTrackingProcessor), with two changes chosen on the tune half of the development clips
and kept because the check half agreed (``bench set`` material; mir_eval +-70 ms, 20 GTZAN clips):

* **four beats a bar only.** DJ material is 4/4, and a 3/4 guess on a 4/4 track puts every
  downbeat on the wrong beat (blues_00001: downbeat F 0.40 with [3, 4], 1.00 with [4]).
* **the beat activation is the mean of the joint network's and madmom's beat-only ensemble's**
  (RNNBeatProcessor, eight networks), the downbeat activation the joint network's. The beat-only
  ensemble is the steadier beat detector; a beat found on the right pulse lets the DBN place the
  bar on it (rock_00001: 0.66 / 0.00 -> 1.00 / 1.00). Weight 0.5 was best on the tune half.

Beat F / downbeat F, mean per half (tune 9 clips, check 11): madmom as it was, [3, 4]: 0.789 / 0.617
and 0.813 / 0.503; [4]: 0.789 / 0.634 and 0.859 / 0.558; both changes: 0.796 / 0.655 and 0.890 / 0.649.
What stays wrong is mostly the tempo octave (pop_00000 annotated at 67 BPM, found at 133) and
reggae's bar (the one-drop on the annotated 3); the DBN's likelihood did not separate those octaves.

One check after the DBN, for DJ material: **a bar is where the chords change**. Each beat's
chroma (librosa, the median over the beat) is compared with the beat before's (cosine distance);
when the beats of one place in madmom's bar carry :data:`CHORD_RATIO` times the chord changes of
its downbeats, the bar is counted from there instead. The ratio is high on purpose: on the tune
half it must stay over 4.2 (disco_00001 has 4.24 on a wrong place), on a generated house track at
165 BPM with a chord on every bar's one madmom counted from the clap on 3 and the ratio there is
11.6 (downbeat F 0.00 -> 0.99; `bench set`'s generated mix). At 6 nothing changes on the development
clips, either half. A ratio of 2 would also move two clips' bars: pop_00000's onto the annotated
one (check half, 0.00 -> 0.67) and disco_00001's off it (tune half, 0.68 -> 0.65); chosen on the
tune half, it was not taken.

The weights are madmom's (CC BY-NC-SA 4.0, non-commercial); librosa is the fallback when madmom
is not installed (the caller's choice, :mod:`live.cli.set`).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

_LOGGER = logging.getLogger(__name__)

BEATS_PER_BAR = (4,)  # DJ material is 4/4 (see the module doc)
BEAT_WEIGHT = 0.5  # share of the beat-only ensemble in the beat activation (chosen on the tune half)
CHORD_RATIO = 6.0  # chord changes on another place in the bar, times those on madmom's downbeats, that move the bar there
CHORD_HOP = 512  # chroma frames (23 ms at 22,050 Hz)
FPS = 100  # frames per second of madmom's activations
NET_RATE = 44100  # the networks' sample rate
# The DBN decodes a long track in pieces of PIECE_S seconds, each with MARGIN_S more either way (its
# answer there is dropped, and the bars of each piece are counted on from the one before): its
# Viterbi keeps a pointer per frame and state, 1.3 GB per 5 minutes (a 60-minute recorded mix
# wanted 16 GB), and in pieces it stays at ~0.5 GB whatever the length. A track up to PIECE_S +
# 2 x MARGIN_S is decoded whole, as before (every development clip).
PIECE_S = 90.0
MARGIN_S = 15.0


def combine_activations(joint: np.ndarray, beat: np.ndarray, weight: float = BEAT_WEIGHT) -> np.ndarray:
    """The DBN's input: ``joint`` (frames x [beat-not-downbeat, downbeat], RNNDownBeatProcessor) with
    its beat probability (both columns together) mixed with ``beat`` (RNNBeatProcessor, one value a
    frame) by ``weight``; the downbeat column stays the joint network's. ``beat`` is cut or padded
    with zeros to the joint's frames."""
    joint = np.asarray(joint, dtype=np.float64)
    beat = np.asarray(beat, dtype=np.float64).ravel()[: len(joint)]
    beat = np.pad(beat, (0, len(joint) - len(beat)))
    down = joint[:, 1]
    any_beat = (1.0 - weight) * (joint[:, 0] + down) + weight * beat
    # The DBN takes the log of each column and of 1 - both: keep each column over 0 and the sum under 1
    # (a column of exact zeros made numpy warn "divide by zero encountered in log" on every track).
    tiny = 1e-6
    down = np.clip(down, tiny, 1.0 - 2 * tiny)
    return np.c_[np.clip(any_beat - down, tiny, 1.0 - tiny - down), down].astype(np.float32)


def decode_in_pieces(dbn: Any, act: np.ndarray, per_bar: int, piece_s: float = PIECE_S,
                     margin_s: float = MARGIN_S) -> np.ndarray:
    """``dbn``'s (time, place in the bar) rows for the activations ``act`` (:data:`FPS` frames a
    second), decoded piece by piece for a long track (see :data:`PIECE_S`): each piece keeps its
    beats inside its own stretch, its bar count turned to agree with the piece before on the
    beats both found in their overlap."""
    piece, margin = int(piece_s * FPS), int(margin_s * FPS)
    if len(act) <= piece + 2 * margin:
        return np.asarray(dbn(act))
    rows: list[np.ndarray] = []
    before = np.zeros((0, 2))  # the last piece's rows, margins included
    for first in range(0, len(act), piece):
        lo, hi = max(0, first - margin), min(len(act), first + piece + margin)
        found = np.asarray(dbn(act[lo:hi]), dtype=float).reshape(-1, 2)
        found[:, 0] += lo / FPS
        if len(before) and len(found):
            # The beats both pieces found (within 30 ms) in the overlap: the most common place
            # difference turns this piece's count to the one before's (none in common: its own).
            near = np.abs(found[:, :1] - before[:, 0]) < 0.03
            i, j = np.nonzero(near)
            if len(i):
                shift = int(np.bincount(((before[j, 1] - found[i, 1]) % per_bar).astype(int)).argmax())
                found[:, 1] = (found[:, 1] - 1 + shift) % per_bar + 1
        own = (found[:, 0] >= first / FPS) & (found[:, 0] < (first + piece) / FPS)
        rows.append(found[own])
        before = found
    return np.concatenate(rows)


def madmom_downbeats(y: Any, sr: int, beats_per_bar: tuple[int, ...] = BEATS_PER_BAR,
                     beat_weight: float = BEAT_WEIGHT) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, downbeat times) of mono ``y`` at ``sr`` by madmom's offline trackers (module doc).
    ``beat_weight=0`` and ``beats_per_bar=(3, 4)`` give madmom's downbeat tracker as it comes."""
    import librosa
    from madmom.audio.signal import Signal
    from madmom.features.beats import RNNBeatProcessor
    from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor

    signal = Signal(librosa.resample(np.asarray(y, dtype=np.float32), orig_sr=sr, target_sr=NET_RATE)
                    .astype(np.float32), sample_rate=NET_RATE)
    # One thread: with more, madmom runs its networks in a multiprocessing pool of forked workers,
    # and forking this process (its threads: tqdm's monitor, torch's) once left `set add` waiting
    # forever on a worker that never ended; one process is as fast here (numpy's own threads).
    act = RNNDownBeatProcessor(num_threads=1)(signal)
    if beat_weight > 0.0:
        act = combine_activations(act, RNNBeatProcessor(num_threads=1)(signal), beat_weight)
    beats = decode_in_pieces(DBNDownBeatTrackingProcessor(beats_per_bar=list(beats_per_bar), fps=FPS), act,
                             max(beats_per_bar))
    if len(beats) == 0:
        return np.zeros(0), np.zeros(0)
    places = beats[:, 1].astype(int)
    if set(beats_per_bar) == {4}:
        places = (places - 1 - chord_change_shift(y, sr, beats[:, 0], places)) % 4 + 1
    return beats[:, 0], beats[places == 1, 0]


def chord_change_shift(y: Any, sr: int, times: np.ndarray, places: np.ndarray, ratio: float = CHORD_RATIO) -> int:
    """How many beats later than ``places`` (1..4 per beat at ``times``, the DBN's count) the bar
    starts by the chords of mono ``y``: the place whose beats carry ``ratio`` times the chord changes
    of the downbeats' (module doc), 0 when none does."""
    import librosa

    if len(times) < 8:
        return 0
    chroma = librosa.feature.chroma_stft(y=np.asarray(y, dtype=np.float32), sr=sr, hop_length=CHORD_HOP)
    edges = np.append(librosa.time_to_frames(times, sr=sr, hop_length=CHORD_HOP), chroma.shape[1])
    edges = np.clip(edges, 0, chroma.shape[1] - 1)
    per_beat = np.stack([np.median(chroma[:, a:max(a + 1, b)], axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)
    per_beat /= np.linalg.norm(per_beat, axis=0, keepdims=True) + 1e-9
    change = np.r_[0.0, 1.0 - np.sum(per_beat[:, 1:] * per_beat[:, :-1], axis=0)]  # onto each beat from the one before
    mean = np.array([change[1:][places[1:] == place].mean() if np.any(places[1:] == place) else 0.0 for place in (1, 2, 3, 4)])
    best = int(np.argmax(mean))
    return best if mean[best] >= ratio * max(mean[0], 1e-3) else 0
