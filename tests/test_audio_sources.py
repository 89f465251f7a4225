"""Audio sources without hardware: file loading and its errors, channel choice, device lookup
errors, the real-time file source into a ring buffer."""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf

from live.audio.sources import (
    AudioError,
    FileSource,
    iter_blocks,
    load_audio,
    parse_channels,
    resolve_device,
    to_mono,
)
from live.audiofile import resample
from live.errors import UserError
from live.handoff import RingBuffer


def _wav(path, seconds=0.5, rate=22050, channels=2):
    t = np.arange(int(seconds * rate)) / rate
    x = np.column_stack([np.sin(2 * np.pi * 440 * t) * (0.5 / (c + 1)) for c in range(channels)]).astype(np.float32)
    sf.write(path, x, rate)
    return x


def test_load_audio_reads_and_resamples(tmp_path):
    x = _wav(tmp_path / "a.wav")
    data, rate = load_audio(tmp_path / "a.wav")
    assert rate == 22050 and data.shape == x.shape and data.dtype == np.float32
    np.testing.assert_allclose(data, x, atol=1e-4)
    data48, rate48 = load_audio(tmp_path / "a.wav", 48000)
    assert rate48 == 48000 and abs(len(data48) - len(x) * 48000 / 22050) <= 1
    # A resampled sine keeps its pitch: the spectral peak stays at 440 Hz.
    spec = np.abs(np.fft.rfft(data48[:, 0]))
    assert abs(np.argmax(spec) * 48000 / len(data48) - 440) < 5


@pytest.mark.parametrize("content, word", [(None, "not found"), (b"", "empty"), (b"this is not audio" * 50, "not an audio file")])
def test_load_audio_errors_name_the_file(tmp_path, content, word):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError) as err:
        load_audio(path)
    msg = str(err.value)
    assert word in msg and str(path) in msg and "\n" not in msg
    assert isinstance(err.value, UserError)


def test_to_mono_and_resample_shapes():
    st = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(to_mono(st), [0.5, 0.5])
    assert to_mono(np.ones(4)).dtype == np.float32
    assert resample(np.ones((100, 2)), 100, 200).shape == (200, 2)


def test_iter_blocks_times():
    blocks = list(iter_blocks(np.zeros(1000, dtype=np.float32), 1000, 300, start_time=5.0))
    assert [len(b) for b, _ in blocks] == [300, 300, 300, 100]
    assert [t for _, t in blocks] == pytest.approx([5.3, 5.6, 5.9, 6.0])


def test_parse_channels():
    assert parse_channels(None, 8) == (0, 1)
    assert parse_channels("mix", 1) == (0,)
    assert parse_channels("3", 8) == (2,)
    assert parse_channels("3,4", 8) == (2, 3)
    assert parse_channels("5-6", 8) == (4, 5)
    for bad in ("9", "0", "x", "1,2,3"):
        with pytest.raises(AudioError):
            parse_channels(bad, 8)


def test_resolve_device_errors_list_the_inputs(monkeypatch):
    fake = [
        {"name": "Scarlett 2i2 USB", "index": 3, "channels": 2, "samplerate": 48000.0, "hostapi": "ALSA", "default": False},
        {"name": "Scarlett 18i20 USB", "index": 4, "channels": 18, "samplerate": 48000.0, "hostapi": "ALSA", "default": True},
    ]
    monkeypatch.setattr("live.audio.sources.list_input_devices", lambda: fake)
    assert resolve_device("2i2")["index"] == 3
    assert resolve_device(4)["index"] == 4
    assert resolve_device("4")["index"] == 4
    assert resolve_device(None)["index"] == 4
    with pytest.raises(AudioError, match="matches several"):
        resolve_device("scarlett")
    with pytest.raises(AudioError, match="no audio input matches 'motu'.*Scarlett 2i2"):
        resolve_device("motu")
    with pytest.raises(AudioError, match="not an input"):
        resolve_device(7)
    monkeypatch.setattr("live.audio.sources.list_input_devices", lambda: [])
    with pytest.raises(AudioError, match="no audio input"):
        resolve_device(None)


def test_file_source_plays_in_real_time(tmp_path):
    x = _wav(tmp_path / "a.wav", seconds=0.4, rate=22050, channels=2)
    ring = RingBuffer(22050, 1, 22050)
    src = FileSource(ring, tmp_path / "a.wav", loop=False, blocksize=512)
    t0 = time.perf_counter()
    src.start()
    assert src.finished.wait(3.0)
    elapsed = time.perf_counter() - t0
    src.stop()
    data, end_time = ring.read()
    assert len(data) == len(x)
    np.testing.assert_allclose(data[:, 0], x.mean(axis=1), atol=1e-4)
    assert elapsed >= 0.35  # paced like a live input, not dumped at once
    assert abs(end_time - (t0 + 0.4)) < 0.1


def test_file_source_refuses_missing_channels(tmp_path):
    _wav(tmp_path / "m.wav", channels=1)
    ring = RingBuffer(1000, 3, 22050)
    # A mono file is spread to every channel; a stereo file cannot feed three.
    FileSource(ring, tmp_path / "m.wav")
    _wav(tmp_path / "s.wav", channels=2)
    with pytest.raises(AudioError, match="2 channel"):
        FileSource(ring, tmp_path / "s.wav")


@pytest.mark.parametrize("rate", [1, 1_000_000, 2**31 - 1])
def test_load_audio_refuses_an_absurd_sample_rate_in_the_header(tmp_path, rate):
    import struct

    path = tmp_path / "odd.wav"
    _wav(path)
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", rate)  # the WAV fmt chunk's sample rate field
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as err:
        load_audio(path)
    msg = str(err.value)
    assert f"sample rate {rate} Hz" in msg and str(path) in msg and "\n" not in msg
