"""Shared test settings: headless GL everywhere, no network, a fixed seed; a test that hangs
ends the run with every thread's stack instead of holding CI for its whole time limit."""

import faulthandler
import os
import tempfile

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at test time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("DISPLAY", None)  # GL tests run offscreen through EGL, even on a desktop

import pyglet  # noqa: E402

pyglet.options["headless"] = True

HANG_S = 600  # no test comes near this; a deadlock (a GIL lost with a cancelled thread) would wait forever


@pytest.fixture(scope="session")
def _hang_log():
    # pytest captures fd 2 during tests, and the capture is lost when the process is ended, so the
    # stacks go to a file that ./setup.sh test prints (LIVE_TEST_HANG_LOG).
    path = os.environ.get("LIVE_TEST_HANG_LOG") or os.path.join(tempfile.gettempdir(), "live-test-hang.txt")
    with open(path, "w") as log:
        yield log


@pytest.fixture(autouse=True)
def _hang_guard(_hang_log):
    # faulthandler's watchdog is a C thread: it works when no Python thread can run.
    faulthandler.dump_traceback_later(HANG_S, exit=True, file=_hang_log)
    yield
    faulthandler.cancel_dump_traceback_later()
