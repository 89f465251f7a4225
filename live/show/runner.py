"""The live runner: start every thread, run the display loop on this thread, stop them all.

Threads: audio callback -> analysis thread -> (AudioState slot) -> main thread tick -> decode
worker -> (frame slot) -> renderer; OSC and MIDI threads feed the bounded command queue.
Nothing the main thread does waits on another thread.

Lifecycle: the window opens first and shows the holding visual (beat-driven, weight-free)
while a loader thread builds the decoders and the bank; the show takes over when they are
ready. SIGINT and SIGTERM end the loop after the frame in progress; everything started is
released in reverse order and the summary line is logged. An unexpected error in a tick
writes a crash report and puts the holding visual back on screen for :data:`RETRY_S`.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
import traceback
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from live import paths
from live.control.osc import parse_allow
from live.errors import UserError
from live.handoff import CommandQueue, LatestSlot, RingBuffer
from live.library.bank import open_bank
from live.memory import steady_allocator
from live.messages import AudioState, Command
from live.show import driver
from live.show.driver import RealTimeClock, TeeSink, WindowSink
from live.show.settings import ShowSettings
from live.values import parse_size
from live.visuals.windows import pick_screen

_LOGGER = logging.getLogger(__name__)


STATUS_EVERY_S = 10.0
RETRY_S = 5.0  # after an unexpected error, seconds on the holding visual before the show is tried again
FALLBACK_ORDER = ("vae", "tiny", "approx")  # a failing decoder hands over to the ones after it
LOADER_STOP_S = 30.0  # at the end, how long to wait for a model load or warm-up in progress


def run_show(settings: ShowSettings) -> int:
    """Open the output, show the holding visual while the models load, run the show until the
    operator quits (Ctrl+Q, Esc twice), ``settings.seconds`` pass or SIGINT/SIGTERM arrives; stop
    everything; 0. A window closed by accident opens again: it does not end the show."""
    from live.audio.analysis import AnalysisThread, AudioEngine
    from live.audio.sources import FileSource, InputSource
    from live.show.inputs import check_inputs
    from live.show.show import HoldingVisual
    from live.visuals.renderer import Renderer

    s = settings
    steady_allocator()  # hours of frames and preset switches: keep the heap from fragmenting (live.memory)
    width, height = parse_size(s.size)
    # Every file a flag names is read or checked now, while nothing runs that would have to be
    # stopped: a mistake is one error line, never a window opened and native threads torn down.
    inputs = check_inputs(s)
    # The output's screen is checked (a clear list of screens if none matches) before anything starts.
    screen = None if s.headless else pick_screen(s.screen)
    out_w, out_h = output_size(s, screen)
    if not any(paths.presets_dir(s.presets_dir).glob("*.toml")):  # the bank loads later; say this at once
        raise UserError(f"no preset in {paths.presets_dir(s.presets_dir)}; write one (see presets/demo.toml)")
    clip = _clip_reader(s.clip, width, height)  # a missing or broken clip is refused before any window opens
    commands: CommandQueue[Command] = CommandQueue()
    clock_commands: CommandQueue[Command] = CommandQueue()
    with StopSignals() as stop, ExitStack() as stack:
        if inputs.audio is not None:
            samples, rate = inputs.audio
            source = FileSource(RingBuffer(rate * 4, 1, rate), s.audio, loop=True)
            if s.monitor:
                stack.callback(_play_to_output(samples, rate, s.audio))
        else:
            from live.audio.sources import resolve_device

            rate = int(s.samplerate or resolve_device(s.audio_device)["samplerate"])
            source = InputSource(RingBuffer(rate * 4, 1, rate), device=s.audio_device, channels=s.channels,
                                 samplerate=rate, blocksize=s.blocksize)
        # The window first: something moves on the projector from the first frame.
        renderer = Renderer(out_w, out_h, headless=s.headless, hidden=not s.headless, aspect=s.aspect,
                            shader_dir=s.shaders_dir, flash_limit=s.flash_limit)
        stack.callback(renderer.close)
        outputs = _open_outputs(s, renderer)
        if outputs is not None:  # closed before the renderer: the read-back buffers need its context
            stack.callback(outputs.close)
        holding = HoldingVisual(renderer, 1.0 / s.fps)
        loader = _Loader(s, width, height)
        loader.start()
        stack.callback(loader.stop)  # before the interpreter ends: a model load runs native code
        recogniser = _recogniser(inputs.matcher, rate, stack)
        engine = AudioEngine(rate, s.analysis, recogniser)
        states = LatestSlot(engine.state)
        analysis = AnalysisThread(source.ring, engine, states, clock_commands, tempo=_tempo_peers(s, states, stack))
        source.start()
        stack.callback(source.stop)
        analysis.start()
        stack.callback(analysis.stop)
        from live.show.setplan import plan_player

        plan = plan_player(getattr(recogniser, "matcher", None))  # the set's song plans, by track
        stage = Stage(holding, lambda: _start_show(loader, s, renderer, commands, clock_commands, stack, clip, plan),
                      s.crash_dir(), asdict(s))
        status, learn = stage.status, None
        if inputs.mapping is not None:
            from live.control.midi import MidiInput

            # no --midi-input: the mapping's device (ShowSettings.midi_mapping)
            midi = MidiInput(commands, s.midi_input, inputs.mapping, status=stage.status)
            midi.start()
            stack.callback(midi.stop)
            status, learn = (lambda: {**stage.status(), "learning": midi.learning}), midi.learn_from_osc
        if s.osc_port:
            from live.control.osc import OscServer

            osc = OscServer(commands, host=s.osc_host, port=s.osc_port, status=status,
                            allow=parse_allow(s.osc_allow), learn=learn)
            osc.start()
            stack.callback(osc.stop)
        # A window waits for vsync in its flip; offscreen the clock sleeps to the next frame.
        clock = RealTimeClock(s.fps, paced=s.headless, seconds=s.seconds)
        chores = _Chores(stage, _Watchdog(analysis, stage), s.fps)
        windows = _open_windows(s, renderer, commands, stage, states, stack)
        sink: Any = WindowSink(windows)
        if outputs is not None:
            sink = TeeSink(sink, outputs)
        done = driver.run(stage.tick, clock, sink, lambda t: states.get(), after_frame=chores,
                          until=stop.requested)
        why = f"; {stop.signal_name or windows.quit_reason}" if stop.signal_name or windows.quit_reason else ""
        _LOGGER.info("show stopped after %.1f s%s: %d frames, %.1f fps; last status %s",
                     done.seconds, why, done.frames, done.fps, stage.status())
    return 0


def _recogniser(matcher: Any, rate: int, stack: ExitStack) -> Any:
    """The recogniser of ``--set`` (its loaded ``matcher``; matching on a thread of its own), or None without it."""
    if matcher is None:
        return None
    from live.audio.recognise import Recogniser

    recogniser = Recogniser(matcher, rate, threaded=True)
    stack.callback(recogniser.close)
    return recogniser


def _clip_reader(path: str | None, width: int, height: int) -> Any:
    """The ``--clip`` video's reader (checked now: one error line for a missing or broken file), or None."""
    if not path:
        return None
    from live.visuals.clips import ClipReader

    return ClipReader(path, width, height)


def _open_outputs(s: ShowSettings, renderer: Any) -> Any:
    """The ``--record`` and ``--ndi`` outputs fed from the drawn picture, or None."""
    if not (s.record or s.ndi):
        return None
    from live.visuals.outputs import open_outputs

    return open_outputs(renderer, record=s.record, ndi=s.ndi, fps=s.fps)


def _tempo_peers(s: ShowSettings, states: LatestSlot[AudioState], stack: ExitStack) -> tuple[LatestSlot, ...]:
    """Start the Link and MIDI clock peers ``s`` asks for (stopped with ``stack``); the slots their
    tempo readings arrive in, for the analysis thread. Clock out reads the show's ``states``."""
    slots = []
    if s.link:
        from live.control.link import LinkPeer

        slots.append(LatestSlot())
        peer = LinkPeer(slots[-1], states)
        peer.start()
        stack.callback(peer.stop)
    if s.midi_clock_in:
        from live.control.midiclock import MidiClockIn

        slots.append(LatestSlot())
        clock_in = MidiClockIn(slots[-1], s.midi_clock_in)
        clock_in.start()
        stack.callback(clock_in.stop)
    if s.midi_clock_out:
        from live.control.midiclock import MidiClockOut

        clock_out = MidiClockOut(states, s.midi_clock_out)
        clock_out.start()
        stack.callback(clock_out.stop)
    return tuple(slots)


def output_size(s: ShowSettings, screen: Any) -> tuple[int, int]:
    """The size the show draws at: ``--output-size``, else the screen's when fullscreen, else ``--size``."""
    if s.output_size:
        return parse_size(s.output_size)
    if s.fullscreen and screen is not None:
        return int(screen.width), int(screen.height)
    return parse_size(s.size)


def _open_windows(s: ShowSettings, renderer: Any, commands: CommandQueue[Command], stage: "Stage",
                  states: LatestSlot[AudioState], stack: ExitStack) -> Any:
    """The output and operator windows around ``renderer`` (see :mod:`live.visuals.windows`): keys
    become commands (source ``keyboard``) on the show's queue, the HUD reads the newest audio state,
    the stage's status and the last warnings."""
    from live.control.commands import KEY_ACTIONS, key_reference_lines, keyboard_command
    from live.visuals.hud import WarningLog
    from live.visuals.windows import StageWindows

    def on_command(name: str) -> None:
        cmd = keyboard_command(name)
        if cmd is not None:
            commands.put(cmd)

    # Kept even without --operator: Tab opens the operator window mid-show, its HUD lists them.
    warnings = WarningLog()
    logging.getLogger().addHandler(warnings)
    stack.callback(logging.getLogger().removeHandler, warnings)
    hud_status = HudStatus(stage, s.keyframes_dir)
    windows = StageWindows(renderer, screen=s.screen, fullscreen=s.fullscreen, window_size=parse_size(s.size)
                           if s.output_size is None else parse_size(s.output_size), vsync=not s.headless,
                           operator=s.operator, keys=KEY_ACTIONS, on_command=on_command,
                           hud_source=lambda: (states.get() or AudioState(), hud_status()),
                           key_help=key_reference_lines(), warnings=warnings)
    stack.callback(windows.close)
    return windows


class HudStatus:
    """The stage's status for the HUD, with what only the live objects know: ``hold`` (the
    traversal's), ``decode_fps`` (new frames per second), ``latency_ms`` (the decode's), and the
    preset list with its thumbnails (``preset_list``, ``thumbnails``: see live.show.thumbnails)."""

    def __init__(self, stage: "Stage", keyframes_dir: str | None = None) -> None:
        from live.show.thumbnails import Thumbnails

        self.stage = stage
        self.thumbnails = Thumbnails(keyframes_dir)
        self._live = ("", 0.0)  # the live preset and since when
        self._sample: tuple[float, int] | None = None
        self._decode_fps = 0.0

    def __call__(self) -> dict[str, Any]:
        """The status now (cheap: a few reads)."""
        status = dict(self.stage.status())
        show = self.stage.show
        if show is None:
            return status
        traversal = getattr(show, "traversal", None)
        status["hold"] = bool(getattr(traversal, "holding", False))
        newer = show.decode.frames()[1]
        now = time.perf_counter()
        if newer is not None:
            if self._sample is None or now - self._sample[0] >= 1.0:
                if self._sample is not None:
                    self._decode_fps = (newer.seq - self._sample[1]) / (now - self._sample[0])
                self._sample = (now, newer.seq)
            status["decode_fps"] = max(0.0, self._decode_fps)
        status["latency_ms"] = max(0.0, (show.decode.lookahead - show.frame_period) * 1000)
        from live.show.show import chain_text

        status["chain"] = chain_text(getattr(show, "renderer", None))
        names = show.bank.names()
        status["preset_list"] = names
        if self._live[0] != show.preset_name:
            self._live = (show.preset_name, now)
        # A frame of the preset once it has been live a second: the frames just after a switch
        # are still the last preset's (decoded ahead) or a transition between the two.
        settled = now - self._live[1] >= 1.0 and newer is not None
        status["thumbnails"] = self.thumbnails.get(names, show.preset_name, newer.rgb if settled else None)
        return status


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


class StopSignals:
    """While entered, SIGINT and SIGTERM ask the display loop to stop (after the frame in
    progress) instead of killing the process; SIGHUP (the terminal or SSH session that started
    the show went away) does not stop it: the display loop logs it once per hangup and goes on.
    The previous handlers come back on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal_name = ""
        self.hangups = 0  # SIGHUPs received; counted in the handler, logged by the display loop
        self._hangups_logged = 0
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # Python only allows handlers there
            for sig in self.SIGNALS:
                self._saved[sig] = signal.signal(sig, self._handle)
            if hasattr(signal, "SIGHUP"):  # not on Windows
                self._saved[signal.SIGHUP] = signal.signal(signal.SIGHUP, self._hangup)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name

    def _hangup(self, signum: int, frame: Any) -> None:
        # Python's default for SIGHUP ends the process at once: a dropped SSH session would turn
        # the projector black with no log line. Only count here: logging takes locks that the
        # interrupted code may hold.
        self.hangups += 1

    def requested(self) -> bool:
        """True once a stop signal arrived (called by the display loop every frame; it also logs
        a SIGHUP that came since the last call)."""
        if self.hangups != self._hangups_logged:
            self._hangups_logged = self.hangups
            _LOGGER.warning("SIGHUP (the terminal that started the show closed?): the show keeps running; "
                            "stop it with SIGTERM, Ctrl-C or Ctrl+Q")
        return bool(self.signal_name)


class _Cancelled(Exception):
    """The show stopped while the loader worked."""


class _Loader(threading.Thread):
    """Builds the decoders (warmed up) and the bank off the display thread, so the holding
    visual keeps moving meanwhile; :meth:`result` hands them over or raises what failed."""

    def __init__(self, settings: ShowSettings, width: int, height: int) -> None:
        super().__init__(name="show-loader", daemon=True)
        self.settings, self.width, self.height = settings, width, height
        self._result: tuple[list[Any], Any] | None = None
        self._error: BaseException | None = None
        self._cancel = threading.Event()

    def stop(self, timeout: float = LOADER_STOP_S) -> None:
        """Ask the loader to give up after the step in progress, and wait up to ``timeout`` seconds
        for it: the interpreter must not end while it runs native code (a model load, a warm-up),
        where a thread ended at exit aborts the process. One still busy is left to the
        command line's last check (see :func:`live.cli.leave`)."""
        self._cancel.set()
        if self.is_alive():
            _LOGGER.info("waiting up to %.0f s for the model loader to finish its step", timeout)
            self.join(timeout)

    def _step(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    def run(self) -> None:
        """Thread body: decoders (the chosen one and its fallbacks), then the bank."""
        try:
            s = self.settings
            started = time.perf_counter()
            decoders = _decoder_chain(s)
            for dec in decoders:
                self._step()
                dec.warmup((1, dec.latent_channels, self.height // 8, self.width // 8))
            self._step()
            main = decoders[0]
            bank = open_bank(main.family, main.latent_channels, main.device, s.presets_dir, s.keyframes_dir,
                             s.shaders_dir)
            if not bank.names():
                raise UserError(f"no usable preset in {paths.presets_dir(s.presets_dir)}; run `check` to see why, "
                                "`precompute NAME` to fix")
            _LOGGER.info("models and bank ready in %.1f s: %s", time.perf_counter() - started,
                         " -> ".join(d.name for d in decoders))
            self._result = (decoders, bank)
        except _Cancelled:
            pass
        except BaseException as exc:  # handed to the display thread, which decides
            self._error = exc

    @property
    def done(self) -> bool:
        """True once loading finished, well or not."""
        return self._result is not None or self._error is not None

    def result(self) -> tuple[list[Any], Any]:
        """(decoders, bank) once :attr:`done`; raises the loading error."""
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


def _decoder_chain(s: ShowSettings) -> list[Any]:
    """The chosen decoder, then each one to fall back to in :data:`FALLBACK_ORDER` (tiny only
    with a TAESD folder; approx always, it needs no weights)."""
    from live.visuals.decoders import make_decoder

    try:
        chain = [make_decoder(s.decoder, s.model, family=s.family)]
    except UserError as exc:
        if s.decoder == "approx":
            raise
        # Its folder passed the checks before the window opened; weights that still will not load
        # (a damaged pickled .bin) leave the show on the next decoder down, as a failing decode would.
        _LOGGER.warning("%s decoder could not be loaded, the show goes on with the next decoder: %s", s.decoder, exc)
        chain = []
    for kind in FALLBACK_ORDER[FALLBACK_ORDER.index(s.decoder) + 1:]:
        if kind == "tiny" and not s.tiny_model:
            continue
        try:
            chain.append(make_decoder(kind, s.tiny_model if kind == "tiny" else None, family=s.family))
        except UserError as exc:
            _LOGGER.warning("no %s decoder to fall back to: %s", kind, exc)
    return chain


def _start_show(loader: _Loader, s: ShowSettings, renderer: Any, commands: CommandQueue[Command],
                clock_commands: CommandQueue[Command], stack: ExitStack, clip: Any = None, plan: Any = None) -> Any:
    """The Show on the loaded decoders and bank, or None while they are still loading. ``clip``
    (a ClipReader) starts playing on its own thread with the show; ``plan`` plays a set's song plans."""
    from live.show.show import AsyncDecode, Show

    if not loader.done:
        return None
    decoders, bank = loader.result()
    decode = AsyncDecode(decoders[0], s.fps, fallbacks=tuple(decoders[1:]))
    stack.callback(decode.stop)
    layer = None
    if clip is not None:
        from live.visuals.clips import ClipLayer, ClipPlayer

        layer = ClipLayer(ClipPlayer(clip).start(), s.clip_every)
        stack.callback(layer.stop)
    preset = start_preset(bank, s.preset)
    show = Show(bank, decode, renderer, preset=preset, commands=commands, clock=clock_commands.put,
                frame_period=1.0 / s.fps, clip=layer, av_offset_ms=s.av_offset, autopilot=s.make_autopilot(),
                plan=plan)
    _LOGGER.info("show running: preset %s, decoder %s", preset, decode.name)
    return show


def start_preset(bank: Any, name: str) -> str:
    """The preset the live show starts on: ``name``, or, when its keyframes cannot play (not
    precomputed, another family's, damaged), the bank's first that can, with an error line saying
    why and how to fix it. A projector with a picture beats a show that never starts; `render`
    keeps refusing (a video of another preset would be wrong)."""
    try:
        bank.get(name)
        return name
    except UserError as exc:
        first = bank.names()[0]  # the loader refused an empty bank already
        _LOGGER.error("%s; the show starts on %s instead (switch with /preset once it is fixed)", exc, first)
        return first


class Stage:
    """What the display loop draws: the holding visual until ``start_show()`` returns the show,
    then the show; after an unexpected error in the show's tick, a crash report, and the holding
    visual for :data:`RETRY_S` before the show is tried again. Blackout is only ever the show's
    own command."""

    def __init__(self, holding: Any, start_show: Callable[[], Any], crash_dir: Path,
                 details: dict[str, Any] | None = None) -> None:
        self.holding, self.start_show = holding, start_show
        self.crash_dir, self.details = crash_dir, details or {}
        self.show: Any = None
        self.holding_until = 0.0
        self.crashes = 0
        self.last_report: Path | None = None
        self.state: AudioState | None = None  # the newest analysis, for the status while no show runs

    def tick(self, now: float, state: AudioState) -> None:
        """Draw one frame for ``now``: the show's, or the holding visual's."""
        self.state = state
        if self.show is None:
            try:
                self.show = self.start_show()
            except UserError:
                raise  # a setup mistake (no presets, a wrong model folder) ends the run with its message
            except Exception as exc:  # noqa: BLE001 - the holding visual stays up; the report says why
                self._crashed(now, exc, math.inf)
        if self.show is None or now < self.holding_until:
            self.holding.tick(now, state)
            return
        try:
            self.show.tick(now, state)
        except Exception as exc:  # noqa: BLE001 - a bug must not take the projector down
            self._crashed(now, exc, RETRY_S)
            self.holding.tick(now, state)

    def _crashed(self, now: float, exc: Exception, hold_s: float) -> None:
        """Write the crash report, log it, hold the holding visual for ``hold_s`` seconds."""
        self.crashes += 1
        self.holding_until = now + hold_s
        if hold_s == math.inf:
            self.start_show = lambda: None  # the show cannot start: keep holding until stopped
        # The report is best effort: a full disk, a removed folder, or a show too broken to give
        # its status must not turn one error into the end of the show.
        try:
            status: Any = self.status()
        except Exception as failed:  # noqa: BLE001
            status = f"(the status failed too: {failed.__class__.__name__}: {failed})"
        try:
            self.last_report = write_crash_report(self.crash_dir, exc, {**self.details, "status": status})
            report = f"crash report {self.last_report}"
        except Exception as failed:  # noqa: BLE001
            report = f"no crash report ({self.crash_dir}: {getattr(failed, 'strerror', None) or failed})"
        _LOGGER.critical("unexpected error in the show (%s: %s); %s; holding visual for %.0f s",
                         exc.__class__.__name__, exc, report, hold_s)

    def check(self) -> None:
        """Watchdog, once a frame: the decode's stall and failure checks, once the show runs."""
        if self.show is not None and hasattr(self.show.decode, "check"):
            self.show.decode.check()

    def status(self) -> dict[str, Any]:
        """The show's status, with ``holding`` (why the holding visual is up, or "") and the crash count."""
        base = self.show.status() if self.show is not None else {
            "preset": "", "decoder": "", "failover": "",
            "flash_limit": bool(getattr(getattr(self.holding, "renderer", None), "flash_limit", False)),
            **self._music_status()}
        holding = "loading" if self.show is None else "after an error" if time.perf_counter() < self.holding_until else ""
        return {**base, "holding": holding, "crashes": self.crashes}

    def _music_status(self) -> dict[str, Any]:
        """While the models load the analysis already runs and the holding visual follows it: the
        tempo and the recognised track (``--set``) are known, so /status says them as the show would."""
        from live.show.show import track_status

        state = self.state
        if state is None:
            return {}
        return {"bpm": round(state.tempo, 2), "confidence": round(state.confidence, 3),
                "tempo_source": state.tempo_source, **track_status(state)}


def write_crash_report(folder: Path, exc: BaseException, details: dict[str, Any]) -> Path:
    """Write the traceback and ``details`` (settings, status) to a new ``crash-*.txt`` in ``folder``; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = folder / f"crash-{stamp}.txt"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"crash-{stamp}-{n}.txt"
    lines = ["".join(traceback.format_exception(exc))] + [f"{k}: {v!r}" for k, v in details.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class _Watchdog:
    """The decode watchdog every frame (stalls must be caught within a fraction of a second);
    once a second, says once if the analysis thread died (the beat clock then free-runs on its
    last tempo)."""

    def __init__(self, analysis: Any, stage: Stage) -> None:
        self.analysis, self.stage = analysis, stage
        self.analysis_reported = False

    def __call__(self, frames: int, fps: int) -> None:
        self.stage.check()
        if frames % fps == 0 and not self.analysis.is_alive() and not self.analysis_reported:
            self.analysis_reported = True
            _LOGGER.error("audio analysis thread stopped; visuals continue on the last tempo")


class _Chores:
    """The live loop's work after each frame: the watchdog, a status line every 10 s."""

    def __init__(self, stage: Stage, watchdog: _Watchdog, fps: int) -> None:
        self.stage, self.watchdog, self.fps = stage, watchdog, fps
        self.last_status = time.perf_counter()

    def __call__(self, now: float, frames: int) -> None:
        self.watchdog(frames, self.fps)
        if now - self.last_status >= STATUS_EVERY_S:
            self.last_status = now
            _LOGGER.info("status %s", self.stage.status())
