"""What ``precompute`` is asked to do (:class:`PrecomputeOptions`), declared once and importing
nothing heavy, so the command line builds its flags from it without loading torch; the work is
:mod:`live.library.precompute`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from live.errors import UserError

MAX_BATCH = 64  # images per pipeline call, at most


@dataclass(frozen=True)
class PrecomputeOptions:
    """What to precompute and how: the values behind the ``precompute`` command's flags.

    ``presets`` are names (``presets/NAME.toml``) or .toml paths; ``all_presets`` takes every preset
    in the folder and skips unusable ones instead of stopping. ``model``/``vae``/``from_images``
    override the presets' own. ``presets_dir``/``keyframes_dir`` of None follow :mod:`live.paths`.
    """

    presets: tuple[str, ...] = ()
    all_presets: bool = False
    model: str = ""
    vae: str = ""
    device: str = "auto"
    fp32: bool = False
    batch_size: int = 4
    allow_download: bool = False
    from_images: str = ""
    preview: bool = False
    force: bool = False
    progress: bool = True
    presets_dir: str | Path | None = None
    keyframes_dir: str | Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "presets", tuple(self.presets))
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise UserError(f"--batch-size {self.batch_size} is out of range; use 1..{MAX_BATCH}")
