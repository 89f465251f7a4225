"""The preloaded bank: every preset's keyframes, loaded and checked once at show start."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from live import paths
from live.errors import UserError
from live.library.images import ensure_builtin_keyframes
from live.library.keyframes import KeyframeError, KeyframeSet, first_line, load_preset_keyframes
from live.library.presets import (
    APPROX_MODEL,
    SCALING_FACTORS,
    Preset,
    PresetError,
    as_written,
    load_presets,
)

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    name: str
    preset: Preset | None
    kset: KeyframeSet | None
    reason: str


class PresetBank:
    """Every preset's keyframes, loaded and checked once at show start, on the decode device.

    Read-only afterwards, so the main thread may read it while other threads run. A preset
    whose file is bad, whose keyframes are missing/corrupt/stale, or whose latents do not fit
    the decoder (family, channels, scaling) is unavailable with a one-line reason; the rest load.
    """

    def __init__(self, entries: dict[str, _Entry], family: str, latent_channels: int, device: str) -> None:
        self._entries = dict(entries)
        self.family = family
        self.latent_channels = latent_channels
        self.device = device

    @classmethod
    def load(cls, presets_dir: str | Path, keyframes_dir: str | Path, latent_channels: int = 4,
             family: str = "sd1", device: str | torch.device = "cpu",
             scaling_factor: float | None = None) -> "PresetBank":
        """Load every preset in ``presets_dir`` and its keyframes from ``keyframes_dir``, checked for the decoder.

        ``family``/``latent_channels``/``scaling_factor`` describe the decoder the show will use:
        latents of another family (e.g. SDXL latents with an SD 1.x VAE) are refused by name.
        Approx presets with images build their keyframes here when missing or stale.
        """
        if family not in SCALING_FACTORS:
            raise UserError(f"unknown latent family {family!r}; choose {' or '.join(SCALING_FACTORS)}")
        started = time.perf_counter()
        good, bad = load_presets(presets_dir)
        entries: dict[str, _Entry] = {n: _Entry(n, None, None, reason) for n, reason in bad.items()}
        for name, preset in good.items():
            try:
                if preset.generation.model == APPROX_MODEL:
                    kset = ensure_builtin_keyframes(preset, keyframes_dir)
                else:
                    kset = load_preset_keyframes(preset, keyframes_dir)
                _fits_decoder(kset, family, latent_channels, scaling_factor)
                if str(device) != "cpu":
                    kset = KeyframeSet(kset.latents.to(device), kset.meta, kset.path)
                entries[name] = _Entry(name, preset, kset, "")
            except (KeyframeError, PresetError) as exc:
                _LOGGER.warning("preset %s unavailable: %s", name, exc)
                entries[name] = _Entry(name, preset, None, str(exc))
            except Exception as exc:  # noqa: BLE001 - one broken preset must not stop the show loading
                _LOGGER.exception("preset %s unavailable: unexpected error", name)
                entries[name] = _Entry(name, preset, None, f"{as_written(preset.path)}: unexpected error while loading "
                                                           f"keyframes ({exc.__class__.__name__}: {first_line(exc)})")
        bank = cls(dict(sorted(entries.items())), family, latent_channels, str(device))
        _LOGGER.info("preset bank: %d of %d presets ready (%.2f s)", len(bank.names()), len(entries),
                     time.perf_counter() - started)
        return bank

    def names(self) -> list[str]:
        """Names of the presets that are ready to show."""
        return [n for n, e in self._entries.items() if e.kset is not None]

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None or entry.kset is None:
            why = f" ({entry.reason})" if entry is not None else ""
            raise UserError(f"preset {name!r} is not available{why}; available: {', '.join(self.names()) or 'none'}")
        return entry

    def get(self, name: str) -> tuple[Preset, torch.Tensor]:
        """The preset and its latents (N, C, h, w) on the bank's device; UserError lists the available ones."""
        entry = self._entry(name)
        return entry.preset, entry.kset.latents  # type: ignore[union-attr,return-value]

    def keyframe_set(self, name: str) -> KeyframeSet:
        """The full keyframe set (latents, metadata with scaling factor) of an available preset."""
        return self._entry(name).kset  # type: ignore[return-value]

    def status(self) -> list[dict[str, Any]]:
        """One row per preset file: name, ok, reason, keyframes, bytes, and family/size/model when known."""
        rows = []
        for name, e in self._entries.items():
            g = e.preset.generation if e.preset else None
            rows.append({
                "name": name,
                "ok": e.kset is not None,
                "reason": e.reason,
                "keyframes": int(e.kset.latents.shape[0]) if e.kset is not None else 0,
                "bytes": e.kset.nbytes if e.kset is not None else 0,
                "family": e.kset.meta.get("family") if e.kset is not None else (g.family if g else ""),
                "size": f"{g.width}x{g.height}" if g else "",
                "model": g.model if g else "",
            })
        return rows


def _fits_decoder(kset: KeyframeSet, family: str, latent_channels: int, scaling_factor: float | None) -> None:
    """KeyframeError when the stored latents cannot be decoded by the show's decoder."""
    where = as_written(kset.path)
    stored = kset.meta.get("family")
    if stored != family:
        raise KeyframeError(f"{where}: holds {stored} latents, the decoder is {family}; an {family} VAE would show "
                            f"garbage. Use a {stored} model/decoder or precompute this preset with a {family} model")
    if kset.latents.shape[1] != latent_channels:
        raise KeyframeError(f"{where}: latents have {kset.latents.shape[1]} channels, the decoder takes "
                            f"{latent_channels}; precompute with a model of the decoder's family")
    if scaling_factor is not None and abs(kset.scaling_factor - scaling_factor) > 1e-4:
        raise KeyframeError(f"{where}: latents were scaled by {kset.scaling_factor:g}, the decoder's VAE uses "
                            f"{scaling_factor:g}; precompute with the VAE you decode with")


def open_bank(family: str = "sd1", latent_channels: int = 4, device: str | torch.device = "cpu",
              presets_dir: str | Path | None = None, keyframes_dir: str | Path | None = None) -> PresetBank:
    """The bank as the show loads it, for a decoder of ``family`` on ``device``: every preset in
    the presets folder with its keyframes, checked against the family's latent channels and
    scaling factor. The folders follow :mod:`live.paths` (the repository's unless overridden).
    ``live``, ``render`` and ``check`` all load through here, so ``check`` sees what the show sees."""
    return PresetBank.load(paths.presets_dir(presets_dir), paths.keyframes_dir(keyframes_dir),
                           latent_channels=latent_channels, family=family, device=device,
                           scaling_factor=SCALING_FACTORS.get(family))
