"""The show: one tick per output frame, on the main thread.

Each tick applies queued commands, asks the traversal for the latent of the moment the next
frame will be seen, hands it to the decoder (latest wins), and draws the newest frames it has
with beat-driven uniforms. The same code runs live (decode worker thread, live audio) and in
``render`` (synchronous decode, simulated clock), so what a render shows is what the show does.
"""

from __future__ import annotations

import collections
import logging
import math
import time
from typing import Any, Callable

import numpy as np
import torch

from live.control.commands import COMMANDS, check_args, coalesce, shown, validate
from live.errors import UserError
from live.handoff import CommandQueue, LatestSlot
from live.messages import AudioState, Command
from live.ratelog import RateLimitedLog
from live.show.autopilot import Autopilot
from live.show.calibration import Calibration, shifted
from live.show.setplan import OVERRIDES as PLAN_OVERRIDES
from live.show.setplan import SOURCE as PLAN_SOURCE
from live.show.setplan import PlanCue, PlanPlayer
from live.visuals.flash import HOLDING_S
from live.visuals.transitions import Fade, QueuedSwitch, beats_to_seconds

_LOGGER = logging.getLogger(__name__)

# Who carries out each command comes from the command table.
CLOCK_COMMANDS = frozenset(n for n, c in COMMANDS.items() if c.target == "clock")
TRAVERSAL_COMMANDS = frozenset(n for n, c in COMMANDS.items() if c.target == "traversal")
LAYER_COMMANDS = frozenset(n for n, c in COMMANDS.items() if c.target == "layer")
PULSE_DECAY = 5.0  # per beat: the pulse is down to 1% a beat after it fires
MAX_SOURCES = 8  # command sources with a log budget of their own; any more share one
FADE_BEATS = 4.0  # a fade command without a length takes a bar
LAST_MESSAGE_CHARS = 80  # the status's last command received, cut to this


def beat_pulse(state: AudioState, t: float) -> float:
    """1 exactly on each predicted beat, decaying exponentially until the next one."""
    return math.exp(-PULSE_DECAY * state.phase_at(t))


def shader_uniforms(state: AudioState, t: float, frame_period: float = 1.0 / 60.0) -> dict[str, Any]:
    """The per-frame uniforms every shader may read, predicted for display time ``t`` (the middle
    of the frame's time on screen); ``u_frame`` is how long a frame is on screen (seconds), so a
    shader can put a one-frame event on exactly one frame."""
    return {
        "u_time": float(t),
        "u_beat_phase": state.phase_at(t),
        "u_bar_phase": state.bar_beats_at(t) / 4.0,
        "u_pulse": beat_pulse(state, t),
        "u_onset": float(state.onset_env),
        "u_low": float(state.low),
        "u_mid": float(state.mid),
        "u_high": float(state.high),
        "u_level": float(state.level),
        "u_bpm": float(state.bpm),
        "u_chroma": tuple(state.chroma),  # 12 pitch-class energies, a float array uniform
        "u_frame": float(frame_period),
    }


def frame_mix(older: Any, newer: Any, t: float) -> float:
    """How far display time ``t`` is from the older frame to the newer one (0..1)."""
    if older is None or newer is None:
        return 1.0
    span = newer.display_time - older.display_time
    if span <= 1e-6:
        return 1.0
    return float(np.clip((t - older.display_time) / span, 0.0, 1.0))


class SyncDecode:
    """Decode in the caller's thread, at once: the deterministic twin of :class:`AsyncDecode`.

    It is the same decode worker, never started, so frames carry the same bookkeeping and
    :class:`Show` cannot tell the two apart."""

    lookahead = 0.0
    failover = ""  # nothing fails over offline: a failing decode is reported by the render

    def __init__(self, decoder: Any) -> None:
        from live.visuals.worker import DecodeWorker

        self._worker = DecodeWorker(decoder)

    @property
    def name(self) -> str:
        """The decoder's kind (approx, tiny, vae)."""
        return self._worker.decoder.name

    def request(self, latent: torch.Tensor, display_time: float) -> None:
        """Decode ``latent`` now, as the frame for ``display_time``."""
        self._worker.decode_now(latent, display_time)

    def frames(self) -> tuple[Any, Any]:
        """The two newest frames (older, newer)."""
        return self._worker.frames()


STALL_S = 2.0  # a decode running longer than this has stalled (a hung GPU, a driver reset)
MAX_FAILURES = 3  # failed decodes in a row (or dead workers) before the next decoder down takes over
STOP_WAIT_S = 20.0  # at shutdown, how long to wait for the decodes in progress, abandoned ones included


class AsyncDecode:
    """Live decoding through the decode worker thread; requests look ahead by its latency.

    ``fallbacks`` are the decoders to fail over to, in order (``tiny`` then ``approx``).
    :meth:`check` is the watchdog, run once a frame: a worker whose decode stalls past
    ``stall_after`` seconds is abandoned and the next decoder down takes over at once (the
    stalled thread may still be inside the old decoder, so it is never used again); a worker
    that raises or dies is restarted on the same decoder, and after ``max_failures`` failures
    in a row the next decoder takes over. The last two frames stay on screen meanwhile.
    """

    def __init__(self, decoder: Any, fps: float, *, fallbacks: tuple[Any, ...] = (), stall_after: float = STALL_S,
                 max_failures: int = MAX_FAILURES) -> None:
        from live.visuals.worker import DecodeWorker

        self._decoders = [decoder, *fallbacks]
        self._level = 0
        self._frame_period = 1.0 / fps
        self.stall_after = float(stall_after)
        self.max_failures = int(max_failures)
        self._failures = 0
        self._seen_errors = 0
        self._seen_decoded = 0
        self.failover = ""  # the last failover, in words, for the status
        self._log = RateLimitedLog(_LOGGER, level=logging.ERROR)
        self._worker = DecodeWorker(decoder)
        self._abandoned: list[Any] = []  # workers replaced mid-decode, joined at stop()
        self._worker.start()

    @property
    def name(self) -> str:
        """The active decoder's kind (approx, tiny, vae)."""
        return self._worker.decoder.name

    @property
    def lookahead(self) -> float:
        """Decode latency plus one frame: a frame is made for the moment it will be seen."""
        return self._worker.latency + self._frame_period

    def request(self, latent: torch.Tensor, display_time: float) -> None:
        """Hand the latent to the worker; replaces any request it has not started."""
        self._worker.request(latent, display_time)

    def frames(self) -> tuple[Any, Any]:
        """The two newest decoded frames (older, newer)."""
        return self._worker.frames()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Stop the worker thread and every one abandoned by a failover, waiting up to ``timeout``
        seconds in all for the decodes they are in: the interpreter must not end while one runs
        native code (torch), where a thread ended at exit aborts the process. A decode stalled
        for good is left to the command line's last check (see :func:`live.cli.leave`)."""
        end = time.perf_counter() + timeout
        for worker in [self._worker, *self._abandoned]:
            worker.stop(max(0.0, end - time.perf_counter()))
        self._abandoned = [w for w in self._abandoned if w.alive]

    def check(self, now: float | None = None) -> None:
        """Watchdog, once a frame: fail over from a stalled decoder, restart a failing or dead
        worker, fall back after repeated failures (see the class). Cheap: a few reads."""
        w = self._worker
        now = time.perf_counter() if now is None else now
        busy = w.busy_for(now)
        if busy > self.stall_after:
            self._fall_back(f"{w.decoder.name} decode stalled ({busy:.1f} s > {self.stall_after:g} s)")
            return
        if w.decoded > self._seen_decoded:
            self._seen_decoded = w.decoded
            self._failures = 0
        if w.errors > self._seen_errors:
            self._failures += w.errors - self._seen_errors
            self._seen_errors = w.errors
            reason = f"{w.decoder.name} decode failed: {w.last_error}"
        elif not w.alive:
            self._failures += 1
            reason = f"{w.decoder.name} decode worker stopped ({w.last_error or 'no error recorded'})"
        else:
            return
        if self._failures >= self.max_failures:
            self._fall_back(f"{reason} ({self._failures} failures in a row)")
        else:
            _LOGGER.error("%s; restarting the decode worker", reason)
            self._replace(w.decoder)

    def _fall_back(self, reason: str) -> None:
        """Hand the decoding to the next decoder down (or the last one again, on a new thread)."""
        old = self._worker.decoder.name
        self._level = min(self._level + 1, len(self._decoders) - 1)
        decoder = self._decoders[self._level]
        self.failover = f"{reason}; now {decoder.name}"
        # Rate-limited: once on the last decoder, a decoder that keeps failing must not flood the log.
        self._log.report(f"{old}->{decoder.name}", f"decoder failover: {old} -> {decoder.name} ({reason})")
        self._replace(decoder)

    def _replace(self, decoder: Any) -> None:
        """A new worker on ``decoder`` that keeps the old one's frames on screen; the old one is
        told to stop but not waited for (it may be stuck inside a decode)."""
        from live.visuals.worker import DecodeWorker

        old = self._worker
        old.stop(0.0)
        self._abandoned = [w for w in self._abandoned if w.alive]
        if old.alive:
            self._abandoned.append(old)
        if decoder is old.decoder and decoder.device.type == "cuda":
            torch.cuda.empty_cache()  # after a CUDA out-of-memory error, give the allocator its cache back
        self._worker = DecodeWorker(decoder, follows=old)
        self._failures = 0 if decoder is not old.decoder else self._failures
        self._seen_errors = self._seen_decoded = 0
        self._worker.start()


class HoldingVisual:
    """The picture on screen while the show is not ready (models warming up, the bank loading)
    or after an unexpected error: weight-free procedural images (the demo's), crossfading
    slowly, through the beat-driven ``pulse`` shader, so the output moves with the music from
    the very first frame. Nothing here loads a model."""

    SHADERS = ["pulse"]
    SIZE = 128  # the images are soft; the GPU scales them up
    HOLD_S = 4.0  # seconds from one image to the next

    def __init__(self, renderer: Any, frame_period: float = 1.0 / 60.0, count: int = 4) -> None:
        from live.library.demo import demo_images
        from live.visuals.worker import Frame

        self.renderer = renderer
        self.frame_period = float(frame_period)
        self._images = [Frame(img, 0.0, -2 - i, 0.0) for i, img in enumerate(demo_images(self.SIZE, self.SIZE, count))]
        for frame in self._images:
            frame.rgb.flags.writeable = False
        self.renderer.set_shaders(self.SHADERS)

    def frames(self, now: float) -> tuple[Any, Any]:
        """The two images shown at ``now`` (older, newer); numbered below 0 so that no decoded
        frame is ever taken for one of them."""
        k = int(now // self.HOLD_S)
        n = len(self._images)
        return self._images[k % n], self._images[(k + 1) % n]

    def tick(self, now: float, state: AudioState) -> None:
        """Draw one holding frame for time ``now`` with the audio's beat."""
        older, newer = self.frames(now)
        self.renderer.update_frames(older, newer)
        mix = (now % self.HOLD_S) / self.HOLD_S
        uniforms = shader_uniforms(state, now + 0.5 * self.frame_period, self.frame_period)
        self.renderer.draw(now, mix * mix * (3 - 2 * mix), uniforms)


class Show:
    """Composition of bank, traversal, decode and renderer, driven by :meth:`tick`.

    ``clock`` receives the tempo commands (tap, bpm, nudge, resync, lock): live it puts them
    on the analysis thread's queue, in render it calls the engine directly. ``clip`` (a
    :class:`live.visuals.clips.ClipLayer`) is the video cut against the SD layer. ``plan`` (a
    :class:`live.show.setplan.PlanPlayer`, with ``--set``) plays a recognised track's song plan.
    """

    def __init__(self, bank: Any, decode: SyncDecode | AsyncDecode, renderer: Any, *, preset: str,
                 commands: CommandQueue[Command] | None = None,
                 clock: Callable[[Command], None] | None = None, frame_period: float = 1.0 / 60.0,
                 clip: Any = None, av_offset_ms: float = 0.0, autopilot: Autopilot | None = None,
                 plan: PlanPlayer | None = None) -> None:
        self.bank, self.decode, self.renderer = bank, decode, renderer
        self.clip = clip
        # Uniforms describe the middle of a frame's time on screen, so a beat flashes on the
        # frame nearest to it (within half a frame) rather than on the first frame after it.
        self.frame_period = float(frame_period)
        self.commands: CommandQueue[Command] = commands or CommandQueue()
        self._clock = clock or (lambda cmd: None)
        self.blackout = False
        self.frozen = False
        self.fade = Fade()  # the soft blackout: darkness ramping to black or back
        self.queued: QueuedSwitch | None = None  # a preset switch waiting for its beat, bar or phrase
        self.preset_name = ""
        self.section = ""  # the live section of the preset ("": all its keyframes)
        self.av_offset_ms = float(av_offset_ms)  # > 0: the picture's beat comes later (see calibration.py)
        self.calibration: Calibration | None = None  # while calibrating, taps measure the offset
        self.autopilot = autopilot
        self._pilot_switch: QueuedSwitch | None = None  # the switch the autopilot queued last
        self.plan = plan  # a prepared set's song plans: above the autopilot, below a manual command
        self._beat = 0  # the last whole beat counted, to publish a status on each beat
        self._bar_beat = 1  # which beat of the bar that is (1..4)
        self._published = False  # a command changed something this tick: publish a status now
        # The last command received and when: kept as the object (one reference per command, so a
        # flood costs nothing), written out only when a status is made, cut to LAST_MESSAGE_CHARS.
        self._last_command: tuple[Command, float] | None = None
        self.preset: Any = None
        self.traversal: Any = None
        self.pixels: Any = None  # the live preset's pictures when its keyframes are pixels (no decoder)
        self._pixel_frames: tuple[Any, Any] = (None, None)
        self.last_uniforms: dict[str, float] = {}
        self.last_state = AudioState()
        self._fps_window: collections.deque[float] = collections.deque(maxlen=120)
        self._status_time = -1.0
        # Refusals are rate-limited per source (so an OSC flood cannot hide a MIDI problem) and
        # per command within it; the per-frame error path has its own budget.
        self._refusals: dict[str, RateLimitedLog] = {}
        self._frame_errors = RateLimitedLog(_LOGGER, level=logging.ERROR)
        # What commands change (preset, section, offset, calibration): a fader or a flood sends
        # them many times a second, so they are noted at a rate no sender can raise.
        self._notes = RateLimitedLog(_LOGGER, level=logging.INFO, noun="event(s)")
        self.switch_preset(preset)
        if plan is not None:
            plan.check(bank)  # a plan whose preset cannot play: one warning now, never a refusal mid-show
        self._status: LatestSlot[dict[str, Any]] = LatestSlot(self._make_status())

    # ------------------------------------------------------------------ commands

    def switch_preset(self, name: str, now: float = 0.0) -> None:
        """Make ``name`` the live preset; an unknown or unavailable name raises UserError and changes nothing."""
        from live.visuals.traversal import Traversal

        preset, latents = self.bank.get(name)
        pixels = self._pixels_of(name)
        traversal = Traversal(latents, **preset.motion.model_dump(), seed=_seed_of(name),
                              kick_direction=pixels.light if pixels is not None else None)
        had_preset = self.preset is not None
        self.preset_name, self.preset, self.traversal, self.section = name, preset, traversal, ""
        self.pixels = pixels
        self.renderer.set_shaders(list(preset.look.shaders), dict(preset.look.params))
        if had_preset:
            self._start_transition(now)
        self._notes.report(f"preset:{name}", f"preset {name}: {latents.shape[0]} keyframes")

    def _pixels_of(self, name: str) -> Any:
        """The preset's :class:`live.visuals.pixels.PixelSet` when its keyframes are pictures, else None."""
        keyframe_set = getattr(self.bank, "keyframe_set", None)
        return getattr(keyframe_set(name), "pixels", None) if keyframe_set is not None else None

    def _start_transition(self, now: float) -> None:
        """The live preset's transition from the picture on screen to what comes next."""
        look = self.preset.look
        if look.transition != "cut":
            seconds = beats_to_seconds(look.transition_beats, self.last_state.bpm)  # the tempo at the start
            self.renderer.start_transition(now, seconds, look.transition)

    def enter_section(self, name: str, now: float = 0.0) -> None:
        """Walk only section ``name``'s keyframes of the live preset (its motion and look stay),
        from the section's first keyframe, through the preset's transition; UserError for a
        section the preset does not have."""
        from live.visuals.traversal import Traversal

        start, count = section_span(self.preset, name)
        _, latents = self.bank.get(self.preset_name)
        if start + count > latents.shape[0]:
            raise UserError(f"section {name!r} of preset {self.preset_name!r} needs keyframes {start}..{start + count - 1}, "
                            f"the file has {latents.shape[0]}; run `precompute {self.preset_name}`")
        self.traversal = Traversal(latents[start:start + count], **self.preset.motion.model_dump(),
                                   seed=_seed_of(self.preset_name),
                                   kick_direction=self.pixels.light if self.pixels is not None else None)
        self.section = name
        self._start_transition(now)
        self._notes.report(f"section:{name}", f"preset {self.preset_name}: section {name} ({count} keyframes)")

    def apply(self, cmd: Command, now: float) -> None:
        """Check one command against the command table and carry it out. Bad values (from any
        source: OSC, MIDI, keyboard, internal) are refused in one line (rate-limited per source
        and command, with a count of what was not logged) and the show keeps its state; nothing
        raised while carrying out a command escapes."""
        self._last_command = (cmd, now)
        try:
            cmd = validate(cmd)
            self._published = True
            self._apply(cmd, now)
            if self.autopilot is not None and self.autopilot.takes_over(cmd.name, cmd.source):
                self.autopilot.set_enabled(False, f"{cmd.source} {cmd.name} took over")
                if self.queued is not None and self.queued is self._pilot_switch:
                    self.queued = None  # the autopilot's next preset goes with it
            if self.plan is not None and cmd.name in PLAN_OVERRIDES and cmd.source not in (PLAN_SOURCE, "autopilot"):
                self.plan.take_over(f"{cmd.source} {cmd.name}", now)
        except UserError as exc:
            self._refused(cmd, "", f"refused: {exc}")
        except Exception as exc:  # a bug carrying out one command must not stop the show
            self._refused(cmd, ":failed", f"failed: {exc!r}", exc_info=True)

    def _refused(self, cmd: Command, kind: str, why: str, exc_info: bool = False) -> None:
        source, name = str(cmd.source)[:20], str(cmd.name)[:40]
        self._refusals_from(source).report(name + kind, f"{source} command {name}{shown(cmd.args)} {why}",
                                           exc_info=exc_info)

    def _refusals_from(self, source: str) -> RateLimitedLog:
        log = self._refusals.get(source)
        if log is None:
            if len(self._refusals) >= MAX_SOURCES:
                source = "<other>"
            log = self._refusals.get(source) or RateLimitedLog(_LOGGER, level=logging.ERROR)
            self._refusals[source] = log
        return log

    def _apply(self, cmd: Command, now: float) -> None:
        name, args = cmd.name, cmd.args
        if name == "preset":
            self._preset_command(self._resolve_preset(str(args[0])), now)
        elif name == "blackout":
            self.blackout = bool(args[0]) if args else not self.blackout
        elif name == "freeze":
            self.frozen = bool(args[0]) if args else not self.frozen
        elif name == "fade":
            beats = float(args[1]) if len(args) > 1 else FADE_BEATS
            to_black = bool(args[0]) if args else not self.fade.to_black
            self.fade.start(now, to_black, beats_to_seconds(beats, self.last_state.bpm))
        elif name in TRAVERSAL_COMMANDS:
            self.traversal.command(cmd)
        elif name == "tap" and self.calibration is not None:
            self._calibration_tap(cmd.received or now)
        elif name in CLOCK_COMMANDS:
            self._clock(cmd)
        elif name in LAYER_COMMANDS:
            if self.clip is None:
                raise UserError("no clip to switch to (start the show with --clip FILE)")
            self.clip.command(name, args)
        elif name == "section":
            self._section_command(str(args[0]), now, str(args[1]) if len(args) > 1 else "")
        elif name == "av_offset":
            self.av_offset_ms = float(args[0])
            self._notes.report("av_offset", f"av offset {self.av_offset_ms:+.1f} ms")
        elif name == "calibrate":
            on = bool(args[0]) if args else self.calibration is None
            self.calibration = Calibration() if on else None
            self._notes.report("calibrate", "calibration " + ("started: tap 8 beats along with what you hear" if on
                                                              else "stopped"))
        elif name == "autopilot":
            self._autopilot_command(bool(args[0]) if args else None)
        elif name == "shader_param":
            self.renderer.set_param(str(args[0]), float(args[1]))
        elif name == "param":
            self._set_param(str(args[0]), args[1])
        else:
            raise UserError(f"unknown command {name!r}")

    def _preset_command(self, name: str, now: float) -> None:
        """Switch to ``name`` now, or queue the switch for the next beat, bar or phrase as the
        preset's ``transition_quantize`` asks (the latest request replaces a queued one). With
        no tempo source there is no beat to wait for, so the switch happens at once."""
        preset, _ = self.bank.get(name)  # an unknown or unready name is refused now, not at the boundary
        unit = preset.look.transition_quantize
        if unit == "none" or self.last_state.tempo_source == "none":
            self.queued = None
            self.switch_preset(name, now)
        else:
            self.queued = QueuedSwitch.after(name, unit, self.last_state, now + self.frame_period)

    def _section_command(self, name: str, now: float, when: str = "") -> None:
        """Queue a jump to section ``name`` for the next ``when`` (beat, bar or phrase; by default
        the bar, or phrase when the preset quantizes to phrases), or make it now (``when`` "now",
        or no tempo source); an unknown section is refused now. A song plan's cue says "now": it
        comes on the plan's downbeat, and the live clock's bars need not line up with the plan's."""
        section_span(self.preset, name)
        unit = when or ("phrase" if self.preset.look.transition_quantize == "phrase" else "bar")
        if unit == "now" or self.last_state.tempo_source == "none":
            self.queued = None
            self.enter_section(name, now)
        else:
            self.queued = QueuedSwitch.after(self.preset_name, unit, self.last_state, now + self.frame_period)
            self.queued.section = name

    def _calibration_tap(self, when: float) -> None:
        """One calibration tap heard at ``when`` against the clock's own beat (no offset)."""
        assert self.calibration is not None
        offset = self.calibration.tap(self.last_state, when)
        if offset is not None:
            self.calibration, self.av_offset_ms = None, offset
            self._notes.report("calibrated", f"calibration done: av offset {offset:+.1f} ms")

    def _autopilot_command(self, on: bool | None) -> None:
        """``autopilot`` on/off/toggle. On also gives the picture back to the recognised track's song plan
        after a manual choice (else that choice held for the rest of the track, with no way back)."""
        if self.autopilot is None and self.plan is None:
            raise UserError("no autopilot in this show; start it with --autopilot sequential|shuffle|match")
        if self.autopilot is not None:
            on = not self.autopilot.enabled if on is None else on
            self.autopilot.set_enabled(on, "autopilot command")
        if self.plan is not None and on is not False:
            self.plan.give_back("autopilot command")

    def _autopilot_tick(self, state: AudioState, t: float) -> None:
        """Let the autopilot queue the next preset for the next bar, in the last bar before its boundary."""
        pilot = self.autopilot
        assert pilot is not None
        pilot.observe(state)
        if self.queued is not None or not pilot.due(state, t):  # a switch already waits: it goes first
            return
        presets = [(n, self.bank.get(n)[0].tags) for n in self.bank.names()]
        name = pilot.pick(self.preset_name, presets)
        if name is not None:
            _LOGGER.info("autopilot: %s next", name)
            self.queued = self._pilot_switch = QueuedSwitch.after(name, "bar", state, t)

    def _resolve_preset(self, name: str) -> str:
        """'+1' / '-1' step through the bank in order (from the queued preset, if one waits);
        anything else is a preset name."""
        if name in ("+1", "-1"):
            names = self.bank.names()
            current = self.queued.preset if self.queued is not None else self.preset_name
            index = names.index(current) if current in names else 0
            return names[(index + int(name)) % len(names)]
        return name

    def _set_param(self, key: str, value: Any) -> None:
        """Change one ``motion.*`` or ``look.params.*`` value of the live preset, validated by its schema."""
        from pydantic import ValidationError

        section, _, field = key.partition(".")
        if section == "look" and field.startswith("params."):
            # A look parameter is a shader uniform: the same name and value rules as shader_param.
            self.renderer.set_param(*check_args("shader_param", (field.removeprefix("params."), value), f"param {key}"))
            return
        if section != "motion" or not field:
            raise UserError(f"param {key!r}: only motion.* and look.params.* can change live")
        motion = self.preset.motion
        try:
            new_motion = type(motion).model_validate({**motion.model_dump(), field: value})
        except ValidationError as exc:
            raise UserError(f"param {key} = {value!r}: {exc.errors()[0]['msg']}") from None
        self.preset = self.preset.model_copy(update={"motion": new_motion})
        self.traversal.retune(**new_motion.model_dump())

    # ------------------------------------------------------------------ tick

    def tick(self, now: float, state: AudioState) -> None:
        """Advance the show to time ``now`` with the newest audio snapshot and draw one frame."""
        self.last_state = state  # the clock's own beat: commands and calibration taps measure against it
        swapped = self.bank.refresh_if_due(now)  # changed keyframe/preset files: verified off-thread, bad ones refused
        if swapped and self.plan is not None and self.plan.unready:
            self.plan.restore(self.bank, swapped)  # a song preset precomputed during the show
        for cmd in coalesce(self.commands.drain()):  # a flood of fader moves: the last of each counts
            self.apply(cmd, now)
        state = shifted(state, self.av_offset_ms)  # everything drawn follows the beat the room perceives
        # Half a frame past the display time: the frame nearest the boundary carries the switch.
        if self.queued is not None and self.queued.due(state, now + self.frame_period):
            self._switch_queued(now)
        if self.plan is not None:
            self._plan_tick(state, now)
        if self.autopilot is not None:
            if self.plan is not None and self.plan.holds(now):
                self.autopilot.observe(state)  # it gives way to the plan, and keeps listening
            else:
                self._autopilot_tick(state, now + self.frame_period)
        self.last_uniforms = shader_uniforms(state, now + 0.5 * self.frame_period, self.frame_period)
        if self.frozen and not self._darkness(now):
            self.renderer.hold()  # the whole output stands still, effects included
        else:
            self._advance(now, state)
        self._count_frame(now)

    def _switch_queued(self, now: float) -> None:
        """Carry out the queued switch; a preset the bank dropped meanwhile is refused in one line."""
        queued, self.queued = self.queued, None
        if self.plan is not None and queued is not self._pilot_switch:
            self.plan.take_over("a queued manual switch", now)  # given before the track came in: it still wins
        try:
            if queued.section and queued.preset == self.preset_name:  # type: ignore[union-attr]
                self.enter_section(queued.section, now)  # type: ignore[union-attr]
            else:
                self.switch_preset(queued.preset, now)  # type: ignore[union-attr]
        except UserError as exc:
            self._frame_errors.report("queued", f"queued preset switch refused: {exc}")

    def _plan_tick(self, state: AudioState, now: float) -> None:
        """Follow the recognised track's song plan: its preset, and the section at the track's
        position when the next frame is seen (half a frame on, as the song render's cues, plus the
        decode's lookahead: the section's pictures are the ones decoded for that moment)."""
        assert self.plan is not None
        ahead = 0.0 if self.pixels is not None else self.decode.lookahead
        pending = self.queued is not None and self.queued is not self._pilot_switch  # a manual switch: it wins
        cue = self.plan.cue(state, now + ahead + 0.5 * self.frame_period, pending)
        if cue is None:
            return
        try:
            self._play_cue(cue, now)
        except UserError as exc:
            self.plan.refused(now)
            self._frame_errors.report("plan", f"song plan of {cue.track} refused, staying on the picture: {exc}")
            return  # the autopilot's queued switch stands: the plan did not take the picture
        if self.queued is not None and self.queued is self._pilot_switch:
            self.queued = None  # the autopilot gives way

    def _play_cue(self, cue: PlanCue, now: float) -> None:
        """Make ``cue``'s preset live (when it is not) and enter its section with its walk speed;
        the preset's section names count, paired with the plan's in order (as the song render)."""
        from live.library.song import BEATS_PER_KEYFRAME

        if self.preset_name != cue.plan.preset:
            self.switch_preset(cue.plan.preset, now)  # a missing or unready preset is refused, nothing changed
        names = [s.name for s in self.preset.generation.sections]
        if not names:
            raise UserError(f"preset {cue.plan.preset} has no [[generation.sections]]; `set add` the track again")
        level = cue.plan.levels[cue.index]
        self._set_param("motion.beats_per_keyframe", BEATS_PER_KEYFRAME.get(level, BEATS_PER_KEYFRAME["mid"]))
        self.enter_section(names[cue.index % len(names)], now)

    def _darkness(self, now: float) -> float:
        """How dark the output is: 1 in a blackout, else the fade's level."""
        return 1.0 if self.blackout else self.fade.level(now)

    def _advance(self, now: float, state: AudioState) -> None:
        """Request the latent for the moment the next frame will be seen, draw the newest frames."""
        # Pictures need no decode: their frame is a few weights, summed by the renderer on the GPU.
        display_time = now + (0.0 if self.pixels is not None else self.decode.lookahead)
        try:
            latent = self.traversal.latent_at(state, display_time)
            if self.pixels is not None:
                self._pixel_frames = (self._pixel_frames[1], self.pixels.frame(latent, display_time))
            else:
                self.decode.request(latent, display_time)
        except Exception as exc:  # never let one bad frame take the projector down
            self._frame_errors.report("decode", f"frame for t={display_time:.3f} failed, keeping the last picture: {exc!r}")
        older, newer = self._pixel_frames if self.pixels is not None else self.decode.frames()
        if self.clip is not None:  # the clip layer, cut on the beat of this frame's time on screen
            clip_frame = self.clip.frame(state, now + 0.5 * self.frame_period)
            if clip_frame is not None:
                older, newer = None, clip_frame
        self.renderer.update_frames(older, newer)
        self.renderer.draw(now, frame_mix(older, newer, now), self.last_uniforms, blackout=self._darkness(now))

    def _count_frame(self, now: float) -> None:
        self._fps_window.append(now)
        state = shifted(self.last_state, self.av_offset_ms)
        beat = math.floor(state.beats_at(now))
        # A snapshot for other threads (OSC /status and push feedback): four a second, and at once
        # after a command or on a beat, so that subscribers see changes and beats within a frame.
        if now - self._status_time >= 0.25 or self._published or beat != self._beat:
            self._status_time, self._published, self._beat = now, False, beat
            self._bar_beat = int(state.bar_beats_at(now)) + 1
            self._status.put(self._make_status())

    @property
    def fps(self) -> float:
        """Output frames per second over the last ~120 ticks."""
        w = self._fps_window
        return (len(w) - 1) / (w[-1] - w[0]) if len(w) > 1 and w[-1] > w[0] else 0.0

    def _make_status(self) -> dict[str, Any]:
        s = self.last_state
        # The flash limiter: frames it scaled down so far, and whether it is holding back now
        # (lately enough that a status made 4 times a second shows a single touched frame).
        touched, last_touched = getattr(self.renderer, "flash_state", lambda: (0, -math.inf))()
        return {"preset": self.preset_name, "bpm": round(s.tempo, 2), "confidence": round(s.confidence, 3),
                "tempo_source": s.tempo_source, "fps": round(self.fps, 1), "blackout": self.blackout,
                "freeze": self.frozen, "presets": len(self.bank.names()), "decoder": self.decode.name,
                "failover": self.decode.failover,
                "queued": self.queued.preset if self.queued and not self.queued.section else "",
                "section": self.section, "queued_section": self.queued.section if self.queued else "",
                "beat": self._beat, "bar_beat": self._bar_beat, "av_offset_ms": round(self.av_offset_ms, 1),
                "calibrate": self.calibration is not None,
                "calibration_taps": len(self.calibration.errors) if self.calibration else 0,
                "autopilot": bool(self.autopilot and self.autopilot.enabled),
                "plan": bool(self.plan and self.plan.driving),
                "plan_section": self.section if self.plan is not None and self.plan.driving else "",
                "fade": self.fade.to_black, "fade_level": round(self.fade.level(self._status_time), 3),
                "flash_limit": bool(getattr(self.renderer, "flash_limit", False)),
                "flash_limiting": self._status_time - last_touched <= HOLDING_S, "flash_limited_frames": touched,
                "layer": self._layer(), **track_status(s), **self._operator_status()}

    def _operator_status(self) -> dict[str, Any]:
        """What the operator's HUD shows beyond the rest: the bar count, the countdown to a queued
        switch or section (``due_beats``, ``due_s``, ``due_at`` on the show's clock, ``queued_unit``), the last command received
        with its source and when it came (the chain's values: :func:`chain_text`, for the HUD)."""
        t = self._status_time
        state = shifted(self.last_state, self.av_offset_ms)
        out: dict[str, Any] = {"bar": math.floor(state.bars_at(t))}
        if self.queued is not None:
            beats = self.queued.beats_left(state, t + self.frame_period)
            due = beats_to_seconds(beats, state.bpm)
            out.update(queued_unit=self.queued.unit, due_beats=round(beats, 2), due_s=round(due, 2),
                       due_at=round(t + due, 3))
        if self._last_command is not None:
            cmd, when = self._last_command
            what = cmd.origin or f"{cmd.name}{shown(cmd.args) if cmd.args else ''}"
            out.update(last_message=f"{cmd.source}: {what}"[:LAST_MESSAGE_CHARS], last_message_at=round(when, 3))
        return out

    def _layer(self) -> str:
        """The layer on screen: ``clip`` while the clip shows, else ``sd``."""
        clip = self.clip
        return "clip" if clip is not None and clip.showing == "clip" and not clip.source.error else "sd"

    def status(self) -> dict[str, Any]:
        """The newest status snapshot (preset, bpm, fps, ...). Safe to call from any thread."""
        return self._status.get()



def chain_text(renderer: Any) -> str:
    """The renderer's shader chain with its live parameter values: ``kaleido segments=6 | pulse amount=0.5``."""
    chain = getattr(renderer, "chain_values", None)
    if chain is None:
        return ""
    return " | ".join(name + "".join(f" {k}={v:.3g}" for k, v in params.items()) for name, params in chain())


def section_span(preset: Any, name: str) -> tuple[int, int]:
    """(first keyframe, count) of section ``name`` of ``preset``; UserError listing its sections."""
    g = preset.generation
    spans = {s["name"]: (s["start"], s["count"]) for s in g.section_spans()} if g.sections else {}
    if name not in spans:
        have = ", ".join(spans) or "none (the preset has no [[generation.sections]])"
        raise UserError(f"section {name!r} is not in preset {preset.name!r}; its sections: {have}")
    return spans[name]


def _seed_of(name: str) -> int:
    """A stable per-preset seed (Python's hash() is salted per process, so don't use it)."""
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little") % (2**31)


def track_status(state: AudioState) -> dict[str, Any]:
    """The recognised prepared track (``--set``) as status keys: ``track`` (its name, "" when none),
    ``track_position`` (s into its file), ``track_speed``, ``track_bar`` and ``track_phrase``."""
    t = state.track
    if t is None:
        return {"track": "", "track_position": 0.0, "track_speed": 0.0, "track_bar": 0, "track_phrase": 0}
    return {"track": t.name, "track_position": round(t.position, 2), "track_speed": round(t.speed, 4),
            "track_bar": t.bar, "track_phrase": t.phrase}
