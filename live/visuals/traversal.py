"""The beat-locked walk through latent space between a preset's keyframes.

The walk is a chain of segments. Each segment moves from a start latent to a target keyframe
and ends on a point of the bar grid: the continuous bar count ``4 * state.bars_at(t)``, whose
multiples of 4 are downbeats. With ``beats_per_keyframe = 4`` every arrival is a downbeat.

Segments are stored and timed in the clock's continuous *beat* count (``state.beats_at``),
not in bar-grid beats: the bar grid is only consulted when a segment is planned. The clock's
downbeat estimate can change its mind mid-bar (a track with a kick on every beat gives it
little to go on), which shifts the bar grid by whole beats; timed in bar-grid beats, such a
shift ended a move at once, between two beats. Timed in beats, a move always ends on a beat,
and the next move re-aligns to the new bar estimate. The
walk is stateful (orders, random steps, jumps, drops and holds need memory), but it depends only
on the seed, the AudioState values and the display times it is asked for, never on wall time,
so it is deterministic for a given seed and AudioState sequence.

On top of the walk sits the onset kick: a rotation of the latent towards a fixed per-preset
noise direction, by an angle set by the onset envelope (decaying), ``kick`` and ``energy``.
It is a rotation in the plane of the latent and the noise direction, so it keeps the norm
exactly and can never push the latent out of the range the decoder expects.

Everything here runs on the show's main thread; it is not meant to be shared between threads.
Each call to :meth:`Traversal.latent_at` returns a fresh tensor that is never modified later,
so it can be handed to the decode worker as an immutable value.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from live.errors import UserError
from live.messages import BEATS_PER_BAR, AudioState, Command

_LOGGER = logging.getLogger(__name__)

ORDERS = ("sequential", "pingpong", "random")
EASINGS = ("linear", "smoothstep", "cosine", "snap")

# Largest kick rotation, reached with kick=1, a full onset envelope and full energy*level:
# 3/8 of a right angle keeps the picture recognisable even at the most violent setting.
KICK_MAX_ANGLE = 0.375 * math.pi
KICK_BASE_ANGLE = math.pi / 4  # angle at kick=1, envelope 1 and energy*level = 0.5
# The kick envelope halves every quarter beat, so a kick is a short flash tied to the tempo.
KICK_HALF_LIFE_BEATS = 0.25
# Energy drive (energy * level, doubled) above which keyframes move twice / four times as fast.
SPEED_THRESHOLDS = ((1.5, 4), (0.75, 2))
# A segment that starts off the grid (after a hold, a drop) lasts at least this many beats,
# so a release just before a grid point does not turn into a lurch.
MIN_SEGMENT_BEATS = 1.0
# Past this many segment changes in one call (a long pause), skip ahead instead of walking.
MAX_CATCH_UP = 256


class TraversalError(UserError):
    """A traversal setting or control command that cannot be used."""


def _linear(x: float) -> float:
    return x


def _smoothstep(x: float) -> float:
    return x * x * (3.0 - 2.0 * x)


def _cosine(x: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * x)


def _snap(x: float) -> float:
    # Stay on the keyframe for the whole segment and cut at the arrival point: the segment's
    # fraction reaches 1 exactly on the beat, so the new picture lands on the beat.
    return 1.0 if x >= 1.0 else 0.0


EASING_FUNCTIONS: dict[str, Callable[[float], float]] = {
    "linear": _linear,
    "smoothstep": _smoothstep,
    "cosine": _cosine,
    "snap": _snap,
}


def ease(name: str, x: float) -> float:
    """Apply easing ``name`` to a fraction ``x`` (clamped to 0..1); 0 maps to 0 and 1 to 1."""
    try:
        fn = EASING_FUNCTIONS[name]
    except KeyError:
        raise TraversalError(f"motion.easing = {name!r} is not known; choose one of {', '.join(EASINGS)}") from None
    return fn(min(1.0, max(0.0, x)))


# Latent math on the CPU runs in numpy, on the calling thread only. torch's CPU ops split any
# tensor over 32k elements (SD at 768x768 and up, SDXL at 1024x1024) across OpenMP threads,
# and after each such op libgomp keeps the helper threads spinning for a while: called from the
# show's main thread at 60 fps, that spin took ~40% of a core from the decode worker on 2 cores
# (measured: a 1024x1024 traversal cost the main thread's idle OpenMP helper 1.95 CPU-s in 4.7 s).
# torch.set_num_threads(1) around the math would avoid it, but it also sets MKL's process-wide
# thread count, which the decode worker's matrix products read. numpy's element-wise ops and
# sums never start threads. GPU tensors stay in torch on their device.
_NUMPY_DTYPES = (torch.float32, torch.float64)


def _flat(x: torch.Tensor) -> torch.Tensor | np.ndarray:
    """``x`` as one float vector: a zero-copy numpy view on the CPU, float32+ torch elsewhere."""
    if x.device.type == "cpu":
        if x.dtype not in _NUMPY_DTYPES:
            x = x.float()  # fp16/bf16 on the CPU: rare; the angle needs float32 anyway
        return x.detach().reshape(-1).numpy()
    return x.reshape(-1).to(torch.promote_types(x.dtype, torch.float32))


def _like(v: torch.Tensor | np.ndarray, ref: torch.Tensor) -> torch.Tensor:
    """Vector ``v`` back as a fresh tensor shaped and typed like ``ref``."""
    out = torch.from_numpy(v) if isinstance(v, np.ndarray) else v
    return out.reshape(ref.shape).to(ref.dtype)


def _dot(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> float:
    # A fused multiply-sum, not torch.dot / np.dot: their BLAS paths start threads and took
    # 10+ ms for 16k elements on a busy 2-core machine, against microseconds for this.
    return float((a * b).sum())


def _norm(x: torch.Tensor | np.ndarray) -> float:
    return math.sqrt(max(0.0, _dot(x, x)))


def _lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    af, bf = _flat(a), _flat(b)
    return _like(af + t * (bf - af), a)


def _copy(x: torch.Tensor) -> torch.Tensor:
    """A fresh copy of ``x`` (on the CPU without torch's threaded copy kernel)."""
    if x.device.type == "cpu" and x.dtype in _NUMPY_DTYPES:
        return torch.from_numpy(x.detach().numpy().copy())
    return x.clone()


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation from ``a`` (t=0) to ``b`` (t=1), treating each tensor as one vector.

    The direction moves along the great circle and the norm moves linearly from |a| to |b|, so
    equal-norm inputs give equal-norm outputs (Gaussian latents stay Gaussian-looking instead of
    shrinking towards the middle as a straight lerp would). Near-parallel inputs, where the
    great circle is ill-defined, fall back to a linear interpolation. Returns a new tensor.
    """
    if a.shape != b.shape:
        raise ValueError(f"slerp needs equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")
    if t <= 0.0:
        return _copy(a)
    if t >= 1.0:
        return _copy(b)
    # Compute the angle in float32 at least: fp16 dot products of 16k elements lose the angle.
    af, bf = _flat(a), _flat(b)
    na, nb = _norm(af), _norm(bf)
    if na == 0.0 or nb == 0.0:
        return _lerp(a, b, t)
    ua, ub = af / na, bf / nb
    dot = min(1.0, max(-1.0, _dot(ua, ub)))
    if abs(dot) > 0.9995:
        return _lerp(a, b, t)
    theta = math.acos(dot)
    sin_theta = math.sin(theta)
    norm = (1.0 - t) * na + t * nb
    # The scalars fold the norm in, so the vector work is two scaled adds.
    out = (norm * math.sin((1.0 - t) * theta) / sin_theta) * ua + (norm * math.sin(t * theta) / sin_theta) * ub
    return _like(out, a)


def rotate_towards(z: torch.Tensor, direction: torch.Tensor, angle: float) -> torch.Tensor:
    """Rotate ``z`` by ``angle`` radians towards ``direction`` in the plane they span; |result| == |z|.

    Returns a new tensor."""
    if angle == 0.0:
        return _copy(z)
    zf, df = _flat(z), _flat(direction)
    nz = _norm(zf)
    if nz == 0.0:
        return _copy(z)
    uz = zf / nz
    perp = df - _dot(df, uz) * uz  # the part of the direction orthogonal to z
    npp = _norm(perp)
    if npp < 1e-6:
        return _copy(z)
    out = (nz * math.cos(angle)) * uz + (nz * math.sin(angle) / npp) * perp
    return _like(out, z)


@dataclass(frozen=True)
class _Segment:
    """One move: from ``start`` (a latent, at keyframe position ``start_pos``) to keyframe ``target``."""

    start: torch.Tensor  # (C, h, w)
    start_pos: float
    start_index: int  # the keyframe the move counts as leaving (for orders)
    target: int
    begin: float  # clock beats (state.beats_at)
    end: float  # clock beats; a point of the bar grid as it was when the move was planned


def _check_choice(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise TraversalError(f"motion.{key} = {value!r} is not known; choose one of {', '.join(allowed)}")


def _check_range(key: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high) or math.isnan(value):
        raise TraversalError(f"motion.{key} = {value!r} is out of range; allowed {low}..{high}")


def _validate_motion(beats_per_keyframe: int, order: str, easing: str, kick: float, energy: float) -> None:
    if isinstance(beats_per_keyframe, bool) or int(beats_per_keyframe) != beats_per_keyframe:
        raise TraversalError(f"motion.beats_per_keyframe = {beats_per_keyframe!r} must be a whole number 1..64")
    _check_range("beats_per_keyframe", beats_per_keyframe, 1, 64)
    _check_choice("order", order, ORDERS)
    _check_choice("easing", easing, EASINGS)
    _check_range("kick", kick, 0.0, 1.0)
    _check_range("energy", energy, 0.0, 1.0)


class Traversal:
    """The latent for any display time: keyframe walk on the bar grid, plus the onset kick.

    ``keyframes`` is (N, C, h, w) diffusion-space latents, already on the decode device. The
    keyword arguments are the preset's ``[motion]`` table; ``seed`` fixes the random order and
    the kick direction (``kick_direction`` replaces the seeded noise: pixel keyframes' light).
    Call :meth:`latent_at` with non-decreasing display times.
    """

    def __init__(
        self,
        keyframes: torch.Tensor,
        *,
        beats_per_keyframe: int = 4,
        order: str = "sequential",
        easing: str = "smoothstep",
        kick: float = 0.15,
        energy: float = 0.5,
        seed: int = 0,
        kick_direction: torch.Tensor | None = None,
    ) -> None:
        if not isinstance(keyframes, torch.Tensor) or keyframes.ndim != 4 or keyframes.shape[0] < 1:
            shape = tuple(keyframes.shape) if isinstance(keyframes, torch.Tensor) else type(keyframes).__name__
            raise TraversalError(f"keyframes must be a (N, C, h, w) tensor with N >= 1, got {shape}")
        _validate_motion(beats_per_keyframe, order, easing, kick, energy)
        self.keyframes = keyframes
        self.beats_per_keyframe = int(beats_per_keyframe)
        self.order = order
        self.easing = easing
        self.kick = float(kick)
        self.energy = float(energy)
        self.seed = int(seed)
        self._rng = random.Random(self.seed)
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        # The kick direction is fixed per preset (seeded), drawn on the CPU so that the same seed
        # gives the same direction on every device, then moved to the keyframes' device. Pixel
        # keyframes pass their own (a uniform light: noise on a picture is just noise).
        if kick_direction is None:
            kick_direction = torch.randn(keyframes.shape[1:], generator=gen)
        self._kick_dir = kick_direction.to(keyframes.device, keyframes.dtype)
        self._direction = 1  # ping-pong heading
        self._segment: _Segment | None = None
        self._held: torch.Tensor | None = None  # base latent while holding
        self._held_pos = 0.0
        self._pending_drop: int | None = None
        self._drop_beat: float | None = None
        self._env = 0.0  # kick envelope
        self._last_beat: float | None = None  # clock beats (beats_at) of the last call
        # Clock beats minus bar-grid beats (0..3): where the clock currently puts the downbeats.
        self._grid_offset = 0.0
        self._position = 0.0
        self._last_base: torch.Tensor | None = None
        # Command effects that need a beat to anchor them wait here for the next latent_at.
        self._target_drop = 0
        self._jump_to: int | None = None
        self._resume: tuple[torch.Tensor, float, int, int] | None = None

    # ----- public -----------------------------------------------------------------------

    @property
    def count(self) -> int:
        """Number of keyframes."""
        return int(self.keyframes.shape[0])

    @property
    def position(self) -> float:
        """Current keyframe position (index + eased fraction towards the next), as of the last call."""
        return self._position

    @property
    def holding(self) -> bool:
        """True while a ``hold`` command keeps the walk still."""
        return self._held is not None

    @property
    def kick_envelope(self) -> float:
        """The decaying kick envelope (0..1) as of the last call, for the HUD."""
        return self._env

    def retune(self, *, beats_per_keyframe: int | None = None, order: str | None = None, easing: str | None = None,
               kick: float | None = None, energy: float | None = None) -> None:
        """Change ``[motion]`` settings live, keeping the walk where it is (a knob turn must not
        restart the walk). A new beats_per_keyframe applies from the next arrival. Raises
        :class:`TraversalError` and changes nothing on a bad value."""
        new = {
            "beats_per_keyframe": self.beats_per_keyframe if beats_per_keyframe is None else beats_per_keyframe,
            "order": self.order if order is None else order,
            "easing": self.easing if easing is None else easing,
            "kick": self.kick if kick is None else kick,
            "energy": self.energy if energy is None else energy,
        }
        _validate_motion(**new)
        self.beats_per_keyframe = int(new["beats_per_keyframe"])
        self.order, self.easing = str(new["order"]), str(new["easing"])
        self.kick, self.energy = float(new["kick"]), float(new["energy"])

    def latent_at(self, state: AudioState, t: float) -> torch.Tensor:
        """The (1, C, h, w) latent to show at display time ``t`` (perf_counter seconds).

        Uses ``state`` to place ``t`` on the beat grid (``bars_at``), the onset envelope for the
        kick and ``level`` for the energy mapping. The result is a new tensor, never reused.
        """
        beat = state.beats_at(t)
        if not math.isfinite(beat):
            beat = self._last_beat if self._last_beat is not None else 0.0
        self._grid_offset = self._offset_of(state, t, beat)
        self._update_envelope(state, beat)
        self._apply_deferred(state, beat)
        if self._pending_drop is not None:
            # The drop lands on the first downbeat strictly after the display time it was seen at.
            grid = beat - self._grid_offset
            self._drop_beat = BEATS_PER_BAR * (math.floor(grid / BEATS_PER_BAR + 1e-9) + 1) + self._grid_offset
            self._target_drop = self._pending_drop
            self._pending_drop = None
        if self._drop_beat is not None and beat >= self._drop_beat:
            self._land(self._target_drop, self._drop_beat, state)
            self._drop_beat = None
        if self._held is not None:
            base, self._position = self._held, self._held_pos
        else:
            base = self._walk(state, beat)
        self._last_base = base
        out = rotate_towards(base, self._kick_dir, self._kick_angle(state))
        return out.unsqueeze(0)

    def command(self, cmd: Command) -> None:
        """Apply a control command: ``hold`` (1/0, no argument toggles), ``jump`` (index, now),
        ``drop`` (index, on the next downbeat). Other commands are not the traversal's and are
        ignored. A bad index raises :class:`TraversalError` and changes nothing."""
        if cmd.name == "hold":
            on = (not self.holding) if not cmd.args else bool(cmd.args[0])
            self._set_hold(on)
        elif cmd.name == "jump":
            index = self._index_arg(cmd)
            self._jump(index)
        elif cmd.name == "drop":
            index = self._index_arg(cmd)
            self._pending_drop = index
        else:
            _LOGGER.debug("traversal ignores command %s", cmd.name)

    # ----- walk -------------------------------------------------------------------------

    def _segment_beats(self, state: AudioState) -> int:
        """Beats per keyframe for the next move: energy * level can double or quadruple the speed."""
        drive = 0.0 if state.silent else 2.0 * self.energy * min(1.0, max(0.0, state.level))
        for threshold, factor in SPEED_THRESHOLDS:
            if drive > threshold:
                return max(1, self.beats_per_keyframe // factor)
        return self.beats_per_keyframe

    def _next_index(self, current: int) -> int:
        n = self.count
        if n == 1:
            return 0
        if self.order == "sequential":
            return (current + 1) % n
        if self.order == "pingpong":
            if not 0 <= current + self._direction < n:
                self._direction = -self._direction
            return current + self._direction
        # random walk: any other keyframe, so every move shows a change
        step = self._rng.randrange(1, n)
        return (current + step) % n

    @staticmethod
    def _grid_after(beat: float, length: int, min_gap: float = 0.0) -> float:
        """The first multiple of ``length`` strictly after ``beat + min_gap`` (with float slack)."""
        point = (math.floor((beat + min_gap) / length + 1e-9) + 1) * length
        return float(point)

    @staticmethod
    def _offset_of(state: AudioState, t: float, beat: float) -> float:
        """Clock beats minus bar-grid beats at ``t``: a whole number of beats (0..3)."""
        grid = BEATS_PER_BAR * state.bars_at(t)
        if not math.isfinite(grid):
            return 0.0
        return float(round(beat - grid))

    def _grid_end(self, begin: float, length: int, min_gap: float = 0.0) -> float:
        """In clock beats: the first grid point (a multiple of ``length`` on the current bar
        grid) strictly after ``begin + min_gap``."""
        return self._grid_after(begin - self._grid_offset, length, min_gap) + self._grid_offset

    def _grid_floor(self, beat: float, length: int) -> float:
        """In clock beats: the grid point (multiple of ``length`` on the bar grid) at or before ``beat``."""
        grid = beat - self._grid_offset
        return float(math.floor(grid / length + 1e-9) * length) + self._grid_offset

    def _new_segment(self, start: torch.Tensor, start_pos: float, start_index: int, begin: float,
                     state: AudioState, min_gap: float = 0.0, target: int | None = None,
                     follow: bool = False) -> _Segment:
        """The move from ``start`` beginning at clock beat ``begin`` and ending on the bar grid.

        ``follow``: the move follows an arrival. On an unchanged grid it is exactly one move
        long; when the downbeat estimate moved in between, it ends on the next grid point at
        least half a move (at most 2 beats) away, instead of a lurch of a single beat."""
        length = self._segment_beats(state)
        if follow:
            min_gap = max(min_gap, min(length / 2.0, 2.0) - 1e-6)
        end = self._grid_end(begin, length, min_gap)
        if target is None:
            target = self._next_index(start_index)
        return _Segment(start, start_pos, start_index, target, begin, end)

    def _walk(self, state: AudioState, beat: float) -> torch.Tensor:
        seg = self._segment
        if seg is None:
            # Start on keyframe 0, in the grid cell that contains the first display time, so the
            # first arrival is the next grid point (a downbeat with 4 beats per keyframe).
            length = self._segment_beats(state)
            cell = math.floor((beat - self._grid_offset) / length + 1e-9)
            start = self._anchor_index(cell)
            seg = self._new_segment(self.keyframes[start], float(start), start,
                                    float(cell * length) + self._grid_offset, state)
        elif beat < seg.begin - self.beats_per_keyframe:
            # The beat count moved back by more than a move (resync or tempo reset): keep the
            # move, re-anchor it on the grid cell around the new beat.
            length = max(1, int(round(seg.end - seg.begin)))
            begin = self._grid_floor(beat, length)
            seg = _Segment(seg.start, seg.start_pos, seg.start_index, seg.target, begin, begin + length)
        steps = 0
        while beat >= seg.end:
            steps += 1
            if steps > MAX_CATCH_UP:
                # Skipped far ahead (a long pause): restart on the grid from the current target.
                begin = self._grid_floor(beat, self._segment_beats(state))
                seg = self._new_segment(self.keyframes[seg.target], float(seg.target), seg.target, begin, state)
                break
            seg = self._new_segment(self.keyframes[seg.target], float(seg.target), seg.target, seg.end, state,
                                    follow=True)
        self._segment = seg
        span = seg.end - seg.begin
        frac = 0.0 if span <= 0 else (beat - seg.begin) / span
        e = ease(self.easing, frac)
        self._position = self._pos_between(seg.start_pos, seg.target, e)
        return slerp(seg.start, self.keyframes[seg.target], e)

    def _anchor_index(self, cell: int) -> int:
        """Where a fresh walk starts: for sequential and ping-pong the keyframe that grid cell
        ``cell`` would have reached from the clock's start, so a rebuilt Traversal with the same
        settings continues in place; random walks start on keyframe 0."""
        n = self.count
        if n == 1 or self.order == "random":
            return 0
        if self.order == "sequential":
            return cell % n
        period = 2 * (n - 1)
        k = cell % period
        if k < n - 1:
            self._direction = 1
            return k
        self._direction = -1
        return period - k

    def _pos_between(self, start_pos: float, target: int, e: float) -> float:
        n = self.count
        if self.order == "sequential" and n > 1 and target == 0 and start_pos > n - 1.5:
            # The wrap from the last keyframe to the first reads as moving forward past N-1.
            return (start_pos + e * (n - start_pos)) % n
        return start_pos + e * (target - start_pos)

    # ----- commands ---------------------------------------------------------------------

    def _index_arg(self, cmd: Command) -> int:
        if not cmd.args:
            raise TraversalError(f"{cmd.name} needs a keyframe index 0..{self.count - 1}")
        value = cmd.args[0]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise TraversalError(f"{cmd.name} index {value!r} is not a whole number; allowed 0..{self.count - 1}")
        index = int(value)
        if not 0 <= index < self.count:
            raise TraversalError(f"{cmd.name} index {index} is out of range; this preset has keyframes 0..{self.count - 1}")
        return index

    def _set_hold(self, on: bool) -> None:
        if on and self._held is None:
            # Hold exactly what is on screen (minus the kick), even mid-move.
            self._held = self._last_base if self._last_base is not None else self.keyframes[0]
            self._held_pos = self._position
        elif not on and self._held is not None:
            held, pos = self._held, self._held_pos
            self._held = None
            seg = self._segment
            target = seg.target if seg is not None else self._next_index(0)
            # Resume towards the keyframe the walk was heading for; the begin beat is fixed on
            # the next latent_at call (the release has no display time of its own).
            self._resume = (held, pos, int(round(pos)) % self.count, target)

    def _jump(self, index: int) -> None:
        # Show the keyframe at once and stay on it until the next grid point, then walk on.
        self._pending_drop = None
        self._drop_beat = None
        self._resume = None
        if self._held is not None:
            self._held = self.keyframes[index]
            self._held_pos = float(index)
            self._position = float(index)
        else:
            self._jump_to = index

    def _land(self, index: int, beat: float, state: AudioState) -> None:
        """Cut to keyframe ``index`` at grid beat ``beat`` and walk on from there."""
        if self._held is not None:
            self._held = self.keyframes[index]
            self._held_pos = float(index)
            self._position = float(index)
            return
        self._jump_to = None
        self._resume = None
        self._segment = self._new_segment(self.keyframes[index], float(index), index, beat, state)

    def _apply_deferred(self, state: AudioState, beat: float) -> None:
        """Anchor a jump or a hold release on the beat of the first display time after it."""
        if self._jump_to is not None:
            index, self._jump_to = self._jump_to, None
            end = self._grid_end(beat, self._segment_beats(state))
            # A still segment (start == target) until the grid point, then the normal walk.
            self._segment = _Segment(self.keyframes[index], float(index), index, index, beat, end)
        if self._resume is not None:
            held, pos, start_index, target = self._resume
            self._resume = None
            self._segment = self._new_segment(held, pos, start_index, beat, state,
                                              min_gap=MIN_SEGMENT_BEATS, target=target)

    # ----- kick -------------------------------------------------------------------------

    def _update_envelope(self, state: AudioState, beat: float) -> None:
        if self._last_beat is None or beat < self._last_beat:
            decay = 0.0 if self._last_beat is None else 1.0
        else:
            decay = 0.5 ** ((beat - self._last_beat) / KICK_HALF_LIFE_BEATS)
        onset = min(1.0, max(0.0, state.onset_env)) if math.isfinite(state.onset_env) else 0.0
        self._env = max(onset, self._env * decay)
        self._last_beat = beat

    def _kick_angle(self, state: AudioState) -> float:
        if self.kick == 0.0 or self._env == 0.0:
            return 0.0
        level = min(1.0, max(0.0, state.level)) if math.isfinite(state.level) else 0.0
        gain = 0.5 + self.energy * level  # 0.5..1.5: louder music, harder kicks
        return min(KICK_MAX_ANGLE, KICK_BASE_ANGLE * self.kick * self._env * gain)
