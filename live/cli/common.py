"""Flags that several subcommands share, declared once; how every command stops on a signal."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import threading
from typing import Any, Iterator

from live import paths
from live.audio.settings import BEAT_ACTIVATIONS, DEFAULTS, DOWNBEAT_CUES, ONSET_METHODS, AnalysisSettings, describe
from live.visuals.choices import FAMILIES, KINDS

FOLDER_HELP = {
    "presets": "folder of preset files",
    "keyframes": "folder of keyframe caches",
    "shaders": "folder of GLSL post shaders",
    "mappings": "folder of MIDI mapping files",
    "sets": "folder of prepared sets",
}
from live.values import Bounded

_LOGGER = logging.getLogger(__name__)


def add_folder_flags(parser: argparse.ArgumentParser, *kinds: str) -> None:
    """``--presets-dir``, ``--keyframes-dir``... for ``kinds`` (see :mod:`live.paths`): default None,
    which means the ``LIVE_<KIND>_DIR`` environment variable, else the repository's folder."""
    for kind in kinds:
        parser.add_argument(f"--{kind}-dir", default=None, metavar="DIR",
                            help=f"{FOLDER_HELP[kind]} [${'LIVE_' + kind.upper() + '_DIR'}, else {paths.folder(kind)}]")


def add_decoder_flags(parser: argparse.ArgumentParser) -> None:
    """``--decoder``, ``--model`` and ``--family``: which decoder turns latents into pictures."""
    parser.add_argument("--decoder", default="approx", choices=KINDS,
                        help="latent decoder: approx needs no weights; tiny = TAESD, vae = the model's own VAE")
    parser.add_argument("--model", default=None, help="VAE / TAESD / model folder for --decoder tiny or vae")
    parser.add_argument("--family", default="sd1", choices=FAMILIES, help="latent family of the presets")


def add_flash_flag(parser: argparse.ArgumentParser) -> None:
    """``--no-flash-limit``: lift the flash limiter (``args.flash_limit`` False); on by default."""
    parser.add_argument("--no-flash-limit", dest="flash_limit", action="store_false",
                        help="lift the flash limiter (on by default: at most 3 flashes a second on the output, "
                             "WCAG 2.3.1); only for material checked to be safe")


def add_set_flags(parser: argparse.ArgumentParser) -> None:
    """``--set SETDIR`` (a prepared set, see ``set add``: its tracks are recognised in the audio and
    their grids drive the beat clock) and ``--sets-dir``."""
    parser.add_argument("--set", default=None, metavar="SETDIR",
                        help="a prepared set (`set add`): recognise its tracks in the audio and follow their beat grids")
    add_folder_flags(parser, "sets")


def add_analysis_flags(parser: argparse.ArgumentParser) -> None:
    """``--beat-activation``, ``--onset``, ``--downbeat``, ``--tempo-min`` and ``--tempo-max``: the declared
    :class:`AnalysisSettings`."""
    parser.add_argument("--beat-activation", choices=BEAT_ACTIVATIONS, default=DEFAULTS.beat_activation,
                        help=describe("beat_activation"))
    parser.add_argument("--onset", choices=ONSET_METHODS, default=DEFAULTS.onset_method, help=describe("onset_method"))
    parser.add_argument("--downbeat", choices=DOWNBEAT_CUES, default=DEFAULTS.downbeat, help=describe("downbeat"))
    parser.add_argument("--tempo-min", type=Bounded(float, 20, 400), default=DEFAULTS.tempo_min, help=describe("tempo_min"))
    parser.add_argument("--tempo-max", type=Bounded(float, 20, 400), default=DEFAULTS.tempo_max, help=describe("tempo_max"))


def analysis_settings(args: argparse.Namespace) -> AnalysisSettings:
    """The analysis settings from the flags of :func:`add_analysis_flags` (checked, one-line errors)."""
    return AnalysisSettings(beat_activation=args.beat_activation, onset_method=args.onset, tempo_min=args.tempo_min,
                            tempo_max=args.tempo_max, downbeat=args.downbeat)


def add_clip_flags(parser: argparse.ArgumentParser) -> None:
    """``--clip FILE`` and ``--clip-every N``: the video layer cut against the SD layer on the beat."""
    from live.control.commands import MAX_CLIP_EVERY

    parser.add_argument("--clip", default=None, metavar="FILE",
                        help="a video file shown as a layer beside the SD layer, looping (see --clip-every, /layer)")
    parser.add_argument("--clip-every", type=Bounded(float, 0, MAX_CLIP_EVERY), default=0.0, metavar="BEATS",
                        help="cut between the SD layer and the clip every N beats (0: only on the layer command)")


def add_av_offset_flag(parser: argparse.ArgumentParser) -> None:
    """``--av-offset MS``: the audio-to-visual offset, in the range of the ``av_offset`` command."""
    from live.control.commands import COMMANDS

    arg = COMMANDS["av_offset"].args[0]
    parser.add_argument("--av-offset", type=Bounded(float, arg.lo, arg.hi), default=0.0, metavar="MS",
                        help=f"ms the picture's beat comes after the clock's beat ({arg.lo:g}..{arg.hi:g}; > 0 when "
                             "the room hears the music late; `calibrate` measures it, see README)")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its help, once: not where the help already says its default
    (``(default: keep your edits)``), and not for defaults that say nothing (None, on/off
    switches, empty values)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or default is None or default is argparse.SUPPRESS
                or isinstance(default, bool) or default in ("", [], ())):
            return text
        return super()._get_help_string(action)


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM stops it exactly as Ctrl-C does (KeyboardInterrupt in the main
    thread): the same clean-up runs (a render's temporary file removed, finished keyframes kept,
    a benchmark's files not left half-written) and the exit status is the same. Commands that
    handle the signals themselves (the live show ends its loop) install their own handler inside.
    A handler someone else installed (or SIG_IGN, e.g. under nohup) is left alone."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    owner = os.getpid()

    def interrupt(signum: int, frame: Any) -> None:
        if os.getpid() != owner:
            # A forked worker (a library's multiprocessing pool) inherits the handler: a pool ends
            # its workers with SIGTERM, which must end them as it would have, not print a traceback.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
