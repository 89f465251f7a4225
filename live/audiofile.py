"""Reading a whole audio file, the one way every part does it (the audio part's inputs and
commands, and the library's ``set add`` and ``song``): soundfile reads WAV/FLAC/OGG/AIFF (and MP3
with libsndfile >= 1.1); anything else goes through PyAV (ffmpeg: a DJ's AAC or ALAC ``.m4a``,
Opus...). :func:`load` checks what it read and says what is wrong in one :class:`AudioError`.
A bottom module: it knows files and samples, nothing of the show.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from live.errors import UserError

_LOGGER = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".m4a", ".aac", ".opus")  # what a folder of tracks is read for
AUDIO_SUFFIXES = ", ".join(e[1:] for e in AUDIO_EXTENSIONS)  # the same, as messages name them
SAMPLERATE_RANGE = (8000, 384000)  # Hz: what audio interfaces and audio files really use


class AudioError(UserError):
    """A file, device, channel, sample rate or block size we cannot use (one line, with the choices)."""


def check_samplerate(rate: float, what: str) -> None:
    """AudioError naming ``what`` unless ``rate`` is a real audio sample rate (:data:`SAMPLERATE_RANGE`)."""
    low, high = SAMPLERATE_RANGE
    if not low <= rate <= high:
        raise AudioError(f"{what}: sample rate {rate:.0f} Hz is out of range; audio runs at {low} to {high} Hz")


def load(path: str | os.PathLike, samplerate: int | None = None) -> tuple[np.ndarray, int]:
    """Read a whole audio file as float32 ``(frames, channels)`` and its sample rate.

    Decoded by :func:`decode` (soundfile, else PyAV's ffmpeg). With ``samplerate`` the audio is
    resampled (polyphase) to that rate. A missing, empty or non-audio file raises
    :class:`AudioError` naming the file.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise AudioError(f"audio file not found: {p}")
    if p.stat().st_size == 0:
        raise AudioError(f"audio file is empty: {p}")
    try:
        data, rate = decode(p)
    except ValueError as exc:
        _LOGGER.debug("%s", exc)
        raise AudioError(f"not an audio file we can read: {p} (supported: {AUDIO_SUFFIXES})") from None
    # A damaged or hand-made header can claim any rate; the analysis would run at it.
    check_samplerate(rate, f"{p} (its header)")
    if data.size == 0 or len(data) == 0:
        raise AudioError(f"audio file has no samples: {p}")
    if samplerate is not None and int(samplerate) != rate:
        data = resample(data, rate, int(samplerate))
        rate = int(samplerate)
    return np.ascontiguousarray(data, dtype=np.float32), int(rate)


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """The file's samples as float32 ``(frames, channels)`` and its sample rate; ValueError saying
    why neither soundfile nor PyAV could read it."""
    p = Path(path)
    try:
        return _load_soundfile(p)
    except Exception as sf_exc:  # soundfile cannot read it: try ffmpeg before giving up
        try:
            return _load_av(p)
        except Exception as av_exc:
            raise ValueError(f"{p}: soundfile: {sf_exc}; PyAV: {av_exc}") from None


def _load_soundfile(p: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(str(p), dtype="float32", always_2d=True)
    return data, int(rate)


def _load_av(p: Path) -> tuple[np.ndarray, int]:
    import av

    chunks: list[np.ndarray] = []
    with av.open(str(p)) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.rate or stream.codec_context.sample_rate)
        channels = stream.codec_context.channels or 1
        resampler = av.AudioResampler(format="flt", layout="mono" if channels == 1 else "stereo", rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1, 1 if channels == 1 else 2))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1, 1 if channels == 1 else 2))
    if not chunks:
        raise ValueError("no audio frames")
    return np.concatenate(chunks).astype(np.float32), rate


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Polyphase resampling of ``(frames, channels)`` or ``(frames,)`` float audio."""
    from scipy.signal import resample_poly

    g = math.gcd(int(rate_in), int(rate_out))
    return resample_poly(samples, rate_out // g, rate_in // g, axis=0).astype(np.float32)
