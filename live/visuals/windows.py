"""The stage's windows: the output (fullscreen on a chosen screen) and the operator's window
(a preview of the output and the HUD), around one renderer.

The renderer draws in its own hidden window (``Renderer(hidden=True)``); each window here only
draws the renderer's output texture (shared between the contexts: no copy through the CPU) into
itself, with its own vertex array (those belong to one context). So a window can be closed and
opened again at any time without touching the renderer: a window closed by accident (the window
manager's close button, Alt+F4) is reopened on its screen, and a screen that goes away sends the
window to the first screen left. Quitting is deliberate: Ctrl+Q, or Esc twice within
:data:`QUIT_PRESS_S` (and SIGINT/SIGTERM, which the runner handles).

Offscreen (``Renderer(headless=True)``) there is no output window; the operator view is then a
hidden pbuffer window, drawn all the same, for tests and benchmarks.

Keys go to ``on_command(name)`` as the command or shortcut name the key table (passed in as
``keys``: key name -> command name) binds them to; ``hud`` and ``quit`` are handled here.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

import numpy as np

from live.errors import UserError
from live.messages import AudioState
from live.ratelog import RateLimitedLog
from live.visuals.hud import Hud, WarningLog, preview_area
from live.visuals.renderer import PASSTHROUGH_SOURCE, VERTEX_SOURCE, screen_label

_LOGGER = logging.getLogger(__name__)

SCREEN_POLL_S = 3.0  # how often the screens are listed to follow one that appears or goes away
QUIT_PRESS_S = 1.0  # Esc twice within this quits
REOPEN_RETRY_S = 1.0  # a window that failed to open is tried again this often
OPERATOR_SIZE = (960, 540)
OPERATOR_FPS = 30.0  # the operator view is redrawn at most this often: the output's frames come first
OPERATOR_EVERY = 2  # ... and at most every this many output frames (a slow output is not slowed further)


def list_screens_raw() -> list[Any]:
    """pyglet's screens now (listed afresh: screens come and go); raises where there is no display."""
    import pyglet

    return list(pyglet.display.get_display().get_screens())


def screens_fingerprint() -> Any:
    """Something that changes when the screens change, cheap enough to ask every few seconds, or
    None where there is no such thing. On X11, pyglet's screen listing asks XRandR for the full
    screen resources, which probes the outputs (tens of ms on real hardware: a visible hitch), so
    the poll first compares XRandR's cached configuration timestamps."""
    import pyglet

    display = pyglet.display.get_display()
    xdisplay = getattr(display, "_display", None)
    if xdisplay is None or type(display).__name__ != "XlibDisplay":
        return None
    from pyglet.libs.x11 import xlib, xrandr

    res = xrandr.XRRGetScreenResourcesCurrent(xdisplay, xlib.XDefaultRootWindow(xdisplay))
    if not res:
        return None
    try:
        return (res.contents.timestamp, res.contents.configTimestamp, res.contents.noutput)
    finally:
        xrandr.XRRFreeScreenResources(res)


def screen_name(screen: Any) -> str:
    """The screen's output name (``HDMI-1``) where the platform gives one, else ''."""
    return str(getattr(screen, "name", "") or "")


def _key(screen: Any) -> tuple[Any, ...]:
    return (screen_name(screen), screen.x, screen.y, screen.width, screen.height)


def find_screen(spec: str, screens: list[Any]) -> int | None:
    """The index of the screen ``spec`` names: an index, or part of its name (any case); None if none."""
    spec = spec.strip()
    if spec.isdigit():
        return int(spec) if int(spec) < len(screens) else None
    for index, screen in enumerate(screens):
        if spec and spec.lower() in screen_name(screen).lower():
            return index
    return None


def pick_screen(spec: str | None, flag: str = "--screen") -> Any:
    """The screen ``spec`` names (None or '': the first screen); UserError listing the screens
    when none matches or there is no display."""
    try:
        screens = list_screens_raw()
    except Exception as exc:  # no X server, no EGL: one line, not a traceback
        raise UserError(f"{flag}: no screens to open a window on ({exc}); use --headless") from None
    if not screens:
        raise UserError(f"{flag}: no screens to open a window on; use --headless")
    index = find_screen(spec, screens) if spec else 0
    if index is None:
        listed = "; ".join(screen_label(i, s) for i, s in enumerate(screens))
        raise UserError(f"{flag} {spec}: no such screen (screens: {listed})")
    return screens[index]


def fit_rect(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """(x, y, w, h): ``src`` scaled to fit inside ``dst``, centred, aspect kept (letterbox)."""
    scale = min(dst_w / max(src_w, 1), dst_h / max(src_h, 1))
    w, h = max(1, int(src_w * scale)), max(1, int(src_h * scale))
    return (dst_w - w) // 2, (dst_h - h) // 2, w, h


class _View:
    """One window showing the output texture: its pyglet window, its quad, its HUD (both per
    context), and the screen it was asked for and is on."""

    def __init__(self, role: str, spec: str | None, make: Callable[[Any], Any], with_hud: bool) -> None:
        self.role, self.spec, self.make, self.with_hud = role, spec, make, with_hud
        self.window: Any = None
        self.quad: Any = None
        self.hud: Hud | None = None
        self.screen_key: tuple[Any, ...] | None = None
        self.reopen = False
        self.relayout = False
        self.retry_at = 0.0


class StageWindows:
    """The output window (not offscreen) and the operator window (``operator`` not None: a
    screen spec, '' for any) around ``renderer``; a :class:`live.show.driver.WindowSink` presents
    through :meth:`flip` and stops on :attr:`closed` (a deliberate quit).

    ``hud_source()`` gives the newest (AudioState, status dict) for the HUD; ``key_help`` is the
    key table's lines; ``warnings`` the handler whose last lines the HUD shows.
    """

    def __init__(self, renderer: Any, *, screen: str | None = None, fullscreen: bool = False,
                 window_size: tuple[int, int] | None = None, vsync: bool = True, operator: str | None = None,
                 keys: dict[str, str] | None = None, on_command: Callable[[str], None] | None = None,
                 hud_source: Callable[[], tuple[AudioState, dict[str, Any]]] | None = None,
                 key_help: list[str] | None = None, warnings: WarningLog | None = None,
                 title: str = "live visuals", operator_size: tuple[int, int] = OPERATOR_SIZE) -> None:
        import pyglet
        from pyglet.graphics.shader import Shader, ShaderProgram

        self.renderer = renderer
        self.fullscreen, self.vsync, self.title = fullscreen, vsync, title
        self.window_size = window_size or (renderer.width, renderer.height)
        self.keys = dict(keys or {})
        self.on_command = on_command or (lambda name: None)
        self.hud_source = hud_source or (lambda: (AudioState(), {}))
        self.key_help, self.warnings = list(key_help or []), warnings
        self.operator_size = operator_size
        self.hud_on = True
        self.quit_reason = ""
        self._esc_at = -1e9
        self._operator_at = -1e9
        self._frames = 0
        self._screens_at = time.perf_counter()
        self._fingerprint: Any = None
        self._log = RateLimitedLog(_LOGGER, level=logging.ERROR)
        self._config = pyglet.gl.Config(double_buffer=True, major_version=3, minor_version=3)
        renderer.window.switch_to()
        self._program = ShaderProgram(Shader(VERTEX_SOURCE, "vertex"), Shader(PASSTHROUGH_SOURCE, "fragment"))
        self.output = None if renderer.headless else _View("output", screen, self._make_output, False)
        self.operator = None if operator is None else _View("operator", operator, self._make_operator, True)
        screens = self._screens()
        for view in self.views:
            self._open(view, self._screen_for(view, screens))
        renderer.window.switch_to()

    @property
    def views(self) -> list[_View]:
        """The windows this object keeps open."""
        return [v for v in (self.output, self.operator) if v is not None]

    @property
    def closed(self) -> bool:
        """True once the operator quit on purpose (Ctrl+Q, Esc twice); a closed window is not that."""
        return bool(self.quit_reason)

    # ------------------------------------------------------------------ windows

    def _shared(self, screen: Any) -> bool:
        """True when the output and the operator window both go on ``screen`` (one screen, or both
        asked for the same one): then they open side by side (:func:`side_by_side`), never one
        over the other."""
        if screen is None or self.output is None or self.operator is None or self.renderer.headless:
            return False
        screens = self._screens()
        if not screens:
            return False
        out = self._screen_for(self.output, screens)
        return _key(out) == _key(screen) == _key(self._screen_for(self.operator, screens, _key(out)))

    def _make_output(self, screen: Any) -> Any:
        import pyglet

        if self._shared(screen):
            # One screen for both: a fullscreen output would cover the operator window.
            (x, y, w, h), _ = side_by_side(screen, self.renderer.width / self.renderer.height)
            if self.fullscreen:
                _LOGGER.warning("one screen: the output opens as a window beside the operator window, not fullscreen "
                                "(connect the projector, or pass --screen and --operator for two screens)")
            window = pyglet.window.Window(w, h, caption=self.title, screen=screen, vsync=self.vsync, resizable=True,
                                          config=self._config)
            window.set_location(x, y)
            return window
        if self.fullscreen:
            window = pyglet.window.Window(caption=self.title, fullscreen=True, screen=screen, vsync=self.vsync,
                                          config=self._config)
            window.set_mouse_visible(False)  # no pointer on the projector
            return window
        w, h = self.window_size
        window = pyglet.window.Window(w, h, caption=self.title, screen=screen, vsync=self.vsync, resizable=True,
                                      config=self._config)
        _centre(window, screen)
        return window

    def _make_operator(self, screen: Any) -> Any:
        import pyglet

        w, h = self.operator_size
        if self.renderer.headless:
            return pyglet.window.Window(w, h, visible=False, config=self._config)
        shared = self._shared(screen)
        if shared:
            out_rect, (x, y, w, h) = side_by_side(screen, self.renderer.width / self.renderer.height)
            self._make_room(out_rect)
        # No vsync: only the output waits for its screen; the operator view is drawn at most OPERATOR_FPS.
        window = pyglet.window.Window(w, h, caption=f"{self.title}: operator", screen=screen, vsync=False,
                                      resizable=True, config=self._config)
        if shared:
            window.set_location(x, y)
        else:
            _centre(window, screen)
        return window

    def _make_room(self, rect: tuple[int, int, int, int]) -> None:
        """An output window already open (fullscreen, as when Tab opens the operator window on a
        one-screen show) leaves fullscreen and moves to ``rect``, so the operator view is not under it."""
        window = self.output.window if self.output is not None else None
        if window is None:
            return
        try:
            if window.fullscreen:
                window.set_fullscreen(False)
            window.set_size(rect[2], rect[3])
            window.set_location(rect[0], rect[1])
        except Exception as exc:  # noqa: BLE001 - a window manager refusing a move must not stop the show
            _LOGGER.warning("cannot move the output window beside the operator window: %s", exc)

    def _open(self, view: _View, screen: Any) -> None:
        """(Re)open ``view``'s window on ``screen``; on failure log it and retry later."""
        import pyglet

        self._close_window(view)
        try:
            view.window = view.make(screen)
        except Exception as exc:  # noqa: BLE001 - a window that cannot open must not stop the show
            view.window, view.reopen, view.retry_at = None, True, time.perf_counter() + REOPEN_RETRY_S
            self._log.report(f"open-{view.role}", f"cannot open the {view.role} window ({exc}); trying again")
            return
        view.reopen = False
        view.screen_key = _key(screen) if screen is not None else None
        view.window.switch_to()
        view.quad = self._program.vertex_list(4, pyglet.gl.GL_TRIANGLE_STRIP,
                                              position=("f", (-1, -1, 1, -1, -1, 1, 1, 1)))
        view.hud = self._new_hud(view) if view.with_hud else None
        view.window.push_handlers(on_close=lambda: self._on_close(view), on_key_press=self._on_key,
                                  on_resize=lambda w, h: self._on_resize(view))
        self.renderer.window.switch_to()

    def _new_hud(self, view: _View) -> Hud:
        w, h = view.window.get_size()
        return Hud(w, h, self.key_help)

    def _on_resize(self, view: _View) -> None:
        view.relayout = view.hud is not None  # the HUD is laid out again when next drawn, in its context

    def _close_window(self, view: _View) -> None:
        window, view.window, view.quad, view.hud = view.window, None, None, None
        if window is None:
            return
        try:
            window.close()
        except Exception as exc:  # noqa: BLE001 - a window whose display went away may fail to close
            _LOGGER.debug("closing the %s window: %s", view.role, exc)

    def _on_close(self, view: _View) -> bool:
        """The window manager closed a window: not a quit; it is opened again on the next frame."""
        _LOGGER.warning("%s window closed; opening it again (to quit: Ctrl+Q, or Esc twice)", view.role)
        view.reopen = True
        return True  # handled: pyglet's default would end the window

    def _screens(self) -> list[Any]:
        if self.renderer.headless:
            return []
        try:
            return list_screens_raw()
        except Exception as exc:  # noqa: BLE001 - a display hiccup must not stop the show
            self._log.report("screens", f"cannot list the screens ({exc}); windows stay where they are")
            return []

    def _screen_for(self, view: _View, screens: list[Any], output_key: tuple[Any, ...] | None = None) -> Any:
        """The screen ``view`` belongs on: the one asked for if present, else the one it is on if
        still there, else the first screen left (None without screens); the operator window goes
        beside the output (on screen ``output_key``, else the one it is on) where there is another."""
        if not screens:
            return None
        index = find_screen(view.spec, screens) if view.spec else None
        keys = [_key(s) for s in screens]
        if index is None and view.screen_key in keys:
            index = keys.index(view.screen_key)
        if index is None and view is self.operator and self.output is not None:
            # An operator window without a screen of its own goes beside the output, not under it.
            taken = output_key or self.output.screen_key
            index = next((i for i, k in enumerate(keys) if k != taken), 0)
        return screens[index or 0]

    def _poll_screens(self) -> None:
        """Follow the screens if they may have changed since the last poll."""
        try:
            fingerprint = screens_fingerprint()
        except Exception as exc:  # noqa: BLE001 - then list them every time
            self._log.report("fingerprint", f"cannot ask XRandR for the screen configuration ({exc})")
            fingerprint = None
        if fingerprint is not None and fingerprint == self._fingerprint:
            return
        self._fingerprint = fingerprint
        screens = self._screens()
        if screens:
            self.follow_screens(screens)

    def follow_screens(self, screens: list[Any]) -> None:
        """Move each window to the screen it belongs on now (see :meth:`_screen_for`), reopening
        it there if the move fails; logs each move."""
        for view in self.views:
            screen = self._screen_for(view, screens)
            if screen is None or _key(screen) == view.screen_key or view.window is None:
                continue
            label = screen_label(screens.index(screen), screen)
            _LOGGER.warning("screens changed; the %s window moves to screen %s", view.role, label)
            try:
                if view.role == "output" and self.fullscreen:
                    view.window.set_fullscreen(True, screen=screen)
                else:
                    _centre(view.window, screen)
                view.screen_key = _key(screen)
            except Exception as exc:  # noqa: BLE001 - the old screen's window may be beyond repair
                _LOGGER.warning("moving the %s window failed (%s); opening it again there", view.role, exc)
                self._open(view, screen)
        self.renderer.window.switch_to()

    # ------------------------------------------------------------------ keys

    def _on_key(self, symbol: int, modifiers: int) -> bool:
        from pyglet.window import key

        name = key.symbol_string(symbol)
        if modifiers & (key.MOD_CTRL | key.MOD_COMMAND):
            name = f"CTRL+{name}"
        self.press(name)
        return True  # handled: pyglet's default turns Esc into a close

    def press(self, name: str, now: float | None = None) -> None:
        """Carry out key ``name`` (a pyglet key name, ``CTRL+`` in front when held)."""
        now = time.perf_counter() if now is None else now
        action = self.keys.get(name)
        if action == "quit":
            if name != "ESCAPE" or now - self._esc_at <= QUIT_PRESS_S:
                self.quit_reason = "Esc pressed twice" if name == "ESCAPE" else f"{name} pressed"
                _LOGGER.info("quit: %s", self.quit_reason)
            else:
                self._esc_at = now
                _LOGGER.info("Esc: press it again within %.0f s to quit", QUIT_PRESS_S)
        elif action == "hud":
            if self.operator is None:
                # The HUD lives in the operator window, never over the projector: the first Tab of
                # a show started without --operator opens that window (on the next frame, beside
                # the output where there is another screen).
                self.operator = _View("operator", "", self._make_operator, True)
                self.operator.reopen = True
                self.hud_on = True
                _LOGGER.info("HUD on: operator window opened (Tab again hides the HUD)")
                return
            self.hud_on = not self.hud_on
            _LOGGER.info("HUD %s", "on" if self.hud_on else "off")
        elif action:
            self.on_command(action)

    # ------------------------------------------------------------------ drawing

    def flip(self) -> None:
        """Present the output (a vsync wait in a window, a pbuffer swap offscreen), redraw the
        operator view (at most :data:`OPERATOR_FPS`, every :data:`OPERATOR_EVERY` frames), handle window events, reopen closed
        windows and follow the screens (every :data:`SCREEN_POLL_S`)."""
        now = time.perf_counter()
        if now - self._screens_at >= SCREEN_POLL_S and not self.renderer.headless:
            self._screens_at = now
            self._poll_screens()
        for view in self.views:
            if (view.reopen or (view.window is not None and view.window.has_exit)) and now >= view.retry_at:
                self._open(view, self._screen_for(view, self._screens()))
        if self.output is None:
            self.renderer.flip()
        elif self.output.window is not None:
            self.draw_output(restore=False)
            self.output.window.flip()
        self._frames += 1
        if (self.operator is not None and self.operator.window is not None and self._frames % OPERATOR_EVERY == 0
                and now - self._operator_at >= 1 / OPERATOR_FPS):
            self._operator_at = now
            self.draw_operator(now, restore=False)
            self.operator.window.flip()
        for view in self.views:
            if view.window is not None:
                view.window.switch_to()  # pyglet's own resize handler touches the current context
                view.window.dispatch_events()
        self.renderer.window.switch_to()  # the renderer's passes and uploads happen in its own context

    def draw_output(self, restore: bool = True) -> None:
        """Draw the output texture into the output window, letterboxed (not flipped yet); then make
        the renderer's context current again unless not ``restore``."""
        view = self.output
        view.window.switch_to()
        self._clear()
        w, h = view.window.get_framebuffer_size()
        self._texture(view, fit_rect(self.renderer.width, self.renderer.height, w, h))
        if restore:
            self.renderer.window.switch_to()  # the renderer's uploads and passes happen in its own context

    def draw_operator(self, now: float | None = None, restore: bool = True) -> None:
        """Draw the operator view: the output preview, and the HUD when on (not flipped yet); then
        make the renderer's context current again unless not ``restore``."""
        view = self.operator
        now = time.perf_counter() if now is None else now
        view.window.switch_to()
        self._clear()
        w, h = view.window.get_framebuffer_size()
        if view.relayout:
            view.hud, view.relayout = self._new_hud(view), False
        hud = self.hud_on and view.hud is not None
        ax, ay, aw, ah = preview_area(w, h, hud)
        x, y, pw, ph = fit_rect(self.renderer.width, self.renderer.height, aw, ah)
        self._texture(view, (ax + x, ay + ah - ph, pw, ph))  # at the top of its area, the preset strip under it
        if hud:
            state, status = self.hud_source()
            view.hud.update(now, state, status, self.warnings.lines() if self.warnings else ())
            from pyglet import gl

            gl.glViewport(0, 0, w, h)
            gl.glEnable(gl.GL_BLEND)
            gl.glBlendFunc(gl.GL_SRC_ALPHA, gl.GL_ONE_MINUS_SRC_ALPHA)
            view.hud.draw()
            gl.glDisable(gl.GL_BLEND)
        if restore:
            self.renderer.window.switch_to()

    def _clear(self) -> None:
        from pyglet import gl

        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        gl.glClearColor(0, 0, 0, 1)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)

    def _texture(self, view: _View, rect: tuple[int, int, int, int]) -> None:
        from pyglet import gl

        gl.glViewport(*rect)
        self._program.use()
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_2D, self.renderer.output_texture)
        self._program["u_image"] = 0
        view.quad.draw(gl.GL_TRIANGLE_STRIP)
        self._program.stop()

    def read(self, role: str) -> np.ndarray:
        """What ``role``'s window holds now (draw it first), as (height, width, 3) uint8, top row first."""
        from pyglet import gl

        view = self.output if role == "output" else self.operator
        view.window.switch_to()
        w, h = view.window.get_framebuffer_size()
        out = np.empty((h, w, 3), np.uint8)
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadPixels(0, 0, w, h, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, out.ctypes.data)
        self.renderer.window.switch_to()
        return out[::-1].copy()

    def close(self) -> None:
        """Close every window this object opened."""
        for view in self.views:
            self._close_window(view)
        self.renderer.window.switch_to()  # a closed window's context is gone: delete in the renderer's
        self._program.delete()


SIDE_GAP = 8  # pixels between the output and the operator window sharing one screen
OUTPUT_SHARE = 0.4  # the output's share of a shared screen's width; the operator view takes the rest


def side_by_side(screen: Any, aspect: float) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
    """(x, y, w, h) of the output and of the operator window when both share ``screen``: the
    output at the left (its ``aspect``, :data:`OUTPUT_SHARE` of the width, centred in height), the
    operator view to its right, the rest of the width and all of the height; they never overlap.
    ``y`` counts from the screen's top, as window locations do."""
    ow = int(screen.width * OUTPUT_SHARE)
    oh = min(screen.height, int(ow / max(aspect, 1e-3)))
    output = (screen.x, screen.y + (screen.height - oh) // 2, ow, oh)
    left = ow + SIDE_GAP
    operator = (screen.x + left, screen.y, screen.width - left, screen.height)
    return output, operator


def _centre(window: Any, screen: Any) -> None:
    """Put ``window`` in the middle of ``screen`` (top-left corner on it if it is larger)."""
    if screen is None:
        return
    w, h = window.get_size()
    window.set_location(screen.x + max(0, (screen.width - w) // 2), screen.y + max(0, (screen.height - h) // 2))
