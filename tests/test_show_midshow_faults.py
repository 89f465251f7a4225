"""Faults that come in the middle of a show (red-teamed on a running `live --headless`): each
one is logged once and the show goes on with what it had."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

from live.show.runner import StopSignals

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def _watching(tmp_path, size: int):
    """A headless renderer watching ``tmp_path/mine.glsl``, compiled from GOOD: (renderer, the file)."""
    from live.visuals.renderer import Renderer

    r = Renderer(size, size, headless=True)
    try:
        shader = tmp_path / "mine.glsl"
        shader.write_text(GOOD)
        r.shader_dir = tmp_path
        r.set_shaders(["mine"])
        assert not r.shader_errors()
        yield r, shader
    finally:
        r.close()


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


GOOD = """#version 330 core
uniform sampler2D u_image; in vec2 v_uv; out vec4 f_color;
void main() { f_color = texture(u_image, v_uv); }
"""


def test_a_fifo_or_huge_file_dropped_in_as_a_shader_is_refused_not_read(tmp_path, caplog):
    """Mid-show a shader file replaced by a FIFO froze the display loop (it waited for a writer);
    a huge file would have been read whole. Both are refused in one line; the last good program
    stays."""
    import threading

    from live.files import MAX_TEXT_BYTES

    with _watching(tmp_path, 32) as (r, shader):
        shader.unlink()
        os.mkfifo(shader)
        done = threading.Event()

        def poll():
            r.poll_shaders(force=True)
            done.set()

        # GL wants its own thread: poll here, and only release a blocked open from a helper.
        releaser = threading.Timer(5.0, lambda: done.is_set() or os.close(os.open(shader, os.O_WRONLY | os.O_NONBLOCK)))
        releaser.start()
        with caplog.at_level(logging.ERROR):
            poll()
        releaser.cancel()
        assert "regular file" in r.shader_errors()["mine"]
        assert any("keeping the last good version" in m.getMessage() for m in caplog.records)
        shader.unlink()
        shader.write_bytes(b"//" + b"x" * MAX_TEXT_BYTES)
        os.utime(shader, (1, 1))
        r.poll_shaders(force=True)
        assert "over the limit" in r.shader_errors()["mine"]


def test_pyglets_own_refusal_is_the_message_not_the_source_listing():
    """A shader without a #version line: pyglet says so, then lists the source; the log showed
    the listing ("001: void main() ...") as if it were the error."""
    from live.visuals.renderer import shader_error_line

    message = ("Cannot find #version flag in shader source. A #version statement is required on the first line.\n"
               "------------------------------------\n001: void main() { gl_FragColor = vec4(1.0); } ")
    assert shader_error_line(message).startswith("Cannot find #version flag")


def test_a_log_file_that_cannot_be_written_any_more_is_said_once_not_per_line(tmp_path, capsys, caplog):
    """The log's folder removed (or its disk full) mid-show: the logging module printed a
    traceback on the console for each line logged after; now one line says it, and another says
    when the file takes lines again."""
    import shutil

    from live.cli import configure_logging

    folder = tmp_path / "logs"
    folder.mkdir()
    handler = configure_logging(False, str(folder / "live.log"), max_bytes=300, backups=2)
    log = logging.getLogger("live.test")
    try:
        for k in range(3):
            log.info("status line %d", k)
        shutil.rmtree(folder)
        for k in range(20):
            log.info("status line after %d", k)
        err = capsys.readouterr().err
        assert "Logging error" not in err and "Traceback" not in err, err
        assert err.count("cannot write it") == 1, err
        folder.mkdir()
        log.info("back")
        assert any("writing again" in r.getMessage() for r in caplog.records)
        assert "back" in (folder / "live.log").read_text()
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_a_shader_file_gone_and_back_says_what_the_output_shows_and_is_read_again(tmp_path, caplog):
    """The shaders folder moved away and back mid-show: the log said "passing the picture
    through" while the last good program went on drawing, and once the file was back (same
    mtime) it was never read again, so its "missing" error stayed in the status for good."""
    with _watching(tmp_path, 32) as (r, shader):
        kept = tmp_path / "kept.glsl"
        shader.rename(kept)
        with caplog.at_level(logging.ERROR):
            r.poll_shaders(force=True)
        assert r.shader_errors() == {"mine": "missing"}
        gone = [m.getMessage() for m in caplog.records if "file not found" in m.getMessage()]
        assert len(gone) == 1 and "keeping the last good version" in gone[0], gone
        kept.rename(shader)  # back, with the mtime it had
        r.poll_shaders(force=True)
        assert r.shader_errors() == {}


def test_a_shader_too_slow_for_a_frame_is_refused_and_the_last_good_one_stays(tmp_path, caplog, monkeypatch):
    """A loop edited into a shader mid-show (thousands of iterations a pixel) took the output
    from 30 fps to one frame every half second at 128x128, and would stall it for a minute a
    frame at 1080p: a frozen projector. Such a shader is timed once, on a small target, and refused."""
    from live.visuals import renderer as module

    with _watching(tmp_path, 128) as (r, shader):
        good = r._shaders[0].program
        # The loop costs about a second a frame here on llvmpipe, a few ms on a GPU: the limit
        # is lowered so that the check means the same on both.
        monkeypatch.setattr(module, "SLOW_SHADER_S", 0.001)
        shader.write_text(GOOD.replace("void main() {", "uniform float u_time;\nvoid main() {\n"
                                       "float c = v_uv.x; for (int i = 0; i < 200000; i++) c = sin(c + u_time);")
                          .replace("texture(u_image, v_uv);", "texture(u_image, v_uv) * c;"))
        os.utime(shader, (1, 1))
        with caplog.at_level(logging.ERROR):
            r.poll_shaders(force=True)
        assert "too slow" in r.shader_errors()["mine"], r.shader_errors()
        assert r._shaders[0].program is good
        assert any("keeping the last good version" in m.getMessage() for m in caplog.records)
        ms = float(r.shader_errors()["mine"].split("about ")[1].split(" ms")[0])
        assert ms > 1.0


def test_pictures_rebuilt_mid_show_print_no_torch_warning(tmp_path):
    """A built-in preset's keyframe file truncated mid-show is rebuilt from its pictures; the
    console then showed torch's multi-line "not writable ... undefined behavior" warning, which
    reads like a fault. (torch warns once a process: a fresh interpreter, warnings as errors.)"""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from live.library.images import save_pixel_keyframes\n"
            "from live.library.presets import load_preset\n"
            f"preset = load_preset({str(ROOT / 'presets' / 'demo.toml')!r}, {str(ROOT / 'shaders')!r})\n"
            "images = np.zeros((2, 288, 512, 3), np.uint8); images.flags.writeable = False\n"
            f"save_pixel_keyframes(preset, images, ['a', 'b'], 'key', {str(tmp_path)!r})\n")
    done = subprocess.run([sys.executable, "-W", "error::UserWarning", "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "not writable" not in done.stderr, done.stderr


def test_a_crash_report_that_cannot_be_written_does_not_end_the_show(tmp_path, caplog):
    """An unexpected error in the show's tick is caught, reported and the holding visual goes up;
    but when the report could not be written (the disk full, the log's folder gone) or the broken
    show could not give its status either, that second error escaped and ended the show."""
    from live.show.runner import Stage

    class Holding:
        ticks = 0

        def tick(self, now, state):
            Holding.ticks += 1

    class Broken:
        decode = None

        def tick(self, now, state):
            raise RuntimeError("a bug in the tick")

        def status(self):
            raise RuntimeError("a bug in the status")

    not_a_folder = tmp_path / "crash-here"
    not_a_folder.write_text("a file where the folder should be")
    stage = Stage(Holding(), Broken, not_a_folder)
    with caplog.at_level(logging.CRITICAL):
        stage.tick(1.0, None)  # must not raise
    assert Holding.ticks == 1 and stage.crashes == 1
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(said) == 1 and "a bug in the tick" in said[0] and "no crash report" in said[0], said


def test_a_shader_that_compiles_but_types_a_show_uniform_otherwise_is_refused(tmp_path, caplog):
    """``uniform vec2 u_time;`` compiles, but setting the show's float raised in every frame's
    draw: the show went to its holding visual with a crash report every 5 s, the look lost. It is
    refused when read, like a compile error, and the last good version stays."""
    with _watching(tmp_path, 32) as (r, shader):
        good = r._shaders[0].program
        shader.write_text(GOOD.replace("void main() {", "uniform vec2 u_time;\nvoid main() {")
                          .replace("texture(u_image, v_uv);", "texture(u_image, v_uv) * u_time.x;"))
        os.utime(shader, (1, 1))
        with caplog.at_level(logging.ERROR):
            r.poll_shaders(force=True)  # as draw() does once a second
        r.draw(0.0, 1.0, {"u_time": 1.0})  # raised ValueError before
        assert "cannot be drawn" in r.shader_errors()["mine"]
        assert r._shaders[0].program is good
        r.draw(1.0, 1.0, {"u_time": 2.0})
