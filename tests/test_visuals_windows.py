"""Stage output: aspect modes and the bicubic upscale in the composite pass, the operator view
with its HUD, keys to commands, an accidental close that reopens instead of ending the loop.
Offscreen GL (EGL, llvmpipe) with pixel read-back; the real-window checks run under Xvfb in a
child process (pyglet's headless switch is per process) and skip where Xvfb cannot start."""

import logging
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from live.control.commands import COMMANDS, KEY_ACTIONS, KEYS, SHORTCUTS, WINDOW_ACTIONS, key_command
from live.errors import UserError
from live.handoff import CommandQueue
from live.messages import AudioState, Command
from live.show import driver
from live.show.driver import SteppedClock, WindowSink
from live.visuals.hud import WarningLog, countdown_text, panel_width, preview_area, status_lines
from live.visuals.renderer import Renderer
from live.visuals.windows import StageWindows, find_screen, fit_rect, side_by_side

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Frame:
    rgb: np.ndarray
    display_time: float
    seq: int


_SEQ = iter(range(1000, 10**6))


def draw(renderer, rgb, aspect):
    renderer.aspect = aspect
    renderer.set_shaders([])
    renderer.update_frames(None, Frame(rgb, 0.0, next(_SEQ)))
    renderer.draw(0.0, 1.0, {})
    return renderer.read_pixels().astype(int)


@pytest.fixture(scope="module")
def wide():
    r = Renderer(64, 32, headless=True)
    yield r
    r.close()


def bordered():
    """16x16 white with green top and bottom rows (2 px): fill must crop them away."""
    img = np.full((16, 16, 3), 255, np.uint8)
    img[:2] = img[-2:] = (0, 255, 0)
    return img


def test_fit_letterboxes_centred(wide):
    out = draw(wide, bordered(), "fit")  # a square into 64x32: 32x32 in the middle, bars left and right
    assert out[:, :15].max() == 0 and out[:, 49:].max() == 0
    assert out[16, 17:47].min() > 240  # the picture, centred
    assert out[0, 32, 1] > 200 and out[0, 32, 0] < 60  # its green top row is on the output's top row


def test_fill_covers_and_crops(wide):
    out = draw(wide, bordered(), "fill")  # 64x64 shown through a 64x32 window: the top and bottom quarter cut
    assert out.min() > 240  # white everywhere: no bars, and the green rows cropped away


def test_stretch_fills_the_output(wide):
    out = draw(wide, bordered(), "stretch")
    assert out[16, :].min() > 240 and out[0, :, 0].max() < 60 and out[-1, :, 0].max() < 60


def test_upscale_is_smooth_not_blocky():
    r = Renderer(64, 64, headless=True)
    try:
        checker = np.array([[0, 255], [255, 0]], np.uint8)[:, :, None].repeat(3, axis=2)
        out = draw(r, checker, "stretch")[:, :, 0]
        row = out[16]
        # A nearest or block upscale has two values; a bicubic ramps between them.
        assert len(np.unique(row)) > 16
        assert ((row > 40) & (row < 215)).mean() > 0.3
        assert np.abs(np.diff(row)).max() < 40  # no hard edge anywhere along the row
        same = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
        assert np.array_equal(draw(r, same, "fit"), same.astype(int))  # 1:1 is exact, not filtered
    finally:
        r.close()


def test_fit_rect():
    assert fit_rect(512, 512, 1920, 1080) == (420, 0, 1080, 1080)
    assert fit_rect(1920, 1080, 600, 540) == (0, 101, 600, 337)


# ---------------------------------------------------------------------------------------------
# operator view and HUD


def _lit(panel: np.ndarray) -> int:
    """Pixels of the meters' green in a HUD region."""
    return int(((panel[:, :, 1] > 180) & (panel[:, :, 0] < 140) & (panel[:, :, 2] < 160)).sum())


def test_operator_view_shows_output_and_hud_that_moves():
    r = Renderer(128, 128, headless=True, aspect="fit")
    state = {"s": AudioState(low=0.1, mid=0.1, high=0.1, level=0.1, bpm=128.0)}
    status = {"preset": "demo", "fps": 60.0, "blackout": False}
    warnings = WarningLog()
    win = StageWindows(r, operator="", hud_source=lambda: (state["s"], status), key_help=["B  blackout"],
                       warnings=warnings)
    try:
        red = np.zeros((32, 32, 3), np.uint8)
        red[..., 0] = 255
        out = draw(r, red, "fit")
        assert out[..., 0].min() > 240  # the output itself
        win.draw_operator(0.0)
        view = win.read("operator")
        h, w = view.shape[:2]
        PANEL_W = panel_width(w, h)
        ax, ay, aw, ah = preview_area(w, h)
        x, y, pw, ph = fit_rect(128, 128, aw, ah)
        assert view[ph // 2, x + pw // 2, 0] > 240 and view[ph // 2, x + pw // 2, 1] < 30  # at the area's top
        assert view[ph // 2, 2].max() == 0  # letterboxed: the bars stay black
        quiet = _lit(view[:, w - PANEL_W:])
        state["s"] = replace(state["s"], low=0.9, mid=0.9, high=0.9, level=0.9)
        win.draw_operator(1.0)
        loud = _lit(win.read("operator")[:, w - PANEL_W:])
        assert loud > quiet * 3 and loud - quiet > 500  # the meters grew
        win.hud_on = False
        win.draw_operator(2.0)
        assert _lit(win.read("operator")[:, w - PANEL_W:]) < loud // 10  # HUD off: preview only
    finally:
        win.close()
        r.close()


def test_status_lines_show_what_the_status_has():
    state = AudioState(bpm=128.0, tempo=128.0, confidence=0.75, tempo_source="tap")
    plain = "\n".join(status_lines({"preset": "demo", "fps": 59.9}, state))
    assert "0.75" in plain and "tap" in plain and "demo" in plain and "59.9" in plain
    assert "section" not in plain and "next" not in plain
    more = "\n".join(status_lines({"preset": "a", "queued": "b", "section": "drop", "decode_fps": 12.5,
                                   "latency_ms": 41.0}, state))
    assert "next b" in more and "section drop" in more and "12.5" in more and "41 ms" in more
    assert "fade to black 40%" in "\n".join(status_lines({"fade": True, "fade_level": 0.4}, state))


def test_warning_log_keeps_the_last_lines_from_any_thread():
    handler = WarningLog(keep=3)
    log = logging.getLogger("test.hud.warnings")
    log.addHandler(handler)
    try:
        log.info("not kept")
        threads = [threading.Thread(target=log.warning, args=(f"warning {i}",)) for i in range(5)]
        for t in threads:
            t.start()
            t.join()
        log.error("last one")
    finally:
        log.removeHandler(handler)
    lines = handler.lines()
    assert len(lines) == 3 and lines[-1].endswith("last one") and all("not kept" not in x for x in lines)


# ---------------------------------------------------------------------------------------------
# keys


def test_key_table_is_consistent():
    from pyglet.window import key

    for binding in KEYS:
        assert binding.command in COMMANDS or binding.command in SHORTCUTS or binding.command in WINDOW_ACTIONS
        for name in binding.keys:
            assert hasattr(key, name.removeprefix("CTRL+")), name
    assert len(KEY_ACTIONS) == sum(len(b.keys) for b in KEYS)  # no key bound twice
    assert key_command("RIGHT") == Command("preset", ("+1",), "keyboard")
    assert key_command("PAGEUP") == Command("preset", ("-1",), "keyboard")
    assert key_command("H") == Command("hold", (), "keyboard")
    assert key_command("TAB") is None and key_command("ESCAPE") is None and key_command("Z") is None


def test_keys_become_commands_and_quit_is_deliberate(caplog):
    from pyglet.window import key

    r = Renderer(32, 32, headless=True)
    sent = []
    win = StageWindows(r, operator="", keys=KEY_ACTIONS, on_command=sent.append)
    try:
        window = win.operator.window
        for symbol in (key.B, key.F, key.H, key.SPACE, key.R, key.RIGHT, key.LEFT):
            window.dispatch_event("on_key_press", symbol, 0)  # through pyglet's own event queue
        window.dispatch_events()
        assert sent == ["blackout", "freeze", "hold", "tap", "resync", "preset_next", "preset_prev"]
        window.dispatch_event("on_key_press", key.TAB, 0)
        window.dispatch_events()
        assert not win.hud_on and not win.closed
        with caplog.at_level(logging.INFO):
            win.press("ESCAPE", now=10.0)
            win.press("ESCAPE", now=12.0)  # too slow: not a quit
            assert not win.closed and "again" in caplog.text
            win.press("ESCAPE", now=12.5)
        assert win.closed and "Esc" in win.quit_reason
        win.quit_reason = ""
        window.dispatch_event("on_key_press", key.Q, key.MOD_CTRL)
        window.dispatch_events()
        assert win.closed and "CTRL+Q" in win.quit_reason
    finally:
        win.close()
        r.close()


def test_tab_without_an_operator_window_opens_one_with_the_hud(caplog):
    r = Renderer(32, 32, headless=True)
    win = StageWindows(r, keys=KEY_ACTIONS)
    try:
        assert win.operator is None
        with caplog.at_level(logging.INFO):
            win.press("TAB")
        assert win.hud_on and "operator window opened" in caplog.text
        r.draw(0.0, 1.0, {})
        win.flip()  # opened on the next frame, not inside the key handler
        assert win.operator.window is not None and win.operator.hud is not None
        win.draw_operator(0.0)
        win.press("TAB")
        assert not win.hud_on and win.operator.window is not None
    finally:
        win.close()
        r.close()


def test_runner_puts_keyboard_commands_on_the_show_queue():
    from live.handoff import LatestSlot
    from live.show.runner import ShowSettings, _open_windows

    class Stage:
        show = None

        def status(self):
            return {"preset": "demo"}

    r = Renderer(32, 32, headless=True)
    commands = CommandQueue()
    from contextlib import ExitStack

    with ExitStack() as stack:
        win = _open_windows(ShowSettings(headless=True, operator=""), r, commands, Stage(), LatestSlot(), stack)
        for name in ("B", "RIGHT", "TAB", "T"):
            win.press(name)
        assert [(c.name, c.args, c.source) for c in commands.drain()] == [
            ("blackout", (), "keyboard"), ("preset", ("+1",), "keyboard"), ("tap", (), "keyboard")]
        win.draw_operator(0.0)  # the HUD reads the stage's status without a show
    r.close()


# ---------------------------------------------------------------------------------------------
# accidental close


def test_accidental_close_reopens_and_the_loop_goes_on(caplog):
    r = Renderer(32, 32, headless=True)
    win = StageWindows(r, operator="")
    first = win.operator.window
    ticks = []

    def tick(t, state):
        if len(ticks) == 3:
            first.dispatch_event("on_close")  # the window manager's close button
        ticks.append(t)
        r.draw(t, 1.0, {})

    try:
        with caplog.at_level(logging.WARNING):
            done = driver.run(tick, SteppedClock(30, 10), WindowSink(win), lambda t: AudioState())
        assert done.frames == 10 and not win.closed
        assert win.operator.window is not first and win.operator.window is not None  # opened again
        assert "opening it again" in caplog.text
        win.draw_operator(0.0)
        assert win.read("operator").shape[0] > 0
    finally:
        win.close()
        r.close()


def test_find_screen_by_index_or_name():
    @dataclass
    class S:
        name: str
        x: int = 0
        y: int = 0
        width: int = 1920
        height: int = 1080

    screens = [S("eDP-1"), S("HDMI-1", x=1920)]
    assert find_screen("1", screens) == 1 and find_screen("hdmi", screens) == 1 and find_screen("eDP", screens) == 0
    assert find_screen("2", screens) is None and find_screen("DP-3", screens) is None


def test_bad_screen_and_aspect_flags_are_one_line_errors():
    from live.show.runner import ShowSettings

    with pytest.raises(UserError, match="--screen -1"):
        ShowSettings(screen="-1")
    with pytest.raises(UserError, match="--aspect"):
        ShowSettings(aspect="zoom")
    with pytest.raises(UserError):
        ShowSettings(output_size="0x0")


# ---------------------------------------------------------------------------------------------
# real windows under Xvfb

XVFB_SCRIPT = textwrap.dedent("""
    import numpy as np
    from dataclasses import dataclass
    from live.errors import UserError
    from live.visuals.renderer import Renderer
    from live.visuals.windows import StageWindows, pick_screen

    @dataclass
    class Frame:
        rgb: np.ndarray
        display_time: float
        seq: int

    @dataclass
    class Fake:
        name: str
        x: int
        y: int
        width: int
        height: int

    try:
        pick_screen("HDMI")
        raise SystemExit("no error for a missing screen")
    except UserError as exc:
        assert "0: " in str(exc) and "640x480" in str(exc), exc
    r = Renderer(160, 90, hidden=True, headless=False, aspect="fit")
    win = StageWindows(r, screen="0", window_size=(320, 180), operator="0", vsync=False)
    img = np.zeros((16, 16, 3), np.uint8); img[..., 2] = 255
    r.set_shaders([]); r.update_frames(None, Frame(img, 0.0, 1)); r.draw(0.0, 1.0, {})
    win.draw_output()
    out = win.read("output")
    # Both asked for the one screen: side by side, the output at its left, at the picture's aspect.
    assert out.shape == (144, 256, 3), out.shape
    assert out[72, 128, 2] > 240 and out[72, 5].max() == 0, (out[72, 128], out[72, 5])  # blue, pillarboxed
    win.draw_operator(0.0)
    assert win.read("operator")[:, :100, 2].max() > 240
    first = win.output.window
    first.dispatch_event("on_close")
    for _ in range(3):
        r.draw(0.0, 1.0, {}); win.flip()
    assert win.output.window is not first and not win.closed and not win.output.window.has_exit
    win.draw_output()
    assert win.read("output")[72, 128, 2] > 240
    before = win.output.window.get_location()
    win.follow_screens([Fake("other", 100, 50, 400, 300)])  # the screen it was on is gone
    assert win.output.window.get_location() != before and win.output.screen_key[0] == "other"
    win._poll_screens()  # the real screens: back to the one asked for (the fake one is gone)
    assert win.output.screen_key[0] != "other", win.output.screen_key
    win.follow_screens = None  # unchanged XRandR timestamps: the screens are not listed again
    win._poll_screens()
    win.close(); r.close()
    print("xvfb ok")
""")


def run_under_xvfb(tmp_path, source: str, screen: str, done: str) -> None:
    """Run ``source`` as a script on a virtual X screen (``screen``: WxHxDEPTH); it must exit 0 and
    print ``done``. Skips where xvfb-run is missing or Xvfb cannot start."""
    if not shutil.which("xvfb-run"):
        pytest.skip("xvfb-run not installed")
    script = tmp_path / "script.py"
    script.write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["PYTHONPATH"] = str(ROOT)
    try:
        proc = subprocess.run(["xvfb-run", "-a", "-s", f"-screen 0 {screen}", sys.executable, str(script)],
                              capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.skip("Xvfb did not answer in time")
    if done not in proc.stdout and ("Xvfb failed" in proc.stderr or "cannot open display" in proc.stderr.lower()):
        pytest.skip(f"Xvfb cannot start here: {proc.stderr[-300:]}")
    assert proc.returncode == 0 and done in proc.stdout, proc.stderr[-3000:]


def test_real_windows_under_xvfb(tmp_path):
    run_under_xvfb(tmp_path, XVFB_SCRIPT, "640x480x24", "xvfb ok")


def test_readme_lists_the_key_table():
    from live.control.commands import key_reference_markdown

    # If this fails, paste key_reference_markdown() over the key table in README.md.
    assert key_reference_markdown() in (ROOT / "README.md").read_text(encoding="utf-8")


def test_hud_status_adds_hold_decode_fps_and_latency(monkeypatch):
    from types import SimpleNamespace

    from live.show import runner

    frames = {"seq": 10}
    decode = SimpleNamespace(frames=lambda: (None, SimpleNamespace(seq=frames["seq"], rgb=np.zeros((9, 16, 3), np.uint8))),
                             lookahead=0.050)
    show = SimpleNamespace(decode=decode, frame_period=0.010, traversal=SimpleNamespace(holding=True),
                           bank=SimpleNamespace(names=lambda: ["demo"]), preset_name="demo")
    stage = SimpleNamespace(show=show, status=lambda: {"preset": "demo", "fps": 60.0})
    clock = {"t": 100.0}
    monkeypatch.setattr(runner.time, "perf_counter", lambda: clock["t"])
    hud = runner.HudStatus(stage)
    first = hud()
    assert first["hold"] is True and first["preset"] == "demo" and abs(first["latency_ms"] - 40.0) < 1e-6
    frames["seq"], clock["t"] = 34, 102.0  # 24 new frames in 2 s
    assert abs(hud()["decode_fps"] - 12.0) < 1e-6
    assert "hold" not in runner.HudStatus(SimpleNamespace(show=None, status=lambda: {"preset": ""}))()


def test_a_deliberate_quit_ends_the_driver_loop_and_one_esc_does_not():
    from pyglet.window import key

    r = Renderer(32, 32, headless=True)
    win = StageWindows(r, operator="", keys=KEY_ACTIONS)
    window = win.operator.window
    ticks = []

    def tick(t, state):
        ticks.append(t)
        if len(ticks) == 2:
            window.dispatch_event("on_key_press", key.ESCAPE, 0)  # pyglet's default would close the window
        if len(ticks) == 5:
            window.dispatch_event("on_key_press", key.Q, key.MOD_CTRL)
        r.draw(t, 1.0, {})

    try:
        done = driver.run(tick, SteppedClock(30, 50), WindowSink(win), lambda t: AudioState())
        assert done.frames == 5 and win.closed and win.operator.window is window  # one Esc closed nothing
    finally:
        win.close()
        r.close()


# ---------------------------------------------------------------------------------------------
# the operator view for a dark booth


def _hud_status(**more):
    status = {"preset": "a", "queued": "b", "queued_unit": "bar", "due_beats": 5.0, "due_s": 2.34, "fps": 60.0,
              "decode_fps": 0.0, "last_message": "osc: /preset ('b',)", "last_message_at": 0.0,
              "chain": "pulse amount=0.5", "preset_list": ["a", "b", "c"]}
    status.update(more)
    return status


def test_status_lines_say_frozen_instead_of_fps():
    state = AudioState(tempo=0.0)
    frozen = "\n".join(status_lines(_hud_status(freeze=True, fps=171.5), state))
    assert "FROZEN" in frozen and "fps" not in frozen
    assert "out 60.0 fps" in "\n".join(status_lines(_hud_status(), state))
    assert countdown_text(_hud_status(), 0.0) == "NEXT b in 2 bars  2.3 s"
    assert countdown_text(_hud_status(due_at=10.0, due_beats=3.0, queued_unit="phrase"), 9.0) == "NEXT b in 3 beats  1.0 s"
    assert countdown_text({"queued_section": "drop", "due_beats": 16.0, "due_s": 7.5}, 0.0) == "NEXT section drop in 4 bars  7.5 s"
    assert countdown_text({"preset": "a"}, 0.0) == ""


def _amber(img):
    return int(((img[..., 0] > 200) & (img[..., 1] > 140) & (img[..., 1] < 210) & (img[..., 2] < 90)).sum())


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_hud_layout_scales_with_the_window(size):
    """At both sizes: the panel at the right scaled with the window, the BPM large at its top,
    the clip lamp red while clipping, the preset strip under the preview with the thumbnails,
    the current preset's mark green and the queued one's amber."""
    w, h = size
    r = Renderer(160, 90, headless=True, aspect="fit")
    thumb = np.zeros((54, 96, 3), np.uint8)
    thumb[..., 2] = 255  # blue thumbnails
    state = {"s": AudioState(tempo=128.0, bpm=128.0, input_peak=1.0, clipping=True)}
    status = _hud_status(thumbnails={"a": thumb, "c": thumb})
    win = StageWindows(r, operator="", hud_source=lambda: (state["s"], status), key_help=["B  blackout"],
                       operator_size=size)
    try:
        r.update_frames(None, Frame(np.zeros((9, 16, 3), np.uint8), 0.0, next(_SEQ)))
        r.draw(0.0, 1.0, {})
        win.draw_operator(0.0)
        view = win.read("operator").astype(int)
        assert view.shape[:2] == (h, w)
        pw = panel_width(w, h)
        assert abs(pw - 400 * h / 540) <= 1  # scaled with the window
        panel, strip = view[:, w - pw:], view[h - int(h * 0.3):, : w - pw]
        bright = (panel.max(axis=2) > 200).any(axis=1)
        rows = np.flatnonzero(bright[: int(80 * h / 540)])
        assert rows.max() - rows.min() > 0.05 * h  # the BPM is a tall line of text at the top
        red = (panel[..., 0] > 200) & (panel[..., 1] < 100) & (panel[..., 2] < 100)
        assert red.sum() > 400 * (h / 720) ** 2  # the clip lamp
        blue = (strip[..., 2] > 200) & (strip[..., 0] < 60)
        assert blue.sum() > 2 * 0.8 * (w - pw) / 6 * (w - pw) / 6 * 9 / 16 * 0.5  # two thumbnails
        green = (strip[..., 1] > 180) & (strip[..., 0] < 140) & (strip[..., 2] < 160)
        assert green.sum() > 200 and _amber(strip) > 200  # current and queued marked
        state["s"] = replace(state["s"], clipping=False, input_peak=0.01)
        win.draw_operator(1.0)
        view = win.read("operator").astype(int)[:, w - pw:]
        assert ((view[..., 0] > 200) & (view[..., 1] < 100) & (view[..., 2] < 100)).sum() < red.sum() // 4
    finally:
        win.close()
        r.close()


def test_one_screen_puts_output_and_operator_side_by_side():
    @dataclass
    class S:
        name: str = "eDP-1"
        x: int = 0
        y: int = 0
        width: int = 1920
        height: int = 1080

    for screen in (S(), S(width=1280, height=720, x=1920)):
        (ox, oy, ow, oh), (px, py, pw, ph) = side_by_side(screen, 16 / 9)
        assert ox >= screen.x and ox + ow <= px and px + pw <= screen.x + screen.width  # no overlap, on the screen
        assert oy >= screen.y and oy + oh <= screen.y + screen.height and ph <= screen.height
        assert abs(ow / oh - 16 / 9) < 0.02 and pw >= 0.55 * screen.width


XVFB_SIDE = textwrap.dedent("""
    from live.visuals.renderer import Renderer
    from live.visuals.windows import StageWindows
    r = Renderer(160, 90, hidden=True, headless=False, aspect="fit")
    win = StageWindows(r, fullscreen=True, operator="", vsync=False)
    for _ in range(3):
        r.draw(0.0, 1.0, {}); win.flip()
    (ox, oy), (ow, oh) = win.output.window.get_location(), win.output.window.get_size()
    (px, py), (pw, ph) = win.operator.window.get_location(), win.operator.window.get_size()
    assert not win.output.window.fullscreen, "fullscreen on the one screen would cover the operator window"
    assert ox + ow <= px and pw > 0 and px + pw <= 1280, ((ox, oy, ow, oh), (px, py, pw, ph))
    win.close(); r.close()
    print("side ok")
""")


def test_one_screen_windows_open_side_by_side_under_xvfb(tmp_path):
    run_under_xvfb(tmp_path, XVFB_SIDE, "1280x720x24", "side ok")
