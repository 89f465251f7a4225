"""Audio sources: files (loaded whole, or played into a ring buffer in real time) and live input.

Live input is a sounddevice stream whose callback only copies the chosen channels into a
:class:`~live.handoff.RingBuffer`, stamped on the one clock (``time.perf_counter()``): the
stream's ADC time is mapped onto it once, at the first callback. A watchdog thread notices a
stream that errors or stops delivering (device unplugged, sink unloaded), logs it once,
reopens the device every few seconds and resumes; nothing raises into the caller after
:meth:`InputSource.start`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from live.audiofile import AudioError
from live.audiofile import load as load_audio  # the audio part's callers read files through here
from live.handoff import RingBuffer

_LOGGER = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# files (read whole by live.audiofile, whose checks and error every part shares)


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Mix ``(frames, channels)`` down to ``(frames,)`` float32 (a 1-D input is returned as float32)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        return samples
    if samples.shape[1] == 1:
        return samples[:, 0].copy()
    return samples.mean(axis=1, dtype=np.float32)


BLOCKSIZE_RANGE = (16, 16384)  # input frames per block (per audio callback)


def check_blocksize(blocksize: int) -> int:
    """``blocksize`` (input frames per block) as an int; :class:`AudioError` outside :data:`BLOCKSIZE_RANGE`."""
    low, high = BLOCKSIZE_RANGE
    if not low <= int(blocksize) <= high:
        raise AudioError(f"block size {blocksize} is out of range; use {low}..{high} frames (e.g. 256, 512, 1024)")
    return int(blocksize)


def iter_blocks(samples: np.ndarray, samplerate: int, blocksize: int, start_time: float = 0.0):
    """Yield ``(block, end_time)`` as an input stream would deliver ``samples``, as fast as possible.

    ``end_time`` is the simulated clock time just after each block's last sample.
    """
    for start in range(0, len(samples), blocksize):
        block = samples[start : start + blocksize]
        yield block, start_time + (start + len(block)) / samplerate


class FileSource:
    """Plays an audio file into a ring buffer, paced in real time (the live input's stand-in).

    The file is loaded (and resampled to the ring's rate) in the constructor, so a bad file
    fails there with :class:`AudioError`; the playing thread itself never raises.
    """

    def __init__(self, ring: RingBuffer, path: str | os.PathLike, loop: bool = True, blocksize: int = 512) -> None:
        data, _ = load_audio(path, ring.samplerate)
        if ring.channels == 1:
            data = to_mono(data)[:, None]
        elif data.shape[1] == 1:
            data = np.repeat(data, ring.channels, axis=1)
        elif data.shape[1] < ring.channels:
            raise AudioError(f"{path} has {data.shape[1]} channel(s); {ring.channels} were asked (use a mono mix)")
        else:
            data = data[:, : ring.channels]
        self.ring = ring
        self.path = Path(path)
        self.loop = loop
        self.blocksize = int(blocksize)
        self.duration = len(data) / ring.samplerate
        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = threading.Event()

    def start(self) -> None:
        """Start playing from the beginning in a daemon thread."""
        self._stop.clear()
        self.finished.clear()
        self._thread = threading.Thread(target=self._play, name="file-source", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop playing and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _play(self) -> None:
        rate, n, pos = self.ring.samplerate, len(self._data), 0
        t0 = time.perf_counter()
        written = 0
        while not self._stop.is_set():
            if pos >= n:
                if not self.loop:
                    break
                pos = 0
            block = self._data[pos : pos + self.blocksize]
            pos += len(block)
            written += len(block)
            end_time = t0 + written / rate
            # Deliver a block once its last sample "has been played", as a capture stream would.
            delay = end_time - time.perf_counter()
            if delay > 0 and self._stop.wait(delay):
                break
            self.ring.write(block, end_time)
        self.finished.set()


# ---------------------------------------------------------------------------------------------
# live input


def list_input_devices() -> list[dict[str, Any]]:
    """Every audio input: ``name``, ``index``, ``channels``, ``samplerate`` (default), ``hostapi``, ``default``."""
    import sounddevice as sd

    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
        hostapis = sd.query_hostapis()
    except Exception as exc:  # PortAudio missing or broken: no inputs rather than a traceback
        _LOGGER.warning("cannot list audio devices: %s", exc)
        return []
    out = []
    for dev in devices:
        if dev["max_input_channels"] > 0:
            out.append({
                "name": dev["name"],
                "index": int(dev["index"]),
                "channels": int(dev["max_input_channels"]),
                "samplerate": float(dev["default_samplerate"]),
                "hostapi": hostapis[dev["hostapi"]]["name"],
                "default": int(dev["index"]) == default_in,
            })
    return out


def _describe_inputs(inputs: list[dict[str, Any]]) -> str:
    if not inputs:
        return "no audio inputs found"
    return "available inputs: " + ", ".join(f"{d['index']}: {d['name']!r}" for d in inputs)


def resolve_device(device: str | int | None) -> dict[str, Any]:
    """Find one input device by index, exact name, or case-insensitive name substring.

    ``None`` picks the system default input. No match, several matches, or an output-only
    index raise :class:`AudioError` listing the inputs.
    """
    inputs = list_input_devices()
    if device is None:
        for d in inputs:
            if d["default"]:
                return d
        if inputs:
            return inputs[0]
        raise AudioError("no audio input device found (check the interface is connected; see `run_live.py devices`)")
    if isinstance(device, int) or str(device).strip().isdigit():
        index = int(device)
        for d in inputs:
            if d["index"] == index:
                return d
        raise AudioError(f"audio device {index} is not an input; {_describe_inputs(inputs)}")
    text = str(device).strip().lower()
    exact = [d for d in inputs if d["name"].lower() == text]
    if len(exact) == 1:
        return exact[0]
    matches = [d for d in inputs if text in d["name"].lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioError(f"no audio input matches {device!r}; {_describe_inputs(inputs)}")
    raise AudioError(f"audio device {device!r} matches several inputs; {_describe_inputs(matches)}")


def parse_channels(channels: str | None, available: int) -> tuple[int, ...]:
    """Turn a channel choice into 0-based indices: ``None``/``"mix"`` = all channels (mixed to
    mono), ``"3"`` = channel 3, ``"3,4"`` or ``"3-4"`` = a pair (1-based, as printed on interfaces)."""
    if channels is None or str(channels).strip().lower() in ("", "mix", "mono", "all"):
        return tuple(range(min(available, 2)))
    text = str(channels).strip().replace("-", ",").replace("+", ",")
    try:
        picked = tuple(int(x) - 1 for x in text.split(",") if x.strip())
    except ValueError:
        picked = ()
    if not picked or len(picked) > 2:
        raise AudioError(f"channel choice {channels!r} is not valid; use mix, N, or N,M (1-based, up to {available})")
    for c in picked:
        if not 0 <= c < available:
            raise AudioError(f"channel {c + 1} does not exist on this input; it has channels 1..{available}")
    return picked


class InputSource:
    """A live sounddevice input stream feeding a ring buffer, with device-loss recovery.

    ``device``: index, exact name or name substring (None = default input). ``channels``:
    ``"mix"`` (default), ``"N"`` or ``"N,M"`` (1-based). The ring gets a mono mix when it has
    one channel, else the picked channels. ``samplerate`` defaults to the ring's rate.
    """

    RETRY_SECONDS = 2.0
    STALL_SECONDS = 1.0
    FIRST_AUDIO_SECONDS = 5.0  # some servers (PulseAudio) take ~2 s to deliver the first block

    def __init__(self, ring: RingBuffer, device: str | int | None = None, channels: str | None = None,
                 samplerate: int | None = None, blocksize: int = 512) -> None:
        info = resolve_device(device)
        self.ring = ring
        self.device_spec = device
        self.device_name: str = info["name"]
        self.device_index: int = info["index"]
        self.channels = parse_channels(channels, info["channels"])
        self.samplerate = int(samplerate or ring.samplerate)
        if self.samplerate != ring.samplerate:
            raise AudioError(f"sample rate {self.samplerate} differs from the analysis rate {ring.samplerate}")
        self.blocksize = check_blocksize(blocksize)
        self._check_settings()
        self._stream = None
        self._offset: float | None = None  # perf_counter - stream time, fixed at the first callback
        self._last_callback = 0.0
        self._error: str | None = None
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None
        self.restarts = 0
        self.lost = False

    def _check_settings(self) -> None:
        import sounddevice as sd

        try:
            sd.check_input_settings(device=self.device_index, channels=max(self.channels) + 1,
                                    samplerate=self.samplerate, dtype="float32")
        except Exception as exc:
            raise AudioError(
                f"input {self.device_name!r} refuses {self.samplerate} Hz with {max(self.channels) + 1} channel(s) "
                f"({str(exc).splitlines()[0]}); try 44100 or 48000") from None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Open the stream (raising :class:`AudioError` if that fails now) and start the watchdog."""
        self._stop.clear()
        try:
            self._open()
        except Exception as exc:
            raise AudioError(f"cannot open audio input {self.device_name!r}: {str(exc).splitlines()[0]}") from None
        self._watchdog = threading.Thread(target=self._watch, name="audio-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        """Stop the watchdog and close the stream. Never raises."""
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5.0)
        self._close()

    @property
    def active(self) -> bool:
        """True while audio is arriving."""
        return self._stream is not None and not self.lost

    # -- stream ----------------------------------------------------------------------------

    def _open(self) -> None:
        import sounddevice as sd

        self._offset = None
        self._error = None
        self._last_callback = time.perf_counter()
        self._got_audio = False
        stream = sd.InputStream(device=self._current_device(), channels=max(self.channels) + 1,
                                samplerate=self.samplerate, blocksize=self.blocksize, dtype="float32",
                                callback=self._callback, finished_callback=self._finished)
        stream.start()
        self._stream = stream

    def _current_device(self) -> int:
        # After a loss the index may have moved (USB replug): look the device up by name again.
        if self.restarts == 0 and not self.lost:
            return self.device_index
        import sounddevice as sd

        sd._terminate()
        sd._initialize()
        info = resolve_device(self.device_name)
        self.device_index = info["index"]
        return self.device_index

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception as exc:  # a dead device can make close fail; we are discarding it anyway
                _LOGGER.debug("closing input stream: %s", exc)

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        # Copy and return: no analysis, no logging, nothing that can block.
        adc = time_info.inputBufferAdcTime
        if self._offset is None:
            now = time.perf_counter()
            ref = time_info.currentTime
            self._offset = now - ref if ref > 0 else now - (adc if adc > 0 else 0.0) - frames / self.samplerate
            self._use_adc = adc > 0 and ref > 0 and abs(ref - adc) < 1.0
        if self._use_adc:
            end_time = adc + self._offset + frames / self.samplerate
        else:  # some backends report no ADC time: the callback time minus one block is close enough
            end_time = time.perf_counter()
        if self.ring.channels == 1:
            block = indata[:, list(self.channels)].mean(axis=1, keepdims=True) if len(self.channels) > 1 \
                else indata[:, self.channels[0]:self.channels[0] + 1]
        else:
            block = indata[:, list(self.channels)[: self.ring.channels]]
        self.ring.write(block, end_time)
        self._last_callback = time.perf_counter()
        self._got_audio = True
        if status and status.input_overflow:
            self._error = "input overflow"

    def _finished(self) -> None:
        if not self._stop.is_set():
            self._error = "stream stopped"

    # -- watchdog --------------------------------------------------------------------------

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            try:
                if self._stream is not None and not self.lost:
                    limit = self.STALL_SECONDS if self._got_audio else self.FIRST_AUDIO_SECONDS
                    stalled = time.perf_counter() - self._last_callback > limit
                    if stalled or not self._stream.active:
                        reason = self._error or ("no audio for %.1f s" % limit if stalled else "stream ended")
                        _LOGGER.warning("audio input %r lost (%s); the beat clock keeps running, retrying every %.0f s",
                                        self.device_name, reason, self.RETRY_SECONDS)
                        self.lost = True
                        self._close()
                        self._next_try = time.perf_counter() + self.RETRY_SECONDS
                elif self.lost and time.perf_counter() >= self._next_try:
                    self._next_try = time.perf_counter() + self.RETRY_SECONDS
                    self.restarts += 1
                    try:
                        self._open()
                        self.lost = False
                        _LOGGER.info("audio input %r resumed", self.device_name)
                    except Exception as exc:  # still gone: quietly try again later
                        _LOGGER.debug("audio input retry %d failed: %s", self.restarts, exc)
                        self._close()
            except Exception as exc:  # the watchdog must never die
                _LOGGER.debug("audio watchdog: %s", exc)
