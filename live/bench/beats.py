"""`run_live.py bench beats DIR`: beat accuracy of the live chain on annotated audio.

For every ``NAME.wav`` (or flac/ogg/mp3) with a ``NAME.beats`` next to it (one beat per line:
time in seconds, then bar position), it runs :func:`live.audio.beats.track_beats` exactly as the
`beats` command does and scores it with mir_eval (F-measure at +-70 ms, CMLt, AMLt, first 5 s
trimmed from both sides), and the bar positions it calls 1 with a downbeat F-measure against
the annotated downbeats. Rows: per file, per genre (file-name prefix before ``_``) and mean, one
group of columns per beat activation (aubio, rnn), and raw aubio tempo run causally as a
reference. ``--transitions`` adds DJ mixes of the clips built in memory
(:mod:`live.bench.transitions`) with the re-lock time after each. It also measures the analysis
cost (real-time factor at 48 kHz) and the onset-to-envelope latency of each activation.

So that a default chosen on these files cannot overfit silently, every file has a fixed half: the
first 8 hex digits of the SHA-256 of its name (stem, e.g. ``pop_00000``) as an integer, even =
``tune`` (constants may be chosen on it), odd = ``check`` (only reported). :func:`fold_of` with
``K`` folds is that integer mod ``K``. ``--split`` scores one half or both (each summarised on its
own; mixes are made within a half), ``--folds K`` rotates: each fold is checked with the
activation that scores best on the other folds, and the chosen activation and its figure on the
held-out fold are printed per fold.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import time
from dataclasses import replace
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from live import paths
from live.audio.settings import BEAT_ACTIVATIONS, DEFAULTS, DOWNBEAT_CUES, AnalysisSettings, describe
from live.audio.sources import BLOCKSIZE_RANGE, AudioError, iter_blocks, load_audio, to_mono
from live.audiofile import resample
from live.bench.annotated import synth_annotated, synth_name
from live.bench.machine import machine_line
from live.bench.synth import synth_kick_track
from live.bench.transitions import FADE, HIT, RELOCK_BEATS, build_transition, relock_time, transition_pairs
from live.errors import UserError
from live.values import Bounded

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3")
COST_REPEATS = 3  # the analysis cost is the best of this many runs: one 2-core machine's timings swing by a third
DEFAULT_DIR = paths.ROOT.parent / "shared" / "data" / "beats"  # the development set next to the checkout


# ---------------------------------------------------------------------------------------------
# scoring


def read_annotations(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (first column) and bar positions (second column, 1 = downbeat; 0 where a line
    has none) of an annotation file, sorted by time; a bad file raises :class:`AudioError`."""
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.replace(",", " ").split()
        if not parts or parts[0].startswith("#"):
            continue
        try:
            rows.append((float(parts[0]), float(parts[1]) if len(parts) > 1 else 0.0))
        except ValueError:
            raise AudioError(f"{path}:{lineno}: expected a time in seconds and a bar position, got {line.strip()!r}") from None
    rows.sort()
    return np.array([r[0] for r in rows]), np.array([r[1] for r in rows])


def read_beats_file(path: Path) -> np.ndarray:
    """Beat times (first column) of an annotation file; a bad file raises :class:`AudioError`."""
    return read_annotations(path)[0]


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


def downbeat_f(reference: np.ndarray, ref_pos: np.ndarray, estimated: np.ndarray, est_bar: np.ndarray) -> float:
    """Downbeat F-measure: mir_eval's beat F-measure (+-70 ms, first 5 s trimmed) between the
    annotated downbeats (bar position 1) and the estimated beats with bar position 1."""
    import mir_eval

    ref = mir_eval.beat.trim_beats(np.asarray(reference, dtype=float)[np.asarray(ref_pos) == 1])
    est = mir_eval.beat.trim_beats(np.asarray(estimated, dtype=float)[np.asarray(est_bar) == 1])
    return float(mir_eval.beat.f_measure(ref, est))


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


def madmom_reference_beats(samples: np.ndarray, samplerate: int) -> dict[str, np.ndarray]:
    """madmom's own beat trackers on mono ``samples``, as reference rows for the live chain:

    * ``online``: its causal networks (the rnn activation) and its online DBN, each beat at the
      frame where the DBN reports it (reactive: no lookahead, so it could never be flashed on time);
    * ``projected``: each of those beats moved one beat period (its last inter-beat interval)
      ahead, which is the naive way to meet a lookahead;
    * ``offline``: its bidirectional networks and the DBN over the whole file (not causal: the
      ceiling a live tracker is compared with).
    Needs madmom (:func:`live.audio.rnn.available`)."""
    from live.audio import rnn

    if rnn.import_madmom() is None:
        raise UserError(f"--reference needs madmom: {rnn.INSTALL_HINT}")
    from madmom.audio.signal import Signal
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor

    mono = to_mono(samples)
    activation = rnn.RNNBeatActivation(samplerate).process(mono)
    dbn = DBNBeatTrackingProcessor(fps=rnn.FPS, online=True)
    online = np.array([i / rnn.FPS for i, a in enumerate(activation)
                       if len(dbn.process_online(np.array([a], dtype=np.float32), reset=False))])
    projected = np.sort(online[1:] + np.diff(online)) if len(online) > 1 else np.zeros(0)
    # The offline networks expect 44.1 kHz (madmom would call ffmpeg to resample).
    signal = Signal(resample(mono, samplerate, rnn.REFERENCE_RATE).astype(np.float32), sample_rate=rnn.REFERENCE_RATE)
    offline = DBNBeatTrackingProcessor(fps=rnn.FPS)(RNNBeatProcessor()(signal))
    return {"online": online, "projected": projected, "offline": np.asarray(offline)}


REFERENCES = ("online", "projected", "offline")  # the keys of madmom_reference_beats, in table order


def _load_item(item: tuple[str, ...]) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, float | None]:
    # ("clip", audio, beats) or ("mix", audio A, beats A, audio B, beats B): samples, rate,
    # reference times and bar positions, and the middle of the transition (mixes only).
    if item[0] == "synth":
        samples, times, pos = synth_annotated(int(item[1]))
        return samples, SYNTH_RATE, times, pos, None
    if item[0] == "clip":
        samples, rate = load_audio(item[1])
        times, pos = read_annotations(Path(item[2]))
        return to_mono(samples), rate, times, pos, None
    a, rate = load_audio(item[1])
    b, rate_b = load_audio(item[3], samplerate=rate)
    (ta, pa), (tb, pb) = read_annotations(Path(item[2])), read_annotations(Path(item[4]))
    mix, times, pos, middle = build_transition(to_mono(a), ta, pa, to_mono(b), tb, pb, rate)
    return mix, rate, times, pos, middle


def _evaluate(job: tuple[tuple[str, ...], float, int, float, AnalysisSettings, bool]) -> dict[str, Any]:
    from live.audio.beats import track_beats

    item, lookahead, blocksize, offset, settings, reference = job
    samples, rate, ref, ref_pos, middle = _load_item(item)
    # Starting the tracker ``offset`` seconds into the file (scoring against the same
    # annotations) shows how much a figure owes to where the clip happens to start.
    start = int(round(offset * rate))
    t0 = time.process_time()
    beats = track_beats(samples[start:], rate, lookahead, blocksize, settings)
    cpu = time.process_time() - t0
    ours = np.array([b["time"] for b in beats]) + start / rate
    bars = np.array([b["bar"] for b in beats])
    # The raw aubio reference row is for the table, which shows the start at 0 only.
    raw = score(ref, aubio_causal_beats(samples, rate)) if offset == 0 and item[0] != "mix" else None
    madmom = ({k: score(ref, v)["F"] for k, v in madmom_reference_beats(samples, rate).items()}
              if reference and offset == 0 else None)
    name = (synth_name(int(item[1])) if item[0] == "synth"
            else Path(item[1]).stem + ("" if item[0] == "clip" else " > " + Path(item[3]).stem))
    result = score(ref, ours)
    result["downbeat F"] = downbeat_f(ref, ref_pos, ours, bars) if np.any(ref_pos == 1) else float("nan")
    result["tempo spread"] = tempo_spread(beats, SPREAD_AFTER_S - start / rate)
    if middle is not None:
        result["relock"] = relock_time(ref, ours, middle)
    return {"name": name, "genre": name.split("_")[0], "kind": item[0], "offset": offset, "ours": result, "activation":
            settings.beat_activation, "aubio": raw, "madmom": madmom, "duration": (len(samples) - start) / rate,
            "cpu": cpu, "rate": rate}


SYNTH_RATE = 22050  # the rate generated tracks are made at (as the development clips)
SPREAD_AFTER_S = 10.0  # the published tempo's spread is measured from here on (the first estimates settle before)
STEADY_GENRES = ("disco", "hiphop", "pop")  # steady-tempo material, where the published tempo must not move


def tempo_spread(beats: list[dict[str, Any]], after: float = SPREAD_AFTER_S) -> float:
    """Max - min of the published tempo (``bpm`` of each beat) from ``after`` seconds on; nan when none."""
    bpms = [b["bpm"] for b in beats if b["time"] >= after and b["bpm"]]
    return float(max(bpms) - min(bpms)) if bpms else float("nan")


def measure_tempo_step(step: float, bpm: float = 124.0, samplerate: int = 48000,
                       settings: AnalysisSettings = DEFAULTS) -> float:
    """Seconds from a tempo step of ``step`` (relative: 0.04 = 4% faster) in a synthetic kick
    track until the published tempo is within 1% of the new tempo and stays there; inf if never."""
    from live.audio.beats import track_beats

    change_at, after = 30.0, 30.0
    samples, _ = synth_kick_track([(bpm, change_at), (bpm * (1 + step), after)], samplerate)
    beats = track_beats(samples, samplerate, settings=settings)
    target = bpm * (1 + step)
    late = [b for b in beats if b["time"] >= change_at]
    off = [i for i, b in enumerate(late) if not b["bpm"] or abs(b["bpm"] / target - 1) > 0.01]
    if off and off[-1] == len(late) - 1:
        return math.inf
    return late[off[-1] + 1]["time"] - change_at if off else 0.0


def measure_cost(seconds: float = 30.0, samplerate: int = 48000, blocksize: int = 512,
                 source: np.ndarray | None = None, source_rate: int = 44100,
                 settings: AnalysisSettings = DEFAULTS, repeats: int = COST_REPEATS) -> float:
    """Real-time factor of :class:`AudioEngine` (CPU seconds per audio second) at ``samplerate``:
    the least of ``repeats`` runs, each a fresh engine (the others were slowed by something else)."""
    from live.audio.analysis import AudioEngine

    if source is None:
        source, _ = synth_kick_track([(124.0, seconds)], source_rate)
    x = resample(to_mono(source), source_rate, samplerate) if source_rate != samplerate else to_mono(source)
    blocks = list(iter_blocks(x, samplerate, blocksize))
    best = math.inf
    for _ in range(repeats):
        engine = AudioEngine(samplerate, settings)
        t0 = time.process_time()
        for block, end in blocks:
            engine.feed(block, end)
        best = min(best, time.process_time() - t0)
    return best / (len(x) / samplerate)


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
    parser.add_argument("--beat-activation", choices=(*BEAT_ACTIVATIONS, "all", "both"), default="all",
                        help="which beat activation to score (all, or its old name both: side by side). "
                             + describe("beat_activation"))
    parser.add_argument("--split", choices=(*HALVES, "both"), default="both",
                        help="which half of the fixed split to score: tune (constants may be chosen on it), check "
                             "(only reported), or both, each summarised on its own; a file's half is the parity of "
                             "the SHA-256 of its name")
    parser.add_argument("--synth", type=Bounded(int, 0, 1000), default=0, metavar="N",
                        help="also score N generated tracks with exact annotations (live/bench/annotated.py: drums, "
                             "bass and a chord change per bar; steady, stepped or ramped tempo 80-160 BPM), in their "
                             "own table and split by name as the files are")
    parser.add_argument("--folds", type=Bounded(int, 0, 20), default=0, metavar="K",
                        help="also rotate a K-fold split (SHA-256 of the name mod K): per fold, the figures of each "
                             "activation and the one that scores best on the other folds (0: off)")
    parser.add_argument("--downbeat", choices=DOWNBEAT_CUES, default=DEFAULTS.downbeat,
                        help=describe("downbeat") + "; bass gives the figures of the earlier, bass-only estimate")
    parser.add_argument("--transitions", action="store_true",
                        help=f"also score DJ transitions made from the clips at run time (A, then B faded in over "
                             f"{FADE:g} s), with the re-lock time after each")
    parser.add_argument("--reference", action="store_true",
                        help="also score madmom's own trackers (needs madmom; its weights are CC BY-NC-SA 4.0): its "
                             "online tracker reactive (no lookahead) and projected one beat ahead, and its offline "
                             "bidirectional tracker (not causal), as the scale for the live chain's figures")
    parser.add_argument("--offsets", default="0", metavar="S,S,...",
                        help="also start the tracker this many seconds into each file and print the mean F per "
                             "start (e.g. 0,0.37,0.81,1.23): a steadier figure for comparing tracker changes")


HALVES = ("tune", "check")


def _name_hash(name: str) -> int:
    return int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:8], 16)


def half_of(name: str) -> str:
    """``tune`` or ``check``: the fixed half of the split for a file name (stem): SHA-256, even or odd."""
    return HALVES[_name_hash(name) % 2]


def fold_of(name: str, folds: int) -> int:
    """The fold (0..folds-1) of a file name (stem) in a ``folds``-fold rotation: SHA-256 mod ``folds``."""
    return _name_hash(name) % folds


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


def _mean(rows: list[dict[str, float]], keys: tuple[str, ...] = ("F", "CMLt", "AMLt", "downbeat F")) -> dict[str, float]:
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


def _cells(s: dict[str, float]) -> str:
    return f"{s['F']:6.3f} {s['CMLt']:6.3f} {s['AMLt']:6.3f} {s['downbeat F']:6.3f}"


def _table(results: list[dict[str, Any]], activations: list[str], label: str, raw: bool) -> None:
    # One row per item (name), one group of columns per activation; then per genre and the mean.
    head = "".join(f" | {a + ' F':>9} {'CMLt':>6} {'AMLt':>6} {'dbF':>6}" for a in activations)
    print(f"{label:<34}{head}" + ("   raw aubio F" if raw else ""))
    names = list(dict.fromkeys(r["name"] for r in results))
    by = {(r["name"], r["activation"]): r for r in results}

    def line(lbl: str, sel: list[str]) -> str:
        cols = "".join(" | " + _cells(_mean([by[(n, a)]["ours"] for n in sel])) for a in activations)
        ref = ("   " + f"{np.mean([by[(n, activations[0])]['aubio']['F'] for n in sel]):11.3f}") if raw else ""
        return f"{lbl:<34}{cols}{ref}"

    for n in names:
        print(line(n, [n]))
    print("-" * (34 + 31 * len(activations)))
    for genre in sorted({n.split("_")[0] for n in names}):
        print(line(f"[{genre}]", [n for n in names if n.split("_")[0] == genre]))
    print(line("MEAN", names))


def _reference_table(results: list[dict[str, Any]], activations: list[str]) -> None:
    # Beat F of the live chain (start at 0, per activation) beside madmom's trackers, per genre
    # and mean, for the clips and (when scored) the mixes.
    by = {(r["name"], r["activation"]): r for r in results}
    names = list(dict.fromkeys(r["name"] for r in results))
    cols = [*activations, *(f"madmom {k}" for k in REFERENCES)]

    def f(name: str, col: str) -> float:
        if col in activations:
            return by[(name, col)]["ours"]["F"]
        return by[(name, activations[0])]["madmom"][col.split()[1]]

    print("\nbeat F beside madmom's trackers (start at 0 s; online = reactive, no lookahead; projected = each "
          "online beat moved one period ahead; offline = bidirectional, not causal)")
    print(f"{'':<22}" + "".join(f"{c:>18}" for c in cols))
    for label, sel in [*((f"[{g}]", [n for n in names if " > " not in n and n.split("_")[0] == g])
                         for g in sorted({n.split("_")[0] for n in names if " > " not in n})),
                       ("MEAN clips", [n for n in names if " > " not in n]),
                       ("MEAN mixes", [n for n in names if " > " in n])]:
        if sel:
            print(f"{label:<22}" + "".join(f"{np.mean([f(n, c) for n in sel]):18.3f}" for c in cols))


def _summary_cells(rows: list[dict[str, Any]]) -> str:
    # Beat F, downbeat F and the median published-tempo spread (steady genres; not for mixes,
    # whose tempo changes at the transition) of some results.
    if not rows:
        return f"{'-':>6} {'-':>6} {'-':>6}"
    steady = [r["ours"]["tempo spread"] for r in rows if r["genre"] in STEADY_GENRES and " > " not in r["name"]]
    spread = float(np.nanmedian(steady)) if steady and np.isfinite(steady).any() else float("nan")
    return (f"{np.mean([r['ours']['F'] for r in rows]):6.3f} {np.nanmean([r['ours']['downbeat F'] for r in rows]):6.3f} "
            f"{spread:6.2f}")


def _split_summary(results: list[dict[str, Any]], activations: list[str], folds: int) -> None:
    """Per half of the split (and per fold with ``folds``): beat F, downbeat F and the published
    tempo's median spread on the steady genres, per activation; with folds, the activation chosen
    on the other folds and what it scores on the held-out one."""
    at0 = [r for r in results if r["offset"] == 0]
    head = "".join(f" | {a + ' F':>14} {'dbF':>6} {'sprd':>6}" for a in activations)
    print(f"\nper half of the split (SHA-256 of the name: even = tune, odd = check; sprd = median published tempo "
          f"spread in BPM on {', '.join(STEADY_GENRES)})")
    print(f"{'':<24}{head}")
    for kind, label in (("clip", "clips"), ("mix", "mixes"), ("synth", "generated")):
        for half in HALVES:
            rows = [r for r in at0 if r["kind"] == kind and half_of(r["name"].split(" > ")[0]) == half]
            if not rows:
                continue
            n = len({r["name"] for r in rows})
            cells = "".join(" | " + _summary_cells([r for r in rows if r["activation"] == a]) for a in activations)
            print(f"{f'{label} {half} ({n})':<24}{cells}")
    if folds < 2:
        return
    clips = [r for r in at0 if r["kind"] == "clip"]
    print(f"\n{folds}-fold rotation (fold = SHA-256 of the name mod {folds}): per fold, each activation's figures; "
          f"'chosen' = the activation with the best beat F on the other folds, scored on this one")
    print(f"{'':<24}{head} | chosen")
    checked = []
    for k in range(folds):
        held = [r for r in clips if fold_of(r["name"], folds) == k]
        rest = [r for r in clips if fold_of(r["name"], folds) != k]
        if not held:
            continue
        tuned = {a: np.mean([r["ours"]["F"] for r in rest if r["activation"] == a] or [float("nan")])
                 for a in activations}
        chosen = max(activations, key=lambda a: (np.nan_to_num(tuned[a], nan=-1.0)))
        got = [r for r in held if r["activation"] == chosen]
        checked += got
        cells = "".join(" | " + _summary_cells([r for r in held if r["activation"] == a]) for a in activations)
        n = len({r["name"] for r in held})
        print(f"{f'fold {k} ({n})':<24}{cells} | {chosen} {np.mean([r['ours']['F'] for r in got]):.3f}")
    cells = "".join(" | " + _summary_cells([r for r in clips if r["activation"] == a]) for a in activations)
    print(f"{'all folds':<24}{cells} | chosen by rotation: beat F {np.mean([r['ours']['F'] for r in checked]):.3f}, "
          f"dbF {np.nanmean([r['ours']['downbeat F'] for r in checked]):.3f}")


def run(args: argparse.Namespace) -> int:
    """Score every annotated file (and, with ``--transitions``, the DJ mixes made from them) with
    each beat activation and print the tables, the cost and the latency."""
    import aubio

    from live.audio import beatnet, rnn
    from live.audio.analysis import default_hop

    pairs = find_pairs(Path(args.dir))
    if args.split != "both":
        pairs = [p for p in pairs if half_of(p[0].stem) == args.split]
        if not pairs:
            raise AudioError(f"no file of {args.dir} falls in the {args.split} half of the split")
    try:
        offsets = sorted({float(x) for x in str(args.offsets).split(",") if x.strip()} | {0.0})
    except ValueError:
        raise AudioError(f"--offsets {args.offsets!r}: give seconds separated by commas, e.g. 0,0.37,0.81") from None
    if any(not 0.0 <= o <= 5.0 for o in offsets):
        raise AudioError(f"--offsets {args.offsets!r}: each offset must be within 0..5 s")
    activations = list(BEAT_ACTIVATIONS) if args.beat_activation in ("all", "both") else [args.beat_activation]
    if "rnn" in activations and not rnn.available():
        print(f"rnn beat activation not available (madmom missing: {rnn.INSTALL_HINT}); not scored")
        activations = [a for a in activations if a != "rnn"] or ["aubio"]
    if "beatnet" in activations and not beatnet.available():
        print(f"beatnet beat activation not available (BeatNet missing: {beatnet.INSTALL_HINT}); not scored")
        activations = [a for a in activations if a != "beatnet"] or ["aubio"]
    if args.downbeat == "learned" and not beatnet.available():
        raise UserError(f"--downbeat learned needs BeatNet: {beatnet.INSTALL_HINT}")
    # The benchmark measures the tracker as shipped: the default analysis settings, except the
    # activation and the downbeat cues (--downbeat bass: the earlier estimate).
    settings = {a: replace(DEFAULTS, beat_activation=a, downbeat=args.downbeat) for a in activations}
    items = [("clip", str(a), str(b)) for a, b in pairs]
    generated = [("synth", str(seed)) for seed in range(args.synth)
                 if args.split == "both" or half_of(synth_name(seed)) == args.split]
    mixes = []
    if args.transitions:
        # Made within each half, so a mix is tune or check material as its clips are.
        for half in HALVES:
            part = [p for p in pairs if half_of(p[0].stem) == half]
            names = [a.stem for a, _ in part]
            mixes += [("mix", str(part[i][0]), str(part[i][1]), str(part[j][0]), str(part[j][1]))
                      for i, j in transition_pairs(names)]
    # madmom's reference rows are computed once per item, with the first activation's start at 0.
    jobs = [(it, args.lookahead / 1000.0, args.blocksize, o, settings[a], args.reference and a == activations[0])
            for a in activations for o in offsets for it in items]
    jobs += [(it, args.lookahead / 1000.0, args.blocksize, 0.0, settings[a], False) for a in activations for it in generated]
    jobs += [(it, args.lookahead / 1000.0, args.blocksize, 0.0, settings[a], args.reference and a == activations[0])
             for a in activations for it in mixes]
    wall = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_evaluate, jobs))
    else:
        results = [_evaluate(j) for j in jobs]
    wall = time.perf_counter() - wall
    synth = [r for r in results if r["kind"] == "synth"]
    clips = [r for r in results if r["kind"] == "clip"]
    at0 = [r for r in clips if r["offset"] == 0]
    print(f"beat accuracy: {len(pairs)} files in {args.dir}, lookahead {args.lookahead:g} ms, block {args.blocksize}; "
          f"mir_eval +-70 ms, first 5 s trimmed; dbF = downbeat F (beats the clock calls bar position 1; "
          f"downbeat cues: {args.downbeat})")
    _table(at0, activations, "file (start at 0 s)", raw=True)
    if synth:
        print(f"\ngenerated tracks ({len(generated)}, exact annotations; live/bench/annotated.py)")
        _table(synth, activations, "generated track", raw=True)
    if len(offsets) > 1:
        for a in activations:
            per_start = [float(np.mean([r["ours"]["F"] for r in clips if r["offset"] == o and r["activation"] == a]))
                         for o in offsets]
            print(f"{a}: mean F by start offset: " + ", ".join(f"{o:g} s: {f:.3f}" for o, f in zip(offsets, per_start))
                  + f"; over all starts {np.mean(per_start):.3f}")
            for genre in sorted({r["genre"] for r in clips}):
                sel = [r["ours"]["F"] for r in clips if r["genre"] == genre and r["activation"] == a]
                print(f"    [{genre}] {np.mean(sel):.3f}", end="")
            print()
    if mixes:
        done = [r for r in results if r["kind"] == "mix"]
        print(f"\nDJ transitions: {len(mixes)} mixes of the clips above, {FADE:g} s linear crossfade, annotations "
              f"switched at the middle; re-lock = from there to {RELOCK_BEATS} beats in a row within {HIT * 1000:.0f} ms")
        _table(done, activations, "mix", raw=False)
        for a in activations:
            rl = np.array([r["ours"]["relock"] for r in done if r["activation"] == a])
            ok = rl[np.isfinite(rl)]
            print(f"{a}: re-lock after the fade middle: median {np.median(ok) if len(ok) else float('nan'):.1f} s, "
                  f"mean {np.mean(ok) if len(ok) else float('nan'):.1f} s, never re-locked {len(rl) - len(ok)}/{len(rl)}")
    for a in activations:
        spreads = {r["name"]: r["ours"]["tempo spread"] for r in at0 if r["activation"] == a}
        steady = [v for n, v in spreads.items() if n.split("_")[0] in STEADY_GENRES]
        steps = {f"{100 * st:+.0f}%": measure_tempo_step(st, settings=settings[a]) for st in (0.04, -0.04)}
        bar_s = 4 * 60.0 / 124.0
        print(f"{a}: published tempo spread (max - min after {SPREAD_AFTER_S:g} s): median {np.nanmedian(steady):.2f} "
              f"BPM on the steady genres ({', '.join(STEADY_GENRES)}), {np.nanmedian(list(spreads.values())):.2f} BPM "
              f"on all clips; a tempo step at 124 BPM is followed in "
              + ", ".join(f"{k}: {v:.1f} s ({v / bar_s:.1f} bars)" for k, v in steps.items()))
    _split_summary(results, activations, args.folds)
    if args.reference:
        _reference_table([r for r in results if r["offset"] == 0 and r["kind"] != "synth"], activations)
    audio_s = sum(r["duration"] for r in clips)
    cpu_s = sum(r["cpu"] for r in clips)
    print(f"\nanalysis cost on the files ({at0[0]['rate']} Hz, all activations): {100 * cpu_s / audio_s:.2f}% of one core")
    bound = (args.blocksize + default_hop(48000)) / 48000
    for a in activations:
        rtf = measure_cost(30.0, 48000, args.blocksize, settings=settings[a])
        lat = measure_latency(48000, args.blocksize, settings=settings[a])
        print(f"{a}: analysis cost at 48 kHz (30 s synthetic track, block {args.blocksize}, best of {COST_REPEATS}): "
              f"{100 * rtf:.2f}% of one core; "
              f"onset -> envelope latency {1000 * lat:.1f} ms worst case (bound: one block + one hop = {1000 * bound:.1f} ms)")
    print(f"{machine_line()}, aubio {aubio.version}; bench wall time {wall:.1f} s")
    return 0
