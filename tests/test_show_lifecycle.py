"""The show's lifecycle as a user meets it: SIGTERM and SIGINT on a real `live --headless`
process, the rotating log file, and the crash report of an unexpected error in a tick."""

from __future__ import annotations

import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from live.cli import configure_logging
from live.library.demo import write_demo_track
from live.show.runner import ShowSettings, run_show

ROOT = Path(__file__).resolve().parent.parent


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 90.0) -> str:
    """The log file's text once it holds ``text`` (fails if the process ends first)."""
    end = time.time() + timeout
    while time.time() < end:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        assert proc.poll() is None, content
        time.sleep(0.1)
    raise AssertionError(f"{text!r} not logged in {timeout} s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)])
def test_a_signal_stops_the_show_within_two_seconds_with_the_summary(tmp_path, sig):
    write_demo_track(tmp_path / "track.wav", 4.0)
    log = tmp_path / "live.log"
    proc = subprocess.Popen(
        [sys.executable, "run_live.py", "live", "--headless", "--audio", str(tmp_path / "track.wav"), "--osc-port", "0",
         "--fps", "30", "--size", "64x64", "--log-file", str(log)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(log, "show running", proc)
        time.sleep(1.0)  # the show draws for a second
        sent = time.perf_counter()
        proc.send_signal(sig)
        rc = proc.wait(timeout=30)
        took = time.perf_counter() - sent
    finally:
        proc.kill()
    text = log.read_text()
    print(f"{sig.name}: exit {rc} {took:.2f} s after the signal")
    assert rc == 0, text
    assert took < 2.0, text
    summary = re.search(rf"show stopped after [\d.]+ s; {sig.name}: (\d+) frames", text)
    assert summary, text
    assert int(summary.group(1)) >= 20  # frames kept coming up to the signal (about 30 a second)
    assert "Traceback" not in text


def test_log_file_rotates(tmp_path):
    log = tmp_path / "live.log"
    handler = configure_logging(False, str(log), max_bytes=2000, backups=2)
    try:
        for k in range(200):
            logging.getLogger("live.test").info("status line %d of a long night", k)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert "status line 199" in log.read_text()
    assert (tmp_path / "live.log.1").exists() and (tmp_path / "live.log.2").exists()
    assert not (tmp_path / "live.log.3").exists()  # only ``backups`` old files are kept
    assert log.stat().st_size <= 2000


def test_an_unexpected_error_in_a_tick_writes_a_crash_report_and_the_show_goes_on(tmp_path, monkeypatch, caplog):
    from live.show.show import HoldingVisual, Show

    real_tick, holding_tick = Show.tick, HoldingVisual.tick
    calls = {"show": 0, "holding": 0}

    def failing_tick(self, now, state):
        calls["show"] += 1
        if calls["show"] == 5:
            raise ZeroDivisionError("a bug")
        real_tick(self, now, state)

    def counting_holding(self, now, state):
        calls["holding"] += 1
        holding_tick(self, now, state)

    monkeypatch.setattr(Show, "tick", failing_tick)
    monkeypatch.setattr(HoldingVisual, "tick", counting_holding)
    write_demo_track(tmp_path / "track.wav", 4.0)
    settings = ShowSettings(audio=str(tmp_path / "track.wav"), headless=True, seconds=3.0, fps=30, size="64x64",
                            osc_port=0, log_file=str(tmp_path / "live.log"))
    with caplog.at_level(logging.INFO):
        assert run_show(settings) == 0
    reports = list(tmp_path.glob("crash-*.txt"))
    assert len(reports) == 1
    report = reports[0].read_text()
    assert "ZeroDivisionError: a bug" in report and "failing_tick" in report and "status:" in report
    stopped = [r.getMessage() for r in caplog.records if r.getMessage().startswith("show stopped after")]
    assert len(stopped) == 1 and "'crashes': 1" in stopped[0] and "'holding': 'after an error'" in stopped[0]
    frames = int(stopped[0].split(": ")[1].split(" frames")[0])
    assert frames >= 0.5 * 3.0 * 30  # output frames kept coming through the error
    assert calls["show"] == 5 and calls["holding"] > 1  # after the error: the holding visual, not the show
