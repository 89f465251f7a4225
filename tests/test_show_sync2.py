"""Sections, the audio-to-visual offset, tap-along calibration and the autopilot, through the real
Show and renderer on a stepped clock: solid-colour keyframes (the approx decoder keeps them
solid), pixels read back."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from live.library.bank import open_bank
from live.library.keyframes import save_preset_keyframes
from live.library.presets import load_preset
from live.messages import AudioState, Command
from live.show import driver
from live.show.autopilot import Autopilot
from live.show.calibration import Calibration, beat_error_ms, shifted
from live.show.driver import NullSink, SteppedClock
from live.show.show import Show, SyncDecode
from live.visuals.approx import rgb_to_latents
from live.visuals.decoders import make_decoder
from live.visuals.renderer import Renderer

FPS = 60
W = 64
RED, GREEN, BLUE, WHITE = (200, 40, 40), (40, 190, 40), (30, 60, 210), (230, 230, 230)


def _latents(colours) -> torch.Tensor:
    return rgb_to_latents(np.stack([np.full((256, 256, 3), c, np.uint8) for c in colours]))


def _write(folder: Path, name: str, body: str, colours) -> None:
    path = folder / "presets" / f"{name}.toml"
    path.write_text(body)
    save_preset_keyframes(load_preset(path), _latents(colours), folder / "keyframes", {"model": "test"})


def _plain(energy: str, mood: str, quantize: str = "none") -> str:
    return f"""[generation]
model = "some/model"
width = 256
height = 256
prompts = ["p"]
seeds = [0]
[look]
shaders = []
transition = "cut"
transition_quantize = "{quantize}"
[tags]
energy = "{energy}"
mood = ["{mood}"]
"""


SECTIONS = """[generation]
model = "some/model"
width = 256
height = 256
seeds = [0]
[[generation.sections]]
name = "intro"
prompts = ["a"]
[[generation.sections]]
name = "drop"
prompts = ["b", "c"]
[motion]
beats_per_keyframe = 64
order = "sequential"
kick = 0.0
[look]
shaders = []
transition = "cut"
transition_quantize = "QUANT"
"""


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sync2")
    (tmp / "presets").mkdir()
    _write(tmp, "acid", SECTIONS.replace("QUANT", "bar"), [RED, GREEN, GREEN])
    _write(tmp, "phrased", SECTIONS.replace("QUANT", "phrase"), [RED, BLUE, BLUE])
    _write(tmp, "calm", _plain("low", "dark"), [BLUE])
    _write(tmp, "hard", _plain("high", "acid"), [WHITE])
    decoder = make_decoder("approx")
    return open_bank(decoder.family, decoder.latent_channels, decoder.device, tmp / "presets", tmp / "keyframes"), decoder


@pytest.fixture
def make_show(bank):
    presets, decoder = bank
    renderers = []

    def make(preset: str = "acid", **kw) -> Show:
        renderers.append(Renderer(W, W, headless=True))
        return Show(presets, SyncDecode(decoder), renderers[-1], preset=preset, frame_period=1.0 / FPS, **kw)

    yield make
    for r in renderers:
        r.close()


def beats(bpm: float = 120.0, source: str = "manual", level: float = 0.0, low: float = 0.0, high: float = 0.0):
    """A steady clock: beat k at ``k * 60 / bpm``, bars starting on beat 0."""
    def state_at(t: float) -> AudioState:
        count = t * bpm / 60.0
        index = math.floor(count)
        return AudioState(time=t, bpm=bpm, beat_index=index, beat_phase=count - index, downbeat=index % 4,
                          tempo_source=source, level=level, low=low, high=high)
    return state_at


def colour(show: Show) -> np.ndarray:
    return show.renderer.read_pixels().reshape(-1, 3).mean(axis=0)


def near(rgb, want, tol=30.0) -> bool:
    return bool(np.abs(np.asarray(rgb) - np.asarray(want)).max() < tol)


def run(show: Show, t0: float, t1: float, state_at, each=None) -> None:
    frames = int(round((t1 - t0) * FPS))
    for i in range(frames):
        t = t0 + i / FPS
        show.tick(t, state_at(t))
        if each is not None:
            each(t)


# ------------------------------------------------------------------------------- sections


def test_section_jump_waits_for_the_next_bar_and_walks_only_its_keyframes(make_show):
    show = make_show("acid")
    state = beats()  # 120 BPM: a bar is 2 s
    run(show, 0.0, 0.5, state)
    assert near(colour(show), RED) and show.section == ""
    show.commands.put(Command("section", ("drop",), source="osc"))
    seen = []
    run(show, 0.5, 2.5, state, each=lambda t: seen.append((t, colour(show))))
    switched = next(t for t, c in seen if near(c, GREEN))
    assert abs(switched + 0.5 / FPS - 2.0) <= 0.5 / FPS + 1e-9  # the frame nearest the downbeat (its middle)
    assert all(near(c, RED) for t, c in seen if t < switched)
    status = show._make_status()
    assert status["section"] == "drop" and status["queued_section"] == ""
    assert show.traversal.count == 2  # only the drop's two keyframes
    run(show, 2.5, 10.0, state)
    assert near(colour(show), GREEN)  # never back to the intro's red


def test_section_queued_shows_in_status_and_phrase_presets_wait_for_the_phrase(make_show):
    show = make_show("phrased")
    state = beats()
    run(show, 0.0, 2.5, state)
    show.commands.put(Command("section", ("drop",)))
    run(show, 2.5, 3.0, state)
    status = show._make_status()
    assert status["queued_section"] == "drop" and status["queued"] == "" and status["section"] == ""
    run(show, 3.0, 7.9, state)
    assert near(colour(show), RED)  # the phrase (4 bars) starts at 8 s
    run(show, 7.9, 8.1, state)
    assert near(colour(show), BLUE) and show.section == "drop"


def test_unknown_section_is_refused_and_nothing_changes(make_show, caplog):
    show = make_show("acid")
    state = beats()
    run(show, 0.0, 0.2, state)
    show.commands.put(Command("section", ("outro",), source="osc"))
    show.commands.put(Command("section", ("x" * 500,), source="osc"))
    run(show, 0.2, 3.0, state)
    assert show.queued is None and show.section == "" and near(colour(show), RED)
    assert "section 'outro' is not in preset 'acid'; its sections: intro, drop" in caplog.text
    calm = make_show("calm")
    calm.commands.put(Command("section", ("drop",)))
    calm.tick(0.0, state(0.0))
    assert "its sections: none" in caplog.text


def test_a_preset_switch_leaves_the_section(make_show):
    show = make_show("acid")
    show.commands.put(Command("section", ("drop",)))
    show.tick(0.0, AudioState())  # no tempo source: at once
    assert show.section == "drop"
    show.commands.put(Command("preset", ("calm",)))
    show.tick(0.02, AudioState())
    assert show.section == "" and show.preset_name == "calm"


# ------------------------------------------------------------------------------- av offset


def test_shifted_snapshot_moves_every_beat_later():
    s = beats()(1.0)
    assert shifted(s, 0.0) is s
    later = shifted(s, 100.0)
    assert later.beats_at(1.6) == pytest.approx(s.beats_at(1.5))
    assert beat_error_ms(s, 2.02) == pytest.approx(20.0)
    assert beat_error_ms(s, 1.98) == pytest.approx(-20.0)
    assert beat_error_ms(s, 2.26) == pytest.approx(-240.0)  # wrapped to the nearest beat


def test_av_offset_delays_the_pulse_by_that_many_ms(make_show):
    pulses = {}
    for offset in (0.0, 100.0):
        show = make_show("calm", av_offset_ms=offset)
        got = []
        run(show, 0.0, 2.0, beats(), each=lambda t: got.append(show.last_uniforms["u_pulse"]))
        pulses[offset] = np.flatnonzero(np.diff(got) > 0.2) + 1
    # Beats every 30 frames (the first, at frame 0, is not a rise); 100 ms is 6 frames at 60 fps.
    assert list(pulses[0.0]) == [30, 60, 90]
    assert list(pulses[100.0]) == [6, 36, 66, 96]


def test_av_offset_command_and_status(make_show, caplog):
    show = make_show("calm")
    show.commands.put(Command("av_offset", (-40.0,), source="midi"))
    show.commands.put(Command("av_offset", (5000.0,), source="osc"))
    show.tick(0.0, beats()(0.0))
    assert show.av_offset_ms == -40.0
    assert show._make_status()["av_offset_ms"] == -40.0
    assert "out of range -1000..1000" in caplog.text


# ------------------------------------------------------------------------------- calibration


def test_calibration_median_of_eight_taps():
    cal = Calibration()
    state = beats()(0.0)
    errors = [30, 25, 35, 28, 32, 400, 27, 33]  # one wild tap (400 ms wraps to -100 ms)
    out = [cal.tap(state, k * 0.5 + e / 1000.0) for k, e in enumerate(errors, start=1)]
    assert out[:-1] == [None] * 7
    assert out[-1] == pytest.approx(29.0, abs=0.01)


def test_calibrate_through_the_show_taps_do_not_reach_the_clock(make_show):
    clocked = []
    show = make_show("calm", clock=clocked.append)
    state = beats()
    show.commands.put(Command("calibrate", (1.0,), source="osc"))
    run(show, 0.0, 0.1, state)
    assert show._make_status()["calibrate"] is True
    for k in range(1, 9):
        t = k * 0.5 + 0.045  # the operator hears each beat 45 ms late
        run(show, show._fps_window[-1] + 1 / FPS, t, state)
        show.commands.put(Command("tap", (), source="osc", received=t))
    run(show, 4.6, 4.7, state)
    assert clocked == []
    assert show.calibration is None and show.av_offset_ms == pytest.approx(45.0, abs=0.1)
    status = show._make_status()
    assert status["calibrate"] is False and status["av_offset_ms"] == pytest.approx(45.0, abs=0.1)
    show.commands.put(Command("tap", (), source="osc", received=5.0))
    run(show, 4.7, 4.8, state)
    assert [c.name for c in clocked] == ["tap"]  # after calibration, taps are tap tempo again


# ------------------------------------------------------------------------------- autopilot


def test_autopilot_pure_sequential_shuffle_match_are_deterministic():
    presets = [(n, None) for n in ("a", "b", "c", "d")]
    seq = Autopilot("sequential", 8)
    assert [seq.pick(n, presets) for n in ("a", "d", "zz")] == ["b", "a", "a"]
    picks = []
    for seed in (1, 1, 2):
        pilot, cur, out = Autopilot("shuffle", 8, seed=seed), "a", []
        for _ in range(12):
            cur = pilot.pick(cur, presets)
            out.append(cur)
        picks.append(out)
    assert picks[0] == picks[1] and picks[0] != picks[2]
    assert all(x != y for x, y in zip(picks[0], picks[0][1:]))  # never the same twice in a row
    assert set(picks[0][:3]) == {"b", "c", "d"}  # a round visits each other preset once
    assert seq.pick("a", [("a", None)]) is None
    with pytest.raises(ValueError, match="choose one of sequential, shuffle, match"):
        Autopilot("random")


def test_autopilot_due_once_in_the_last_bar_before_each_boundary():
    pilot = Autopilot("sequential", 8)
    state = beats()  # a bar is 2 s: boundaries at 16 s, 32 s
    due = [t / 10 for t in range(0, 400) if pilot.due(state(t / 10), t / 10)]
    assert due == [14.0, 30.0]


def test_autopilot_switches_on_the_boundary_and_a_manual_command_takes_over(make_show):
    show = make_show("calm", autopilot=Autopilot("sequential", 1))  # bank order: acid, calm, hard, phrased
    state = beats()  # a bar is 2 s
    switches = []
    last = [show.preset_name]

    def watch(t):
        if show.preset_name != last[0]:
            switches.append((round(t * FPS), show.preset_name))
            last[0] = show.preset_name

    run(show, 0.0, 4.5, state, each=watch)
    assert switches == [(119, "hard"), (239, "phrased")]  # every bar, on the frame nearest the downbeat
    assert show._make_status()["autopilot"] is True
    show.commands.put(Command("preset", ("calm",), source="midi"))
    run(show, 4.5, 6.0, state, each=watch)
    assert switches[-1] == (270, "calm") and show.autopilot.enabled is False
    assert show._make_status()["autopilot"] is False
    show.commands.put(Command("blackout", (0.0,), source="osc"))  # not a picture choice
    show.commands.put(Command("autopilot", (1.0,), source="osc"))
    run(show, 6.0, 8.5, state, each=watch)
    assert switches[-1] == (479, "hard") and show.autopilot.enabled


def test_autopilot_match_follows_the_music(make_show):
    loud = beats(level=0.95, low=0.1, high=0.9)
    quiet = beats(level=0.05, low=0.9, high=0.1)
    for state_at, want in ((loud, "hard"), (quiet, "calm")):
        show = make_show("acid", autopilot=Autopilot("match", 2, seed=3))
        run(show, 0.0, 4.1, state_at)
        assert show.preset_name == want


def test_autopilot_command_without_autopilot_is_refused(make_show, caplog):
    show = make_show("calm")
    show.commands.put(Command("autopilot", (1.0,), source="osc"))
    show.tick(0.0, beats()(0.0))
    assert "no autopilot in this show" in caplog.text


def test_a_manual_choice_cancels_the_switch_the_autopilot_queued(make_show):
    show = make_show("calm", autopilot=Autopilot("sequential", 1))  # a switch every bar (2 s)
    state = beats()
    run(show, 0.0, 1.0, state)
    assert show.queued is not None and show.queued.preset == "hard"  # queued in the last bar
    show.commands.put(Command("jump", (0,), source="keyboard"))
    run(show, 1.0, 3.0, state)
    assert show.queued is None and show.preset_name == "calm" and not show.autopilot.enabled


def test_hud_shows_section_queue_autopilot_calibration_learning_and_offset():
    from live.visuals.hud import status_lines

    text = "\n".join(status_lines({"preset": "acid", "section": "intro", "queued_section": "drop", "autopilot": True,
                                   "calibrate": True, "calibration_taps": 3, "learning": "tap",
                                   "av_offset_ms": -35.0}, AudioState()))
    assert "section intro  next drop" in text
    assert "autopilot  calibrating 3/8 taps  MIDI learn tap  av offset -35 ms" in text
    quiet = "\n".join(status_lines({"preset": "acid", "autopilot": False, "av_offset_ms": 0.0}, AudioState()))
    assert "autopilot" not in quiet and "av offset" not in quiet


def test_midi_reaches_section_av_offset_and_autopilot_through_the_command_table(tmp_path):
    import mido

    from live.control.midi import MidiMapping

    path = tmp_path / "map.toml"
    path.write_text('[[bind]]\nnote = 40\ncommand = "section"\nvalue = "drop"\n'
                    '[[bind]]\ncc = 20\ncommand = "av_offset"\n'
                    '[[bind]]\nnote = 41\ncommand = "autopilot"\n', encoding="utf-8")
    mapping = MidiMapping.load(path)
    got = [mapping.to_command(m) for m in (mido.Message("note_on", note=40, velocity=100),
                                           mido.Message("control_change", control=20, value=127),
                                           mido.Message("note_on", note=41, velocity=100))]
    assert [(c.name, c.args) for c in got] == [("section", ("drop",)), ("av_offset", (250.0,)), ("autopilot", (True,))]
