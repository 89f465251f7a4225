"""`midi list|monitor|learn`: MIDI inputs, a live view of a controller, and learn mode."""

from __future__ import annotations

import argparse
import logging

from live import paths
from live.cli.common import add_folder_flags
from live.control.midi import BIND_COMMANDS, MidiMapping, learn_binding, list_midi_inputs, monitor
from live.values import Bounded, positive

_LOGGER = logging.getLogger(__name__)


def _parse_value(text: str | None) -> bool | int | float | str | None:
    if text is None:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of the MIDI tool: list inputs, monitor what a controller sends, learn bindings."""
    parser.add_argument("--backend", default=None,
                        help="mido backend, e.g. mido.backends.rtmidi/UNIX_JACK (default: rtmidi, ALSA on Linux)")
    sub = parser.add_subparsers(dest="midi_action", metavar="ACTION", required=True)
    sub.add_parser("list", help="list MIDI inputs")
    monitor = sub.add_parser("monitor", help="print each incoming message and the command it maps to")
    learn = sub.add_parser("learn", help="bind the next control you move to a command and save it in the mapping")
    for p in (monitor, learn):
        p.add_argument("--map", default=paths.DEFAULT_MAPPING, metavar="NAME",
                       help=f"mapping file: a path, or a name in the mappings folder, .toml optional "
                            f"(default {paths.DEFAULT_MAPPING})")
        add_folder_flags(p, "mappings", "shaders")
        p.add_argument("--input", default=None, help="input port, part of its name (default: the mapping's device)")
    monitor.add_argument("--seconds", type=positive(float), default=None, help="stop after this long")
    learn.add_argument("command", choices=BIND_COMMANDS, help="command to bind")
    learn.add_argument("--name", default=None, help="param key or shader uniform (param, shader_param)")
    learn.add_argument("--value", default=None, help="fixed value: preset name, keyframe index, bpm, nudge...")
    learn.add_argument("--min", type=Bounded(float), default=None, help="low end of a continuous control")
    learn.add_argument("--max", type=Bounded(float), default=None, help="high end of a continuous control")
    learn.add_argument("--mode", choices=("toggle", "direct"), default=None, help="for blackout/freeze/hold/lock")
    learn.add_argument("--timeout", type=positive(float, 3600), default=60.0, help="give up after this many seconds")


def run(args: argparse.Namespace) -> int:
    """Run the chosen MIDI tool action; returns the exit status."""
    if args.midi_action == "list":
        names = list_midi_inputs(args.backend)
        for name in names:
            print(name)
        if not names:
            print("no MIDI inputs found")
        return 0
    path = paths.mapping_file(args.map, args.mappings_dir)
    # Shader parameters are checked against the shaders' declarations, as `live` checks them: a
    # learned name no shader declares is refused now, not saved for the show to refuse.
    shaders = paths.shaders_dir(args.shaders_dir)
    if args.midi_action == "learn" and not path.exists():
        mapping = MidiMapping(path=path, shaders_dir=shaders)  # learning into a new file creates it
    else:
        mapping = MidiMapping.load(path, shaders)
    wanted = args.input if args.input is not None else mapping.device
    if args.midi_action == "monitor":
        for msg, command in monitor(mapping, wanted, args.backend, args.seconds,
                                    on_open=lambda name: print(f"listening on {name!r}; Ctrl-C to stop")):
            print(f"{msg}  ->  {command.name + ' ' + repr(command.args) if command else '(unbound)'}")
        return 0
    binding = learn_binding(mapping, args.command, wanted, timeout=args.timeout, backend=args.backend,
                            on_armed=lambda: print(f"move or press the control for {args.command} "
                                                   f"(within {args.timeout:.0f} s)"),
                            name=args.name, value=_parse_value(args.value), min=args.min, max=args.max,
                            mode=args.mode)
    if binding is None:
        print("nothing received; mapping unchanged")
        return 1
    print(f"learned {binding.describe()}, saved to {path}")
    return 0
