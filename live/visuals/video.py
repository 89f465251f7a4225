"""Video file output for `render` and the headless demo: H.264 frames with the audio muxed in (PyAV)."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

_LOGGER = logging.getLogger(__name__)


class VideoWriter:
    """Writes RGB frames at a fixed rate to an MP4 and, on close, the matching audio.

    The file is written under a temporary name and renamed on close, so an interrupted render
    never leaves a truncated file under the name the user asked for; :meth:`abort` removes it,
    :meth:`salvage` keeps what of it plays under a name that says it is partial.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: int, crf: int = 20,
                 preset: str = "veryfast") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._container = av.open(str(self._tmp), mode="w")
        self._closed = False
        try:
            self._video = self._container.add_stream("libx264", rate=fps)
            self._video.width, self._video.height = width, height
            self._video.pix_fmt = "yuv420p"
            # x264 speed preset: ultrafast..veryslow. mbtree off: with it, x264's AVX-512 code gave
            # different bits for the same frames from one encode to the next (whenever the frame's
            # 16x16 block count is not a multiple of 16, e.g. 64x48 or 160x96; it reads memory it
            # never wrote), so a render was not reproducible. Without it the bits depend on the
            # frames alone; the cost is a little size at the same crf (ultrafast never used it).
            self._video.options = {"crf": str(crf), "preset": preset, "mbtree": "0"}
        except BaseException:
            self.abort()
            raise
        self._audio = None
        self.fps = fps
        self.frames = 0

    def add_audio(self, samples: np.ndarray, samplerate: int) -> None:
        """Set the soundtrack: float32 (frames, channels) in -1..1. Call before the first frame."""
        layout = "stereo" if samples.shape[1] >= 2 else "mono"
        self._audio = self._container.add_stream("aac", rate=samplerate, layout=layout)
        self._audio_samples = np.ascontiguousarray(samples[:, : 2 if layout == "stereo" else 1].T, dtype=np.float32)
        self._audio_rate = samplerate

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Append one (height, width, 3) uint8 frame. ``pts``: its time in frames (1/fps) when
        frames are not evenly spaced (a live recording that skips or drops some); must increase."""
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if pts is not None:
            frame.pts = pts
        for packet in self._video.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flush video, write the audio cut to the video's length, and move the file into place."""
        for packet in self._video.encode():
            self._container.mux(packet)
        if self._audio is not None:
            duration = self.frames / self.fps
            self._write_audio(self._audio_samples[:, : int(duration * self._audio_rate)])
        self._closed = True
        self._container.close()
        self._tmp.replace(self.path)
        return self.path

    def _write_audio(self, planar: np.ndarray) -> None:
        chunk = 1024
        layout = "stereo" if planar.shape[0] == 2 else "mono"
        for start in range(0, planar.shape[1], chunk):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start : start + chunk]),
                                               format="fltp", layout=layout)
            frame.sample_rate = self._audio_rate
            frame.pts = start
            frame.time_base = Fraction(1, self._audio_rate)
            for packet in self._audio.encode(frame):
                self._container.mux(packet)
        for packet in self._audio.encode():
            self._container.mux(packet)

    def abort(self) -> None:
        """Stop without producing the output file; never raises (it runs after something failed)."""
        self._close_quietly()
        self._tmp.unlink(missing_ok=True)

    def salvage(self) -> Path | None:
        """Stop after a failure (a full disk, a lost drive), keeping what was written if it
        plays: the temporary file moved to ``NAME.partial.EXT`` (a Matroska file plays up to its
        last frame; an MP4 without its index does not, and is removed); its path, or None. Never raises."""
        self._close_quietly()
        kept = self.path.with_name(f"{self.path.stem}.partial{self.path.suffix}")
        try:
            if self._tmp.is_file() and playable(self._tmp):
                self._tmp.replace(kept)
                return kept
        except OSError as exc:
            _LOGGER.debug("cannot keep %s: %s", self._tmp, exc)
        self._tmp.unlink(missing_ok=True)
        return None

    def _close_quietly(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._container.close()
        except Exception as exc:  # noqa: BLE001 - the container's trailer could not be written: the file is what failed
            _LOGGER.debug("closing %s after a failure: %r", self._tmp, exc)


def playable(path: str | Path) -> bool:
    """True when the video file opens and its first frame decodes."""
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                return True
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        pass
    return False


def probe(path: str | Path) -> dict:
    """Frame count, size, rate and whether there is audio, read back from a video file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {"frames": frames, "width": stream.width, "height": stream.height,
                "fps": float(stream.average_rate or 0), "audio": bool(container.streams.audio)}
