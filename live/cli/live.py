"""`live`: run the show. Arguments only; the work is :mod:`live.show.runner`."""

from __future__ import annotations

import argparse
import logging

from live.show.runner import run_show

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``live``."""
    parser.add_argument("--preset", default="demo", help="preset to start with")
    parser.add_argument("--audio", default=None, help="play this file into the analysis (looped) instead of an input device")
    parser.add_argument("--monitor", action="store_true", help="with --audio: also play the file on the default output")
    parser.add_argument("--audio-device", default=None, help="input device index or part of its name (see `devices`)")
    parser.add_argument("--channels", default=None, help="input channels: 'mix' (default), '3' or '3,4' (1-based)")
    parser.add_argument("--samplerate", type=int, default=None, help="input sample rate (default: the device's)")
    parser.add_argument("--blocksize", type=int, default=512, help="audio block size in frames")
    parser.add_argument("--size", default="512x512", help="render size WxH (the window letterboxes it)")
    parser.add_argument("--fps", type=int, default=60, help="display rate")
    parser.add_argument("--headless", action="store_true", help="no window: render offscreen (servers, preflight, tests)")
    parser.add_argument("--fullscreen", action="store_true", help="fullscreen window")
    parser.add_argument("--screen", type=int, default=None, help="screen index for --fullscreen (see `devices`)")
    parser.add_argument("--decoder", default="approx", choices=["approx", "tiny", "vae"], help="latent decoder")
    parser.add_argument("--model", default=None, help="VAE / TAESD / model folder for --decoder tiny or vae")
    parser.add_argument("--family", default="sd1", choices=["sd1", "sdxl"], help="latent family of the presets")
    parser.add_argument("--osc-port", type=int, default=9000, help="OSC UDP port (0: off)")
    parser.add_argument("--osc-host", default="0.0.0.0", help="OSC listen address")
    parser.add_argument("--midi-input", default=None, help="MIDI input port, part of its name (see `devices`)")
    parser.add_argument("--midi-map", default="mappings/generic.toml", help="MIDI mapping file")
    parser.add_argument("--seconds", type=float, default=None, help="stop after S seconds (default: run until closed)")


def run(args: argparse.Namespace) -> int:
    """Run the show with the parsed arguments."""
    return run_show(preset=args.preset, audio=args.audio, monitor=args.monitor, audio_device=args.audio_device, channels=args.channels,
                    samplerate=args.samplerate, blocksize=args.blocksize, size=args.size, fps=args.fps,
                    headless=args.headless, fullscreen=args.fullscreen, screen=args.screen, decoder=args.decoder,
                    model=args.model, family=args.family, osc_port=args.osc_port, osc_host=args.osc_host,
                    midi_input=args.midi_input, midi_map=args.midi_map, seconds=args.seconds)
