"""Synthetic music with known beats, for the beat tests and the latency figure."""

from __future__ import annotations

import numpy as np


def synth_kick_track(segments: list[tuple[float, float]], samplerate: int = 44100, hats: bool = True,
                     bass: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 4-on-the-floor track: ``segments`` of ``(bpm, seconds)`` played one after another.

    Kick on every beat, open hat on the off-beats, a bass note on the "and" of each beat.
    Returns ``(samples float32 mono, kick onset times in seconds)``; tempo changes land on a beat.
    """
    rng = np.random.default_rng(seed)
    total = sum(s for _, s in segments)
    n = int(total * samplerate) + samplerate
    out = np.zeros(n, dtype=np.float64)
    kick_len = int(0.25 * samplerate)
    tk = np.arange(kick_len) / samplerate
    freq = 45.0 + 110.0 * np.exp(-tk / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / samplerate) * np.exp(-tk / 0.12)
    hat_len = int(0.06 * samplerate)
    hat = np.diff(rng.standard_normal(hat_len + 1)) * np.exp(-np.arange(hat_len) / samplerate / 0.015) * 0.15
    bass_len = int(0.18 * samplerate)
    tb = np.arange(bass_len) / samplerate
    beats: list[float] = []
    t, seg_start = 0.0, 0.0
    for bpm, seconds in segments:
        period = 60.0 / bpm
        while t < seg_start + seconds - 1e-9:
            beats.append(t)
            i = int(round(t * samplerate))
            out[i : i + kick_len] += 0.8 * kick[: max(0, min(kick_len, n - i))]
            j = int(round((t + period / 2) * samplerate))
            if hats and j < n:
                out[j : j + hat_len] += hat[: max(0, min(hat_len, n - j))]
            if bass and j < n:
                note = 0.25 * np.sin(2 * np.pi * 55.0 * tb) * np.minimum(1.0, (bass_len - np.arange(bass_len)) / 400.0)
                out[j : j + bass_len] += note[: max(0, min(bass_len, n - j))]
            t += period
        seg_start += seconds
        t = max(t, seg_start)
    out = out[: int(total * samplerate)]
    return (0.9 * out / max(1e-9, np.abs(out).max())).astype(np.float32), np.array(beats)


def synth_song(parts: list[tuple[int, bool]], bpm: float = 120.0, samplerate: int = 44100,
               seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """A track of known structure for song mode: ``parts`` of ``(bars, loud)`` one after another.
    Quiet: a soft kick. Loud: kick, off-beat bass and an A minor pad, eight times louder.
    Returns ``(samples float32 mono, the start time of each part in seconds)``."""
    out, starts, t = [], [], 0.0
    for i, (bars, loud) in enumerate(parts):
        seconds = bars * 4 * 60.0 / bpm
        kick, _ = synth_kick_track([(bpm, seconds)], samplerate, hats=False, bass=loud, seed=seed + i)
        if loud:
            tt = np.arange(len(kick)) / samplerate
            kick = 0.9 * kick + 0.15 * sum(np.sin(2 * np.pi * f * tt) for f in (220.0, 261.63, 329.63))
        else:
            kick = 0.15 * kick
        out.append(kick)
        starts.append(t)
        t += seconds
    y = np.concatenate(out)
    return (0.9 * y / max(1e-9, np.abs(y).max())).astype(np.float32), starts


MEDLEY = ((124.0, 1.0, "kick"), (84.0, 0.25, "pad"), (104.0, 0.6, "hats"))  # (bpm, level, voice) of each track


def synth_medley(seconds: float = 30.0, samplerate: int = 22050,
                 tracks: tuple[tuple[float, float, str], ...] = MEDLEY) -> tuple[np.ndarray, list[float]]:
    """Three made-up tracks of ``seconds`` each, played one after another, clearly different in
    tempo, loudness and timbre: a loud kick-and-bass track, a quiet slow pad with a soft kick, a
    mid-loud hat-driven one. Returns ``(samples float32 mono, the times the track changes)``."""
    out = []
    for i, (bpm, level, voice) in enumerate(tracks):
        y, beats = synth_kick_track([(bpm, seconds)], samplerate, hats=voice != "pad", bass=voice == "kick", seed=i)
        t = np.arange(len(y)) / samplerate
        if voice == "pad":  # a sustained A minor chord over a soft kick: no hats, little attack
            y = 0.2 * y + 0.25 * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 261.63, 329.63))
        elif voice == "hats":  # extra sixteenth-note noise: bright, busy
            rng = np.random.default_rng(i)
            noise = rng.standard_normal(len(y)) * 0.3
            y = y + np.diff(noise, prepend=0.0) * np.exp(-((t * bpm / 60.0 * 4) % 1) * 8)
        out.append(level * y / max(1e-9, np.abs(y).max()))
    changes = [seconds * k for k in range(1, len(tracks))]
    return np.concatenate(out).astype(np.float32), changes
