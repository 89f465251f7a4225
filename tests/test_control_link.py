"""Ableton Link: the peer's follow/lead rules against a scripted session (no network), then two
real Link peers in a network namespace with only loopback up (a subprocess started through
``unshare --net``; never the machine's real interfaces): follow and lead."""

from __future__ import annotations

import pytest

from live.bench.sync import Unavailable, link_sync_in_namespace
from live.control import link as link_mod
from live.control.link import LEAD_EVERY_S, LinkPeer
from live.handoff import LatestSlot
from live.messages import AudioState


class FakeSession:
    """A Link session state: a tempo and a beat line, as LinkPython's SessionState answers."""

    def __init__(self, owner: "FakeLink") -> None:
        self.owner = owner
        self._tempo, self._origin = owner.tempo, owner.origin

    def tempo(self) -> float:
        return self._tempo

    def beatAtTime(self, micros: int, quantum: float) -> float:  # noqa: N802 - Link's name
        return (micros - self._origin) * 1e-6 * self._tempo / 60.0

    def setTempo(self, bpm: float, micros: int) -> None:  # noqa: N802
        beat = self.beatAtTime(micros, 4)
        self._tempo = bpm
        self._origin = micros - beat * 60.0 / bpm * 1e6

    def forceBeatAtTime(self, beat: float, micros: int, quantum: float) -> None:  # noqa: N802
        self._origin = micros - beat * 60.0 / self._tempo * 1e6


class FakeLink:
    """The few Link calls the peer makes; the test sets the peers and the session's tempo."""

    def __init__(self) -> None:
        self.tempo, self.origin, self.peers, self.micros_now = 120.0, 0.0, 0, 0
        self.commits = 0

    def clock(self) -> "FakeLink":
        return self

    def micros(self) -> int:
        return self.micros_now

    def numPeers(self) -> int:  # noqa: N802
        return self.peers

    def captureAppSessionState(self) -> FakeSession:  # noqa: N802
        return FakeSession(self)

    def commitAppSessionState(self, session: FakeSession) -> None:  # noqa: N802
        self.tempo, self.origin = session._tempo, session._origin
        self.commits += 1


@pytest.fixture
def peer(monkeypatch):
    clock = {"now": 100.0}
    monkeypatch.setattr(link_mod.time, "perf_counter", lambda: clock["now"])
    fake = FakeLink()
    readings, states = LatestSlot(), LatestSlot()
    p = LinkPeer(readings, states)
    p._link = fake

    def at(t: float, bpm: float | None = None, source: str = "audio", confidence: float = 0.9) -> None:
        clock["now"] = t
        fake.micros_now = int(t * 1e6)  # Link's clock = perf_counter here
        if bpm is not None:  # the show's beat line: beat 0 at t = 0
            beats = t * bpm / 60.0
            states.put(AudioState(time=t, bpm=bpm, beat_index=int(beats), beat_phase=beats % 1.0,
                                  downbeat=int(beats) % 4, tempo_source=source, confidence=confidence, tempo=bpm))
        p.poll()

    return p, fake, readings, at


def test_alone_it_leads_with_its_own_tempo_rate_limited(peer):
    p, fake, readings, at = peer
    at(1.0, 126.0)
    assert fake.tempo == 126.0 and fake.commits == 1
    at(1.5, 127.0)  # changed, but within a second of the last publication
    assert fake.commits == 1
    at(1.0 + LEAD_EVERY_S, 127.0)
    assert fake.tempo == 127.0 and fake.commits == 2
    at(3.5, 127.02)  # a change too small to publish
    assert fake.commits == 2
    assert FakeSession(fake).beatAtTime(3_500_000, 4) % 4 == pytest.approx(3.5 * 127.0 / 60 % 4, abs=0.01)
    assert readings.get() is None, "nothing to follow while the session carries our own tempo"


def test_no_lead_from_a_source_that_is_not_the_shows(peer):
    p, fake, readings, at = peer
    at(1.0, 126.0, source="midi_clock")
    at(3.0, 126.0, source="audio", confidence=0.05)  # the audio is only guessing
    at(5.0, 126.0, source="none")
    assert fake.commits == 0


def test_follows_a_tempo_another_peer_set_and_does_not_fight_it(peer):
    p, fake, readings, at = peer
    at(1.0, 126.0)
    fake.peers = 1
    at(2.5, 126.0)
    assert readings.get() is None and not p.following  # the other peer took our tempo: we lead
    fake.tempo = 100.0  # the DJ moves the tempo on their app
    at(4.0, 126.0)
    reading = readings.get()
    assert p.following and (reading.source, reading.bpm) == ("link", 100.0)
    assert reading.beat == pytest.approx(FakeSession(fake).beatAtTime(4_000_000, 4))
    at(9.0, 131.0)  # our audio moves on: we still follow, never overwrite the DJ's tempo
    assert fake.tempo == 100.0 and fake.commits == 1


def test_joining_a_session_with_peers_follows_it(peer):
    p, fake, readings, at = peer
    fake.peers, fake.tempo = 2, 118.0
    at(1.0, 126.0)
    assert p.following and readings.get().bpm == 118.0 and fake.commits == 0


@pytest.mark.integration
def test_link_follow_and_lead_between_two_peers_in_a_loopback_namespace():
    try:
        r = link_sync_in_namespace(seconds=0.6, settle=1.5)
    except Unavailable as exc:
        pytest.skip(str(exc))
    follow, lead = r["follow"], r["lead"]
    # Follow: the show's clock (through the live analysis thread) has the DJ peer's 120 BPM and beat.
    assert follow["on_source"] == 1.0
    assert follow["bpm_err_max"] < 0.1, follow
    assert follow["phase_ms_abs_max"] < 5.0, follow
    # Lead: the show's audio found ~128 BPM in the kick track; the peer that joined sees it.
    assert lead["show_source"] == "audio" and lead["show_bpm"] == pytest.approx(128.0, abs=1.0)
    assert lead["peer_bpm"] == pytest.approx(lead["show_bpm"], abs=0.1), lead
    assert lead["peer_bar_ms_abs_max"] < 5.0, lead
    assert not lead["show_following"]
