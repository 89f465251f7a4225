"""The show status fields the operator's HUD reads: the countdown to a queued switch, the last
control message with its source, the input level in dBFS with clipping, the chain's values."""

import math

import numpy as np
import pytest

from live.audio.analysis import CLIP_HOLD_S, AudioEngine
from live.control.midi import midi_origin
from live.messages import AudioState, Command
from live.show import driver
from live.show.driver import NullSink, SteppedClock
from live.show.show import LAST_MESSAGE_CHARS, chain_text

from tests.test_show_transitions import FPS, bank, beats, show  # noqa: F401  (fixtures)


def test_status_counts_down_to_a_queued_phrase_switch(show):
    bpm = 120.0  # a phrase is 16 beats, 8 s
    seen = []

    def after(t, frames):
        if frames == 30:  # queued at t = 0.5: the next phrase starts at 8 s
            show.commands.put(Command("preset", ("phrase",), source="osc", origin="/preset 'phrase'"))
        seen.append((t, show.status()))

    driver.run(show.tick, SteppedClock(FPS, int(9 * FPS)), NullSink(), beats(bpm), after_frame=after)
    waiting = [(t, s) for t, s in seen if s.get("queued") == "phrase"]
    assert waiting, "the queued switch never showed in the status"
    for t, s in waiting:
        assert s["queued_unit"] == "phrase"
        # The status is made up to a quarter second before it is read; it counts down to 8 s.
        assert abs(s["due_s"] - (8.0 - t)) <= 0.3, (t, s["due_s"])
        assert abs(s["due_beats"] - s["due_s"] * bpm / 60.0) < 0.02
    assert min(s["due_s"] for _, s in waiting) < 0.5 and max(s["due_s"] for _, s in waiting) > 7.0
    after_switch = seen[-1][1]
    assert after_switch["preset"] == "phrase" and "due_s" not in after_switch
    assert after_switch["bar"] == 4  # 9 s at 120 BPM: the fifth bar (counted from 0)
    assert after_switch["last_message"] == "osc: /preset 'phrase'"


def test_last_message_is_the_newest_bounded_and_made_only_with_the_status(show):
    state = beats()
    show.tick(0.0, state(0.0))
    for i in range(200):  # a flood: only the newest is kept, and writing it out waits for the status
        show.commands.put(Command("shader_param", ("nope", float(i)), source="osc", origin=f"/shader/nope {i}"))
    show.commands.put(Command("blackout", (True,), source="midi", origin=midi_origin_cc()))
    show.tick(0.1, state(0.1))
    status = show.status()
    assert status["last_message"] == "midi: CC ch1 7 127" and abs(status["last_message_at"] - 0.1) < 1e-9
    show.commands.put(Command("blackout", (False,), source="keyboard"))
    show.commands.put(Command("preset", ("x" * 500,), source="osc", origin="/preset " + "x" * 500))
    show.tick(0.2, state(0.2))
    assert len(show.status()["last_message"]) == LAST_MESSAGE_CHARS  # refused, but received: shown, cut


def midi_origin_cc() -> str:
    import mido

    return midi_origin(mido.Message("control_change", channel=0, control=7, value=127))


def test_status_shows_the_chain_with_its_live_values(show):
    show.renderer.set_shaders(["pulse", "rgbshift"])
    params = show.renderer.settable_params()
    name = next(iter(params))
    value = params[name].high
    show.commands.put(Command("shader_param", (name, value)))
    show.tick(0.0, beats()(0.0))
    text = chain_text(show.renderer)
    assert [c.split()[0] for c in text.split(" | ")] == ["pulse", "rgbshift"]
    assert f"{name}={value:.3g}" in text


def test_input_level_in_dbfs_and_the_clip_lamp():
    rate = 44100
    engine = AudioEngine(rate)
    t = np.arange(rate // 2) / rate
    quiet = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # -20 dBFS
    engine.feed(quiet, end_time=0.5)
    s = engine.state
    assert abs(s.input_dbfs - (-20.0)) < 0.1 and not s.clipping
    assert s.level > 0.5  # the gain-controlled level says "loud"; the raw peak says -20 dBFS
    stereo = np.stack([quiet, np.clip(quiet * 20, -1, 1)], axis=1)  # the right channel clips
    engine.feed(stereo, end_time=1.0)
    assert engine.state.clipping and engine.state.input_dbfs > -0.01
    engine.feed(quiet, end_time=1.0 + CLIP_HOLD_S + 0.5)
    s = engine.state
    assert not s.clipping and abs(s.input_dbfs - (-20.0)) < 0.1  # the peak fell back, the lamp went out
    engine.idle(10.0)
    assert engine.state.input_dbfs < -80.0
    assert AudioState().input_dbfs == -math.inf
