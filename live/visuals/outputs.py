"""Stage outputs: the picture the output window shows, also written to a video file (``--record``)
and sent over the network as an NDI source (``--ndi``), without slowing the show.

Once a frame, :class:`AsyncReadback` starts copying the drawn picture into a pixel buffer object
(GL_PIXEL_PACK_BUFFER) and maps the one started a frame earlier, so the display thread does not
wait for the GPU to finish the copy. The picture goes to each output through a bounded
:class:`live.handoff.DropQueue`; each output has its own thread (encoder, network), and when one
falls behind the new frame is dropped and counted, never waited for. The counts are logged when
the output closes.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from live.errors import UserError
from live.handoff import DropQueue

_LOGGER = logging.getLogger(__name__)

QUEUE_FRAMES = 8  # frames an output may fall behind before new ones are dropped (about 0.13 s at 60 fps)
POLL_S = 0.1  # how often an idle output thread looks whether it should stop


def _gl():
    from pyglet import gl

    return gl


class AsyncReadback:
    """Reads the renderer's output picture back through a ring of pixel buffer objects.

    :meth:`capture` starts the copy of the picture just drawn and returns the one started
    ``buffers - 1`` frames before (RGBA uint8, bottom row first, read-only) with the time it was
    drawn at, or None at first.
    """

    def __init__(self, renderer: Any, buffers: int = 2) -> None:
        gl = _gl()
        self.renderer = renderer
        self.width, self.height = renderer.width, renderer.height
        self.size = self.width * self.height * 4
        ids = (gl.GLuint * buffers)()
        gl.glGenBuffers(buffers, ids)
        self._pbos = list(ids)
        for pbo in self._pbos:
            gl.glBindBuffer(gl.GL_PIXEL_PACK_BUFFER, pbo)
            gl.glBufferData(gl.GL_PIXEL_PACK_BUFFER, self.size, None, gl.GL_STREAM_READ)
        gl.glBindBuffer(gl.GL_PIXEL_PACK_BUFFER, 0)
        self._started = 0  # copies started
        self._taken = 0  # copies mapped and handed out
        self._times = [0.0] * buffers  # when each buffer's picture was drawn

    def capture(self, at: float) -> tuple[np.ndarray, float] | None:
        """Start reading the picture drawn at time ``at``; the oldest copy in flight, with its
        time, once the ring is full."""
        gl = _gl()
        self._times[self._started % len(self._pbos)] = at
        pbo = self._pbos[self._started % len(self._pbos)]
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, self.renderer.output_fbo)
        gl.glBindBuffer(gl.GL_PIXEL_PACK_BUFFER, pbo)
        gl.glPixelStorei(gl.GL_PACK_ALIGNMENT, 1)
        gl.glReadPixels(0, 0, self.width, self.height, gl.GL_RGBA, gl.GL_UNSIGNED_BYTE, 0)  # into the PBO: no wait
        gl.glBindBuffer(gl.GL_PIXEL_PACK_BUFFER, 0)
        gl.glBindFramebuffer(gl.GL_READ_FRAMEBUFFER, 0)
        self._started += 1
        if self._started - self._taken < len(self._pbos):
            return None
        return self._take()

    def flush(self) -> list[tuple[np.ndarray, float]]:
        """Every copy still in flight, oldest first, with its time (at the end of the show)."""
        self._use_context()
        return [self._take() for _ in range(self._started - self._taken)]

    def _use_context(self) -> None:
        """Make the renderer's GL context current: at the end of the show another window's may be
        (or none, once that window closed), and the buffers live in the renderer's."""
        self.renderer.window.switch_to()

    def _take(self) -> tuple[np.ndarray, float]:
        gl = _gl()
        index = self._taken % len(self._pbos)
        gl.glBindBuffer(gl.GL_PIXEL_PACK_BUFFER, self._pbos[index])
        pointer = gl.glMapBufferRange(gl.GL_PIXEL_PACK_BUFFER, 0, self.size, gl.GL_MAP_READ_BIT)
        out = np.empty((self.height, self.width, 4), np.uint8)
        try:
            if not pointer:
                raise RuntimeError("glMapBufferRange returned no memory")
            ctypes.memmove(out.ctypes.data, pointer, self.size)
        finally:
            gl.glUnmapBuffer(gl.GL_PIXEL_PACK_BUFFER)
            gl.glBindBuffer(gl.GL_PIXEL_PACK_BUFFER, 0)
        self._taken += 1
        out.flags.writeable = False  # handed to several output threads: nobody may change it
        return out, self._times[index]

    def close(self) -> None:
        """Free the buffers (the renderer must still be open)."""
        self._use_context()
        gl = _gl()
        gl.glDeleteBuffers(len(self._pbos), (gl.GLuint * len(self._pbos))(*self._pbos))
        self._pbos = []


def top_first_rgb(rgba: np.ndarray) -> np.ndarray:
    """A read-back RGBA picture (bottom row first) as (H, W, 3) RGB, top row first."""
    return np.ascontiguousarray(rgba[::-1, :, :3])


class Output(Protocol):
    """Something the read-back picture goes to."""

    def offer(self, rgba: np.ndarray, at: float) -> None:
        """Take one picture (RGBA, bottom row first) drawn at time ``at``; never blocks."""
        ...

    def close(self) -> None:
        """Finish what was taken, stop, and log what happened."""
        ...


RECORD_PRESET = "ultrafast"  # x264's cheapest: the show's CPU matters more than the file's size
OUTPUT_NICE = 5  # output threads run this much nicer than the show, so they yield the CPU to it


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority (Linux: a thread has its own nice value, and the
    threads it starts, such as x264's, inherit it), so an encoder or sender competing for the
    cores loses to the display thread, which then keeps its frame rate; elsewhere nothing changes."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + OUTPUT_NICE))
    except (AttributeError, OSError):
        pass


class _OutputThread:
    """A worker thread that takes pictures from a :class:`DropQueue` and hands each to
    :meth:`_send`; the first error is logged once and the output stops (the show goes on)."""

    what = "output"

    def __init__(self, queue_frames: int) -> None:
        self.queue: DropQueue[tuple[np.ndarray, float]] = DropQueue(queue_frames)
        self.offered = 0  # pictures offered (display thread)
        self.sent = 0  # pictures written or sent (worker thread)
        self.error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.what, daemon=True)

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def offer(self, rgba: np.ndarray, at: float) -> None:
        """Queue the picture for the worker; dropped and counted when the worker is behind."""
        self.offered += 1
        self.queue.put((rgba, at))

    @property
    def dropped(self) -> int:
        """Pictures dropped because the worker was behind (or had stopped on an error)."""
        return self.queue.dropped

    def _run(self) -> None:
        _lower_priority()
        while True:
            item = self.queue.get(POLL_S)
            if item is None:
                if self._stop.is_set():
                    return
                continue
            if self.error:
                continue  # failed: keep emptying the queue so the display thread never notices
            try:
                self._send(*item)
                self.sent += 1
            except Exception as exc:  # a full disk, a network error: this output stops, the show goes on
                self.error = f"{exc!r}"
                _LOGGER.error("%s failed (%s); it stops, the show goes on", self.what, self.error)

    def _send(self, rgba: np.ndarray, at: float) -> None:
        raise NotImplementedError

    def _finish(self, timeout: float) -> None:
        """Let the worker empty its queue (up to ``timeout`` seconds), then stop it."""
        self._stop.set()
        self._thread.join(timeout)


def open_record_writer(path: str | Path, width: int, height: int, fps: int) -> Any:
    """The ``--record`` file's :class:`~live.visuals.video.VideoWriter` (written under a
    temporary name until closed); a path or format that cannot be written is a UserError."""
    from live.visuals.video import VideoWriter

    try:
        return VideoWriter(path, width, height, fps, preset=RECORD_PRESET)
    except (OSError, ValueError) as exc:  # PyAV's errors for a bad path or format are both
        raise UserError(f"--record {path}: cannot write a video there ({exc})") from None


def import_ndi() -> Any:
    """cyndilib's sender module (what ``--ndi`` needs); a UserError when it is not installed."""
    try:
        import cyndilib.sender
    except ImportError as exc:
        raise UserError(f"--ndi needs the cyndilib package (pip install cyndilib): {exc}") from None
    return cyndilib.sender


class Recorder(_OutputThread):
    """``--record FILE``: each read-back picture into a video file (:class:`VideoWriter`) on a
    writer thread, timed by when it was drawn: the file plays at the show's speed even when the
    show ran slower than ``fps`` or the writer dropped frames. A picture that would land more
    than one frame early is skipped (a show drawing faster than the file's rate).
    ``writer`` is anything with ``write(rgb, pts)``, ``close()`` and ``abort()``."""

    what = "recorder"

    def __init__(self, path: str | Path, width: int, height: int, fps: int, *, writer: Any = None,
                 queue_frames: int = QUEUE_FRAMES) -> None:
        super().__init__(queue_frames)
        writer = open_record_writer(path, width, height, fps) if writer is None else writer
        self.path, self.writer, self.fps = Path(path), writer, fps
        self.skipped = 0  # pictures within the previous one's 1/fps (display thread)
        self._first: float | None = None
        self._last_pts = -1
        self.start()

    def offer(self, rgba: np.ndarray, at: float) -> None:
        """Queue the picture with its time in frames since the first; skip one that falls in the
        previous picture's frame."""
        if self._first is None:
            self._first = at
        exact = (at - self._first) * self.fps
        # A frame drawn late and the one drawn at once after it share a slot: the second takes the
        # next slot, at most one frame early; a show drawing faster than the file's rate skips.
        pts = max(round(exact), self._last_pts + 1)
        if pts > exact + 1.001:  # (a thousandth: float rounding of the times)
            self.skipped += 1
            return
        self._last_pts = pts
        super().offer(rgba, pts)

    def _send(self, rgba: np.ndarray, pts: float) -> None:
        self.writer.write(top_first_rgb(rgba), int(pts))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, close the file and log frames written and dropped. A recording
        that failed (a full disk) is one log line here, never an exception: what of it plays is
        kept as ``NAME.partial.EXT`` (see :meth:`VideoWriter.salvage`), nothing under its name."""
        self._finish(timeout)
        failed_before = bool(self.error)
        if not self.error:
            try:
                self.writer.close()
            except Exception as exc:  # noqa: BLE001 - the file is what failed: the show still ends well
                self.error = f"{exc!r}"
        if self.error:
            salvage = getattr(self.writer, "salvage", None)
            kept = salvage() if salvage is not None else self.writer.abort()
            what = f"what plays of it is kept in {kept}" if kept else "nothing playable was kept"
            # The failure itself was logged when it happened; this line says what is left of it.
            (_LOGGER.warning if failed_before else _LOGGER.error)(
                "recording %s failed (%s); %s", self.path, self.error, what)
        else:
            _LOGGER.info("recorded %s: %d frames written, %d dropped (the writer was behind), %d skipped "
                         "(drawn faster than %d a second)", self.path, self.sent, self.dropped, self.skipped, self.fps)


class NdiSender(_OutputThread):
    """``--ndi NAME``: each read-back picture sent as the NDI source NAME (cyndilib) on a sender thread."""

    what = "NDI sender"

    def __init__(self, name: str, width: int, height: int, fps: int, *, queue_frames: int = 2) -> None:
        super().__init__(queue_frames)
        ndi = import_ndi()
        from cyndilib.video_frame import VideoSendFrame
        from cyndilib.wrapper.ndi_structs import FourCC

        if not name.strip():
            raise UserError("--ndi: give the NDI source a name")
        self.name = name
        frame = VideoSendFrame()
        frame.set_resolution(width, height)
        frame.set_frame_rate(Fraction(int(fps), 1))
        frame.set_fourcc(FourCC.RGBA)
        # Not clocked by the sender: pictures come at the show's own rate.
        self._sender = ndi.Sender(name, clock_video=False)
        self._sender.set_video_frame(frame)
        try:
            self._sender.open()
        except Exception as exc:  # the NDI runtime refused (no network stack, a bad name)
            raise UserError(f"--ndi {name}: cannot open an NDI sender ({exc})") from None
        self._buffer = np.empty((height, width, 4), np.uint8)  # the sender thread's own
        self.start()

    def _send(self, rgba: np.ndarray, at: float) -> None:
        np.copyto(self._buffer, rgba[::-1])
        self._buffer[..., 3] = 255  # opaque: receivers composite with alpha
        self._sender.write_video(self._buffer.reshape(-1))

    def close(self, timeout: float = 2.0) -> None:
        """Stop sending and log frames sent and dropped."""
        self._finish(timeout)
        self._sender.close()
        _LOGGER.info("NDI %s: %d frames sent, %d dropped%s", self.name, self.sent, self.dropped,
                     f"; failed: {self.error}" if self.error else "")


class StageOutputs:
    """The output picture, read back once a frame (:class:`AsyncReadback`) and offered to each
    output. :meth:`capture` runs on the display thread right after a frame is drawn; ``clock``
    times the pictures (perf_counter, the live show's clock)."""

    def __init__(self, renderer: Any, outputs: list[Output], clock: Callable[[], float] = time.perf_counter) -> None:
        self.outputs, self.clock = outputs, clock
        self.readback = AsyncReadback(renderer)
        self.capture_s = 0.0  # display-thread seconds spent in capture(), for the benchmark
        self.frames = 0

    def capture(self) -> None:
        """Start reading the frame just drawn; offer the one read a frame ago to every output."""
        started = time.perf_counter()
        picture = self.readback.capture(self.clock())
        if picture is not None:
            for output in self.outputs:
                output.offer(*picture)
        self.frames += 1
        self.capture_s += time.perf_counter() - started

    def close(self) -> None:
        """Offer the last pictures, free the buffers, close every output (each logs its counts)."""
        try:
            for picture in self.readback.flush():
                for output in self.outputs:
                    output.offer(*picture)
            self.readback.close()
        finally:
            for output in self.outputs:
                output.close()


def open_outputs(renderer: Any, *, record: str | None = None, ndi: str | None = None,
                 fps: int = 60) -> StageOutputs | None:
    """The outputs asked for (a recorder, an NDI sender), or None when none is; a path that
    cannot be written or NDI that cannot start is a UserError, and nothing is left open."""
    outputs: list[Output] = []
    try:
        if record:
            outputs.append(Recorder(record, renderer.width, renderer.height, fps))
        if ndi:
            outputs.append(NdiSender(ndi, renderer.width, renderer.height, fps))
    except BaseException:
        for output in outputs:
            output.close()
        raise
    return StageOutputs(renderer, outputs) if outputs else None
