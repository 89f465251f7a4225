"""Shader parameters, declared once in the shader file: parsed here without GL.

A live parameter is a ``uniform float`` with its default, range and description on one line::

    uniform float u_amount = 1.0; // @param 0..1 how strong the effect is

The default is the GLSL initialiser (so GL starts with the same value), the range is written
``LOW..HIGH`` after ``@param``, and the rest of the comment says what it does. Every other
``uniform float`` of a shader must be one the show sets each frame (:data:`FRAME_UNIFORMS`).
Presets, OSC, MIDI and ``param look.params.X`` are checked against these declarations: an
undeclared name or a value outside the range is refused and changes nothing.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from live.errors import UserError
from live.files import FileRefused, read_text

_LOGGER = logging.getLogger(__name__)

# The per-frame uniforms the show sets (live/show/show.py shader_uniforms, and the renderer's
# u_resolution): shaders read them, nobody else may set them.
FRAME_UNIFORMS = frozenset({
    "u_time", "u_pulse", "u_beat_phase", "u_bar_phase", "u_onset", "u_low", "u_mid", "u_high", "u_level",
    "u_bpm", "u_resolution", "u_chroma", "u_frame", "u_picture",
})
# Samplers the renderer binds: u_image (the picture so far), u_feedback (the last output frame).
SAMPLERS = frozenset({"u_image", "u_feedback"})
ARRAY_UNIFORMS = frozenset({"u_chroma"})  # per-frame uniforms that are float arrays

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_DECLARATION = re.compile(
    rf"^\s*uniform\s+float\s+([A-Za-z_]\w*)\s*=\s*({_NUMBER})\s*;\s*//\s*@param\s+({_NUMBER})\s*\.\.\s*({_NUMBER})"
    r"\s+(\S.*?)\s*$")
_FLOAT_UNIFORMS = re.compile(r"\buniform\s+float\s+([^;]*);")
SYNTAX = "uniform float NAME = DEFAULT; // @param LOW..HIGH what it does"


class ShaderDeclError(UserError):
    """A malformed parameter declaration; the message names the file and line."""

    def __init__(self, where: str, line: int, reason: str) -> None:
        super().__init__(f"{where}:{line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class ShaderParam:
    """One live parameter of a shader: name, default, range (inclusive) and what it does."""

    name: str
    default: float
    low: float
    high: float
    doc: str

    @property
    def range(self) -> str:
        """The allowed range as written, e.g. ``0..1``."""
        return f"{self.low:g}..{self.high:g}"

    def check(self, value: float, where: str = "") -> float:
        """``value`` as a float if it lies in the range; UserError naming the range otherwise."""
        v = float(value)
        if not (math.isfinite(v) and self.low <= v <= self.high):
            raise UserError(f"{where or self.name} = {value!r:.40} is out of range {self.range} ({self.doc})")
        return v


def parse_params(source: str, where: str = "<shader>") -> dict[str, ShaderParam]:
    """The parameters declared in GLSL ``source`` (name -> ShaderParam, in file order).

    Raises :class:`ShaderDeclError` (``where:line: reason``) for a malformed ``@param`` line, a
    default outside its range, a name declared twice or one the show sets each frame, and for a
    ``uniform float`` that is neither declared as a parameter nor a per-frame uniform.
    """
    params: dict[str, ShaderParam] = {}
    for number, line in enumerate(source.splitlines(), 1):
        code = line.split("//", 1)[0]
        if "@param" in line:
            params_here = _declaration(line, where, number)
            if params_here.name in params:
                raise ShaderDeclError(where, number, f"{params_here.name} is declared twice")
            params[params_here.name] = params_here
            continue
        for group in _FLOAT_UNIFORMS.findall(code):
            for name in (part.split("=")[0].split("[")[0].strip() for part in group.split(",")):
                if name and name not in FRAME_UNIFORMS:
                    raise ShaderDeclError(where, number, f"uniform float {name} is not declared as a parameter; "
                                          f"write `{SYNTAX.replace('NAME', name)}` (only the show's per-frame "
                                          "uniforms, u_time, u_pulse... see shaders/README.md, need none)")
    return params


def _declaration(line: str, where: str, number: int) -> ShaderParam:
    match = _DECLARATION.match(line)
    if match is None:
        raise ShaderDeclError(where, number, f"malformed @param declaration; write `{SYNTAX}`")
    name, default, low, high, doc = match.groups()
    values = float(default), float(low), float(high)
    if not all(math.isfinite(v) for v in values):
        raise ShaderDeclError(where, number, f"{name}: default and range must be finite numbers")
    d, lo, hi = values
    if name in FRAME_UNIFORMS or name in SAMPLERS:
        raise ShaderDeclError(where, number, f"{name} is set by the show each frame; it cannot be a parameter")
    if not lo < hi:
        raise ShaderDeclError(where, number, f"{name}: range {low}..{high} is empty; write LOW..HIGH with LOW < HIGH")
    if not lo <= d <= hi:
        raise ShaderDeclError(where, number, f"{name}: default {default} is outside its range {low}..{high}")
    return ShaderParam(name, d, lo, hi, doc)


def shader_params(path: str | Path) -> dict[str, ShaderParam]:
    """The parameters declared in the shader file ``path`` (see :func:`parse_params`).

    A file that cannot be read raises UserError naming it."""
    return parse_params(read_shader(path), str(path))


def read_shader(path: str | Path) -> str:
    """The source of the shader file ``path``, read the safe way (live.files): a FIFO, a device or
    a huge file put in the shaders folder during a show is refused instead of blocking the
    display thread or filling memory. UserError naming the file and why."""
    try:
        return read_text(path)
    except FileNotFoundError:  # gone between a listing and the read (or never there)
        raise UserError(f"{path}: cannot read the shader (no such file)") from None
    except FileRefused as exc:
        raise UserError(f"{path}: cannot read the shader ({exc})") from None


def folder_params(folder: str | Path, names: Iterable[str] | None = None) -> dict[str, dict[str, ShaderParam]]:
    """Shader name -> its parameters, for ``names`` (default: every ``*.glsl``) in ``folder``.

    Missing or malformed files are left out (the renderer and ``check`` report them), so a
    caller sees only declarations it can trust."""
    folder = Path(folder)
    wanted = sorted(p.stem for p in folder.glob("*.glsl")) if names is None else list(dict.fromkeys(names))
    out: dict[str, dict[str, ShaderParam]] = {}
    for name in wanted:
        path = folder / f"{name}.glsl"
        if not path.is_file():
            continue
        try:
            out[name] = shader_params(path)
        except UserError as exc:
            _LOGGER.debug("%s", exc)
    return out


def merged(per_shader: Mapping[str, Mapping[str, ShaderParam]]) -> dict[str, ShaderParam]:
    """Every parameter name of ``per_shader`` once; a name shared by several shaders is one knob,
    so its range is where all their ranges overlap (its default the first shader's)."""
    out: dict[str, ShaderParam] = {}
    for params in per_shader.values():
        for name, p in params.items():
            seen = out.get(name)
            out[name] = p if seen is None else ShaderParam(name, seen.default, max(seen.low, p.low),
                                                           min(seen.high, p.high), seen.doc)
    return out


def describe(params: Mapping[str, ShaderParam]) -> str:
    """``u_amount 0..1, u_segments 1..16`` (or ``none``), for error messages."""
    return ", ".join(f"{n} {p.range}" for n, p in sorted(params.items())) or "none"
