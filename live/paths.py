"""Where the show's folders are: one rule for every command.

``presets/``, ``keyframes/``, ``shaders/``, ``mappings/`` and ``sets/`` are the repository's by default.
An environment variable (``LIVE_PRESETS_DIR``, ``LIVE_KEYFRAMES_DIR``, ``LIVE_SHADERS_DIR``,
``LIVE_MAPPINGS_DIR``, ``LIVE_SETS_DIR``) moves one for every command, and a command-line flag (``--presets-dir``...)
moves it for one run; relative paths are taken from the working folder.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("presets", "keyframes", "shaders", "mappings", "sets")


def folder(kind: str, override: str | os.PathLike | None = None) -> Path:
    """The folder of ``kind`` (one of :data:`FOLDERS`): ``override`` when given, else the
    ``LIVE_<KIND>_DIR`` environment variable, else the repository's own folder."""
    if kind not in FOLDERS:
        raise ValueError(f"unknown folder kind {kind!r}; one of {', '.join(FOLDERS)}")
    chosen = override or os.environ.get(f"LIVE_{kind.upper()}_DIR")
    # `~` as the shell would have it: a quoted one, one after `--sets-dir=`, or one in a launcher's environment
    return Path(chosen).expanduser() if chosen else ROOT / kind


def presets_dir(override: str | os.PathLike | None = None) -> Path:
    """The presets folder (see :func:`folder`)."""
    return folder("presets", override)


def keyframes_dir(override: str | os.PathLike | None = None) -> Path:
    """The keyframes folder (see :func:`folder`)."""
    return folder("keyframes", override)


def shaders_dir(override: str | os.PathLike | None = None) -> Path:
    """The shaders folder (see :func:`folder`)."""
    return folder("shaders", override)


def mappings_dir(override: str | os.PathLike | None = None) -> Path:
    """The MIDI mappings folder (see :func:`folder`)."""
    return folder("mappings", override)


def sets_dir(override: str | os.PathLike | None = None) -> Path:
    """The prepared sets folder (see :func:`folder`)."""
    return folder("sets", override)


def set_dir(name: str | os.PathLike, override: str | os.PathLike | None = None) -> Path:
    """The set folder ``name``: itself when it is a path with a folder part (``./gig``,
    ``/media/usb/gig``), else that name in the sets folder (see :func:`folder`); a set of that
    name in the working folder only when the sets folder has none. A folder there that holds no
    set (the DJ's music folder called ``gig``) is never taken for one: `set add` would write into it."""
    path = Path(name).expanduser()
    if len(path.parts) > 1:
        return path
    in_sets = sets_dir(override) / path
    if not in_sets.is_dir() and path.is_dir() and _holds_a_set(path):
        return path
    return in_sets


def _holds_a_set(path: Path) -> bool:
    """True when ``path`` has a prepared track (a folder with a ``track.json``, see live.library.sets)."""
    try:
        return any((p / "track.json").is_file() for p in path.iterdir() if p.is_dir())
    except OSError:
        return False


DEFAULT_MAPPING = "generic.toml"


def mapping_file(name: str | os.PathLike = DEFAULT_MAPPING, override: str | os.PathLike | None = None) -> Path:
    """The MIDI mapping file ``name``: itself when it is an existing file or a path with a folder
    part (``mappings/my.toml``), else that name in the mappings folder (see :func:`folder`), where
    ``midi learn`` creates it when it is new; there ``.toml`` may be left out (``nu`` is
    ``nu.toml``), as with preset names."""
    path = Path(name)
    if path.exists() or len(path.parts) > 1:
        return path
    if path.suffix.lower() != ".toml":
        path = path.with_name(path.name + ".toml")
    return mappings_dir(override) / path


def file_name(path: str | os.PathLike, limit: int = 64) -> str:
    """A name for an audio file among the show's (a set's track, a song preset): the file's stem in
    lower-case ASCII, accents dropped (``Déjà Vu`` is ``deja-vu`` however it is spelt in Unicode),
    anything else as dashes, at most ``limit`` characters. Letters with no ASCII spelling
    (``Кино``, ``東京``) add a short hash of the stem, so two such titles never share a name and
    the same file always gets the same one."""
    stem = unicodedata.normalize("NFC", Path(path).stem)
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()
    name = re.sub(r"[^a-z0-9]+", "-", plain).strip("-")
    lost = sum(c.isalnum() for c in unicodedata.normalize("NFKD", stem)) - sum(c.isalnum() for c in plain)
    if not lost:
        return name[:limit] or "track"
    tag = hashlib.sha1(stem.encode()).hexdigest()[:8]
    return f"{(name or 'track')[:limit - 9]}-{tag}"
