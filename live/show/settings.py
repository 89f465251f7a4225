"""The show's settings: everything ``live`` is told, declared once with its defaults and checks
(:class:`ShowSettings`). Kept apart from :mod:`live.show.runner`, importing nothing heavy, so the
command line builds its flags from it without loading torch."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from live import paths
from live.audio.settings import DEFAULTS as DEFAULT_ANALYSIS
from live.audio.settings import AnalysisSettings
from live.control.commands import MAX_CLIP_EVERY, check_args
from live.control.osc import parse_allow
from live.errors import UserError
from live.show.driver import check_fps
from live.values import parse_size
from live.visuals.choices import check_aspect

_LOGGER = logging.getLogger(__name__)

OSC_PORT_MAX = 65535


@dataclass(frozen=True)
class ShowSettings:
    """Everything ``live`` is told, declared once with its defaults (``live`` builds its flags from these).

    Folders left as None follow :mod:`live.paths` (environment variable, else the repository's).
    """

    preset: str = "demo"
    audio: str | None = None  # a file looped into the analysis instead of an input device
    monitor: bool = False  # with audio: also play the file on the default output
    audio_device: str | None = None
    channels: str | None = None
    samplerate: int | None = None
    blocksize: int = 512
    size: str = "768x432"
    fps: int = 60
    headless: bool = False
    fullscreen: bool = False
    screen: str | None = None  # the output's screen: an index or part of its name; None: the first
    output_size: str | None = None  # WxH drawn (the post shaders run at it); None: --size, the screen's fullscreen
    aspect: str = "fit"  # decoded frames onto the output: fit (bars), fill (crop), stretch
    operator: str | None = None  # the operator window's screen ('' for any); None: no operator window
    flash_limit: bool = True  # WCAG 2.3.1: at most 3 flashes a second on the output; off only when asked
    decoder: str = "approx"
    model: str | None = None
    tiny_model: str | None = None  # a TAESD folder to fall back to when the vae decoder fails
    family: str = "sd1"
    osc_port: int = 9000  # 0: no OSC
    osc_host: str = "0.0.0.0"
    osc_allow: str | None = None  # "192.168.1.0/24,127.0.0.1": only these may control or query; None: anyone
    midi_input: str | None = None
    midi_map: str | None = None  # None: generic.toml in the mappings folder
    link: bool = False  # join the Ableton Link session: follow it, lead it with the audio's tempo
    midi_clock_in: str | None = None  # follow the MIDI clock on this input (part of its name)
    midi_clock_out: str | None = None  # send MIDI clock from the show's beat to this output
    av_offset: float = 0.0  # ms the picture's beat comes after the clock's (> 0: the room hears it late)
    autopilot: str | None = None  # sequential, shuffle or match: switch presets by itself; None: off
    autopilot_bars: int = 16  # the autopilot switches on whole multiples of this many bars
    seconds: float | None = None  # None: until a quit key or a signal
    log_file: str | None = None  # also log here, rotated; crash reports go beside it
    presets_dir: str | None = None
    keyframes_dir: str | None = None
    shaders_dir: str | None = None
    mappings_dir: str | None = None
    analysis: AnalysisSettings = DEFAULT_ANALYSIS  # onset function and tempo range of the beat tracker
    clip: str | None = None  # a video shown as a layer beside the SD layer
    clip_every: float = 0.0  # beats between cuts to and from the clip; 0: only on the layer command
    record: str | None = None  # also write the output to this video file
    ndi: str | None = None  # also send the output as this NDI source
    set: str | None = None  # a prepared set (`set add`): its tracks recognised, their grids followed
    sets_dir: str | None = None

    def __post_init__(self) -> None:
        # Refuse bad values before minutes of model loading, with the flag's name.
        from live.audio.sources import check_blocksize
        from live.audiofile import check_samplerate

        parse_size(self.size)
        if self.output_size is not None:
            parse_size(self.output_size)
        check_aspect(self.aspect)
        for flag, spec in (("--screen", self.screen), ("--operator", self.operator)):
            if spec is not None and spec.strip().startswith("-"):
                raise UserError(f"{flag} {spec}: screens are numbered from 0, or named (see `devices`)")
        check_fps(self.fps)
        if self.seconds is not None and not (math.isfinite(self.seconds) and self.seconds > 0):
            raise UserError(f"--seconds {self.seconds:g}: must be more than 0")
        if self.osc_port != 0 and not 1 <= self.osc_port <= OSC_PORT_MAX:
            raise UserError(f"--osc-port {self.osc_port}: choose 1 to {OSC_PORT_MAX}, or 0 for no OSC")
        parse_allow(self.osc_allow)
        self.make_autopilot()  # a bad mode or bar count is refused here, with its flag
        check_args("av_offset", (self.av_offset,), "--av-offset")  # the command's range, written once
        if self.samplerate is not None:
            check_samplerate(self.samplerate, f"--samplerate {self.samplerate}")
        check_blocksize(self.blocksize)
        if not 0 <= self.clip_every <= MAX_CLIP_EVERY:
            raise UserError(f"--clip-every {self.clip_every:g}: choose 0 to {MAX_CLIP_EVERY:g} beats")

    def make_autopilot(self) -> Any:
        """The autopilot ``--autopilot`` asks for (seeded, so a show is repeatable), or None."""
        from live.show.autopilot import Autopilot

        if self.autopilot is None:
            return None
        try:
            return Autopilot(self.autopilot, self.autopilot_bars)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    def midi_map_path(self) -> Path:
        """The MIDI mapping file, by :func:`live.paths.mapping_file`'s rule (generic.toml in the
        mappings folder when none is given)."""
        return paths.mapping_file(self.midi_map or paths.DEFAULT_MAPPING, self.mappings_dir)

    def midi_mapping(self) -> Any:
        """The MIDI mapping the show is played with (shader parameters checked against the
        shaders), or None when it opens no MIDI input. With ``--midi-input`` or ``--midi-map`` the
        mapping must load (ControlError otherwise). MIDI opens on ``--midi-input``, else on the
        mapping's ``device`` when it names one (a device not plugged in is one warning from the
        input, which opens it when it appears); a default mapping that is missing or unusable
        means no MIDI, with a warning for the unusable one, never a refused show."""
        from live.control.midi import MidiMapping

        path = self.midi_map_path()
        chosen = bool(self.midi_input or self.midi_map)
        if not chosen and not path.exists():
            return None
        try:
            mapping = MidiMapping.load(path, paths.shaders_dir(self.shaders_dir))  # ranges of shader params
        except UserError as exc:
            if chosen:
                raise
            _LOGGER.warning("no MIDI: %s", exc)
            return None
        if not self.midi_input and not mapping.device:
            return None
        if not self.midi_input:
            _LOGGER.info("MIDI input: the mapping's device %r (%s)", mapping.device, path)
        return mapping

    def crash_dir(self) -> Path:
        """Where crash reports go: beside the log file, else the working folder."""
        return Path(self.log_file).expanduser().resolve().parent if self.log_file else Path.cwd()
