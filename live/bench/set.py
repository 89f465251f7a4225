"""`bench set`: identification of a prepared set's tracks from live audio (see live.fingerprint).

Material: the development clips (``--clips``, default /work/shared/data/beats; read there, never
copied) split in two, one clip of each pair in the set and the other not, plus synthesised tunes
(:func:`synth_tune`) in the set. Figures:

* **time to identify**: each set track comes in over the outgoing (a clip not in the set) with a
  4 s crossfade, at speeds 0.92..1.08, resampled (pitch moves) and time-stretched (key lock,
  librosa's phase vocoder), its bass cut (EQ) and room noise at -30 dB added; a 4 s window is
  matched every 0.5 s; the time from the middle of the blend (where it becomes the loudest) to the
  first window naming it, and any window naming a wrong set track;
* **false identifications** on music not in the set: the other clips as they are, pitch-shifted
  +-1 and +-2 semitones, and resampled +-6%, windows every 0.5 s;
* **through a room**: every clip played through a microphone in a room (:func:`in_a_room`: reverb
  of :data:`ROOMS`, a PA's 120 Hz-7 kHz band, pink noise), its 4 s windows every second: the share
  naming the right set track, any naming a wrong one, and claims on the clips not in the set (a
  line input is what the method is made for; this says how far a microphone takes it);
* **cost**: CPU time of one match of a 4 s window of 48 kHz input (resampling included), every
  0.5 s, as a share of one core;
* **a 300-track set**: landmarks synthesised at the measured density for 5-minute tracks, written
  as a set, then ``SetIndex.load`` time, index memory and growth per track.
"""

from __future__ import annotations

import argparse
import glob
import json
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
import numpy as np

from live import fingerprint as fp
from live.bench.flags import check_folder
from live.bench.machine import machine_line
from live.bench.setmix import (GEN_BPM, MIX_CLIPS, ROOMS, in_a_room, measure_generated_mix, measure_mix, play, read_clip,
                               report_mix)
from live.bench.setmix import loud as _loud
from live.bench.synth import synth_kick_track
from live.values import Bounded

CLIPS = "/work/shared/data/beats"
RATE = 22050
WINDOW_S = 4.0
STEP_S = 0.5
FADE_S = 4.0
SPEEDS = (0.92, 0.96, 1.0, 1.04, 1.08)
TARGET_S = 4.0
# Tempi of the synthesised tunes, each more than the pitch fader's 8% from the others: the tunes
# share one instrument, scale family and grid, so two within 8% are the same music at another speed.
SYNTH_BPM = (100.0, 120.0, 140.0, 165.0)
SCALES = ((0, 2, 3, 5, 7, 8, 10, 12, 14, 15), (0, 2, 4, 5, 7, 9, 11, 12, 14, 16), (0, 3, 5, 7, 10, 12, 15, 17),
          (0, 2, 3, 5, 7, 9, 10, 12, 14, 15), (0, 1, 4, 5, 7, 8, 11, 12, 13, 16))  # minor, major, pentatonic, dorian, double harmonic


def synth_tune(seed: int, bpm: float = 124.0, seconds: float = 40.0, samplerate: int = RATE) -> np.ndarray:
    """A synthetic track of its own: a kick track plus a random melody (eighth notes from one of
    :data:`SCALES` on a random tonic, its own mix of four harmonics and note length) and a random
    bass line; float32 mono."""
    rng = np.random.default_rng(seed)
    y, _ = synth_kick_track([(bpm, seconds)], samplerate, seed=seed)
    y = y[: int(seconds * samplerate)].astype(np.float64) * 0.5
    step = 30.0 / bpm
    tonic = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    scale = np.array(SCALES[seed % len(SCALES)])
    harmonics = rng.uniform(0.1, 1.0, 4) / np.arange(1, 5)  # its own timbre
    n = int(step * samplerate)
    env = np.exp(-np.arange(n) / (rng.uniform(0.05, 0.2) * samplerate))
    tt = np.arange(n) / samplerate
    for k in range(int(seconds / step)):
        i = k * n
        if rng.random() < 0.8:
            f = tonic * 2 ** (rng.choice(scale) / 12 + 1)
            note = sum(w * np.sin(2 * np.pi * f * (h + 1) * tt) for h, w in enumerate(harmonics)) * env * 0.25
            y[i : i + n] += note[: len(y) - i]
        if k % 2 == 0:
            fb = tonic / 2 * 2 ** (rng.choice(scale[:5]) / 12)
            y[i : i + n] += (0.3 * np.sin(2 * np.pi * fb * tt) * env)[: len(y) - i]
    return (0.9 * y / np.abs(y).max()).astype(np.float32)


def _bass_cut(y: np.ndarray) -> np.ndarray:
    import scipy.signal

    b, a = scipy.signal.butter(2, 250 / (RATE / 2), "high")
    return scipy.signal.lfilter(b, a, y).astype(np.float32)


@dataclass
class Figures:
    """What :func:`measure` found."""

    latencies: list[float] = field(default_factory=list)  # s after the blend's middle; inf = never
    cases: list[str] = field(default_factory=list)
    wrong_in_mix: int = 0
    false_windows: int = 0
    false_claims: list[str] = field(default_factory=list)
    nonset_minutes: float = 0.0
    match_ms: float = 0.0
    core_share: float = 0.0
    big: dict[str, float] = field(default_factory=dict)
    rooms: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)  # per room (ROOMS index): right, wrong, windows of set tracks; claims, windows of the rest


def load_material(clips: str, synth: int) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """(set tracks, tracks not in the set) as (name, mono float32 at 22.05 kHz): every other clip of
    ``clips`` in the set, plus ``synth`` synthesised tunes."""
    files = sorted(glob.glob(str(Path(clips) / "*.wav")))
    inset, outset = [], []
    for k, f in enumerate(files):
        (inset if k % 2 == 0 else outset).append((Path(f).stem, read_clip(Path(f))))
    for s in range(synth):
        inset.append((f"synth-{s}", _loud(synth_tune(100 + s, bpm=SYNTH_BPM[s % len(SYNTH_BPM)]))))
    return inset, outset


def identification(index: fp.Index, inset: list[tuple[str, np.ndarray]], outgoing: list[np.ndarray],
                   speeds: tuple[float, ...], figures: Figures, seed: int = 0) -> None:
    """The blend cases (see the module doc) into ``figures``."""
    rng = np.random.default_rng(seed)
    for k, (name, y) in enumerate(inset):
        out = outgoing[k % len(outgoing)]
        for speed in speeds:
            for resampled in ((True, False) if speed != 1.0 else (True,)):
                start = rng.uniform(3.0, 10.0)  # the cue point in the incoming track
                inc = _bass_cut(play(y[int(start * RATE):], speed, resampled))
                lead = 8.0  # seconds of the outgoing track alone
                n = int((lead + FADE_S + 6.0) * RATE)
                inc = np.pad(inc, (0, max(0, n - len(inc))))[: n - int(lead * RATE)]
                mix = np.resize(out, n).copy()
                ramp = np.clip((np.arange(n) / RATE - lead) / FADE_S, 0.0, 1.0).astype(np.float32)
                mix *= np.cos(ramp * np.pi / 2)
                mix[int(lead * RATE):] += inc * np.sin(ramp[int(lead * RATE):] * np.pi / 2)
                mix += 0.003 * rng.standard_normal(n).astype(np.float32)  # room noise, -30 dB under the music
                loudest = lead + FADE_S / 2
                hit = float("inf")
                for end in np.arange(WINDOW_S, n / RATE + 1e-9, STEP_S):
                    m = index.match(mix[int((end - WINDOW_S) * RATE): int(end * RATE)], RATE)
                    if m is None:
                        continue
                    if index.names[m.track] != name:
                        figures.wrong_in_mix += 1
                    elif end > lead and hit == float("inf"):
                        hit = max(0.0, end - loudest)
                figures.latencies.append(hit)
                figures.cases.append(f"{name} x{speed:.2f} {'resampled' if resampled else 'key-lock'}")


def false_ids(index: fp.Index, outset: list[tuple[str, np.ndarray]], figures: Figures, variants: bool = True) -> None:
    """Windows of music not in the set, as is and pitch-shifted/resampled, into ``figures``."""
    import librosa

    for name, y in outset:
        versions = [("", y)]
        if variants:
            versions += [(f" {st:+d} st", librosa.effects.pitch_shift(y, sr=RATE, n_steps=st)) for st in (-2, -1, 1, 2)]
            versions += [(f" x{s}", play(y, s, True)) for s in (0.94, 1.06)]
        for label, v in versions:
            figures.nonset_minutes += len(v) / RATE / 60
            for end in np.arange(WINDOW_S, len(v) / RATE + 1e-9, STEP_S):
                m = index.match(v[int((end - WINDOW_S) * RATE): int(end * RATE)], RATE)
                if m is not None:
                    figures.false_windows += 1
                    figures.false_claims.append(f"{name}{label} @ {end:.1f} s -> {index.names[m.track]} ({m.score})")


def rooms(index: fp.Index, inset: list[tuple[str, np.ndarray]], outset: list[tuple[str, np.ndarray]],
          figures: Figures, every_s: float = 1.0) -> None:
    """Every clip through each of :data:`ROOMS` (:func:`in_a_room`), matched in windows every
    ``every_s``: (right, wrong, windows) on the set's tracks, (claims, windows) on the rest, into ``figures``."""
    for k, room in enumerate(ROOMS):
        counts = [0, 0, 0, 0, 0]
        for inside, clips in ((True, inset), (False, outset)):
            for n, (name, y) in enumerate(clips):
                heard = in_a_room(y, *room, seed=n)
                for end in np.arange(WINDOW_S, len(heard) / RATE + 1e-9, every_s):
                    m = index.match(heard[int((end - WINDOW_S) * RATE): int(end * RATE)], RATE)
                    named = None if m is None else index.names[m.track]
                    if inside:
                        counts[0] += named == name
                        counts[1] += named is not None and named != name
                        counts[2] += 1
                    else:
                        counts[3] += named is not None
                        counts[4] += 1
        figures.rooms.append((k, *counts))


def cost(index: fp.Index, y: np.ndarray, figures: Figures, repeats: int = 20) -> None:
    """CPU time of one match of a 4 s window at 48 kHz (resampling included) into ``figures``."""
    x = fp.resample(y, RATE, 48000)
    w = int(WINDOW_S * 48000)
    times = []
    for i in range(repeats):
        a = (i * 24000) % max(1, len(x) - w)
        t0 = time.thread_time()
        index.match(x[a:a + w], 48000)
        times.append(time.thread_time() - t0)
    figures.match_ms = 1000 * float(np.median(times))
    figures.core_share = float(np.median(times)) / STEP_S


def big_set(marks: list[fp.Landmarks], tracks: int, minutes: float, figures: Figures) -> None:
    """Write a ``tracks``-track set of synthesised ``minutes``-long landmark tables (hashes drawn from
    the real ones, at their density), load it with SetIndex.load: time, memory, growth per track."""
    from live.library import sets

    pool = np.concatenate([m.hashes for m in marks])
    density = len(pool) / sum(float(m.frames.max()) + 1 for m in marks)  # per frame
    frames_per_track = int(minutes * 60 / fp.FRAME_S)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        disk = 0
        for k in range(tracks):
            n = int(density * frames_per_track)
            lm = fp.Landmarks(hashes=rng.choice(pool, n), frames=np.sort(rng.integers(0, frames_per_track, n)).astype(np.uint32))
            folder = Path(tmp) / f"t{k:03d}"
            folder.mkdir()
            sets.save_landmarks(folder / sets.PRINTS_FILE, lm)
            doc = sets.PreparedTrack(name=f"t{k:03d}", source="", duration=minutes * 60, origin="librosa", bpm=120.0,
                                     beats_per_bar=4, beats=list(np.arange(0, minutes * 60, 0.5).round(3)),
                                     downbeats=list(np.arange(0, minutes * 60, 2.0)), sections=[], landmarks=n)
            (folder / sets.TRACK_FILE).write_text(json.dumps(doc.to_json()))
            disk += sum(p.stat().st_size for p in folder.iterdir())
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        loaded = sets.SetIndex.load(tmp)  # first load: merges the tracks and writes the cache
        load_s = time.perf_counter() - t0
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        loaded = sets.SetIndex.load(tmp)  # every later load: the cache
        cached_s = time.perf_counter() - t0
    figures.big = {"tracks": tracks, "minutes": minutes, "load_s": load_s, "cached_s": cached_s, "index_mb": loaded.index.nbytes / 2**20,
                   "rss_growth_mb": (rss1 - rss0) / 1024, "per_track_kb": loaded.index.nbytes / tracks / 1024,
                   "disk_per_track_kb": disk / tracks / 1024, "entries": len(loaded.index)}
    figures.big["match_ms"] = 0.0
    figures.big["_index"] = loaded.index  # type: ignore[assignment]


def measure(clips: str = CLIPS, synth: int = 2, speeds: tuple[float, ...] = SPEEDS, variants: bool = True,
            big_tracks: int = 300, big_minutes: float = 5.0, use_clips: bool = True) -> Figures:
    """Every figure of the module doc (``use_clips=False``: synthesised tunes only, the tests' small case)."""
    figures = Figures()
    if use_clips:
        inset, outset = load_material(clips, synth)
    else:
        inset = [(f"synth-{s}", _loud(synth_tune(100 + s, bpm=SYNTH_BPM[s], seconds=24.0))) for s in range(synth)]
        outset = [(f"other-{s}", _loud(synth_tune(500 + s, bpm=SYNTH_BPM[-1 - s], seconds=24.0))) for s in range(2)]
    marks = [fp.landmarks(y, RATE) for _, y in inset]
    index = fp.Index([n for n, _ in inset], marks)
    identification(index, inset, [y for _, y in outset], speeds, figures)
    false_ids(index, outset, figures, variants)
    rooms(index, inset, outset, figures)
    cost(index, inset[0][1], figures)
    if big_tracks:
        big_set(marks, big_tracks, big_minutes, figures)
        big_index = figures.big.pop("_index")
        probe = Figures()
        cost(big_index, inset[0][1], probe, repeats=10)  # lookups grow with the index
        figures.big["match_ms"] = probe.match_ms
    return figures


def report(f: Figures) -> list[str]:
    """The figures as printed lines."""
    lat = np.array(f.latencies)
    ok = lat[np.isfinite(lat)]
    lines = [f"identification: {len(ok)}/{len(lat)} blends identified; time after the incoming track became the "
             f"loudest: median {np.median(ok) if len(ok) else float('nan'):.1f} s, max "
             f"{ok.max() if len(ok) else float('nan'):.1f} s; within {TARGET_S:.0f} s: {int(np.sum(lat <= TARGET_S))}/{len(lat)} "
             f"(speeds {min(SPEEDS)}..{max(SPEEDS)}, resampled and key-lock, bass cut, room noise)",
             f"  wrong track named during the blends: {f.wrong_in_mix} windows"]
    for case, t in zip(f.cases, f.latencies):
        if t > TARGET_S:
            lines.append(f"  slow: {case}: {t:.1f} s")
    lines.append(f"false identifications: {f.false_windows} windows in {f.nonset_minutes:.1f} min of music not in the set "
                 f"(windows of {WINDOW_S:.0f} s every {STEP_S} s)")
    lines += [f"  {c}" for c in f.false_claims[:10]]
    for k, right, wrong, windows, claims, others in f.rooms:
        rt60, reverb_db, noise_db = ROOMS[k]
        lines.append(f"through a room (microphone; reverb {rt60:g} s, {reverb_db:+g} dB against the direct sound, "
                     f"noise {noise_db:g} dB under): {100 * right / max(1, windows):.0f}% of {windows} windows name the "
                     f"right track, {wrong} a wrong one; {claims} claims in {others} windows of music not in the set")
    lines.append(f"cost: {f.match_ms:.1f} ms CPU per match of a {WINDOW_S:.0f} s window at 48 kHz, every {STEP_S} s: "
                 f"{100 * f.core_share:.1f}% of one core")
    if f.big:
        b = f.big
        lines.append(f"{b['tracks']:.0f}-track set ({b['minutes']:.0f} min each, {b['entries'] / 1e6:.1f} M landmarks): "
                     f"loads in {b['cached_s']:.2f} s ({b['load_s']:.2f} s the first time, which writes the cache), index {b['index_mb']:.0f} MB (peak RSS +{b['rss_growth_mb']:.0f} MB), "
                     f"{b['per_track_kb']:.0f} KB per track in memory, {b['disk_per_track_kb']:.0f} KB on disk; "
                     f"a match against it {b['match_ms']:.1f} ms ({100 * b['match_ms'] / 1000 / STEP_S:.1f}% of one core)")
    return lines


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench set``."""
    parser.add_argument("--clips", default=CLIPS, metavar="DIR", help="folder of WAV clips: every other one is put "
                        "in the set, the rest is music not in it")
    parser.add_argument("--synth", type=Bounded(int, 0, 4), default=2, help="synthesised tunes added to the set")
    parser.add_argument("--tracks", type=Bounded(int, 0, fp.MAX_TRACKS), default=300, help="tracks of the large set (load time, memory)")
    parser.add_argument("--quick", action="store_true", help="speeds 0.92, 1.0, 1.08 only and no pitch-shifted variants")
    parser.add_argument("--mix", default=",".join(MIX_CLIPS), metavar="NAMES",
                        help="clips of --clips (with NAME.beats) mixed for the live figures, in order; '' for none")
    parser.add_argument("--mix-tracker", choices=("madmom", "librosa"), default="madmom",
                        help="the set built from the audio alone: madmom's downbeat tracker when installed, else librosa")
    parser.add_argument("--generated", type=Bounded(int, 0, len(GEN_BPM)), default=4,
                        help="also mix this many generated 4/4 tracks with phrases (at other tempi) for the live "
                             "figures, beside the clips; 0 for none")


def _mix_tracker(choice: str) -> tuple[object, str]:
    """(offline tracker, its name) for the set built from the audio alone: madmom's when asked for and
    installed (:mod:`live.show.downbeats`), else librosa's (None), as ``set add`` chooses."""
    if choice == "madmom":
        from live.audio.rnn import import_madmom

        if import_madmom() is not None:
            from live.show.downbeats import madmom_downbeats

            return madmom_downbeats, "madmom"
    return None, "librosa"


def run(args: argparse.Namespace) -> int:
    """Measure and print."""
    check_folder("--clips", args.clips)
    print(machine_line())
    t0 = time.perf_counter()
    f = measure(args.clips, args.synth, (0.92, 1.0, 1.08) if args.quick else SPEEDS, not args.quick, args.tracks)
    for line in report(f):
        print(line)
    names = tuple(n for n in args.mix.split(",") if n)
    tracker, name = _mix_tracker(args.mix_tracker)
    if names:
        for line in report_mix(measure_mix(args.clips, names, tracker=tracker, tracker_name=name)):
            print(line)
    if args.generated:
        for line in report_mix(measure_generated_mix(args.generated, tracker=tracker, tracker_name=name)):
            print(line)
    print(f"(measured in {time.perf_counter() - t0:.0f} s)")
    return 0

