"""Small pictures of the presets for the operator's preset list, made before the show or during it.

``preview`` (the offline render path) writes one per preset to ``KEYFRAMES/.thumbnails/NAME.png``;
during the show :class:`Thumbnails` loads those on a background thread (never on the render
thread) and, for a preset without one, keeps a subsampled copy of the first frame the show
decoded of it. The HUD gets a dict name -> small RGB array, replaced whole when one is added.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from live import paths
from live.files import FileRefused, read_bytes
from live.handoff import LatestSlot

_LOGGER = logging.getLogger(__name__)

THUMB_SIZE = (192, 108)  # at most this wide and high, the picture's aspect kept
MAX_THUMB_BYTES = 2 * 1024 * 1024  # a thumbnail file larger than this is not one


def thumbnail_file(name: str, keyframes_dir: str | os.PathLike | None = None) -> Path:
    """Where ``preview`` keeps preset ``name``'s thumbnail (a dot folder: no preset is named that)."""
    return paths.keyframes_dir(keyframes_dir) / ".thumbnails" / f"{name}.png"


def make_thumbnail(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (height, width, 3) uint8 scaled to fit :data:`THUMB_SIZE`, smoothly (area average)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    image.thumbnail(THUMB_SIZE, Image.Resampling.BOX)
    return np.asarray(image.convert("RGB"))


def quick_thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A subsampled copy of ``rgb`` no larger than about :data:`THUMB_SIZE` (tens of microseconds:
    cheap enough for the render thread, once per preset)."""
    step = max(1, int(np.ceil(max(rgb.shape[1] / THUMB_SIZE[0], rgb.shape[0] / THUMB_SIZE[1]))))
    return np.ascontiguousarray(rgb[::step, ::step, :3])


def save_thumbnail(rgb: np.ndarray, path: Path) -> None:
    """Write ``rgb``'s thumbnail to ``path`` as PNG (a temp file renamed: never half written)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            Image.fromarray(make_thumbnail(rgb)).save(out, format="PNG")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_thumbnail(path: Path) -> np.ndarray | None:
    """The thumbnail in ``path``, or None where there is none or it is not a picture (logged at debug)."""
    from PIL import Image

    try:
        data = read_bytes(path, MAX_THUMB_BYTES)
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail(THUMB_SIZE)
            return np.asarray(image.convert("RGB"))
    except (FileNotFoundError, FileRefused, OSError, ValueError) as exc:
        _LOGGER.debug("no thumbnail from %s: %s", path, exc)
        return None


class Thumbnails:
    """name -> small RGB picture for the HUD's preset list (see the module). :meth:`get` is cheap
    and never waits: the files are read on a daemon thread, started for names not seen before."""

    def __init__(self, keyframes_dir: str | os.PathLike | None = None) -> None:
        self.keyframes_dir = keyframes_dir
        self._slot: LatestSlot[dict[str, np.ndarray]] = LatestSlot({})
        self._lock = threading.Lock()  # held only to add one picture (two writers: loader and caller)
        self._asked: set[str] = set()
        self._loader: threading.Thread | None = None

    def get(self, names: list[str], live: str = "", frame: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The thumbnails known now; ``frame`` (a decoded frame of preset ``live``) becomes that
        preset's thumbnail when it has none; names not seen before are looked up on disk meanwhile."""
        new = [n for n in names if n not in self._asked]
        if new and (self._loader is None or not self._loader.is_alive()):
            self._asked.update(new)
            self._loader = threading.Thread(target=self._load, args=(new,), name="thumbnails", daemon=True)
            self._loader.start()
        known = self._slot.get() or {}
        if live and frame is not None and live not in known and live in self._asked and self._loader_done():
            self._add(live, quick_thumbnail(frame))
            known = self._slot.get() or {}
        return known

    def _loader_done(self) -> bool:
        # The file (made offline, through the show's own render) wins over a live frame: wait for it.
        return self._loader is None or not self._loader.is_alive()

    def _load(self, names: list[str]) -> None:
        for name in names:
            thumb = load_thumbnail(thumbnail_file(name, self.keyframes_dir))
            if thumb is not None:
                self._add(name, thumb)

    def _add(self, name: str, thumb: np.ndarray) -> None:
        thumb.flags.writeable = False
        with self._lock:
            self._slot.put({**(self._slot.get() or {}), name: thumb})
