"""Live recognition of a prepared set: which of the DJ's tracks is playing, where in it, how fast.

A :class:`Recogniser` sits beside the :class:`~live.audio.analysis.AudioEngine`, which hands it
every block of input (:meth:`Recogniser.push`). Every :data:`EVERY_S` of stream time the newest
:data:`WINDOW_S` of audio goes to the set's matcher (``SetIndex.align`` of
:mod:`live.library.sets`, given to this module as an object, so audio never imports the library):
inline in ``render`` and ``beats`` (deterministic), on a thread of its own live, the windows and
answers crossing by latest-wins slots (an answer is used when it comes back, stamped with the
stream time of its window's end). An answer is every track's best alignment: its matches in the
whole window (``score``) and in the newest second (``recent``), and whether it is identified on
its own (the matcher's rule: enough matches, twice any other track's).

Each answer is one observation (time, position, track). The recogniser follows one **line**,
position(t) = p + speed x (t - t0), fitted through the recent observations that agree with it
(within :data:`TOLERANCE_S`): the fingerprint's speed is only ~0.5% accurate, the line's slope over
several seconds is much better. An identified answer that does not fit (another track, a jump, a
loop) starts a candidate line, followed once :data:`CONFIRM` answers agree with it, none more than
:data:`CANDIDATE_S` apart (one is enough when the followed line has had no agreeing answer for
:data:`STALE_S`); a jump re-aligns in about 2 s, and a candidate must play in the window's newest
part (:data:`NOW`), not only in its older part (the tail of a track just cut away).

**Repeats.** Loops and repeated bars score alike, so the best answer flips between their
positions. Each match therefore also reports the own alignment of the followed line and of every
candidate (the matcher's ``expect``: the track near the position the line predicts, at its speed):
an answer elsewhere in the followed track only starts a candidate (at most
:data:`MAX_CANDIDATES`), and the line jumps to it only when it leads the line's own alignment in
each of :data:`EVIDENCE` answers and :data:`LEAD` times in all, or :data:`CLEAR` times over
:data:`CONFIRM` answers (a jump to other material); else the line stays (continuity is the better
explanation). A first identification on a repeated section may pick the wrong repeat; the line
moves when unique material arrives (the wrong repeat then loses its support).

**The bar of a repeat.** What the clock takes from the line is the grid's bar phase, and a repeat
a whole number of bars away has the same one: moving between such repeats changes the position,
never a downbeat. A repeat a part of a bar away (drums repeating every 2 beats) moves the bar, so
it takes more: a clear lead (the line's own matches gone, a jump to other material), or
:data:`MOVE` of the last :data:`VOTES` answers whose best alignment of the track lies on that
phase (whichever repeat it names). When the followed repeat ends (its own matches gone) while the
track plays on at a repeat on the line's bar, the line moves there rather than letting the track
go. On the generated loop-based tracks of `bench set` the single best alignment names the right
bar phase in 87-98% of windows on their own, but consecutive windows overlap, so their errors come
in runs of 2-3 answers: 3 of the last 5 rather than 2 in a row. (4 of 6 and 5 of 8 came out
lower on the generated mix, downbeat F 0.732 and 0.696 against 0.754; the development mix is the
same with each.) A new line is the least sure (a first identification, mostly in a blend, whose
mixed audio names a wrong repeat more often): over its first :data:`VOTES` answers
:data:`YOUNG_MOVE` of them move it (generated mix 0.754 -> 0.783; the development and check mixes
unchanged); a line that has moved is no longer new.

**Blends.** For seconds after a crossfade's middle the outgoing track still holds most of a
window's matches, so the incoming one is not identified on its own. It takes over when it is
identified but for the outgoing track (:data:`~live.fingerprint.MIN_SCORE`, and
:data:`~live.fingerprint.MIN_MARGIN` times every *third* track's matches: the outgoing deck's are
no doubt about it) and has more matches than the outgoing line in the window's newest second:
confirmed by :data:`CONFIRM` answers while the outgoing line is followed, at once when it has been
let go. The incoming track leads the newest second about an answer before its whole window holds
MIN_SCORE matches, so a weaker lead (:data:`HINT` of MIN_SCORE, the rest of the rule as above)
counts as the first of those answers when the next one agrees on the position (or leads weakly
again there): the switch comes half a second sooner, 1.0-1.5 s after the blend's middle (the
newest second's centre lags 0.5 s, an answer comes every 0.5 s). A weaker lead alone claims nothing;
two in a row at one position while a set track is followed are the blend's identification. The
track just left comes back only by the strict rule (no flapping in the blend).

**Letting go.** An agreeing answer confirms the line unless its newest second says other music
plays: the track's matches there under :data:`LET_GO` of what its usual rate (matches per query
pair) promises for that second's pairs, the promise at least :data:`EXPECT_MIN`, and the input at
least :data:`LOUD` of the track's level; :data:`COLLAPSED` such answers in a row let the track go
(a hard cut to music not in the set: about 1.5 s, where the window's tail alone kept it 3.5 s).
The track just left (let go, or handed over) is not started again while its newest part stays
under LET_GO of its rate: the window's older part still identifies a track fading out of a blend
into music not in the set (it was named again until 5 s after the blend's middle, now 1-2 s).
A sparse or quiet breakdown promises little and is never "other music"; with no agreeing answer
for :data:`HOLD_S` (a breakdown without landmarks) or in silence, the track is lost too. Music
not in the set is never claimed: every new line needs an identification, the blend's included
(its incoming track named by two agreeing answers, one of them a weaker lead).

:meth:`Recogniser.at` turns the line at a time into a :class:`~live.messages.TrackPosition` for the
AudioState and a ``set`` :class:`~live.messages.TempoReading` for the beat clock: the track's grid
beat at that position, counted so that its downbeats fall on multiples of ``BEATS_PER_BAR`` (the
clock takes the bar from there), at the grid's local tempo times the speed.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from live import fingerprint as fp
from live.handoff import LatestSlot
from live.messages import BEATS_PER_BAR, TempoReading, TrackPosition
from live.ratelog import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

WINDOW_S = 3.0  # seconds of audio a match looks at (the matcher wants 3-6 s; shorter follows a blend sooner)
MIN_FILL_S = 2.5  # the first match waits for this much audio (shorter windows misjudge the speed)
EVERY_S = 0.5  # stream seconds between matches
TOLERANCE_S = 0.12  # an answer this close to the line confirms it (landmarks are 23 ms frames)
CONFIRM = 2  # answers in a row that must agree before a new line (track, jump) is followed
CANDIDATE_S = 1.5  # a candidate with no agreeing answer for this long while the line is confirmed is dropped
STALE_S = 1.0  # ... but one is enough when the followed line has had no agreeing answer this long
HOLD_S = 2.0  # no agreeing answer for this long: the track is lost
WEAK = 0.3  # an agreeing answer scoring under this share of the line's recent median confirms nothing:
# the window holds only the end of the track (a cut, the tail of a blend), not the track playing now
FIT_S = 8.0  # observations older than this leave the line's fit (a DJ's pitch ride is followed)
LET_GO = 0.2  # the followed track's matches in a window's newest part under this share of its usual rate:
EXPECT_MIN = 8.0  # ... (when that rate promises this many at least) say other music plays there,
COLLAPSED = 2  # ... and this many such answers in a row let the track go (a hard cut to music not in the set)
NOW = 0.2  # a new line's answer must have this share of its matches' even share in the newest part
LOUD = 0.5  # ... while the input is at least this share of the track's level (RMS): quieter is a breakdown
MAX_CANDIDATES = 3  # candidate lines weighed at once (the repeats a loop offers)
LEAD = 1.3  # a jump inside the followed track needs more matches than the line's own in each of ...
EVIDENCE = 3  # ... this many answers (1.5 s), this many times the line's in all: repeated bars score alike, one window says little
CLEAR = 3.0  # ... or this many times the line's over CONFIRM answers (a jump to other material)
VOTES = 5  # the followed track's best alignments (one per answer) whose bar phases are counted ...
MOVE = 3  # ... and this many of them on one other phase move the line there (a repeat off by part of a bar)
YOUNG_MOVE = 2  # ... this many over a line's first VOTES answers (a first identification, often in a blend, is the least sure)
HINT = 0.5  # a blend's incoming track with this share of MIN_SCORE, leading the newest second, is a hint of it
PHASE_TOLERANCE = 0.25  # beats: an alignment this close to a whole number of beats off the line is a repeat
SPEED_RANGE = (0.85, 1.15)  # a fitted slope outside this is noise, not a pitch fader
SILENCE_RMS = 1e-3  # -60 dBFS over the newest EVERY_S: nothing plays, nothing is recognised


class Matcher(Protocol):
    """What the recogniser needs of a loaded set (``live.library.sets.SetIndex``)."""

    def align(self, samples: np.ndarray, samplerate: int, expect: Any = ()) -> Any:
        """An answer with ``matches`` (each track's best alignment, best first: ``name``, ``track``
        (``locate(position)``, ``duration``), ``position``, ``speed``, ``score``, ``recent``,
        ``identified``), ``recent_pairs`` and ``expected``: per hypothesis of ``expect`` (name,
        position at the window's end, speed), that track's best alignment there or None."""


@dataclass
class _Line:
    """One followed alignment: a track and the (time, position) observations that agree."""

    name: str
    track: Any
    speed: float  # the matcher's speed until the observations span enough time
    obs: list[tuple[float, float]] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)  # the agreeing answers' scores, newest last
    rates: list[float] = field(default_factory=list)  # their recent matches per recent query pair
    levels: list[float] = field(default_factory=list)  # their newest part's RMS
    collapsed: int = 0  # answers in a row whose newest part showed other music
    speeds: list[float] = field(default_factory=list)  # the agreeing answers' speeds (before the fit can say)
    evidence: list[tuple[float, float]] = field(default_factory=list)  # a candidate's (own, followed line's) scores per answer
    phases: list[tuple[int, float]] = field(default_factory=list)  # per answer: the track's best alignment's bar phase against the line, and its offset (s)
    voted: int = 0  # answers whose bar phase was counted (kept when the line moves: it is no longer young)
    slope: float = 1.0
    intercept: float = 0.0  # position at time 0 on the fitted line

    def add(self, t: float, position: float, score: float, rate: float | None = None,
            level: float | None = None, speed: float | None = None) -> None:
        """One more agreeing observation (``rate``: its recent matches per recent query pair,
        ``level``: its newest part's RMS, ``speed``: the matcher's); refit the line on the recent ones."""
        self.obs.append((t, position))
        self.scores.append(score)
        if speed is not None:  # one 3 s window misjudges the speed by 1-3%: their median says more
            self.speeds = (self.speeds + [speed])[-8:]
            self.speed = float(np.median(self.speeds))
        if rate is not None:
            self.rates = (self.rates + [rate])[-16:]
        if level is not None:
            self.levels = (self.levels + [level])[-16:]
        keep = [k for k, o in enumerate(self.obs) if o[0] >= t - FIT_S]
        self.obs, self.scores = [self.obs[k] for k in keep], [self.scores[k] for k in keep]
        ts = np.array([o[0] for o in self.obs])
        ps = np.array([o[1] for o in self.obs])
        slope = self.speed
        if len(ts) >= 3 and np.ptp(ts) >= 2.0:
            fitted = float(np.polyfit(ts - ts[-1], ps, 1)[0])
            if SPEED_RANGE[0] <= fitted <= SPEED_RANGE[1]:
                slope = fitted
        self.slope = slope
        # The newest observations say most about where the track is now (the fit lags a jump of speed).
        recent = slice(-6, None)
        self.intercept = float(np.median(ps[recent] - slope * ts[recent]))

    @property
    def confirmed(self) -> float:
        """Time of the newest agreeing observation."""
        return self.obs[-1][0]

    def at(self, t: float) -> float:
        """Position (s into the original file) at time ``t``."""
        return self.intercept + self.slope * t

    def agrees(self, answer: Any, t: float) -> bool:
        """Whether the matcher's ``answer`` for the window ending at ``t`` lies on this line."""
        return answer.name == self.name and abs(self.at(t) - answer.position) <= TOLERANCE_S

    def phase_of(self, position: float, t: float) -> int | None:
        """How many beats ``position`` (in this line's track) lies off the line's bar phase at
        ``t``: 0 on the line or a whole number of bars away (a repeat the clock cannot tell from
        it), 1..beats_per_bar-1, or None when it is not a whole number of beats away (0 for a
        track without a grid: it has no bar to lose)."""
        if not hasattr(self.track, "locate"):
            return 0
        here, there = self.track.locate(self.at(t)), self.track.locate(position)
        if abs((there.beat - here.beat) - round(there.beat - here.beat)) > PHASE_TOLERANCE:
            return None
        per_bar = int(getattr(self.track, "beats_per_bar", BEATS_PER_BAR)) or BEATS_PER_BAR
        return int(round(there.beat_in_bar - here.beat_in_bar)) % per_bar

    def moved_phase(self, answer: Any, t: float) -> _Line | None:
        """Count the bar phase against the line of ``answer`` (the track's best alignment in the
        window ending at ``t``, see :meth:`phase_of`); when :data:`MOVE` of the last :data:`VOTES`
        lie on one other phase, the line moved onto the newest of them, else None."""
        phase = self.phase_of(answer.position, t)
        if phase is None:
            return None
        self.voted += 1
        self.phases = (self.phases + [(phase, answer.position - self.at(t))])[-VOTES:]
        counts = np.bincount([p for p, _ in self.phases], minlength=BEATS_PER_BAR)
        counts[0] = 0
        best = int(np.argmax(counts))
        if counts[best] < (MOVE if self.voted > VOTES else YOUNG_MOVE):
            return None
        return self.shifted(next(d for p, d in reversed(self.phases) if p == best))

    def shifted(self, offset: float) -> _Line:
        """This line ``offset`` seconds further into the track (a jump: same speed, same rates)."""
        return replace(self, obs=[(o, p + offset) for o, p in self.obs], scores=list(self.scores), phases=[],
                       evidence=[], collapsed=0, intercept=self.intercept + offset)

    def leads(self, clearly: bool = False) -> bool:
        """Whether this candidate explains the audio clearly better than the followed line: over its
        last :data:`EVIDENCE` answers, more matches than the line's own in each and :data:`LEAD`
        times them in all (not when ``clearly``), or :data:`CLEAR` times them over its last :data:`CONFIRM`."""
        if len(self.evidence) < CONFIRM:
            return False
        own, rival = np.sum(self.evidence[-CONFIRM:], axis=0)
        if own >= CLEAR * rival:
            return True
        if clearly:
            return False
        last = np.array(self.evidence[-EVIDENCE:])
        return (len(last) >= EVIDENCE and bool(np.all(last[:, 0] > last[:, 1]))
                and last[:, 0].sum() >= LEAD * last[:, 1].sum())

    def gone(self, support: float, recent_pairs: int, level: float | None = None) -> bool:
        """Whether ``support`` matches of this track in a window's newest part, which holds
        ``recent_pairs`` query pairs at RMS ``level``, say other music plays there: far under what
        the track's usual rate promises, that promise big enough to tell (a sparse breakdown
        promises little), and the input about as loud as the track was (a quiet breakdown, whose
        peaks may be the room's noise, is not other music)."""
        if not self.rates:
            return False
        if level is not None and self.levels and level < LOUD * float(np.median(self.levels)):
            return False
        expected = float(np.median(self.rates)) * recent_pairs
        return expected >= EXPECT_MIN and support < LET_GO * expected


def _agree(hinted: tuple[float, Any] | None, answer: Any, t: float) -> bool:
    """Whether the earlier answer ``hinted`` (its time, the answer) names ``answer``'s track at the
    position ``answer`` has at ``t``, give or take :data:`TOLERANCE_S`."""
    if hinted is None or t - hinted[0] > CANDIDATE_S:
        return False
    ht, h = hinted
    return h.name == answer.name and abs(h.position + answer.speed * (t - ht) - answer.position) <= TOLERANCE_S


def _plays_now(answer: Any) -> bool:
    """Whether ``answer``'s track plays in its window's newest part, not only before it (the
    window's tail after a cut): at least :data:`NOW` of its matches' even share there."""
    return answer.recent >= NOW * answer.score * fp.RECENT_S / WINDOW_S


class Recogniser:
    """Follows a prepared set's tracks in the input (see the module doc). Fed and asked by the
    analysis thread only; ``threaded`` runs the matching on a thread of its own (live)."""

    def __init__(self, matcher: Matcher, samplerate: int, threaded: bool = False,
                 window_s: float = WINDOW_S, every_s: float = EVERY_S) -> None:
        self.matcher, self.samplerate = matcher, int(samplerate)
        self.every_s = float(every_s)
        self._audio = np.zeros(int(window_s * self.samplerate), dtype=np.float32)  # a ring, newest at _write
        self._write = 0
        self._filled = 0
        self._next = None  # stream time of the next match
        self._line: _Line | None = None
        self._candidates: list[_Line] = []  # new lines weighed against the followed one (a jump, a track)
        self._outgoing: _Line | None = None  # the line followed last (a blend's outgoing track)
        self._hint: tuple[float, Any] | None = None  # the last answer's weaker lead of a blend's incoming track
        self._bad = RateLimitedLog(_LOGGER)  # a track whose grid fails: once, then counted
        self.busy = 0.0  # CPU seconds spent matching (the cost figure)
        self.matches = 0
        self._thread: _MatchThread | None = None
        if threaded:
            self._thread = _MatchThread(self)
            self._thread.start()

    # -- feeding (analysis thread) -----------------------------------------------------------

    def push(self, block: np.ndarray, end_time: float) -> None:
        """The newest mono ``block`` ending at ``end_time``; matches when one is due (inline), or
        hands the window to the match thread and takes any answer that came back."""
        x = np.asarray(block, dtype=np.float32)
        n, size = len(x), len(self._audio)
        if n >= size:
            self._audio[:] = x[-size:]
            self._write = 0
        elif n:
            first = min(n, size - self._write)
            self._audio[self._write:self._write + first] = x[:first]
            self._audio[:n - first] = x[first:]
            self._write = (self._write + n) % size
        self._filled = min(size, self._filled + n)
        if self._thread is not None:
            answer = self._thread.answers.take(timeout=0)
            if answer is not None:
                self.observe(*answer)
        if self._next is None:
            self._next = end_time - self._filled / self.samplerate + self.every_s
        if end_time + 1e-9 < self._next or self._filled < MIN_FILL_S * self.samplerate:
            return
        self._next = max(self._next + self.every_s, end_time - self.every_s)
        window = np.concatenate((self._audio[self._write:], self._audio[:self._write]))[-self._filled:]
        quiet = float(np.sqrt(np.mean(window[-int(self.every_s * self.samplerate):] ** 2))) < SILENCE_RMS
        level = float(np.sqrt(np.mean(window[-int(fp.RECENT_S * self.samplerate):] ** 2)))
        # The lines followed or weighed now: the matcher reports their own alignments too.
        asked = tuple(x for x in (self._line, *self._candidates, self._outgoing) if x is not None)
        expect = [(x.name, x.at(end_time), x.slope) for x in asked]
        if self._thread is not None:
            self._thread.windows.put((window, end_time, quiet, level, asked, expect))
        else:
            self.observe(end_time, None if quiet else self.match(window, expect), quiet, level, asked)

    def match(self, window: np.ndarray, expect: list[tuple[str, float, float]] | None = None) -> Any:
        """One alignment of ``window`` (timed into :attr:`busy`), with the own alignments of the
        hypotheses ``expect``; an error is logged and is no answer."""
        t0 = time.thread_time()
        try:
            return self.matcher.align(window, self.samplerate, expect=expect or [])
        except Exception:  # a broken matcher must not take the analysis down
            _LOGGER.exception("set recognition failed on one window; going on")
            return None
        finally:
            self.busy += time.thread_time() - t0
            self.matches += 1

    def observe(self, t: float, answer: Any, quiet: bool = False, level: float | None = None,
                asked: tuple[_Line, ...] = ()) -> None:
        """Take the matcher's ``answer`` (an alignment, or None) for the window ending at ``t``
        (``quiet``: its newest part is silence; ``level``: the RMS of its newest RECENT_S, None:
        unknown; ``asked``: the lines whose own alignments ``answer.expected`` holds, in order)."""
        if quiet:
            self._lose("silence")
            return
        if answer is None:
            return
        matches, heard = list(answer.matches), int(answer.recent_pairs)
        expected = {id(x): m for x, m in zip(asked, getattr(answer, "expected", ()))}
        line = self._line
        # The rival: the followed line, or the one let go a moment ago (its audio is still in the window).
        rival = line if line is not None else self._outgoing
        if rival is not None and t - rival.confirmed > WINDOW_S:
            rival = self._outgoing = None
        mine = self._own(rival, matches, expected, t)
        support = float(mine.recent) if mine is not None else 0.0
        if line is not None:
            if line.gone(support, heard, level):
                line.collapsed += 1  # the newest part is other music: this answer confirms nothing
                # ... unless it is this track elsewhere: the line was on a repeat that ends here. On
                # the line's bar phase the line moves there; on another, the phase vote decides.
                elsewhere = next((m for m in matches if m.name == line.name and m is not mine), None)
                if (elsewhere is not None and elsewhere.identified and _plays_now(elsewhere)
                        and not line.gone(float(elsewhere.recent), heard, level)):
                    if line.phase_of(elsewhere.position, t) != 0:
                        line.collapsed = 0
                    elif line.collapsed >= COLLAPSED:
                        self._follow(line.shifted(elsewhere.position - line.at(t)), t)
                        return
                if line.collapsed >= COLLAPSED:
                    self._let_go("other music")
                    line = None
            else:
                line.collapsed = 0
                if mine is not None and mine.score >= WEAK * float(np.median(line.scores)):
                    line.add(t, mine.position, mine.score, mine.recent / max(1, heard), level, mine.speed)
        own = float(mine.score) if mine is not None and line is not None else 0.0  # the followed line's matches
        off = [m for m in matches if line is None or m is not mine]  # the answers off the followed line
        # The incoming track of a blend: the best of another track than the rival's, never back to
        # the one just left (no flapping: coming back takes the strict rule).
        other = next((m for m in off if rival is None or m.name != rival.name), None)
        incoming = other is not None and rival is not None and other.name != getattr(self._outgoing, "name", None)
        overtakes = incoming and self._overtakes(other, matches, rival.name, support)
        # A weaker lead of the incoming track (HINT of the score an overtake needs) is no claim on its own.
        hint = other if (incoming and not overtakes
                         and self._overtakes(other, matches, rival.name, support, HINT * fp.MIN_SCORE)) else None
        if not overtakes:
            other = matches[0] if off and off[0] is matches[0] else None  # the strict rule: the best answer
            if other is not None and (not other.identified or not _plays_now(other) or self._fading(other, heard, level)):
                other = None
        # A jump inside the followed track is weighed against the line, answer by answer, by both
        # lines' own alignments: repeated bars (a loop) score alike and the best answer flips
        # between them, so continuity is the better explanation until a candidate clearly leads.
        for cand in [c for c in self._candidates if line is not None and c.name == line.name]:
            theirs = self._own(cand, matches, expected, t)
            cand.evidence.append((float(theirs.score) if theirs is not None else 0.0, own))
            if theirs is not None and theirs is not other:
                cand.add(t, theirs.position, theirs.score, theirs.recent / max(1, heard), level, theirs.speed)
            if len(cand.evidence) >= EVIDENCE and not cand.leads():
                self._candidates.remove(cand)  # the line explains the audio as well: the repeat was chance
        if line is not None:  # a lone answer of another track, long ago: chance
            self._candidates = [c for c in self._candidates if c.name == line.name or t - c.confirmed <= CANDIDATE_S]
        # A repeat a part of a bar off moves the bar: it takes a clear lead (a jump to other
        # material) or most of the track's best alignments on its phase (the vote below).
        leading = [c for c in self._candidates if line is not None and c.name == line.name
                   and c.leads(clearly=line.phase_of(c.obs[-1][1], c.obs[-1][0]) != 0)]
        if leading:
            self._follow(max(leading, key=lambda c: sum(o for o, _ in c.evidence[-EVIDENCE:])), t)
            return
        best = next((m for m in matches if line is not None and m.name == line.name), None)
        moved = line.moved_phase(best, t) if best is not None and best.score >= HINT * fp.MIN_SCORE else None
        if moved is not None:
            self._follow(moved, t)
            return
        # It is remembered: the next answer, if it leads at the same position, confirms it (the blend's
        # identification, half a second sooner than two full overtakes; music not in the set scores
        # under HINT x MIN_SCORE at one position, let alone twice in a row).
        hinted, self._hint = self._hint, (t, hint) if hint is not None else None
        if other is None and hint is not None and _agree(hinted, hint, t):
            other, overtakes = hint, True  # two weaker leads in a row at one position: the blend's identification
        if other is None:
            return
        cand = next((c for c in self._candidates if c.agrees(other, t)), None)
        if cand is None and line is None:
            # A first answer's repeat holds while its own alignment scores about as well: a
            # neighbour bar of a loop scoring alike is no news (the line moves later if it is wrong).
            for c in [c for c in self._candidates if c.name == other.name]:
                theirs = self._own(c, matches, expected, t)
                if theirs is not None and other.score < LEAD * theirs.score:
                    cand, other = c, theirs
                    break
        if cand is None:
            cand = _Line(other.name, other.track, float(other.speed))
            self._candidates = (self._candidates + [cand])[-MAX_CANDIDATES:]
            if line is not None and other.name == line.name:
                cand.evidence.append((float(other.score), own))
        cand.add(t, other.position, other.score, other.recent / max(1, heard), level, other.speed)
        stale = line is not None and t - line.confirmed >= STALE_S  # the followed track has faded or jumped
        if line is not None and cand.name == line.name and (not stale or line.phase_of(other.position, t) != 0):
            return  # a jump inside the track: weighed on the next answers (above); off the bar, by the vote
        # An overtake confirmed by the answer before (a weaker lead at the same position) needs no other.
        confirmed = overtakes and _agree(hinted, other, t)
        if len(cand.obs) >= CONFIRM or stale or (overtakes and (line is None or confirmed)):
            self._follow(cand, t)

    def _fading(self, answer: Any, heard: int, level: float | None) -> bool:
        """Whether ``answer`` is the track just left (let go, or handed over in a blend) still
        under :data:`LET_GO` of its usual rate in the newest part: its fading tail (the window's
        older part still identifies it), not the track coming back, which plays at its rate."""
        out = self._outgoing
        return out is not None and answer.name == out.name and out.gone(float(answer.recent), heard, level)

    @staticmethod
    def _own(x: _Line | None, matches: list[Any], expected: dict[int, Any], t: float) -> Any:
        """Line ``x``'s own alignment in an answer: a best one on it, else the matcher's answer to
        its hypothesis when that still lies on it; None when neither does."""
        if x is None:
            return None
        found = next((m for m in matches if x.agrees(m, t)), None)
        mine = expected.get(id(x))
        if found is None and mine is not None and x.agrees(mine, t):
            found = mine
        return found

    @staticmethod
    def _overtakes(answer: Any, matches: list[Any], rival: str, support: float, least: float = fp.MIN_SCORE) -> bool:
        """Whether ``answer`` (another track than the ``rival`` followed or just let go) takes over
        in a blend: identified but for the rival (:data:`~live.fingerprint.MIN_SCORE`, and
        :data:`~live.fingerprint.MIN_MARGIN` times every third track's score: the rival's own
        matches are the outgoing deck, not a doubt) and more matches than the rival in the window's
        newest part (``support``): the incoming deck is the louder now."""
        others = max((m.score for m in matches if m.name not in (answer.name, rival)), default=0)
        return (answer.score >= least and answer.score >= fp.MIN_MARGIN * max(1, others)
                and answer.recent > support)

    def _follow(self, new: _Line, t: float) -> None:
        """Follow ``new`` from ``t``; the old line becomes the rival."""
        line = self._line
        if line is None or line.name != new.name:
            _LOGGER.info("set: %s at %.1f s, speed %.3f (stream %.1f s)", new.name, new.at(t), new.slope, t)
        else:
            _LOGGER.info("set: %s jumped %+.1f s", new.name, new.at(t) - line.at(t))
        self._outgoing = line if line is not None and line.name != new.name else self._outgoing
        self._line, self._candidates = new, []

    def _let_go(self, why: str) -> None:
        """Stop following the line (it stays the rival while its audio can be in the window)."""
        if self._line is not None:
            _LOGGER.info("set: %s lost (%s)", self._line.name, why)
            self._outgoing = self._line
        self._line = None

    def _lose(self, why: str) -> None:
        if self._line is not None:
            _LOGGER.info("set: %s lost (%s)", self._line.name, why)
        self._line = self._outgoing = self._hint = None
        self._candidates = []

    # -- asking (analysis thread) ------------------------------------------------------------

    def at(self, t: float) -> tuple[TrackPosition, TempoReading] | None:
        """The recognised track at time ``t`` and the beat clock's ``set`` reading, or None."""
        line = self._line
        if line is None:
            return None
        position = line.at(t)
        if t - line.confirmed > HOLD_S or position > float(getattr(line.track, "duration", math.inf)) + 1.0:
            self._let_go("no match" if t - line.confirmed > HOLD_S else "its end")
            return None
        try:
            point = line.track.locate(position)
        except Exception as exc:  # a grid it cannot follow loses the track, never the analysis (it publishes the beat)
            self._bad.report(line.name, f"set: {line.name}: its grid cannot be followed ({exc}); going on without it")
            self._lose("its grid")
            return None
        per_bar = int(getattr(line.track, "beats_per_bar", BEATS_PER_BAR)) or BEATS_PER_BAR
        # The bar's downbeat in whole bars, then the beat inside it: downbeats on multiples of 4.
        bar = math.floor(point.bar - point.beat_in_bar / per_bar + 0.5)
        beat = bar * BEATS_PER_BAR + point.beat_in_bar
        where = TrackPosition(name=line.name, position=round(position, 3), speed=round(line.slope, 4),
                              bar=int(bar), phrase=int(point.phrase), section=int(point.section),
                              bpm=round(point.steady_bpm * line.slope, 2))
        return where, TempoReading("set", float(point.bpm) * line.slope, float(beat), t)

    @property
    def following(self) -> str | None:
        """The name of the track followed now, None when none is."""
        return None if self._line is None else self._line.name

    def close(self) -> None:
        """Stop the match thread, if any."""
        if self._thread is not None:
            self._thread.stop()
            self._thread = None


class _MatchThread(threading.Thread):
    """Matches the windows the analysis thread hands over (latest wins: a slow match skips windows)."""

    def __init__(self, owner: Recogniser) -> None:
        super().__init__(name="set-recogniser", daemon=True)
        self.owner = owner
        self.windows: LatestSlot[tuple[np.ndarray, float, bool, float, tuple[_Line, ...], list[Any]]] = LatestSlot()
        self.answers: LatestSlot[tuple[float, Any, bool, float, tuple[_Line, ...]]] = LatestSlot()
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Finish and wait."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=2.0)

    def run(self) -> None:
        """Thread body: take a window, match it, hand the answer back."""
        while not self._stop_event.is_set():
            item = self.windows.take(timeout=0.1)
            if item is None:
                continue
            window, end_time, quiet, level, asked, expect = item
            # The hypotheses are the lines as they stood when the window was handed over.
            answer = None if quiet else self.owner.match(window, expect)
            self.answers.put((end_time, answer, quiet, level, asked))
