"""`run_live.py` / `run-live`: the command line. Each subcommand is one small module here (its
arguments only) or a benchmark in :mod:`live.bench`; each exposes ``configure(parser)`` and
``run(args) -> int`` and calls the parts below. This file only routes.

Building the parser imports every ``configure``, so a command module imports nothing heavy at its
top (torch, diffusers, scipy...): its ``run`` imports what it runs. ``--help`` and a mistyped flag
then answer at once (``tests/test_cli_fast.py``)."""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import logging.handlers
import os
import sys
import threading
import time
from typing import Any, NoReturn

from live.errors import UserError
from live.memory import steady_allocator

_LOGGER = logging.getLogger(__name__)

# subcommand -> (module, one-line help); each module's configure() builds that command's --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "live": ("live.cli.live", "run the show: output window (or --headless), live audio input, OSC/MIDI control"),
    "demo": ("live.cli.demo", "the built-in demo: a window where a display exists, else a video file"),
    "render": ("live.cli.render", "deterministic offline render of a preset against an audio file, to MP4"),
    "preview": ("live.cli.preview", "contact sheet of a preset against a track: frames on and just before beats"),
    "devices": ("live.cli.devices", "list audio inputs, MIDI inputs and screens"),
    "precompute": ("live.cli.precompute", "turn presets into keyframe latents with your Stable Diffusion model"),
    "check": ("live.cli.check", "preflight: presets as the show loads them; PASS/WARN/FAIL for audio, OSC, MIDI, decoder..."),
    "beats": ("live.cli.beats", "print the beats the show would flash for an audio file (live code path)"),
    "song": ("live.cli.song", "a track and a prompt in: sections, song preset, plan, and a video synced to the song"),
    "set": ("live.cli.set", "prepared sets: analyse the DJ's tracks (grid, sections, fingerprints) before the show"),
    "midi": ("live.cli.midi", "MIDI tools: list inputs, monitor a controller, learn bindings into a mapping file"),
}
BENCHMARKS: dict[str, tuple[str, str]] = {
    "beats": ("live.bench.beats", "beat accuracy (F-measure, CMLt, AMLt) on annotated audio"),
    "decode": ("live.bench.decode", "decode fps, pipeline efficiency, latency, display-loop fps"),
    "bank": ("live.bench.bank", "keyframe memory per preset and preset bank load time"),
    "render": ("live.bench.render", "offline render fps of the demo, render-loop frame time per shader chain, uploads"),
    "gpu": ("live.bench.gpu", "every GPU figure in one command (decode fp16, compile, CUDA graphs, precompute)"),
    "record": ("live.bench.record", "what --record costs the output's frame rate (asynchronous read-back + writer thread)"),
    "windows": ("live.bench.windows", "what the operator window (preview and HUD) costs the output's frame rate"),
    "sync": ("live.bench.sync", "Link and MIDI clock at 120 BPM over loopback: the clock's BPM and beat-phase error"),
    "osc": ("live.bench.osc", "OSC arrival to the output frame (p99), and a 10,000 messages/s flood: fps, queue"),
    "song": ("live.bench.song", "song mode: analysis time of a 4-minute track, section boundaries against the truth"),
    "set": ("live.bench.set", "prepared sets: time to identify a track at other speeds, false IDs, cost, 300-track set"),
    "soak": ("live.bench.soak", "the show for 30 min of show time, accelerated, under random control: gaps, memory, errors"),
}

# A benchmark whose module imports torch at its top declares its flags in a light module, named
# here: building the parser (every --help, a mistyped flag) then loads no torch, and the benchmark's
# module is imported when it runs. Every other module's configure() needs nothing heavy either.
FLAGS: dict[str, str] = {"live.bench.decode": "live.bench.decode_settings"}

DESCRIPTION = """Beat-locked Stable Diffusion visuals for DJs and VJs.

Before the show: write presets/NAME.toml, run `precompute NAME`, then `check`.
At the show: `live --preset NAME` (add --audio-device, --osc-port, --midi-input).
No weights or GPU? `demo` runs the built-in demo."""


class OneLineErrors(argparse.ArgumentParser):
    """argparse, but a bad flag or value is one ``error:`` line and exit 2, like every other refusal."""

    def error(self, message: str) -> NoReturn:
        """Print ``error: PROG: message`` on one line and exit 2."""
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with a --help for every subcommand."""
    parser = OneLineErrors(
        prog="run_live.py", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        _add(sub, name, module, help_text)
    bench = sub.add_parser("bench", help="benchmarks that print figures with the machine and settings",
                           description="Benchmarks. Each prints its figures and the machine they were measured on.")
    bench_sub = bench.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    for name, (module, help_text) in BENCHMARKS.items():
        _add(bench_sub, name, module, help_text)
    return parser


def _add(sub: argparse._SubParsersAction, name: str, module: str, help_text: str) -> None:
    from live.cli.common import HelpFormatter

    parser = sub.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
    if module in FLAGS:
        importlib.import_module(FLAGS[module]).configure(parser)
        parser.set_defaults(handler=functools.partial(_run_module, module))
        return
    mod = importlib.import_module(module)
    mod.configure(parser)
    parser.set_defaults(handler=mod.run)


def _run_module(module: str, args: argparse.Namespace) -> int:
    """``module``'s ``run(args)``, the module imported now (see :data:`FLAGS`)."""
    return importlib.import_module(module).run(args)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_MAX_BYTES = 5 * 1024 * 1024  # per log file; a night of status lines is far less
LOG_BACKUPS = 5  # rotated files kept: FILE.1 .. FILE.5


class LogFile(logging.handlers.RotatingFileHandler):
    """The ``--log-file`` handler. When the file cannot be written any more (the disk is full, its
    folder was removed, a rotation failed) the logging module printed a traceback for every line
    logged from then on; this says it once on the console, keeps trying quietly (each line opens
    the file again), and says so when the file takes lines again. The show is never stopped by
    its log."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failing = False  # the last write failed: the console already said so
        self._failed = False

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record``; a failure goes to :meth:`handleError`."""
        self._failed = False
        super().emit(record)
        if self.failing and not self._failed:
            self.failing = False
            logging.getLogger(__name__).warning("log file %s: writing again", self.baseFilename)

    def handleError(self, record: logging.LogRecord) -> None:
        """Say once on the console that the file cannot be written (no traceback per line)."""
        self._failed = True
        if self.stream is not None:  # a half-broken stream: drop it so that the next line opens the file anew
            try:
                self.stream.close()
            except OSError:
                pass
            self.stream = None  # type: ignore[assignment]
        if self.failing:
            return
        self.failing = True
        exc = sys.exc_info()[1]
        reason = (getattr(exc, "strerror", None) or exc) if exc else "unknown error"
        try:
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} ERROR {__name__}: log file {self.baseFilename}: cannot "
                             f"write it ({reason}); logging to the console only until it can\n")
        except (OSError, ValueError):  # no console either: nothing left to tell
            pass


def configure_logging(verbose: bool = False, log_file: str | None = None, *, max_bytes: int = LOG_MAX_BYTES,
                      backups: int = LOG_BACKUPS) -> logging.Handler | None:
    """Log to stderr and, with ``log_file``, also to that file, rotated at ``max_bytes``
    (``backups`` old files kept); returns the file's handler. A file that cannot be opened is a UserError."""
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(level=level, format=LOG_FORMAT, datefmt="%H:%M:%S")
    if not log_file:
        return None
    try:
        handler = LogFile(log_file, maxBytes=max_bytes, backupCount=backups,
                                                       encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--log-file {log_file}: cannot write it ({exc.strerror or exc})") from None
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%d %H:%M:%S"))  # a file outlives the day
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, level) if root.level else level)
    return handler


SETTLE_S = 5.0  # at the end, how long to wait for threads still running (their owners waited already)
ENDS_ITSELF = ("tqdm_monitor",)  # threads that only wait in Python and end themselves at exit (atexit)


def leave(code: int, timeout: float = SETTLE_S) -> int:
    """The process's exit status ``code``, once no other thread runs: each is waited for, up to
    ``timeout`` seconds in all. CPython ends the threads still running at exit in a way that
    aborts the process (``terminate called without an active exception``, status 134) when one
    is inside C++ code (a torch decode, a model load); so if one is still busy (a decode stalled
    for good), the logs and output are flushed and the process ends at once with ``code``."""
    end = time.monotonic() + timeout
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and t.name not in ENDS_ITSELF]
    for thread in others:
        thread.join(max(0.0, end - time.monotonic()))
    stuck = [t.name for t in others if t.is_alive()]
    if not stuck:
        return code
    _LOGGER.warning("%s still running after the end; leaving without waiting for %s", ", ".join(stuck),
                    "it" if len(stuck) == 1 else "them")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; ``live`` when none is given. Called without
    ``argv`` it is the process (``run_live.py``, the ``run-live`` script): it also waits for the
    threads left running before returning (see :func:`leave`)."""
    if argv is None:
        try:
            code = _main(sys.argv[1:])
            sys.stdout.flush()  # here, not at the interpreter's exit, where a closed reader is a warning and 120
        except BrokenPipeError:
            code = _stdout_gone()
        return leave(code)
    return _main(argv)


PIPE_CLOSED = 128 + 13  # what a shell reports for a tool ended by SIGPIPE (`... | head -1`)


def _stdout_gone() -> int:
    """stdout's reader went away (``run_live.py beats FILE | head -1``): the command has already
    stopped (its clean-up ran as the error passed), so end quietly, like any Unix tool: stdout is
    pointed at /dev/null so no later flush complains, and the status is :data:`PIPE_CLOSED`."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (already closed, or replaced): nothing to quiet
        pass
    return PIPE_CLOSED


def _main(argv: list[str]) -> int:
    argv = list(argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "-v", "--verbose"):
        argv.insert(0, "live")
    elif argv[0] in ("-v", "--verbose") and (len(argv) == 1 or argv[1].startswith("-")):
        argv.insert(1, "live")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a bad flag already reported in one line
        return int(exc.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    from live.cli.common import signals_interrupt

    try:
        configure_logging(args.verbose, getattr(args, "log_file", None))
        steady_allocator()  # a night of frames and preset switches must not fragment the heap (live.memory)
        with signals_interrupt():
            return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
