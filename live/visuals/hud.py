"""The operator's HUD: what the show hears and does, drawn beside the output preview.

Beat and bar phase as moving markers, band energies and level as meters, an onset flash, the
active flags as lamps (pyglet shapes, moved every drawn frame: a few vertex writes), and the
text (BPM, confidence and tempo source, fps, decode figures, preset, section, warnings, the key
table) as labels in the same batch, rewritten at most :data:`TEXT_EVERY_S` apart because laying
out text is the expensive part. The HUD reads plain values (an :class:`AudioState` and the show's
status dict) and shows whatever keys the status has, so new status keys need no change here.

:class:`WarningLog` is a logging handler that keeps the last few WARNING+ lines for it: the log
comes from any thread, so the lines are handed over as one immutable tuple through a
:class:`~live.handoff.LatestSlot`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from live.handoff import LatestSlot
from live.messages import BEATS_PER_BAR, AudioState
from live.visuals.transitions import BARS_PER_PHRASE

_LOGGER = logging.getLogger(__name__)

TEXT_EVERY_S = 0.1  # the labels are rewritten at most 10 times a second
WARNINGS_KEPT = 4
PANEL_W = 400  # the HUD panel's width in pixels at 960x540, at the operator window's right edge; it scales
STRIP_SHARE = 0.3  # the preset strip's share of the height, under the preview
DB_FLOOR = -60.0  # the input meter's left end (dBFS)
_GREY, _DIM, _LIT, _WARN = (70, 70, 70), (40, 40, 40), (90, 220, 120), (235, 70, 60)
_HOLDING = (245, 180, 40)
# Status keys shown as lamps, and their colour when on: red for what changes the picture, green for
# the flash limiter (a safety net that is on unless lifted).
FLAGS = (("blackout", "BLACKOUT", _WARN), ("freeze", "FREEZE", _WARN), ("hold", "HOLD", _WARN),
         ("flash_limit", "FLASH LIMIT", (40, 140, 80)))
# A lamp's second state: while this status key is set the lamp shows this colour instead (the
# flash limiter amber while it is holding a flash back, green while it is only on).
SECOND_STATES = {"flash_limit": ("flash_limiting", _HOLDING)}
_METERS = (("low", "low"), ("mid", "mid"), ("high", "high"), ("level", "level"))


class WarningLog(logging.Handler):
    """Keeps the last :data:`WARNINGS_KEPT` WARNING-or-worse log lines; :meth:`lines` from any thread."""

    def __init__(self, keep: int = WARNINGS_KEPT) -> None:
        super().__init__(logging.WARNING)
        self.keep = keep
        self._lines: tuple[str, ...] = ()
        self._slot: LatestSlot[tuple[str, ...]] = LatestSlot(())
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record`` as one line (called under the handler's lock, from any thread)."""
        try:
            line = self.format(record).splitlines()[0][:160]
        except Exception:  # noqa: BLE001 - a bad log record must not break the logger's caller
            self.handleError(record)
            return
        self._lines = (*self._lines[-(self.keep - 1):], line) if self.keep > 1 else (line,)
        self._slot.put(self._lines)

    def lines(self) -> tuple[str, ...]:
        """The last lines kept, oldest first."""
        return self._slot.get() or ()


def _flag(status: dict[str, Any], key: str) -> bool:
    value = status.get(key)
    return bool(value) and value not in ("", "off", 0)


def lamp_colour(status: dict[str, Any], key: str, on: tuple[int, int, int]) -> tuple[int, int, int]:
    """The colour of the lamp for status ``key`` (lit colour ``on``): its second state's colour
    (:data:`SECOND_STATES`) while that is set, ``on`` while the key is set, else dim."""
    second = SECOND_STATES.get(key)
    if second is not None and _flag(status, second[0]):
        return second[1]
    return on if _flag(status, key) else _DIM


def status_lines(status: dict[str, Any], state: AudioState) -> list[str]:
    """The HUD's text lines for a status snapshot and audio state; keys missing from ``status``
    (``queued``, ``section``, decode figures) are left out. The BPM, the bar counter, the countdown,
    the input level, the last message and the chain have places of their own (:class:`Hud`)."""
    lines = [f"tempo {state.tempo_source}  confidence {state.confidence:.2f}"]
    if _flag(status, "freeze"):
        # The output repeats one picture: its fps and a decode rate of 0 would only mislead.
        lines.append("FROZEN: the output holds its picture")
    else:
        fps = [f"out {status['fps']:.1f} fps" if "fps" in status else ""]
        if "decode_fps" in status:
            fps.append(f"decode {status['decode_fps']:.1f} fps")
        if "latency_ms" in status:
            fps.append(f"latency {status['latency_ms']:.0f} ms")
        lines.append("  ".join(f for f in fps if f))
    preset = f"preset {status.get('preset') or '-'}"
    if status.get("queued"):
        preset += f"  next {status['queued']}"
    lines.append(preset)
    if state.track is not None:  # a prepared set's track recognised (--set)
        t = state.track
        lines.append(f"track {t.name}  {clock_text(t.position)} x{t.speed:.3f}  "
                     f"bar {t.bar + 1} phrase {t.phrase + 1}" + ("  plan" if status.get("plan") else ""))
    if status.get("section") or status.get("queued_section"):
        section = f"section {status.get('section') or '-'}"
        if status.get("queued_section"):
            section += f"  next {status['queued_section']}"
        lines.append(section)
    modes = ["autopilot" if _flag(status, "autopilot") else "",
             f"calibrating {status.get('calibration_taps', 0)}/8 taps" if _flag(status, "calibrate") else "",
             f"MIDI learn {status['learning']}" if status.get("learning") else "",
             f"av offset {float(status['av_offset_ms']):+.0f} ms" if status.get("av_offset_ms") else ""]
    if any(modes):
        lines.append("  ".join(m for m in modes if m))
    decoder = f"decoder {status.get('decoder') or '-'}"
    if status.get("holding"):
        decoder += f"  holding visual: {status['holding']}"
    lines.append(decoder)
    if status.get("fade"):
        lines.append(f"fade to black {float(status.get('fade_level') or 0.0):.0%}")
    if status.get("failover"):
        lines.append(f"failover: {str(status['failover'])[:60]}")
    if _flag(status, "flash_limiting"):
        lines.append(f"flash limit holding back ({int(status.get('flash_limited_frames') or 0)} frames touched)")
    return lines


def clock_text(seconds: float) -> str:
    """``seconds`` as minutes:seconds to a tenth, ``1:05.3``; rounded first, so 59.97 is ``1:00.0``."""
    tenths = round(max(0.0, float(seconds)) * 10)
    return f"{tenths // 600}:{tenths % 600 / 10:04.1f}"


def bpm_text(state: AudioState) -> str:
    """The steady published tempo, one decimal, or ``---`` while it is unknown (0)."""
    return f"{state.tempo:.1f}" if state.tempo > 0 else "---"


def counter_text(state: AudioState, now: float) -> str:
    """``BAR 13.2  PHRASE 4.1``: the bar (from 1) and its beat, the phrase (from 1) and its bar."""
    bars = state.bars_at(now)
    bar = math.floor(bars)
    beat = min(BEATS_PER_BAR, int(state.bar_beats_at(now)) + 1)
    return f"BAR {bar + 1}.{beat}  PHRASE {bar // BARS_PER_PHRASE + 1}.{bar % BARS_PER_PHRASE + 1}"


def countdown_text(status: dict[str, Any], now: float) -> str:
    """``NEXT beta in 2 bars  3.8 s`` for a queued switch or section (its due time from the status,
    counted down to ``now``), else ''."""
    target = status.get("queued") or (f"section {status['queued_section']}" if status.get("queued_section") else "")
    if not target or "due_beats" not in status:
        return ""
    seconds = max(0.0, float(status.get("due_at", now)) - now) if "due_at" in status else float(status["due_s"])
    beats = float(status["due_beats"])
    if status.get("queued_unit") == "beat" or beats < BEATS_PER_BAR:
        when = f"{math.ceil(beats - 1e-6)} beat{'s' if math.ceil(beats - 1e-6) != 1 else ''}"
    else:
        bars = math.ceil(beats / BEATS_PER_BAR - 1e-6)
        when = f"{bars} bar{'s' if bars != 1 else ''}"
    return f"NEXT {target} in {when}  {seconds:.1f} s"


def level_text(state: AudioState) -> str:
    """The input peak in dBFS (``-inf`` in digital silence)."""
    db = state.input_dbfs
    return f"IN {db:6.1f} dBFS" if db > -120 else "IN   -inf dBFS"


def message_text(status: dict[str, Any], now: float) -> str:
    """The last control message and how long ago it came, or ''."""
    if not status.get("last_message"):
        return ""
    age = max(0.0, now - float(status.get("last_message_at", now)))
    return f"LAST {status['last_message']}  ({age:.0f} s ago)" if age >= 1 else f"LAST {status['last_message']}"


def chain_lines(status: dict[str, Any]) -> list[str]:
    """One line per shader of the chain, with its live parameter values."""
    chain = str(status.get("chain") or "")
    return [f"  {part}" for part in chain.split(" | ")] if chain else ["  (no shaders)"]


def compact_keys(key_help: list[str]) -> str:
    """The key table in a few wrapped words: ``B black output · F freeze the picture · ...``."""
    out = []
    for line in key_help:
        keys, _, doc = line.partition("  ")
        out.append(f"{keys.strip()} {doc.strip().split(' (')[0]}")
    return "   ".join(out)


def hud_scale(width: int, height: int) -> float:
    """How much larger than the 960x540 design the HUD is drawn (fonts, rows, meters)."""
    return max(0.75, min(width / 960.0, height / 540.0, 4.0))


def panel_width(width: int, height: int) -> int:
    """The HUD panel's width in a ``width`` x ``height`` window: it grows with the fonts."""
    return min(int(PANEL_W * hud_scale(width, height)), width // 2)


def strip_height(width: int, height: int) -> int:
    """The preset strip's height, under the output preview."""
    return int(height * STRIP_SHARE)


def preview_area(width: int, height: int, hud: bool = True) -> tuple[int, int, int, int]:
    """(x, y, w, h) of the window the output preview is fitted into: all of it without the HUD,
    else left of the panel and above the preset strip (y from the bottom, as GL counts)."""
    if not hud:
        return 0, 0, width, height
    strip = strip_height(width, height)
    return 0, strip, width - panel_width(width, height), height - strip


class Hud:
    """The operator's HUD in one pyglet batch, laid out for a ``width`` x ``height`` window: the
    panel at the right (tempo, counters, countdown, input, lamps, status, last message, chain,
    warnings, keys) and the preset strip under the preview (thumbnails, current and queued
    marked). Everything scales with the window. Make it and draw it with the window's GL context
    current: its vertex arrays belong to that context."""

    def __init__(self, width: int, height: int, key_help: list[str] | None = None) -> None:
        import pyglet

        self.width, self.height = width, height
        self.scale = k = hud_scale(width, height)
        self.batch = b = pyglet.graphics.Batch()
        self._back = pyglet.graphics.Group(order=0)
        self._mid = pyglet.graphics.Group(order=1)
        self._front = pyglet.graphics.Group(order=2)
        self._text_time = float("-inf")
        self._texts: dict[str, str] = {}
        self._strip_key: Any = None
        self._strip: list[Any] = []
        shapes = pyglet.shapes
        pw = panel_width(width, height)
        pad = int(10 * k)
        x0 = width - pw + pad
        self.x0, inner = x0, pw - 2 * pad
        self.track_width = inner
        self._panel = shapes.Rectangle(width - pw, 0, pw, height, color=(12, 12, 16), batch=b, group=self._back)
        self._static: list[Any] = []
        y = height - pad

        def label(name: str, x: float, top: float, size: float, colour=(230, 230, 230, 255), **kw: Any) -> Any:
            lab = pyglet.text.Label("", x=x, y=top, font_size=size * k, anchor_y="top", color=colour, batch=b,
                                    group=self._front, **kw)
            self._labels[name] = lab
            return lab

        self._labels: dict[str, Any] = {}
        # Tempo: the BPM large, its source and the output's fps (or FROZEN) beside it.
        label("bpm", x0, y, 34, (255, 255, 255, 255), weight="bold")
        label("bpm_unit", x0 + int(150 * k), y - int(6 * k), 12, (160, 160, 160, 255)).text = "BPM"
        label("frozen", x0 + int(210 * k), y - int(4 * k), 16, (255, 80, 70, 255), weight="bold")
        y -= int(56 * k)
        # The bar and phrase counter, and four beat boxes lit on the beat.
        label("counter", x0, y, 18, (255, 255, 255, 255), weight="bold")
        y -= int(32 * k)
        self._beats = []
        box = (inner - 3 * pad) / 4
        for i in range(BEATS_PER_BAR):
            self._beats.append(shapes.Rectangle(x0 + i * (box + pad), y - int(12 * k), box, int(12 * k), color=_DIM,
                                                batch=b, group=self._mid))
        y -= int(18 * k)
        self._phrase_bg = shapes.Rectangle(x0, y - int(5 * k), inner, int(5 * k), color=_DIM, batch=b, group=self._mid)
        self._phrase = shapes.Rectangle(x0, y - int(5 * k), 0, int(5 * k), color=(120, 160, 255), batch=b,
                                        group=self._mid)
        y -= int(12 * k)
        # The countdown to a queued switch or section.
        label("countdown", x0, y, 15, _HOLDING + (255,), weight="bold")
        y -= int(30 * k)
        # The input: peak in dBFS on a meter from DB_FLOOR to 0, and the clip lamp.
        label("level", x0, y, 13, (230, 230, 230, 255))
        lamp_w = int(52 * k)
        self._clip = shapes.Rectangle(x0 + inner - lamp_w, y - int(20 * k), lamp_w, int(20 * k), color=_DIM, batch=b,
                                      group=self._mid)
        label("clip", x0 + inner - lamp_w + int(6 * k), y - int(3 * k), 11, (255, 255, 255, 255), weight="bold").text = "CLIP"
        y -= int(24 * k)
        self.db_width = inner
        self._static.append(shapes.Rectangle(x0, y - int(8 * k), inner, int(8 * k), color=_DIM, batch=b,
                                             group=self._mid))
        self._db = shapes.Rectangle(x0, y - int(8 * k), 0, int(8 * k), color=_LIT, batch=b, group=self._mid)
        y -= int(16 * k)
        # Onset flash and the band meters (after the analysis's gain: what the shaders see).
        fl = int(30 * k)
        self._flash = shapes.Rectangle(x0, y - fl, fl, fl, color=(255, 255, 255), batch=b, group=self._mid)
        self._meters: list[Any] = []
        mx = x0 + fl + int(44 * k)
        self.meter_width = inner - (mx - x0)
        row = int(9 * k)
        for i, (_, name) in enumerate(_METERS):
            my = y - (i + 1) * row
            self._static.append(shapes.Rectangle(mx, my, self.meter_width, row - 2, color=_DIM, batch=b,
                                                 group=self._mid))
            self._meters.append(shapes.Rectangle(mx, my, 0, row - 2, color=_LIT, batch=b, group=self._mid))
            lab = label(f"meter_{name}", x0 + fl + int(6 * k), my + row, 7, (170, 170, 170, 255))
            lab.text = name
        y -= 4 * row + int(10 * k)
        # The flags as lamps.
        self._lamps = []
        lamp = (inner - (len(FLAGS) - 1) * 4) / len(FLAGS)
        for i, (key, name, _on) in enumerate(FLAGS):
            lx = x0 + i * (lamp + 4)
            self._lamps.append(shapes.Rectangle(lx, y - int(20 * k), lamp, int(20 * k), color=_DIM, batch=b,
                                                group=self._mid))
            label(f"lamp_{key}", lx + 3 * k, y - int(4 * k), 8, (255, 255, 255, 255), weight="bold").text = name
        y -= int(28 * k)
        # The status text, the last message, the chain, the warnings; the keys at the bottom.
        keys = compact_keys(list(key_help or []))
        label("keys", x0, int(6 * k) + 1, 8, (140, 140, 140, 255), multiline=True, width=inner)
        self._labels["keys"].anchor_y = "bottom"
        self._labels["keys"].text = keys
        self._bottom = self._labels["keys"].content_height + int(10 * k) if keys else 0
        self._text_top = y
        label("status", x0, y, 11, (225, 225, 225, 255), multiline=True, width=inner)
        label("message", x0, y, 11, (150, 210, 255, 255), width=inner)
        label("chain", x0, y, 10, (200, 200, 160, 255), multiline=True, width=inner)
        label("warnings", x0, y, 9, (255, 170, 120, 255), multiline=True, width=inner)
        # The preset strip under the preview: rebuilt when the list, the marks or a thumbnail change.
        self.strip = (0, 0, width - pw, strip_height(width, height))

    # ------------------------------------------------------------------ per frame

    def update(self, now: float, state: AudioState, status: dict[str, Any], warnings: tuple[str, ...] = ()) -> None:
        """Move the markers, meters, flash and lamps to ``state`` at time ``now``; rewrite the text
        (and the preset strip: ``status["preset_list"]`` and ``status["thumbnails"]``, name -> small
        RGB array) if :data:`TEXT_EVERY_S` passed."""
        bar_beats = state.bar_beats_at(now)
        phase = state.phase_at(now)
        lit = int(bar_beats) % BEATS_PER_BAR
        glow = int(255 * (1.0 - 0.7 * phase))
        for i, beat in enumerate(self._beats):
            # The downbeat box is white, the others green; the lit one fades across its beat.
            beat.color = ((glow, glow, glow) if i == 0 else (0, glow, int(glow * 0.5))) if i == lit else _DIM
        bars = state.bars_at(now)
        self._phrase.width = self.track_width * ((bars % BARS_PER_PHRASE) / BARS_PER_PHRASE)
        self._flash.opacity = int(255 * min(1.0, max(0.0, state.onset_env)))
        for meter, (key, _) in zip(self._meters, _METERS):
            meter.width = self.meter_width * min(1.0, max(0.0, float(getattr(state, key))))
        db = state.input_dbfs
        share = min(1.0, max(0.0, (db - DB_FLOOR) / -DB_FLOOR)) if db > -math.inf else 0.0
        self._db.width = self.db_width * share
        self._db.color = _WARN if db > -1.0 else _HOLDING if db > -6.0 else _LIT
        self._clip.color = _WARN if state.clipping else _DIM
        for lamp, (key, _, on) in zip(self._lamps, FLAGS):
            lamp.color = lamp_colour(status, key, on)
        if now - self._text_time < TEXT_EVERY_S:
            return
        self._text_time = now
        frozen = _flag(status, "freeze")
        self._set("bpm", bpm_text(state))
        self._set("frozen", "FROZEN" if frozen else "")
        self._set("counter", counter_text(state, now))
        self._set("countdown", countdown_text(status, now) or "next: -")
        self._labels["countdown"].color = _HOLDING + (255,) if status.get("due_beats") is not None else (110, 110, 110, 255)
        self._set("level", level_text(state))
        self._set("status", "\n".join(status_lines(status, state)))
        self._set("message", message_text(status, now) or "LAST -")
        self._set("chain", "\n".join(["CHAIN", *chain_lines(status)]))
        self._set("warnings", "\n".join(warnings))
        self._stack()
        self._update_strip(status, status.get("thumbnails") or {})

    def _set(self, name: str, text: str) -> None:
        """Set a label's text if it changed (a label lays itself out again on every change)."""
        if self._texts.get(name) != text:
            self._labels[name].text = text
            self._texts[name] = text

    def _stack(self) -> None:
        """Put the text blocks under each other, each as tall as its text; what does not fit above
        the keys is dropped from the bottom (the warnings first)."""
        y = self._text_top
        gap = int(8 * self.scale)
        for name in ("status", "message", "chain", "warnings"):
            lab = self._labels[name]
            height = lab.content_height if lab.text else 0
            lab.y = y
            lab.visible = bool(lab.text) and y - height >= self._bottom
            y -= height + gap

    # ------------------------------------------------------------------ preset strip

    def _update_strip(self, status: dict[str, Any], thumbnails: dict[str, Any]) -> None:
        names = tuple(status.get("preset_list") or ())
        current, queued = status.get("preset") or "", status.get("queued") or ""
        key = (names, current, queued, tuple(id(thumbnails.get(n)) for n in names))
        if key == self._strip_key:
            return
        self._strip_key = key
        self._build_strip(names, current, queued, thumbnails)

    def _build_strip(self, names: tuple[str, ...], current: str, queued: str, thumbnails: dict[str, Any]) -> None:
        """Lay out the thumbnails in rows under the preview; with more presets than fit, the ones
        around the current preset."""
        import pyglet

        for item in self._strip:
            item.delete()
        self._strip = []
        x, y, w, h = self.strip
        k = self.scale
        if not names or h < 20:
            return
        pad = int(8 * k)
        name_h = int(16 * k)
        tw = int(min(150 * k, (w - pad) / 6 - pad))  # six across at least, two rows where the height allows
        th = tw * 9 // 16
        cols = max(1, (w - pad) // (tw + pad))
        rows = max(1, (h - pad) // (th + name_h + pad))
        fit = cols * rows
        start = 0
        if len(names) > fit and current in names:
            start = min(max(0, names.index(current) - fit // 2), len(names) - fit)
        b, back, front = self.batch, self._back, self._front
        for i, name in enumerate(names[start:start + fit]):
            cx = x + pad + (i % cols) * (tw + pad)
            cy = y + h - pad - (i // cols + 1) * (th + name_h + pad) + name_h
            mark = (90, 220, 120) if name == current else _HOLDING if name == queued else None
            if mark is not None:
                border = int(4 * k)
                self._strip.append(pyglet.shapes.Rectangle(cx - border, cy - border - name_h, tw + 2 * border,
                                                           th + name_h + 2 * border, color=mark, batch=b, group=back))
            self._strip.append(pyglet.shapes.Rectangle(cx, cy, tw, th, color=(30, 30, 36), batch=b, group=back))
            thumb = thumbnails.get(name)
            if thumb is not None:
                self._strip.append(_sprite(thumb, cx, cy, tw, th, b, self._mid))
            chars = max(4, int(tw / (10 * k * 0.85)))  # what fits under the thumbnail at this font
            self._strip.append(pyglet.text.Label(
                name if len(name) <= chars else name[:chars - 1] + "~", x=cx + 2, y=cy - 3, font_size=10 * k, anchor_y="top",
                color=(0, 0, 0, 255) if mark else (220, 220, 220, 255), batch=b, group=front, width=tw))
        if len(names) > fit:
            self._strip.append(pyglet.text.Label(f"{len(names)} presets, {start + 1}..{start + fit} shown", x=x + pad,
                                                 y=y + 4, font_size=8 * k, color=(140, 140, 140, 255), batch=b,
                                                 group=front))

    def draw(self) -> None:
        """Draw the panel (its window's context must be current)."""
        self.batch.draw()


def _sprite(rgb: Any, x: int, y: int, w: int, h: int, batch: Any, group: Any) -> Any:
    """A sprite of the (height, width, 3) uint8 picture ``rgb`` (top row first), fitted into w x h."""
    import numpy as np
    import pyglet

    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    ih, iw = rgb.shape[:2]
    image = pyglet.image.ImageData(iw, ih, "RGB", rgb.tobytes(), pitch=-iw * 3)  # rows top first
    sprite = pyglet.sprite.Sprite(image, x=x, y=y, batch=batch, group=group)
    scale = min(w / iw, h / ih)
    sprite.scale = scale
    sprite.x, sprite.y = x + (w - iw * scale) / 2, y + (h - ih * scale) / 2
    return sprite
