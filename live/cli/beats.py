"""`beats FILE`: the beats the show would flash for an audio file. Arguments only."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from live.audio.sources import BLOCKSIZE_RANGE
from live.cli.common import add_analysis_flags, add_set_flags, analysis_settings
from live.show.inputs import load_set
from live.values import Bounded

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of the `beats` command."""
    parser.add_argument("file", help="audio file (wav, flac, ogg, mp3 ...)")
    parser.add_argument("--lookahead", type=Bounded(float, 0, 2000), default=50.0, metavar="MS",
                        help="each beat is committed this long before it happens, from older audio only")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text: one beat time (s) per line; json: also bpm (null until a tempo is heard), "
                        "confidence, bar position (and with --set the recognised track, or null)")
    parser.add_argument("--blocksize", type=Bounded(int, *BLOCKSIZE_RANGE), default=512, help="input block size in frames, as live")
    add_analysis_flags(parser)
    add_set_flags(parser)


def run(args: argparse.Namespace) -> int:
    """Print the beats for ``args.file``."""
    from live.audio.beats import track_beats  # scipy and aubio: only when it runs
    from live.audio.sources import load_audio

    settings = analysis_settings(args)
    matcher = load_set(args.set, args.sets_dir)
    samples, rate = load_audio(args.file)
    beats = track_beats(samples, rate, lookahead=args.lookahead / 1000.0, blocksize=args.blocksize,
                        settings=settings, matcher=matcher)
    out = sys.stdout
    if args.format == "json":
        json.dump(beats, out, indent=None)
        out.write("\n")
    else:
        for b in beats:
            out.write(f"{b['time']:.3f}\n")
    return 0
