"""`song`: a track and a prompt in, a music video synced to its beats and sections out.
Arguments and printing only; the work is :mod:`live.show.song` and :mod:`live.library.song`."""

from __future__ import annotations

import argparse
import logging

from live.cli.common import add_folder_flags
from live.show.driver import MAX_FPS
from live.values import Bounded, positive
from live.visuals.choices import FAMILIES

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``song``."""
    parser.add_argument("track", help="the song (WAV, FLAC, OGG, MP3, AAC or ALAC .m4a...)")
    parser.add_argument("--prompt", default="", help="the look of the video; each section adds words for its energy and "
                        "key (required, except with --regenerate, where it is the keyframe's new prompt)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--images", default=None, metavar="DIR", help="your images (album art, photos) as the keyframes, "
                        "encoded without a model (approx encoder); shared out between the sections")
    source.add_argument("--model", default=None, metavar="DIR", help="your Stable Diffusion model folder: precompute the "
                        "sections' prompts with it (default: built-in procedural images, no model)")
    parser.add_argument("--family", default="sd1", choices=FAMILIES, help="latent family of --model")
    parser.add_argument("--out", default=None, metavar="FILE.mp4", help="render the video with the audio to this file")
    parser.add_argument("--plan", default=None, metavar="FILE.json", help="write the timeline: sections, BPM, beats, downbeats")
    parser.add_argument("--size", default="768x432", help="video size WxH, 16:9 like the built-in presets; "
                        "a new song preset's keyframes are made at this size (within 256..2048)")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=30, help="video frame rate")
    parser.add_argument("--seconds", type=positive(float), default=None, help="render only the first S seconds")
    parser.add_argument("--force", action="store_true", help="rewrite presets/song-NAME.toml (default: keep your edits)")
    parser.add_argument("--tracker", choices=("librosa", "madmom"), default="librosa", help="offline beat and "
                        "downbeat tracker: madmom's RNN + DBN is better on downbeats and ~4x slower; it needs the "
                        "rnn extra (weights CC BY-NC-SA 4.0, non-commercial)")
    parser.add_argument("--regenerate", default=None, metavar="SECTION:INDEX", help="make one keyframe again with the "
                        "preset's model (new --seed, or --prompt), keep the others, re-render with --out")
    parser.add_argument("--seed", type=Bounded(int, 0, 2**32 - 1), default=None, help="seed of the regenerated keyframe (default: old seed + 1000)")
    parser.add_argument("--preview", action="store_true", help="write a contact sheet of the keyframes per section")
    add_folder_flags(parser, "presets", "keyframes", "shaders")


def run(args: argparse.Namespace) -> int:
    """Analyse, write the preset (and plan), render; print what was done."""
    from live.show.song import SongOptions, make_song  # torch and librosa: only when it runs

    r = make_song(SongOptions(track=args.track, prompt=args.prompt, images=args.images, model=args.model,
                              family=args.family, out=args.out, plan=args.plan, size=args.size, fps=args.fps,
                              seconds=args.seconds, force=args.force, regenerate=args.regenerate,
                              seed=args.seed, preview=args.preview, tracker=args.tracker, presets_dir=args.presets_dir,
                              keyframes_dir=args.keyframes_dir, shaders_dir=args.shaders_dir))
    p = r.plan
    print(f"analysed {args.track} in {p.analysis_s:.1f} s: {p.bpm:.1f} BPM, {len(p.beats)} beats, "
          f"{len(p.downbeats)} bars, {len(p.sections)} sections ({p.tracker})")
    for s in p.sections:
        print(f"  {s.name:<12} {s.start:7.2f}-{s.end:7.2f} s  {s.bars:3d} bars  energy {s.energy:.2f} ({s.level})  {s.key}")
    print(f"{'wrote' if r.preset_written else 'kept (your edits; --force rewrites it)'} {r.preset_path}")
    print(f"keyframes: {r.keyframes}")
    if args.plan:
        print(f"wrote plan {args.plan}")
    if r.regenerated:
        print(f"regenerated {args.regenerate} (keyframe {r.regenerated[0]}): seed {r.regenerated[1]}, prompt {r.regenerated[2]!r}")
    for path in r.previews:
        print(f"preview {path}")
    if r.render is not None:
        print(f"wrote {r.out}: {r.render.frames} frames, {r.render.seconds:.2f} s, rendered at {r.render.fps:.1f} frames/s")
        print("section switches: " + ", ".join(f"{n} @ {t:.2f} s" for n, t in r.switches))
    else:
        print(f"edit the prompts in {r.preset_path}, then add --out FILE.mp4 to render; "
              f"live: run_live.py live --preset {r.name}")
    return 0
