"""Faults that come in the middle of a show (red-teamed on a running `live --headless`): each
one is logged once and the show goes on with what it had."""

from __future__ import annotations

import logging
import os
import signal

from live.show.runner import StopSignals


def test_sighup_does_not_stop_the_show_and_is_logged_once(caplog):
    """A dropped SSH session or a closed terminal sends SIGHUP, whose default ends the process at
    once with no log line: the show must keep running and say so."""
    before = signal.getsignal(signal.SIGHUP)
    with caplog.at_level(logging.WARNING), StopSignals() as stop:
        os.kill(os.getpid(), signal.SIGHUP)  # delivered before os.kill returns (to itself)
        assert not stop.requested()
        assert not stop.requested()  # the next frame: nothing new to say
        hangups = [r for r in caplog.records if "SIGHUP" in r.getMessage()]
        assert len(hangups) == 1 and "keeps running" in hangups[0].getMessage()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested() and stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGHUP) is before
