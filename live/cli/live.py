"""`live`: run the show. Arguments only; the work is :mod:`live.show.runner`,
imported when the show runs (so --help and a mistyped flag answer at once)."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from live.audio.sources import BLOCKSIZE_RANGE
from live.audiofile import SAMPLERATE_RANGE
from live.cli.common import (add_analysis_flags, add_av_offset_flag, add_clip_flags, add_decoder_flags, add_flash_flag,
                              HelpFormatter, add_folder_flags, analysis_settings)
from live.show.autopilot import BARS_RANGE, MODES
from live.show.driver import MAX_FPS
from live.control.commands import key_reference_lines
from live.show.settings import OSC_PORT_MAX, ShowSettings
from live.visuals.choices import ASPECTS
from live.values import Bounded, positive

_LOGGER = logging.getLogger(__name__)

D = ShowSettings  # the defaults live on the settings, declared once


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``live``: one flag per :class:`ShowSettings` field."""
    parser.add_argument("--preset", default=D.preset, help="preset to start with")
    parser.add_argument("--audio", default=D.audio, help="play this file into the analysis (looped) instead of an input device")
    parser.add_argument("--monitor", action="store_true", help="with --audio: also play the file on the default output")
    parser.add_argument("--audio-device", default=D.audio_device, help="input device index or part of its name (see `devices`)")
    parser.add_argument("--channels", default=D.channels, help="input channels: 'mix' (default), '3' or '3,4' (1-based)")
    parser.add_argument("--samplerate", type=Bounded(int, *SAMPLERATE_RANGE), default=D.samplerate, help="input sample rate (default: the device's)")
    parser.add_argument("--blocksize", type=Bounded(int, *BLOCKSIZE_RANGE), default=D.blocksize, help="audio block size in frames")
    parser.add_argument("--size", default=D.size, help="WxH the show draws at without --output-size or --fullscreen, "
                        "and the output window's size (a preset decodes at its own size)")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=D.fps, help="display rate")
    parser.add_argument("--headless", action="store_true", help="no window: render offscreen (servers, preflight, tests)")
    parser.add_argument("--fullscreen", action="store_true", help="fullscreen output window")
    parser.add_argument("--screen", default=D.screen, metavar="SCREEN",
                        help="the output's screen: index or part of its name, e.g. 1 or HDMI (see `devices`) [the first]")
    parser.add_argument("--output-size", default=D.output_size, metavar="WxH",
                        help="size the output is drawn at, shaders included [--size; the screen's with --fullscreen]")
    parser.add_argument("--aspect", choices=ASPECTS, default=D.aspect,
                        help="decoded frames onto the output: fit (whole picture, black bars), fill (cover, crop), "
                             "stretch")
    parser.add_argument("--operator", nargs="?", const="", default=D.operator, metavar="SCREEN",
                        help="also open the operator window (output preview and HUD), on this screen if given")
    add_flash_flag(parser)
    add_decoder_flags(parser)
    parser.add_argument("--tiny-model", default=D.tiny_model, metavar="FOLDER",
                        help="TAESD folder to fall back to if the vae decoder stalls or fails (approx comes after it)")
    add_analysis_flags(parser)
    parser.add_argument("--osc-port", type=Bounded(int, 0, OSC_PORT_MAX), default=D.osc_port, help="OSC UDP port (0: off)")
    parser.add_argument("--osc-host", default=D.osc_host, help="OSC listen address")
    parser.add_argument("--osc-allow", default=D.osc_allow, metavar="NETS",
                        help="only these addresses or networks may control or query the show, e.g. "
                             "192.168.1.0/24,127.0.0.1 [anyone when not given]")
    parser.add_argument("--midi-input", default=D.midi_input, help="MIDI input port, part of its name (see `devices`)")
    parser.add_argument("--midi-map", default=D.midi_map, metavar="FILE",
                        help="MIDI mapping file; a name not found here is looked up in the mappings folder "
                             "[generic.toml there when not given]")
    parser.add_argument("--link", action="store_true",
                        help="join the Ableton Link session: follow its tempo and bar; lead it with the tempo of "
                             "the audio or a tap when no other app set it (see README, Tempo sync)")
    parser.add_argument("--midi-clock-in", default=D.midi_clock_in, metavar="PORT",
                        help="follow the MIDI clock (24 ppqn, start/stop/continue/song position) on this input")
    parser.add_argument("--midi-clock-out", default=D.midi_clock_out, metavar="PORT",
                        help="send MIDI clock from the show's beat to this output (a new virtual one if none has the name)")
    add_av_offset_flag(parser)
    parser.add_argument("--autopilot", choices=MODES, default=D.autopilot,
                        help="switch presets by itself: in bank order, shuffled, or matched to the music's energy "
                             "against each preset's [tags]; any manual preset choice takes over (/autopilot 1 resumes)")
    parser.add_argument("--autopilot-bars", type=Bounded(int, *BARS_RANGE), default=D.autopilot_bars, metavar="N",
                        help="the autopilot switches every N bars from the downbeat (8 or 16: on phrases)")
    parser.add_argument("--seconds", type=positive(float), default=D.seconds,
                        help="stop after S seconds (default: run until quit with Ctrl+Q or Esc twice, Ctrl-C or SIGTERM)")
    parser.add_argument("--log-file", default=D.log_file, metavar="FILE",
                        help="also log to FILE, rotated at 5 MB with 5 old files kept; crash reports go beside it")
    add_clip_flags(parser)
    parser.add_argument("--record", default=D.record, metavar="FILE",
                        help="also write the output to this video file (.mp4), without slowing the show")
    parser.add_argument("--ndi", default=D.ndi, metavar="NAME", help="also send the output as the NDI source NAME")
    add_folder_flags(parser, "presets", "keyframes", "shaders", "mappings")
    parser.add_argument("--set", default=D.set, metavar="SETDIR",
                        help="a prepared set (`set add`): recognise its tracks in the audio and follow their beat grids")
    add_folder_flags(parser, "sets")
    # The key table, as the windows and the HUD use it (pre-formatted: keep its lines).
    parser.formatter_class = _Formatter
    parser.epilog = "keys in the output and operator windows:\n" + "\n".join(f"  {line}" for line in key_reference_lines())


class _Formatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each flag's help, the epilog's lines kept as written."""


def settings_from_args(args: argparse.Namespace) -> ShowSettings:
    """The show's settings from the parsed flags (each field has the flag of the same name, but
    ``analysis``, which the analysis flags make)."""
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(ShowSettings) if f.name != "analysis"}
    return ShowSettings(**flags, analysis=analysis_settings(args))


def run(args: argparse.Namespace) -> int:
    """Run the show with the parsed arguments."""
    from live.show.runner import run_show  # torch and the GL stack: only when the show runs

    return run_show(settings_from_args(args))
