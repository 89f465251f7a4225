"""Values given on the command line: frame sizes (``--size WxH``) and bounded numbers, one
parser each for every command, so a bad value is one ``error:`` line, never a traceback."""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from live.errors import UserError


class SizeError(UserError):
    """A --size value that is not WxH with positive multiples of 2."""


def parse_size(text: str) -> tuple[int, int]:
    """'768x432' -> (768, 432). H.264 needs even sizes, so odd ones are refused."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SizeError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 512x512 or 1280x720") from None
    if w < 16 or h < 16 or w > 8192 or h > 8192 or w % 2 or h % 2:
        raise SizeError(f"--size {text}: width and height must be even numbers from 16 to 8192")
    return w, h



@dataclass(frozen=True)
class Bounded:
    """An argparse ``type``: a finite ``kind`` (int or float) within ``low``..``high``;
    ``above_low`` excludes ``low`` itself (a duration must be more than 0)."""

    kind: type
    low: float | None = None
    high: float | None = None
    above_low: bool = False

    def __call__(self, text: str) -> int | float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if self.kind is int else 'a number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        if (self.low is not None and (value < self.low or (self.above_low and value == self.low))) or \
                (self.high is not None and value > self.high):
            raise argparse.ArgumentTypeError(f"{text} is out of range; {self.describe()}")
        return value

    def describe(self) -> str:
        """The allowed range in words, e.g. ``use 1..240`` or ``use more than 0``."""
        if self.above_low and self.high is None:
            return f"use more than {self.low:g}"
        low = "any" if self.low is None else f"{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}"
        return f"use {'more than ' if self.above_low else ''}{low}..{high}".replace("any..", "up to ")


def positive(kind: type = float, high: float | None = None) -> Bounded:
    """More than 0 (durations, rates), at most ``high``."""
    return Bounded(kind, 0, high, above_low=True)
