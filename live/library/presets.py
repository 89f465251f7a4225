"""Preset files (``presets/NAME.toml``): the schema, its ranges, and one-line errors.

Every setting is declared once below with its default, range and description (pydantic
``Field``); the error text is built from those declarations, so the message a user sees
always names the file, the key, the bad value and what is allowed. The preset name is the
file stem. Loading never touches a model or the keyframe cache: it is pure validation, fast
enough to repeat on every live change.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from live import paths
from live.errors import UserError
from live.files import FileRefused, load_toml
from live.library.demo import BUILTIN_SETS
from live.visuals.choices import FAMILIES, FAMILY_SCALING
from live.visuals.shaders import FRAME_UNIFORMS, describe, folder_params

_LOGGER = logging.getLogger(__name__)

SCALING_FACTORS = FAMILY_SCALING  # what each family's VAE multiplies its encoder output by (declared in choices)
LATENT_CHANNELS: dict[str, int] = {"sd1": 4, "sdxl": 4}
BUILTIN_IMAGES = "builtin:demo"
BUILTIN_PREFIX = "builtin:"  # images = "builtin:NAME": a procedural image set, see live/library/demo.py
APPROX_MODEL = "approx"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def is_builtin(images: str) -> bool:
    """True for ``images = "builtin:NAME"`` (procedural images drawn in code, no files)."""
    return images.startswith(BUILTIN_PREFIX)


class PresetError(UserError):
    """A preset file is missing, not TOML, or has a bad key or value (message names file and key)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _no_blank_prompts(prompts: list[str]) -> list[str]:
    """A blank prompt is almost always a stray comma in the TOML, so refuse it rather than render noise."""
    if any(not p.strip() for p in prompts):
        raise ValueError("a prompt is blank; write some words or remove it")
    return prompts


PromptList = Annotated[list[str], AfterValidator(_no_blank_prompts)]


class Section(_Strict):
    """A named part of a set (intro, drop...) with its own prompts; keyframes keep section order."""

    name: str = Field(min_length=1, max_length=64, description="section name, shown in the HUD and `check`")
    prompts: PromptList = Field(min_length=1, max_length=256, description="prompts for this section")


class Generation(_Strict):
    """How the keyframes are made: model, size, prompts and sampler settings."""

    model: str = Field(
        default=APPROX_MODEL, min_length=1,
        description='local diffusers folder, a hub id already in the local HF cache, or "approx" (no model: '
                    "keyframes only from images through the approx encoder)")
    vae: str = Field(default="", description="optional separate VAE folder used for decode (and image encode)")
    family: Literal["sd1", "sdxl"] = Field(
        default="sd1", description="latent family: sd1 (SD 1.x/2.x, SD-Turbo) or sdxl (SDXL, SDXL-Turbo); "
                                   "inferred from the model when not written")
    width: int = Field(default=512, ge=256, le=2048, multiple_of=8, description="image width in pixels")
    height: int = Field(default=512, ge=256, le=2048, multiple_of=8, description="image height in pixels")
    prompts: PromptList = Field(default_factory=list, max_length=256, description="prompts, one keyframe per prompt x seed")
    sections: list[Section] = Field(default_factory=list, max_length=64,
                                    description="instead of prompts: named sections with their own prompts")
    negative_prompt: str = Field(default="", description="what to steer away from (ignored when guidance <= 1)")
    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3, 4], min_length=1, max_length=256,
                             description="random seeds, one keyframe per prompt x seed")
    steps: int = Field(default=2, ge=1, le=150, description="denoising steps (1-4 for turbo models, 20-50 otherwise)")
    guidance: float = Field(default=0.0, ge=0.0, le=30.0,
                            description="classifier-free guidance scale (0 for turbo models, ~7 otherwise)")
    scheduler: str = Field(default="", description='"" = the model\'s own; else a diffusers scheduler class name')
    images: str = Field(default="", description='a folder of images to encode instead of prompts, or a built-in '
                                                'set: ' + ", ".join(f'"builtin:{n}"' for n in BUILTIN_SETS))

    @field_validator("seeds")
    @classmethod
    def _seed_range(cls, v: list[int]) -> list[int]:
        for s in v:
            if not 0 <= s < 2**32:
                raise ValueError(f"seed {s} is out of range; seeds are integers 0..4294967295")
        return v

    @field_validator("images")
    @classmethod
    def _known_builtin(cls, v: str) -> str:
        if is_builtin(v) and v.removeprefix(BUILTIN_PREFIX) not in BUILTIN_SETS:
            raise ValueError(f"no such built-in image set; choose {', '.join(BUILTIN_PREFIX + n for n in BUILTIN_SETS)}")
        return v

    @field_validator("scheduler")
    @classmethod
    def _known_scheduler(cls, v: str) -> str:
        if v and v not in COMMON_SCHEDULERS and v not in scheduler_names():
            close = difflib.get_close_matches(v, scheduler_names(), n=3, cutoff=0.6) or \
                ["EulerDiscreteScheduler", "DPMSolverMultistepScheduler", "DDIMScheduler", "LCMScheduler"]
            raise ValueError(f"unknown diffusers scheduler; leave it empty for the model's own, or use e.g. "
                             f"{', '.join(close)}")
        return v

    @model_validator(mode="after")
    def _prompts_or_images(self) -> "Generation":
        if self.prompts and self.sections:
            raise ValueError("generation.prompts and generation.sections are both set; use one of them")
        if self.model == APPROX_MODEL and not self.images:
            raise ValueError('model = "approx" has no text-to-image; set generation.images to a folder of images '
                             'or "builtin:demo", or set generation.model to a diffusers model folder')
        if not self.images and not self.all_prompts():
            raise ValueError("generation.prompts is empty; give at least one prompt (or sections, or images)")
        return self

    def all_prompts(self) -> list[str]:
        """Prompts in keyframe order (sections flattened in order)."""
        if self.sections:
            return [p for s in self.sections for p in s.prompts]
        return list(self.prompts)

    def section_spans(self) -> list[dict[str, Any]]:
        """Each section's name, first keyframe index and keyframe count (for text-made keyframes)."""
        spans, start = [], 0
        sections = self.sections or ([Section(name="main", prompts=self.prompts)] if self.prompts else [])
        for s in sections:
            count = len(s.prompts) * len(self.seeds)
            spans.append({"name": s.name, "start": start, "count": count})
            start += count
        return spans

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        """(channels, height/8, width/8) of one keyframe."""
        return (LATENT_CHANNELS[self.family], self.height // 8, self.width // 8)


class Motion(_Strict):
    """How the show moves through the keyframes with the music."""

    beats_per_keyframe: int = Field(default=4, ge=1, le=64, description="beats spent travelling to the next keyframe")
    order: Literal["sequential", "pingpong", "random"] = Field(default="sequential",
                                                               description="keyframe order")
    easing: Literal["linear", "smoothstep", "cosine", "snap"] = Field(default="smoothstep",
                                                                      description="easing between keyframes")
    kick: float = Field(default=0.15, ge=0.0, le=1.0, description="onset kick amount (bounded latent push)")
    energy: float = Field(default=0.5, ge=0.0, le=1.0, description="how much loudness speeds up and brightens motion")


class Look(_Strict):
    """Output shaders and transitions."""

    shaders: list[str] = Field(default_factory=lambda: ["pulse"], max_length=16,
                               description="names of shaders/NAME.glsl, applied in order")
    transition: Literal["crossfade", "black", "wipe", "cut"] = Field(
        default="crossfade", description="transition into this preset: crossfade, black (dips to black at the "
                                         "middle), wipe (a soft edge from left to right) or cut")
    transition_beats: int = Field(default=2, ge=0, le=64, description="beats the transition takes, at the tempo "
                                                                      "when it starts")
    transition_quantize: Literal["none", "beat", "bar", "phrase"] = Field(
        default="bar", description="start the switch into this preset on the next beat, bar (downbeat) or 4-bar "
                                   "phrase, or at once (none); at once anyway while there is no tempo source")
    params: dict[str, float] = Field(default_factory=dict, description="shader uniform name -> float")

    @field_validator("shaders")
    @classmethod
    def _shader_names(cls, v: list[str]) -> list[str]:
        for name in v:
            if not _NAME_RE.match(name) or name.endswith(".glsl"):
                raise ValueError(f"shader name {name!r} is not a plain name; write the file stem of shaders/NAME.glsl")
        return v


class Tags(_Strict):
    """Labels for picking presets automatically later."""

    energy: Literal["low", "mid", "high"] = Field(default="mid", description="how hard the preset hits")
    mood: list[str] = Field(default_factory=list, max_length=16, description="free words: dark, warm, acid...")


class Preset(_Strict):
    """One validated preset file. ``name`` is the file stem, ``path`` the file."""

    generation: Generation = Field(default_factory=Generation)
    motion: Motion = Field(default_factory=Motion)
    look: Look = Field(default_factory=Look)
    tags: Tags = Field(default_factory=Tags)
    _name: str = PrivateAttr(default="")
    _path: Path = PrivateAttr(default=Path())

    @property
    def name(self) -> str:
        """The preset name (file stem)."""
        return self._name

    @property
    def path(self) -> Path:
        """The TOML file this preset came from."""
        return self._path

    @property
    def family_is_explicit(self) -> bool:
        """True when the file wrote generation.family (else it may be inferred from the model)."""
        return "family" in self.generation.model_fields_set

    def resolve(self, value: str) -> str:
        """A path written in this preset, made usable from any working folder.

        ``~`` is expanded; a relative path that exists next to the preset file is taken from
        there, else it stays relative to the working folder. Hub ids, "approx" and
        "builtin:demo" come back unchanged.
        """
        if not value or value == APPROX_MODEL or is_builtin(value):
            return value
        expanded = os.path.expanduser(value)
        if os.path.isabs(expanded):
            return expanded
        beside = self.path.parent / expanded
        return str(beside) if self.path != Path() and beside.exists() else value

    def settings_hash(self) -> str:
        """Hash of everything in the file that changes the keyframes (not motion/look/tags).

        Keyframes whose stored settings hash differs are stale. Files on disk (model weights,
        image folders) are hashed separately at precompute time, where that cost is fine.
        """
        g = self.generation
        doc = {
            "model": g.model, "vae": g.vae, "family": g.family, "width": g.width, "height": g.height,
            "prompts": g.all_prompts(), "negative_prompt": g.negative_prompt, "seeds": g.seeds,
            "steps": g.steps, "guidance": g.guidance, "scheduler": g.scheduler, "images": g.images,
        }
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


# Schedulers every diffusers since 0.21 exports (a test checks each against the installed diffusers).
# Known names validate without importing diffusers, which would add seconds to every bank load.
COMMON_SCHEDULERS = frozenset({
    "DDIMScheduler", "DDPMScheduler", "DEISMultistepScheduler", "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler", "EulerAncestralDiscreteScheduler", "EulerDiscreteScheduler",
    "HeunDiscreteScheduler", "KDPM2AncestralDiscreteScheduler", "KDPM2DiscreteScheduler", "LCMScheduler",
    "LMSDiscreteScheduler", "PNDMScheduler", "TCDScheduler", "UniPCMultistepScheduler",
})


@lru_cache(maxsize=1)
def scheduler_names() -> list[str]:
    """Every scheduler class name diffusers exports (imports diffusers only when first asked)."""
    import diffusers  # deferred: a preset without a scheduler never pays for the import

    names = {n for group in getattr(diffusers, "_import_structure", {}).values() for n in group}
    names |= {n for n in dir(diffusers) if not n.startswith("_")}
    return sorted(n for n in names if n.endswith("Scheduler") and n != "SchedulerMixin")


def _field_info(model: type[BaseModel], loc: tuple[Any, ...]):
    """Walk ``loc`` through nested models to the pydantic FieldInfo it names (None if not a field)."""
    info = None
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        info = current.model_fields[part]
        ann = info.annotation
        args = getattr(ann, "__args__", ())
        current = ann if isinstance(ann, type) else next((a for a in args if isinstance(a, type)
                                                          and issubclass(a, BaseModel)), None)
    return info


def _allowed(info) -> str:
    """'allowed: 1..64' style text from a field's declared constraints."""
    if info is None:
        return ""
    lo = hi = mult = None
    for m in info.metadata:
        lo = getattr(m, "ge", lo)
        hi = getattr(m, "le", hi)
        mult = getattr(m, "multiple_of", mult)
    parts = []
    if lo is not None or hi is not None:
        parts.append(f"{lo if lo is not None else ''}..{hi if hi is not None else ''}")
    if mult:
        parts.append(f"a multiple of {mult}")
    return " and ".join(parts)


def _join_choices(choices: list[str]) -> str:
    return choices[0] if len(choices) == 1 else ", ".join(choices[:-1]) + " or " + choices[-1]


def _describe(err: dict[str, Any], where: str) -> str:
    """One error from pydantic as 'FILE: key = value ...; what is allowed'."""
    loc = tuple(err["loc"])
    key = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
    etype = err["type"]
    value = err.get("input")
    info = _field_info(Preset, loc)
    if etype == "extra_forbidden":
        parent = _field_info(Preset, loc[:-1])
        owner = getattr(parent, "annotation", Preset) if parent else Preset
        allowed = ", ".join(getattr(owner, "model_fields", {}).keys())
        table = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int)) or "top level"
        return f"{where}: unknown key {key}; allowed in [{table}]: {allowed}"
    if etype == "missing":
        return f"{where}: {key} is required ({info.description if info else 'no default'})"
    if etype == "literal_error":
        expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
        return f"{where}: {key} = {value!r} is not allowed; choose {_join_choices(expected)}"
    if etype in ("greater_than_equal", "less_than_equal", "greater_than", "less_than", "multiple_of"):
        return f"{where}: {key} = {value!r} is not allowed; allowed: {_allowed(info)}"
    if etype in ("too_short", "too_long"):
        return f"{where}: {key} has {len(value) if hasattr(value, '__len__') else '?'} entries; {err['msg'].lower()}"
    if etype == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
        if not loc or isinstance(value, dict):  # a whole-table check: its message already names the keys
            return f"{where}: {msg}"
        return f"{where}: {key} = {value!r} is not allowed; {msg}"
    expect = info.description if info is not None else ""
    return f"{where}: {key} = {value!r} is not allowed ({err['msg'].lower()}){'; ' + expect if expect else ''}"


def as_written(path: Path) -> str:
    """The path as the user would write it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def check_shader_params(preset: Preset, where: str, shaders_dir: str | Path | None = None) -> None:
    """Each ``look.params`` name must be a parameter a shader of ``look.shaders`` declares
    (``// @param LOW..HIGH`` in ``shaders/NAME.glsl``) and its value inside the declared range;
    PresetError names the file, key, value and the allowed range. Shader files that are missing
    or malformed are left to ``check`` and the renderer: while one is, names no other shader
    declares are let through (the renderer refuses them if they stay undeclared)."""
    look = preset.look
    if not look.params:
        return
    declared = folder_params(paths.shaders_dir(shaders_dir), look.shaders)
    every = {n: p for params in declared.values() for n, p in params.items()}
    for name, value in look.params.items():
        key = f"look.params.{name}"
        if name in FRAME_UNIFORMS:
            raise PresetError(f"{where}: {key} is set by the show each frame; it cannot be a preset param")
        owners = [(shader, params[name]) for shader, params in declared.items() if name in params]
        if not owners and len(declared) == len(set(look.shaders)):
            chain = ", ".join(look.shaders) or "none"
            raise PresetError(f"{where}: {key} is not a parameter of look.shaders ({chain}); "
                              f"declared: {describe(every)}")
        for shader, param in owners:
            if not param.low <= value <= param.high:
                raise PresetError(f"{where}: {key} = {value!r} is not allowed; allowed: {param.range} "
                                  f"({shader}.glsl: {param.doc})")


def load_preset(path: str | Path, shaders_dir: str | Path | None = None) -> Preset:
    """Read and validate ``presets/NAME.toml``; PresetError names the file, key, value and what is allowed.

    ``look.params`` are checked against the parameters the shaders declare (in ``shaders_dir``,
    default :func:`live.paths.shaders_dir`), see :func:`check_shader_params`."""
    path = Path(path)
    where = as_written(path)
    if not _NAME_RE.match(path.stem):
        raise PresetError(f"{where}: preset name {path.stem!r} must be letters, digits, '-', '_' or '.'")
    try:
        # regular files only, size checked before reading, deep nesting a one-line error: a FIFO,
        # /dev/zero behind a symlink or a huge file in presets/ costs only itself
        doc = load_toml(path)
    except FileNotFoundError:
        raise PresetError(f"{where}: no such preset file; list presets with `check`") from None
    except FileRefused as exc:
        raise PresetError(f"{where}: {exc}") from None
    try:
        preset = Preset.model_validate(doc)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise PresetError(_describe(errors[0], where) + more) from None
    check_shader_params(preset, where, shaders_dir)
    preset._name = path.stem
    preset._path = path
    return preset


def load_presets(directory: str | Path, shaders_dir: str | Path | None = None) -> tuple[dict[str, Preset], dict[str, str]]:
    """Every ``*.toml`` in ``directory``: (name -> good preset, name -> one-line error for bad ones);
    ``shaders_dir`` as for :func:`load_preset`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PresetError(f"{as_written(directory)}: presets folder does not exist; create it or pass --presets-dir")
    good: dict[str, Preset] = {}
    bad: dict[str, str] = {}
    for path in preset_files(directory):
        try:
            good[path.stem] = load_preset(path, shaders_dir)
        except PresetError as exc:
            bad[path.stem] = " ".join(str(exc).split())  # one line, whatever the message
            _LOGGER.warning("%s", bad[path.stem])
        except Exception as exc:  # noqa: BLE001 - one broken file must cost only itself, never the scan
            bad[path.stem] = unexpected_error(path, exc)
            _LOGGER.warning("%s", bad[path.stem])
    return good, bad


def preset_files(directory: str | Path) -> list[Path]:
    """The ``*.toml`` entries of ``directory``, sorted; [] when it cannot be listed.

    Only the folder is read (``os.scandir`` names): no entry is opened or stat'ed here, so a
    FIFO or device among them cannot block the listing; reading each is :func:`load_preset`'s job."""
    try:
        with os.scandir(directory) as entries:
            names = [e.name for e in entries if e.name.endswith(".toml")]
    except OSError:
        return []
    return [Path(directory) / n for n in sorted(names)]


def unexpected_error(path: Path, exc: BaseException) -> str:
    """One line naming ``path`` for an error no loader expected (a bug, or a file no check foresaw)."""
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{as_written(path)}: unexpected error while reading the preset ({exc.__class__.__name__}" \
           f"{': ' + text if text else ''})"


def find_preset(name: str, presets_dir: str | Path) -> Preset:
    """Load preset ``name`` (a name in ``presets_dir`` or a path to a .toml); the error lists what exists."""
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.exists():
        return load_preset(candidate)
    path = Path(presets_dir) / f"{name}.toml"
    if not path.exists():
        names = [p.stem for p in preset_files(presets_dir)]
        raise PresetError(f"unknown preset {name!r} (no {as_written(path)}); available: {', '.join(names) or 'none'}")
    return load_preset(path)

