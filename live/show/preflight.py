"""Preflight: everything the show needs, tried before doors open, as PASS / WARN / FAIL rows.

Given the same :class:`~live.show.settings.ShowSettings` as ``live``, it opens the audio input
and listens for signal, binds the OSC port, finds the MIDI input and reads its mapping, builds
and warms up the decoder, loads the preset bank exactly as the show does (through
:func:`~live.library.check.check_bank`), times one decode per ready preset against the frame
budget, compiles every shader, and looks at memory and VRAM headroom.

FAIL means the show cannot start or will break (no input, port taken, start preset missing, a
shader a preset uses does not compile); WARN means something may be missing or slow (silent
input, a preset that is not ready, decode slower than the frame rate, no GPU). Each probe is
isolated: one that raises becomes a FAIL row with one line, never a traceback.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from live import paths
from live.errors import UserError
from live.show.settings import ShowSettings
from live.values import parse_size

_LOGGER = logging.getLogger(__name__)

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
PROBES = ("audio", "osc", "midi", "decoder", "presets", "set", "shaders", "outputs", "memory")

LISTEN_SECONDS = 1.0  # how long the audio probe listens for signal
SILENCE_DBFS = -60.0  # peak below this over the listen time: the input is connected to nothing
MIN_DECODE_FPS = 8.0  # DESIGN: decoding at 8 fps still looks smooth (the renderer blends frames)
DECODE_RUNS = 3  # timed decodes per preset (median), after one untimed one at its size
MEMORY_WARN_BYTES = 2 << 30  # RAM / VRAM headroom under this is a warning...
MEMORY_FAIL_BYTES = 512 << 20  # ... and under this a failure


@dataclass(frozen=True)
class Check:
    """One row of the preflight table."""

    probe: str  # which probe made it (one of PROBES)
    name: str  # what was checked, e.g. "audio input", "preset demo"
    status: str  # PASS, WARN or FAIL
    detail: str  # one line


@dataclass
class Preflight:
    """What the preflight found: its rows, and the bank's preset rows for the detailed table."""

    checks: list[Check] = field(default_factory=list)
    presets: list[dict] = field(default_factory=list)
    load_seconds: float = 0.0
    skipped: tuple[str, ...] = ()

    def count(self, status: str) -> int:
        """How many rows have ``status``."""
        return sum(1 for c in self.checks if c.status == status)

    def exit_code(self, strict: bool = False) -> int:
        """1 when any row FAILs (or, ``strict``, any row WARNs), else 0."""
        bad = (FAIL, WARN) if strict else (FAIL,)
        return 1 if any(c.status in bad for c in self.checks) else 0

    def to_json(self) -> dict[str, Any]:
        """The rows and preset rows as plain JSON values."""
        return {"checks": [asdict(c) for c in self.checks], "presets": self.presets,
                "load_seconds": self.load_seconds, "skipped": list(self.skipped),
                "summary": {s: self.count(s) for s in (PASS, WARN, FAIL)}}


def run_preflight(settings: ShowSettings, *, skip: frozenset[str] | set[str] = frozenset(),
                  listen_seconds: float = LISTEN_SECONDS, device: str | None = None,
                  midi_backend: Any = None) -> Preflight:
    """Run every probe not in ``skip`` for a show started with ``settings``.

    ``device`` overrides the torch device the decoder (and so the keyframes) would use; the
    show's choice (cuda > mps > cpu) by default. ``midi_backend`` is a mido backend name (the
    default backend when None; or a mido.Backend). Never raises for what it checks: problems are FAIL rows.
    """
    unknown = set(skip) - set(PROBES)
    if unknown:
        raise UserError(f"--skip {','.join(sorted(unknown))}: not a probe; choose from {', '.join(PROBES)}")
    result = Preflight(skipped=tuple(p for p in PROBES if p in skip))
    found: dict[str, Any] = {}  # what later probes reuse: the decoder, the bank

    def probe(name: str, row: str, fn: Callable[[], list[Check]]) -> None:
        if name in skip:
            return
        try:
            result.checks.extend(fn())
        except UserError as exc:
            result.checks.append(Check(name, row, FAIL, _first_line(exc)))
        except Exception as exc:  # noqa: BLE001 - a probe that breaks is a FAIL row, not a traceback
            _LOGGER.debug("probe %s failed", name, exc_info=True)
            result.checks.append(Check(name, row, FAIL, f"{type(exc).__name__}: {_first_line(exc)}"))

    with _quiet_show_logs():
        probe("audio", "audio input" if not settings.audio else "audio file",
              lambda: probe_audio(settings, listen_seconds))
        probe("osc", "osc port", lambda: probe_osc(settings))
        probe("midi", "midi input", lambda: probe_midi(settings, midi_backend))
        probe("decoder", "decoder", lambda: probe_decoder(settings, device, found))
        probe("presets", "presets", lambda: probe_presets(settings, device, found, result))
        if "decoder" in found and "bank" in found:  # else the decoder or presets row says why
            probe("decoder", "decode", lambda: probe_decode_times(settings, found["decoder"], found["bank"]))
        probe("set", "set", lambda: probe_set(settings, found.get("bank")))
        probe("shaders", "shaders", lambda: probe_shaders(settings, found.get("bank")))
        probe("outputs", "outputs", lambda: probe_outputs(settings))
        probe("memory", "memory", lambda: probe_memory(found))
    return result


# ---------------------------------------------------------------------------------------------
# probes: each returns its rows, or raises (the caller turns that into one FAIL row)


def probe_audio(s: ShowSettings, listen_seconds: float = LISTEN_SECONDS) -> list[Check]:
    """The show's audio: the ``--audio`` file loads, or the input opens and carries signal."""
    from live.audio.sources import InputSource, load_audio, resolve_device, to_mono
    from live.handoff import RingBuffer

    if s.audio:
        samples, rate = load_audio(s.audio)
        mono = to_mono(samples)
        return [_level_check("audio file", mono, f"{s.audio}: {len(mono) / rate:.1f} s at {rate} Hz")]
    info = resolve_device(s.audio_device)
    rate = int(s.samplerate or info["samplerate"])
    ring = RingBuffer(int(rate * max(4.0, 2 * listen_seconds)), 1, rate)
    source = InputSource(ring, device=s.audio_device, channels=s.channels, samplerate=rate, blocksize=s.blocksize)
    source.start()
    wanted = int(listen_seconds * rate)
    deadline = time.perf_counter() + InputSource.FIRST_AUDIO_SECONDS + listen_seconds
    try:
        while ring.available() < wanted and time.perf_counter() < deadline:
            time.sleep(0.02)
        block, _ = ring.read()
    finally:
        source.stop()
    where = f"{info['name']!r} at {rate} Hz"
    if len(block) == 0:
        return [Check("audio", "audio input", FAIL, f"{where} opened but no audio arrived in "
                                                    f"{InputSource.FIRST_AUDIO_SECONDS + listen_seconds:.0f} s")]
    return [_level_check("audio input", block[:, 0], where)]


def _level_check(name: str, mono: np.ndarray, where: str) -> Check:
    """PASS with the peak level, or WARN when the audio is silent."""
    peak = float(np.max(np.abs(mono))) if len(mono) else 0.0
    dbfs = 20.0 * np.log10(peak) if peak > 0 else float("-inf")
    if dbfs < SILENCE_DBFS:
        return Check("audio", name, WARN, f"{where}: silent (peak {dbfs:.0f} dBFS); is the mixer feed connected?")
    return Check("audio", name, PASS, f"{where}: signal, peak {dbfs:.0f} dBFS")


def probe_osc(s: ShowSettings) -> list[Check]:
    """The OSC port can be bound (the server is started and stopped again)."""
    if not s.osc_port:
        return [Check("osc", "osc port", PASS, "off (--osc-port 0)")]
    from live.control.osc import OscServer
    from live.handoff import CommandQueue

    server = OscServer(CommandQueue(), host=s.osc_host, port=s.osc_port)
    server.start()
    server.stop()
    return [Check("osc", "osc port", PASS, f"UDP {s.osc_host}:{s.osc_port} is free")]


def probe_midi(s: ShowSettings, backend: Any = None) -> list[Check]:
    """The MIDI input the show opens (``--midi-input``, else the mapping's ``device``) is present
    and its mapping file loads. A mapping's device not plugged in is a WARN: the show goes on and
    opens it when it appears."""
    from live.control.midi import MidiMapping, list_midi_inputs, pick_port

    names = list_midi_inputs(backend)
    seen = ", ".join(repr(n) for n in names) or "none"
    path = s.midi_map_path()
    if not (s.midi_input or s.midi_map or path.exists()):
        return [Check("midi", "midi input", PASS, f"off (no --midi-input, no mapping); inputs seen: {seen}")]
    rows = []
    device = None
    try:
        mapping = MidiMapping.load(path, paths.shaders_dir(s.shaders_dir))
        rows.append(Check("midi", "midi map", PASS, f"{path}: {len(mapping.bindings)} bindings"))
        device = mapping.device
    except UserError as exc:
        rows.append(Check("midi", "midi map", FAIL if s.midi_input or s.midi_map else WARN, str(exc)))
    wanted = s.midi_input or device
    if not wanted:
        rows.insert(0, Check("midi", "midi input", PASS, f"off (no --midi-input, no device in the mapping); "
                                                         f"inputs seen: {seen}"))
    elif (port := pick_port(names, wanted)) is not None:
        rows.insert(0, Check("midi", "midi input", PASS, f"{port!r}"))
    elif s.midi_input:
        rows.insert(0, Check("midi", "midi input", FAIL, f"no MIDI input matches {s.midi_input!r}; inputs seen: {seen}"))
    else:
        rows.insert(0, Check("midi", "midi input", WARN, f"the mapping's device {wanted!r} is not plugged in (the show "
                                                         f"opens it when it appears); inputs seen: {seen}"))
    return rows


def probe_decoder(s: ShowSettings, device: str | None, found: dict[str, Any]) -> list[Check]:
    """The decoder builds and warms up at the show's size, as ``live`` does before its first frame."""
    from live.visuals.decoders import make_decoder

    width, height = parse_size(s.size)
    started = time.perf_counter()
    dec = make_decoder(s.decoder, s.model, family=s.family, device=device)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    dec.warmup((1, dec.latent_channels, height // 8, width // 8))
    found["decoder"] = dec
    return [Check("decoder", "decoder", PASS, f"{dec.describe()}: loaded in {loaded:.2f} s, warm-up at {s.size} "
                                              f"{time.perf_counter() - started:.2f} s")]


def probe_presets(s: ShowSettings, device: str | None, found: dict[str, Any], result: Preflight) -> list[Check]:
    """Every preset and its keyframes, loaded as the show loads them for this decoder.

    A preset that is not ready is a WARN (the show refuses a switch to it), but the start
    preset (``--preset``) not being ready is a FAIL, as is a bank with no preset ready.
    """
    from live.library.check import check_bank

    dec = found.get("decoder")
    family, channels = (dec.family, dec.latent_channels) if dec is not None else (s.family, 4)
    dev = str(dec.device) if dec is not None else (device or "cpu")
    bank, rows, seconds = check_bank(s.presets_dir, s.keyframes_dir, family, s.shaders_dir, dev, channels)
    found["bank"] = bank
    result.presets, result.load_seconds = rows, seconds
    checks = []
    for row in rows:
        name = f"preset {row['name']}"
        if not row["ok"]:
            start = row["name"] == s.preset
            why = f"the show starts with it (--preset): {row['reason']}" if start else row["reason"]
            checks.append(Check("presets", name, FAIL if start else WARN, why))
        elif row["warnings"]:
            more = f" (+{len(row['warnings']) - 1} more)" if len(row["warnings"]) > 1 else ""
            checks.append(Check("presets", name, WARN, row["warnings"][0] + more))
        else:
            checks.append(Check("presets", name, PASS, f"{row['keyframes']} keyframes, {row['size']}, "
                                                       f"{row['bytes'] / 2**20:.1f} MiB"))
    if s.preset not in {r["name"] for r in rows}:
        checks.append(Check("presets", f"preset {s.preset}", FAIL, f"the show starts with it (--preset) but "
                                                                   f"{paths.presets_dir(s.presets_dir)} has no "
                                                                   f"{s.preset}.toml"))
    if not bank.names():
        checks.append(Check("presets", "presets", FAIL, f"no preset ready in {paths.presets_dir(s.presets_dir)}; "
                                                        "the show cannot start"))
    return checks


def probe_decode_times(s: ShowSettings, dec: Any, bank: Any) -> list[Check]:
    """One decode per ready preset, at its own size, timed against the frame budget (1/fps).

    Presets made of pictures (pixel keyframes) have nothing to decode: what bank.get gives for
    them are coordinates for the walk, which no decoder can read. Their row says so and times
    what the show does in their place each frame, turning a walked vector into picture weights.
    """
    budget = 1.0 / s.fps
    checks = []
    for name in bank.names():
        pixels = bank.keyframe_set(name).pixels
        if pixels is not None:
            checks.append(_pixel_row(name, pixels))
            continue
        latent = bank.get(name)[1][:1]
        dec.decode(latent)  # the first decode at a new size may pick kernels or grow buffers
        times = []
        for _ in range(DECODE_RUNS):
            started = time.perf_counter()
            dec.decode(latent)
            times.append(time.perf_counter() - started)
        took = statistics.median(times)
        # One figure for the line and the verdict: frames a second rounded down to 0.1, so 127.5 ms
        # reads 7.8 fps under the 8 fps limit, never a rounded-up "8 fps" that fails it.
        fps = math.floor(10.0 / max(took, 1e-9) + 1e-6) / 10.0  # (+1e-6: exactly 1/30 s is 30.0)
        h, w = latent.shape[-2] * 8, latent.shape[-1] * 8
        detail = (f"{took * 1000:.1f} ms a frame at {w}x{h} ({fps:.1f} fps) against "
                  f"{budget * 1000:.1f} ms at {s.fps} fps")
        if fps >= s.fps:
            status = PASS
        elif fps >= MIN_DECODE_FPS:
            status, detail = WARN, detail + "; the renderer blends between decoded frames"
        else:
            status, detail = FAIL, detail + f"; under {MIN_DECODE_FPS:.0f} fps the motion stutters"
        checks.append(Check("decoder", f"decode {name}", status, detail))
    return checks


def _pixel_row(name: str, pixels: Any) -> Check:
    """The decode row of a preset made of pictures: no decode, the weights' cost per frame."""
    vector = pixels.coords[:1]
    pixels.frame(vector, 0.0)
    times = []
    for _ in range(DECODE_RUNS):
        started = time.perf_counter()
        pixels.frame(vector, 0.0)
        times.append(time.perf_counter() - started)
    return Check("decoder", f"decode {name}", PASS,
                 f"no decode: {pixels.count} pictures at {pixels.width}x{pixels.height}, summed by the renderer "
                 f"on the GPU (weights {statistics.median(times) * 1000:.2f} ms a frame)")


def probe_shaders(s: ShowSettings, bank: Any) -> list[Check]:
    """Every ``*.glsl`` in the shaders folder compiles (offscreen GL, the show's renderer).

    A shader that fails is a FAIL when a ready preset uses it (or the bank is unknown), else a WARN.
    """
    from live.visuals.renderer import Renderer

    folder = paths.shaders_dir(s.shaders_dir)
    names = sorted(p.stem for p in Path(folder).glob("*.glsl"))
    if not names:
        return [Check("shaders", "shaders", WARN, f"no *.glsl in {folder}")]
    used = None if bank is None else {n for p in bank.names() for n in bank.get(p)[0].look.shaders}
    renderer = Renderer(64, 64, headless=True, shader_dir=folder)
    try:
        renderer.set_shaders(names)
        errors = renderer.shader_errors()
    finally:
        renderer.close()
    checks = [Check("shaders", "shaders", PASS if not errors else WARN,
                    f"{len(names) - len(errors)} of {len(names)} compiled in {folder}")]
    for name, error in errors.items():
        status = FAIL if used is None or name in used else WARN
        users = "" if used is None else (" (used by a ready preset)" if name in used else " (no ready preset uses it)")
        checks.append(Check("shaders", f"shader {name}", status, f"{folder / (name + '.glsl')}: {error}{users}"))
    return checks


def probe_set(s: ShowSettings, bank: Any) -> list[Check]:
    """``--set``: the set loads as the show loads it (a track left out is a WARN), and each song
    plan's preset can play from the ``bank`` and its ``plan.json`` loads (one that cannot is a WARN:
    the show plays that track without its plan). No rows without ``--set``."""
    from live.show.inputs import load_set
    from live.show.setplan import load_plans, unplayable

    index = load_set(s.set, s.sets_dir)
    if index is None:
        return []
    broken: dict[str, str] = {}
    plans = load_plans(index.tracks, broken)
    rows = [Check("set", "set", PASS, f"{s.set}: {len(index)} track(s), {len(plans)} with a song plan")]
    rows += [Check("set", "set", WARN, f"left out: {line}") for line in index.skipped]
    rows += [Check("set", f"plan {track}", WARN, f"{why}; the show plays {track} without its plan")
             for track, why in sorted(broken.items())]  # a plan.json missing or edited badly
    for track, plan in sorted(plans.items()):
        why = unplayable(bank, plan.preset) if bank is not None else ""
        if why:
            rows.append(Check("set", f"plan {track}", WARN, f"preset {plan.preset} {why}; the show plays {track} "
                                                            "without its plan"))
    return rows


def probe_outputs(s: ShowSettings) -> list[Check]:
    """``--clip``: its first frame decodes. ``--record``: the file can be
    opened for writing (under its temporary name, removed again: nothing is left behind).
    ``--ndi``: cyndilib loads (no sender is opened here: it would announce itself on the
    network). No rows when none of them is asked for."""
    from live.visuals.clips import ClipReader
    from live.visuals.outputs import import_ndi, open_record_writer

    width, height = parse_size(s.size)
    rows = []
    if s.clip:
        ClipReader(s.clip, width, height)  # decodes the first frame, or says why not
        rows.append(Check("outputs", "clip", PASS, f"{s.clip}: its first frame decodes"))
    if s.record:
        open_record_writer(s.record, width, height, s.fps).abort()
        rows.append(Check("outputs", "record", PASS, f"{s.record}: can be written ({width}x{height}, {s.fps} fps)"))
    if s.ndi:
        import_ndi()
        rows.append(Check("outputs", "ndi", PASS, f"cyndilib loads; source {s.ndi!r} opens when the show starts"))
    return rows


def probe_memory(found: dict[str, Any]) -> list[Check]:
    """RAM left with the bank and decoder loaded (as in the show), and the GPU's free memory."""
    import torch

    rss = rss_bytes()
    available = _meminfo_bytes("MemAvailable")
    if available is None:
        checks = [Check("memory", "memory", WARN, "n/a: /proc/meminfo not readable on this system")]
    else:
        checks = [_headroom("memory", available, f"this process {rss / 2**20:.0f} MiB with the bank and decoder "
                                                 "loaded")]
    dec = found.get("decoder")
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        checks.append(_headroom("vram", free, f"of {total / 2**30:.1f} GiB on {torch.cuda.get_device_name(0)}"))
    else:
        on = f"the decoder runs on {dec.device}" if dec is not None else "no decoder checked"
        checks.append(Check("memory", "vram", WARN, f"n/a: no CUDA GPU; {on}"))
    return checks


def _headroom(name: str, free: int, context: str) -> Check:
    status = PASS if free >= MEMORY_WARN_BYTES else WARN if free >= MEMORY_FAIL_BYTES else FAIL
    return Check("memory", name, status, f"{free / 2**30:.1f} GiB free, {context}")


def _meminfo_bytes(key: str) -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc; the peak from resource elsewhere)."""
    import os
    import resource

    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no message"


class _quiet_show_logs:
    """The table reports every problem; the parts' own log lines (INFO chatter, the errors the
    rows already name) are held back while the probes run, unless debug logging is on."""

    def __enter__(self) -> None:
        self.logger = logging.getLogger("live")
        self.level = self.logger.level
        if self.logger.getEffectiveLevel() > logging.DEBUG:
            self.logger.setLevel(logging.CRITICAL)

    def __exit__(self, *exc: object) -> None:
        self.logger.setLevel(self.level)


# ---------------------------------------------------------------------------------------------


def format_checks(result: Preflight) -> str:
    """The PASS / WARN / FAIL table with a summary line."""
    width = max([len(c.name) for c in result.checks] + [5]) + 2
    lines = [f"{'CHECK':<{width}}{'STATUS':<8}DETAIL"]
    lines += [f"{c.name:<{width}}{c.status:<8}{c.detail}" for c in result.checks]
    summary = f"{result.count(PASS)} PASS, {result.count(WARN)} WARN, {result.count(FAIL)} FAIL"
    if result.skipped:
        summary += f" (skipped: {', '.join(result.skipped)})"
    lines.append(summary)
    return "\n".join(lines)
