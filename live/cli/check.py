"""`check`: the preflight. It takes every flag of `live`, so run it with the flags you will give
the show; arguments only, the probes are :mod:`live.show.preflight`."""

from __future__ import annotations

import argparse
import json
import logging

from live import paths
from live.cli import live as live_cli
from live.errors import UserError
from live.show.preflight import LISTEN_SECONDS, PROBES, format_checks, run_preflight
from live.values import positive

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Flags of `check`: those of `live`, and the check's own."""
    live_cli.configure(parser)
    parser.add_argument("--device", default=None,
                        help="torch device for the decoder and keyframes (default: the show's choice, cuda > mps > cpu)")
    parser.add_argument("--listen", type=positive(float, 60), default=LISTEN_SECONDS, metavar="S",
                        help="seconds the audio probe listens for signal")
    parser.add_argument("--skip", default="", metavar="PROBES",
                        help=f"comma-separated probes to leave out: {','.join(PROBES)}")
    parser.add_argument("--json", action="store_true", help="print the preset rows and the checks as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 on any WARN too (by default only a FAIL does)")


def run(args: argparse.Namespace) -> int:
    """Entry point of `check`: 0 when nothing FAILs (nothing WARNs either with --strict), else 1."""
    from live.library.check import format_table  # the bank and torch: only when it runs

    skip = frozenset(p.strip() for p in args.skip.split(",") if p.strip())
    presets = paths.presets_dir(args.presets_dir)
    if "presets" not in skip and not presets.is_dir():
        raise UserError(f"{presets}: presets folder does not exist; pass --presets-dir or set LIVE_PRESETS_DIR")
    result = run_preflight(live_cli.settings_from_args(args), skip=skip, listen_seconds=args.listen,
                           device=args.device)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        if "presets" not in skip:
            print(format_table(result.presets, result.load_seconds))
            print()
        print(format_checks(result))
    return result.exit_code(args.strict)
