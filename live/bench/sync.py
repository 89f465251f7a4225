"""`run_live.py bench sync`: how closely the show's beat clock follows Link and MIDI clock at 120 BPM.

Each case runs the live path: the peer thread (:class:`~live.control.link.LinkPeer` or
:class:`~live.control.midiclock.MidiClockIn`) hands readings through a latest-wins slot to a real
:class:`~live.audio.analysis.AnalysisThread` (no audio arriving, as on a silent input), and the
published :class:`~live.messages.AudioState` is compared every 20 ms with the source: BPM error
and beat-phase error (seconds between the clock's beat grid and the source's).

* MIDI clock: a sender thread plays Start and 24 pulses per beat at exactly 120 BPM into a JACK
  dummy server (our own, named uniquely; period 64 frames at 48 kHz), read through mido's
  ``UNIX_JACK`` backend.
* Link: a second Link peer (a "DJ app" at 120 BPM) and the show's peer, in a subprocess inside a
  network namespace with only loopback up (``unshare --net``; Link's discovery is multicast and
  must never reach the machine's real interfaces). The same subprocess checks lead: the show
  alone in a session publishes the tempo its audio engine found in a 128 BPM kick track; a peer
  joining then sees it.

Targets: BPM within 0.1 and beat phase within 5 ms of the source.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Any, Callable, Iterator

import numpy as np

from live.values import positive

BPM = 120.0
SETTLE_S = 3.0  # lock-in before measuring: the MIDI fit's window and the phase slew
SAMPLE_S = 0.02
TARGET_BPM, TARGET_PHASE_S = 0.1, 0.005
JACK_PERIOD = 64  # frames at 48 kHz: 1.3 ms, the MIDI timing grain of the dummy server


class Unavailable(RuntimeError):
    """A peer this benchmark needs (jackd, a network namespace) cannot be had here; the message says why."""


@contextlib.contextmanager
def dummy_jack(period: int = JACK_PERIOD) -> Iterator[Any]:
    """A JACK dummy server of our own (JACK_DEFAULT_SERVER set for this process while it runs);
    yields mido's UNIX_JACK backend. :class:`Unavailable` when jackd is missing or will not start."""
    import mido

    jackd = shutil.which("jackd")
    if jackd is None:
        raise Unavailable("jackd is not installed (apt-get install jackd2)")
    server = f"live-sync-{uuid.uuid4().hex[:8]}"
    saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_AUDIO_RESERVATION")}
    os.environ.update(JACK_DEFAULT_SERVER=server, JACK_NO_AUDIO_RESERVATION="1")  # never a real server
    # jackd's log goes to a file: a pipe nobody reads fills up on a busy machine (an xrun line
    # each period) and then stalls the server's logging.
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([jackd, "-n", server, "-d", "dummy", "-r", "48000", "-p", str(period)],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        backend = mido.Backend("mido.backends.rtmidi/UNIX_JACK")
        deadline = time.monotonic() + 5.0
        while True:
            if proc.poll() is not None:
                log.seek(0)
                lines = log.read().decode(errors="replace").strip().splitlines()
                raise Unavailable(f"jackd -d dummy could not start: {lines[-1] if lines else proc.returncode}")
            try:
                backend.open_output("probe", virtual=True).close()
                break
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise Unavailable(f"JACK dummy server did not come up in 5 s: {exc}") from None
                time.sleep(0.1)
        yield backend
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sleep_until(t: float) -> None:
    """Sleep to perf_counter time ``t`` (Linux wakes within ~0.1 ms; a spin would hold the GIL
    and delay the MIDI reader thread by milliseconds)."""
    time.sleep(max(0.0, t - time.perf_counter()))


@contextlib.contextmanager
def show_clock(tempo_slots: tuple[Any, ...]) -> Iterator[Any]:
    """The show's analysis thread on a silent input, taking ``tempo_slots``; yields its AudioState slot."""
    from live.audio.analysis import AnalysisThread, AudioEngine
    from live.handoff import CommandQueue, LatestSlot, RingBuffer

    engine = AudioEngine(48000)
    out = LatestSlot(engine.state)
    thread = AnalysisThread(RingBuffer(48000, 1, 48000), engine, out, CommandQueue(), tempo=tempo_slots)
    thread.start()
    try:
        yield out
    finally:
        thread.stop()


def measure(states: Any, source_beat: Callable[[float], float], bpm: float, seconds: float,
            source: str) -> dict[str, Any]:
    """Sample ``states`` every 20 ms for ``seconds``: BPM and beat-phase errors against
    ``source_beat(t)`` (the source's beat at perf_counter time t), with the share of samples
    whose tempo source was ``source``."""
    bpm_err, phase_err, on_source = [], [], 0
    end = time.perf_counter() + seconds
    while (t := time.perf_counter()) < end:
        state = states.get()
        d = state.beats_at(t) - source_beat(t)
        phase_err.append((d - round(d)) * 60.0 / bpm)
        bpm_err.append(state.bpm - bpm)
        on_source += state.tempo_source == source
        time.sleep(SAMPLE_S)
    return summarize(bpm_err, phase_err, on_source / max(1, len(bpm_err)))


def summarize(bpm_err: list[float], phase_err: list[float], on_source: float) -> dict[str, Any]:
    """Figures of a run: median and max absolute errors, p99 and signed median of the phase (ms)."""
    b, p = np.abs(np.asarray(bpm_err)), np.asarray(phase_err) * 1000.0
    return {"samples": len(b), "on_source": round(on_source, 3),
            "bpm_err_median": float(np.median(b)), "bpm_err_max": float(b.max()),
            "phase_ms_signed_median": float(np.median(p)), "phase_ms_abs_median": float(np.median(np.abs(p))),
            "phase_ms_abs_p99": float(np.percentile(np.abs(p), 99)), "phase_ms_abs_max": float(np.abs(p).max())}


# --- MIDI clock ------------------------------------------------------------------------------


def midi_clock_sync(backend: Any, seconds: float, bpm: float = BPM, settle: float = SETTLE_S) -> dict[str, Any]:
    """Start + 24 ppqn at ``bpm`` from a virtual JACK output, followed by the show's clock through
    :class:`MidiClockIn`; the figures of :func:`measure`."""
    import mido

    from live.control.midiclock import PPQN, MidiClockIn
    from live.handoff import LatestSlot

    port_name = f"bench-clock-{uuid.uuid4().hex[:6]}"
    out = backend.open_output(port_name, virtual=True)
    readings = LatestSlot()
    clock_in = MidiClockIn(readings, port_name, backend=backend, retry_interval=0.1)
    stop = threading.Event()
    first_pulse = time.perf_counter() + 0.3  # beat 0: the first pulse after Start
    period = 60.0 / bpm / PPQN

    def send() -> None:
        sleep_until(first_pulse - 0.005)
        out.send(mido.Message("start"))
        i = 0
        while not stop.is_set():
            sleep_until(first_pulse + i * period)
            out.send(mido.Message("clock"))
            i += 1

    sender = threading.Thread(target=send, name="bench-clock-sender", daemon=True)
    try:
        clock_in.start()
        deadline = time.monotonic() + 5.0
        while not clock_in.connected.get() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not clock_in.connected.get():
            raise Unavailable("the clock input never opened the JACK port")
        sender.start()
        with show_clock((readings,)) as states:
            time.sleep(0.3 + settle)
            return measure(states, lambda t: (t - first_pulse) * bpm / 60.0, bpm, seconds, "midi_clock")
    finally:
        stop.set()
        if sender.is_alive():
            sender.join(timeout=2.0)
        clock_in.stop()
        out.close()


# --- Link, in a network namespace --------------------------------------------------------------


def link_sync_in_namespace(seconds: float, settle: float = SETTLE_S, timeout: float = 60.0) -> dict[str, Any]:
    """Run :func:`link_child` in a new network namespace with only loopback (and the multicast
    route on it); its figures. :class:`Unavailable` when no such namespace can be made."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise Unavailable("unshare or ip (util-linux, iproute2) is not installed")
    script = ("ip link set lo up && ip route add 224.0.0.0/4 dev lo && "
              f"exec {sys.executable} -m live.bench.sync --link-child {float(seconds)} {float(settle)}")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        done = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=root)
    except subprocess.TimeoutExpired:
        raise Unavailable(f"the Link run did not finish in {timeout:.0f} s") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        why = lines[-1] if lines else f"exit {done.returncode}"
        if "unshare" in why or "Operation not permitted" in why or "ip:" in why or "RTNETLINK" in why:
            raise Unavailable(f"no network namespace here: {why}")
        raise RuntimeError(f"the Link run failed: {why}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _wait_peers(link_obj: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while link_obj.numPeers() == 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the two Link peers did not find each other in 10 s")
        time.sleep(0.02)


def _session_beat(peer: Any) -> Callable[[float], float]:
    """The session beat (quantum 4) that Link peer ``peer`` sees at perf_counter time t."""
    from live.control.link import QUANTUM, link_offset

    def beat(t: float) -> float:
        micros = int(round((t - link_offset(peer.clock())) * 1e6))
        return float(peer.captureAppSessionState().beatAtTime(micros, QUANTUM))
    return beat


def link_child(seconds: float, settle: float = SETTLE_S) -> dict[str, Any]:
    """Inside the namespace: follow (a DJ peer at 120 BPM, the show's clock against it) and lead
    (the show alone publishes its audio tempo; a peer that joins sees it)."""
    import link

    from live.control.link import LinkPeer
    from live.handoff import LatestSlot

    result: dict[str, Any] = {}
    dj = link.Link(BPM)
    dj.enabled = True
    readings = LatestSlot()
    with show_clock((readings,)) as states:
        peer = LinkPeer(readings, states)
        peer.start()
        try:
            _wait_peers(dj)
            time.sleep(settle)
            result["follow"] = measure(states, _session_beat(dj), BPM, seconds, "link")
        finally:
            peer.stop()
            dj.enabled = False
    result["lead"] = _lead(seconds)
    return result


def _lead(seconds: float) -> dict[str, Any]:
    """The show's engine hears a 128 BPM kick track; its peer, alone, publishes that tempo; a
    peer joining later takes it (and the show's bar) from the session."""
    import link

    from live.audio.analysis import AudioEngine
    from live.audio.sources import iter_blocks
    from live.bench.synth import synth_kick_track
    from live.control.link import LinkPeer
    from live.handoff import LatestSlot

    rate = 44100
    x, _ = synth_kick_track([(128.0, 12.0)], rate)
    engine = AudioEngine(rate)
    shift = time.perf_counter() - len(x) / rate  # the track ends now, on the perf_counter clock
    for block, end in iter_blocks(x, rate, 512, start_time=shift):
        engine.feed(block, end)
    heard = engine.state
    peer = LinkPeer(LatestSlot(), LatestSlot(heard))
    peer.start()
    try:
        # Alone first: when sessions meet, Link keeps the one started more than 0.5 s earlier
        # (closer than that, a coin toss), so the joining peer takes the show's session.
        time.sleep(1.0)
        other = link.Link(100.0)
        other.enabled = True
        _wait_peers(other)
        time.sleep(0.5)
        beat = _session_beat(other)
        seen = other.captureAppSessionState().tempo()
        errs = []
        end = time.perf_counter() + min(seconds, 2.0)
        while (t := time.perf_counter()) < end:
            d = (beat(t) - heard.bar_beats_at(t)) % 4
            errs.append(min(d, 4 - d) * 60.0 / heard.bpm)
            time.sleep(SAMPLE_S)
        other.enabled = False
        return {"show_source": heard.tempo_source, "show_bpm": heard.tempo, "peer_bpm": float(seen),
                "peer_bar_ms_abs_max": 1000.0 * float(max(errs)), "show_following": peer.following}
    finally:
        peer.stop()


# --- the command -------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench sync``."""
    parser.add_argument("--seconds", type=positive(float, 600), default=10.0, help="measuring time per source")
    parser.add_argument("--only", choices=("link", "midi"), default=None, help="measure one source only")


def _print(name: str, r: dict[str, Any]) -> bool:
    ok = r["bpm_err_max"] <= TARGET_BPM and r["phase_ms_abs_max"] <= TARGET_PHASE_S * 1000
    print(f"{name:<11} BPM error median {r['bpm_err_median']:.4f} max {r['bpm_err_max']:.4f} | phase error "
          f"median {r['phase_ms_abs_median']:.2f} ms (signed {r['phase_ms_signed_median']:+.2f}) "
          f"p99 {r['phase_ms_abs_p99']:.2f} max {r['phase_ms_abs_max']:.2f} ms | {r['samples']} samples, "
          f"{100 * r['on_source']:.0f}% on source | target BPM 0.1, phase 5 ms: {'met' if ok else 'MISSED'}")
    return ok


def run(args: argparse.Namespace) -> int:
    """Measure and print; 1 if a target was missed (a source that cannot run here is skipped, said so)."""
    from live.bench.machine import machine_line  # torch: not for the Link child's start-up

    print(machine_line())
    print(f"source at {BPM:.0f} BPM, {SETTLE_S:.0f} s to lock, then {args.seconds:g} s sampled every "
          f"{SAMPLE_S * 1000:.0f} ms through the live analysis thread")
    ok = True
    if args.only in (None, "midi"):
        try:
            with dummy_jack() as backend:
                ok &= _print("MIDI clock", midi_clock_sync(backend, args.seconds))
        except Unavailable as exc:
            print(f"MIDI clock  skipped: {exc}")
    if args.only in (None, "link"):
        try:
            r = link_sync_in_namespace(args.seconds)
            ok &= _print("Link", r["follow"])
            lead = r["lead"]
            print(f"Link lead   show's {lead['show_source']} tempo {lead['show_bpm']:.2f} BPM -> peer sees "
                  f"{lead['peer_bpm']:.2f} BPM, its bar within {lead['peer_bar_ms_abs_max']:.2f} ms of the show's")
        except Unavailable as exc:
            print(f"Link        skipped: {exc}")
    return 0 if ok else 1


if __name__ == "__main__":  # the Link run's child, inside the namespace
    if sys.argv[1:2] == ["--link-child"]:
        print(json.dumps(link_child(float(sys.argv[2]), float(sys.argv[3]))))
