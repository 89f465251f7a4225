"""`beats FILE`: the beats the show would flash for an audio file. Arguments only."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from live.audio.analysis import ONSET_METHODS
from live.audio.beats import track_beats
from live.audio.sources import load_audio

_LOGGER = logging.getLogger(__name__)


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
