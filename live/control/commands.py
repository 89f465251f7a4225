"""The command table: every control command the show understands, declared once.

Each :class:`CommandSpec` names the command, its arguments (:class:`Arg`: type, valid range,
MIDI fader span), its kind (toggle, trigger, value), which part of the show carries it out, and
a one-line description. :data:`OSC_FORMS` lists the OSC addresses that reach each command.
OSC parsing, MIDI mapping validation, the show's own check (:func:`validate`) and the README's
OSC table (:func:`osc_reference_markdown`) all read this module, so each range is written here
and nowhere else.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from live.errors import UserError
from live.messages import Command
from live.visuals.shaders import FRAME_UNIFORMS

MAX_KEYFRAME_INDEX = 100_000  # far above any real bank; only guards against nonsense like 1e12
MAX_STRING = 200
MAX_CLIP_EVERY = 64.0  # beats between clip cuts: 16 bars
# What a name argument may be, written once for OSC, MIDI files, /learn and the show's own check.
# Parameter keys are the preset keys that change live: ``motion.NAME`` or ``look.params.UNIFORM``
# (a name that starts with "_" is nobody's setting: ``__class__`` is refused here). Shader
# uniforms are plain GLSL identifiers. A preset is a file stem of presets/NAME.toml (the preset
# loader's own rule: no "/", no leading "."), or "+1"/"-1" for the next or previous one.
_PATTERNS = {
    "key": (re.compile(r"(motion\.[A-Za-z][A-Za-z0-9_]*|look\.params\.[A-Za-z][A-Za-z0-9_]*)", re.ASCII),
            "motion.NAME or look.params.NAME; letters, digits, _"),
    "uniform": (re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII), "letters, digits, _"),
    "preset": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*|[+-]1", re.ASCII),
               "a file stem of presets/NAME.toml: letters, digits, '-', '_', '.'"),
}
_DIGITS = re.compile(r"[0-9]{1,9}", re.ASCII)  # an index written in text: ASCII digits only, never '²' or '٣'


def parse_index(text: str, what: str = "keyframe index") -> int:
    """``text`` (e.g. the ``5`` of ``/jump/5``) as a whole number, ASCII digits only.

    The one rule for numbers written in addresses: ``str.isdigit`` is true for ``'²'``, which
    ``int`` then refuses, and ``int`` also takes ``'٣'``, ``' 5'`` and ``'1_0'``. ControlError
    (one line) for anything but 1..9 ASCII digits; the range is the caller's check."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        raise ControlError(f"expected a {what} in digits 0-9, got {text!r:.40}")
    return int(text)
# What each argument type accepts, for "expected ..." messages and the README's args column.
_ACCEPTS = {"choice": "string", "preset": "string", "name": "string", "key": "string", "uniform": "string",
            "index": "int", "float": "number", "switch": "0/1, 0.0..1.0 or bool", "value": "number, string or bool"}
_OSC_TYPE = {"choice": "s", "preset": "s name", "name": "s name", "key": "s key", "uniform": "s name", "index": "i index",
             "float": "f",
             "switch": "i\\|f\\|T/F", "value": "value"}


class ControlError(UserError):
    """A control message (OSC, MIDI or internal) or mapping file that cannot be used; one line, names it."""


ArgType = Literal["choice", "preset", "name", "key", "uniform", "index", "float", "switch", "value"]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Arg:
    """One argument of a command: its type, what it is, and for numbers the valid range.

    ``span`` is the default MIDI fader span where it differs from the valid range (a bpm fader
    covers 60..180 by default, but any bpm in 20..300 is valid). ``optional`` arguments may be
    left out of an internal command (a toggle with no argument flips).
    """

    type: ArgType
    what: str
    lo: float | None = None
    hi: float | None = None
    span: tuple[float, float] | None = None
    optional: bool = False
    choices: tuple[str, ...] = ()  # the words a "choice" argument accepts

    @property
    def expects(self) -> str:
        """What the argument is and accepts, e.g. ``tempo in BPM (number)``."""
        return f"{self.what} ({_ACCEPTS[self.type]})"

    @property
    def fader_span(self) -> tuple[float, float]:
        """Default min..max a MIDI fader or velocity is scaled to."""
        if self.span is not None:
            return self.span
        if self.lo is not None and self.hi is not None:
            return (self.lo, self.hi)
        return (0.0, 1.0)

    @property
    def osc_type(self) -> str:
        """The README's args column for this argument, e.g. ``f 20..300``."""
        text = _OSC_TYPE[self.type]
        if self.choices:
            return text + " " + "\\|".join(self.choices)
        return f"{text} {self.lo:g}..{self.hi:g}" if self.lo is not None and self.hi is not None else text

    def check(self, value: Any, label: str = "") -> Any:
        """``value`` converted to this argument's type; ControlError (no address) if it does not fit.

        ``label`` names the value in range messages (default ``value``, or ``keyframe index``).
        """
        label = label or ("keyframe index" if self.type == "index" else "value")
        if self.type == "switch":
            return value if isinstance(value, bool) else self._number(value, label) >= 0.5
        if self.type == "float":
            return self._number(value, label)
        if self.type == "index":
            return self._index(value, label)
        if self.type == "value":
            return self._param_value(value, label)
        if self.type == "choice":
            return self._choice(value)
        return self._string(value)

    def _number(self, value: Any, label: str) -> float:
        if not _is_number(value):
            raise ControlError(f"expected a number, got {type(value).__name__} {value!r:.40}")
        out = float(value)
        if not math.isfinite(out):
            raise ControlError(f"{label} {value} is not finite")
        if self.lo is not None and self.hi is not None and not self.lo <= out <= self.hi:
            raise ControlError(f"{label} {value} out of range {self.lo:g}..{self.hi:g}")
        return out

    def _index(self, value: Any, label: str) -> int:
        if not _is_number(value):
            raise ControlError(f"expected a keyframe index (int), got {type(value).__name__} {value!r:.40}")
        if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
            raise ControlError(f"keyframe index must be a whole number, got {value!r}")
        out = int(value)
        if not 0 <= out <= MAX_KEYFRAME_INDEX:
            raise ControlError(f"{label} {out} out of range 0..{MAX_KEYFRAME_INDEX}")
        return out

    def _param_value(self, value: Any, label: str) -> float | int | str | bool:
        if isinstance(value, float):
            return self._number(value, label)
        if isinstance(value, int):  # bool included: a preset switch like look.flip
            return value
        if isinstance(value, str) and len(value) <= MAX_STRING:
            return value
        raise ControlError(f"parameter value must be a number, string or bool, got {type(value).__name__}")

    def _choice(self, value: Any) -> str:
        if not isinstance(value, str) or value not in self.choices:
            raise ControlError(f"{self.what} must be one of {', '.join(self.choices)}, got {value!r:.40}")
        return value

    def _string(self, value: Any) -> str:
        if not isinstance(value, str):
            raise ControlError(f"expected {self.what} (string), got {type(value).__name__} {value!r:.40}")
        if not value.strip() or len(value) > MAX_STRING:
            raise ControlError(f"{self.what} must be 1..{MAX_STRING} characters, got {value!r:.60}")
        if self.type in _PATTERNS:
            pattern, allowed = _PATTERNS[self.type]
            if not pattern.fullmatch(value):
                raise ControlError(f"{self.what} {value!r:.60} is not a valid name ({allowed})")
        if self.type == "uniform" and value in FRAME_UNIFORMS:
            # Refused here, before the show: OSC, MIDI files and the show all check through this.
            raise ControlError(f"{value} is driven by the show each frame; a controller cannot set it")
        return value


Kind = Literal["toggle", "trigger", "value"]
Target = Literal["show", "clock", "traversal", "layer"]


@dataclass(frozen=True)
class CommandSpec:
    """One command: its arguments, kind, who carries it out (``target``) and what it does."""

    name: str
    kind: Kind
    target: Target
    args: tuple[Arg, ...]
    description: str


def _toggle(name: str, target: Target, description: str) -> CommandSpec:
    return CommandSpec(name, "toggle", target, (Arg("switch", "value", optional=True),), description)


_INDEX = Arg("index", "keyframe index")

COMMANDS: dict[str, CommandSpec] = {c.name: c for c in (
    CommandSpec("preset", "value", "show", (Arg("preset", "preset name"),), "switch preset"),
    _toggle("blackout", "show", "black output"),
    _toggle("freeze", "show", "freeze the picture"),
    _toggle("hold", "traversal", "stay on the current keyframe"),
    _toggle("lock", "clock", "lock the tempo"),
    CommandSpec("fade", "toggle", "show", (Arg("switch", "value", optional=True),
                                           Arg("float", "length in beats", 0.0, 64.0, span=(0.0, 16.0), optional=True)),
                "soft blackout: fade to black, or back, over N beats (a bar if left out)"),
    CommandSpec("jump", "value", "traversal", (_INDEX,), "go to keyframe now"),
    CommandSpec("drop", "value", "traversal", (_INDEX,), "go to keyframe on the next downbeat"),
    CommandSpec("tap", "trigger", "clock", (), "tap tempo"),
    CommandSpec("resync", "trigger", "clock", (), '"this is the downbeat"'),
    CommandSpec("bpm", "value", "clock", (Arg("float", "tempo in BPM", 20.0, 300.0, span=(60.0, 180.0)),),
                "manual tempo"),
    CommandSpec("nudge", "value", "clock", (Arg("float", "fraction of a beat", -0.5, 0.5),),
                "shift the beat by a fraction of a beat"),
    CommandSpec("param", "value", "show", (Arg("key", "parameter key"), Arg("value", "value")),
                "preset parameter (motion.* or look.params.*)"),
    CommandSpec("shader_param", "value", "show", (Arg("uniform", "uniform"), Arg("float", "uniform value")),
                "shader param declared in shaders/*.glsl, within its range"),
    CommandSpec("layer", "value", "layer", (Arg("choice", "layer", choices=("sd", "clip", "toggle")),),
                "show the SD layer or the `--clip` video, or toggle"),
    CommandSpec("clip_every", "value", "layer", (Arg("float", "beats between cuts", 0.0, MAX_CLIP_EVERY, span=(0.0, 16.0)),),
                "cut between the SD layer and the clip every N beats (0: only on command)"),
    CommandSpec("section", "value", "show", (Arg("name", "section name"),
                                             Arg("choice", "when", optional=True, choices=("now", "beat", "bar", "phrase"))),
                "jump to a section of the preset on the next bar (phrase if the preset quantizes to phrases), "
                "or when asked: `now` (a song plan's cue, already on its downbeat), next `beat`, `bar` or `phrase`"),
    CommandSpec("av_offset", "value", "show", (Arg("float", "offset in ms", -1000.0, 1000.0, span=(-250.0, 250.0)),),
                "audio-to-visual offset: > 0 shows the beat later (the room hears it late)"),
    _toggle("calibrate", "show", "calibration: tap 8 beats along with what you hear; sets av_offset"),
    _toggle("autopilot", "show", "autopilot: switch presets by itself; any manual choice turns it off"),
)}


@dataclass(frozen=True)
class Shortcut:
    """A name for a command with fixed arguments (MIDI ``preset_next``, OSC ``/preset/next``)."""

    name: str
    command: str
    args: tuple[Any, ...]
    description: str


SHORTCUTS: dict[str, Shortcut] = {s.name: s for s in (
    Shortcut("preset_next", "preset", ("+1",), "next preset in the bank"),
    Shortcut("preset_prev", "preset", ("-1",), "previous preset in the bank"),
    Shortcut("layer_sd", "layer", ("sd",), "show the SD layer"),
    Shortcut("layer_clip", "layer", ("clip",), "show the clip"),
    Shortcut("layer_toggle", "layer", ("toggle",), "switch between the SD layer and the clip"),
)}

TOGGLES: tuple[str, ...] = tuple(n for n, c in COMMANDS.items() if c.kind == "toggle")


@dataclass(frozen=True)
class KeyBinding:
    """Keys of the output and operator windows that send one command or shortcut (toggles flip:
    no argument), or do one of the window's own :data:`WINDOW_ACTIONS`.

    Keys are pyglet key names (``pyglet.window.key.symbol_string``), ``CTRL+`` in front when Ctrl
    is held; ``label`` is how the key table shows them."""

    keys: tuple[str, ...]
    command: str
    label: str
    description: str = ""

    @property
    def does(self) -> str:
        """What the keys do, in words."""
        if self.description:
            return self.description
        return SHORTCUTS[self.command].description if self.command in SHORTCUTS else COMMANDS[self.command].description


# The window's own actions: they never reach the show's command queue.
WINDOW_ACTIONS: dict[str, str] = {"hud": "HUD on/off (opens the operator window if there is none)",
                                  "quit": "quit the show (Ctrl+Q, or Esc twice within 1 s)"}

KEYS: tuple[KeyBinding, ...] = (
    KeyBinding(("RIGHT", "PAGEDOWN"), "preset_next", "Right / PgDn"),
    KeyBinding(("LEFT", "PAGEUP"), "preset_prev", "Left / PgUp"),
    KeyBinding(("B",), "blackout", "B", "black output (toggle)"),
    KeyBinding(("F",), "freeze", "F", "freeze the picture (toggle)"),
    KeyBinding(("H",), "hold", "H", "stay on the current keyframe (toggle)"),
    KeyBinding(("SPACE", "T"), "tap", "Space / T"),
    KeyBinding(("R",), "resync", "R", '"this is the downbeat"'),
    KeyBinding(("TAB",), "hud", "Tab", WINDOW_ACTIONS["hud"]),
    KeyBinding(("CTRL+Q", "ESCAPE"), "quit", "Ctrl+Q / Esc Esc", WINDOW_ACTIONS["quit"]),
)
KEY_ACTIONS: dict[str, str] = {key: b.command for b in KEYS for key in b.keys}  # key name -> command or action


def keyboard_command(name: str) -> Command | None:
    """The command (source ``keyboard``) for a command or shortcut name of the key table; None
    for a window action or an unknown name."""
    if name in WINDOW_ACTIONS or (name not in COMMANDS and name not in SHORTCUTS):
        return None
    spec, args = resolve(name)
    return Command(spec.name, args, source="keyboard")


def key_command(key: str) -> Command | None:
    """The command a key sends to the show, or None for an unbound key or a window action."""
    return keyboard_command(KEY_ACTIONS.get(key, ""))


def key_reference_lines() -> list[str]:
    """The key table as short lines (``B  black output (toggle)``) for ``live --help`` and the HUD."""
    width = max(len(b.label) for b in KEYS)
    return [f"{b.label:<{width}}  {b.does}" for b in KEYS]


def key_reference_markdown() -> str:
    """The README's key table (markdown)."""
    rows = [f"| {b.label} | {b.does} |" for b in KEYS]
    return "\n".join(["| key | does |", "|---|---|", *rows]) + "\n"


def resolve(name: str) -> tuple[CommandSpec, tuple[Any, ...]]:
    """The spec for a command or shortcut name, and the arguments the shortcut fixes; KeyError if unknown."""
    shortcut = SHORTCUTS.get(name)
    if shortcut is not None:
        return COMMANDS[shortcut.command], shortcut.args
    return COMMANDS[name], ()


def expected(args: tuple[Arg, ...]) -> str:
    """The arguments to give, in words: ``one tempo in BPM (number)``, ``a ... and a ...``."""
    if not args:
        return "no argument"
    if len(args) == 1:
        return f"one {args[0].expects}"
    return " and ".join(f"a {a.expects}" for a in args)


def shown(args: tuple) -> str:
    """``args`` for a one-line message, cut to 80 characters."""
    text = repr(tuple(args))
    return text if len(text) <= 80 else text[:77] + "..."


def check_args(name: str, args: tuple, where: str) -> tuple[Any, ...]:
    """``args`` checked and converted against command ``name``'s declared arguments.

    Raises ControlError ``"{where}: reason"`` for an unknown command, a wrong argument count,
    a wrong type, a non-finite number, a value out of range or a badly formed name.
    """
    spec = COMMANDS.get(name)
    if spec is None:
        raise ControlError(f"{where}: unknown command {name!r:.40}; known: {', '.join(COMMANDS)}")
    args = tuple(args)
    required = sum(not a.optional for a in spec.args)
    if not required <= len(args) <= len(spec.args):
        raise ControlError(f"{where}: expected {expected(spec.args)}, got {len(args)} argument(s) {shown(args)}")
    try:
        return tuple(arg.check(value) for arg, value in zip(spec.args, args))
    except ControlError as exc:
        raise ControlError(f"{where}: {exc}") from None


# Commands that set a value outright and that the table alone fully checks: of several from one
# source in one frame only the last one matters. Toggles without an argument flip, nudges add up,
# triggers fire, and a preset, section, parameter or uniform name may be refused by the show
# (the operator must see that in the log): those are all kept.
LATEST_WINS = frozenset({"blackout", "freeze", "hold", "lock", "fade", "bpm", "av_offset", "autopilot", "calibrate"})


def coalesce(commands: list[Command]) -> list[Command]:
    """``commands`` in order, less each value-setting command that a later one of the same name
    from the same source replaces: a flood of fader moves costs the show one each."""
    seen: set[tuple] = set()
    out: list[Command] = []
    for cmd in reversed(commands):
        if cmd.name in LATEST_WINS and cmd.args:
            key = (cmd.source, cmd.name)
            if key in seen:
                continue
            seen.add(key)
        out.append(cmd)
    out.reverse()
    return out


def validate(cmd: Command) -> Command:
    """``cmd`` with its arguments checked against the table (see :func:`check_args`)."""
    return dataclasses.replace(cmd, args=check_args(cmd.name, cmd.args, cmd.name))


# ---------------------------------------------------------------------------------------------
# OSC addresses


@dataclass(frozen=True)
class OscForm:
    """One OSC address of a command or shortcut.

    An upper-case last segment (``/jump/N``, ``/param/KEY``) is a placeholder: the command's
    first argument is taken from the address and the rest from the message. A form left with no
    arguments to take from the message is a press: it fires with no argument or a value >= 0.5.
    ``note`` replaces the description in the README; ``example`` is shown after it.
    """

    address: str
    command: str
    note: str = ""
    example: str = ""

    @property
    def placeholder(self) -> str | None:
        """The address's placeholder segment (``N``, ``KEY``), or None."""
        last = self.address.rsplit("/", 1)[1]
        return last if last.isupper() else None

    @property
    def spec(self) -> CommandSpec:
        """The command this address reaches."""
        return resolve(self.command)[0]

    @property
    def fixed(self) -> tuple[Any, ...]:
        """Arguments fixed by a shortcut (``+1`` for ``/preset/next``)."""
        return resolve(self.command)[1]

    @property
    def message_args(self) -> tuple[Arg, ...]:
        """The arguments the OSC message itself carries."""
        taken = len(self.fixed) + (1 if self.placeholder else 0)
        return self.spec.args[taken:]

    @property
    def kind(self) -> Kind:
        """The README groups rows by kind: a press of a value command is not a toggle or trigger."""
        return self.spec.kind

    @property
    def min_args(self) -> int:
        """How many of :attr:`message_args` a message must carry. Optional ones may be left off the
        end (``/fade 0``: over the default length), but never all of them: a bare ``/blackout``
        would flip, and a UDP message lost or sent twice would leave the stage inverted."""
        carried = self.message_args
        return max(1, sum(not a.optional for a in carried)) if carried else 0

    @property
    def osc_args(self) -> str:
        """The README's args column (arguments that may be left off in brackets)."""
        if not self.message_args:
            return "(press)"
        return ", ".join(a.osc_type if i < self.min_args else f"[{a.osc_type}]" for i, a in enumerate(self.message_args))

    @property
    def does(self) -> str:
        """The README's does column for this address alone."""
        text = self.note or (SHORTCUTS[self.command].description if self.command in SHORTCUTS
                             else self.spec.description)
        return f"{text}, e.g. `{self.example}`" if self.example else text


OSC_FORMS: tuple[OscForm, ...] = (  # in README order
    OscForm("/preset", "preset"),
    OscForm("/preset/next", "preset_next"),
    OscForm("/preset/prev", "preset_prev"),
    *(OscForm(f"/{name}", name) for name in (*TOGGLES, "jump", "drop")),
    *(OscForm(f"/{name}/N", name, note="the same, index in the address (button grids)") for name in ("jump", "drop")),
    *(OscForm(f"/{name}", name) for name in ("tap", "resync", "bpm", "nudge")),
    OscForm("/param", "param", example="/param motion.kick 0.4"),
    OscForm("/param/KEY", "param", note="the same, one fader per parameter"),
    OscForm("/shader/NAME", "shader_param", example="/shader/u_amount 0.5"),
    OscForm("/layer", "layer"),
    *(OscForm(f"/layer/{name}", f"layer_{name}") for name in ("sd", "clip", "toggle")),
    OscForm("/clip_every", "clip_every"),
    OscForm("/section", "section", example="/section drop"),
    OscForm("/av_offset", "av_offset"),
)
# /status is answered by the OSC server itself, not a command; it has its own README row.
OSC_STATUS_ROW = ("`/status`", "[i port]",
                  "replies `/status/preset`, `/status/bpm`, `/status/fps`, ... to the sender (or to that port)")
# Addresses the OSC server answers itself (feedback and MIDI learn), after /status in the README.
OSC_SERVER_ROWS = (
    ("`/subscribe`, `/unsubscribe`", "[i port]",
     "push state changes (`/status/preset`, `/beat`, ...) to the sender (or that port), at most 30 messages/s; or stop"),
    ("`/learn`", "s command, [s name], [value]",
     "MIDI learn: the next MIDI control moved is bound to the command and saved, e.g. `/learn shader_param u_amount`"),
)


def osc_reference_markdown() -> str:
    """The README's OSC reference table (markdown), generated from :data:`OSC_FORMS`.

    Neighbouring addresses with the same arguments and kind share a row, their descriptions
    joined with "; " (toggles are prefixed with how they switch).
    """
    groups: list[list[OscForm]] = []
    for form in OSC_FORMS:
        last = groups[-1][-1] if groups else None
        if last is not None and (last.osc_args, last.kind, bool(last.note)) == (form.osc_args, form.kind, bool(form.note)):
            groups[-1].append(form)
        else:
            groups.append([form])
    lines = ["| address | args | does |", "|---|---|---|"]
    for group in groups:
        does = "; ".join(dict.fromkeys(f.does for f in group))  # same note once (/jump/N, /drop/N)
        if group[0].kind == "toggle":
            does = f"toggle (>= 0.5 on): {does}"
        addresses = ", ".join(f"`{f.address}`" for f in group)
        lines.append(f"| {addresses} | {group[0].osc_args} | {does} |")
    lines += ["| " + " | ".join(row) + " |" for row in (OSC_STATUS_ROW, *OSC_SERVER_ROWS)]
    return "\n".join(lines) + "\n"
