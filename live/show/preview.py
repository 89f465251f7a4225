"""``preview``: a contact sheet of a preset against a track, through the offline render.

The preset is rendered with :func:`live.show.render.render_file` (the same Show, shaders and
beat clock as the live show, nothing written but the sheet) and frames are picked as it goes:
at moments spread across the track (its sections, where the preset has them), the frame just
before a beat and the frame on it, side by side, each labelled with its time, beat and bar. A preset
with sections walks them in equal parts of the track, cued as song mode cues them.
The middle moment's beat frame also becomes the preset's thumbnail for the operator's preset
list (:mod:`live.show.thumbnails`).
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from live.errors import UserError
from live.messages import Command
from live.show.thumbnails import save_thumbnail, thumbnail_file

_LOGGER = logging.getLogger(__name__)

CELL_W = 384  # a frame's width on the sheet
START_SHARE = 0.1  # the first moment is this far into the track: the beat clock has locked by then
SHEET_FORMATS = (".png", ".jpg", ".jpeg", ".webp")


@dataclass
class Shot:
    """One frame on the sheet: its picture and what the show knew when it was drawn."""

    rgb: np.ndarray
    time: float
    beat: int
    bar: int
    bar_beat: int
    section: str
    on_beat: bool

    @property
    def label(self) -> str:
        """``12.34 s  beat 25  bar 7.1  on the beat``."""
        where = "on the beat" if self.on_beat else "just before"
        section = f"  [{self.section}]" if self.section else ""
        return f"{self.time:6.2f} s  beat {self.beat}  bar {self.bar}.{self.bar_beat}  {where}{section}"


def check_out(out: str) -> Path:
    """``out`` as a path, refused at once (before any rendering) when it cannot be a sheet there:
    an unknown picture type, a folder, or a folder that is missing or not writable."""
    path = Path(out)
    if path.suffix.lower() not in SHEET_FORMATS:
        raise UserError(f"--out {out}: a contact sheet is a picture ({', '.join(SHEET_FORMATS)})")
    if path.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name such as {path / 'sheet.png'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"--out {out}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserError(f"--out {out}: cannot write there (permission denied)")
    return path


class Picker:
    """``on_frame`` for the render: keeps the previous frame, and at each target moment the
    first beat frame at or after it with the frame before it."""

    def __init__(self, targets: list[float]) -> None:
        self.targets = sorted(targets)
        self.shots: list[Shot] = []
        self._previous: Shot | None = None
        self._pulse = 0.0

    def __call__(self, show: Any, renderer: Any) -> None:
        """Look at the frame just drawn."""
        t = float(show.last_uniforms["u_time"])  # the middle of the frame's time on screen, as the pulse
        pulse = float(show.last_uniforms["u_pulse"])
        on_beat = pulse > self._pulse + 1e-6  # the pulse restarted: a beat fell on this frame
        self._pulse = pulse
        if not self.targets:
            return
        shot = self._shot(show, renderer, t, on_beat)
        if on_beat and t >= self.targets[0] and self._previous is not None:
            self.shots += [self._previous, shot]
            while self.targets and self.targets[0] <= t:
                self.targets.pop(0)
        self._previous = shot

    @staticmethod
    def _shot(show: Any, renderer: Any, t: float, on_beat: bool) -> Shot:
        state = show.last_state
        bars = state.bars_at(t)
        return Shot(renderer.read_pixels().copy(), t, math.floor(state.beats_at(t) + 1e-6), math.floor(bars) + 1,
                    min(4, int(state.bar_beats_at(t) + 1e-6) + 1), show.section, on_beat)


def moments(seconds: float, count: int) -> list[float]:
    """``count`` times spread evenly across ``seconds``, from :data:`START_SHARE` in."""
    start = seconds * START_SHARE
    return [start + (seconds - start) * i / count for i in range(count)]


def section_cues(seconds: float, names: list[str]) -> tuple[list[tuple[float, Command]], list[float]]:
    """For a preset with sections: ``section`` commands that walk them in equal parts of the
    track (as song mode cues them), and one moment in the middle of each part."""
    start = seconds * START_SHARE
    part = (seconds - start) / len(names)
    cues = [(start + i * part, Command("section", (name,), source="preview")) for i, name in enumerate(names)]
    return cues, [start + (i + 0.5) * part for i in range(len(names))]


def contact_sheet(shots: list[Shot], title: str, columns: int = 4) -> np.ndarray:
    """The shots in rows of ``columns`` (pairs: before and on the beat), each labelled; the
    title on top. Returns the sheet as (height, width, 3) uint8."""
    from PIL import Image, ImageDraw, ImageFont

    h0, w0 = shots[0].rgb.shape[:2]
    cw, ch = CELL_W, int(round(CELL_W * h0 / w0))
    label_h, pad, title_h = 26, 8, 40
    rows = math.ceil(len(shots) / columns)
    sheet = Image.new("RGB", (columns * (cw + pad) + pad, title_h + rows * (ch + label_h + pad) + pad), (16, 16, 20))
    draw = ImageDraw.Draw(sheet)
    font, big = ImageFont.load_default(15), ImageFont.load_default(22)
    draw.text((pad, 8), title, fill=(235, 235, 235), font=big)
    for i, shot in enumerate(shots):
        x = pad + (i % columns) * (cw + pad)
        y = title_h + (i // columns) * (ch + label_h + pad)
        sheet.paste(Image.fromarray(shot.rgb).resize((cw, ch), Image.Resampling.LANCZOS), (x, y))
        colour = (255, 200, 80) if shot.on_beat else (190, 190, 190)
        draw.text((x + 2, y + ch + 4), shot.label, fill=colour, font=font)
    return np.asarray(sheet)


def preview(*, preset: str, out: str, audio: str | None = None, moments_count: int = 6, seconds: float | None = None,
            size: str = "768x432", fps: int = 30, keyframes_dir: str | None = None, progress: bool = True,
            thumbnail: bool = True, **render: Any) -> list[Shot]:
    """Write the contact sheet of ``preset`` against ``audio`` (the built-in demo track when None)
    to ``out``; ``render`` goes to :func:`render_file` (decoder, folders...). Saves the preset's
    thumbnail unless not ``thumbnail``. Returns the shots."""
    from live.audio.sources import load_audio
    from live.show.render import render_file

    path = check_out(out)
    tmp_track = None
    if audio is None:
        import tempfile

        from live.library.demo import write_demo_track

        fd, tmp_track = tempfile.mkstemp(prefix="live-preview-", suffix=".wav")
        os.close(fd)
        write_demo_track(tmp_track, seconds or 32.0)
        audio = tmp_track
    try:
        samples, rate = load_audio(audio)
        duration = len(samples) / rate if seconds is None else min(seconds, len(samples) / rate)
        sections = _section_names(preset, render.get("presets_dir"))
        cues, times = section_cues(duration, sections) if sections else ([], moments(duration, moments_count))
        picker = Picker(times)
        render_file(preset=preset, audio=audio, out=None, seconds=duration, size=size, fps=fps,
                    keyframes_dir=keyframes_dir, progress=progress, on_frame=picker, cues=cues, **render)
    finally:
        if tmp_track:
            Path(tmp_track).unlink(missing_ok=True)
    shots = picker.shots
    if not shots:
        raise UserError(f"preview {preset}: no beat was found in {audio} to show the preset against; try a track "
                        "with a clear beat")
    title = f"{preset}  against {Path(audio).name if not tmp_track else 'the built-in demo track'}"
    from PIL import Image

    try:
        Image.fromarray(contact_sheet(shots, title)).save(path)
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write it ({exc})") from None
    if thumbnail:
        try:
            save_thumbnail(shots[len(shots) // 2 | 1].rgb if len(shots) > 1 else shots[0].rgb,
                           thumbnail_file(preset, keyframes_dir))
        except OSError as exc:  # the sheet is what was asked for; a thumbnail is a convenience
            _LOGGER.warning("preview %s: thumbnail not saved (%s)", preset, exc)
    return shots


def _section_names(preset: str, presets_dir: str | None) -> list[str]:
    """The names of the preset's sections ([] without sections, or where the file does not load:
    the render then names the problem in one line)."""
    from live import paths
    from live.library.presets import load_preset

    try:
        loaded = load_preset(paths.presets_dir(presets_dir) / f"{preset}.toml")
    except Exception:  # noqa: BLE001 - here it only picks moments; the render reports a bad preset
        return []
    return [s.name for s in (loaded.generation.sections or [])]
