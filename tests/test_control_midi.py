"""MIDI control: mapping schema and scaling with mido messages, learn mode, and a real JACK
MIDI round trip (dummy JACK server started by the test)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import mido
import pytest

from live.bench.sync import Unavailable, dummy_jack
from live.control.commands import COMMANDS, ControlError
from live.control.midi import Binding, InputNames, MidiInput, MidiMapping, list_midi_inputs, pick_port
from live.errors import UserError
from live.handoff import CommandQueue
from live.messages import Command

REPO = Path(__file__).resolve().parent.parent
GENERIC = REPO / "mappings" / "generic.toml"


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def on(note: int, velocity: int = 100, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", note=note, velocity=velocity, channel=channel)


def off(note: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=note, velocity=0, channel=channel)


def mapping(text: str, tmp_path: Path, name: str = "m.toml") -> MidiMapping:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return MidiMapping.load(path)


# --- the example mapping ---------------------------------------------------------------------


def test_generic_mapping_loads_and_covers_the_controls():
    m = MidiMapping.load(GENERIC)
    assert m.device == "APC MINI"
    assert {b.cc for b in m.bindings if b.cc is not None} >= set(range(48, 56))  # 8 faders
    assert {b.note for b in m.bindings if b.note is not None} >= set(range(0, 8))  # 8 pads
    used = {b.command for b in m.bindings}
    assert {"blackout", "freeze", "tap", "resync", "drop", "preset_next", "preset_prev", "shader_param"} <= used


def test_generic_mapping_messages():
    m = MidiMapping.load(GENERIC)
    fader = m.to_command(cc(48, 127))
    assert fader == Command("shader_param", ("u_amount", 1.0), "midi")
    assert m.to_command(cc(49, 0)).args == ("u_segments", 2.0)
    assert m.to_command(on(3)) == Command("drop", (3,), "midi")
    assert m.to_command(off(3)) is None
    assert m.to_command(on(65)) == Command("preset", ("+1",), "midi")
    assert m.to_command(on(64)) == Command("preset", ("-1",), "midi")
    assert m.to_command(on(66)).name == "tap"
    assert m.to_command(on(69)) == Command("nudge", (0.05,), "midi")
    assert m.to_command(on(100)) is None  # unbound
    assert m.to_command(mido.Message("pitchwheel", pitch=100)) is None
    assert m.to_command(mido.Message("clock")) is None


# --- scaling and button semantics --------------------------------------------------------------


def test_cc_scaling_to_range(tmp_path):
    m = mapping('[[bind]]\ncc = 1\ncommand = "bpm"\nmin = 80.0\nmax = 160.0\n'
                '[[bind]]\ncc = 2\ncommand = "nudge"\n'
                '[[bind]]\ncc = 3\ncommand = "param"\nname = "motion.kick"\nmin = 1.0\nmax = 0.0\n', tmp_path)
    assert m.to_command(cc(1, 0)).args == (80.0,)
    assert m.to_command(cc(1, 127)).args == (160.0,)
    assert m.to_command(cc(1, 127)).source == "midi"
    assert m.to_command(cc(2, 0)).args == (-0.5,)  # default nudge range
    assert m.to_command(cc(2, 127)).args == (0.5,)
    assert m.to_command(cc(3, 127)).args == ("motion.kick", 0.0)  # inverted fader
    assert m.to_command(cc(3, 0)).args == ("motion.kick", 1.0)


def test_default_fader_spans_come_from_the_command_table(tmp_path):
    m = mapping('[[bind]]\ncc = 1\ncommand = "bpm"\n[[bind]]\ncc = 2\ncommand = "shader_param"\nname = "u_a"\n', tmp_path)
    span = COMMANDS["bpm"].args[0].fader_span
    assert span == (60.0, 180.0)  # a default fader span inside the one valid range 20..300
    assert (m.to_command(cc(1, 0)).args[0], m.to_command(cc(1, 127)).args[0]) == span
    assert m.to_command(cc(2, 127)).args == ("u_a", 1.0)


def test_note_velocity_drives_continuous_and_note_off_is_ignored(tmp_path):
    m = mapping('[[bind]]\nnote = 40\ncommand = "shader_param"\nname = "u_amount"\n', tmp_path)
    assert m.to_command(on(40, 127)).args == ("u_amount", 1.0)
    assert m.to_command(on(40, 0)) is None  # note-on velocity 0 is a note-off
    assert m.to_command(off(40)) is None


def test_toggle_note_flips_on_each_press(tmp_path):
    m = mapping('[[bind]]\nnote = 10\ncommand = "blackout"\n', tmp_path)
    states = [m.to_command(msg) for msg in (on(10), off(10), on(10), off(10), on(10))]
    assert [s.args if s else None for s in states] == [(True,), None, (False,), None, (True,)]


def test_fade_pad_toggles_with_its_length_as_value(tmp_path):
    m = mapping('[[bind]]\nnote = 11\ncommand = "fade"\nvalue = 8\n\n[[bind]]\ncc = 12\ncommand = "fade"\n', tmp_path)
    assert [m.to_command(msg).args for msg in (on(11), on(11))] == [(True, 8.0), (False, 8.0)]
    assert m.to_command(cc(12, 127)).args == (True,)  # no value: the show's default length
    for bad, why in (('value = 99', "out of range 0..64"), ('name = "x"', "name is only for"),
                     ('min = 0\nmax = 4', "min/max scale continuous")):
        with pytest.raises(ControlError, match=why):
            mapping(f'[[bind]]\nnote = 11\ncommand = "fade"\n{bad}\n', tmp_path)
    with pytest.raises(ControlError, match="blackout takes no value"):
        mapping('[[bind]]\nnote = 11\ncommand = "blackout"\nvalue = 1\n', tmp_path)


def test_every_bindable_command_makes_a_command_the_show_accepts():
    from live.control.commands import check_args
    from live.control.midi import BIND_COMMANDS

    values = {"preset": "demo", "jump": 2, "drop": 1, "layer": "clip", "section": "drop"}
    names = {"param": "motion.energy", "shader_param": "u_amount"}
    for command in BIND_COMMANDS:
        fields = {k: v for k, v in (("value", values.get(command)), ("name", names.get(command))) if v is not None}
        for control, msg in (({"note": 1}, on(1)), ({"cc": 1}, cc(1, 127))):
            cmd = MidiMapping([Binding(command=command, **control, **fields)]).to_command(msg)
            assert cmd is not None, (command, msg)
            assert check_args(cmd.name, cmd.args, command) == cmd.args, (command, cmd)


def test_direct_note_follows_the_pad(tmp_path):
    m = mapping('[[bind]]\nnote = 10\ncommand = "freeze"\nmode = "direct"\n', tmp_path)
    assert m.to_command(on(10)).args == (True,)
    assert m.to_command(off(10)).args == (False,)


def test_cc_toggle_defaults_to_direct_with_hysteresis(tmp_path):
    m = mapping('[[bind]]\ncc = 20\ncommand = "hold"\n', tmp_path)
    got = [m.to_command(cc(20, v)) for v in (10, 70, 100, 127, 30, 0, 64)]
    assert [g.args if g else None for g in got] == [None, (True,), None, None, (False,), None, (True,)]


def test_cc_trigger_fires_on_rising_edge_only(tmp_path):
    m = mapping('[[bind]]\ncc = 21\ncommand = "tap"\n', tmp_path)
    got = [m.to_command(cc(21, v)) for v in (127, 127, 0, 127, 63, 64)]
    assert [g.name if g else None for g in got] == ["tap", None, None, "tap", None, "tap"]


def test_channel_specific_binding_wins_over_any_channel(tmp_path):
    m = mapping('[[bind]]\ncc = 7\ncommand = "shader_param"\nname = "u_a"\n'
                '[[bind]]\ncc = 7\nchannel = 2\ncommand = "shader_param"\nname = "u_b"\n', tmp_path)
    assert m.to_command(cc(7, 127, channel=0)).args[0] == "u_a"
    assert m.to_command(cc(7, 127, channel=1)).args[0] == "u_b"  # mido channel 1 is channel 2 on the box
    assert m.to_command(cc(7, 127, channel=15)).args[0] == "u_a"


def test_fixed_values(tmp_path):
    m = mapping('[[bind]]\nnote = 1\ncommand = "preset"\nvalue = "deep"\n'
                '[[bind]]\nnote = 2\ncommand = "jump"\nvalue = 5\n'
                '[[bind]]\nnote = 3\ncommand = "bpm"\nvalue = 128\n'
                '[[bind]]\nnote = 4\ncommand = "param"\nname = "motion.order"\nvalue = "random"\n'
                '[[bind]]\nnote = 5\ncommand = "shader_param"\nname = "u_amount"\nvalue = 0\n'
                '[[bind]]\nnote = 6\ncommand = "resync"\n', tmp_path)
    got = [m.to_command(on(n)) for n in range(1, 7)]
    assert [(g.name, g.args) for g in got] == [
        ("preset", ("deep",)), ("jump", (5,)), ("bpm", (128.0,)), ("param", ("motion.order", "random")),
        ("shader_param", ("u_amount", 0.0)), ("resync", ()),
    ]
    assert all(g.name in COMMANDS for g in got)


def test_received_time_is_stamped(tmp_path):
    m = mapping('[[bind]]\nnote = 1\ncommand = "tap"\n', tmp_path)
    assert m.to_command(on(1), received=3.25).received == 3.25
    assert m.to_command(on(1)).received > 0


# --- schema errors: one line, naming the file, the entry and the key -------------------------

BAD = [
    ('[[bind]]\ncommand = "tap"\n', "exactly one of cc"),
    ('[[bind]]\ncc = 1\nnote = 2\ncommand = "tap"\n', "exactly one of cc"),
    ('[[bind]]\ncc = 128\ncommand = "tap"\n', "key 'cc'"),
    ('[[bind]]\ncc = 1\nchannel = 0\ncommand = "tap"\n', "key 'channel'"),
    ('[[bind]]\ncc = 1\nchannel = 17\ncommand = "tap"\n', "key 'channel'"),
    ('[[bind]]\ncc = 1\ncommand = "explode"\n', "'explode' is not one of"),
    ('[[bind]]\ncc = 1\n', "key 'command'"),
    ('[[bind]]\ncc = 1\ncommand = "tap"\ncolour = "red"\n', "key 'colour'"),
    ('[[bind]]\ncc = 1\ncommand = "preset"\n', 'preset needs value'),
    ('[[bind]]\ncc = 1\ncommand = "jump"\nvalue = -1\n', "keyframe index"),
    ('[[bind]]\ncc = 1\ncommand = "jump"\nvalue = "two"\n', "keyframe index"),
    ('[[bind]]\ncc = 1\ncommand = "bpm"\nmin = 10.0\nmax = 200.0\n', "min = 10.0 out of range 20..300"),
    ('[[bind]]\ncc = 1\ncommand = "bpm"\nmin = 60.0\nmax = 400.0\n', "max = 400.0 out of range 20..300"),
    ('[[bind]]\ncc = 1\ncommand = "bpm"\nvalue = "fast"\n', "expected a number"),
    ('[[bind]]\ncc = 1\ncommand = "bpm"\nmin = 100.0\n', "both min and max"),
    ('[[bind]]\ncc = 1\ncommand = "shader_param"\nname = "u"\nmin = nan\nmax = 1.0\n', "not finite"),
    ('[[bind]]\ncc = 1\ncommand = "param"\nname = "bad key"\n', "not a valid name"),
    ('[[bind]]\ncc = 1\ncommand = "jump"\n', "jump needs value"),
    ('[[bind]]\ncc = 1\ncommand = "nudge"\nvalue = 0.9\n', "out of range -0.5..0.5"),
    ('[[bind]]\ncc = 1\ncommand = "shader_param"\n', "needs name"),
    ('[[bind]]\ncc = 1\ncommand = "shader_param"\nname = "a.b"\n', "needs name"),
    ('[[bind]]\ncc = 1\ncommand = "tap"\nname = "x"\n', "name is only for"),
    ('[[bind]]\ncc = 1\ncommand = "tap"\nvalue = 1\n', "tap takes no value"),
    ('[[bind]]\ncc = 1\ncommand = "tap"\nmode = "toggle"\n', "mode is only for"),
    ('[[bind]]\ncc = 1\ncommand = "blackout"\nmode = "latch"\n', "key 'mode'"),
    ('[[bind]]\ncc = 1\ncommand = "tap"\nmin = 0.0\nmax = 1.0\n', "min/max scale continuous"),
    ('devise = "APC"\n', "key 'devise'"),
    ('bind = 3\n', "key 'bind'"),
    ('[[bind]\ncc = 1\n', "not valid TOML"),
]


@pytest.mark.parametrize("text,reason", BAD)
def test_bad_mapping_is_refused_with_one_line(tmp_path, text, reason):
    with pytest.raises(ControlError) as info:
        mapping(text, tmp_path, "bad.toml")
    message = str(info.value)
    assert reason in message
    assert "bad.toml" in message
    assert "\n" not in message
    assert isinstance(info.value, UserError)


def _make_fifo(path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    os.mkfifo(path)


BAD_FILES = {  # what each makes of the path, and the reason the one-line error gives
    "not UTF-8": (lambda p: p.write_bytes(b'device = "\xff\xfe"\n'), "not UTF-8"),
    "corrupt": (lambda p: p.write_bytes(b"\x00\x01[[bind\x00"), "not valid TOML"),
    "a folder": (lambda p: p.mkdir(), "is a folder"),
    "a FIFO": (_make_fifo, "not a regular file"),
    "deeply nested": (lambda p: p.write_text("device = " + "[" * 100_000 + "]" * 100_000 + "\n"), "nested too deep"),
    "too large": (lambda p: p.write_text("# " + "x" * 2_000_000 + "\n"), "over the limit"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_unusable_mapping_file_is_one_line_error(tmp_path, kind):
    make, reason = BAD_FILES[kind]
    path = tmp_path / "bad.toml"
    make(path)
    result: list[BaseException] = []

    def load() -> None:
        try:
            MidiMapping.load(path)
        except BaseException as exc:  # whatever it is, the test reports it
            result.append(exc)

    loader = threading.Thread(target=load, daemon=True)  # a FIFO blocked the old reader forever
    loader.start()
    loader.join(5.0)
    assert result, f"loading a mapping that is {kind} did not end (or raised nothing) within 5 s"
    error = result[0]
    assert isinstance(error, ControlError) and isinstance(error, UserError), repr(error)
    message = str(error)
    assert reason in message and str(path) in message and "\n" not in message, message


def test_saving_over_a_fifo_is_refused_not_blocked(tmp_path):
    path = tmp_path / "m.toml"
    _make_fifo(path)  # replaced by a FIFO after loading: re-reading it for its comments must not block
    result: list[BaseException] = []

    def save() -> None:
        try:
            MidiMapping([Binding(cc=1, command="tap")], path=path).save()
        except BaseException as exc:
            result.append(exc)

    saver = threading.Thread(target=save, daemon=True)
    saver.start()
    saver.join(5.0)
    assert result and isinstance(result[0], ControlError), result
    assert "not a regular file" in str(result[0])


def test_bad_entry_is_numbered_and_named(tmp_path):
    text = '[[bind]]\ncc = 1\ncommand = "tap"\n\n[[bind]]\nnote = 9\ncommand = "bpm"\nvalue = 999\n'
    with pytest.raises(ControlError, match=r"\[\[bind\]\] #2 \(note = 9\)"):
        mapping(text, tmp_path)


def test_same_control_twice_is_refused(tmp_path):
    text = '[[bind]]\ncc = 1\ncommand = "tap"\n[[bind]]\ncc = 1\ncommand = "resync"\n'
    with pytest.raises(ControlError, match="same control"):
        mapping(text, tmp_path)


def test_missing_mapping_file(tmp_path):
    with pytest.raises(ControlError, match="does not exist"):
        MidiMapping.load(tmp_path / "nope.toml")


# --- saving and learn mode -------------------------------------------------------------------


def test_save_keeps_comments_and_replaces_the_same_control(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('# my controller\ndevice = "X"\n\n[[bind]]\ncc = 1   # the big fader\ncommand = "tap"\n\n'
                    '[[bind]]\ncc = 2\ncommand = "resync"\n', encoding="utf-8")
    m = MidiMapping.load(path)
    m2 = m.with_binding(Binding(cc=2, command="shader_param", name="u_amount", min=0.0, max=2.0))
    assert m.to_command(cc(2, 127)).name == "resync"  # the old mapping is unchanged
    m2.save()
    text = path.read_text(encoding="utf-8")
    assert "# my controller" in text and "# the big fader" in text
    again = MidiMapping.load(path)
    assert again.device == "X"
    assert [b.command for b in again.bindings] == ["tap", "shader_param"]
    assert again.to_command(cc(2, 127)).args == ("u_amount", 2.0)
    assert [p.name for p in tmp_path.iterdir()] == ["m.toml"]  # no temp file left behind


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "m.toml"
    original = '[[bind]]\ncc = 1\ncommand = "tap"\n'
    path.write_text(original, encoding="utf-8")
    m = MidiMapping.load(path).with_binding(Binding(note=5, command="resync"))

    def fail(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        m.save()
    assert path.read_text(encoding="utf-8") == original
    assert [p.name for p in tmp_path.iterdir()] == ["m.toml"]


def test_learn_binds_the_next_control_and_saves(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="live.control.midi")
    path = tmp_path / "learn.toml"
    path.write_text('# learned bindings\n[[bind]]\ncc = 10\ncommand = "tap"\n', encoding="utf-8")
    queue: CommandQueue[Command] = CommandQueue()
    midi = MidiInput(queue, "nothing", MidiMapping.load(path), backend="no_such_backend_module")
    midi.learn("shader_param", name="u_amount", min=0.0, max=1.0)
    # Messages arrive through the backend callback; a note-off or clock cannot be learned.
    midi._on_message(mido.Message("clock"))
    midi._on_message(off(3))
    midi._on_message(cc(10, 127, channel=2))  # this one is learned, not used as a tap
    assert queue.drain() == []
    learned = midi.learned.get()
    assert learned == Binding(cc=10, channel=3, command="shader_param", name="u_amount", min=0.0, max=1.0)
    assert "saved to" in caplog.text
    midi._on_message(cc(10, 127, channel=2))
    assert [(c.name, c.args) for c in queue.drain()] == [("shader_param", ("u_amount", 1.0))]
    midi._on_message(cc(10, 127, channel=0))  # other channels still tap
    assert [c.name for c in queue.drain()] == ["tap"]
    saved = MidiMapping.load(path)
    assert "# learned bindings" in path.read_text(encoding="utf-8")
    assert saved.to_command(cc(10, 127, channel=2)).args == ("u_amount", 1.0)


def test_learn_rejects_an_invalid_request_at_once():
    midi = MidiInput(CommandQueue(), None, MidiMapping(), backend="no_such_backend_module")
    with pytest.raises(ControlError, match="preset needs value"):
        midi.learn("preset")
    with pytest.raises(ControlError, match="is not one of"):
        midi.learn("explode")


def test_learn_checks_a_shader_parameter_against_the_declarations(tmp_path):
    from live.visuals.shaders import folder_params, merged

    shaders = Path(__file__).resolve().parent.parent / "shaders"
    path = tmp_path / "m.toml"
    path.write_text('[[bind]]\ncc = 10\ncommand = "tap"\n', encoding="utf-8")
    midi = MidiInput(CommandQueue(), None, MidiMapping.load(path, shaders), backend="no_such_backend_module")
    with pytest.raises(ControlError, match="u_nope is not a parameter of any shader"):
        midi.learn("shader_param", name="u_nope")
    declared = merged(folder_params(shaders))["u_amount"]
    midi.learn("shader_param", name="u_amount")
    midi._on_message(cc(11, 127))
    # A learned fader sweeps the declared range at once, as a loaded one does (not 0..1 until a restart).
    assert (midi.learned.get().min, midi.learned.get().max) == (declared.low, declared.high)
    assert MidiMapping.load(path, shaders).to_command(cc(11, 127)).args == ("u_amount", declared.high)


def test_learn_checks_a_shader_parameter_even_without_a_shaders_folder_given():
    # One rule for every learn (CLI, OSC): with no folder on the mapping, live.paths' shaders folder.
    midi = MidiInput(CommandQueue(), None, MidiMapping(), backend="no_such_backend_module")
    with pytest.raises(ControlError, match="u_bogus is not a parameter of any shader"):
        midi.learn_from_osc(("shader_param", "u_bogus"))


def test_tool_learn_refuses_an_undeclared_shader_parameter(tmp_path, capsys):
    path = tmp_path / "x.toml"
    module, args = _tool_args("--backend", "no_such_backend_module", "learn", "--map", str(path), "--timeout", "0.5",
                              "shader_param", "--name", "u_bogus")
    with pytest.raises(ControlError, match="^MIDI learn shader_param: u_bogus is not a parameter of any shader"):
        module.run(args)
    assert not path.exists()
    assert "move or press" not in capsys.readouterr().out  # refused before asking for a control
    # --shaders-dir is the folder checked against, as for `live`.
    shaders = tmp_path / "shaders"
    shaders.mkdir()
    (shaders / "only.glsl").write_text("uniform float u_only = 0.5; // @param 0..1 the one parameter\n",
                                       encoding="utf-8")
    module, args = _tool_args("--backend", "no_such_backend_module", "learn", "--map", str(path), "--timeout", "0.5",
                              "--shaders-dir", str(shaders), "shader_param", "--name", "u_amount")
    with pytest.raises(ControlError, match="u_amount is not a parameter of any shader"):
        module.run(args)


# --- ports and backends ----------------------------------------------------------------------


def test_pick_port():
    names = ["Midi Through:Midi Through Port-0 14:0", "APC MINI:APC MINI MIDI 1 20:0", "nanoKONTROL2:port 24:0"]
    assert pick_port(names, "apc mini") == names[1]
    assert pick_port(names, "kontrol") == names[2]
    assert pick_port(names, None) == names[1]  # never the Through port by default
    assert pick_port(names, "launchpad") is None
    assert pick_port(names[:1], None) is None


def test_list_inputs_without_a_backend_is_empty_with_a_reason(caplog):
    caplog.set_level(logging.WARNING, logger="live.control.midi")
    assert list_midi_inputs("no_such_backend_module") == []
    assert "MIDI backend is not available" in caplog.text


def test_input_without_a_backend_keeps_retrying_and_logs_once(caplog):
    caplog.set_level(logging.WARNING, logger="live.control.midi")
    midi = MidiInput(CommandQueue(), "APC", MidiMapping(), backend="no_such_backend_module", retry_interval=0.02)
    midi.start()
    time.sleep(0.2)
    midi.stop()
    lines = [r for r in caplog.records if "not found" in r.getMessage()]
    assert len(lines) == 1
    assert "'APC'" in lines[0].getMessage()
    assert midi.connected.get() is None


# --- JACK integration ------------------------------------------------------------------------


@pytest.fixture
def jack_backend():
    """mido's UNIX_JACK backend on a JACK dummy server of the test's own (never a real one)."""
    try:
        with dummy_jack(period=256) as backend:
            yield backend
    except Unavailable as exc:
        pytest.skip(str(exc))


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _drain_until(queue: CommandQueue, n: int, timeout: float = 3.0) -> list[Command]:
    got: list[Command] = []
    _wait(lambda: len(got.extend(queue.drain()) or got) >= n, timeout)
    return got


def test_input_names_keep_one_rtmidi_client_however_often_they_are_read(monkeypatch):
    # mido's get_input_names opens two clients per call; on JACK each reorders the graph and
    # drops that period's events. The supervisors list every second: one client for all of it.
    import rtmidi

    made: list[object] = []

    class Client:
        def __init__(self, rtapi: int) -> None:
            self.rtapi, self.fail = rtapi, False
            made.append(self)

        def get_ports(self) -> list[str]:
            if self.fail:
                raise RuntimeError("JACK server gone")
            return ["APC mini", "Midi Through"]

        def delete(self) -> None:
            pass

    monkeypatch.setattr(rtmidi, "MidiIn", Client)
    names = InputNames("mido.backends.rtmidi/UNIX_JACK")
    assert all(names() == ["APC mini", "Midi Through"] for _ in range(20))
    assert len(made) == 1 and made[0].rtapi == rtmidi.API_UNIX_JACK
    made[0].fail = True  # the MIDI system went away: the error goes up, and the next call starts over
    with pytest.raises(RuntimeError):
        names()
    assert names() == ["APC mini", "Midi Through"] and len(made) == 2
    names.close()


@pytest.mark.integration
def test_input_names_follow_ports_that_come_and_go(jack_backend):
    names = InputNames(jack_backend)
    port_name = f"fake-apc-{uuid.uuid4().hex[:6]}"
    try:
        assert not any(port_name in n for n in names())
        out = jack_backend.open_output(port_name, virtual=True)
        assert any(port_name in n for n in names())
        out.close()
        assert _wait(lambda: not any(port_name in n for n in names()))
    finally:
        names.close()


@pytest.mark.integration
def test_jack_midi_round_trip_and_reconnect(jack_backend, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="live.control.midi")
    path = tmp_path / "jack.toml"
    path.write_text('[[bind]]\ncc = 48\ncommand = "shader_param"\nname = "u_amount"\n'
                    '[[bind]]\nnote = 36\ncommand = "blackout"\n', encoding="utf-8")
    port_name = f"fake-apc-{uuid.uuid4().hex[:6]}"
    queue: CommandQueue[Command] = CommandQueue()
    out = jack_backend.open_output(port_name, virtual=True)
    midi = MidiInput(queue, port_name, MidiMapping.load(path), backend=jack_backend, retry_interval=0.1)
    try:
        assert any(port_name in n for n in list_midi_inputs(jack_backend))
        midi.start()
        assert _wait(lambda: port_name in (midi.connected.get() or "")), "MidiInput never opened the JACK port"
        time.sleep(0.2)  # let JACK finish connecting the ports
        out.send(cc(48, 127))
        out.send(on(36))
        got = _drain_until(queue, 2)
        assert [(c.name, c.args, c.source) for c in got] == [
            ("shader_param", ("u_amount", 1.0), "midi"), ("blackout", (True,), "midi")]

        # Unplug: the port disappears; the input notices, logs once and waits for it.
        out.close()
        assert _wait(lambda: midi.connected.get() == ""), "MidiInput did not notice the port vanish"
        assert "disappeared" in caplog.text
        time.sleep(0.3)  # several retry rounds while it is gone: still one log line
        assert sum("disappeared" in r.getMessage() for r in caplog.records) == 1

        # Plug back in: reopened without any call from us, and messages flow again.
        out = jack_backend.open_output(port_name, virtual=True)
        assert _wait(lambda: port_name in (midi.connected.get() or "")), "MidiInput did not reopen the port"
        time.sleep(0.2)
        midi.learn("tap")
        out.send(on(37))  # learned, not a command
        assert _wait(lambda: midi.learned.get() is not None)
        out.send(on(37))
        out.send(on(36))
        got = _drain_until(queue, 2)
        assert [(c.name, c.args) for c in got] == [("tap", ()), ("blackout", (False,))]
        assert MidiMapping.load(path).to_command(on(37)).name == "tap"
    finally:
        midi.stop()
        out.close()


# --- the `midi` tool ----------------------------------------------------------


def _tool_args(*argv: str):
    import argparse

    from live.cli import midi as midi_module

    parser = argparse.ArgumentParser()
    midi_module.configure(parser)
    return midi_module, parser.parse_args(list(argv))


def test_tool_list_without_backend(capsys):
    module, args = _tool_args("--backend", "no_such_backend_module", "list")
    assert module.run(args) == 0
    assert "no MIDI inputs found" in capsys.readouterr().out


def test_commands_the_shipped_mappings_suggest_are_real():
    import re
    import shlex

    from live.cli import build_parser

    for path in GENERIC.parent.glob("*.toml"):
        suggested = [c for c in re.findall(r"`([^`]*)`", path.read_text(encoding="utf-8")) if c.startswith("python")]
        for command in suggested:
            words = shlex.split(command)
            assert words[:2] == ["python", "run_live.py"], f"{path.name}: `{command}` is not the project's CLI"
            if "--help" not in words:
                build_parser().parse_args(words[2:])  # SystemExit when the CLI does not take it
        assert suggested or path != GENERIC, "generic.toml names the learn command"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ALSA is Linux's")
@pytest.mark.parametrize("api", ["LINUX_ALSA", None])  # named, or rtmidi's default (ALSA first)
def test_no_alsa_sequencer_is_one_line_naming_jack(monkeypatch, tmp_path, capfd, caplog, api):
    from live.control import midiport

    monkeypatch.setattr(midiport, "ALSA_SEQ", str(tmp_path / "seq"), raising=False)  # a machine without one
    backend = "mido.backends.rtmidi" + (f"/{api}" if api else "")
    module, args = _tool_args("--backend", backend, "list")
    assert module.run(args) == 0
    out, err = capfd.readouterr()
    assert "no MIDI inputs found" in out
    assert "ALSA lib" not in err  # the C library's raw line: ALSA is not asked at all
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(said) == 1 and "no ALSA sequencer" in said[0] and "UNIX_JACK" in said[0], said
    # The show's input says the same in its one warning, and keeps going.
    names = InputNames(backend)
    with pytest.raises(UserError, match="no ALSA sequencer.*UNIX_JACK"):
        names()


def test_tool_monitor_names_the_missing_port(tmp_path):
    module, args = _tool_args("--backend", "no_such_backend_module", "monitor", "--map", str(GENERIC))
    with pytest.raises(ControlError, match="'APC MINI' not found"):
        module.run(args)


def test_tool_finds_the_mapping_by_name_from_any_folder(tmp_path, monkeypatch):
    """--map defaults to generic.toml in the repo's mappings folder; LIVE_MAPPINGS_DIR and
    --mappings-dir move the folder; an existing path is taken as it is."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LIVE_MAPPINGS_DIR", raising=False)
    module, args = _tool_args("--backend", "no_such_backend_module", "monitor")
    with pytest.raises(ControlError, match="'APC MINI' not found"):  # the device generic.toml names
        module.run(args)
    own = tmp_path / "own"
    own.mkdir()
    (own / "pad.toml").write_text('device = "Env Pad"\n[[bind]]\ncc = 1\ncommand = "blackout"\n')
    (own / "generic.toml").write_text('device = "Own Generic"\n[[bind]]\ncc = 1\ncommand = "blackout"\n')
    monkeypatch.setenv("LIVE_MAPPINGS_DIR", str(own))
    for argv, device in ((["--map", "pad.toml"], "Env Pad"), ([], "Own Generic"),
                         (["--map", "generic.toml", "--mappings-dir", str(GENERIC.parent)], "APC MINI"),
                         (["--map", str(GENERIC)], "APC MINI")):
        module, args = _tool_args("--backend", "no_such_backend_module", "monitor", *argv)
        with pytest.raises(ControlError, match=f"'{device}' not found"):
            module.run(args)
    module, args = _tool_args("--backend", "no_such_backend_module", "monitor", "--map", "nope.toml")
    with pytest.raises(ControlError, match=f"MIDI mapping {own / 'nope.toml'} does not exist"):
        module.run(args)


@contextlib.contextmanager
def _controller(jack_backend, port_name: str, msg: mido.Message):
    """A virtual controller on JACK that keeps sending ``msg`` until the block ends."""
    out = jack_backend.open_output(port_name, virtual=True)
    done = threading.Event()

    def keep_sending() -> None:
        while not done.wait(0.1):
            out.send(msg)

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    try:
        yield
    finally:
        done.set()
        sender.join()
        out.close()


@pytest.mark.integration
def test_tool_learn_over_jack_creates_the_mapping(jack_backend, tmp_path):
    port_name = f"learn-pad-{uuid.uuid4().hex[:6]}"
    path = tmp_path / "new.toml"
    module, args = _tool_args("--backend", "mido.backends.rtmidi/UNIX_JACK", "learn", "--map", str(path),
                              "--input", port_name, "--timeout", "10", "shader_param", "--name", "u_amount",
                              "--min", "0", "--max", "0.5")
    with _controller(jack_backend, port_name, cc(30, 64, channel=4)):  # moved until the tool has learned it
        assert module.run(args) == 0
    learned = MidiMapping.load(path)
    assert learned.bindings == (Binding(cc=30, channel=5, command="shader_param", name="u_amount", min=0.0, max=0.5),)


@pytest.mark.integration
def test_tool_monitor_over_jack_prints_each_message_and_its_command(jack_backend, capsys):
    port_name = f"monitor-pad-{uuid.uuid4().hex[:6]}"
    module, args = _tool_args("--backend", "mido.backends.rtmidi/UNIX_JACK", "monitor", "--map", str(GENERIC),
                              "--input", port_name, "--seconds", "1.5")
    with _controller(jack_backend, port_name, cc(48, 100)):  # the generic (APC mini) map: CC 48 -> shader_param
        assert module.run(args) == 0
    printed = capsys.readouterr().out
    assert "listening on" in printed and "control_change" in printed and "->  shader_param" in printed


def test_toggle_follows_the_show_state_when_known(tmp_path):
    m = mapping('[[bind]]\nnote = 10\ncommand = "blackout"\n[[bind]]\nnote = 11\ncommand = "hold"\n', tmp_path)
    show = {"blackout": True}  # e.g. OSC switched blackout on meanwhile
    current = show.get
    assert m.to_command(on(10), current=current).args == (False,)
    show["blackout"] = False
    assert m.to_command(on(10), current=current).args == (True,)
    assert m.to_command(on(11), current=current).args == (True,)  # unknown to the show: own memory
    assert m.to_command(on(11), current=current).args == (False,)


def test_input_toggle_uses_status_and_survives_a_failing_one(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[[bind]]\nnote = 10\ncommand = "freeze"\n', encoding="utf-8")
    queue: CommandQueue[Command] = CommandQueue()
    state = {"ok": True}

    def status() -> dict:
        if not state["ok"]:
            raise RuntimeError("not ready")
        return {"freeze": True}

    midi = MidiInput(queue, None, MidiMapping.load(path), backend="no_such_backend_module", status=status)
    midi._on_message(on(10))
    state["ok"] = False
    midi._on_message(on(10))
    assert [c.args for c in queue.drain()] == [(False,), (True,)]


# --- nothing one message provokes stops the MIDI thread -----------------------------------------


class _FailingOnce(CommandQueue):
    """A command queue whose first put raises, as a bug downstream of the handler would."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def put(self, item):
        if not self.failed:
            self.failed = True
            raise RuntimeError("handler bug")
        return super().put(item)


def test_a_handler_exception_or_a_malformed_message_is_contained_and_rate_limited(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="live.control.midi")
    m = mapping('[[bind]]\ncc = 48\ncommand = "shader_param"\nname = "u_amount"\n', tmp_path)
    queue = _FailingOnce()
    midi = MidiInput(queue, None, m, backend="no_such_backend_module")
    midi._on_message(cc(48, 64))  # the handler raises
    for _ in range(200):
        midi._on_message(object())  # not a MIDI message at all: no .type
    midi._on_message(cc(48, 127))
    assert [c.args for c in queue.drain()] == [("u_amount", 1.0)]
    assert midi.failed == 201
    assert caplog.text.count("Traceback") == 2  # one per kind of failure, then counted
    midi.stop()
    assert "199 more problem(s)" in caplog.records[-1].getMessage()


@pytest.mark.integration
def test_jack_midi_thread_survives_bad_messages(jack_backend, tmp_path, caplog):
    import rtmidi

    caplog.set_level(logging.WARNING, logger="live.control.midi")
    path = tmp_path / "jack.toml"
    path.write_text('[[bind]]\ncc = 48\ncommand = "shader_param"\nname = "u_amount"\n', encoding="utf-8")
    port_name = f"bad-pad-{uuid.uuid4().hex[:6]}"
    raw = rtmidi.MidiOut(rtmidi.API_UNIX_JACK)  # sends bytes mido would refuse to build
    raw.open_virtual_port(port_name)
    queue = _FailingOnce()
    midi = MidiInput(queue, port_name, MidiMapping.load(path), backend=jack_backend, retry_interval=0.1)
    try:
        midi.start()
        assert _wait(lambda: port_name in (midi.connected.get() or "")), "MidiInput never opened the JACK port"
        time.sleep(0.2)  # let JACK finish connecting the ports
        raw.send_message([0xB0, 48, 64])  # handled, and the handler raises
        for _ in range(20):
            raw.send_message([0xB0, 48, 200])  # a data byte over 127
            raw.send_message([0xF7])  # an end of sysex with no start
            raw.send_message([0xB0, 49, 5])  # valid, unbound
        assert _wait(lambda: midi.failed == 1)
        raw.send_message([0xB0, 48, 127])
        got: list[Command] = []
        # Only what reached the handler: JACK under load has been seen to repeat a message.
        assert _wait(lambda: ("u_amount", 1.0) in [c.args for c in got.extend(queue.drain()) or got])
        assert {c.name for c in got} == {"shader_param"}
        assert caplog.text.count("Traceback") == 1 and "handler bug" in caplog.text
    finally:
        midi.stop()
        raw.close_port()
