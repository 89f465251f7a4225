"""`live`: run the show. Threads: audio callback -> analysis thread -> (AudioState slot) ->
main thread tick -> decode worker -> (frame slot) -> renderer; OSC and MIDI threads feed the
bounded command queue. Nothing the main thread does waits on another thread."""

from __future__ import annotations

import argparse
import logging
import time
from contextlib import ExitStack

from live.errors import UserError
from live.handoff import CommandQueue, LatestSlot, RingBuffer
from live.render import KEYFRAMES_DIR, PRESETS_DIR, open_bank, parse_size
from live.state import Command

_LOGGER = logging.getLogger(__name__)

STATUS_EVERY_S = 10.0


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


def run_show(*, preset: str = "demo", audio: str | None = None, monitor: bool = False, audio_device: str | None = None,
             channels: str | None = None, samplerate: int | None = None, blocksize: int = 512,
             size: str = "512x512", fps: int = 60, headless: bool = False, fullscreen: bool = False,
             screen: int | None = None, decoder: str = "approx", model: str | None = None, family: str = "sd1",
             osc_port: int = 9000, osc_host: str = "0.0.0.0", midi_input: str | None = None,
             midi_map: str = "mappings/generic.toml", seconds: float | None = None) -> int:
    """Start every thread, run the display loop on this thread until the window closes, stop them all."""
    from live.analysis import AnalysisThread, AudioEngine
    from live.audio import FileSource, InputSource
    from live.decoder import make_decoder
    from live.renderer import Renderer
    from live.show import AsyncDecode, Show

    width, height = parse_size(size)
    dec = make_decoder(decoder, model, family=family)
    dec.warmup((1, dec.latent_channels, height // 8, width // 8))
    bank = open_bank(dec, PRESETS_DIR, KEYFRAMES_DIR)
    if not bank.names():
        raise UserError(f"no usable preset in {PRESETS_DIR}; run `check` to see why, `precompute NAME` to fix")

    commands: CommandQueue[Command] = CommandQueue()
    clock_commands: CommandQueue[Command] = CommandQueue()
    with ExitStack() as stack:
        if audio:
            from live.audio import load_audio

            samples, rate = load_audio(audio)
            source = FileSource(RingBuffer(rate * 4, 1, rate), audio, loop=True)
            if monitor:
                stack.callback(_play_to_output(samples, rate, audio))
        else:
            from live.audio import resolve_device

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
            from live.control import OscServer

            osc = OscServer(commands, host=osc_host, port=osc_port, status=show.status)
            osc.start()
            stack.callback(osc.stop)
        if midi_input:
            from live.midi import MidiInput, MidiMapping

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
