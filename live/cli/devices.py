"""`devices`: what the show can use on this machine: audio inputs, MIDI inputs, screens."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``devices``."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    """Print every audio input, MIDI input and screen, with the index or name to pass to `live`."""
    from live.audio.sources import list_input_devices
    from live.control.midi import list_midi_inputs
    from live.visuals.renderer import list_screens

    found = {"audio_inputs": list_input_devices(), "midi_inputs": list_midi_inputs(), "screens": list_screens()}
    if args.json:
        print(json.dumps(found, indent=2))
        return 0
    print("Audio inputs (--audio-device INDEX or part of the name):")
    for dev in found["audio_inputs"]:
        mark = " (default)" if dev.get("default") else ""
        print(f"  {dev['index']}: {dev['name']} - {dev['channels']} ch, {dev['samplerate']:.0f} Hz{mark}")
    if not found["audio_inputs"]:
        print("  none found (no sound card, or PortAudio sees no input)")
    print("MIDI inputs (--midi-input part of the name):")
    for name in found["midi_inputs"]:
        print(f"  {name}")
    if not found["midi_inputs"]:
        print("  none found")
    print("Screens (--fullscreen --screen INDEX|NAME, --operator INDEX|NAME):")
    for line in found["screens"]:
        print(f"  {line}")
    if not found["screens"]:
        print("  none (no display: use `live --headless`, `render` or `demo`)")
    return 0
