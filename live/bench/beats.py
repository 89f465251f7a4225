"""`run_live.py bench beats DIR`: beat accuracy of the live chain on annotated audio.

For every ``NAME.wav`` (or flac/ogg/mp3) with a ``NAME.beats`` next to it (one beat per line:
time in seconds, then bar position), it runs :func:`live.audio.beats.track_beats` exactly as the
`beats` command does and scores it with mir_eval (F-measure at +-70 ms, CMLt, AMLt, first 5 s
trimmed from both sides). Rows: per file, per genre (file-name prefix before ``_``) and mean,
and the same for raw aubio tempo run causally as a reference. It also measures the analysis
cost (real-time factor at 48 kHz) and the onset-to-envelope latency.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from live import paths
from live.audio.settings import DEFAULTS, AnalysisSettings
from live.audio.sources import BLOCKSIZE_RANGE, AudioError, iter_blocks, load_audio, resample, to_mono
from live.bench.machine import machine_line
from live.bench.synth import synth_kick_track
from live.errors import UserError
from live.values import Bounded

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3")
DEFAULT_DIR = paths.ROOT.parent / "shared" / "data" / "beats"  # the development set next to the checkout


# ---------------------------------------------------------------------------------------------
# scoring


def read_beats_file(path: Path) -> np.ndarray:
    """Beat times (first column) of an annotation file; a bad file raises :class:`AudioError`."""
    times = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            times.append(float(parts[0]))
        except ValueError:
            raise AudioError(f"{path}:{lineno}: expected a time in seconds, got {parts[0]!r}") from None
    return np.array(sorted(times))


def score(reference: np.ndarray, estimated: np.ndarray) -> dict[str, float]:
    """mir_eval F-measure, CMLt and AMLt with the first 5 s trimmed from both."""
    try:
        import mir_eval
    except ImportError:
        raise UserError("bench beats scores with mir_eval, which is not installed: pip install -e '.[bench]'") from None

    ref = mir_eval.beat.trim_beats(np.asarray(reference, dtype=float))
    est = mir_eval.beat.trim_beats(np.asarray(estimated, dtype=float))
    f = mir_eval.beat.f_measure(ref, est)
    _, cmlt, _, amlt = mir_eval.beat.continuity(ref, est)
    return {"F": float(f), "CMLt": float(cmlt), "AMLt": float(amlt)}


def aubio_causal_beats(samples: np.ndarray, samplerate: int, hop: int = 512, buf: int = 1024) -> np.ndarray:
    """Raw aubio tempo, run frame by frame: each beat at the time aubio reports it (causal)."""
    import aubio

    tempo = aubio.tempo("default", buf, hop, samplerate)
    mono = to_mono(samples)
    beats = []
    for i in range(0, len(mono) - hop + 1, hop):
        if tempo(np.ascontiguousarray(mono[i : i + hop]))[0]:
            beats.append(tempo.get_last_s())
    return np.array(beats)


def _evaluate(job: tuple[str, str, float, int, float, AnalysisSettings]) -> dict[str, Any]:
    from live.audio.beats import track_beats

    audio_path, beats_path, lookahead, blocksize, offset, settings = job
    samples, rate = load_audio(audio_path)
    ref = read_beats_file(Path(beats_path))
    # Starting the tracker ``offset`` seconds into the file (scoring against the same
    # annotations) shows how much a figure owes to where the clip happens to start.
    start = int(round(offset * rate))
    t0 = time.process_time()
    ours = np.array([b["time"] for b in track_beats(samples[start:], rate, lookahead, blocksize, settings)])
    cpu = time.process_time() - t0
    # The raw aubio reference row is for the table, which shows the start at 0 only.
    raw = score(ref, aubio_causal_beats(samples, rate)) if offset == 0 else None
    name = Path(audio_path).stem
    return {"name": name, "genre": name.split("_")[0], "offset": offset, "ours": score(ref, ours + start / rate),
            "aubio": raw, "duration": (len(samples) - start) / rate, "cpu": cpu, "rate": rate}


def measure_cost(seconds: float = 30.0, samplerate: int = 48000, blocksize: int = 512,
                 source: np.ndarray | None = None, source_rate: int = 44100,
                 settings: AnalysisSettings = DEFAULTS) -> float:
    """Real-time factor of :class:`AudioEngine` (CPU seconds per audio second) at ``samplerate``."""
    from live.audio.analysis import AudioEngine

    if source is None:
        source, _ = synth_kick_track([(124.0, seconds)], source_rate)
    x = resample(to_mono(source), source_rate, samplerate) if source_rate != samplerate else to_mono(source)
    engine = AudioEngine(samplerate, settings)
    t0 = time.process_time()
    for block, end in iter_blocks(x, samplerate, blocksize):
        engine.feed(block, end)
    return (time.process_time() - t0) / (len(x) / samplerate)


def measure_latency(samplerate: int = 48000, blocksize: int = 512, threshold: float = 0.5,
                    settings: AnalysisSettings = DEFAULTS) -> float:
    """Seconds from a click in the input to the first published state whose onset envelope
    exceeds ``threshold``, with blocks arriving as a live stream would (worst case over clicks)."""
    from live.audio.analysis import AudioEngine

    engine = AudioEngine(samplerate, settings)
    rng = np.random.default_rng(1)
    x = (0.001 * rng.standard_normal(samplerate * 8)).astype(np.float32)
    clicks = [2.0 + 0.5 * i + 0.0037 * i for i in range(10)]
    burst = (np.exp(-np.arange(2000) / 200.0) * rng.standard_normal(2000)).astype(np.float32)
    for c in clicks:
        i = int(c * samplerate)
        x[i : i + len(burst)] += 0.5 * burst
    worst, k, above = 0.0, 0, False
    for block, end in iter_blocks(x, samplerate, blocksize):
        engine.feed(block, end)
        env = engine.state.onset_env
        if k < len(clicks) and end >= clicks[k]:
            if env >= threshold and not above:
                worst = max(worst, end - clicks[k])
                k += 1
        above = env >= threshold
    return worst if k == len(clicks) else math.inf


# ---------------------------------------------------------------------------------------------
# command


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `bench beats`."""
    parser.add_argument("dir", nargs="?", default=str(DEFAULT_DIR),
                        help="folder of NAME.wav + NAME.beats (time, bar position per line)")
    parser.add_argument("--lookahead", type=Bounded(float, 0, 2000), default=50.0, metavar="MS", help="commit beats this far ahead")
    parser.add_argument("--blocksize", type=Bounded(int, *BLOCKSIZE_RANGE), default=512, help="input block size in frames")
    parser.add_argument("--jobs", type=Bounded(int, 1, 256), default=os.cpu_count() or 1, help="files scored in parallel")
    parser.add_argument("--offsets", default="0", metavar="S,S,...",
                        help="also start the tracker this many seconds into each file and print the mean F per "
                             "start (e.g. 0,0.37,0.81,1.23): a steadier figure for comparing tracker changes")


def find_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """``(audio, annotation)`` pairs in ``folder``; :class:`AudioError` when there are none."""
    if not folder.is_dir():
        raise AudioError(f"benchmark folder not found: {folder} (give a folder of NAME.wav + NAME.beats)")
    pairs = []
    for audio in sorted(folder.iterdir()):
        if audio.suffix.lower() in AUDIO_EXTS and audio.with_suffix(".beats").is_file():
            pairs.append((audio, audio.with_suffix(".beats")))
    if not pairs:
        raise AudioError(f"no NAME.wav + NAME.beats pairs in {folder}")
    return pairs


def _row(label: str, s: dict[str, float]) -> str:
    return f"{label:<22} {s['F']:6.3f} {s['CMLt']:6.3f} {s['AMLt']:6.3f}"


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in ("F", "CMLt", "AMLt")}


def run(args: argparse.Namespace) -> int:
    """Score every annotated file and print the table, the cost and the latency."""
    import aubio

    pairs = find_pairs(Path(args.dir))
    try:
        offsets = sorted({float(x) for x in str(args.offsets).split(",") if x.strip()} | {0.0})
    except ValueError:
        raise AudioError(f"--offsets {args.offsets!r}: give seconds separated by commas, e.g. 0,0.37,0.81") from None
    if any(not 0.0 <= o <= 5.0 for o in offsets):
        raise AudioError(f"--offsets {args.offsets!r}: each offset must be within 0..5 s")
    # The benchmark measures the tracker as shipped: the default analysis settings.
    jobs = [(str(a), str(b), args.lookahead / 1000.0, args.blocksize, o, DEFAULTS) for o in offsets for a, b in pairs]
    wall = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_evaluate, jobs))
    else:
        results = [_evaluate(j) for j in jobs]
    wall = time.perf_counter() - wall
    timed, results = results, [r for r in results if r["offset"] == 0]
    print(f"beat accuracy: {len(results)} files in {args.dir}, lookahead {args.lookahead:g} ms, "
          f"block {args.blocksize}; mir_eval +-70 ms, first 5 s trimmed")
    print(f"{'file':<22} {'F':>6} {'CMLt':>6} {'AMLt':>6}   {'aubio F':>7} {'CMLt':>6} {'AMLt':>6}")
    for r in results:
        print(_row(r["name"], r["ours"]) + "   " + _row("", r["aubio"]).strip().rjust(20))
    print("-" * 66)
    for genre in sorted({r["genre"] for r in results}):
        sel = [r for r in results if r["genre"] == genre]
        print(_row(f"[{genre}]", _mean([r["ours"] for r in sel])) + "   "
              + _row("", _mean([r["aubio"] for r in sel])).strip().rjust(20))
    print("-" * 66)
    print(_row("MEAN (live clock)", _mean([r["ours"] for r in results])))
    print(_row("MEAN (raw aubio tempo)", _mean([r["aubio"] for r in results])))
    if len(offsets) > 1:
        per_start = [float(np.mean([r["ours"]["F"] for r in timed if r["offset"] == o])) for o in offsets]
        print("mean F by start offset: " + ", ".join(f"{o:g} s: {f:.3f}" for o, f in zip(offsets, per_start))
              + f"; over all starts {np.mean(per_start):.3f}")
    audio_s = sum(r["duration"] for r in timed)
    cpu_s = sum(r["cpu"] for r in timed)
    print(f"\nanalysis cost on the files ({results[0]['rate']} Hz): {100 * cpu_s / audio_s:.2f}% of one core "
          f"({cpu_s:.1f} CPU s for {audio_s:.0f} s of audio)")
    rtf = measure_cost(30.0, 48000, args.blocksize)
    print(f"analysis cost at 48 kHz (30 s synthetic track, block {args.blocksize}): {100 * rtf:.2f}% of one core "
          f"(real-time factor {rtf:.4f})")
    lat = measure_latency(48000, args.blocksize)
    from live.audio.analysis import default_hop

    bound = (args.blocksize + default_hop(48000)) / 48000
    print(f"onset -> envelope latency at 48 kHz: {1000 * lat:.1f} ms worst case "
          f"(bound: one block + one hop = {1000 * bound:.1f} ms)")
    print(f"{machine_line()}, aubio {aubio.version}; bench wall time {wall:.1f} s")
    return 0
