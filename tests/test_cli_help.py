"""Every command's --help: each flag's default said once, and only where it tells the user something."""

import argparse
import re

from live.cli import build_parser


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """(command path, parser) for the parser and every subcommand under it, at any depth."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_help_says_each_default_once_and_none_that_say_nothing():
    seen = 0
    for path, parser in _parsers(build_parser()):
        text = " ".join(parser.format_help().split())  # argparse wraps lines; join them
        assert not re.search(r"\(default[^()]*\)\s*\(default", text), (path, text)
        for empty in ("(default: None)", "(default: False)", "(default: True)", "(default: )", "(default: [])"):
            assert empty not in text, (path, empty)
        seen += 1
    assert seen > 20  # every command and benchmark was walked
    song = " ".join(next(p for path, p in _parsers(build_parser()) if path == ("song",)).format_help().split())
    assert "(default: keep your edits)" in song and "(default: 768x432)" in song  # hand-written and automatic
