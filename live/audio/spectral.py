"""madmom's online features on a live stream: the log filtered spectrogram of each frame and its
positive first differences, computed as the samples arrive (the input of the rnn and BeatNet
beat activations, :mod:`live.audio.rnn` and :mod:`live.audio.beatnet`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import scipy.fft


class StreamingSpectralDiff:
    """Frame-by-frame ``[log spectrum, positive difference]`` features of a stream of samples.

    ``frame_end(k)`` says one past the last sample (counted from the first one fed) that frame
    ``k`` covers; each frame is the ``frame_size`` samples before it, windowed, transformed with
    an ``nfft``-point FFT, summed through ``filterbank`` (FFT bins x bands) and taken as
    ``log10(1 + x)``. The difference is against the spectrum ``diff_frames`` frames earlier, as
    madmom's SpectrogramDifference (0 for the first frames).
    """

    def __init__(self, frame_size: int, window: np.ndarray, nfft: int, filterbank: np.ndarray, diff_frames: int,
                 frame_end: Callable[[int], int]) -> None:
        self.frame_size, self.nfft, self.diff_frames = int(frame_size), int(nfft), int(diff_frames)
        self._window, self._fb, self._frame_end = window, filterbank, frame_end
        self.reset()

    def reset(self) -> None:
        """Forget all audio (a new stream)."""
        self._buf = np.zeros(self.frame_size, dtype=np.float32)  # the newest frame_size samples
        self.received = 0  # samples fed so far
        self.frames = 0  # frames computed so far; the next ends at sample frame_end(frames)
        self._prev: np.ndarray | None = None  # the last diff_frames log spectra

    def process(self, samples: np.ndarray) -> np.ndarray:
        """The features (frames x 2 bands, float32) of the frames ``samples`` complete; often none or one."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        start = self.received
        buf = np.concatenate((self._buf, x))  # buf[-1] is sample start + len(x) - 1
        self.received += len(x)
        ends = []
        while self._frame_end(self.frames) <= self.received:
            ends.append(self._frame_end(self.frames))
            self.frames += 1
        self._buf = buf[-self.frame_size:]
        if not ends:
            return np.zeros((0, 2 * self._fb.shape[1]), dtype=np.float32)
        base = start - self.frame_size  # absolute sample index of buf[0]; negative indices are silence
        idx = np.array(ends)[:, None] - base - self.frame_size + np.arange(self.frame_size)[None, :]
        spec = np.abs(scipy.fft.rfft(buf[idx] * self._window, n=self.nfft, axis=1)[:, : self.nfft // 2])
        logspec = np.log10(spec @ self._fb + 1.0)
        if self._prev is None:  # madmom's first differences are 0
            self._prev = np.repeat(logspec[:1], self.diff_frames, axis=0)
        hist = np.concatenate((self._prev, logspec))
        diff = np.maximum(hist[self.diff_frames:] - hist[: -self.diff_frames], 0.0)
        self._prev = hist[-self.diff_frames:]
        return np.hstack((logspec, diff)).astype(np.float32)


class FeatureActivation:
    """What the rnn and BeatNet activations share: a :class:`StreamingSpectralDiff` (``_features``)
    feeding a network that carries state from block to block (``_network``, with ``reset()``)."""

    _features: StreamingSpectralDiff
    _network: Any

    def reset(self) -> None:
        """Forget all audio and network state (a new stream)."""
        self._features.reset()
        self._network.reset()

    @property
    def frames(self) -> int:
        """Frames computed so far."""
        return self._features.frames

    @property
    def received(self) -> int:
        """Samples fed so far."""
        return self._features.received
