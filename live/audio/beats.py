"""The beats the show would flash for an audio file, found causally by the live code path.

The file is cut into input-sized blocks, each fed to the same
:class:`~live.audio.analysis.AudioEngine` the show uses, stamped with the time it would arrive
live. After each block, a :class:`~live.beat.clock.BeatScheduler` commits the beats the clock
predicts at least ``lookahead`` ahead of the audio analysed so far. A beat at time t was
therefore decided from audio before t - lookahead and is never revised.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from live.audio.analysis import AudioEngine
from live.audio.recognise import Matcher, Recogniser
from live.audio.settings import DEFAULTS, AnalysisSettings
from live.audio.sources import AudioError, check_blocksize, iter_blocks, to_mono
from live.beat.clock import BeatScheduler

_LOGGER = logging.getLogger(__name__)


def track_beats(samples: np.ndarray, samplerate: int, lookahead: float = 0.05, blocksize: int = 512,
                settings: AnalysisSettings = DEFAULTS, matcher: Matcher | None = None) -> list[dict[str, Any]]:
    """Run the live chain causally over ``samples`` and return the committed beats, in order:
    dicts with ``time`` (s from the start), ``bpm`` (the steady published tempo; None until known,
    never the clock's default 120), ``confidence``, ``beat`` (index) and ``bar`` (position in the
    bar, 1 = downbeat). ``settings`` choose the onset function and tempo range. With a prepared
    set's ``matcher`` (``SetIndex``) a recogniser runs beside the analysis, inline every 0.5 s of
    the file (deterministic), and each beat gets ``track``: the recognised track's name or None."""
    if lookahead < 0 or lookahead > 2.0:
        raise AudioError(f"lookahead {lookahead * 1000:g} ms is out of range; use 0..2000 ms")
    check_blocksize(blocksize)
    engine = AudioEngine(samplerate, settings, Recogniser(matcher, samplerate) if matcher is not None else None)
    scheduler = BeatScheduler(lookahead)
    mono = to_mono(samples)
    beats: list[dict[str, Any]] = []
    for block, end_time in iter_blocks(mono, samplerate, blocksize):
        engine.feed(block, end_time)
        state = engine.state
        for t, index in scheduler.advance(state, end_time):
            beats.append({
                "time": round(float(t), 4),
                # The published tempo (steady; what Link and /status say), null until known.
                "bpm": round(float(state.tempo), 2) if state.tempo > 0 else None,
                "confidence": round(float(state.confidence), 3),
                "beat": int(index),
                "bar": int((index - state.beat_index + state.downbeat) % 4) + 1,
            })
            if matcher is not None:
                beats[-1]["track"] = state.track.name if state.track is not None else None
    duration = len(mono) / samplerate
    return [b for b in beats if 0.0 <= b["time"] < duration]
