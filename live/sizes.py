"""Frame sizes given on the command line (``--size WxH``): one parser for every command."""

from __future__ import annotations

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

