"""The file and folder flags of the benchmarks, checked before any work, and their JSON reports
written whole.

A benchmark may run for minutes (``bench soak`` for half an hour): a flag that names a missing
input, or an output that cannot be written, must be one ``error:`` line at the start, not a
traceback at the end after the figures were measured. A report is written through a temporary
file renamed into place (the one rule, :func:`live.files.write_whole`), so an
interruption never leaves half a JSON file under its final name."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from live.errors import UserError
from live.files import write_whole


def check_output_file(flag: str, value: str | os.PathLike) -> Path:
    """``value`` as the path of a file the benchmark writes at its end, refused now when it could
    not be written then: a folder, under something that is not a folder, or where the user may not
    write. Missing folders above it are fine (made when written)."""
    path = Path(value)
    if path.is_dir():
        raise UserError(f"{flag} {value}: is a folder; give a file name such as {path / 'report.json'}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{flag} {value}: cannot write it (permission denied)")
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:  # the first folder that exists is where it is made
        folder = folder.parent
    if not folder.is_dir():
        raise UserError(f"{flag} {value}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {value}: cannot write in {folder} (permission denied)")
    return path


def check_folder(flag: str, value: str | os.PathLike) -> Path:
    """``value`` as an existing folder, or a one-line UserError naming the flag (the show's rule)."""
    from live.show.inputs import check_folder_flag

    check_folder_flag(flag, str(value))
    return Path(value)


def check_audio_file(flag: str, value: str | os.PathLike) -> Path:
    """``value`` as an audio file that soundfile can read (a regular file with a known format), or
    a one-line UserError naming the flag."""
    import soundfile as sf

    path = Path(value)
    if not path.exists():
        raise UserError(f"{flag} {value}: no such file")
    if not path.is_file():
        raise UserError(f"{flag} {value}: is not a regular file")
    try:
        sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as exc:
        reason = getattr(exc, "error_string", "") or str(exc).splitlines()[0]
        raise UserError(f"{flag} {value}: not an audio file soundfile can read ({reason})") from None
    return path


def write_json(flag: str, value: str | os.PathLike, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``value`` whole (temporary file, then rename); a failure
    (a full disk) is a one-line UserError naming the flag, and leaves no temporary file."""
    path = Path(value)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_whole(path, json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise UserError(f"{flag} {value}: cannot write it ({exc.strerror or exc})") from None
    return path
