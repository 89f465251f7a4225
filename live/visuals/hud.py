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
from typing import Any

from live.handoff import LatestSlot
from live.messages import AudioState

_LOGGER = logging.getLogger(__name__)

TEXT_EVERY_S = 0.1  # the labels are rewritten at most 10 times a second
WARNINGS_KEPT = 4
PANEL_W = 360  # the HUD panel's width in pixels, at the operator window's right edge
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
    (``queued``, ``section``, decode figures) are left out."""
    bpm = f"{state.tempo:6.1f}" if state.tempo > 0 else "   ---"
    lines = [f"BPM {bpm}  conf {state.confidence:.2f}  ({state.tempo_source})"]
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
        lines.append(f"track {t.name}  {int(t.position // 60)}:{t.position % 60:04.1f} x{t.speed:.3f}  "
                     f"bar {t.bar + 1} phrase {t.phrase + 1}")
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


class Hud:
    """The HUD panel (``PANEL_W`` wide, at the right of a ``width`` x ``height`` window) in one
    pyglet batch. Make it and draw it with the window's GL context current: its vertex arrays
    belong to that context."""

    def __init__(self, width: int, height: int, key_help: list[str] | None = None) -> None:
        import pyglet

        self.width, self.height = width, height
        self.batch = pyglet.graphics.Batch()
        self._text_time = float("-inf")
        self._text: tuple[str, str] = ("", "")
        shapes, text, b = pyglet.shapes, pyglet.text, self.batch
        x0 = width - PANEL_W + 10
        self.x0, inner = x0, PANEL_W - 46  # room on the right for the tracks' names
        self._panel = shapes.Rectangle(width - PANEL_W, 0, PANEL_W, height, color=(15, 15, 18), batch=b)
        top = height - 14
        # Beat (one beat across) and bar (four beats, ticks on each) with moving markers.
        self._static, self._markers = [], []
        for row, ticks in enumerate((1, 4)):
            y = top - 14 - row * 18
            self._static.append(shapes.Rectangle(x0, y, inner, 10, color=_DIM, batch=b))
            for k in range(1, ticks):
                self._static.append(shapes.Rectangle(x0 + inner * k / ticks, y, 1, 10, color=_GREY, batch=b))
            self._markers.append(shapes.Rectangle(x0, y - 2, 4, 14, color=(255, 255, 255), batch=b))
            self._static.append(text.Label(("beat", "bar")[row], x=x0 + inner + 4, y=y + 1, font_size=7,
                                           color=(180, 180, 180, 255), batch=b))
        self.track_width = inner
        # Onset flash, then the band meters and level.
        y = top - 60
        self._flash = shapes.Rectangle(x0, y - 26, 26, 26, color=(255, 255, 255), batch=b)
        self._meters: list[Any] = []
        self.meter_width = inner - 80
        for i, (_, label) in enumerate(_METERS):
            my = y - 8 - i * 12
            self._static.append(shapes.Rectangle(x0 + 80, my, self.meter_width, 8, color=_DIM, batch=b))
            self._meters.append(shapes.Rectangle(x0 + 80, my, 0, 8, color=_LIT, batch=b))
            self._static.append(text.Label(label, x=x0 + 40, y=my, font_size=7, color=(180, 180, 180, 255), batch=b))
        # Flags as lamps.
        y -= 66
        self._lamps = []
        for i, (_, label, _on) in enumerate(FLAGS):
            lx = x0 + i * (inner // len(FLAGS))
            self._lamps.append(shapes.Rectangle(lx, y, inner // len(FLAGS) - 6, 14, color=_DIM, batch=b))
            self._static.append(text.Label(label, x=lx + 3, y=y + 3, font_size=7, batch=b))
        # Text: the status, then the warnings, then the keys.
        y -= 8
        self._status = text.Label("", x=x0, y=y, width=inner, multiline=True, anchor_y="top", font_size=9, batch=b)
        self._warnings = text.Label("", x=x0, y=y - 96, width=inner, multiline=True, anchor_y="top", font_size=7,
                                    color=(255, 170, 120, 255), batch=b)
        keys = "\n".join(key_help or [])
        self._keys = text.Label(keys, x=x0, y=10, width=inner, multiline=True, anchor_y="bottom", font_size=7,
                                color=(150, 150, 150, 255), batch=b)

    def update(self, now: float, state: AudioState, status: dict[str, Any], warnings: tuple[str, ...] = ()) -> None:
        """Move the markers, meters, flash and lamps to ``state`` at time ``now``; rewrite the text
        if :data:`TEXT_EVERY_S` passed."""
        self._markers[0].x = self.x0 + self.track_width * state.phase_at(now) - 2
        self._markers[1].x = self.x0 + self.track_width * state.bar_beats_at(now) / 4.0 - 2
        self._flash.opacity = int(255 * min(1.0, max(0.0, state.onset_env)))
        for meter, (key, _) in zip(self._meters, _METERS):
            meter.width = self.meter_width * min(1.0, max(0.0, float(getattr(state, key))))
        for lamp, (key, _, on) in zip(self._lamps, FLAGS):
            lamp.color = lamp_colour(status, key, on)
        if now - self._text_time < TEXT_EVERY_S:
            return
        self._text_time = now
        text = ("\n".join(status_lines(status, state)), "\n".join(warnings))
        if text != self._text:  # a label lays itself out again on every change: only when needed
            self._status.text, self._warnings.text = text
            self._text = text

    def draw(self) -> None:
        """Draw the panel (its window's context must be current)."""
        self.batch.draw()
