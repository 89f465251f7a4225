"""The live runner: start every thread, run the display loop on this thread, stop them all.

Threads: audio callback -> analysis thread -> (AudioState slot) -> main thread tick -> decode
worker -> (frame slot) -> renderer; OSC and MIDI threads feed the bounded command queue.
Nothing the main thread does waits on another thread.
"""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack

from live import paths
from live.errors import UserError
from live.handoff import CommandQueue, LatestSlot, RingBuffer
from live.library.bank import open_bank
from live.messages import Command
from live.sizes import parse_size

_LOGGER = logging.getLogger(__name__)


STATUS_EVERY_S = 10.0


def run_show(*, preset: str = "demo", audio: str | None = None, monitor: bool = False, audio_device: str | None = None,
             channels: str | None = None, samplerate: int | None = None, blocksize: int = 512,
             size: str = "512x512", fps: int = 60, headless: bool = False, fullscreen: bool = False,
             screen: int | None = None, decoder: str = "approx", model: str | None = None, family: str = "sd1",
             osc_port: int = 9000, osc_host: str = "0.0.0.0", midi_input: str | None = None,
             midi_map: str | None = None, seconds: float | None = None) -> int:
    """Start every thread, run the display loop on this thread until the window closes, stop them all."""
    from live.audio.analysis import AnalysisThread, AudioEngine
    from live.audio.sources import FileSource, InputSource
    from live.show.show import AsyncDecode, Show
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer

    width, height = parse_size(size)
    dec = make_decoder(decoder, model, family=family)
    dec.warmup((1, dec.latent_channels, height // 8, width // 8))
    bank = open_bank(dec.family, dec.latent_channels, dec.device)
    if not bank.names():
        raise UserError(f"no usable preset in {paths.presets_dir()}; run `check` to see why, `precompute NAME` to fix")

    commands: CommandQueue[Command] = CommandQueue()
    clock_commands: CommandQueue[Command] = CommandQueue()
    with ExitStack() as stack:
        if audio:
            from live.audio.sources import load_audio

            samples, rate = load_audio(audio)
            source = FileSource(RingBuffer(rate * 4, 1, rate), audio, loop=True)
            if monitor:
                stack.callback(_play_to_output(samples, rate, audio))
        else:
            from live.audio.sources import resolve_device

            rate = int(samplerate or resolve_device(audio_device)["samplerate"])
            source = InputSource(RingBuffer(rate * 4, 1, rate), device=audio_device, channels=channels,
                                 samplerate=rate, blocksize=blocksize)
        ring = source.ring
        engine = AudioEngine(rate)
        states = LatestSlot(engine.state)
        analysis = AnalysisThread(ring, engine, states, clock_commands)
        renderer = Renderer(width, height, headless=headless, fullscreen=fullscreen, screen=screen, vsync=not headless)
        stack.callback(renderer.close)
        decode = AsyncDecode(dec, fps)
        stack.callback(decode.stop)
        show = Show(bank, decode, renderer, preset=preset, commands=commands, clock=clock_commands.put,
                    frame_period=1.0 / fps)
        source.start()
        stack.callback(source.stop)
        analysis.start()
        stack.callback(analysis.stop)
        if osc_port:
            from live.control.osc import OscServer

            osc = OscServer(commands, host=osc_host, port=osc_port, status=show.status)
            osc.start()
            stack.callback(osc.stop)
        if midi_input:
            from live.control.midi import MidiInput, MidiMapping

            midi = MidiInput(commands, midi_input, MidiMapping.load(midi_map), status=show.status)
            midi.start()
            stack.callback(midi.stop)
        _display_loop(show, renderer, states, fps, headless, seconds,
                      watchdog=_Watchdog(analysis, decode))
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


def _display_loop(show, renderer, states: LatestSlot, fps: int, headless: bool, seconds: float | None,
                  watchdog=lambda: None) -> None:
    """Tick and present at the display rate until the window closes or ``seconds`` pass."""
    period = 1.0 / fps
    start = next_frame = last_status = time.perf_counter()
    frames = 0
    while not renderer.closed:
        now = time.perf_counter()
        if seconds is not None and now - start >= seconds:
            break
        show.tick(now, states.get())
        renderer.flip()
        frames += 1
        if frames % fps == 0:
            watchdog()
        if now - last_status >= STATUS_EVERY_S:
            last_status = now
            _LOGGER.info("status %s", show.status())
        if headless:  # a window paces itself with vsync; offscreen we sleep to the next frame
            next_frame += period
            delay = next_frame - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            else:
                next_frame = time.perf_counter()
    elapsed = time.perf_counter() - start
    _LOGGER.info("show stopped after %.1f s: %d frames, %.1f fps; last status %s",
                 elapsed, frames, frames / max(elapsed, 1e-9), show.status())
