"""The one frame driver: its clocks, its sinks, and the live runner that runs on it."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from live.errors import UserError
from live.library.demo import write_demo_track
from live.messages import AudioState
from live.show import driver
from live.show.driver import NullSink, RealTimeClock, SteppedClock, VideoSink, WindowSink
from live.show.runner import ShowSettings, run_show
from live.visuals.video import VideoWriter, probe


def no_state(t: float) -> AudioState:
    return AudioState()


def test_stepped_clock_gives_exactly_k_over_fps():
    seen: list[float] = []
    done = driver.run(lambda t, state: seen.append(t), SteppedClock(30, 90), NullSink(), no_state)
    assert done.frames == 90
    assert seen == [k / 30 for k in range(90)]  # exact, not accumulated: frame k is k/fps


def test_real_time_clock_paces_and_stops_when_told():
    times: list[float] = []
    done = driver.run(lambda t, state: times.append(t), RealTimeClock(50), NullSink(), no_state,
                      until=lambda: len(times) >= 20)
    assert done.frames == 20
    gaps = np.diff(times)
    assert 0.5 * 19 / 50 <= times[-1] - times[0] <= 3 * 19 / 50  # about 1/50 s apart, not a burst
    assert gaps.min() >= 0.0


def test_real_time_clock_stops_after_its_seconds():
    start = time.perf_counter()
    done = driver.run(lambda t, state: None, RealTimeClock(100, seconds=0.3), NullSink(), no_state)
    assert 0.3 <= time.perf_counter() - start < 2.0
    assert 10 <= done.frames <= 31


def test_unpaced_real_time_clock_does_not_sleep():
    # A window paces itself with vsync, so the clock must not add its own sleep.
    times: list[float] = []
    done = driver.run(lambda t, state: times.append(t), RealTimeClock(10, paced=False), NullSink(), no_state,
                      until=lambda: len(times) >= 50)
    assert done.frames == 50 and done.seconds < 1.0  # 50 frames paced at 10 fps would take 5 s


def test_real_time_clock_never_bursts_after_a_stall():
    times: list[float] = []

    def tick(t: float, state: AudioState) -> None:
        times.append(t)
        if len(times) == 3:
            time.sleep(0.3)  # 15 frames late at 50 fps

    driver.run(tick, RealTimeClock(50), NullSink(), no_state, until=lambda: len(times) >= 8)
    # The schedule starts afresh after the stall: three more frames take three periods, where
    # catching up would draw the 15 missed frames back to back.
    assert times[7] - times[4] >= 0.9 * 3 / 50, np.diff(times)


def test_state_comes_from_the_source_at_each_frame_time():
    got: list[tuple[float, float]] = []
    driver.run(lambda t, state: got.append((t, state.time)), SteppedClock(10, 5), NullSink(),
               lambda t: AudioState(time=t + 1.0))
    assert got == [(k / 10, k / 10 + 1.0) for k in range(5)]


class FakeRenderer:
    """Draws a grey level that rises with each frame; closes after ``close_after`` flips."""

    def __init__(self, width: int = 32, height: int = 16, close_after: int | None = None) -> None:
        self.width, self.height, self.close_after = width, height, close_after
        self.flips = 0
        self.level = 0

    def draw(self, t: float, state: AudioState) -> None:
        self.level += 1

    def read_pixels(self) -> np.ndarray:
        return np.full((self.height, self.width, 3), (self.level * 20) % 256, np.uint8)

    def flip(self) -> None:
        self.flips += 1

    @property
    def closed(self) -> bool:
        return self.close_after is not None and self.flips >= self.close_after


def test_video_sink_writes_one_frame_per_tick(tmp_path):
    renderer = FakeRenderer()
    writer = VideoWriter(tmp_path / "out.mp4", renderer.width, renderer.height, 25)
    done = driver.run(renderer.draw, SteppedClock(25, 12), VideoSink(renderer, writer), no_state)
    writer.close()
    assert done.frames == 12
    info = probe(tmp_path / "out.mp4")
    assert info["frames"] == 12 and (info["width"], info["height"]) == (32, 16)


def test_window_sink_flips_and_closing_the_window_ends_the_loop():
    renderer = FakeRenderer(close_after=7)
    done = driver.run(renderer.draw, RealTimeClock(200, paced=False), WindowSink(renderer), no_state)
    assert done.frames == renderer.flips == 7


def test_after_frame_sees_the_count():
    counts: list[int] = []
    driver.run(lambda t, s: None, SteppedClock(5, 4), NullSink(), no_state, after_frame=lambda t, n: counts.append(n))
    assert counts == [1, 2, 3, 4]


@pytest.mark.parametrize("fps", [0, -5, 241])
def test_settings_refuse_a_bad_fps(fps):
    with pytest.raises(UserError, match="--fps"):
        ShowSettings(fps=fps)


def test_settings_refuse_a_bad_size_before_any_loading():
    with pytest.raises(UserError, match="--size"):
        ShowSettings(size="big")


def test_midi_map_default_and_relative_paths(tmp_path, monkeypatch):
    mappings = tmp_path / "maps"
    mappings.mkdir()
    (mappings / "mine.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    assert ShowSettings(mappings_dir=str(mappings)).midi_map_path() == mappings / "generic.toml"
    assert ShowSettings(mappings_dir=str(mappings), midi_map="mine.toml").midi_map_path() == mappings / "mine.toml"
    (tmp_path / "here.toml").write_text("")  # a relative path that exists is used as is
    (mappings / "here.toml").write_text("")
    assert str(ShowSettings(mappings_dir=str(mappings), midi_map="here.toml").midi_map_path()) == "here.toml"


def test_midi_opens_on_the_mappings_device_without_midi_input(tmp_path, caplog):
    maps = tmp_path / "maps"
    maps.mkdir()
    assert ShowSettings(mappings_dir=str(maps)).midi_mapping() is None  # no mapping: no MIDI, no complaint
    (maps / "generic.toml").write_text('[[bind]]\ncc = 1\ncommand = "tap"\n')
    assert ShowSettings(mappings_dir=str(maps)).midi_mapping() is None  # no device named: no MIDI
    assert ShowSettings(mappings_dir=str(maps), midi_input="pad").midi_mapping().bindings
    (maps / "generic.toml").write_text('device = "no-such-pad"\n[[bind]]\ncc = 1\ncommand = "tap"\n')
    assert ShowSettings(mappings_dir=str(maps)).midi_mapping().device == "no-such-pad"
    (maps / "broken.toml").write_text('[[bind]]\ncc = 1\n')
    with pytest.raises(UserError, match="broken.toml"):  # a mapping asked for must load
        ShowSettings(mappings_dir=str(maps), midi_map="broken").midi_mapping()
    # The show opens it (README: `device` is used when --midi-input is not given); absent, it
    # goes on with one warning from the input.
    write_demo_track(tmp_path / "track.wav", 2.0)
    settings = ShowSettings(audio=str(tmp_path / "track.wav"), headless=True, seconds=0.5, fps=30, size="64x64",
                            osc_port=0, mappings_dir=str(maps))
    with caplog.at_level(logging.INFO):
        assert run_show(settings) == 0
    missing = [r.getMessage() for r in caplog.records if "'no-such-pad' not found" in r.getMessage()]
    assert len(missing) == 1, [r.getMessage() for r in caplog.records if "MIDI" in r.getMessage()]


def test_live_runner_runs_headless_for_its_seconds(tmp_path, caplog):
    write_demo_track(tmp_path / "track.wav", 4.0)
    settings = ShowSettings(audio=str(tmp_path / "track.wav"), headless=True, seconds=1.5, fps=30, size="64x64",
                            osc_port=0)
    with caplog.at_level(logging.INFO):
        start = time.perf_counter()
        assert run_show(settings) == 0
        took = time.perf_counter() - start
    stopped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("show stopped after")]
    assert len(stopped) == 1, [r.getMessage() for r in caplog.records]
    frames = int(stopped[0].split(": ")[1].split(" frames")[0])
    assert 15 <= frames <= 46, stopped[0]  # paced to about 30 fps headless, not as fast as possible
    assert took < 60
