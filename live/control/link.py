"""Ableton Link: follow the session's tempo and beat phase, and lead it with the tempo the show hears.

Built on LinkPython-extern (the ``link`` module: Ableton's own Link library, synchronous, with a
session state that answers "which beat at this time, for this quantum" and takes a new tempo).

:class:`LinkPeer` joins the session on its own thread and polls it every :data:`POLL_S`:

* follow: while other peers are present and the session's tempo is not the one this show
  published (someone else set it), each poll puts a :class:`~live.messages.TempoReading`
  (source ``link``: the session tempo and the beat at a perf_counter time, bar position from
  :data:`QUANTUM`) into a latest-wins slot for the analysis thread, where Link outranks every
  other source;
* lead: otherwise, when the show's own source is active (its newest
  :class:`~live.messages.AudioState` says audio, tap, manual or locked, with some confidence),
  its tempo is published to the session, and the session's bar is moved onto the show's beat.
  Never fighting: only when the tempo moved by more than :data:`LEAD_BPM_STEP` (or the phase by
  more than :data:`LEAD_PHASE_S`), at most once per :data:`LEAD_EVERY_S`; a tempo that another
  peer then sets is followed, not overwritten.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from live.errors import UserError
from live.handoff import LatestSlot
from live.messages import BEATS_PER_BAR, AudioState, TempoReading
from live.ratelog import RateLimitedLog

_LOGGER = logging.getLogger(__name__)

QUANTUM = BEATS_PER_BAR  # Link's bar: beats 0, 4, 8... of the session are downbeats
POLL_S = 0.01
OWN_SOURCES = ("audio", "set", "tap", "manual", "locked")  # the show's own tempo: these lead
LEAD_CONFIDENCE = 0.2  # below this the audio's tempo is a guess, not worth publishing
LEAD_BPM_STEP = 0.05  # a tempo change smaller than this is not published
LEAD_PHASE_S = 0.003  # the session's beat further than this from the show's is moved (the published tempo is
# steady while the show's beat line follows the music: the phase is what keeps them together)
LEAD_EVERY_S = 1.0  # at most one publication a second
SAME_TEMPO = 0.01  # Link stores tempo as microseconds per beat: what we publish comes back this close


def link_offset(clock: Any) -> float:
    """``perf_counter() - Link time`` in seconds (Link's clock is another monotonic clock):
    the midpoint of two perf_counter reads around one Link read."""
    before = time.perf_counter()
    micros = clock.micros()
    after = time.perf_counter()
    return 0.5 * (before + after) - micros * 1e-6


class LinkPeer:
    """A Link peer for the show: readings to ``readings`` while following; publishes the show's
    tempo from ``states`` (the AudioState slot; None: follow only) while leading."""

    def __init__(self, readings: LatestSlot[TempoReading], states: LatestSlot[AudioState] | None = None,
                 bpm: float = 120.0) -> None:
        self.readings, self.states, self.bpm = readings, states, float(bpm)
        self.published: float | None = None  # the tempo this show last published
        self.peers = 0
        self.following = False
        self._last_lead = -float("inf")
        self._link: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._problems = RateLimitedLog(_LOGGER)

    def start(self) -> None:
        """Join the session (UserError when the Link library is missing) and start polling."""
        try:
            import link
        except ImportError as exc:
            raise UserError(f"--link needs the LinkPython-extern package ({exc}); pip install LinkPython-extern") from None
        self._link = link.Link(self.bpm)
        self._link.enabled = True
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="link", daemon=True)
        self._thread.start()
        _LOGGER.info("Ableton Link enabled (quantum %d)", QUANTUM)

    def stop(self) -> None:
        """Leave the session; safe to call twice."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._link is not None:
            self._link.enabled = False
            self._link = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # the session must not end the thread: log rarely, poll again
                self._problems.report("poll", f"Link poll failed: {exc!r}", exc_info=True)
            self._stop.wait(POLL_S)

    def poll(self) -> None:
        """One look at the session: put a reading (follow) or publish the show's tempo (lead)."""
        offset = link_offset(self._link.clock())
        session = self._link.captureAppSessionState()
        now = time.perf_counter()
        micros = int(round((now - offset) * 1e6))
        tempo = float(session.tempo())
        peers = int(self._link.numPeers())
        if peers != self.peers:
            _LOGGER.info("Link: %d other peer(s) in the session", peers)
            self.peers = peers
        following = peers > 0 and (self.published is None or abs(tempo - self.published) > SAME_TEMPO)
        if following != self.following:
            self.following = following
            _LOGGER.info("Link: %s", f"following the session at {tempo:.2f} BPM" if following else "leading")
        if following:
            self.readings.put(TempoReading("link", tempo, float(session.beatAtTime(micros, QUANTUM)), now))
        else:
            self._lead(session, now, micros, tempo)

    def _lead(self, session: Any, now: float, micros: int, tempo: float) -> None:
        show = self.states.get() if self.states is not None else None
        if show is None or show.tempo_source not in OWN_SOURCES or show.confidence < LEAD_CONFIDENCE:
            return
        if now - self._last_lead < LEAD_EVERY_S or not show.bpm > 0 or not show.tempo > 0:
            return
        bar = show.bar_beats_at(now)  # where the show is in its bar now
        drift = (session.beatAtTime(micros, QUANTUM) - bar) % QUANTUM
        drift_s = min(drift, QUANTUM - drift) * 60.0 / show.bpm
        if abs(show.tempo - tempo) <= LEAD_BPM_STEP and drift_s <= LEAD_PHASE_S:
            return
        # The published tempo (steady) for the peers; the phase is the show's own beat line.
        session.setTempo(show.tempo, micros)
        # Bridging an outside clock (the music) is what Link's forceBeatAtTime is for.
        session.forceBeatAtTime(bar, micros, QUANTUM)
        self._link.commitAppSessionState(session)
        self.published, self._last_lead = float(self._link.captureAppSessionState().tempo()), now
        _LOGGER.debug("Link: published %.2f BPM from %s", show.tempo, show.tempo_source)
