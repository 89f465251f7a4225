"""Show.tick and its commands, on real parts: a bank of two weight-free presets, the approx
decoder, synchronous decode and an offscreen renderer."""

from pathlib import Path

import pytest

from live.library.bank import open_bank
from live.messages import AudioState, Command
from live.show.show import Show, SyncDecode, beat_pulse, frame_mix
from live.visuals.decoders import make_decoder
from live.visuals.renderer import Renderer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def show(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("show")
    presets = tmp / "presets"
    presets.mkdir()
    text = (ROOT / "presets" / "demo.toml").read_text()
    (presets / "alpha.toml").write_text(text)
    (presets / "beta.toml").write_text(text.replace('order = "sequential"', 'order = "pingpong"'))
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, tmp / "keyframes")
    renderer = Renderer(64, 64, headless=True)
    clock_commands = []
    s = Show(bank, SyncDecode(decoder), renderer, preset="alpha", clock=clock_commands.append)
    s.clock_commands = clock_commands
    yield s
    renderer.close()


def state(t: float) -> AudioState:
    return AudioState(time=t, bpm=120.0, beat_index=int(t * 2), beat_phase=(t * 2) % 1.0, downbeat=int(t * 2) % 4)


def test_tick_draws_a_moving_picture(show):
    show.tick(0.0, state(0.0))
    first = show.renderer.read_pixels().copy()
    show.tick(1.0, state(1.0))
    assert abs(show.renderer.read_pixels().astype(int) - first).mean() > 1.0


def test_unknown_preset_is_refused_and_the_show_goes_on(show, caplog):
    show.commands.put(Command("preset", ("nope",), source="osc"))
    show.tick(2.0, state(2.0))
    assert show.preset_name == "alpha"
    assert any("nope" in r.getMessage() for r in caplog.records)


def test_preset_switch_by_name_and_by_step(show):
    show.commands.put(Command("preset", ("beta",)))
    show.tick(3.0, state(3.0))
    assert show.preset_name == "beta" and show.traversal.order == "pingpong"
    show.commands.put(Command("preset", ("+1",)))
    show.tick(3.1, state(3.1))
    assert show.preset_name == "alpha"


def test_blackout_and_freeze(show):
    show.commands.put(Command("blackout", (True,)))
    show.tick(4.0, state(4.0))
    assert show.renderer.read_pixels().max() == 0
    show.commands.put(Command("blackout", (False,)))
    show.commands.put(Command("freeze", (True,)))
    show.tick(4.1, state(4.1))
    frozen = show.renderer.read_pixels().copy()
    show.tick(6.0, state(6.0))
    assert show.frozen
    assert abs(show.renderer.read_pixels().astype(int) - frozen).max() <= 1
    show.commands.put(Command("freeze", (False,)))
    show.tick(6.1, state(6.1))


def test_param_is_validated_by_the_preset_schema(show, caplog):
    show.commands.put(Command("param", ("motion.kick", 5.0)))
    show.tick(7.0, state(7.0))
    assert show.preset.motion.kick != 5.0
    assert any("motion.kick" in r.getMessage() for r in caplog.records)
    show.commands.put(Command("param", ("motion.kick", 0.4)))
    show.tick(7.1, state(7.1))
    assert show.preset.motion.kick == 0.4


def test_tempo_commands_go_to_the_clock(show):
    show.commands.put(Command("bpm", (128.0,)))
    show.commands.put(Command("tap"))
    show.tick(8.0, state(8.0))
    assert [c.name for c in show.clock_commands[-2:]] == ["bpm", "tap"]


BAD_COMMANDS = [
    Command("bpm", ("fast",), source="keyboard"),
    Command("bpm", (float("nan"),)),
    Command("bpm", (301.0,)),  # the same range OSC and MIDI refuse
    Command("nudge", (0.9,)),
    Command("param", ("motion.kick", "lots")),
    Command("param", ("look.params.u_amount", "loud")),
    Command("param", ("look.params.bad name", 0.5)),
    Command("param", ("motion.kick", float("inf"))),
    Command("shader_param", ("1bad", 0.5)),
    Command("shader_param", ("u_amount", "x")),
    Command("jump", (-1,)),
    Command("blackout", ("on",)),
    Command("explode", ()),
]


@pytest.mark.parametrize("cmd", BAD_COMMANDS, ids=lambda c: f"{c.name}{list(c.args)}")
def test_bad_commands_from_any_source_are_refused_in_one_line(show, caplog, cmd):
    before = (show.blackout, show.preset.motion, dict(show.renderer._params), len(show.clock_commands))
    caplog.clear()
    show._refusals.clear()  # refusals are rate-limited per source and command: each case starts afresh
    show.commands.put(cmd)
    show.tick(9.0, state(9.0))  # must not raise
    assert (show.blackout, show.preset.motion, dict(show.renderer._params), len(show.clock_commands)) == before
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "\n" not in refused[0].getMessage()


def test_look_param_sets_the_uniform(show):
    show.commands.put(Command("param", ("look.params.u_amount", 1)))
    show.tick(9.5, state(9.5))
    assert show.renderer._params["u_amount"] == 1.0


def test_pulse_and_frame_mix():
    s = state(0.0)
    assert beat_pulse(s, 0.0) == pytest.approx(1.0)
    assert beat_pulse(s, 0.25) < 0.5
    assert beat_pulse(s, 0.4999) < beat_pulse(s, 0.5)  # restarts on the next beat

    class F:
        def __init__(self, t):
            self.display_time = t

    assert frame_mix(F(1.0), F(2.0), 1.5) == pytest.approx(0.5)
    assert frame_mix(F(1.0), F(2.0), 3.0) == 1.0
    assert frame_mix(None, F(2.0), 0.0) == 1.0


def test_watchdog_restarts_a_dead_decode_worker(caplog):
    from live.show.show import AsyncDecode

    decode = AsyncDecode(make_decoder("approx"), fps=30)
    try:
        decode._worker.stop()
        decode.check()
        assert decode._worker.alive
        assert any("decode worker stopped" in r.getMessage() for r in caplog.records)
    finally:
        decode.stop()
