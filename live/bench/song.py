"""`bench song`: song mode's offline analysis: time for a track of MINUTES (synthesised, with a
known structure, or ``--audio FILE`` looped to that length) in a fresh process's first call
(librosa compiles its numba kernels then) and warm, and on the synthesised track the section
boundaries' error against the truth."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

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


def run(args: argparse.Namespace) -> int:
    """Time the analysis; print the sections and, on the synthesised track, the boundary errors."""
    import soundfile as sf

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
