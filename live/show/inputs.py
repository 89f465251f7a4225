"""What ``live`` and ``render`` check before anything starts: every file, folder and library a
flag names, so that a mistake is one ``error:`` line and no window, thread, port or stream has
to be stopped. (``check``, the preflight, tries the rest: devices, ports, decode times.)"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from live import paths
from live.errors import UserError
from live.values import parse_size

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inputs:
    """What :func:`check_inputs` read while checking: the ``--audio`` file's samples and rate,
    the MIDI mapping (None when no MIDI input is asked for), the ``--set`` (None without it)."""

    audio: tuple[np.ndarray, int] | None = None
    mapping: Any = None
    matcher: Any = None  # the --set, loaded for recognition (live.library.sets.SetIndex)


def check_inputs(s: Any) -> Inputs:
    """Every file, folder and library a flag of ``live`` names, checked before anything starts
    (no window, thread, port or stream is open yet), so a mistake is one ``error:`` line: the
    folders, the ``--audio`` file (read), the MIDI mapping (read, checked against the shaders),
    the ``--model`` and ``--tiny-model`` folders (their configs; the weights load later), the
    ``--clip`` (its first frame), the ``--record`` file (opened under its temporary name and
    removed again), cyndilib for ``--ndi`` and the ``--set`` (loaded: the show uses it). Raises the first mistake as a UserError."""
    from live.visuals.decoders import find_autoencoder

    for kind, given in (("presets", s.presets_dir), ("shaders", s.shaders_dir), ("keyframes", s.keyframes_dir),
                        ("mappings", s.mappings_dir)):
        _check_folder(kind, given)
    check_preset_name(s.preset, s.presets_dir)
    inputs: dict[str, Any] = {}
    if s.audio:
        from live.audio.sources import load_audio

        inputs["audio"] = load_audio(s.audio)
    inputs["mapping"] = s.midi_mapping()  # refused when asked for by a flag; None: no MIDI
    inputs["matcher"] = load_set(s.set, s.sets_dir)  # a missing or empty set is refused before any window
    if s.decoder != "approx":
        if not s.model:
            raise UserError(f"--decoder {s.decoder} needs --model: the model folder (with vae/) or a "
                            f"{'TAESD' if s.decoder == 'tiny' else 'VAE'} folder; or use --decoder approx")
        find_autoencoder(s.decoder, s.model)
    elif s.model:
        check_folder_flag("--model", s.model)  # unused by approx, but a mistake all the same
    if s.tiny_model:
        find_autoencoder("tiny", s.tiny_model)
    _check_outputs(s)
    return Inputs(**inputs)


def load_set(setdir: str | None, sets_dir: str | None) -> Any:
    """The prepared set ``--set`` names, loaded for recognition (``live.library.sets.SetIndex``), or
    None without ``--set``. Tracks left out (broken files) are logged, one line each; SetError
    (one line) for a set that is missing or has no usable track."""
    if not setdir:
        return None
    from live.library.sets import SetIndex

    index = SetIndex.load(paths.set_dir(setdir, sets_dir))
    for line in index.skipped:
        _LOGGER.warning("left out of the set: %s", line)
    _LOGGER.info("set %s: %d tracks", setdir, len(index))
    return index


def check_preset_name(name: str, presets_dir: str | None) -> None:
    """``--preset NAME``: the presets folder has NAME.toml (whether it is usable, the bank says)."""
    folder = paths.presets_dir(presets_dir)
    if not (folder / f"{name}.toml").is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.toml"))) or "none"
        raise UserError(f"--preset {name}: no {name}.toml in {folder} (presets there: {known})")


def check_folder_flag(flag: str, value: str) -> None:
    """``flag value`` names an existing folder."""
    path = Path(value).expanduser()
    if not path.is_dir():
        raise UserError(f"{flag} {value}: {'not a folder' if path.exists() else 'no such folder'}")


def check_folders(**given: str | None) -> None:
    """The ``--KIND-dir`` flags (presets, shaders, keyframes, mappings) name folders (see :func:`_check_folder`)."""
    for kind, value in given.items():
        _check_folder(kind, value)


def _check_folder(kind: str, given: str | None) -> None:
    """The ``--KIND-dir`` folder (or ``LIVE_KIND_DIR``) is a folder; one that is read (presets,
    shaders; mappings named by a flag) must exist. The keyframes folder is a cache the show
    writes: a new one is made on first use."""
    folder = paths.folder(kind, given)
    flag = f"--{kind}-dir {given}" if given else f"{kind} folder {folder}"
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{flag}: not a folder")
    if not folder.exists() and (kind in ("presets", "shaders") or (given and kind == "mappings")):
        raise UserError(f"{flag}: no such folder")


def _check_outputs(s: Any) -> None:
    """``--clip``: its first frame decodes. ``--record``: the file can be opened for writing
    (under its temporary name, removed again). ``--ndi``: cyndilib loads."""
    if s.clip:
        from live.visuals.clips import ClipReader

        ClipReader(s.clip, *parse_size(s.size))
    if s.record:
        from live.visuals.outputs import open_record_writer

        open_record_writer(s.record, *parse_size(s.size), s.fps).abort()
    if s.ndi:
        from live.visuals.outputs import import_ndi

        import_ndi()
