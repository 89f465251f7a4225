"""`bench soak`: the show for N minutes, headless, under random control: accelerated, or in real time.

By default the show runs through the one frame driver with a stepped clock (1/fps of show time a frame, as
fast as the machine allows), the approx decoder, the real Renderer offscreen (presented with
``flip`` as ``live --headless`` does) and the demo track looped into the audio engine. Each frame
may carry random OSC messages, valid and invalid, parsed by the real ``parse_osc`` into the
show's command queue, and now and then a preset switch among the ready presets (the repository's
presets plus two variants of the demo, so switches change size, shaders and transition); the
warm-up first switches to each of them once, so that every first-time cost is paid before the
memory slope counts.

It reports the frames, the longest wall-clock gap between consecutive frames (and every gap over
100 ms, marking the ones it injected with ``stalls``), resident memory (each sample the lowest read
over its 10 s) after warm-up and at the
end with the slope in MB per 10 minutes of show time, and every warning and error logged, counted
by message. Targets: no gap over 100 ms but the injected ones, under 1 MB per 10 minutes.

``--realtime`` runs the show as ``live --headless`` does instead: the real clock (paced to the
fps), the decode worker thread, and a preset switch every ``--switch-every`` seconds (1 s) through
``parse_osc`` into the command queue, a share of them invalid: an unknown name, a new unknown name
each time (a flood of unique names must grow nothing), a preset whose TOML is broken, one whose
prompt is huge. Its presets switch at once (``transition_quantize = "none"``), so every switch is
carried out. A stepped clock and a few hundred switches hid a slow growth that only a night of real
switching showed (issue 24); the real-time target is stricter: under
:data:`REALTIME_SLOPE_LIMIT_MB` per 10 minutes after warm-up.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from live import paths
from live.bench.flags import check_output_file, write_json
from live.bench.machine import machine_line
from live.control.commands import ControlError
from live.control.osc import parse_osc
from live.library.demo import DEMO_PRESET, DEMO_SAMPLERATE, demo_track
from live.memory import steady_allocator
from live.show import driver
from live.show.driver import MAX_FPS, SteppedClock, WindowSink
from live.show.preflight import rss_bytes
from live.values import Bounded, parse_size, positive

_LOGGER = logging.getLogger(__name__)

MINUTES = 30.0  # show time of a full soak
FPS = 30  # show frames per second (the stepped clock's rate)
SIZE = "512x512"
GAP_LIMIT_S = 0.100  # target: no frame gap longer than this but the injected ones
SLOPE_LIMIT_MB = 1.0  # target: memory growth per 10 minutes of show time after warm-up
# Show seconds before the memory slope counts (at most a quarter of the run). RSS rises in steps as
# each preset, frame size, shader chain and transition is drawn the first time (allocator and GL
# driver pools), then stays flat: a 30-minute soak measured +1.36 MB/10 min counted from 2 min,
# +0.23 from 4 min and +0.20 from 5 min. With six presets switched at random the last first visit
# came as late as 300 s, so the warm-up also tours every preset once, in its first TOUR_SHARE.
WARMUP_S = 300.0
TOUR_SHARE = 0.6
SAMPLE_EVERY_S = 10.0  # show seconds between memory samples
MESSAGES_PER_S = 4.0  # random control messages per second of show time (on average)
INVALID_SHARE = 0.2  # of those, the share that is malformed or out of range
SWITCH_EVERY_S = 20.0  # mean show seconds between preset switches
STALL_S = 0.15  # length of an injected stall (longer than the gap limit)
TRACK_SECONDS = 64.0  # the demo track is looped; it changes tempo half way
KEPT_GAPS = 20  # long gaps listed in the report (all are counted)
REALTIME_SWITCH_EVERY_S = 1.0  # --realtime: seconds between preset switches
INVALID_SWITCH_SHARE = 0.3  # --realtime: the share of switches to a name that is not a ready preset
REALTIME_SLOPE_LIMIT_MB = 0.2  # --realtime target: MB per 10 minutes after warm-up
HUGE_PROMPT_CHARS = 200_000  # the prompt of the soak's preset that cannot load


def _valid(rng: np.random.Generator, presets: list[str]) -> tuple[str, tuple]:
    """One well-formed message a controller could send."""
    pick = int(rng.integers(0, 13))
    return [
        lambda: ("/blackout", (float(rng.random() < 0.1),)),
        lambda: ("/freeze", (float(rng.random() < 0.1),)),
        lambda: ("/hold", (float(rng.random() < 0.3),)),
        lambda: ("/lock", (float(rng.random() < 0.5),)),
        lambda: ("/jump", (int(rng.integers(0, 8)),)),
        lambda: (f"/drop/{int(rng.integers(0, 8))}", ()),
        lambda: ("/tap", ()),
        lambda: ("/resync", ()),
        lambda: ("/bpm", (float(rng.uniform(90.0, 170.0)),)),
        lambda: ("/nudge", (float(rng.uniform(-0.5, 0.5)),)),
        lambda: ("/param", ("motion.kick", float(rng.random()))),
        lambda: ("/param/motion.energy", (float(rng.random()),)),
        lambda: ("/shader/u_segments", (float(rng.uniform(2.0, 12.0)),)),
    ][pick]()


def _invalid(rng: np.random.Generator, unavailable: list[str]) -> tuple[str, tuple]:
    """One malformed or out-of-range message: the parser or the show must refuse it."""
    choices = [("/bpm", (999.0,)), ("/nope", ()), ("/bpm", ("fast",)), ("/jump", (-1,)),
               ("/shader/u_x", (math.nan,)), ("/param", ("motion.easing", "bouncy")),
               ("/param", ("generation.width", 3)), ("/preset", ("no-such-preset",)), ("/tap", (1, 2, 3))]
    choices += [("/preset", (name,)) for name in unavailable]  # a preset in the folder but not ready
    return choices[int(rng.integers(0, len(choices)))]


@dataclass
class SoakReport:
    """What a soak run measured."""

    minutes: float
    fps: int
    size: str
    presets: list[str]
    frames: int = 0
    wall_s: float = 0.0
    longest_gap_ms: float = 0.0
    longest_gap_at_s: float = 0.0  # show time of the frame that ended the longest gap
    gaps_over_limit: int = 0  # not counting the injected ones
    injected_gaps: int = 0
    long_gaps: list[dict] = field(default_factory=list)  # the first KEPT_GAPS gaps over the limit
    warmup_s: float = 0.0
    rss_warmup_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    slope_mb_per_10min: float = 0.0
    memory_samples: list[tuple[float, float]] = field(default_factory=list)  # (show s, MB)
    messages: int = 0
    invalid_messages: int = 0
    refused_by_parser: int = 0
    preset_switches: int = 0
    invalid_switches: int = 0  # of those, to a name that is not a ready preset (real time only)
    realtime: bool = False  # the real clock and the decode thread, not the stepped clock
    errors: dict[str, int] = field(default_factory=dict)  # "LEVEL logger: message" -> count
    refused_by_show: int = 0  # errors that are the show refusing an injected bad command
    unexpected_errors: int = 0  # every other ERROR or worse

    @property
    def speed(self) -> float:
        """Show seconds per wall second."""
        return self.minutes * 60.0 / self.wall_s if self.wall_s > 0 else 0.0


class _LogCounter(logging.Handler):
    """Counts every warning and error of the live.* loggers by message (numbers folded to N)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()
        self.refused = 0
        self.unexpected = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = re.sub(r"\d+(\.\d+)?", "N", record.getMessage().splitlines()[0])[:200]
        self.counts[f"{record.levelname} {record.name}: {message}"] += 1
        if record.levelno >= logging.ERROR:
            if " refused: " in record.getMessage():
                self.refused += 1
            else:
                self.unexpected += 1

def _write_presets(folder: Path, at_once: bool = False) -> None:
    """The repository's presets, plus two demo variants (another size, other shaders, a cut) and
    two that cannot load (broken TOML, a huge prompt). ``at_once``: every preset switches at once
    (``transition_quantize = "none"``) instead of on its beat, bar or phrase."""
    for path in paths.presets_dir(None).glob("*.toml"):
        shutil.copy(path, folder / path.name)
    demo = (paths.presets_dir(None) / f"{DEMO_PRESET}.toml").read_text()
    (folder / "soak-broken.toml").write_text(demo.replace("[look]", "[look"))
    (folder / "soak-huge.toml").write_text(demo.replace('images = "builtin:demo"',
                                                        f'prompts = ["{"x" * HUGE_PROMPT_CHARS}"]'))
    (folder / "soak-cut.toml").write_text(
        re.sub(r"(?m)^shaders = .*$", 'shaders = ["pulse"]', demo).replace('transition = "crossfade"',
                                                                           'transition = "cut"')
        .replace("params = { u_segments = 6.0 }", "params = { u_amount = 0.8 }"))  # pulse declares no u_segments
    (folder / "soak-wide.toml").write_text(
        re.sub(r"(?m)^shaders = .*$", 'shaders = ["rgbshift", "kaleido"]', demo)
        .replace("width = 512", "width = 768").replace("height = 512", "height = 432"))
    if at_once:
        for path in folder.glob("*.toml"):
            text = re.sub(r"(?m)^transition_quantize = .*$", "", path.read_text())
            path.write_text(text.replace("[look]\n", '[look]\ntransition_quantize = "none"\n', 1))


def soak(minutes: float = MINUTES, *, fps: int = FPS, size: str = SIZE, seed: int = 0, stalls: int = 0,
         messages_per_s: float = MESSAGES_PER_S, switch_every_s: float | None = None,
         realtime: bool = False, invalid_switch_share: float = INVALID_SWITCH_SHARE,
         progress: bool = True) -> SoakReport:
    """Run the show headless for ``minutes`` of show time under random control; the report.

    ``stalls`` injected stalls of :data:`STALL_S` are spread evenly over the run (to show the gap
    measure catches them); ``seed`` fixes the random messages. ``realtime``: the real clock, the
    decode worker thread and a preset switch every ``switch_every_s`` seconds, a share
    ``invalid_switch_share`` of them to names that are not ready presets (see the module).
    """
    from live.audio.analysis import AudioEngine
    from live.audio.settings import AnalysisSettings
    from live.library.bank import open_bank
    from live.show.render import AudioFeed
    from live.show.show import AsyncDecode, Show, SyncDecode
    from live.visuals.decoders import make_decoder
    from live.visuals.renderer import Renderer

    steady_allocator()  # as the show sets it (live.memory): the soak measures the show's memory
    if switch_every_s is None:
        switch_every_s = REALTIME_SWITCH_EVERY_S if realtime else SWITCH_EVERY_S
    width, height = parse_size(size)
    driver.check_fps(fps)
    n_frames = max(2, int(round(minutes * 60.0 * fps)))
    total_s = n_frames / fps
    rng = np.random.default_rng(seed)
    counter = _LogCounter()
    live_logger = logging.getLogger("live")
    level = live_logger.level
    live_logger.addHandler(counter)
    live_logger.setLevel(logging.WARNING)  # a switch logs INFO lines; the soak counts warnings and errors
    try:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            presets_dir = Path(tmp) / "presets"
            presets_dir.mkdir()
            _write_presets(presets_dir, at_once=realtime)
            dec = make_decoder("approx")
            bank = open_bank(dec.family, dec.latent_channels, dec.device, presets_dir, Path(tmp) / "keyframes")
            ready = bank.names()
            unavailable = sorted({p.stem for p in presets_dir.glob("*.toml")} - set(ready))
            report = SoakReport(minutes=total_s / 60.0, fps=fps, size=size, presets=ready, realtime=realtime)
            report.warmup_s = min(WARMUP_S, total_s / 4.0)
            mono = demo_track(TRACK_SECONDS).samples[:, 0].copy()
            engine = AudioEngine(DEMO_SAMPLERATE, AnalysisSettings())
            renderer = Renderer(width, height, headless=True, vsync=False)
            decode: Any = None
            try:
                # Live decodes on the worker thread (its allocations, its hand-over); stepped, at once.
                decode = AsyncDecode(dec, fps) if realtime else SyncDecode(dec)
                show = Show(bank, decode, renderer, preset=DEMO_PRESET, clock=engine.command,
                            frame_period=1.0 / fps)
                stall_frames = {int(n_frames * (k + 1) / (stalls + 1)) for k in range(stalls)}
                control = _Control(show, rng, ready, unavailable, report, messages_per_s / fps,
                                   1.0 / (switch_every_s * fps) if switch_every_s > 0 and not realtime else 0.0,
                                   tour_s=TOUR_SHARE * report.warmup_s if switch_every_s > 0 else 0.0,
                                   period_s=switch_every_s if realtime else 0.0,
                                   invalid_share=invalid_switch_share)
                meter = _Meter(report, fps, stall_frames, control)

                def tick(t: float, state: Any) -> None:
                    control(t)
                    if meter.frame in stall_frames:
                        time.sleep(STALL_S)
                    show.tick(t, state)

                with tqdm(total=n_frames, desc="soak", unit="frame", disable=None if progress else True,
                          leave=False) as bar:
                    started = time.perf_counter()
                    clock = (_FromZero(driver.RealTimeClock(fps, paced=True, seconds=total_s)) if realtime
                             else SteppedClock(fps, n_frames))
                    driver.run(tick, clock, WindowSink(renderer),
                               AudioFeed(engine, mono, DEMO_SAMPLERATE, loop=True),
                               after_frame=lambda t, n: (meter(t), bar.update()))
                    report.wall_s = time.perf_counter() - started
            finally:
                if realtime and decode is not None:
                    decode.stop()
                renderer.close()
    finally:
        live_logger.removeHandler(counter)
        live_logger.setLevel(level)
    meter.finish()
    report.errors = dict(counter.counts.most_common())
    report.refused_by_show, report.unexpected_errors = counter.refused, counter.unexpected
    return report


class _FromZero:
    """A clock's times less its first one: real time that starts at 0, like the soak's show time
    (the audio feed and the meters count from 0; the show only needs one steady clock)."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock

    def times(self) -> Any:
        """The wrapped clock's times, from 0."""
        start = None
        for t in self.clock.times():
            start = t if start is None else start
            yield t - start


class _Control:
    """Before each frame: random OSC messages through ``parse_osc`` into the show's queue."""

    def __init__(self, show: Any, rng: np.random.Generator, ready: list[str], unavailable: list[str],
                 report: SoakReport, per_frame: float, switch_chance: float, tour_s: float = 0.0,
                 period_s: float = 0.0, invalid_share: float = 0.0) -> None:
        self.show, self.rng, self.ready, self.unavailable = show, rng, ready, unavailable
        self.report, self.per_frame, self.switch_chance = report, per_frame, switch_chance
        # Real time: a switch every ``period_s`` seconds, ``invalid_share`` of them to a bad name.
        self.period_s, self.invalid_share = period_s, invalid_share
        self._next_switch = period_s
        self.sent: list[str] = []  # this frame's addresses, for the report of a long gap
        # The warm-up's tour: each ready preset once, evenly over the first ``tour_s`` show seconds.
        self._tour = [(tour_s * (k + 1) / (len(ready) + 1), name) for k, name in enumerate(ready)]

    def __call__(self, t: float) -> None:
        messages = []
        if self._tour and t >= self._tour[0][0]:
            self.report.preset_switches += 1
            messages.append((False, ("/preset", (self._tour.pop(0)[1],))))
        elif self.period_s > 0 and t >= self._next_switch:
            self._next_switch = max(self._next_switch + self.period_s, t)
            messages.append(self._timed_switch())
        elif self.rng.random() < self.switch_chance:
            self.report.preset_switches += 1
            name = self.ready[int(self.rng.integers(0, len(self.ready)))]
            messages.append((False, ("/preset", (name,)) if self.rng.random() < 0.7 else ("/preset/next", ())))
        for _ in range(int(self.rng.poisson(self.per_frame))):
            bad = self.rng.random() < INVALID_SHARE
            messages.append((bad, _invalid(self.rng, self.unavailable) if bad else _valid(self.rng, self.ready)))
        self.sent = [address for _, (address, _) in messages]
        self._send(t, messages)

    def _timed_switch(self) -> tuple[bool, tuple[str, tuple]]:
        """A real-time switch: a ready preset, or (``invalid_share`` of them) a name that is not:
        one unknown name, a new unknown name each time, or a preset that cannot load."""
        self.report.preset_switches += 1
        if self.rng.random() >= self.invalid_share:
            return False, ("/preset", (self.ready[int(self.rng.integers(0, len(self.ready)))],))
        self.report.invalid_switches += 1
        names = ["no-such-preset", f"no-such-preset-{self.report.invalid_switches}", *self.unavailable]
        return True, ("/preset", (names[int(self.rng.integers(0, len(names)))],))

    def _send(self, t: float, messages: list[tuple[bool, tuple[str, tuple]]]) -> None:
        """Each message through the OSC parser into the show's queue, as the OSC server does."""
        for bad, (address, args) in messages:
            self.report.messages += 1
            self.report.invalid_messages += bad
            try:
                cmd = parse_osc(address, args, received=t)
            except ControlError:
                self.report.refused_by_parser += 1  # the OSC server logs these, rate-limited
                continue
            if cmd is not None:
                self.show.commands.put(cmd)


class _Meter:
    """After each frame: the wall-clock gap since the last one, and memory every SAMPLE_EVERY_S."""

    def __init__(self, report: SoakReport, fps: int, stall_frames: set[int], control: _Control) -> None:
        self.report, self.fps, self.stall_frames, self.control = report, fps, stall_frames, control
        self.frame = 0
        self.t = 0.0  # show time of the last frame
        self.floor: int | None = None  # lowest RSS since the last sample
        self.last = 0.0
        self.next_sample = 0.0

    def __call__(self, t: float) -> None:
        now = time.perf_counter()
        r = self.report
        if self.frame > 0:
            gap = now - self.last
            if gap > r.longest_gap_ms / 1000.0:
                r.longest_gap_ms, r.longest_gap_at_s = gap * 1000.0, t
            if gap > GAP_LIMIT_S:
                injected = self.frame in self.stall_frames
                r.injected_gaps += injected
                r.gaps_over_limit += not injected
                if len(r.long_gaps) < KEPT_GAPS:
                    r.long_gaps.append({"show_s": round(t, 3), "gap_ms": round(gap * 1000.0, 1),
                                        "injected": injected, "messages": self.control.sent})
        # Each sample is the lowest RSS read over its window, once a frame: blocks in flight (a frame
        # being decoded, in mappings of their own) come and go and would swamp a slope of 0.2 MB.
        rss = rss_bytes()
        self.floor = rss if self.floor is None else min(self.floor, rss)
        if t >= self.next_sample:
            self.next_sample += SAMPLE_EVERY_S
            r.memory_samples.append((round(t, 3), round(self.floor / 2**20, 2)))
            self.floor = None
        self.frame += 1
        self.t = t
        r.frames = self.frame
        self.last = time.perf_counter()  # the meter's own work is not a gap the show made

    def finish(self) -> None:
        """Memory after warm-up, at the end, peak, and the least-squares slope after warm-up."""
        r = self.report
        r.memory_samples.append((round(self.t + 1.0 / self.fps, 3), round(rss_bytes() / 2**20, 2)))
        after = [(t, mb) for t, mb in r.memory_samples if t >= r.warmup_s]
        r.rss_warmup_mb, r.rss_end_mb = after[0][1], after[-1][1]
        r.rss_peak_mb = max(mb for _, mb in r.memory_samples)
        if len(after) >= 2 and after[-1][0] > after[0][0]:
            t, mb = np.array(after).T
            r.slope_mb_per_10min = float(np.polyfit(t, mb, 1)[0] * 600.0)


def format_report(r: SoakReport) -> str:
    """The report as a table, then every warning and error by message."""
    def ok(good: bool) -> str:
        return "ok" if good else "MISSED"

    limit = slope_limit(r)
    clock = "real time" if r.realtime else f"{r.speed:.2f}x real time"

    lines = [
        f"{'SOAK':<28}{'VALUE':<52}TARGET",
        f"{'show time':<28}{r.minutes:.1f} min at {r.fps} fps, {r.size}",
        f"{'wall time':<28}{r.wall_s / 60:.1f} min ({clock})",
        f"{'frames':<28}{r.frames}",
        f"{'longest frame gap':<28}{f'{r.longest_gap_ms:.1f} ms at {r.longest_gap_at_s:.1f} s of show time':<52}"
        f"< {GAP_LIMIT_S * 1000:.0f} ms",
        f"{'gaps over the limit':<28}{f'{r.gaps_over_limit} (+{r.injected_gaps} injected)':<52}"
        f"0 {ok(r.gaps_over_limit == 0)}",
        f"{'memory after warm-up':<28}{r.rss_warmup_mb:.1f} MB at {r.warmup_s:.0f} s",
        f"{'memory at the end':<28}{r.rss_end_mb:.1f} MB (peak {r.rss_peak_mb:.1f} MB)",
        f"{'memory slope after warm-up':<28}{f'{r.slope_mb_per_10min:+.2f} MB per 10 min of show time':<52}"
        f"< {limit:g} MB {ok(r.slope_mb_per_10min < limit)}",
        f"{'control messages':<28}{r.messages} ({r.invalid_messages} invalid: {r.refused_by_parser} refused by the "
        f"OSC parser, {r.refused_by_show} by the show)",
        f"{'preset switches':<28}{r.preset_switches} ({r.invalid_switches} to a bad name) among "
        f"{', '.join(r.presets)}",
        f"{'unexpected errors':<28}{f'{r.unexpected_errors}':<52}0 {ok(r.unexpected_errors == 0)}",
    ]
    for gap in r.long_gaps:
        what = " (injected)" if gap["injected"] else f" (messages: {' '.join(gap['messages']) or 'none'})"
        lines.append(f"  gap {gap['gap_ms']:.1f} ms at {gap['show_s']:.1f} s{what}")
    lines.append("warnings and errors logged, by message (numbers as N):" if r.errors else "nothing logged at WARNING "
                                                                                          "or above")
    lines += [f"  {count:>6}  {message}" for message, count in r.errors.items()]
    return "\n".join(lines)


def slope_limit(r: SoakReport) -> float:
    """The memory slope target of a run: stricter in real time, where a night of switching is."""
    return REALTIME_SLOPE_LIMIT_MB if r.realtime else SLOPE_LIMIT_MB


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``bench soak``."""
    parser.add_argument("--minutes", type=positive(float, 1440), default=MINUTES,
                        help="show time to run (accelerated, or wall time with --realtime)")
    parser.add_argument("--fps", type=Bounded(int, 1, MAX_FPS), default=FPS, help="show frames per second")
    parser.add_argument("--size", default=SIZE, help="render size WxH")
    parser.add_argument("--seed", type=Bounded(int, 0, 2**32 - 1), default=0, help="seed of the random control messages")
    parser.add_argument("--stalls", type=Bounded(int, 0, 10000), default=0,
                        help=f"inject this many {STALL_S * 1000:.0f} ms stalls (they are reported apart)")
    parser.add_argument("--realtime", action="store_true",
                        help="the real clock and the decode thread, a preset switch every --switch-every seconds "
                             f"({INVALID_SWITCH_SHARE:.0%}% of them to bad names), as a night of live switching")
    parser.add_argument("--switch-every", type=positive(float, 3600), default=None, metavar="S",
                        help=f"seconds between preset switches [{SWITCH_EVERY_S:g} on average; "
                             f"{REALTIME_SWITCH_EVERY_S:g} exactly with --realtime]")
    parser.add_argument("--json", metavar="FILE", default=None, help="also write the report as JSON")


def run(args: argparse.Namespace) -> int:
    """Run the soak and print the report with the machine line; 1 if a target was missed."""
    if args.json:
        check_output_file("--json", args.json)
    realtime = bool(getattr(args, "realtime", False))
    asked = getattr(args, "switch_every", None)
    every = asked if asked is not None else REALTIME_SWITCH_EVERY_S if realtime else SWITCH_EVERY_S
    report = soak(args.minutes, fps=args.fps, size=args.size, seed=args.seed, stalls=args.stalls, realtime=realtime,
                  **({"switch_every_s": asked} if asked is not None else {}))
    print(f"{machine_line()}, GL offscreen (EGL)")
    if realtime:
        print(f"settings: approx decoder on its worker thread, real clock at {args.fps} fps, demo track looped, "
              f"{MESSAGES_PER_S:g} OSC messages/s ({INVALID_SHARE:.0%} invalid), a preset switch every {every:g} s "
              f"({INVALID_SWITCH_SHARE:.0%} to bad names: unknown, unique, broken TOML, huge prompt), "
              f"switching at once, seed {args.seed}")
    else:
        print(f"settings: approx decoder, stepped clock (as fast as the machine allows), demo track looped, "
              f"{MESSAGES_PER_S:g} OSC messages/s ({INVALID_SHARE:.0%} invalid), a preset switch every "
              f"~{every:g} s, seed {args.seed}")
    print(format_report(report))
    if args.json:
        write_json("--json", args.json, {"machine": machine_line(), **asdict(report)})
    missed = report.gaps_over_limit or report.slope_mb_per_10min >= slope_limit(report) or report.unexpected_errors
    return 1 if missed else 0

