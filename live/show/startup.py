"""The bank as the show opens it at start-up, its warnings said once.

With the shipped presets, the text presets nobody has precomputed yet are each logged as
"preset NAME unavailable: ... not precomputed" when the bank loads: three lines that fill the
operator HUD's warning area on every start. While the bank loads, those lines are held back and
said as one line that names them all; every other warning passes as it is.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from typing import Any, Iterator

from live.library.bank import open_bank

_LOGGER = logging.getLogger(__name__)

BANK_LOGGER = "live.library.bank"  # the logger the bank's per-preset warnings come from
_NOT_PRECOMPUTED = re.compile(r"^preset (\S+) unavailable: .*\bnot precomputed\b")


class _HoldNotPrecomputed(logging.Filter):
    """Holds back (drops, keeping the name) each "preset NAME unavailable: ... not precomputed" record."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a not-precomputed record (its preset's name is kept), True for any other."""
        try:
            found = _NOT_PRECOMPUTED.match(record.getMessage())
        except Exception:  # noqa: BLE001 - a record that cannot format is not ours to hold
            return True
        if found is None:
            return True
        self.names.append(found.group(1))
        return False


@contextmanager
def one_line_for_not_precomputed() -> Iterator[None]:
    """While the body runs, the bank's "not precomputed" warnings are held; after it, one warning
    names every such preset (none when there is none)."""
    logger = logging.getLogger(BANK_LOGGER)
    hold = _HoldNotPrecomputed()
    logger.addFilter(hold)
    try:
        yield
    finally:
        logger.removeFilter(hold)
        names = list(dict.fromkeys(hold.names))
        if len(names) == 1:
            _LOGGER.warning("preset %s not precomputed, not shown (run `run_live.py precompute %s`)", names[0], names[0])
        elif names:
            _LOGGER.warning("%d presets not precomputed, not shown (run `run_live.py precompute NAME`): %s",
                            len(names), ", ".join(names))


def open_show_bank(*args: Any, **kwargs: Any) -> Any:
    """:func:`live.library.bank.open_bank` (same arguments), its not-precomputed warnings in one line."""
    with one_line_for_not_precomputed():
        return open_bank(*args, **kwargs)
