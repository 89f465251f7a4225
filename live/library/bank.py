"""The preloaded bank: every preset's keyframes, loaded and checked once at show start, then
kept up to date from disk without ever letting a bad or half-written file go live."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from live import paths
from live.errors import UserError
from live.library.images import ensure_builtin_keyframes
from live.library.keyframes import (
    KEYFRAMES_FILE,
    PIXELS_KIND,
    KeyframeChanging,
    KeyframeError,
    KeyframesMissing,
    KeyframeSet,
    file_signature,
    first_line,
    load_preset_keyframes,
)
from live.library.presets import (
    APPROX_MODEL,
    SCALING_FACTORS,
    Preset,
    PresetError,
    as_written,
    load_preset,
    load_presets,
    preset_files,
    unexpected_error,
)

_LOGGER = logging.getLogger(__name__)

REFRESH_INTERVAL_S = 1.0  # how often the show looks for changed preset and keyframe files

# (preset file, keyframe file) signatures, each None while the file is missing
_Sig = tuple[tuple[int, ...] | None, tuple[int, ...] | None]


@dataclass(frozen=True)
class _Entry:
    name: str
    preset: Preset | None
    kset: KeyframeSet | None
    reason: str


class _Keep:
    """A refresh result that leaves the entry as it is."""


_KEEP = _Keep()


class PresetBank:
    """Every preset's keyframes, loaded into memory and checked at show start, on the decode device.

    A preset whose file is bad, whose keyframes are missing/corrupt/stale, or whose latents do not
    fit the decoder (family, channels, scaling) is unavailable with a one-line reason; the rest load.

    Files may change during the show: :meth:`refresh_if_due` (from the show's tick, cheap) looks
    for changed preset and keyframe files once a second in a background thread and swaps in only
    those that load and verify; a changed file is read only after it has looked the same twice, a
    bad one is refused in one log line and the last good entry stays. Readers (``get``,
    ``names``) see one consistent table: it is replaced whole, never edited in place.
    ``watch=False`` (the offline render) never looks again: what was loaded at the start is what
    the whole run shows, whatever happens on disk meanwhile and however fast the run goes.
    """

    def __init__(self, entries: dict[str, _Entry], family: str, latent_channels: int, device: str, *,
                 presets_dir: str | Path | None = None, keyframes_dir: str | Path | None = None,
                 scaling_factor: float | None = None, seen: dict[str, _Sig] | None = None,
                 shaders_dir: str | Path | None = None, watch: bool = True) -> None:
        self._entries = dict(entries)
        self.family = family
        self.latent_channels = latent_channels
        self.device = device
        self.scaling_factor = scaling_factor
        self.presets_dir = Path(presets_dir) if presets_dir is not None else None
        self.keyframes_dir = Path(keyframes_dir) if keyframes_dir is not None else None
        self.shaders_dir = shaders_dir  # whose declared params the presets' look.params are checked against
        self.refresh_interval = REFRESH_INTERVAL_S
        self.watch = bool(watch)  # False: refresh_if_due never looks at the files (deterministic runs)
        # refresh state: owned by the one refresh job that may run at a time
        self._seen: dict[str, _Sig] = dict(seen or {})
        self._pending: dict[str, _Sig] = {}
        self._job: _RefreshJob | None = None
        self._next_refresh: float | None = None
        self._refresh_failed = False

    @classmethod
    def load(cls, presets_dir: str | Path, keyframes_dir: str | Path, latent_channels: int = 4,
             family: str = "sd1", device: str | torch.device = "cpu",
             scaling_factor: float | None = None, shaders_dir: str | Path | None = None,
             watch: bool = True) -> "PresetBank":
        """Load every preset in ``presets_dir`` and its keyframes from ``keyframes_dir``, checked for the decoder.

        ``family``/``latent_channels``/``scaling_factor`` describe the decoder the show will use:
        latents of another family (e.g. SDXL latents with an SD 1.x VAE) are refused by name.
        Approx presets with images build their keyframes here when missing or stale.
        ``watch``: whether :meth:`refresh_if_due` follows changed files (see the class).
        """
        if family not in SCALING_FACTORS:
            raise UserError(f"unknown latent family {family!r}; choose {' or '.join(SCALING_FACTORS)}")
        started = time.perf_counter()
        presets_dir, keyframes_dir = Path(presets_dir), Path(keyframes_dir)
        sigs = _scan(presets_dir, keyframes_dir, ()) if presets_dir.is_dir() else {}
        good, bad = load_presets(presets_dir, shaders_dir)
        entries: dict[str, _Entry] = {n: _Entry(n, None, None, reason) for n, reason in bad.items()}
        seen = {n: sigs.get(n, (None, None)) for n in bad}
        missing: list[str] = []  # not precomputed yet: one line for all (the shipped text presets are)
        for name, preset in good.items():
            sig = sigs.get(name, (None, None))
            try:
                kset = _load_kset(preset, keyframes_dir, family, latent_channels, scaling_factor, str(device))
                entries[name] = _Entry(name, preset, kset, "")
                sig = (sig[0], kset.signature or sig[1])
            except KeyframesMissing as exc:
                missing.append(name)
                entries[name] = _Entry(name, preset, None, str(exc))
            except (KeyframeError, PresetError) as exc:
                _LOGGER.warning("preset %s unavailable: %s", name, exc)
                entries[name] = _Entry(name, preset, None, str(exc))
            except Exception as exc:  # noqa: BLE001 - one broken preset must not stop the show loading
                _LOGGER.exception("preset %s unavailable: unexpected error", name)
                entries[name] = _Entry(name, preset, None, _unexpected(preset, exc))
            seen[name] = sig
        if missing:
            _LOGGER.warning("%d preset(s) not precomputed, not shown: %s (run `run_live.py precompute NAME`)",
                            len(missing), ", ".join(sorted(missing)))
        bank = cls(dict(sorted(entries.items())), family, latent_channels, str(device), presets_dir=presets_dir,
                   keyframes_dir=keyframes_dir, scaling_factor=scaling_factor, seen=seen, shaders_dir=shaders_dir,
                   watch=watch)
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
        """The preset and its latents (N, C, h, w) on the bank's device; UserError lists the available ones.
        For pixel keyframes these are the pictures' coordinates (see live/visuals/pixels.py)."""
        entry = self._entry(name)
        kset = entry.kset
        assert kset is not None
        return entry.preset, (kset.pixels.coords if kset.pixels is not None else kset.latents)  # type: ignore[return-value]

    def keyframe_set(self, name: str) -> KeyframeSet:
        """The full keyframe set (latents, metadata with scaling factor) of an available preset."""
        return self._entry(name).kset  # type: ignore[return-value]

    def status(self) -> list[dict[str, Any]]:
        """One row per preset file: name, ok, reason, keyframes, bytes, and family/size/model when known.

        A preset whose changed files were refused is still ok (its last good keyframes are live);
        its reason says what was refused."""
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

    # ------------------------------------------------------------------ changes on disk

    def refresh_if_due(self, now: float) -> list[str]:
        """For the show's tick: cheap, never blocks on the disk, never raises.

        Swaps in what a finished background refresh loaded, and at most once per
        ``refresh_interval`` (in the caller's clock) starts the next one. Returns the names of
        presets whose keyframes or settings were swapped in by this call. A bank opened with
        ``watch=False`` does nothing here: a background look at the disk finishes at a moment that
        depends on thread timing, so a render would otherwise show a reload at a random frame.
        """
        if not self.watch:
            return []
        try:
            swapped = self._collect()
            if self.presets_dir is None:
                return swapped
            if self._next_refresh is None or now < self._next_refresh - 2 * self.refresh_interval:
                self._next_refresh = now + self.refresh_interval  # first call, or the clock went back
            elif now >= self._next_refresh and self._job is None:
                self._next_refresh = now + self.refresh_interval
                self._job = _RefreshJob(self._refresh_job)
                self._job.start()
            return swapped
        except Exception as exc:  # noqa: BLE001 - the show goes on with the bank it has
            self._report_refresh_failure(exc)
            return []

    def refresh(self) -> list[str]:
        """Look at the files now and swap in what changed and verifies (blocking; tests, tools).

        A changed file is read on the second refresh that sees it unchanged, so a file still
        being written is never read; call it again after a second to pick changes up.
        Returns the names swapped in.
        """
        swapped = []
        if self._job is not None:
            self._job.join()
            swapped = self._collect()
        if self.presets_dir is None:
            return swapped
        return swapped + self._apply(self._refresh_job())

    def _collect(self) -> list[str]:
        """Apply the updates of a finished background refresh (on the caller's thread)."""
        job = self._job
        if job is None or job.is_alive():
            return []
        self._job = None
        if job.error is not None:
            self._report_refresh_failure(job.error)
            return []
        self._refresh_failed = False
        return self._apply(job.updates)

    def _apply(self, updates: dict[str, _Entry | None]) -> list[str]:
        """Replace the entry table in one assignment, so readers see the old table or the new one."""
        if not updates:
            return []
        entries = dict(self._entries)
        swapped = []
        for name, entry in updates.items():
            old = entries.pop(name, None)
            if entry is not None:
                entries[name] = entry
                if entry.kset is not None and (old is None or old.kset is not entry.kset or old.preset is not entry.preset):
                    swapped.append(name)
        self._entries = dict(sorted(entries.items()))
        return sorted(swapped)

    def _report_refresh_failure(self, exc: BaseException) -> None:
        if not self._refresh_failed:  # one line per run of failures, not one a second
            self._refresh_failed = True
            _LOGGER.error("preset bank: looking for changed files failed, keeping the loaded presets "
                          "(%s: %s)", exc.__class__.__name__, first_line(exc))

    def _refresh_job(self) -> dict[str, _Entry | None]:
        """Stat every preset and keyframe file; reload the ones that changed and then held still.

        Runs on the refresh thread (or in :meth:`refresh`); returns entry updates (None removes
        one) for the caller's thread to apply. Only this job touches ``_seen`` and ``_pending``.
        """
        assert self.presets_dir is not None and self.keyframes_dir is not None
        entries = self._entries  # a snapshot: the table is replaced, never edited
        sigs = _scan(self.presets_dir, self.keyframes_dir, entries)
        updates: dict[str, _Entry | None] = {}
        for name, sig in sigs.items():
            if sig == self._seen.get(name):
                self._pending.pop(name, None)
                continue
            if self._pending.get(name) != sig:
                self._pending[name] = sig  # changed since the last look: wait until it holds still
                continue
            del self._pending[name]
            update = self._reload(name, sig, entries.get(name))
            if not isinstance(update, _Keep):
                updates[name] = update
        return updates

    def _reload(self, name: str, sig: _Sig, old: _Entry | None) -> _Entry | None | _Keep:
        """Load one changed preset; on failure keep its last good entry and log one line."""
        assert self.presets_dir is not None and self.keyframes_dir is not None
        toml = self.presets_dir / f"{name}.toml"
        live = old is not None and old.kset is not None
        if sig[0] is None:
            self._seen[name] = sig
            if not live:
                return None  # an unavailable preset whose file is gone: forget it
            reason = f"{as_written(toml)} was removed"
            _LOGGER.warning("preset %s: %s; keeping its loaded keyframes until the show restarts", name, reason)
            return dataclasses.replace(old, reason=f"{reason}; showing the keyframes loaded before")
        preset: Preset | None = None
        try:
            preset = load_preset(toml, self.shaders_dir)
            if live and sig[1] == self._seen.get(name, (None, None))[1] and preset.generation.model != APPROX_MODEL \
                    and old.preset is not None and old.preset.settings_hash() == preset.settings_hash():
                kset = old.kset  # only motion/look changed: the keyframes in memory are still right
            else:
                kset = _load_kset(preset, self.keyframes_dir, self.family, self.latent_channels,
                                  self.scaling_factor, self.device)
        except KeyframeChanging as exc:
            _LOGGER.debug("%s", exc)
            return _KEEP  # not marked seen: looked at again until it holds still
        except (KeyframeError, PresetError) as exc:
            reason = " ".join(str(exc).split())  # one line, whatever the message
        except Exception as exc:  # noqa: BLE001 - one broken preset must not stop the show
            reason = _unexpected(preset, exc) if preset is not None else unexpected_error(toml, exc)
        else:
            self._seen[name] = (sig[0], kset.signature or sig[1])
            if kset is not (old.kset if old else None):
                _LOGGER.info("preset %s: loaded %d changed keyframes from %s", name, kset.latents.shape[0],
                             as_written(kset.path))
            else:
                _LOGGER.info("preset %s: reloaded %s", name, as_written(toml))
            return _Entry(name, preset, kset, "")
        self._seen[name] = sig  # refused: not read (nor logged) again until the files change again
        if live:
            assert old is not None
            _LOGGER.warning("preset %s: changed files refused, still showing the keyframes loaded before: %s",
                            name, reason)
            return dataclasses.replace(old, reason=f"changed files refused, showing the keyframes loaded before: "
                                                   f"{reason}")
        _LOGGER.warning("preset %s unavailable: %s", name, reason)
        return _Entry(name, preset, None, reason)


class _RefreshJob(threading.Thread):
    """One background refresh: runs ``work`` and keeps its updates or its exception."""

    def __init__(self, work: Any) -> None:
        super().__init__(name="bank-refresh", daemon=True)
        self._work = work
        self.updates: dict[str, _Entry | None] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.updates = self._work()
        except Exception as exc:  # noqa: BLE001 - reported by the bank on the show's thread
            self.error = exc


def _scan(presets_dir: Path, keyframes_dir: Path, known: Any) -> dict[str, _Sig]:
    """Signatures of every preset file (and of the presets in ``known``) with its keyframe file."""
    names = {p.stem for p in preset_files(presets_dir)} | set(known)  # names only: nothing opened here
    return {n: (file_signature(presets_dir / f"{n}.toml"), file_signature(keyframes_dir / n / KEYFRAMES_FILE))
            for n in sorted(names)}


def _load_kset(preset: Preset, keyframes_dir: Path, family: str, latent_channels: int,
               scaling_factor: float | None, device: str) -> KeyframeSet:
    """A preset's keyframes, verified, fitted to the decoder and on ``device``; raises KeyframeError."""
    if preset.generation.model == APPROX_MODEL:
        kset = ensure_builtin_keyframes(preset, keyframes_dir)
    else:
        kset = load_preset_keyframes(preset, keyframes_dir)
    if kset.kind == PIXELS_KIND:
        # Pictures need no decoder: the traversal walks their coordinates (tiny, CPU) and the
        # renderer sums the pictures on the GPU. The set keeps them once, as bytes laid out for
        # the upload; the keyframe set holds a view of those, not a second copy.
        from live.visuals.pixels import PixelSet

        pixels = PixelSet(kset.latents)
        return dataclasses.replace(kset, latents=pixels.keyframes, pixels=pixels)
    _fits_decoder(kset, family, latent_channels, scaling_factor)
    if str(device) != "cpu":
        kset = dataclasses.replace(kset, latents=kset.latents.to(device))
    return kset


def _unexpected(preset: Preset | None, exc: BaseException, path: Path | None = None) -> str:
    where = as_written(preset.path if preset is not None else path or Path())
    return f"{where}: unexpected error while loading keyframes ({exc.__class__.__name__}: {first_line(exc)})"


def _fits_decoder(kset: KeyframeSet, family: str, latent_channels: int, scaling_factor: float | None) -> None:
    """KeyframeError when the stored latents cannot be decoded by the show's decoder."""
    where = as_written(kset.path)
    stored = kset.meta.get("family")
    if stored != family:
        raise KeyframeError(f"{where}: holds {stored} latents, the decoder is {family}; an {family} VAE would show "
                            f"garbage. Start the show with --family {stored} (with --decoder vae/tiny, and a {stored} "
                            f"VAE/TAESD as --model), or precompute this preset with a {family} model")
    if kset.latents.shape[1] != latent_channels:
        raise KeyframeError(f"{where}: latents have {kset.latents.shape[1]} channels, the decoder takes "
                            f"{latent_channels}; precompute with a model of the decoder's family")
    if scaling_factor is not None and abs(kset.scaling_factor - scaling_factor) > 1e-4:
        raise KeyframeError(f"{where}: latents were scaled by {kset.scaling_factor:g}, the decoder's VAE uses "
                            f"{scaling_factor:g}; precompute with the VAE you decode with")


def open_bank(family: str = "sd1", latent_channels: int = 4, device: str | torch.device = "cpu",
              presets_dir: str | Path | None = None, keyframes_dir: str | Path | None = None,
              shaders_dir: str | Path | None = None, watch: bool = True) -> PresetBank:
    """The bank as the show loads it, for a decoder of ``family`` on ``device``: every preset in
    the presets folder with its keyframes, checked against the family's latent channels and
    scaling factor. The folders follow :mod:`live.paths` (the repository's unless overridden).
    ``live``, ``render`` and ``check`` all load through here, so ``check`` sees what the show sees.
    ``watch=False`` (``render``): the files are read once, never again during the run."""
    return PresetBank.load(paths.presets_dir(presets_dir), paths.keyframes_dir(keyframes_dir),
                           latent_channels=latent_channels, family=family, device=device,
                           scaling_factor=SCALING_FACTORS.get(family), shaders_dir=shaders_dir, watch=watch)
