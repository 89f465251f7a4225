"""Torch precisions by the names the command line takes (``--dtype``), declared once and importing
nothing, so a parser lists them without loading torch; :mod:`live.device` maps each to its dtype."""

from __future__ import annotations

PRECISIONS = ("fp32", "fp16", "bf16")
