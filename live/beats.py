"""`run_live.py beats FILE`: the beats the show would flash for an audio file, found causally.

This is the live code path, run as fast as possible: the file is cut into input-sized blocks,
each fed to the same :class:`~live.analysis.AudioEngine` the show uses, stamped with the time
it would arrive live. After each block, a :class:`~live.beatclock.BeatScheduler` commits the
beats the clock predicts at least ``--lookahead`` ahead of the audio analysed so far. A beat
printed at time t was therefore decided from audio before t - lookahead and is never revised.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

import numpy as np

from live.analysis import ONSET_METHODS, AudioEngine
from live.audio import AudioError, iter_blocks, load_audio, to_mono
from live.beatclock import BeatScheduler

_LOGGER = logging.getLogger(__name__)


def track_beats(samples: np.ndarray, samplerate: int, lookahead: float = 0.05, blocksize: int = 512,
                **settings: Any) -> list[dict[str, Any]]:
    """Run the live chain causally over ``samples`` and return the committed beats, in order:
    dicts with ``time`` (s from the start), ``bpm``, ``confidence``, ``beat`` (index) and ``bar``
    (position in the bar, 1 = downbeat)."""
    if lookahead < 0 or lookahead > 2.0:
        raise AudioError(f"lookahead {lookahead * 1000:g} ms is out of range; use 0..2000 ms")
    if not 16 <= blocksize <= 16384:
        raise AudioError(f"block size {blocksize} is out of range; use 16..16384 frames")
    engine = AudioEngine(samplerate, **settings)
    scheduler = BeatScheduler(lookahead)
    mono = to_mono(samples)
    beats: list[dict[str, Any]] = []
    for block, end_time in iter_blocks(mono, samplerate, blocksize):
        engine.feed(block, end_time)
        state = engine.state
        for t, index in scheduler.advance(state, end_time):
            beats.append({
                "time": round(float(t), 4),
                "bpm": round(float(state.bpm), 2),
                "confidence": round(float(state.confidence), 3),
                "beat": int(index),
                "bar": int((index - state.beat_index + state.downbeat) % 4) + 1,
            })
    duration = len(mono) / samplerate
    return [b for b in beats if 0.0 <= b["time"] < duration]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of the `beats` command."""
    parser.add_argument("file", help="audio file (wav, flac, ogg, mp3 ...)")
    parser.add_argument("--lookahead", type=float, default=50.0, metavar="MS",
                        help="each beat is committed this long before it happens, from older audio only")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: one beat time (s) per line; json: also bpm, confidence, bar position")
    parser.add_argument("--blocksize", type=int, default=512, help="input block size in frames, as live")
    parser.add_argument("--onset", choices=ONSET_METHODS, default="logflux", help="onset novelty function")
    parser.add_argument("--tempo-min", type=float, default=70.0, help="slowest tempo in BPM")
    parser.add_argument("--tempo-max", type=float, default=180.0, help="fastest tempo in BPM")


def run(args: argparse.Namespace) -> int:
    """Print the beats for ``args.file``."""
    samples, rate = load_audio(args.file)
    beats = track_beats(samples, rate, lookahead=args.lookahead / 1000.0, blocksize=args.blocksize,
                        onset_method=args.onset, tempo_min=args.tempo_min, tempo_max=args.tempo_max)
    out = sys.stdout
    if args.format == "json":
        json.dump(beats, out, indent=None)
        out.write("\n")
    else:
        for b in beats:
            out.write(f"{b['time']:.3f}\n")
    return 0
