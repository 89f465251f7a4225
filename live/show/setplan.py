"""A prepared set's song plans played live: when the recogniser names a track prepared with
``set add --song``, the show plays that track's song preset and its sections at their planned
places in the track.

Where a section starts is a time in the original file (the plan's downbeat); the recogniser says
where the track is now (``AudioState.track``: position at the snapshot's time, and speed), so the
section playing at display time ``t`` is the last one starting at or before
``position + speed x (t - state.time)``. Nothing is scheduled ahead: every frame asks again, so a
loop or a hot-cue jump lands in the right section on the frame the recogniser follows it, and a
pitch-fader ride moves the switches with it.

Who drives the picture, highest first:

1. a manual command (``preset`` or ``section`` from OSC, MIDI, the keyboard, a cue list) stops the
   plan until a *different* track is recognised (the same track lost in a breakdown and found again
   stays manual). A choice made while no track was recognised (the set's first seconds, after a
   loss) holds for the track recognised less than :data:`MANUAL_GRACE_S` after it: that track was
   already playing, the recogniser needs about 2.5-3 s to name it. A manual switch waiting for its
   bar holds for a track recognised meanwhile too (the plan never cuts in before it lands).
   ``autopilot 1`` gives the picture back to the plan at once (:meth:`PlanPlayer.give_back`);
2. the plan of the recognised track, while it has one;
3. the autopilot, which gives way while a plan drives and takes over again when it stops: at once
   when the next track has no plan, :data:`LOST_HOLD_S` after the track was lost (a hot-cue jump or a
   loop is often lost for a moment before the recogniser follows it to its new place; the autopilot's
   switch in that moment flashed another preset for a second).

When the track is lost, or the next track has no plan, the plan stops driving and the show stays
on the preset and section it was on: nothing goes black or jumps.

A plan whose preset cannot play (its file deleted, its keyframes not precomputed, no sections) is
found when the show starts (:meth:`PlanPlayer.check`): one warning names the track and the preset,
and that track plays like one without a plan (the clock follows its grid, the autopilot chooses),
until the preset loads (the bank picks up a precompute made during the show: :meth:`PlanPlayer.restore`).
"""

from __future__ import annotations

import bisect
import logging
import math
from dataclasses import dataclass
from typing import Any, Iterable

from live.audio.recognise import EVERY_S, WINDOW_S
from live.messages import AudioState, TrackPosition

_LOGGER = logging.getLogger(__name__)

SOURCE = "plan"  # the plan's own switches: never counted as a manual command
OVERRIDES = frozenset({"preset", "section"})  # manual commands that stop the plan until the next track
RETRY_S = 2.0  # after the plan's preset or section was refused (keyframes not ready), wait this long
# A track named this soon after a manual choice made while none was named was already audible when the VJ
# chose (the recogniser's window fills, then two answers agree): the choice is for that track too.
MANUAL_GRACE_S = WINDOW_S + 2 * EVERY_S
# The recogniser lets a track go after 2 s without an agreeing answer and finds a jump's new place once its
# window holds the new audio (3 s after the jump): a loss shorter than this is usually the track found again.
LOST_HOLD_S = WINDOW_S


@dataclass(frozen=True)
class TrackPlan:
    """One track's plan as the show plays it: its song ``preset``, each section's ``starts`` (s into
    the original file, ascending) and energy ``levels`` (low, mid, high: the walk's speed)."""

    preset: str
    starts: tuple[float, ...]
    levels: tuple[str, ...]

    def section_at(self, position: float) -> int:
        """Index of the section playing at ``position`` s into the file (the first before its start)."""
        return max(0, bisect.bisect_right(self.starts, position) - 1)


def load_plans(tracks: Iterable[Any], broken: dict[str, str] | None = None) -> dict[str, TrackPlan]:
    """The plans of a loaded set's tracks (``live.library.sets.PreparedTrack``), by track name; tracks
    without ``--song`` have none, and a broken plan is one warning and no plan (the set still plays).
    ``broken``, when given, gets {track: why} for those (``check`` shows them as rows)."""
    from live.library.sets import SetError, load_plan

    plans = {}
    for track in tracks:
        try:
            plan = load_plan(track)
        except SetError as exc:
            _LOGGER.warning("no song plan for %s: %s", track.name, exc)
            if broken is not None:
                broken[track.name] = str(exc)
            continue
        if plan is not None:
            plans[track.name] = TrackPlan(track.song_preset, tuple(float(s.start) for s in plan.sections),
                                          tuple(str(s.level) for s in plan.sections))
    return plans


def plan_player(matcher: Any) -> PlanPlayer | None:
    """The :class:`live.show.setplan.PlanPlayer` of a loaded set's song plans (``matcher.tracks``),
    or None without a set or when none of its tracks has a plan."""
    plans = load_plans(getattr(matcher, "tracks", ())) if matcher is not None else {}
    if not plans:
        return None
    _LOGGER.info("song plans of %d track(s): %s", len(plans), ", ".join(sorted(plans)))
    return PlanPlayer(plans)


@dataclass(frozen=True)
class PlanCue:
    """What the show should play now: ``plan``'s section ``index`` of ``track``."""

    track: str
    plan: TrackPlan
    index: int


class PlanPlayer:
    """Decides, frame by frame, which planned section should be live (see the module doc). Pure:
    it only reads the snapshots it is given; the show carries out its cues."""

    def __init__(self, plans: dict[str, TrackPlan]) -> None:
        self.plans = dict(plans)
        self._followed: str | None = None  # the last track recognised
        self._manual = False  # a manual command took over on the track followed
        self._manual_at = -math.inf  # when it did
        self._manual_blind = False  # ... while no track was recognised
        self._named: str | None = None  # the track recognised in the last snapshot (None: none)
        self._playing: tuple[str, int] | None = None  # (track, section index) the show was told
        self._paused_until = -1.0
        self._lost_at = -math.inf  # when the track the plan drove was lost last
        self.unready: dict[str, TrackPlan] = {}  # plans whose preset cannot play (see check), by track

    @property
    def driving(self) -> bool:
        """True while the plan chooses the picture (the autopilot gives way)."""
        return self._playing is not None

    def holds(self, t: float) -> bool:
        """True while the autopilot waits at time ``t``: the plan drives, or its track was lost less than
        :data:`LOST_HOLD_S` ago (the picture stays as it is meanwhile)."""
        return self._playing is not None or t - self._lost_at < LOST_HOLD_S

    @property
    def manual(self) -> bool:
        """True when a manual command stopped the plan for the track recognised last."""
        return self._manual

    def section_index(self) -> int:
        """Index of the planned section playing (-1 when the plan does not drive)."""
        return -1 if self._playing is None else self._playing[1]

    def check(self, bank: Any) -> dict[str, str]:
        """At start-up, with the show's preset ``bank``: set aside every plan whose preset cannot play
        (see :func:`unplayable`), with one warning each naming the track and the preset; returns
        {track: why}. Those tracks then play like tracks without a plan."""
        found = {}
        for track, plan in sorted(self.plans.items()):
            why = unplayable(bank, plan.preset)
            if why:
                found[track] = why
                self.unready[track] = self.plans.pop(track)
                _LOGGER.warning("song plan of %s not played: preset %s %s; while %s plays the show follows its "
                                "grid, with the autopilot if it is on", track, plan.preset, why, track)
                continue
            count = len(bank.get(plan.preset)[0].generation.sections)
            if count != len(plan.starts):  # sections edited out or added: played, but not as planned
                _LOGGER.warning("song plan of %s: preset %s has %d sections, the plan %d; they are paired in order "
                                "(`set add` the track again with --song to rewrite the preset)", track, plan.preset,
                                count, len(plan.starts))
        return found

    def restore(self, bank: Any, names: Iterable[str]) -> list[str]:
        """The bank swapped in presets ``names`` (changed files, a precompute finished): plans set aside
        by :meth:`check` whose preset now plays are played again; returns their tracks."""
        changed = set(names)
        back = [t for t, plan in self.unready.items() if plan.preset in changed and not unplayable(bank, plan.preset)]
        for track in back:
            self.plans[track] = self.unready.pop(track)
            _LOGGER.info("song plan of %s: preset %s is ready now; the plan plays while %s does",
                         track, self.plans[track].preset, track)
        return back

    def take_over(self, why: str, t: float = -math.inf) -> None:
        """A manual choice at time ``t`` (``why``, for the log): the plan stops driving until the next
        track (see the module doc for one recognised just after it)."""
        if self._playing is not None:
            _LOGGER.info("song plan of %s stopped: %s (it drives again from the next track recognised)",
                         self._playing[0], why)
        self._manual, self._playing, self._manual_at, self._manual_blind = True, None, t, self._named is None

    def give_back(self, why: str) -> None:
        """Undo :meth:`take_over` (``why``, for the log): the plan drives again from the next frame."""
        if self._manual:
            _LOGGER.info("song plans drive again (%s)", why)
        self._manual = False

    def refused(self, t: float) -> None:
        """The show could not carry out the last cue; try again :data:`RETRY_S` after ``t``."""
        self._playing, self._paused_until = None, t + RETRY_S

    def cue(self, state: AudioState, t: float, pending: bool = False) -> PlanCue | None:
        """The section to go to for display time ``t`` when it differs from the one playing, else None.
        ``pending``: a manual switch waits for its bar (the choice holds for a track recognised meanwhile)."""
        track = state.track
        self._named = None if track is None else track.name
        if track is not None and track.name != self._followed:
            self._followed = track.name
            if self._manual and (pending or (self._manual_blind and t - self._manual_at <= MANUAL_GRACE_S)):
                _LOGGER.info("song plan of %s not played: a manual choice made before it was recognised holds",
                             track.name)
            else:
                self._manual = False  # the next track: the plan may drive again
        plan = self.plans.get(track.name) if track is not None and not self._manual else None
        if plan is None or track is None:
            if self._playing is not None:
                _LOGGER.info("song plan of %s: %s; staying on the picture", self._playing[0],
                             "track lost" if track is None else f"{track.name} has no plan")
                if track is None:
                    self._lost_at = t
            self._playing = None
            return None
        if t < self._paused_until:
            return None
        index = plan.section_at(position_at(track, state, t))
        if self._playing == (track.name, index):
            return None
        self._playing = (track.name, index)
        return PlanCue(track.name, plan, index)


def unplayable(bank: Any, preset: str) -> str:
    """Why song preset ``preset`` cannot play from ``bank`` (a :class:`live.library.bank.PresetBank`),
    in words that follow its name ("is not in ...", "is unavailable (...)", "has no sections"); "" when it can."""
    if preset not in bank.names():
        rows = {row["name"]: row for row in bank.status()}
        if preset not in rows:
            folder = getattr(bank, "presets_dir", None)
            return f"is not in {folder or 'the presets folder'} (deleted?); `set add` the track again with --song"
        return f"is unavailable ({rows[preset]['reason'] or 'not loaded'})"
    if not bank.get(preset)[0].generation.sections:
        return "has no [[generation.sections]]; `set add` the track again with --song"
    return ""


def position_at(track: TrackPosition, state: AudioState, t: float) -> float:
    """Where the recognised ``track`` is at time ``t`` (s into its file): its position at the
    snapshot's time moved on at its speed."""
    return float(track.position) + float(track.speed) * (t - float(state.time))
