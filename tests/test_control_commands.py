"""The command table: one declaration per command, one range per value, checked the same way by
OSC, MIDI and the show, and the README's OSC table generated from it."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from live.control.commands import (
    COMMANDS,
    OSC_FORMS,
    SHORTCUTS,
    ControlError,
    check_args,
    osc_reference_markdown,
    validate,
)
from live.control.midi import BIND_COMMANDS, Binding
from live.control.osc import parse_osc
from live.errors import UserError
from live.messages import Command

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_osc_table() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### OSC (default port 9000"):]
    start = section.index("| address | args | does |")
    lines = []
    for line in section[start:].splitlines():
        if not line.startswith("|"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_readme_osc_table_is_generated_from_the_table():
    # If this fails, paste osc_reference_markdown() over the table in README.md.
    assert _readme_osc_table() == osc_reference_markdown()


def test_every_command_and_shortcut_has_an_osc_address_and_a_midi_name():
    assert {f.spec.name for f in OSC_FORMS} == set(COMMANDS)
    assert set(SHORTCUTS) <= {f.command for f in OSC_FORMS}
    assert set(BIND_COMMANDS) == set(COMMANDS) | set(SHORTCUTS)
    for spec in COMMANDS.values():
        assert spec.description and "\n" not in spec.description


def test_fader_spans_lie_inside_the_valid_ranges():
    for spec in COMMANDS.values():
        for arg in spec.args:
            lo, hi = arg.fader_span
            if arg.lo is not None:
                assert arg.lo <= lo < hi <= arg.hi, (spec.name, arg)


def test_bpm_has_one_range_everywhere(tmp_path):
    lo, hi = COMMANDS["bpm"].args[0].lo, COMMANDS["bpm"].args[0].hi
    assert (lo, hi) == (20.0, 300.0)
    for good in (lo, hi, 128.0):
        assert parse_osc("/bpm", (good,)).args == (good,)
        assert validate(Command("bpm", (good,))).args == (good,)
        Binding(cc=1, command="bpm", value=good)
    for bad in (lo - 0.1, hi + 0.1, 400.0):
        with pytest.raises(ControlError, match="out of range 20..300"):
            parse_osc("/bpm", (bad,))
        with pytest.raises(ControlError, match="out of range 20..300"):
            validate(Command("bpm", (bad,)))
        with pytest.raises(ValueError, match="out of range 20..300"):
            Binding(cc=1, command="bpm", min=60.0, max=bad)
        with pytest.raises(ValueError, match="out of range 20..300"):
            Binding(cc=1, command="bpm", value=bad)


GOOD = [
    ("preset", ("demo",), ("demo",)),
    ("preset", ("+1",), ("+1",)),
    ("blackout", (), ()),  # no argument flips (keyboard)
    ("blackout", (1,), (True,)),
    ("hold", (0.2,), (False,)),
    ("jump", (3.0,), (3,)),
    ("tap", (), ()),
    ("bpm", (128,), (128.0,)),
    ("nudge", (-0.5,), (-0.5,)),
    ("param", ("motion.kick", 0.4), ("motion.kick", 0.4)),
    ("param", ("motion.order", "random"), ("motion.order", "random")),
    ("param", ("look.params.u_amount", 1), ("look.params.u_amount", 1)),
    ("shader_param", ("u_amount", 2), ("u_amount", 2.0)),
]


@pytest.mark.parametrize("name,args,expected", GOOD)
def test_validate_accepts_and_converts(name, args, expected):
    out = validate(Command(name, args, source="keyboard", received=1.5))
    assert out.args == expected
    assert [type(a) for a in out.args] == [type(e) for e in expected]
    assert (out.name, out.source, out.received) == (name, "keyboard", 1.5)


BAD = [
    ("explode", (), "unknown command 'explode'"),
    ("bpm", ("fast",), "expected a number"),
    ("bpm", ("128",), "expected a number"),  # strings are never numbers, from any source
    ("bpm", (math.nan,), "not finite"),
    ("bpm", (math.inf,), "not finite"),
    ("bpm", (True,), "expected a number"),
    ("bpm", (), "expected one tempo in BPM (number)"),
    ("nudge", (0.75,), "out of range -0.5..0.5"),
    ("tap", (1,), "expected no argument"),
    ("blackout", ("on",), "expected a number"),
    ("jump", (-1,), "keyframe index -1 out of range"),
    ("jump", (2.5,), "whole number"),
    ("jump", (10**12,), "out of range"),
    ("preset", ("",), "1..200 characters"),
    ("preset", (None,), "preset name (string)"),
    ("param", ("bad key!", 1.0), "not a valid name"),
    ("param", ("motion.kick", math.nan), "not finite"),
    ("param", ("motion.kick", [1]), "number, string or bool"),
    ("param", ("motion.kick",), "a parameter key (string) and a value"),
    ("shader_param", ("1bad", 0.5), "not a valid name"),
    ("shader_param", ("u.amount", 0.5), "not a valid name"),
    ("shader_param", ("u_amount", "loud"), "expected a number"),
]


@pytest.mark.parametrize("name,args,reason", BAD)
def test_validate_refuses_with_one_line(name, args, reason):
    with pytest.raises(ControlError) as info:
        validate(Command(name, args))
    message = str(info.value)
    assert reason in message and message.startswith(f"{name}:")
    assert "\n" not in message
    assert isinstance(info.value, UserError)


def test_check_args_names_where():
    with pytest.raises(ControlError, match=r"^param look.params.x: expected a number"):
        check_args("shader_param", ("x", "abc"), "param look.params.x")


def test_coalesce_keeps_the_last_value_of_each_and_every_relative_command():
    from live.control.commands import coalesce

    cmds = [Command("bpm", (120.0,)), Command("tap"), Command("shader_param", ("u_a", 0.1)),
            Command("preset", ("nope",)), Command("blackout"), Command("blackout"),
            Command("nudge", (0.1,)), Command("nudge", (0.1,)), Command("shader_param", ("u_a", 0.3)),
            Command("preset", ("demo",)), Command("bpm", (128.0,)), Command("bpm", (90.0,), source="midi"),
            Command("freeze", (True,)), Command("freeze", (False,))]
    assert coalesce(cmds) == [Command("tap"), Command("shader_param", ("u_a", 0.1)), Command("preset", ("nope",)),
                              Command("blackout"), Command("blackout"), Command("nudge", (0.1,)),
                              Command("nudge", (0.1,)), Command("shader_param", ("u_a", 0.3)),
                              Command("preset", ("demo",)), Command("bpm", (128.0,)),
                              Command("bpm", (90.0,), source="midi"), Command("freeze", (False,))]
