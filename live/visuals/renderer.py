"""The output: a pyglet window (or an offscreen EGL surface) that blends the two newest
decoded frames, runs the preset's GLSL chain and presents.

Draw order each frame: upload any new frame textures -> composite pass (blend the two newest
frames by display time, crossfade from the previous preset) -> each post shader in turn,
ping-ponging between two framebuffers -> blit to the window. The renderer is a leaf: it is
told what to draw and never waits for anyone.
"""

from __future__ import annotations

import ctypes
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from live import paths
from live.errors import UserError
from live.visuals.choices import ASPECTS, check_aspect  # noqa: F401 (declared there, light, for the CLI)
from live.visuals.flash import FLASH_CELLS, LIMIT_SOURCE, LUMA_SOURCE, FlashLimiter
from live.visuals.pixels import COMPOSE_SOURCE, MAX_TERMS
from live.visuals.shaders import ARRAY_UNIFORMS, FRAME_UNIFORMS, ShaderDeclError, ShaderParam, describe, parse_params, read_shader
from live.visuals.transitions import TRANSITION_KINDS

_LOGGER = logging.getLogger(__name__)


VERTEX_SOURCE = """#version 330 core
in vec2 position;
out vec2 v_uv;
void main() {
    v_uv = position * 0.5 + 0.5;
    gl_Position = vec4(position, 0.0, 1.0);
}
"""

# frame_at() maps a decoded frame (any size) onto the output (u_output_size) by u_aspect (fit:
# whole frame, black bars; fill: cover, crop; stretch) and upscales it with a Catmull-Rom bicubic
# (9 bilinear taps), so the post shaders run at output size on a smooth picture. Frames arrive top
# row first, GL textures start at the bottom: flip once, here.
FRAME_AT_SOURCE = """
uniform vec2 u_output_size;
uniform int u_aspect;
vec3 frame_at(sampler2D tex, vec2 uv) {
    vec2 size = vec2(textureSize(tex, 0));
    vec2 scale = u_output_size / size;  // output pixels per frame pixel, per axis
    float s = u_aspect == 0 ? min(scale.x, scale.y) : max(scale.x, scale.y);
    vec2 extent = u_aspect == 2 ? vec2(1.0) : size * s / u_output_size;  // the frame's size in output uv
    vec2 f = (uv - 0.5) / extent + 0.5;
    if (any(lessThan(f, vec2(0.0))) || any(greaterThan(f, vec2(1.0)))) return vec3(0.0);
    vec2 pos = vec2(f.x, 1.0 - f.y) * size;
    if (extent * u_output_size == size) return texture(tex, pos / size).rgb;  // 1:1, nothing to filter
    vec2 t1 = floor(pos - 0.5) + 0.5;
    vec2 d = pos - t1;
    vec2 w0 = d * (-0.5 + d * (1.0 - 0.5 * d));
    vec2 w1 = 1.0 + d * d * (-2.5 + 1.5 * d);
    vec2 w2 = d * (0.5 + d * (2.0 - 1.5 * d));
    vec2 w3 = d * d * (-0.5 + 0.5 * d);
    vec2 w12 = w1 + w2;
    vec2 t0 = (t1 - 1.0) / size, t3 = (t1 + 2.0) / size, t12 = (t1 + w2 / w12) / size;
    vec3 c = (texture(tex, vec2(t0.x, t0.y)).rgb * w0.x + texture(tex, vec2(t12.x, t0.y)).rgb * w12.x
              + texture(tex, vec2(t3.x, t0.y)).rgb * w3.x) * w0.y
           + (texture(tex, vec2(t0.x, t12.y)).rgb * w0.x + texture(tex, vec2(t12.x, t12.y)).rgb * w12.x
              + texture(tex, vec2(t3.x, t12.y)).rgb * w3.x) * w12.y
           + (texture(tex, vec2(t0.x, t3.y)).rgb * w0.x + texture(tex, vec2(t12.x, t3.y)).rgb * w12.x
              + texture(tex, vec2(t3.x, t3.y)).rgb * w3.x) * w3.y;
    return clamp(c, 0.0, 1.0);
}
"""

COMPOSITE_SOURCE = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_older;
uniform sampler2D u_newer;
uniform sampler2D u_from;
uniform float u_frame_mix;
uniform float u_transition;
uniform float u_blackout;
uniform int u_transition_kind;  // TRANSITION_KINDS: 0 crossfade, 1 through black, 2 wipe
// How much of the old preset's picture (from) is left over the new one (to): u_transition
// runs from 1 at the start of a transition to 0 at its end.
vec3 transition_mix(vec3 to, vec3 from, float left) {
    if (u_transition_kind == 1)  // through black: the old fades out, then the new fades in
        return left > 0.5 ? from * (2.0 * left - 1.0) : to * (1.0 - 2.0 * left);
    if (u_transition_kind == 2) {  // wipe: a soft edge moves from left to right
        float edge = mix(-0.05, 1.05, 1.0 - left);
        return mix(to, from, smoothstep(edge - 0.05, edge + 0.05, v_uv.x));
    }
    return mix(to, from, left);
}
""" + FRAME_AT_SOURCE + """
void main() {
    vec3 frame = mix(frame_at(u_older, v_uv), frame_at(u_newer, v_uv), u_frame_mix);
    vec3 colour = transition_mix(frame, texture(u_from, v_uv).rgb, u_transition);
    f_color = vec4(colour * (1.0 - u_blackout), 1.0);
}
"""

PASSTHROUGH_SOURCE = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_image;
void main() { f_color = texture(u_image, v_uv); }
"""

_ERROR_LINE = re.compile(r"^\s*\d+[:(](\d+)[)(:]")
SLOW_SHADER_S = 1.0  # a shader whose one pass takes longer is refused live: the output would freeze, not slow
# (the heaviest shipped shader takes under 0.1 s at 1920x1080 on llvmpipe with two busy cores)
_LISTING_LINE = re.compile(r"^\d{3,}: ")  # pyglet numbers the source it shows: "001: void main..."


class FrameLike(Protocol):
    """What the renderer needs of a decoded frame (live.visuals.worker.Frame fits)."""

    rgb: np.ndarray
    display_time: float
    seq: int


@dataclass
class ShaderState:
    """One post shader: its file, the program last compiled from it, and that file's mtime."""

    path: Path
    program: Any = None
    mtime: float = -1.0
    error: str = ""
    params: dict[str, ShaderParam] | None = None  # the file's declared parameters: what set_param may set
    defaults: dict[str, float] | None = None  # each parameter's declared default, set when no value is


def shader_error_line(message: str) -> str:
    """The first compiler error from a GL info log, as 'line N: text' (Mesa and NVIDIA formats)."""
    lines = message.splitlines()
    for line in lines:
        match = _ERROR_LINE.match(line)
        if match and "error" in line.lower():
            return f"line {match.group(1)}: {line.split('error', 1)[1].lstrip(':C0123456789 ')}"
    # pyglet's own refusals (no #version line) come with the numbered source listing after them:
    # the listing and its rulers are the shader, not the error.
    said = [line.strip() for line in lines
            if line.strip() and not _LISTING_LINE.match(line) and set(line.strip()) != {"-"}]
    errors = [line for line in said if "error" in line.lower()]
    return errors[-1] if errors else (said[0] if said else "unknown error")


def _gl():
    from pyglet import gl

    return gl


def _set_array(program: Any, name: str, values: tuple[float, ...]) -> None:
    """Set a ``uniform float NAME[n]`` (u_chroma): pyglet's array setter when the sizes agree,
    else glUniform1fv on the first elements (a driver may shrink an array it reads only in part)."""
    try:
        program[name] = values
    except (AssertionError, ValueError):
        gl = _gl()
        location = gl.glGetUniformLocation(program.id, name.encode())
        size = min(len(values), _array_size(program, name))
        if location >= 0 and size > 0:
            gl.glUniform1fv(location, size, (gl.GLfloat * size)(*values[:size]))


def _array_size(program: Any, name: str) -> int:
    """How many elements GL kept of the float array uniform ``name`` of ``program``."""
    gl = _gl()
    count = gl.GLint()
    gl.glGetProgramiv(program.id, gl.GL_ACTIVE_UNIFORMS, ctypes.byref(count))
    buffer = ctypes.create_string_buffer(256)
    length, size, kind = gl.GLsizei(), gl.GLint(), gl.GLenum()
    for index in range(count.value):
        gl.glGetActiveUniform(program.id, index, len(buffer), ctypes.byref(length), ctypes.byref(size),
                              ctypes.byref(kind), buffer)
        if buffer.value.decode().split("[", 1)[0] == name:
            return size.value
    return 0


class _Target:
    """An RGB texture with a framebuffer bound to it: one pass's output."""

    def __init__(self, width: int, height: int) -> None:
        gl = _gl()
        self.width, self.height = width, height
        self.texture = _new_texture(width, height)
        fbo = gl.GLuint()
        gl.glGenFramebuffers(1, ctypes.byref(fbo))
        self.fbo = fbo.value
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self.fbo)
        gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_2D, self.texture, 0)
        status = gl.glCheckFramebufferStatus(gl.GL_FRAMEBUFFER)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        if status != gl.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError(f"framebuffer incomplete (status 0x{status:x})")


def _make_texture(width: int, height: int, internal: int, fmt: int, kind: int, data: np.ndarray | None,
                  filtering: int, wrap: int) -> int:
    """A new 2D texture of ``width`` x ``height`` (``internal`` format, pixels ``data`` of ``fmt``
    and ``kind``, or uninitialised), with the given filtering and wrapping."""
    gl = _gl()
    tex = gl.GLuint()
    gl.glGenTextures(1, ctypes.byref(tex))
    gl.glBindTexture(gl.GL_TEXTURE_2D, tex.value)
    for param, value in ((gl.GL_TEXTURE_MIN_FILTER, filtering), (gl.GL_TEXTURE_MAG_FILTER, filtering),
                         (gl.GL_TEXTURE_WRAP_S, wrap), (gl.GL_TEXTURE_WRAP_T, wrap)):
        gl.glTexParameteri(gl.GL_TEXTURE_2D, param, value)
    gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
    pointer = data.ctypes.data if data is not None else None
    gl.glTexImage2D(gl.GL_TEXTURE_2D, 0, internal, width, height, 0, fmt, kind, pointer)
    return tex.value


def _new_gain_texture(side: int) -> int:
    """A ``side`` x ``side`` single-channel float texture of ones, sampled nearest (the flash
    limiter's gains, one texel a region; rows from the bottom, as the cells are measured)."""
    gl = _gl()
    return _make_texture(side, side, gl.GL_R32F, gl.GL_RED, gl.GL_FLOAT, np.ones((side, side), np.float32),
                         gl.GL_NEAREST, gl.GL_CLAMP_TO_EDGE)


def _new_texture(width: int, height: int, data: np.ndarray | None = None) -> int:
    gl = _gl()
    return _make_texture(width, height, gl.GL_RGB8, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, data, gl.GL_LINEAR,
                         gl.GL_MIRRORED_REPEAT)


class Renderer:
    """Window or offscreen surface, frame textures and the shader chain.

    ``headless=True`` draws into an EGL pbuffer (Mesa llvmpipe works), for ``render``,
    ``live --headless`` and tests; otherwise a window opens, fullscreen on ``screen`` if asked.
    ``hidden=True`` draws in a hidden window and presents nothing: :mod:`live.visuals.windows`
    shows :attr:`output_texture` in windows it can close and reopen. ``width`` x ``height`` is the
    output size; decoded frames of any size are mapped onto it by ``aspect`` (:data:`ASPECTS`).
    ``flash_limit`` adds the flash limiter's final pass (:mod:`live.visuals.flash`); the show's
    settings turn it on unless told ``--no-flash-limit``.
    ``watch_shaders=False`` (the offline render) compiles each shader file once, when the chain
    first names it, and never looks at it again: the live reload is timed by the wall clock, so a
    render would otherwise pick up an edit at a frame that depends on how fast it runs.
    """

    def __init__(self, width: int, height: int, *, headless: bool = True, fullscreen: bool = False,
                 screen: int | None = None, vsync: bool = True, shader_dir: Path | None = None,
                 title: str = "live visuals", aspect: str = "stretch", hidden: bool = False,
                 flash_limit: bool = False, watch_shaders: bool = True) -> None:
        import pyglet

        if headless:
            pyglet.options["headless"] = True
        import pyglet.window  # noqa: F401  (after the headless option is set)
        from pyglet.graphics.shader import Shader, ShaderException, ShaderProgram

        self._Shader, self._ShaderProgram = Shader, ShaderProgram
        self._ShaderException = ShaderException
        self.width, self.height = width, height
        self.headless = headless
        self.presents = not (headless or hidden)  # draw() shows the picture in self.window
        self.aspect = check_aspect(aspect)
        self.shader_dir = paths.shaders_dir(shader_dir)
        config = pyglet.gl.Config(double_buffer=True, major_version=3, minor_version=3)
        if headless or hidden:
            self.window = pyglet.window.Window(width, height, visible=False, config=config)
        else:
            screens = pyglet.display.get_display().get_screens()
            chosen = screens[screen] if screen is not None and 0 <= screen < len(screens) else None
            self.window = pyglet.window.Window(width, height, caption=title, fullscreen=fullscreen,
                                               screen=chosen, vsync=vsync, resizable=True, config=config)
        self.window.switch_to()
        gl = _gl()
        self._vertex = Shader(VERTEX_SOURCE, "vertex")
        self._composite = ShaderProgram(self._vertex, Shader(COMPOSITE_SOURCE, "fragment"))
        self._passthrough = ShaderProgram(self._vertex, Shader(PASSTHROUGH_SOURCE, "fragment"))
        self._trial: _Target | None = None  # where a new shader's speed is measured (live only)
        self._quads: dict[int, Any] = {}
        self._states: dict[str, ShaderState] = {}  # every post shader used so far, by name
        self._uniform_names: dict[int, tuple[Any, tuple[str, ...]]] = {}  # id -> (program, its uniforms)
        self._targets = [_Target(width, height) for _ in range(2)]
        self._from = _Target(width, height)  # snapshot of the composite when a transition starts
        black = np.zeros((1, 1, 3), np.uint8)
        self._frame_tex = [_new_texture(1, 1, black), _new_texture(1, 1, black)]
        self._frame_size = [(1, 1), (1, 1)]
        self._frame_seq = [-1, -1]
        # Pixel keyframes (live/visuals/pixels.py): each set's pictures as one texture array,
        # uploaded once; a frame of them is composed on the GPU into its frame slot.
        self._compose_program = ShaderProgram(self._vertex, Shader(COMPOSE_SOURCE, "fragment"))
        self._picture_arrays: dict[int, tuple[Any, int]] = {}  # id(PixelSet) -> (the set, texture)
        fbo = gl.GLuint()
        gl.glGenFramebuffers(1, ctypes.byref(fbo))
        self._compose_fbo = fbo.value
        self._shaders: list[ShaderState] = []
        self._params: dict[str, float] = {}
        self._transition_start = 0.0
        self._transition_length = 0.0
        self._last_poll = 0.0
        self.watch_shaders = bool(watch_shaders)
        self._readback = np.empty((height, width, 3), np.uint8)
        self._output = self._targets[0]
        self._feedback: _Target | None = None  # the last output frame, made once a shader reads u_feedback
        self._transition_kind = 0
        self.flash_limit = bool(flash_limit)
        self.flash_limiter: FlashLimiter | None = None  # on with flash_limit
        if self.flash_limit:
            self._init_flash_limit()
        gl.glDisable(gl.GL_DEPTH_TEST)

    # ------------------------------------------------------------------ shaders

    def set_shaders(self, names: list[str], params: dict[str, float] | None = None) -> None:
        """Use the post shaders ``shaders/NAME.glsl`` in this order, with these uniform values.

        Programs already compiled are reused; a shader that fails to compile is logged with
        its file and line and passed through (or its last good version kept).
        """
        # Every shader keeps its state (and compiled program) for the renderer's life, so a preset
        # switch back and forth reuses programs instead of compiling, and leaking, new ones.
        self._shaders = [self._states.setdefault(name, ShaderState(self.shader_dir / f"{name}.glsl"))
                         for name in names]
        self.poll_shaders(force=True)
        self._params = {}
        for name, value in (params or {}).items():
            try:  # the preset loader checked these; a shader edited since may have changed its ranges
                self.set_param(name, value)
            except UserError as exc:
                _LOGGER.error("preset param not set: %s", exc)

    def set_param(self, name: str, value: float) -> None:
        """Set one declared parameter of the chain's shaders (live tweak from OSC/MIDI, a preset).

        Only a name a shader of the chain declares (``// @param LOW..HIGH``, see
        live/visuals/shaders.py) with a value inside every declaring shader's range is kept;
        anything else raises UserError and stores nothing, so a controller sending new names
        cannot grow the work done each frame.
        """
        if name in FRAME_UNIFORMS:
            raise UserError(f"uniform {name} is one the show drives each frame; a controller cannot set it")
        declared = [(s.path.name, s.params[name]) for s in self._shaders if s.params and name in s.params]
        if not declared:
            chain = ", ".join(s.path.stem for s in self._shaders) or "none"
            raise UserError(f"shader param {name!r:.60} is not declared by the current shaders ({chain}); "
                            f"declared: {describe(self.settable_params())}; not set")
        for file, param in declared:
            param.check(value, f"shader param {name} ({file})")
        self._params[name] = float(value)

    def chain_values(self) -> list[tuple[str, dict[str, float]]]:
        """The chain's shaders in order, each with its declared parameters' live values (for the HUD)."""
        return [(s.path.stem, {n: self._params.get(n, p.default) for n, p in (s.params or {}).items()})
                for s in self._shaders]

    def settable_params(self) -> dict[str, ShaderParam]:
        """The parameters :meth:`set_param` accepts now: every one the chain's shaders declare
        (name -> declaration of the first shader that declares it)."""
        out: dict[str, ShaderParam] = {}
        for state in self._shaders:
            for name, param in (state.params or {}).items():
                out.setdefault(name, param)
        return out

    def poll_shaders(self, force: bool = False) -> None:
        """Recompile shaders whose files changed on disk (checked at most once a second).
        Without ``watch_shaders`` only a shader never read before is read (on ``force``)."""
        now = time.perf_counter()
        if not force and (not self.watch_shaders or now - self._last_poll < 1.0):
            return
        self._last_poll = now
        for state in self._shaders:
            if not self.watch_shaders and state.mtime >= 0:
                continue  # read once already: a render keeps what it started with
            try:
                mtime = state.path.stat().st_mtime
            except OSError:
                if state.error != "missing":
                    state.error = "missing"
                    # The program compiled before stays in the chain: say what the output shows.
                    keeping = "keeping the last good version" if state.program else "passing the picture through"
                    _LOGGER.error("shader %s: file not found; %s", state.path, keeping)
                state.mtime = -1.0  # a file put back (a folder moved back keeps its mtimes) is read again
                continue
            if mtime != state.mtime:
                state.mtime = mtime
                self._compile(state)

    def _compile(self, state: ShaderState) -> None:
        try:
            source = read_shader(state.path)
            params = parse_params(source, str(state.path))  # a bad declaration is a compile error
            program = self._ShaderProgram(self._vertex, self._Shader(source, "fragment"))
        except ShaderDeclError as exc:
            self._refuse(state, f"line {exc.line}: {exc.reason}")
            return
        except UserError as exc:  # not a readable regular file of sane size
            self._refuse(state, str(exc).removeprefix(f"{state.path}: "))
            return
        except self._ShaderException as exc:
            self._refuse(state, shader_error_line(str(exc)))
            return
        try:
            defaults = {n: p.default for n, p in params.items()}
            seconds = self._pass_seconds(program, defaults) if self.watch_shaders else 0.0
        except Exception as exc:  # noqa: BLE001 - pyglet's setters raise several types for a uniform of another type
            # e.g. ``uniform vec2 u_time;``: it compiles, but every frame's draw would raise.
            self._refuse(state, f"cannot be drawn ({exc.__class__.__name__}: {exc}); is a uniform the show sets "
                                f"(u_time, u_pulse, ...) declared with another type?", program)
            return
        if seconds > SLOW_SHADER_S:  # a loop too long for a frame: it would freeze the output, not slow it
            self._refuse(state, f"too slow: about {seconds * 1000:.0f} ms a frame at {self.width}x{self.height} "
                                f"(the limit is {SLOW_SHADER_S * 1000:.0f} ms)", program)
            return
        if state.program is not None:
            self._forget(state.program)
        state.program, state.error = program, ""
        state.params, state.defaults = params, {n: p.default for n, p in params.items()}
        _LOGGER.info("shader %s compiled", state.path.name)

    def _refuse(self, state: ShaderState, error: str, program: Any = None) -> None:
        """Keep ``state``'s last good program (or the passthrough) and log once why the new source
        is refused; ``program``, compiled from it, is dropped."""
        if program is not None:
            self._forget(program)
        state.error = error
        keeping = "keeping the last good version" if state.program else "passing the picture through"
        where = f"{state.path}:{error.removeprefix('line ')}" if error.startswith("line ") else f"{state.path}: {error}"
        _LOGGER.error("shader %s; %s", where, keeping)

    def _pass_seconds(self, program: Any, defaults: dict[str, float]) -> float:
        """About how long one full-size pass of ``program`` takes: one pass timed on a small
        target (a sixteenth of the output, so a runaway loop stalls the show once and briefly),
        less the same pass of the passthrough shader, scaled up by the area."""
        gl = _gl()
        self.window.switch_to()  # framebuffers belong to one context: the renderer's (draw() does the same)
        size = (min(self.width, max(64, self.width // 4)), min(self.height, max(64, self.height // 4)))
        if self._trial is None or (self._trial.width, self._trial.height) != size:
            self._trial = _Target(*size)
        output = self._output
        gl.glViewport(0, 0, *size)
        # Every uniform a frame sets, as draw() sets them: one declared with another type raises here.
        values = {**{name: 0.0 for name in FRAME_UNIFORMS}, "u_chroma": (0.0,) * 12, **self._params,
                  "u_resolution": (float(self.width), float(self.height)), "u_picture": self.picture_rect()}
        spent = []
        try:
            for trial in (self._passthrough, program):
                for _ in range(2):  # the second pass is timed: a driver may finish compiling on the first draw
                    gl.glFinish()
                    start = time.perf_counter()
                    self._pass(trial, self._trial, {"u_image": (0, self._targets[0].texture)}, values, defaults)
                    gl.glFinish()
                spent.append(time.perf_counter() - start)
        finally:
            gl.glViewport(0, 0, self.width, self.height)
            self._output = output
        return max(0.0, spent[1] - spent[0]) * (self.width * self.height) / (size[0] * size[1])

    def shader_errors(self) -> dict[str, str]:
        """Name -> last compile error, for shaders that currently have one."""
        return {s.path.stem: s.error for s in self._shaders if s.error}

    # ------------------------------------------------------------------ frames

    def update_frames(self, older: FrameLike | None, newer: FrameLike | None) -> None:
        """Upload the two newest decoded frames if they changed since the last call.

        When the old "newer" frame has become "older", the two textures swap instead of
        uploading it again, so each decoded frame crosses the bus once.
        """
        if older is not None and newer is not None and older.seq == self._frame_seq[1] != newer.seq:
            self._frame_tex.reverse()
            self._frame_size.reverse()
            self._frame_seq.reverse()
        for slot, frame in enumerate((older, newer)):
            if frame is None or frame.seq == self._frame_seq[slot]:
                continue
            if getattr(frame, "terms", None) is not None:
                self._compose(slot, frame)
            else:
                self._upload(slot, frame.rgb)
            self._frame_seq[slot] = frame.seq

    def _compose(self, slot: int, frame: Any) -> None:
        """Sum a pixel frame's weighted pictures on the GPU into frame slot ``slot``, at the
        pictures' own size (the same sum as live.visuals.pixels.compose on the CPU)."""
        gl = _gl()
        pixels = frame.pixels
        w, h = pixels.width, pixels.height
        if self._frame_size[slot] != (w, h):
            gl.glDeleteTextures(1, ctypes.byref(gl.GLuint(self._frame_tex[slot])))
            self._frame_tex[slot] = _new_texture(w, h)
            self._frame_size[slot] = (w, h)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self._compose_fbo)
        gl.glFramebufferTexture2D(gl.GL_FRAMEBUFFER, gl.GL_COLOR_ATTACHMENT0, gl.GL_TEXTURE_2D,
                                  self._frame_tex[slot], 0)
        gl.glViewport(0, 0, w, h)
        program = self._compose_program
        program.use()
        gl.glActiveTexture(gl.GL_TEXTURE0)
        gl.glBindTexture(gl.GL_TEXTURE_2D_ARRAY, self._picture_array(pixels))
        program["u_pictures"] = 0
        terms = list(frame.terms)[:MAX_TERMS]
        pad = [0.0] * (MAX_TERMS - len(terms))
        program["u_terms"] = len(terms)
        program["u_layer"] = tuple(int(i) for i, _ in terms) + (0,) * len(pad)
        _set_array(program, "u_weight", tuple(float(wt) for _, wt in terms) + tuple(pad))
        program["u_light"] = float(frame.light)
        self._quad(program).draw(gl.GL_TRIANGLE_STRIP)
        gl.glBindTexture(gl.GL_TEXTURE_2D_ARRAY, 0)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        gl.glViewport(0, 0, self.width, self.height)

    def _picture_array(self, pixels: Any) -> int:
        """The texture array holding ``pixels``' pictures, uploaded on first use; the oldest of
        more than a few sets is freed (a show switches among a handful of presets)."""
        entry = self._picture_arrays.get(id(pixels))
        if entry is not None and entry[0] is pixels:
            return entry[1]
        gl = _gl()
        stale = [id(pixels)] if entry is not None else []  # a freed set whose id was reused
        if len(self._picture_arrays) >= 4:
            stale.append(next(iter(self._picture_arrays)))
        for key in stale:
            popped = self._picture_arrays.pop(key, None)
            if popped is not None:
                gl.glDeleteTextures(1, ctypes.byref(gl.GLuint(popped[1])))
        images = np.ascontiguousarray(pixels.images, dtype=np.uint8)
        n, h, w = images.shape[:3]
        tex = gl.GLuint()
        gl.glGenTextures(1, ctypes.byref(tex))
        gl.glBindTexture(gl.GL_TEXTURE_2D_ARRAY, tex.value)
        for param, value in ((gl.GL_TEXTURE_MIN_FILTER, gl.GL_NEAREST), (gl.GL_TEXTURE_MAG_FILTER, gl.GL_NEAREST),
                             (gl.GL_TEXTURE_WRAP_S, gl.GL_CLAMP_TO_EDGE), (gl.GL_TEXTURE_WRAP_T, gl.GL_CLAMP_TO_EDGE)):
            gl.glTexParameteri(gl.GL_TEXTURE_2D_ARRAY, param, value)
        gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
        gl.glTexImage3D(gl.GL_TEXTURE_2D_ARRAY, 0, gl.GL_RGB8, w, h, n, 0, gl.GL_RGB, gl.GL_UNSIGNED_BYTE,
                        images.ctypes.data)
        gl.glBindTexture(gl.GL_TEXTURE_2D_ARRAY, 0)
        self._picture_arrays[id(pixels)] = (pixels, tex.value)
        return tex.value

    def _upload(self, slot: int, rgb: np.ndarray) -> None:
        gl = _gl()
        rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        h, w = rgb.shape[:2]
        if self._frame_size[slot] != (w, h):
            gl.glDeleteTextures(1, ctypes.byref(gl.GLuint(self._frame_tex[slot])))
            self._frame_tex[slot] = _new_texture(w, h, rgb)
            self._frame_size[slot] = (w, h)
            return
        gl.glBindTexture(gl.GL_TEXTURE_2D, self._frame_tex[slot])
        gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
        gl.glTexSubImage2D(gl.GL_TEXTURE_2D, 0, 0, 0, w, h, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, rgb.ctypes.data)

    def start_transition(self, now: float, seconds: float, kind: str = "crossfade") -> None:
        """Go from the current picture to whatever comes next over ``seconds``, by ``kind``
        (a :data:`TRANSITION_KINDS` name: crossfade, through black, wipe)."""
        gl = _gl()
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self._targets[0].fbo)
        gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, self._from.fbo)
        gl.glBlitFramebuffer(0, 0, self.width, self.height, 0, 0, self.width, self.height,
                             gl.GL_COLOR_BUFFER_BIT, gl.GL_NEAREST)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        self._transition_start, self._transition_length = now, max(0.0, seconds)
        self._transition_kind = TRANSITION_KINDS[kind]

    # ------------------------------------------------------------------ drawing

    def draw(self, now: float, frame_mix: float, uniforms: dict[str, float], blackout: float = False) -> None:
        """Render one output frame for time ``now`` and present it.

        ``frame_mix`` blends the older (0) and newer (1) frame; ``uniforms`` are the per-frame
        values every shader may read (u_time, u_pulse, u_beat_phase, ...); ``blackout`` darkens
        the picture, from 0 (or False) to 1 (or True, black).
        """
        gl = _gl()
        self.window.switch_to()
        self.poll_shaders()
        transition = 0.0
        if self._transition_length > 0:
            transition = min(1.0, max(0.0, 1.0 - (now - self._transition_start) / self._transition_length))
        gl.glViewport(0, 0, self.width, self.height)
        self._pass(self._composite, self._targets[0], {
            "u_older": (0, self._frame_tex[0]), "u_newer": (1, self._frame_tex[1]), "u_from": (2, self._from.texture),
        }, {"u_frame_mix": float(np.clip(frame_mix, 0.0, 1.0)), "u_transition": transition,
            "u_blackout": float(np.clip(float(blackout), 0.0, 1.0)), "u_transition_kind": self._transition_kind,
            "u_output_size": (float(self.width), float(self.height)), "u_aspect": ASPECTS.index(self.aspect)})
        source = 0
        # The show's per-frame values (time, beat, bands) win over any set value: a controller
        # must not freeze the beat-driven motion by setting u_pulse or u_time.
        values = {**self._params, **uniforms, "u_resolution": (float(self.width), float(self.height)),
                  "u_picture": self.picture_rect()}
        feedback = self._feedback_target()
        for state in self._shaders:
            if state.program is None:
                continue
            textures = {"u_image": (0, self._targets[source].texture)}
            if feedback is not None:
                textures["u_feedback"] = (1, feedback.texture)
            self._pass(state.program, self._targets[1 - source], textures, values, state.defaults)
            source = 1 - source
        if feedback is not None:  # keep the chain's output for the next frame's u_feedback (a GPU copy)
            self._copy(self._targets[source], feedback)
        if self.flash_limit:
            self._limit_flashes(now, self._targets[source])
        if self.presents:  # offscreen nobody sees the window surface; read_pixels reads the FBO
            self._present(self._output)

    # ------------------------------------------------------------------ flash limiter

    def _init_flash_limit(self) -> None:
        self.flash_limiter = FlashLimiter()
        self._luma_program = self._ShaderProgram(self._vertex, self._Shader(LUMA_SOURCE, "fragment"))
        self._limit_program = self._ShaderProgram(self._vertex, self._Shader(LIMIT_SOURCE, "fragment"))
        # The new picture's cells on the left, the last output's on the right: one readback a frame.
        self._luma = _Target(2 * FLASH_CELLS, FLASH_CELLS)
        self._luma_readback = np.empty(FLASH_CELLS * 2 * FLASH_CELLS * 3, np.uint8)
        self._gain_tex = _new_gain_texture(FLASH_CELLS)
        self._shown = [_Target(self.width, self.height) for _ in range(2)]  # ping-pong: last shown, next
        self._last_scaled = False  # the last output was scaled down somewhere: measure it

    def flash_state(self) -> tuple[int, float]:
        """(frames the flash limiter scaled down somewhere, the time of the last one); (0, -inf) when it is off."""
        limiter = getattr(self, "flash_limiter", None)
        return (limiter.touched_frames, limiter.last_touched) if limiter is not None else (0, float("-inf"))

    def _limit_flashes(self, now: float, picture: _Target) -> None:
        """The final pass: measure the new picture's luminance per cell (and the last output's, if
        it was scaled), ask the limiter for each cell's gain, and scale the new picture by them
        where a cell may not rise so far; otherwise it is shown whole."""
        gl = _gl()
        cells = (float(FLASH_CELLS), float(FLASH_CELLS))
        last, nxt = self._shown
        gl.glViewport(0, 0, FLASH_CELLS, FLASH_CELLS)
        self._pass(self._luma_program, self._luma, {"u_image": (0, picture.texture)},
                   {"u_cells": cells, "u_origin": (0.0, 0.0)})
        width = FLASH_CELLS
        if self._last_scaled:
            gl.glViewport(FLASH_CELLS, 0, FLASH_CELLS, FLASH_CELLS)
            self._pass(self._luma_program, self._luma, {"u_image": (0, last.texture)},
                       {"u_cells": cells, "u_origin": (float(FLASH_CELLS), 0.0)})
            width = 2 * FLASH_CELLS
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self._luma.fbo)
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadPixels(0, 0, width, FLASH_CELLS, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, self._luma_readback.ctypes.data)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        # The rows come packed `width` cells wide (the last output's cells only when measured).
        packed = self._luma_readback[: FLASH_CELLS * width * 3].reshape(FLASH_CELLS, width, 3)
        shown = packed[:, FLASH_CELLS:, 0] / 255.0 if self._last_scaled else None
        gl.glViewport(0, 0, self.width, self.height)
        gains = self.flash_limiter.step(now, packed[:, :FLASH_CELLS, 0] / 255.0, shown)
        self._last_scaled = bool(gains.min() < 1.0)
        if self._last_scaled:
            texels = np.ascontiguousarray(gains, dtype=np.float32)
            gl.glBindTexture(gl.GL_TEXTURE_2D, self._gain_tex)
            gl.glPixelStorei(gl.GL_UNPACK_ALIGNMENT, 1)
            gl.glTexSubImage2D(gl.GL_TEXTURE_2D, 0, 0, 0, FLASH_CELLS, FLASH_CELLS, gl.GL_RED, gl.GL_FLOAT,
                               texels.ctypes.data)
            self._pass(self._limit_program, nxt, {"u_image": (0, picture.texture), "u_gain": (1, self._gain_tex)}, {})
        else:  # the usual case: the new picture whole, copied (a copy costs less than the scaling pass)
            self._copy(picture, nxt)
            self._output = nxt
        self._shown.reverse()

    def picture_rect(self) -> tuple[float, float, float, float]:
        """Where the newest frame lies in the output, in output uv: (x0, y0, width, height).

        The ``u_picture`` uniform: fold shaders (kaleido, mirror) fold the picture inside it,
        never the black bars around it (the frame_at() mapping of the composite pass)."""
        w, h = self._frame_size[1]
        if self.aspect == "stretch" or w <= 1 or h <= 1:
            return (0.0, 0.0, 1.0, 1.0)
        sx, sy = self.width / w, self.height / h
        s = min(sx, sy) if self.aspect == "fit" else max(sx, sy)
        ew, eh = w * s / self.width, h * s / self.height
        return (0.5 - 0.5 * ew, 0.5 - 0.5 * eh, ew, eh)

    def _feedback_target(self) -> _Target | None:
        """The last-output texture, when a shader of the chain reads ``u_feedback`` (else None:
        a chain without trails pays nothing). Starts black."""
        if not any(s.program is not None and "u_feedback" in self._names(s.program) for s in self._shaders):
            return None
        if self._feedback is None:
            gl = _gl()
            self._feedback = _Target(self.width, self.height)
            gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, self._feedback.fbo)
            gl.glClearColor(0, 0, 0, 1)
            gl.glClear(gl.GL_COLOR_BUFFER_BIT)
            gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        return self._feedback

    def _copy(self, source: _Target, target: _Target) -> None:
        """Copy one full-size target's picture into another (a blit on the GPU)."""
        gl = _gl()
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, source.fbo)
        gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, target.fbo)
        gl.glBlitFramebuffer(0, 0, self.width, self.height, 0, 0, self.width, self.height,
                             gl.GL_COLOR_BUFFER_BIT, gl.GL_NEAREST)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)

    def hold(self) -> None:
        """Show the last drawn picture again (freeze), without running any pass."""
        if self.presents:
            self._present(self._output)

    @property
    def output_texture(self) -> int:
        """The GL texture holding the last drawn picture (shared with windows made after this one)."""
        return self._output.texture

    def _pass(self, program: Any, target: _Target, textures: dict[str, tuple[int, int]], values: dict[str, Any],
              defaults: dict[str, float] | None = None) -> None:
        gl = _gl()
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, target.fbo)
        program.use()
        for name, (unit, tex) in textures.items():
            gl.glActiveTexture(gl.GL_TEXTURE0 + unit)
            gl.glBindTexture(gl.GL_TEXTURE_2D, tex)
            if name in self._names(program):
                program[name] = unit
        # Loop over the program's own uniforms, not over ``values``: the work per pass depends
        # on the shader alone. (pyglet's program.uniforms builds a new dict on every access.)
        # A declared parameter nobody set gets its declared default: a value set for another
        # preset must not stick in the program (GL keeps uniform values per program).
        defaults = defaults or {}
        for name in self._names(program):
            value = values.get(name, defaults.get(name))
            if value is None:
                continue
            if name in ARRAY_UNIFORMS:
                _set_array(program, name, value)
            else:
                program[name] = value
        self._quad(program).draw(gl.GL_TRIANGLE_STRIP)
        gl.glActiveTexture(gl.GL_TEXTURE0)
        self._output = target

    def _names(self, program: Any) -> tuple[str, ...]:
        entry = self._uniform_names.get(id(program))
        if entry is None or entry[0] is not program:  # the program is kept, so its id is not reused
            entry = self._uniform_names[id(program)] = (program, tuple(program.uniforms))
        return entry[1]

    def _forget(self, program: Any) -> None:
        """Free a replaced program and what was cached for it (its quad, its uniform names)."""
        quad = self._quads.pop(id(program), None)
        if quad is not None:
            quad.delete()
        self._uniform_names.pop(id(program), None)
        program.delete()

    def _quad(self, program: Any) -> Any:
        # One vertex list per program: attribute locations may differ between programs.
        key = id(program)
        if key not in self._quads:
            gl = _gl()
            self._quads[key] = program.vertex_list(4, gl.GL_TRIANGLE_STRIP, position=("f", (-1, -1, 1, -1, -1, 1, 1, 1)))
        return self._quads[key]

    def _present(self, target: _Target) -> None:
        gl = _gl()
        win_w, win_h = self.window.get_framebuffer_size()
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, target.fbo)
        gl.glBindFramebuffer(gl.GL_DRAW_FRAMEBUFFER, 0)
        gl.glClearColor(0, 0, 0, 1)
        gl.glClear(gl.GL_COLOR_BUFFER_BIT)
        # Letterbox: keep the picture's aspect ratio inside whatever the window is.
        scale = min(win_w / self.width, win_h / self.height)
        w, h = int(self.width * scale), int(self.height * scale)
        x, y = (win_w - w) // 2, (win_h - h) // 2
        gl.glBlitFramebuffer(0, 0, self.width, self.height, x, y, x + w, y + h, gl.GL_COLOR_BUFFER_BIT, gl.GL_LINEAR)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)

    @property
    def output_fbo(self) -> int:
        """The framebuffer holding the last drawn picture (what the window shows, before
        letterboxing): outputs (--record, --ndi) read it back from here."""
        return self._output.fbo

    def read_pixels(self) -> np.ndarray:
        """The last drawn picture as (height, width, 3) uint8, top row first."""
        gl = _gl()
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self._output.fbo)
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadPixels(0, 0, self.width, self.height, gl.GL_RGB, gl.GL_UNSIGNED_BYTE, self._readback.ctypes.data)
        gl.glBindFramebuffer(gl.GL_FRAMEBUFFER, 0)
        return self._readback[::-1].copy()

    def flip(self) -> None:
        """Show the drawn frame (waits for vsync on a real window) and handle window events."""
        self.window.dispatch_events()
        self.window.flip()

    @property
    def closed(self) -> bool:
        """True once the user closed the window."""
        return bool(getattr(self.window, "has_exit", False))

    def close(self) -> None:
        """Close the window and free its GL context."""
        self.window.close()


def list_screens() -> list[str]:
    """Screens pyglet can open a window on, as :func:`screen_label` gives them (empty without a display)."""
    try:
        import pyglet

        screens = pyglet.display.get_display().get_screens()
    except Exception as exc:  # no X server / no EGL: say so instead of failing `devices`
        _LOGGER.info("no screens: %s", exc)
        return []
    return [screen_label(i, s) for i, s in enumerate(screens)]


def screen_label(index: int, screen: Any) -> str:
    """``'1: HDMI-1 1920x1080 at 1920,0'``: index, output name where the platform gives one, size, place."""
    name = str(getattr(screen, "name", "") or "")
    return f"{index}: {name + ' ' if name else ''}{screen.width}x{screen.height} at {screen.x},{screen.y}"
