"""Tiny test videos written with PyAV: solid colours, so a test can tell a clip's frames apart."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def write_clip(path: Path, colours: list[tuple[int, int, int]], fps: int = 10, size: tuple[int, int] = (40, 30)) -> Path:
    """An H.264 video with one solid frame per colour, at ``fps``; ``size`` is (width, height)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "10"}
        for colour in colours:
            img = np.empty((size[1], size[0], 3), np.uint8)
            img[:] = colour
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
