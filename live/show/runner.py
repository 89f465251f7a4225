"""The live runner: start every thread, run the display loop on this thread, stop them all.

Threads: audio callback -> analysis thread -> (AudioState slot) -> main thread tick -> decode
worker -> (frame slot) -> renderer; OSC and MIDI threads feed the bounded command queue.
Nothing the main thread does waits on another thread.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from live import paths
from live.audio.settings import DEFAULTS as DEFAULT_ANALYSIS
from live.audio.settings import AnalysisSettings
from live.errors import UserError
from live.handoff import CommandQueue, LatestSlot, RingBuffer
from live.library.bank import open_bank
from live.messages import Command
from live.show import driver
from live.show.driver import RealTimeClock, WindowSink, check_fps
from live.sizes import parse_size

_LOGGER = logging.getLogger(__name__)


STATUS_EVERY_S = 10.0


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
    size: str = "512x512"
    fps: int = 60
    headless: bool = False
    fullscreen: bool = False
    screen: int | None = None
    decoder: str = "approx"
    model: str | None = None
    family: str = "sd1"
    osc_port: int = 9000  # 0: no OSC
    osc_host: str = "0.0.0.0"
    midi_input: str | None = None
    midi_map: str | None = None  # None: generic.toml in the mappings folder
    seconds: float | None = None  # None: until the window closes
    presets_dir: str | None = None
    keyframes_dir: str | None = None
    shaders_dir: str | None = None
    mappings_dir: str | None = None
    analysis: AnalysisSettings = DEFAULT_ANALYSIS  # onset function and tempo range of the beat tracker

    def __post_init__(self) -> None:
        # Refuse bad values before minutes of model loading, with the flag's name.
        parse_size(self.size)
        check_fps(self.fps)
        if self.seconds is not None and self.seconds <= 0:
            raise UserError(f"--seconds {self.seconds:g}: must be more than 0")

    def midi_map_path(self) -> Path:
        """The MIDI mapping file, by :func:`live.paths.mapping_file`'s rule (generic.toml in the
        mappings folder when none is given)."""
        return paths.mapping_file(self.midi_map or paths.DEFAULT_MAPPING, self.mappings_dir)


def run_show(settings: ShowSettings) -> int:
    """Start every thread, run the display loop on this thread until the window closes
    (or ``settings.seconds`` pass), stop them all."""
    from live.audio.analysis import AnalysisThread, AudioEngine
    from live.audio.sources import FileSource, InputSource
    from live.show.show import AsyncDecode, Show
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer

    s = settings
    width, height = parse_size(s.size)
    dec = make_decoder(s.decoder, s.model, family=s.family)
    dec.warmup((1, dec.latent_channels, height // 8, width // 8))
    bank = open_bank(dec.family, dec.latent_channels, dec.device, s.presets_dir, s.keyframes_dir)
    if not bank.names():
        raise UserError(f"no usable preset in {paths.presets_dir(s.presets_dir)}; run `check` to see why, "
                        "`precompute NAME` to fix")

    commands: CommandQueue[Command] = CommandQueue()
    clock_commands: CommandQueue[Command] = CommandQueue()
    with ExitStack() as stack:
        if s.audio:
            from live.audio.sources import load_audio

            samples, rate = load_audio(s.audio)
            source = FileSource(RingBuffer(rate * 4, 1, rate), s.audio, loop=True)
            if s.monitor:
                stack.callback(_play_to_output(samples, rate, s.audio))
        else:
            from live.audio.sources import resolve_device

            rate = int(s.samplerate or resolve_device(s.audio_device)["samplerate"])
            source = InputSource(RingBuffer(rate * 4, 1, rate), device=s.audio_device, channels=s.channels,
                                 samplerate=rate, blocksize=s.blocksize)
        ring = source.ring
        engine = AudioEngine(rate, s.analysis)
        states = LatestSlot(engine.state)
        analysis = AnalysisThread(ring, engine, states, clock_commands)
        renderer = Renderer(width, height, headless=s.headless, fullscreen=s.fullscreen, screen=s.screen,
                            vsync=not s.headless, shader_dir=s.shaders_dir)
        stack.callback(renderer.close)
        decode = AsyncDecode(dec, s.fps)
        stack.callback(decode.stop)
        show = Show(bank, decode, renderer, preset=s.preset, commands=commands, clock=clock_commands.put,
                    frame_period=1.0 / s.fps)
        source.start()
        stack.callback(source.stop)
        analysis.start()
        stack.callback(analysis.stop)
        if s.osc_port:
            from live.control.osc import OscServer

            osc = OscServer(commands, host=s.osc_host, port=s.osc_port, status=show.status)
            osc.start()
            stack.callback(osc.stop)
        if s.midi_input:
            from live.control.midi import MidiInput, MidiMapping

            midi = MidiInput(commands, s.midi_input, MidiMapping.load(s.midi_map_path()), status=show.status)
            midi.start()
            stack.callback(midi.stop)
        # A window waits for vsync in its flip; offscreen the clock sleeps to the next frame.
        clock = RealTimeClock(s.fps, paced=s.headless, seconds=s.seconds)
        chores = _Chores(show, _Watchdog(analysis, decode), s.fps)
        done = driver.run(show.tick, clock, WindowSink(renderer), lambda t: states.get(), after_frame=chores)
        _LOGGER.info("show stopped after %.1f s: %d frames, %.1f fps; last status %s",
                     done.seconds, done.frames, done.fps, show.status())
    return 0


def _play_to_output(samples, rate: int, path: str):
    """Loop the file's ``samples`` on the default output so the room hears what is analysed;
    returns a stopper. Without an output device the show runs silently and says so once."""
    import sounddevice as sd

    try:
        sd.play(samples, rate, loop=True)
    except Exception as exc:  # PortAudio raises several types for "no output here"
        _LOGGER.warning("cannot play %s on an audio output (%s); running silently", path, exc)
        return lambda: None
    return sd.stop


class _Watchdog:
    """Checked once a second from the display loop: restarts a dead decode worker, and says
    once if the analysis thread died (the beat clock then free-runs on its last tempo)."""

    def __init__(self, analysis, decode) -> None:
        self.analysis, self.decode = analysis, decode
        self.analysis_reported = False

    def __call__(self) -> None:
        self.decode.ensure_running()
        if not self.analysis.is_alive() and not self.analysis_reported:
            self.analysis_reported = True
            _LOGGER.error("audio analysis thread stopped; visuals continue on the last tempo")


class _Chores:
    """The live loop's once-in-a-while work, after a frame: the watchdog once a second, a status line every 10 s."""

    def __init__(self, show, watchdog, fps: int) -> None:
        self.show, self.watchdog, self.fps = show, watchdog, fps
        self.last_status = time.perf_counter()

    def __call__(self, now: float, frames: int) -> None:
        if frames % self.fps == 0:
            self.watchdog()
        if now - self.last_status >= STATUS_EVERY_S:
            self.last_status = now
            _LOGGER.info("status %s", self.show.status())
