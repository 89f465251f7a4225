"""The one start/stop pattern of the control threads (MIDI input, MIDI clock in and out, OSC
feedback): a named daemon thread that runs until asked to stop."""

from __future__ import annotations

import threading
from typing import Callable


class StoppableThread:
    """``target`` on a daemon thread named ``name``. :meth:`start` does nothing while it runs;
    :meth:`stop` sets :attr:`stopping` (the target watches it, e.g. ``while not stopping.wait(dt)``)
    and waits up to ``join_s`` for the thread, so stopping never hangs on a stuck one."""

    def __init__(self, target: Callable[[], None], name: str, join_s: float) -> None:
        self.stopping = threading.Event()
        self._target, self._name, self._join_s = target, name, join_s
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread, unless it already runs."""
        if self._thread is None:
            self.stopping.clear()
            self._thread = threading.Thread(target=self._target, name=self._name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop and wait for it (at most ``join_s``); safe to call twice."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_s)
            self._thread = None
