"""MIDI control: a mapping file (TOML, schema-checked) from notes/CCs to commands, and an input
that survives the controller being unplugged.

Mapping file (``mappings/NAME.toml``)::

    device = "APC MINI"          # optional: input port to open (substring, case-insensitive)

    [[bind]]
    cc = 48                      # or note = 36 (exactly one of the two), 0..127
    channel = 1                  # optional, 1..16 as printed on controllers; omitted = any
    command = "shader_param"     # see BIND_COMMANDS
    name = "intensity"           # param key / shader uniform, for param and shader_param
    min = 0.0                    # CC/velocity 0..127 is scaled to min..max (continuous)
    max = 1.0
    # value = ...                # fixed value instead: preset name, keyframe index, bpm...
    # mode = "toggle"            # blackout/freeze/hold/lock: "toggle" or "direct"

Semantics per command:

* ``preset`` (``value`` = name), ``preset_next``, ``preset_prev``, ``tap``, ``resync``,
  ``jump``/``drop`` (``value`` = index), and anything with a fixed ``value``: triggers. A note
  fires on note-on; a CC fires when it crosses up through 64 (a button's 127 after 0).
* ``blackout``/``freeze``/``hold``/``lock``/``fade``: ``mode = "toggle"`` flips on each press
  (default for notes), ``mode = "direct"`` follows the control: note on/off, CC >= 64 is on
  (default for CCs). A ``fade`` binding's ``value`` is its length in beats (default: a bar).
* ``bpm``, ``nudge``, ``param``, ``shader_param`` without ``value``: continuous, the CC value
  (or note velocity) scaled to ``min..max`` (default: the command's fader span in
  :data:`live.control.commands.COMMANDS`). Fixed values and ``min``/``max`` must lie in the
  command's one valid range, the same that OSC and the show check.

``preset_next``/``preset_prev`` become ``Command("preset", ("+1",))`` / ``("-1",)``, the same
as OSC ``/preset/next`` and ``/preset/prev``.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import mido
import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from live import paths
from live.control.commands import COMMANDS, SHORTCUTS, TOGGLES, Arg, CommandSpec, ControlError, resolve
from live.control.midiport import MidiUnavailable, PolledInput, resolve_backend, rtmidi_api
from live.control.service import StoppableThread
from live.files import FileRefused, load_toml, read_text
from live.handoff import CommandQueue, LatestSlot
from live.messages import Command
from live.ratelog import RateLimitedLog
from live.visuals.shaders import describe, folder_params, merged

_LOGGER = logging.getLogger(__name__)


BIND_COMMANDS: tuple[str, ...] = tuple(COMMANDS) + tuple(SHORTCUTS)


def midi_origin(msg: mido.Message) -> str:
    """``msg`` in a few words for the operator's HUD: ``note_on ch10 36 127``, ``CC ch1 7 64``."""
    if msg.type == "control_change":
        return f"CC ch{msg.channel + 1} {msg.control} {msg.value}"
    if msg.type in ("note_on", "note_off"):
        return f"{msg.type} ch{msg.channel + 1} {msg.note} {msg.velocity}"
    return str(msg)[:60]


@dataclass(frozen=True)
class _Shape:
    """What a binding for one command gives: a fixed part, a name, a value or a fader range."""

    spec: CommandSpec
    fixed: tuple[Any, ...]  # arguments fixed by a shortcut (preset_next -> "+1")
    name: Arg | None  # param key / shader uniform, given as ``name``
    value: Arg | None  # the argument ``value`` (or a fader, or the toggle state) supplies

    @property
    def continuous(self) -> bool:
        """A number a fader can sweep (bpm, nudge, param, shader_param without a fixed value)."""
        return self.value is not None and self.value.type in ("float", "value") and self.spec.kind != "toggle"


def _shape(command: str) -> _Shape:
    spec, fixed = resolve(command)
    free = spec.args[len(fixed):]
    if spec.kind == "toggle":
        # The pad supplies the switch; a further argument (fade's length in beats) may be fixed by
        # the binding's ``value``.
        return _Shape(spec, fixed, None, free[1] if len(free) > 1 else None)
    free = tuple(a for a in free if not a.optional)  # a binding gives the required ones (section's "when" is the default)
    name = free[0] if len(free) == 2 else None
    return _Shape(spec, fixed, name, free[-1] if free else None)


_SHAPES = {name: _shape(name) for name in BIND_COMMANDS}
_NAMED = tuple(n for n, s in _SHAPES.items() if s.name is not None)
_CONTINUOUS = tuple(n for n, s in _SHAPES.items() if s.continuous)
# Ports that echo everything and are never a controller; skipped when no port is named.
_THROUGH = ("through",)


class Binding(BaseModel):
    """One control (a CC or a note, on one channel or any) bound to one command."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cc: int | None = Field(None, ge=0, le=127)
    note: int | None = Field(None, ge=0, le=127)
    channel: int | None = Field(None, ge=1, le=16)
    command: str
    name: str | None = None
    value: bool | int | float | str | None = None
    min: float | None = None
    max: float | None = None
    mode: Literal["toggle", "direct"] | None = None

    @model_validator(mode="after")
    def _check(self) -> "Binding":
        if (self.cc is None) == (self.note is None):
            raise ValueError("give exactly one of cc = 0..127 or note = 0..127")
        cmd = self.command
        if cmd not in BIND_COMMANDS:
            raise ValueError(f"command {cmd!r} is not one of {', '.join(BIND_COMMANDS)}")
        shape = _SHAPES[cmd]
        toggle = shape.spec.kind == "toggle"
        if self.mode is not None and not toggle:
            raise ValueError(f"mode is only for {', '.join(TOGGLES)}")
        if shape.name is not None:
            if self.name is None:
                raise ValueError(f"{cmd} needs name = a {shape.name.what}")
            try:
                shape.name.check(self.name)
            except ControlError as exc:
                raise ValueError(f"{cmd} needs name = a valid {shape.name.what}: {exc}") from None
        elif self.name is not None:
            raise ValueError(f"name is only for {', '.join(_NAMED)}, not {cmd}")
        if (self.min is None) != (self.max is None):
            raise ValueError("give both min and max, or neither")
        if self.min is not None and (not shape.continuous or self.value is not None):
            raise ValueError(f"min/max scale continuous controls ({', '.join(_CONTINUOUS)} without value)")
        if self.value is None and shape.value is not None and not (toggle or shape.continuous):
            raise ValueError(f"{cmd} needs value = {shape.value.what}")
        if self.value is not None and shape.value is None:
            raise ValueError(f"{cmd} takes no value")
        # One range per value: a fixed value and a fader's ends must all be valid commands.
        for key, v in (("value", self.value), ("min", self.min), ("max", self.max)):
            if v is not None and shape.value is not None:
                try:
                    shape.value.check(v, label=f"{key} =" if key != "value" else "")
                except ControlError as exc:
                    raise ValueError(f"{exc} for {cmd}") from None
        return self

    @property
    def key(self) -> tuple[str, int, int | None]:
        """(kind, number, channel) identifying the physical control; channel None = any."""
        return ("cc", self.cc, self.channel) if self.cc is not None else ("note", self.note, self.channel)  # type: ignore[return-value]

    def describe(self) -> str:
        """Short human label, e.g. ``cc 48 ch 1 -> shader_param intensity``."""
        kind, number, channel = self.key
        where = f"{kind} {number}" + (f" ch {channel}" if channel else "")
        what = " ".join(str(x) for x in (self.command, self.name, self.value) if x is not None)
        return f"{where} -> {what}"


class _MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    device: str | None = None
    bind: list[Binding] = []


def _first_error(exc: ValidationError, data: dict) -> str:
    err = exc.errors()[0]
    loc = [str(x) for x in err["loc"]]
    msg = err["msg"].removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "bind":
        index = int(loc[1])
        entry = data.get("bind", [])[index] if isinstance(data.get("bind"), list) else {}
        control = ", ".join(f"{k} = {entry[k]}" for k in ("cc", "note", "channel") if isinstance(entry, dict) and k in entry)
        key = f" key '{loc[2]}'" if len(loc) > 2 else ""
        return f"[[bind]] #{index + 1}{f' ({control})' if control else ''}{key}: {msg}"
    return f"key '{'.'.join(loc)}': {msg}"


def _checked_shader_param(b: Binding, params: dict[str, Any], shaders_dir: Path | str) -> Binding:
    """``b`` checked against the declared shader ``params`` when it is a ``shader_param``
    binding (ControlError: the name is not declared, or a value outside its range), a fader
    with no min/max given the declared range; any other binding as it is."""
    if b.command != "shader_param":
        return b
    param = params.get(str(b.name))
    if param is None:
        raise ControlError(f"{b.name} is not a parameter of any shader in {shaders_dir}; declared: {describe(params)}")
    for key, v in (("value", b.value), ("min", b.min), ("max", b.max)):
        if v is not None and not param.low <= float(v) <= param.high:
            raise ControlError(f"{key} = {v} is outside {b.name}'s range {param.range}")
    if b.value is None and b.min is None:
        return b.model_copy(update={"min": param.low, "max": param.high})
    return b


class MidiMapping:
    """Bindings from MIDI controls to commands, loaded from a TOML mapping file.

    Toggle state and CC edge detection live here, so one mapping must be used by one thread
    at a time (the MIDI input owns it once started).
    """

    def __init__(self, bindings: list[Binding] | tuple[Binding, ...] = (), device: str | None = None,
                 path: Path | str | None = None, shaders_dir: Path | str | None = None) -> None:
        self.bindings: tuple[Binding, ...] = tuple(bindings)
        self.device = device
        self.path = Path(path) if path is not None else None
        # The shader folder the shader_param bindings were checked against; a binding added
        # later (MIDI learn) is checked against it too.
        self.shaders_dir = shaders_dir
        self._lookup: dict[tuple[str, int, int | None], Binding] = {}
        for i, b in enumerate(self.bindings):
            if b.key in self._lookup:
                where = f"{self.path}: " if self.path else ""
                raise ControlError(f"{where}[[bind]] #{i + 1} ({b.describe()}) uses the same control as "
                                   f"({self._lookup[b.key].describe()}); give each control one command")
            self._lookup[b.key] = b
        self._toggles: dict[tuple[str, int, int | None], bool] = {}
        self._last_cc: dict[tuple[int, int], int] = {}

    @classmethod
    def load(cls, path: Path | str, shaders_dir: Path | str | None = None) -> "MidiMapping":
        """Read and validate a mapping file; ControlError naming the file, entry and key if bad.

        With ``shaders_dir``, ``shader_param`` bindings are also checked against the parameters
        the shaders there declare (see :meth:`checked_shader_params`)."""
        path = Path(path)
        try:
            data = load_toml(path)  # regular files only, size-checked: a FIFO or a huge file is refused, never read
        except FileNotFoundError:
            raise ControlError(f"MIDI mapping {path} does not exist; see mappings/generic.toml for an example") from None
        except FileRefused as exc:
            raise ControlError(f"MIDI mapping {path} {exc}") from None
        try:
            parsed = _MappingFile.model_validate(data)
        except ValidationError as exc:
            raise ControlError(f"MIDI mapping {path}: {_first_error(exc, data)}") from None
        mapping = cls(parsed.bind, parsed.device, path)
        return mapping if shaders_dir is None else mapping.checked_shader_params(shaders_dir)

    def checked_shader_params(self, shaders_dir: Path | str) -> "MidiMapping":
        """This mapping with every ``shader_param`` binding checked against the parameters the
        shaders in ``shaders_dir`` declare (``// @param LOW..HIGH``): the name must be declared and
        a fixed value or a fader's min/max inside its range; a fader with no min/max sweeps the
        declared range. ControlError names the file, the binding and the range."""
        params = merged(folder_params(shaders_dir))
        where = f"MIDI mapping {self.path}: " if self.path else ""
        out = []
        for i, b in enumerate(self.bindings):
            try:
                out.append(_checked_shader_param(b, params, shaders_dir))
            except ControlError as exc:
                raise ControlError(f"{where}[[bind]] #{i + 1} ({b.describe()}): {exc}") from None
        return MidiMapping(out, self.device, self.path, shaders_dir)

    def find(self, msg: mido.Message) -> Binding | None:
        """The binding for the control that sent ``msg`` (exact channel first, then any channel)."""
        if msg.type == "control_change":
            kind, number = "cc", msg.control
        elif msg.type in ("note_on", "note_off"):
            kind, number = "note", msg.note
        else:
            return None
        return self._lookup.get((kind, number, msg.channel + 1)) or self._lookup.get((kind, number, None))

    def to_command(self, msg: mido.Message, received: float | None = None,
                   current: Callable[[str], bool | None] | None = None) -> Command | None:
        """The command ``msg`` asks for (``source="midi"``), or None if unbound or nothing to do.

        ``current(name)``, when given, returns the show's present value of a toggle (None if
        unknown); a toggle pad then flips that instead of its own memory, so it stays right
        after the same toggle was changed from OSC or another pad."""
        binding = self.find(msg)
        if binding is None:
            return None
        when = time.perf_counter() if received is None else received
        is_cc = msg.type == "control_change"
        if is_cc:
            raw = msg.value
            previous = self._last_cc.get((msg.channel, msg.control), 0)
            self._last_cc[(msg.channel, msg.control)] = raw
            pressed = raw >= 64 and previous < 64
            released = raw < 64 and previous >= 64
            on = raw >= 64
        else:
            raw = msg.velocity if msg.type == "note_on" else 0
            pressed = raw > 0
            released = raw == 0
            on = pressed
        shape = _SHAPES[binding.command]
        origin = midi_origin(msg)

        def make(*args: Any) -> Command:
            return Command(shape.spec.name, shape.fixed + tuple(args), source="midi", received=when, origin=origin)

        named = (binding.name,) if binding.name else ()
        if shape.spec.kind == "toggle":
            fixed = () if binding.value is None else (shape.value.check(binding.value),)  # type: ignore[union-attr]
            mode = binding.mode or ("direct" if is_cc else "toggle")
            if mode == "direct":
                if not (pressed or released):
                    return None  # a fader moving within one half changes nothing
                return make(on, *fixed)
            if not pressed:
                return None
            now_on = current(shape.spec.name) if current is not None else None
            state = not (self._toggles.get(binding.key, False) if now_on is None else now_on)
            self._toggles[binding.key] = state
            return make(state, *fixed)
        if shape.continuous and binding.value is None:
            if not is_cc and not pressed:
                return None  # note-off carries no useful velocity
            lo, hi = (binding.min, binding.max) if binding.min is not None else shape.value.fader_span  # type: ignore[union-attr]
            return make(*named, lo + (hi - lo) * raw / 127.0)
        if not pressed:
            return None
        if binding.value is None:
            return make(*named)
        return make(*named, shape.value.check(binding.value))  # type: ignore[union-attr]

    def with_binding(self, binding: Binding, shaders_dir: Path | str | None = None) -> "MidiMapping":
        """A new mapping with ``binding`` added, replacing any binding on the same control; a
        ``shader_param`` binding is checked against ``shaders_dir`` (default :attr:`shaders_dir`)
        first (ControlError), and a fader then sweeps the declared range, as in a loaded file."""
        shaders_dir = self.shaders_dir if shaders_dir is None else shaders_dir
        if shaders_dir is not None and binding.command == "shader_param":
            binding = _checked_shader_param(binding, merged(folder_params(shaders_dir)), shaders_dir)
        kept = [b for b in self.bindings if b.key != binding.key]
        out = MidiMapping(kept + [binding], self.device, self.path, self.shaders_dir)
        # Learning mid-show must not reset the other pads' toggle states or CC edges.
        out._toggles = {k: v for k, v in self._toggles.items() if k != binding.key}
        out._last_cc = dict(self._last_cc)
        return out

    def save(self, path: Path | str | None = None) -> Path:
        """Write the mapping atomically (temp file + rename), keeping the comments of the file
        already there; returns the path written."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ControlError("MIDI mapping has no file to save to; pass a path")
        try:
            doc = tomlkit.parse(read_text(target))
        except FileNotFoundError:
            doc = tomlkit.document()
        except Exception as exc:  # the file was edited into something unreadable since load
            raise ControlError(f"MIDI mapping {target} cannot be re-read for saving: {exc}") from None
        if self.device is not None:
            doc["device"] = self.device
        existing = doc.get("bind")
        wanted = {b.key: b for b in self.bindings}
        table = tomlkit.aot()
        # Keep existing entries (and their comments) that are still wanted, in file order.
        if existing is not None:
            for entry in existing:
                try:
                    old = Binding.model_validate(entry.unwrap())
                except ValidationError:
                    continue
                if wanted.get(old.key) == old:
                    table.append(entry)
                    del wanted[old.key]
        for b in wanted.values():
            item = tomlkit.table()
            for k, v in b.model_dump(exclude_none=True).items():
                item[k] = v
            table.append(item)
        doc["bind"] = table
        text = tomlkit.dumps(doc)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return target


# ---------------------------------------------------------------------------------------------


def list_midi_inputs(backend: mido.Backend | str | None = None) -> list[str]:
    """Names of the MIDI inputs the backend sees; [] with a logged reason when none is usable."""
    try:
        return list(resolve_backend(backend).get_input_names())
    except MidiUnavailable as exc:  # says itself what is missing and how to use JACK
        _LOGGER.warning("no MIDI inputs: %s", exc)
        return []
    except Exception as exc:  # rtmidi raises its own SystemError when ALSA/JACK is absent
        _LOGGER.warning("no MIDI inputs: the MIDI backend is not available (%s)", str(exc).strip() or type(exc).__name__)
        return []


class InputNames:
    """Lists the MIDI inputs again and again, as the supervisors do, through one long-lived
    rtmidi client where the backend is rtmidi. mido's ``get_input_names`` opens and closes two
    clients per call, and on JACK each one reorders the graph, which drops the events of that
    period: a controller polled every second lost a CC now and then on a busy machine."""

    def __init__(self, backend: mido.Backend | str | None = None) -> None:
        self._backend = backend
        self._client: Any = None

    def __call__(self) -> list[str]:
        """The input names now; raises what the backend raises when it is unavailable."""
        api = rtmidi_api(self._backend)
        if api is None:
            return list(resolve_backend(self._backend).get_input_names())
        if self._client is None:
            import rtmidi  # python-rtmidi, mido's rtmidi backend's own dependency

            self._client = rtmidi.MidiIn(rtapi=api)
        try:
            return list(self._client.get_ports())
        except Exception:
            self.close()  # a MIDI system that went away: a new client next time
            raise

    def close(self) -> None:
        """Close the client; the next call opens a new one. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.delete()


def pick_port(names: list[str], wanted: str | None) -> str | None:
    """The first port whose name contains ``wanted`` (case-insensitive); with no ``wanted``, the
    first that is not a MIDI Through port. None when nothing fits."""
    if wanted:
        hits = [n for n in names if wanted.lower() in n.lower()]
    else:
        hits = [n for n in names if not any(t in n.lower() for t in _THROUGH)]
    return hits[0] if hits else None


def monitor(mapping: MidiMapping, wanted: str | None = None, backend: mido.Backend | str | None = None,
            seconds: float | None = None, on_open: Callable[[str], None] | None = None
            ) -> Iterator[tuple[mido.Message, Command | None]]:
    """Each message from the input ``wanted`` (see :func:`pick_port`) with the command ``mapping``
    makes of it (None when unbound), until ``seconds`` pass (forever without). ``on_open`` is
    told the port's name once it is open; ControlError names the ports when none fits."""
    names = list_midi_inputs(backend)
    name = pick_port(names, wanted)
    if name is None:
        raise ControlError(f"MIDI input {wanted or '(any)'!r} not found; available: {names or 'none'}")
    deadline = None if seconds is None else time.monotonic() + seconds
    port = PolledInput(name, backend)
    try:
        if on_open is not None:
            on_open(name)
        while deadline is None or time.monotonic() < deadline:
            for msg, received in port.pending():
                yield msg, mapping.to_command(msg, received)
            time.sleep(0.005)
    finally:
        port.close()


@dataclass(frozen=True)
class LearnRequest:
    """What the next incoming control should be bound to (the control itself comes from MIDI)."""

    command: str
    name: str | None = None
    value: bool | int | float | str | None = None
    min: float | None = None
    max: float | None = None
    mode: str | None = None

    def bind(self, msg: mido.Message, omni: bool = False) -> Binding:
        """The binding for this request on the control that sent ``msg``."""
        fields = {k: v for k, v in self.__dict__.items() if v is not None}
        control = {"cc": msg.control} if msg.type == "control_change" else {"note": msg.note}
        return Binding(**fields, **control, channel=None if omni else msg.channel + 1)


class MidiInput:
    """Opens a MIDI input by name substring and turns its messages into commands.

    Messages are read by the port's reader thread (:class:`~live.control.midiport.PolledInput`,
    never the backend's callback: on JACK that dropped events whenever the GIL was busy) and go
    straight into ``commands`` (put never blocks), each with its arrival time. A supervisor
    thread checks once per ``retry_interval`` that the port still exists; when the controller is
    unplugged it logs once, closes the port and reopens it when it comes back. ``port=None`` uses
    the mapping's ``device``, else the first non-Through input. ``status`` (the same callable the
    OSC server gets) lets toggle pads flip the show's actual blackout/freeze/... state; it is
    called on the MIDI thread only when a toggle is pressed. Nothing one message provokes escapes
    the handler: each problem is logged through a :class:`live.ratelog.RateLimitedLog`, and the
    next message is read.
    """

    def __init__(self, commands: CommandQueue[Command], port: str | None, mapping: MidiMapping,
                 backend: mido.Backend | str | None = None, retry_interval: float = 1.0,
                 status: Callable[[], dict] | None = None) -> None:
        self._commands = commands
        self._wanted = port if port is not None else mapping.device
        self._mapping = mapping  # used only under _handle_lock, by the reader thread
        # What a learned shader_param binding is checked against: always some shaders folder (the
        # mapping's, else live.paths' rule), so no caller (CLI learn, OSC /learn) can skip the check
        # and save a name the next `live` refuses.
        self._shaders_dir = mapping.shaders_dir if mapping.shaders_dir is not None else paths.shaders_dir()
        self._backend = backend
        self._names = InputNames(backend)  # used only by the supervisor thread
        self._status = status
        self.retry_interval = retry_interval
        self._port: Any = None
        self._handle_lock = threading.Lock()  # one message at a time, even across a reconnect
        self._runner = StoppableThread(self._supervise, "midi", join_s=5.0)
        self._stop = self._runner.stopping  # what the thread watches
        self._learn: LatestSlot[LearnRequest] = LatestSlot()
        self.learned: LatestSlot[Binding] = LatestSlot()  # each binding made by learn mode
        self.connected: LatestSlot[str] = LatestSlot()  # name of the open port, "" when none
        self.received = 0
        self._problems = RateLimitedLog(_LOGGER)  # both threads report here; it has its own lock
        self._notes = RateLimitedLog(_LOGGER, level=logging.INFO, noun="event(s)")  # learn armed: /learn may flood

    @property
    def failed(self) -> int:
        """How many messages could not be handled (or supervisor rounds failed) so far."""
        return self._problems.count

    def start(self) -> None:
        """Start the supervisor thread, which opens the port now and whenever it reappears."""
        self._runner.start()

    def stop(self) -> None:
        """Close the port and stop the supervisor; safe to call twice."""
        self._runner.stop()
        self._close()
        self._names.close()
        self._problems.flush()

    def __enter__(self) -> "MidiInput":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def learn(self, command: str, *, name: str | None = None, value: Any = None, min: float | None = None,
              max: float | None = None, mode: str | None = None) -> None:
        """Arm learn mode: the next CC or note-on received is bound to this command (replacing
        that control's old binding), used at once and saved to the mapping file atomically.
        ControlError now if the command and its fields would not make a valid binding."""
        request = LearnRequest(command, name, value, min, max, mode)
        try:  # validate in the caller's thread, the shader parameter against the declarations too
            MidiMapping().with_binding(request.bind(mido.Message("control_change", control=0)), self._shaders_dir)
        except ValidationError as exc:
            raise ControlError(f"MIDI learn {command}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        except ControlError as exc:
            raise ControlError(f"MIDI learn {command}: {exc}") from None
        self._learn.put(request)
        self._notes.report(f"learn:{command}", f"MIDI learn: move or press a control to bind it to {command}")

    def learn_from_osc(self, args: tuple) -> str:
        """Arm learn mode from OSC ``/learn COMMAND [name] [value]`` (``name`` only for param and
        shader_param); the command name. ControlError, in one line, for anything else."""
        if not args or not isinstance(args[0], str) or args[0] not in BIND_COMMANDS:
            raise ControlError(f"expected a command ({', '.join(BIND_COMMANDS)}), then its name or value; "
                               f"got {args!r:.80}")
        rest = list(args[1:])
        name = rest.pop(0) if _SHAPES[args[0]].name is not None and rest else None
        if len(rest) > 1:
            raise ControlError(f"/learn {args[0]}: too many arguments {args!r:.80}")
        self.learn(args[0], name=name, value=rest[0] if rest else None)
        return args[0]

    @property
    def learning(self) -> str:
        """The command learn mode is armed for ("" when not learning); safe from any thread."""
        request = self._learn.get()
        return request.command if request is not None else ""

    # --- supervisor thread ---------------------------------------------------------------

    def _supervise(self) -> None:
        missing_logged = False
        failures = 0  # consecutive backend failures: back off so a missing ALSA/JACK doesn't spam
        while not self._stop.is_set():
            error = None
            try:
                try:
                    names = self._names()
                except Exception as exc:
                    names, error = [], str(exc).strip() or type(exc).__name__
                if self._port is not None and self._port.name not in names:
                    _LOGGER.warning("MIDI input %r disappeared; will reopen it when it comes back", self._port.name)
                    self._close()
                    missing_logged = True
                if self._port is None:
                    name = pick_port(names, self._wanted)
                    if name is not None:
                        try:
                            self._open(name)
                            missing_logged = False
                        except Exception as exc:
                            if not missing_logged:
                                _LOGGER.warning("MIDI input %r cannot be opened (%s); retrying every %.0f s",
                                                name, exc, self.retry_interval)
                                missing_logged = True
                    elif not missing_logged:
                        why = f"MIDI backend unavailable: {error}" if error else f"available: {names or 'none'}"
                        _LOGGER.warning("MIDI input %s not found (%s); retrying every %.0f s or so",
                                        repr(self._wanted) if self._wanted else "(any)", why, self.retry_interval)
                        missing_logged = True
            except Exception as exc:  # a bug in one round must not end the supervisor: log, try again later
                error = repr(exc)
                self._problems.report("supervisor", "MIDI input check failed; retrying", exc_info=True)
            failures = failures + 1 if error else 0
            self._stop.wait(min(self.retry_interval * 2 ** min(failures, 5), max(self.retry_interval, 30.0)))

    def _open(self, name: str) -> None:
        self._port = PolledInput(name, self._backend, handler=self._on_message, thread_name="midi-in")
        self.connected.put(name)
        _LOGGER.info("MIDI input %r open", name)

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except Exception as exc:  # closing a vanished device may fail; it is gone either way
                _LOGGER.debug("closing MIDI input %r: %s", port.name, exc)
            self.connected.put("")

    # --- reader thread -------------------------------------------------------------------

    def _on_message(self, msg: mido.Message, received: float | None = None) -> None:
        received = time.perf_counter() if received is None else received
        try:
            with self._handle_lock:
                self._handle(msg, received)
        except Exception as exc:  # a bug here must not reach the reader thread
            try:
                text = str(msg)[:80]
            except Exception:  # not even printable: name its type
                text = type(msg).__name__
            self._problems.report(f"message:{type(exc).__name__}", f"MIDI message {text} could not be handled: {exc!r}",
                                  exc_info=True)

    def _handle(self, msg: mido.Message, received: float) -> None:
        if msg.type == "control_change" or (msg.type == "note_on" and msg.velocity > 0):
            request = self._learn.take(timeout=0)
            if request is not None:
                self._learn_from(request, msg)
                return
        command = self._mapping.to_command(msg, received, self._current if self._status else None)
        if command is not None:
            self.received += 1
            self._commands.put(command)

    def _current(self, name: str) -> bool | None:
        try:
            value = self._status()  # type: ignore[misc]
        except Exception as exc:  # the show's snapshot failed: fall back to the pad's own memory
            _LOGGER.debug("status for toggle %s unavailable: %s", name, exc)
            return None
        value = value.get(name) if isinstance(value, dict) else None
        return value if isinstance(value, bool) else None

    def _learn_from(self, request: LearnRequest, msg: mido.Message) -> None:
        try:
            binding = request.bind(msg)
            mapping = self._mapping.with_binding(binding, self._shaders_dir)
        except ValidationError as exc:
            _LOGGER.warning("MIDI learn failed: %s", exc.errors()[0]["msg"])
            return
        except ControlError as exc:  # the shaders changed since learn mode was armed
            _LOGGER.warning("MIDI learn failed: %s", exc)
            return
        self._mapping = mapping
        binding = next(b for b in mapping.bindings if b.key == binding.key)  # with the declared range
        where = "not saved: mapping has no file"
        if self._mapping.path is not None:
            try:
                where = f"saved to {self._mapping.save()}"
            except (OSError, ControlError) as exc:
                where = f"NOT saved: {exc}"
        _LOGGER.info("MIDI learn: %s (%s)", binding.describe(), where)
        self.learned.put(binding)


def learn_binding(mapping: MidiMapping, command: str, wanted: str | None = None, *, timeout: float = 60.0,
                  backend: mido.Backend | str | None = None, on_armed: Callable[[], None] | None = None,
                  **binding: Any) -> Binding | None:
    """Open the input ``wanted``, bind the next control moved to ``command`` (``binding``: name,
    value, min, max, mode as for :meth:`MidiInput.learn`, checked first: ControlError) and save
    it in the mapping's file; the binding, or None when nothing came within ``timeout`` seconds
    (mapping unchanged). ``on_armed`` is called once the request is accepted."""
    midi = MidiInput(CommandQueue(), wanted, mapping, backend=backend)
    midi.learn(command, **binding)
    if on_armed is not None:
        on_armed()
    with midi:
        deadline = time.monotonic() + timeout
        while midi.learned.get() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    return midi.learned.get()
