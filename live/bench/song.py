"""`bench song`: song mode's offline analysis: time for a track of MINUTES (synthesised, with a
known structure, or ``--audio FILE`` looped to that length) in a fresh process's first call
(librosa compiles its numba kernels then) and warm, and on the synthesised track the section
boundaries' error against the truth; ``--medley`` instead: medleys of three different 30 s tracks
(GTZAN clips from ``--clips DIR``, read in place, else the synthetic medley), each change against the
nearest section start (the target: within 2.5 s)."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from live.bench.flags import check_audio_file, check_folder
from live.bench.machine import machine_line
from live.bench.synth import synth_song
from live.values import positive

# A 4-minute-ish structure at 120 BPM, bars: intro, verse, chorus, verse, chorus, break, chorus, outro.
PARTS = [(8, False), (16, True), (16, False), (16, True), (8, False), (16, True), (8, False), (32, True)]


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench song``."""
    parser.add_argument("--minutes", type=positive(float, 60), default=4.0, help="length of the analysed track")
    parser.add_argument("--audio", default=None, metavar="FILE", help="a real track, looped to --minutes "
                        "(default: a synthesised one of known structure)")
    parser.add_argument("--medley", action="store_true", help="measure section starts on medleys of three 30 s "
                        "tracks instead (the synthetic one, and with --clips the real ones)")
    parser.add_argument("--clips", default=None, metavar="DIR", help="with --medley: a folder of GENRE_NNNNN.wav "
                        "clips (e.g. the beat-tracking development set); 16 medleys of three genres")


def run(args: argparse.Namespace) -> int:
    """Time the analysis; print the sections and, on the synthesised track, the boundary errors."""
    import soundfile as sf

    if args.audio:
        check_audio_file("--audio", args.audio)
    if args.clips:
        check_folder("--clips", args.clips)
    if args.medley:
        return _medleys(args.clips)

    from live.library.song import analyse

    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "track.wav"
        if args.audio:
            y, sr = sf.read(args.audio, dtype="float32", always_2d=True)
            y, truth = y.mean(axis=1), None
        else:
            sr = 44100
            parts = PARTS * int(np.ceil(args.minutes / 4.0))  # PARTS last 4 minutes at 120 BPM
            y, starts = synth_song(parts, samplerate=sr)
            truth = np.array(starts[1:])
        n = int(args.minutes * 60 * sr)
        y = np.resize(y, n)  # loop (or cut) to the length asked
        if truth is not None:
            truth = truth[truth < n / sr - 8.0]  # a cut-off last part shorter than 4 bars is no section
        sf.write(path, y, sr)
        t0 = time.perf_counter()
        plan = analyse(path)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        analyse(path)
        warm = time.perf_counter() - t0
    print(f"analysis of a {args.minutes:.1f}-minute track: {cold:.1f} s first call (numba compiles), {warm:.1f} s warm; "
          f"{plan.bpm:.1f} BPM, {len(plan.sections)} sections ({plan.tracker})")
    for s in plan.sections:
        print(f"  {s.name:<12} {s.start:7.2f}-{s.end:7.2f} s  {s.bars:3d} bars  energy {s.energy:.2f}  {s.key}")
    if truth is not None:
        found = np.array([s.start for s in plan.sections[1:]])
        errors = [float(np.min(np.abs(found - t))) if len(found) else float("inf") for t in truth]
        beat = 60.0 / 120.0
        hits = sum(e <= beat for e in errors)
        extra = sum(float(np.min(np.abs(truth - f))) > beat for f in found)
        print(f"boundaries: {hits}/{len(truth)} true ones found within one beat (max error of those "
              f"{max([e for e in errors if e <= beat], default=0.0):.3f} s), {extra} extra")
    return 0


MEDLEY_TARGET_S = 2.5
MEDLEY_FIRST = ("pop_00000", "classical_00000", "disco_00000")  # the medley of the report (issue 23)


def _medleys(clips: str | None) -> int:
    """Each medley's changes against the nearest section start; a summary line."""
    import soundfile as sf

    from live.bench.synth import synth_medley
    from live.library.song import analyse

    print(machine_line())
    medleys: list[tuple[str, np.ndarray, int, list[float]]] = []
    y, changes = synth_medley(30.0)
    medleys.append(("synthetic kick/pad/hats", y, 22050, changes))
    if clips:
        folder = Path(clips)
        genres = sorted({p.stem.split("_")[0] for p in folder.glob("*_0000*.wav")})
        rng = np.random.default_rng(1)
        picks = [MEDLEY_FIRST] + [tuple(f"{g}_0000{rng.integers(2)}" for g in rng.choice(genres, 3, replace=False))
                                  for _ in range(15)]
        for names in picks:
            parts, sr = [], 22050
            for name in names:
                part, sr = sf.read(folder / f"{name}.wav", dtype="float32", always_2d=True)
                parts.append(part.mean(axis=1)[:30 * sr])
            medleys.append((" + ".join(names), np.concatenate(parts), sr, [30.0, 60.0]))
    errors: list[float] = []
    extra = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, y, sr, changes in medleys:
            path = Path(tmp) / "medley.wav"
            sf.write(path, y, sr)
            plan = analyse(path)
            found = np.array([s.start for s in plan.sections[1:]])
            errs = [float(np.min(np.abs(found - c))) if len(found) else float("inf") for c in changes]
            errors += errs
            extra += sum(float(np.min(np.abs(np.array(changes) - f))) > MEDLEY_TARGET_S for f in found)
            print(f"  {label:<48} changes at {', '.join(f'{c:.0f}' for c in changes)} s: nearest start "
                  f"{', '.join(f'{e:.2f}' for e in errs)} s off; starts {', '.join(f'{s.start:.1f}' for s in plan.sections)}")
    hits = sum(e <= MEDLEY_TARGET_S for e in errors)
    print(f"medley changes with a section start within {MEDLEY_TARGET_S} s: {hits}/{len(errors)} "
          f"(median error {np.median(errors):.2f} s, max {max(errors):.2f} s); {extra} starts inside a track")
    return 0
