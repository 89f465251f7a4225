"""Preset status before the show: every preset with its keyframe status, count and memory.

It loads the bank exactly as the show does (same checks against the decoder family), so a
preset marked ok here is one the show can play. Approx presets build their keyframes here if
they are missing, as they would at show start.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from live import paths
from live.library.bank import PresetBank, open_bank
from live.library.keyframes import PIXELS_KIND
from live.library.presets import APPROX_MODEL, Preset, load_presets

_LOGGER = logging.getLogger(__name__)


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def missing_shaders(shader_names: list[str], shaders_dir: str | Path) -> list[str]:
    """Shader names with no ``shaders_dir/NAME.glsl`` file."""
    folder = Path(shaders_dir)
    return [n for n in shader_names if not (folder / f"{n}.glsl").is_file()]


def model_problems(preset: Preset) -> list[str]:
    """Why `precompute` could not run for this preset here (model or VAE not on disk), as warning lines."""
    from live.library.precompute import PrecomputeError, resolve_model

    g = preset.generation
    problems = []
    for value, what in ((g.model, "model"), (g.vae, "VAE")):
        if value and value != APPROX_MODEL:
            try:
                resolve_model(preset.resolve(value), allow_download=False, what=what)
            except PrecomputeError as exc:
                problems.append(f"precompute needs it: {exc}")
    return problems


def check_bank(presets_dir: str | Path | None = None, keyframes_dir: str | Path | None = None, family: str = "sd1",
               shaders_dir: str | Path | None = None, device: str = "cpu",
               latent_channels: int = 4) -> tuple[PresetBank, list[dict], float]:
    """The bank as the show loads it, its status rows (plus a 'warnings' list per preset) and the
    load time in seconds.

    The bank is loaded by :func:`~live.library.bank.open_bank`, as the show loads it, for a decoder
    of ``family`` with ``latent_channels`` on ``device``; folders of None follow :mod:`live.paths`
    (the repository's unless overridden). Shader names are checked only when the shaders folder exists.
    """
    presets_dir, shaders_dir = paths.presets_dir(presets_dir), paths.shaders_dir(shaders_dir)
    # the table shows every problem; the bank's per-preset warnings (meant for the show log) would repeat them
    loggers = [logging.getLogger(n) for n in ("live.library.bank", "live.library.keyframes", "live.library.images", "live.library.presets")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        started = time.perf_counter()
        bank = open_bank(family=family, latent_channels=latent_channels, device=device, presets_dir=presets_dir,
                         keyframes_dir=keyframes_dir, shaders_dir=shaders_dir)
        seconds = time.perf_counter() - started
        good, _ = load_presets(presets_dir, shaders_dir)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
    rows = bank.status()
    for row in rows:
        row["warnings"] = []
        preset = good.get(row["name"])
        if preset is None:
            continue
        if row["ok"] and bank.keyframe_set(row["name"]).kind == PIXELS_KIND or \
                not row["ok"] and preset.generation.model == APPROX_MODEL:
            row["family"] = PIXELS_KIND  # pictures made from images, no model: no latent family, any decoder shows them
        elif not preset.family_is_explicit and not row["ok"]:
            row["family"] = "auto"  # taken from the model at precompute time
        if shaders_dir.is_dir():
            for name in missing_shaders(preset.look.shaders, shaders_dir):
                row["warnings"].append(f"look.shaders names {name!r} but {shaders_dir / (name + '.glsl')} "
                                       f"does not exist")
        if not row["ok"]:
            row["warnings"].extend(model_problems(preset))
    return bank, rows, seconds


def check_rows(presets_dir: str | Path | None = None, keyframes_dir: str | Path | None = None, family: str = "sd1",
               shaders_dir: str | Path | None = None, device: str = "cpu") -> tuple[list[dict], float]:
    """Bank status rows (plus a 'warnings' list per preset) and the bank load time in seconds
    (:func:`check_bank` without the bank)."""
    _, rows, seconds = check_bank(presets_dir, keyframes_dir, family, shaders_dir, device)
    return rows, seconds


def _status_word(row: dict) -> str:
    if row["ok"]:
        return "ok"
    reason = row["reason"]
    for word in ("not precomputed", "stale", "corrupt", "partial", "decoder", "channels", "scaled by"):
        if word in reason:
            return {"decoder": "mismatch", "channels": "mismatch", "scaled by": "mismatch"}.get(word, word)
    return "bad preset" if ".toml" in reason.split(":")[0] else "unavailable"


def format_table(rows: list[dict], seconds: float) -> str:
    """The human-readable report: one line per preset, reasons and warnings indented under it."""
    lines = [f"{'PRESET':<20} {'STATUS':<16} {'KEYFRAMES':>9} {'MEMORY':>10}  {'SIZE':<9} {'FAMILY':<6} MODEL"]
    total = 0
    for r in rows:
        total += r["bytes"]
        lines.append(f"{r['name']:<20} {_status_word(r):<16} {r['keyframes']:>9} {human_bytes(r['bytes']):>10}  "
                     f"{r['size']:<9} {r['family']:<6} {r['model']}")
        if r["reason"]:
            lines.append(f"    {r['reason']}")
        for w in r.get("warnings", []):
            lines.append(f"    warning: {w}")
    ready = sum(1 for r in rows if r["ok"])
    lines.append(f"{ready} of {len(rows)} presets ready, {human_bytes(total)} of keyframes, loaded in {seconds:.2f} s")
    return "\n".join(lines)
