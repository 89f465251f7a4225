"""Reading the small files users drop into the show's folders, safely.

A folder the show reads (presets, mappings, keyframes) may hold anything: a FIFO that blocks
``open()`` forever, ``/dev/zero`` behind a symlink that never ends, a file of gigabytes, or a
TOML document nested so deep that the parser overflows the stack. Every reader goes through
:func:`read_bytes` (or :func:`open_regular`, for a file streamed), which opens without blocking, refuses what is not a regular file, checks
the size from the file itself before reading, and then reads exactly that many bytes, so no
buffer of the limit's size is ever asked for.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any, BinaryIO

from live.errors import UserError

MAX_TEXT_BYTES = 1024 * 1024  # presets and mappings are a few KB; anything near this is not one


class FileRefused(UserError):
    """The file cannot be used; the message says why in a few words, without the path (the caller
    adds its own ``where``)."""


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """The regular file ``path`` opened for reading in binary, for a reader that streams it (a
    file too big to read whole); the caller closes it.

    FileRefused when it is not a regular file (FIFO, device, folder, socket) or cannot be opened;
    FileNotFoundError is kept as such (callers often have a better message for a missing file)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(os.fspath(path), flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise FileRefused(f"cannot be opened ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise FileRefused("is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise FileRefused("is not a regular file (a FIFO, device or socket); only plain files are read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: str | os.PathLike, max_bytes: int) -> bytes:
    """All bytes of the regular file ``path``, at most ``max_bytes``.

    FileRefused when it is missing, not a regular file (FIFO, device, folder, socket), larger
    than ``max_bytes``, or unreadable. FileNotFoundError is kept as such (callers often have a
    better message for a missing file)."""
    with open_regular(path) as fh:
        try:
            size = os.fstat(fh.fileno()).st_size
            if size > max_bytes:
                raise FileRefused(f"is {size:,} bytes, over the limit of {max_bytes:,}")
            # exactly the size fstat gave: a file growing while read is cut, never unbounded
            return fh.read(size)
        except OSError as exc:
            raise FileRefused(f"cannot be read ({exc.strerror or exc})") from None


def read_text(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (see :func:`read_bytes`); FileRefused when it
    is not UTF-8."""
    data = read_bytes(path, max_bytes)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"is not UTF-8 text (byte {exc.start})") from None


def load_toml(path: str | os.PathLike, max_bytes: int = MAX_TEXT_BYTES) -> dict[str, Any]:
    """The TOML document in ``path``; FileRefused with a one-line reason for anything wrong with
    it: not a regular file, too large, not UTF-8, not valid TOML, or nested too deep to parse."""
    return parse_toml(read_text(path, max_bytes))


def parse_toml(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, with its errors as one-line FileRefused (a deeply nested document
    overflows the parser's recursion: that is the file's fault, not a crash)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileRefused(f"is not valid TOML ({exc})") from None
    except RecursionError:
        raise FileRefused("is nested too deeply to be a preset or mapping (not valid here)") from None


def write_whole(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` through a temporary file beside it, flushed to
    disk and renamed into place: an interruption (Ctrl-C, SIGTERM, a full disk) leaves the old
    file or none, never half of one, nor the temporary. OSError as raised by the system."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def is_regular_file(path: Path) -> bool:
    """True when ``path`` is (or links to) a regular file; never opens it, never blocks."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False
