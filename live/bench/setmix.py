"""`bench set`, the live half: a DJ mix of prepared tracks, followed by the show's clock.

Material: annotated clips (``NAME.wav`` + ``NAME.beats``: time, bar position per line; the
development clips by default, read where they are, never copied). They are prepared twice into a
set in a temporary folder: from the audio alone (``set add``'s tracker: madmom when installed, else
librosa) and with grids from a rekordbox XML generated from the annotations (one ``TEMPO`` per beat,
as rekordbox writes a varying grid). The mix plays each clip from 3 s for :data:`PLAY_S` at its own
speed (alternately resampled and key-locked), with :data:`FADE_S` equal-power crossfades.
The same figures are measured on a second mix, of generated tracks with a clear structure
(:func:`structured_tune`, at :data:`GEN_BPM`): the issue's "material you generate", beside the
development clips (whose annotations, on some clips, count the bar or the tempo octave otherwise
than any 4/4 analysis would).

Figures, per set:

* **beat F and downbeat F** of the beats ``beats --set`` commits (the live code path: engine,
  recogniser inline every 0.5 s, scheduler with its lookahead) against the annotations mapped
  through each track's speed, the dominant track's (the incoming from the middle of a blend);
  mir_eval, +-70 ms, first 5 s trimmed, as ``bench beats``;
* **track named**: the share of committed beats from 5 s after a track comes in (its fade starts)
  to the middle of the next blend that name it;
* **the DJ's mix**: the same tracks mixed again as a DJ blends them, each incoming track at the
  outgoing one's tempo (or its double or half) with one of its downbeats on one of the outgoing
  track's, where that takes no more than the pitch fader's 8% (:func:`_beat_match`; the other blends
  stay as above), followed with the XML grids. The mix above is the harder case: no blend is
  beat-matched, so until the switch to the incoming track (0.5-2.5 s after the blend's middle) the
  outgoing track's grid misses the incoming beats, which a beat-matched blend shares;
* **out of the set**: each track then a hard cut or a blend into another clip of the folder, one
  not in the set (:func:`out_of_set`): beats naming a track once that music plays, which must be none;
* **a room**: the first mix again as a microphone hears it in a small club (:func:`in_a_room`,
  ``ROOMS[0]``), followed with the XML grids;
* **jumps**: one clip played, then a jump of +16 and of -16 beats (a hot cue); the time until the
  recognised position is within 50 ms of the truth again;
* **cost**: CPU time of the recogniser (matching included) per second of 48 kHz input.
"""

from __future__ import annotations

import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from live import fingerprint as fp

RATE = 22050
PLAY_S = 20.0  # seconds each track plays in the mix, fades included
FADE_S = 4.0
START_S = 3.0  # where in its file each track is cued
SPEEDS = (1.0, 1.04, 0.97, 1.06, 0.95, 1.02, 0.93, 1.08)
# DJ material from the development clips: the genres with a steady beat.
MIX_CLIPS = ("disco_00000", "hiphop_00000", "pop_00000", "reggae_00000", "rock_00000", "metal_00000")
GEN_BPM = (124.0, 100.0, 140.0, 165.0, 112.0, 128.0)  # the generated tracks' tempi: each 8% from the others
GEN_SECONDS = 60.0
NAMED_AFTER_S = 5.0
# Rooms a microphone hears the PA in: (reverb time RT60 s, reverb energy against the direct sound dB,
# pink noise under the music dB). A small club near the booth, then a hall far from the speakers.
ROOMS = ((0.6, 0.0, 20.0), (1.2, 6.0, 10.0))
JUMP_BEATS = 16
REALIGN_TOL_S = 0.05


def read_clip(path: Path) -> np.ndarray:
    """The clip at ``path`` as mono float32 at :data:`RATE`, at a common loudness (:func:`loud`)."""
    import soundfile as sf

    y, sr = sf.read(path, dtype="float32", always_2d=True)
    return loud(fp.resample(y.mean(axis=1), sr, RATE))


def loud(y: np.ndarray) -> np.ndarray:
    """``y`` at a common loudness (RMS 0.1), so "the loudest" means the mix's gain, not the master."""
    return (y * (0.1 / (np.sqrt(np.mean(y**2)) + 1e-9))).astype(np.float32)


def play(y: np.ndarray, speed: float, resampled: bool) -> np.ndarray:
    """``y`` played at ``speed``: resampled (pitch moves with it) or time-stretched (key lock)."""
    import librosa
    import scipy.signal

    if speed == 1.0:
        return y
    if resampled:
        return scipy.signal.resample(y, int(round(len(y) / speed))).astype(np.float32)
    return librosa.effects.time_stretch(y, rate=speed).astype(np.float32)


def in_a_room(y: np.ndarray, rt60: float, reverb_db: float, noise_db: float, seed: int = 0) -> np.ndarray:
    """``y`` as a microphone hears it in a room: convolved with a reverb tail (noise decaying 60 dB
    in ``rt60`` s after 5 ms, ``reverb_db`` louder than the direct sound in all), band-limited as a PA
    plays it (120 Hz-7 kHz) and with pink noise ``noise_db`` under it (the crowd, the room)."""
    import scipy.signal

    rng = np.random.default_rng(seed)
    t = np.arange(int(rt60 * RATE)) / RATE
    tail = rng.standard_normal(len(t)) * np.exp(-6.9 * t / rt60) * (t >= 0.005)
    tail *= 10 ** (reverb_db / 20) / np.sqrt(np.sum(tail**2))
    tail[0] = 1.0  # the direct sound
    wet = scipy.signal.fftconvolve(y, tail)[: len(y)]
    wet = scipy.signal.sosfilt(scipy.signal.butter(2, (120, 7000), "bandpass", fs=RATE, output="sos"), wet)
    pink = scipy.signal.lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                                [1, -2.494956002, 2.017265875, -0.522189400], rng.standard_normal(len(y)))
    pink *= np.sqrt(np.mean(wet**2) / np.mean(pink**2)) * 10 ** (-noise_db / 20)
    return (wet + pink).astype(np.float32)


@dataclass
class MixFigures:
    """What :func:`measure_mix` found, per set (``audio``, ``rekordbox``)."""

    beat_f: dict[str, float] = field(default_factory=dict)
    downbeat_f: dict[str, float] = field(default_factory=dict)
    named: dict[str, float] = field(default_factory=dict)
    clock_f: float = 0.0  # the same mix without a set (today's clock)
    clock_downbeat_f: float = 0.0
    realign_s: list[float] = field(default_factory=list)
    core_share: float = 0.0
    matched: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (beat F, downbeat F, named) of the beat-matched mix, XML grids
    matched_blends: int = 0
    room: tuple[float, float, float] = (0.0, 0.0, 0.0)  # (beat F, downbeat F, named) of the mix through ROOMS[0], XML grids
    out_of_set: tuple[int, int, int] = (0, 0, 0)  # (beats naming a track, beats, cases) after set tracks went out into music not in the set
    tracks: int = 0
    minutes: float = 0.0
    origin: str = ""
    material: str = ""  # what was mixed, for the report's heading


def read_annotations(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(beat times, bar positions) of a ``.beats`` file."""
    rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
    return np.array([float(r[0]) for r in rows]), np.array([int(float(r[1])) if len(r) > 1 else 0 for r in rows])


def rekordbox_xml(path: Path, tracks: dict[Path, tuple[np.ndarray, np.ndarray]]) -> Path:
    """A rekordbox collection export with one ``TEMPO`` per annotated beat of each track."""
    rows = []
    for k, (file, (beats, bars)) in enumerate(tracks.items()):
        loc = "file://localhost" + urllib.parse.quote(str(file.resolve()))
        periods = np.diff(beats)
        periods = np.append(periods, periods[-1])
        marks = "".join(f'<TEMPO Inizio="{t:.3f}" Bpm="{60.0 / p:.2f}" Metro="4/4" Battito="{max(1, n)}"/>'
                        for t, p, n in zip(beats, periods, bars))
        rows.append(f'<TRACK TrackID="{k + 1}" Name="{file.stem}" Location="{loc}" TotalTime="30">{marks}</TRACK>')
    path.write_text('<?xml version="1.0" encoding="UTF-8"?><DJ_PLAYLISTS Version="1.0.0">'
                    '<PRODUCT Name="rekordbox" Version="6.8.2" Company="AlphaTheta"/>'
                    f'<COLLECTION Entries="{len(rows)}">{"".join(rows)}</COLLECTION></DJ_PLAYLISTS>', encoding="utf-8")
    return path


@dataclass
class Mix:
    """A mix and its truth: the audio, the reference beats and downbeats, and which track dominates
    each reference beat; ``spans`` are (name, from, to): where a track must be named."""

    audio: np.ndarray
    beats: np.ndarray
    downbeats: np.ndarray
    spans: list[tuple[str, float, float]]
    matched: int = 0  # blends beat-matched and bar-aligned (make_mix's ``matched``)


def _beat_match(beats: np.ndarray, bars: np.ndarray, out_beats: np.ndarray, out_downs: np.ndarray,
                start: float) -> tuple[float, float] | None:
    """(speed, cue) at which a DJ brings in a track with ``beats``/``bars`` (file times) over the
    outgoing track's ``out_beats``/``out_downs`` (mix times) at mix time ``start``: its tempo (or
    its double or half) set to the outgoing one's within the pitch fader's 8%, and cued so that one
    of its downbeats lands on the outgoing track's first downbeat after ``start``; None when no
    speed in range matches (the DJ would not beat-match that pair)."""
    played = 60.0 / float(np.median(np.diff(out_beats[(out_beats >= start - 8.0) & (out_beats < start + 4.0)])))
    tempo = 60.0 / float(np.median(np.diff(beats)))
    speed = next((played / (tempo * m) for m in (1.0, 2.0, 0.5) if abs(played / (tempo * m) - 1.0) <= 0.08), None)
    ahead = out_downs[out_downs >= start]
    downs = beats[bars == 1]
    if speed is None or not len(ahead) or not len(downs):
        return None
    lead = (float(ahead[0]) - start) * speed  # file seconds from the cue to the downbeat that lands there
    later = downs[downs >= START_S + lead]
    return (round(speed, 4), float(later[0]) - lead) if len(later) else None


def make_mix(tracks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]], speeds: tuple[float, ...] = SPEEDS,
             play_s: float = PLAY_S, fade_s: float = FADE_S, matched: bool = False) -> Mix:
    """The mix of ``tracks`` ((name, audio at :data:`RATE`, beat times, bar positions)), each at its
    speed (even: resampled, odd: key lock), cued at :data:`START_S`, overlapping by ``fade_s``.
    ``matched``: each blend beat-matched and bar-aligned as a DJ does (:func:`_beat_match`) where
    the two tempi lie within the pitch fader's reach; :attr:`Mix.matched` counts those blends."""
    step = play_s - fade_s
    n = int((step * (len(tracks) - 1) + play_s) * RATE)
    out = np.zeros(n, np.float32)
    ref_b, ref_d, spans = [], [], []
    played_b, played_d = np.zeros(0), np.zeros(0)  # the outgoing track's beats and downbeats in mix time
    blends = 0
    for k, (name, y, beats, bars) in enumerate(tracks):
        speed, cue = speeds[k % len(speeds)], START_S
        start = k * step
        fit = _beat_match(beats, bars, played_b, played_d, start) if matched and k > 0 else None
        if fit is not None:
            (speed, cue), blends = fit, blends + 1
        seg = play(y[int(cue * RATE):], speed, resampled=k % 2 == 0)[: int(play_s * RATE)]
        t = np.arange(len(seg)) / RATE
        gain = np.ones(len(seg))
        if k > 0:
            gain *= np.sin(np.clip(t / fade_s, 0, 1) * np.pi / 2)
        if k < len(tracks) - 1:
            gain *= np.cos(np.clip((t - (play_s - fade_s)) / fade_s, 0, 1) * np.pi / 2)
        i = int(start * RATE)
        out[i:i + len(seg)] += (seg * gain).astype(np.float32)[: n - i]
        # The track dominates from the middle of its blend in to the middle of its blend out.
        lo = start + fade_s / 2 if k > 0 else 0.0
        hi = start + play_s - fade_s / 2 if k < len(tracks) - 1 else start + len(seg) / RATE
        mix_t = start + (beats - cue) / speed
        keep = (mix_t >= lo) & (mix_t < hi)
        ref_b.append(mix_t[keep])
        ref_d.append(mix_t[keep & (bars == 1)])
        spans.append((name, start + NAMED_AFTER_S if k > 0 else NAMED_AFTER_S, hi))
        played_b, played_d = mix_t, mix_t[bars == 1]
    return Mix(out, np.concatenate(ref_b), np.concatenate(ref_d), spans, blends)


def score(mix: Mix, committed: list[dict]) -> tuple[float, float, float]:
    """(beat F, downbeat F, share of beats in the spans naming their track) of ``beats --set`` output."""
    import mir_eval

    est = np.array([b["time"] for b in committed])
    down = np.array([b["time"] for b in committed if b["bar"] == 1])
    f = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(mix.beats), mir_eval.beat.trim_beats(est))
    fd = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(mix.downbeats), mir_eval.beat.trim_beats(down))
    right = total = 0
    for name, lo, hi in mix.spans:
        inside = [b for b in committed if lo <= b["time"] < hi]
        total += len(inside)
        right += sum(b.get("track") == name for b in inside)
    return float(f), float(fd), right / max(1, total)


def realign(index: object, y: np.ndarray, beats: np.ndarray, jump_beats: int = JUMP_BEATS,
            piece_s: float = 7.0) -> list[float]:
    """Play ``y`` from 3 s, jump +``jump_beats`` beats after ``piece_s``, then -``jump_beats`` after
    ``piece_s`` more; the seconds after each jump until the recognised position is within
    :data:`REALIGN_TOL_S` of the truth (and stays there)."""
    from live.audio.recognise import Recogniser

    rec = Recogniser(index, RATE)  # type: ignore[arg-type]
    period = float(np.median(np.diff(beats)))
    p1 = START_S
    p2 = p1 + piece_s + jump_beats * period
    p3 = p2 + piece_s - jump_beats * period
    pieces = [(0.0, p1), (piece_s, p2), (2 * piece_s, p3)]
    if p2 + piece_s > len(y) / RATE:
        raise ValueError(f"a jump of {jump_beats} beats needs a track of {p2 + piece_s:.0f} s")
    audio = np.concatenate([y[int(p * RATE): int(p * RATE) + int(piece_s * RATE)] for _, p in pieces])
    took: dict[float, float | None] = {piece_s: None, 2 * piece_s: None}
    block = 512
    for i in range(0, len(audio), block):
        t = (i + block) / RATE
        rec.push(audio[i:i + block], t)
        now = rec.at(t)
        start, pos = next((s, p) for s, p in reversed(pieces) if t >= s)
        if start not in took:
            continue
        ok = now is not None and abs(now[0].position - (pos + t - start)) <= REALIGN_TOL_S
        if ok and took[start] is None:
            took[start] = t - start
        elif not ok:
            took[start] = None
    return [float("inf") if v is None else v for v in took.values()]


def cost(index: object, mix: np.ndarray) -> float:
    """CPU share of one core the recogniser takes on ``mix`` played at 48 kHz."""
    from live.audio.recognise import Recogniser

    x = fp.resample(mix, RATE, 48000)
    rec = Recogniser(index, 48000)  # type: ignore[arg-type]
    for i in range(0, len(x), 1024):
        rec.push(x[i:i + 1024], (i + 1024) / 48000)
    return rec.busy / (len(x) / 48000)


def out_of_set(index: object, tracks: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
               others: list[np.ndarray], after_s: float = 4.0) -> tuple[int, int, int]:
    """Each of ``tracks`` (as :func:`make_mix` takes them) played 12 s at 1.03, then music not in
    the set (``others``, in turn) by a hard cut and by a :data:`FADE_S` blend: (beats naming any
    track from ``after_s`` after the cut or the blend's middle, those beats, cases). A claim there is
    the false identification the issue forbids, on the live path (the recogniser, not one window)."""
    from live.audio.beats import track_beats

    named = total = cases = 0
    for k, (_, y, _, _) in enumerate(tracks):
        for fade in (0.0, FADE_S):
            outgoing = play(y[int(START_S * RATE): int((START_S + 12.0) * RATE)], 1.03, True)
            other = others[(2 * k + (fade > 0)) % len(others)][int(2.0 * RATE): int(22.0 * RATE)]
            cut = len(outgoing) - int(fade * RATE)
            mix = np.zeros(cut + len(other), np.float32)
            t = np.arange(len(mix)) / RATE - cut / RATE
            ramp = np.clip(t / fade, 0.0, 1.0) if fade else (t >= 0).astype(float)
            mix[:len(outgoing)] += outgoing * np.cos(ramp[:len(outgoing)] * np.pi / 2)
            mix[cut:] += other * np.sin(ramp[cut:] * np.pi / 2)
            later = [b for b in track_beats(mix, RATE, matcher=index) if b["time"] > cut / RATE + fade / 2 + after_s]
            named += sum(bool(b.get("track")) for b in later)
            total, cases = total + len(later), cases + 1
    return named, total, cases


def measure_mix(clips: str, names: tuple[str, ...] = MIX_CLIPS, audio_set: bool = True,
                tracker: object = None, tracker_name: str = "librosa") -> MixFigures:
    """Every figure of the module doc on the clips ``names`` of the folder ``clips``."""
    from live.audio.beats import track_beats
    from live.library import sets

    figures = MixFigures(origin=tracker_name, material=f"development clips ({', '.join(names)})")
    tracks, files = [], {}
    for name in names:
        wav = Path(clips) / f"{name}.wav"
        beats, bars = read_annotations(wav.with_suffix(".beats"))
        tracks.append((sets.track_name(wav), read_clip(wav), beats, bars))
        files[wav] = (beats, bars)
    mix = make_mix(tracks)
    figures.tracks, figures.minutes = len(tracks), len(mix.audio) / RATE / 60
    plain = track_beats(mix.audio, RATE)
    figures.clock_f, figures.clock_downbeat_f, _ = score(mix, plain)
    with tempfile.TemporaryDirectory() as tmp:
        xml = rekordbox_xml(Path(tmp) / "rekordbox.xml", files)
        kinds = (("rekordbox", xml), ("audio", None)) if audio_set else (("rekordbox", xml),)
        for kind, grid_xml in kinds:
            setdir = Path(tmp) / kind
            report = sets.add_tracks(setdir, [str(f) for f in files], tracker=tracker, tracker_name=tracker_name,  # type: ignore[arg-type]
                                     rekordbox_xml=grid_xml, progress=False)
            if report.refused:
                raise RuntimeError(f"bench set: {report.refused[0]}")
            index = sets.SetIndex.load(setdir)
            committed = track_beats(mix.audio, RATE, matcher=index)
            figures.beat_f[kind], figures.downbeat_f[kind], figures.named[kind] = score(mix, committed)
            if kind == "rekordbox":
                figures.realign_s = realign(index, tracks[0][1], tracks[0][2])
                figures.core_share = cost(index, mix.audio)
                matched = make_mix(tracks, matched=True)
                figures.matched_blends = matched.matched
                figures.matched = score(matched, track_beats(matched.audio, RATE, matcher=index))
                figures.room = score(mix, track_beats(in_a_room(mix.audio, *ROOMS[0]), RATE, matcher=index))
                others = [read_clip(w) for w in sorted(Path(clips).glob("*.wav")) if w.stem not in names]
                if others:
                    figures.out_of_set = out_of_set(index, tracks, others)
    return figures


def structured_tune(seed: int, bpm: float, seconds: float = GEN_SECONDS, samplerate: int = RATE
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A generated 4/4 track with a clear structure: ``(samples float32 mono, beat times, bar
    positions 1..4)``. Four-on-the-floor kick with off-beat hats (:func:`synth_kick_track`), a clap
    on 2 and 4, a bass note and a pad chord that change on every bar's one, a crash on the one of
    every 8-bar phrase, and from the second phrase on, in every other phrase, a melody of its own
    (eighth notes from a scale of the seed, its own timbre) so the fingerprints tell the tracks apart."""
    from live.bench.synth import synth_kick_track

    rng = np.random.default_rng(seed)
    drums, beats = synth_kick_track([(bpm, seconds)], samplerate, bass=False, seed=seed)
    out = drums[: int(seconds * samplerate)].astype(np.float64) * 0.6
    n = len(out)
    period = 60.0 / bpm
    bars = np.arange(len(beats)) % 4 + 1

    def put(at: float, sound: np.ndarray) -> None:
        i = int(round(at * samplerate))
        if 0 <= i < n:
            out[i: i + len(sound)] += sound[: n - i]

    tc = np.arange(int(0.15 * samplerate)) / samplerate
    clap = rng.standard_normal(len(tc)) * np.exp(-tc / 0.04) * 0.35
    tr = np.arange(int(1.5 * samplerate)) / samplerate
    crash = np.diff(rng.standard_normal(len(tr) + 1)) * np.exp(-tr / 0.5) * 0.15
    tonic = 40 + int(rng.integers(12))  # MIDI note of the key (E2..D#3)
    scale = np.array((0, 2, 3, 5, 7, 8, 10, 12, 14, 15) if seed % 2 else (0, 2, 4, 5, 7, 9, 11, 12, 14, 16))
    harmonics = rng.uniform(0.1, 1.0, 4) / np.arange(1, 5)
    tb = np.arange(int(4 * period * samplerate)) / samplerate
    bar_env = np.minimum(1.0, tb / 0.01) * np.exp(-tb / (2.0 * period))
    te = np.arange(int(period / 2 * samplerate)) / samplerate
    note_env = np.exp(-te / rng.uniform(0.05, 0.15))
    chord = 0
    for k, (t, p) in enumerate(zip(beats, bars)):
        if p in (2, 4):
            put(t, clap)
        if p != 1:
            continue
        bar = k // 4
        if bar % 8 == 0:
            put(t, crash)
        chord = (chord + int(rng.integers(1, 6))) % 6
        root = (0, 5, 7, 3, 8, 10)[chord]
        hz = 440.0 * 2 ** ((tonic + root - 69) / 12.0)
        put(t, 0.35 * np.sin(2 * np.pi * hz * tb) * bar_env)
        third = 3 if seed % 2 else 4
        pad = sum(np.sin(2 * np.pi * hz * 4 * 2 ** (s / 12.0) * tb) for s in (0, third, 7))
        put(t, 0.05 * pad * np.minimum(1.0, tb / 0.05))
        if (bar // 8) % 2 == 1:  # the melody's phrases
            for e in range(8):
                if rng.random() < 0.75:
                    f = 440.0 * 2 ** ((tonic + 24 + rng.choice(scale) - 69) / 12.0)
                    put(t + e * period / 2, 0.12 * sum(w * np.sin(2 * np.pi * f * (h + 1) * te)
                                                       for h, w in enumerate(harmonics)) * note_env)
    return (0.9 * out / max(1e-9, np.abs(out).max())).astype(np.float32), beats, bars.astype(float)


def measure_generated_mix(count: int = 4, seconds: float = GEN_SECONDS, audio_set: bool = True,
                          tracker: object = None, tracker_name: str = "librosa") -> MixFigures:
    """:func:`measure_mix` on ``count`` tracks made by :func:`structured_tune` at :data:`GEN_BPM`
    (written with their annotations to a temporary folder, removed after)."""
    import soundfile as sf

    if not 2 <= count <= len(GEN_BPM):
        raise ValueError(f"a generated mix takes 2..{len(GEN_BPM)} tracks, not {count}")
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for k in range(count):
            name = f"generated{k}"
            y, beats, bars = structured_tune(200 + k, GEN_BPM[k], seconds)
            sf.write(Path(tmp) / f"{name}.wav", y, RATE)
            (Path(tmp) / f"{name}.beats").write_text("".join(f"{t:.4f}\t{int(p)}\n" for t, p in zip(beats, bars)))
            names.append(name)
        figures = measure_mix(tmp, tuple(names), audio_set=audio_set, tracker=tracker, tracker_name=tracker_name)
    figures.material = (f"generated 4/4 tracks with phrases ({count}, {seconds:.0f} s, "
                        f"{', '.join(f'{b:g}' for b in GEN_BPM[:count])} BPM)")
    return figures


def report_mix(f: MixFigures) -> list[str]:
    """The figures as printed lines."""
    lines = [f"mix of {f.tracks} prepared tracks, {f.material} ({f.minutes:.1f} min; speeds {', '.join(f'{s:g}' for s in SPEEDS[:f.tracks])}, "
             f"resampled and key-lock alternately, {FADE_S:.0f} s crossfades):",
             f"  without the set (today's clock): beat F {f.clock_f:.3f}, downbeat F {f.clock_downbeat_f:.3f}"]
    for kind in f.beat_f:
        label = "grids from a rekordbox XML" if kind == "rekordbox" else f"set from the audio alone ({f.origin})"
        target = (0.95, 0.90) if kind == "rekordbox" else (0.90, 0.80)
        lines.append(f"  {label}: beat F {f.beat_f[kind]:.3f} (target {target[0]}), downbeat F {f.downbeat_f[kind]:.3f} "
                     f"(target {target[1]}); beats naming the right track {NAMED_AFTER_S:.0f} s after it comes in: "
                     f"{100 * f.named[kind]:.1f}% (target 97%)")
    if f.matched_blends:
        lines.append(f"  the same tracks mixed as a DJ does, {f.matched_blends} of {f.tracks - 1} blends beat-matched and "
                     f"bar-aligned (the others out of the pitch fader's reach, as above), grids from the XML: beat F "
                     f"{f.matched[0]:.3f}, downbeat F {f.matched[1]:.3f}; right track named {100 * f.matched[2]:.1f}%")
    if f.out_of_set[2]:
        named, total, cases = f.out_of_set
        lines.append(f"  each track then cut or blended into music not in the set ({cases} cases): {named} of {total} beats "
                     f"from 4 s after the cut or the blend's middle name a track (target: none)")
    if any(f.room):
        rt60, reverb_db, noise_db = ROOMS[0]
        lines.append(f"  the first mix heard by a microphone in a room (reverb {rt60:g} s, {reverb_db:+g} dB against the direct "
                     f"sound, noise {noise_db:g} dB under), grids from the XML: beat F {f.room[0]:.3f}, downbeat F "
                     f"{f.room[1]:.3f}; right track named {100 * f.room[2]:.1f}%")
    if f.realign_s:
        lines.append(f"  re-aligned after a jump of +{JUMP_BEATS} beats in {f.realign_s[0]:.1f} s, of -{JUMP_BEATS} in "
                     f"{f.realign_s[1]:.1f} s (target 3 s)")
    lines.append(f"  recognition cost at 48 kHz: {100 * f.core_share:.1f}% of one core (target 10%)")
    return lines
