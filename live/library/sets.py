"""Prepared sets: a DJ's tracks analysed before the show (beat grid, bars, sections, fingerprints).

A set is a folder (``sets/NAME/`` by default, see :func:`live.paths.set_dir`) with one folder per
track, named by :func:`track_name`::

    sets/gig/
      some-track/
        fingerprint.npz   landmark hashes and anchor frames (uint32), see live.fingerprint
        plan.json         with --song: the song plan (sections, beats) the song preset follows
        track.json        written last: source file, grid (beats, downbeats, origin), sections

A track is made in a hidden folder of its own (``.NAME.partial-PID``) and renamed into place
whole, ``track.json`` in it: an interrupted ``set add`` leaves no half-made track, and two runs
on one set never remove each other's finished tracks. ``set add`` of a track already in the set
keeps it unless its file changed (``source_sha256``), the export gives it another grid, ``--song``
asks for a plan it lacks or its files are broken: then it is made again and replaces the old.

The live side uses :class:`SetIndex`: ``SetIndex.load(setdir)`` once, then
``index.match(samples, samplerate)`` on the newest few seconds of input (``index.align``: every
track's alignment, what the live recogniser reads to follow a blend); a :class:`SetMatch`
names the track, the position in its file, the speed, and carries its :class:`PreparedTrack`,
whose :meth:`PreparedTrack.locate` turns a position into beat, bar, phrase and section;
:func:`load_plan` reads a ``--song`` track's plan, which the show plays (live.show.setplan).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import math
import os
import re
import shutil
import unicodedata
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from live import fingerprint as fp
from live import paths
from live.errors import UserError
from live.files import FileRefused, open_regular, read_bytes, write_whole

_LOGGER = logging.getLogger(__name__)

FORMAT = 1
TRACK_FILE = "track.json"
PRINTS_FILE = "fingerprint.npz"
PLAN_FILE = "plan.json"
ORIGINS = ("madmom", "librosa", "rekordbox")
BARS_PER_PHRASE = 8  # dance music moves in 8-bar phrases (song mode's shortest section)
TEMPO_SPAN_BEATS = 16  # a grid's local tempo is measured over this many beats (4 bars) around a position
PHRASE_START_SLACK = 0.1  # bars a section's start may lie past its first downbeat and still begin there
MAX_PRINTS_BYTES = 64 * 1024 * 1024  # a 20-minute track has ~1 MB of landmarks
SILENCE = 1e-4  # peak amplitude under -80 dBFS: nothing to analyse

BeatTracker = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


class SetError(UserError):
    """A set, a track of it or a rekordbox export cannot be used; the message names which."""


class AlreadyInSet(SetError):
    """``set add`` of a track the set already has, from the same unchanged file: nothing to do."""


@dataclass
class Grid:
    """A beat grid: beat and downbeat times (s into the file), beats per bar, and where it came from."""

    beats: np.ndarray
    downbeats: np.ndarray
    beats_per_bar: int
    origin: str


@dataclass(frozen=True)
class GridPoint:
    """Where a position lies on a track's grid: ``beat`` (fractional beats since the first beat;
    negative before it), ``bar`` (bars since the first downbeat, fractional), ``beat_in_bar``
    (0 .. beats_per_bar, 0 = the downbeat), ``phrase`` (whole :data:`BARS_PER_PHRASE`-bar phrases
    since the section's start), ``section`` (index into the track's sections, -1 before the first),
    ``bpm`` (the grid's tempo at the original speed: its beat's own interval, what the clock
    places the next beat by) and ``steady_bpm`` (over :data:`TEMPO_SPAN_BEATS` beats around it,
    what the show says the tempo is)."""

    beat: float
    bar: float
    beat_in_bar: float
    phrase: int
    section: int
    bpm: float
    steady_bpm: float


@dataclass
class PreparedTrack:
    """One track of a set, as ``track.json`` has it (times in seconds of the original file)."""

    name: str
    source: str
    duration: float
    origin: str  # madmom | librosa | rekordbox: where the grid came from
    bpm: float
    beats_per_bar: int
    beats: list[float]
    downbeats: list[float]
    sections: list[dict[str, Any]]  # live.library.song.SongSection fields
    landmarks: int = 0
    song_preset: str = ""  # with --song: the preset's name
    source_sha256: str = ""  # of the file when prepared: `set add` again makes it anew once the file changes
    format: int = FORMAT
    folder: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        """The ``track.json`` document."""
        doc = asdict(self)
        doc.pop("folder")
        return doc

    def locate(self, position: float) -> GridPoint:
        """Beat, bar, phrase and section at ``position`` seconds into the original file (the grid
        extended at its end tempo before the first and after the last beat)."""
        beats = np.asarray(self.beats, dtype=float)
        if len(beats) < 2:
            raise SetError(f"{self.name}: the grid has fewer than two beats")
        i = int(np.clip(np.searchsorted(beats, position, side="right") - 1, 0, len(beats) - 2))
        period = beats[i + 1] - beats[i]
        beat = i + (position - beats[i]) / period
        downs = np.asarray(self.downbeats, dtype=float)
        down_idx = np.searchsorted(beats, downs - 1e-3) if len(downs) else np.array([0])
        k = int(np.searchsorted(down_idx, math.floor(beat + 1e-9), side="right") - 1)
        if k < 0:
            in_bar = (beat - down_idx[0]) % self.beats_per_bar
        else:
            in_bar = beat - down_idx[k]
            if in_bar >= self.beats_per_bar and (k + 1 >= len(down_idx) or in_bar >= down_idx[k + 1] - down_idx[k]):
                in_bar %= self.beats_per_bar  # past the grid's last downbeat
        bar = self.locate_bar(position)
        starts = [float(s["start"]) for s in self.sections]
        section = int(np.searchsorted(starts, position, side="right") - 1) if starts else -1
        phrase = 0
        if section >= 0:
            # Phrases run from the section's first downbeat: what comes before it (the first section's
            # 0.0 ahead of the track's first downbeat) is no bar of its own; a start up to a tenth of
            # a bar past a downbeat (rounded) still begins on that downbeat.
            first_bar = math.ceil(self.locate_bar(starts[section]) - PHRASE_START_SLACK)
            phrase = int(max(0.0, math.floor(bar) - first_bar) // BARS_PER_PHRASE)
        # The tempo to say is taken over the beats around the position, not one beat's: a grid from
        # an analysis has its beats on frames (10-23 ms), so one interval's tempo jumps by up to 5%
        # from beat to beat (128 <-> 134 BPM in /status, the HUD and the clock out). The clock keeps
        # the beat's own interval: with the steady one, beats of the audio-only mix landed later
        # (`bench set` beat F 0.899 -> 0.894).
        lo = max(0, min(i + 1 - TEMPO_SPAN_BEATS // 2, len(beats) - 1 - TEMPO_SPAN_BEATS))
        hi = min(len(beats) - 1, lo + TEMPO_SPAN_BEATS)
        return GridPoint(beat=float(beat), bar=float(bar), beat_in_bar=float(in_bar), phrase=phrase,
                         section=section, bpm=float(60.0 / period),
                         steady_bpm=float(60.0 * (hi - lo) / (beats[hi] - beats[lo])))

    def locate_bar(self, position: float) -> float:
        """Fractional bars since the first downbeat at ``position`` (see :meth:`locate`)."""
        downs = np.asarray(self.downbeats, dtype=float)
        if len(downs) < 2:
            return 0.0
        k = int(np.clip(np.searchsorted(downs, position, side="right") - 1, 0, len(downs) - 2))
        return k + (position - downs[k]) / (downs[k + 1] - downs[k])


@dataclass(frozen=True)
class SetMatch:
    """The set's answer to a query: ``name`` and ``track`` (the :class:`PreparedTrack`), ``position``
    (seconds into the original file at the end of the query), ``speed`` (1.04 = played 4% fast),
    ``resampled`` (pitch moves with speed; False: key lock), ``score``, ``margin`` and ``recent`` (see
    :class:`live.fingerprint.Match`)."""

    name: str
    track: PreparedTrack
    position: float
    speed: float
    resampled: bool
    score: int
    margin: float
    recent: int = 0

    @property
    def identified(self) -> bool:
        """Clearly there on its own (:func:`live.fingerprint.identified`)."""
        return fp.identified(self.score, self.margin)


@dataclass(frozen=True)
class SetAlignment:
    """:meth:`SetIndex.align`'s answer: ``matches`` (:class:`SetMatch`, best first) and
    ``recent_pairs`` (see :class:`live.fingerprint.Alignment`)."""

    matches: list[SetMatch]
    recent_pairs: int
    expected: list[SetMatch | None] = field(default_factory=list)  # one per ``expect`` of SetIndex.align


def track_name(source: str | os.PathLike) -> str:
    """A track's name in its set: the file's stem, lower-case ASCII (see :func:`live.paths.file_name`)."""
    return paths.file_name(source, 64)


# --- writing -----------------------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes) -> None:
    """``data`` to ``path`` whole (:func:`live.files.write_whole`); SetError in one line on failure."""
    try:
        write_whole(path, data)
    except OSError as exc:
        raise SetError(f"{path}: cannot write it ({exc.strerror or exc})") from None


def save_landmarks(path: Path, marks: fp.Landmarks) -> None:
    """Write a track's landmarks as ``.npz`` (atomically)."""
    buf = io.BytesIO()
    np.savez(buf, hashes=marks.hashes.astype(np.uint32), frames=marks.frames.astype(np.uint32),
             format=np.array([FORMAT], np.uint32))
    _atomic_write(path, buf.getvalue())


def load_landmarks(path: Path) -> fp.Landmarks:
    """A track's landmarks; SetError naming the file when it is missing, too big or corrupt."""
    try:
        data = read_bytes(path, MAX_PRINTS_BYTES)
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            hashes, frames = z["hashes"], z["frames"]
    except FileNotFoundError:
        raise SetError(f"{path}: missing; run `set add` for this track again") from None
    except FileRefused as exc:
        raise SetError(f"{path}: {exc}") from None
    except Exception as exc:  # zip/npy format errors come in many kinds
        raise SetError(f"{path}: corrupt fingerprint file ({type(exc).__name__}); run `set add` again") from None
    if hashes.dtype != np.uint32 or frames.dtype != np.uint32 or hashes.shape != frames.shape or hashes.ndim != 1:
        raise SetError(f"{path}: corrupt fingerprint file (arrays of the wrong type); run `set add` again")
    return fp.Landmarks(hashes=hashes, frames=frames)


def _set_folder(setdir: str | os.PathLike) -> Path:
    path = Path(setdir)
    if path.exists() and not path.is_dir():
        raise SetError(f"{setdir}: not a folder")
    return path


def load_track(folder: Path) -> PreparedTrack:
    """The :class:`PreparedTrack` of a track folder; SetError when its ``track.json`` is unusable."""
    where = folder / TRACK_FILE
    try:
        doc = json.loads(read_bytes(where, 64 * 1024 * 1024).decode("utf-8"))
        track = PreparedTrack(**{k: v for k, v in doc.items() if k != "folder"})
    except FileNotFoundError:
        raise SetError(f"{where}: missing (an interrupted `set add`?)") from None
    except FileRefused as exc:
        raise SetError(f"{where}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise SetError(f"{where}: not a track file of this version ({str(exc).splitlines()[0][:80]})") from None
    if track.format != FORMAT:
        raise SetError(f"{where}: format {track.format}, this version reads {FORMAT}; run `set add` again")
    problem = _grid_problem(track)
    if problem:  # refused here, in one line, not by the show's analysis thread once the track plays
        raise SetError(f"{where}: {problem}; run `set add` for this track again")
    track.folder = str(folder)
    return track


def _grid_problem(track: PreparedTrack) -> str:
    """What makes a loaded track's grid unusable by the show ("" when nothing): the times and counts
    :meth:`PreparedTrack.locate` and the recogniser use must be finite numbers in order."""
    def times(values: Any) -> bool:
        ok = isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        return ok and bool(np.all(np.isfinite(values))) and bool(np.all(np.diff(values) > 0)) if values else ok

    if not isinstance(track.duration, (int, float)) or not math.isfinite(track.duration) or track.duration <= 0:
        return f"duration {track.duration!r} is not a length in seconds"
    if not times(track.beats) or len(track.beats) < 2:
        return "its beats are not two or more times in order"
    if not times(track.downbeats):
        return "its downbeats are not times in order"
    if not isinstance(track.beats_per_bar, int) or isinstance(track.beats_per_bar, bool) or not 1 <= track.beats_per_bar <= 16:
        return f"beats_per_bar {track.beats_per_bar!r} is not 1..16"
    if not isinstance(track.sections, list) or not all(isinstance(x, dict) for x in track.sections) \
            or not times([x.get("start") for x in track.sections]):
        return "its sections are not in order by start time"
    return ""


def list_tracks(setdir: str | os.PathLike, broken: list[str] | None = None) -> list[PreparedTrack]:
    """The set's complete tracks, by name (folders without ``track.json`` are left out; a broken
    one is left out with one line: into ``broken`` when given, else logged)."""
    path = _set_folder(setdir)
    if not path.is_dir():
        raise SetError(f"{setdir}: no such set (make it with `set add {setdir} TRACK...`)")
    out = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if not (folder / TRACK_FILE).exists():
            continue
        try:
            out.append(load_track(folder))
        except SetError as exc:
            if broken is None:
                _LOGGER.warning("%s", exc)
            else:
                broken.append(str(exc))
    return out


def remove_track(setdir: str | os.PathLike, name: str) -> tuple[Path, str]:
    """Delete track ``name``'s folder from the set (``name`` as ``set list`` shows it, or the
    track's file name or path); returns (the folder, its song preset's name or ""). The song
    preset stays in the presets folder (it may be edited, or played on its own). SetError when
    there is no such track."""
    path = _set_folder(setdir)
    folder = path / track_name(name)  # `Some Track.mp3` and a path to it name the track `some-track`
    if not folder.is_dir():
        names = [t.name for t in list_tracks(path)] if path.is_dir() else []
        raise SetError(f"{name}: no such track in {setdir}" + (f"; tracks: {', '.join(names)}" if names else ""))
    preset = ""
    try:
        preset = load_track(folder).song_preset
    except SetError:
        pass  # a broken track is removed all the same
    shutil.rmtree(folder)
    return folder, preset


def load_plan(track: PreparedTrack) -> Any:
    """The song plan (:class:`live.library.song.SongPlan`) of a track prepared with ``--song``
    (its ``plan.json``), None for a track without one; SetError naming the file when it is unusable."""
    from live.library import song

    if not track.song_preset:
        return None
    where = Path(track.folder) / PLAN_FILE
    try:
        plan = song.SongPlan.from_json(json.loads(read_bytes(where, 64 * 1024 * 1024).decode("utf-8")))
    except FileNotFoundError:
        raise SetError(f"{where}: missing; `set remove` the track and `set add` it again with --song") from None
    except FileRefused as exc:
        raise SetError(f"{where}: {exc}") from None
    except RecursionError:  # JSON nested deeper than the parser's stack: not a plan, one line
        raise SetError(f"{where}: not a song plan (nested too deeply)") from None
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SetError(f"{where}: not a song plan ({str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__})") \
            from None
    starts = [float(s.start) for s in plan.sections]
    if not starts or starts != sorted(starts):  # each start is a finite time already (SongPlan.from_json)
        raise SetError(f"{where}: its sections are empty or out of order; `set add` the track again with --song")
    return plan


# --- rekordbox ------------------------------------------------------------------------------------

_DRIVE = re.compile(r"^/*([A-Za-z]:[/\\])")
MAX_INIZIO_S = 24 * 3600.0  # a TEMPO past a day into a file is not a beat of it (a long recorded set is 4 h)


def location_path(location: str) -> str:
    """A rekordbox ``Location`` as a plain path, in Unicode's composed form (see :func:`_same_text`):
    ``file://localhost/C:/Music/a%20b.mp3`` -> ``C:/Music/a b.mp3``, ``file://localhost/Users/x/a.mp3``
    -> ``/Users/x/a.mp3``, ``file://server/share/a.mp3`` -> ``//server/share/a.mp3`` (a network
    share). Everything after the host is the path: a ``#`` or ``?`` there is part of a file name
    (exports leave them unescaped), not a URL's fragment or query. A stream's location
    (``soundcloud:tracks:1``) is kept as it is."""
    if location[:5].lower() != "file:":
        return _same_text(location)
    rest = location[5:]
    if rest.startswith("//"):  # file://host/path; file:/path has no host
        host, slash, rest = rest[2:].partition("/")
        rest = slash + rest
        if host and host.lower() != "localhost":
            rest = "//" + host + rest
    path = urllib.parse.unquote(rest)  # UTF-8 escapes, %25 for '%', %23 for '#' all decoded once
    drive = _DRIVE.match(path)
    if drive:  # /C:/Music -> C:/Music
        path = path[drive.start(1):]
    return _same_text(path)


def _same_text(path: str) -> str:
    """``path`` in Unicode's composed form (NFC): macOS spells "é" in file names as "e" and a
    combining accent (NFD), an export or a shell may spell it as one character; both mean one file."""
    return unicodedata.normalize("NFC", path)


def _path_key(path: str) -> str:
    """``path`` as compared with an export's: composed, '/' for '\\', and a Windows path (drive or
    share) without case, as Windows reads it (``C:\\Music\\A.mp3`` is ``c:/music/a.mp3``)."""
    key = _same_text(path).replace("\\", "/")
    return key.casefold() if re.match(r"^([A-Za-z]:/|//)", key) else key


def _file_name(path: str) -> str:
    """The last part of ``path`` (either slash), composed and without case: how a track is found
    in an export made on another machine."""
    return _same_text(path).replace("\\", "/").rsplit("/", 1)[-1].casefold()


def read_rekordbox(xml: str | os.PathLike, sources: Iterable[str | os.PathLike] | None = None) -> dict[str, Grid | str]:
    """The beat grids of a rekordbox 6/7 collection export (File > Export Collection in xml
    format), by the track's path (see :func:`location_path`); with ``sources``, only of tracks
    with one of their file names. Tracks without ``TEMPO`` are left out; a track whose ``TEMPO``
    cannot be read has one line saying why instead of its grid (one such track of a whole
    collection spoils nothing else); a file listed twice keeps its first readable grid. SetError
    in one line for a file that is missing, not XML or not such an export.

    The export is parsed as a stream (``iterparse``), each track dropped once read: a 10,000-track
    collection with one TEMPO per beat (rekordbox's dynamic grids) has millions of elements, and
    only the few tracks of the set are wanted. The file is never read whole (10,000 7-minute
    tracks with a TEMPO per beat, ~70 bytes each, are ~650 MB)."""
    try:
        stream = open_regular(xml)
    except FileNotFoundError:
        raise SetError(f"{xml}: no such rekordbox XML file") from None
    except FileRefused as exc:
        raise SetError(f"{xml}: {exc}") from None
    names = None if sources is None else {_file_name(str(s)) for s in sources}
    grids: dict[str, Grid | str] = {}
    tags: list[str] = []  # the root's tag, then COLLECTION once seen
    with stream:
        try:
            # expat refuses entity expansion bombs (Python >= 3.7.1 ships expat >= 2.4)
            for event, element in ET.iterparse(stream, events=("start", "end")):
                if event == "start":
                    if not tags and element.tag != "DJ_PLAYLISTS":
                        break  # another XML document: refused at its root, not read to its end
                    if not tags or element.tag == "COLLECTION":
                        tags.append(element.tag)
                    continue
                if element.tag != "TRACK":
                    continue  # a TEMPO stays in its TRACK until the TRACK ends
                location, tempos = element.get("Location"), element.findall("TEMPO")
                path = location_path(location) if location else ""
                if tempos and path and (names is None or _file_name(path) in names):
                    try:
                        grid: Grid | str = grid_from_tempos(tempos, _seconds(element.get("TotalTime")))
                    except (TypeError, ValueError) as exc:
                        grid = f"its TEMPO in {xml} cannot be read ({exc})"
                    if not isinstance(grids.get(path), Grid):  # listed twice: the first readable grid stands
                        grids[path] = grid
                element.clear()  # read: its TEMPO rows are not kept
        except ET.ParseError as exc:
            raise SetError(f"{xml}: not valid XML ({exc})") from None
        except OSError as exc:
            raise SetError(f"{xml}: cannot be read ({exc.strerror or exc})") from None
    if tags[:1] != ["DJ_PLAYLISTS"] or "COLLECTION" not in tags:
        raise SetError(f"{xml}: not a rekordbox collection export (no DJ_PLAYLISTS/COLLECTION); "
                       "in rekordbox use File > Export Collection in xml format")
    return grids


def _seconds(text: str | None) -> float:
    """A TRACK's ``TotalTime`` in seconds; 0 when missing or unreadable (it only bounds the grid,
    which :func:`fit_grid` fits to the audio anyway)."""
    try:
        value = float(text or 0)
    except ValueError:
        return 0.0
    return value if math.isfinite(value) and 0 < value <= MAX_INIZIO_S else 0.0


def grid_from_tempos(tempos: Iterable[ET.Element], duration: float) -> Grid:
    """Beats and downbeats from ``TEMPO`` elements. Each is a beat at ``Inizio`` s, numbered
    ``Battito`` (1 = downbeat) in bars of ``Metro`` (``4/4``: 4 beats), from which beats go on at
    ``Bpm`` to the next ``TEMPO`` (one per stretch of steady tempo, or one per beat for a varying
    grid); as in rekordbox, the first one's tempo also runs back to the file's start (a grid that
    starts late, or a hair before 0 s) and the last one's on to ``duration`` (the export's
    whole-second TotalTime, else 10 s past it: :func:`fit_grid` fits the grid to the audio).
    ValueError for a TEMPO that cannot be read."""
    marks = []
    for t in tempos:
        start, bpm = float(t.get("Inizio", "nan")), float(t.get("Bpm", "nan"))
        if not (math.isfinite(start) and abs(start) <= MAX_INIZIO_S and math.isfinite(bpm) and 20.0 <= bpm <= 400.0):
            raise ValueError(f"Inizio {t.get('Inizio')}, Bpm {t.get('Bpm')}")
        metro = (t.get("Metro") or "4/4").split("/")[0].strip()
        per_bar = int(metro) if metro.isdigit() else 4
        if not 1 <= per_bar <= 16:
            raise ValueError(f"Metro {t.get('Metro')}")
        marks.append((start, bpm, per_bar, int(float(t.get("Battito") or 1))))
    marks.sort(key=lambda m: m[0])  # stable: of two rows at one time (a duplicate), the later is kept
    beats, numbers, bars = [], [], []
    for k, (start, bpm, per_bar, battito) in enumerate(marks):
        period = 60.0 / bpm
        first = math.ceil(-start / period - 1e-6)  # beat numbers from Inizio's: the first at or after 0 s
        if k > 0:
            first = max(first, 0)  # only the first TEMPO's tempo runs back before it
        if k + 1 < len(marks):  # up to the next TEMPO's beat (a beat within 2% of a period of it is that beat)
            stop = math.ceil((marks[k + 1][0] - start) / period - 0.02)
        else:
            end = max(duration + 1.0 if duration > 0 else 0.0, start + 10.0)  # TotalTime is rounded down
            stop = math.floor((end - start) / period + 1e-6) + 1
        i = np.arange(first, max(first, stop))
        beats.append(start + i * period)
        numbers.append((battito - 1 + i) % per_bar + 1)
        bars.append(np.full(len(i), per_bar))
    beat_arr = np.round(np.concatenate(beats), 4) + 0.0  # + 0.0: no -0.0
    number_arr, bar_arr = np.concatenate(numbers), np.concatenate(bars)
    per_bar = int(np.bincount(bar_arr).argmax()) if len(bar_arr) else 4  # the metre of most of the track
    return Grid(beats=beat_arr, downbeats=beat_arr[number_arr == 1], beats_per_bar=per_bar, origin="rekordbox")


def fit_grid(grid: Grid, duration: float) -> Grid:
    """``grid`` over audio of ``duration`` s: beats past the end dropped, and where it stops short
    of the end (an export without TotalTime, or from a shorter version of the file) its last
    tempo and bar carried on to the end."""
    beats, downs = np.asarray(grid.beats, dtype=float), np.asarray(grid.downbeats, dtype=float)
    keep = (beats >= 0.0) & (beats <= duration)
    if len(beats) < 2 or not keep.any():
        return grid
    period = float(beats[-1] - beats[-2])
    kept = beats[keep]
    last = len(kept) - 1
    since = np.searchsorted(kept, downs[downs <= kept[-1]] - 1e-3)
    after = last - int(since[-1]) if len(since) else last  # beats from the last downbeat to the last beat
    extra = kept[-1] + period * np.arange(1, int(max(0.0, duration - kept[-1]) / period) + 1)
    extra_downs = extra[(after + np.arange(1, len(extra) + 1)) % grid.beats_per_bar == 0]
    new_beats = np.round(np.concatenate([kept, extra]), 4)
    new_downs = np.round(np.concatenate([downs[(downs >= 0.0) & (downs <= duration)], extra_downs]), 4)
    return Grid(beats=new_beats, downbeats=new_downs, beats_per_bar=grid.beats_per_bar, origin=grid.origin)


def grid_for(grids: dict[str, Grid | str], source: str | os.PathLike) -> Grid | str | None:
    """The grid of ``source`` in a rekordbox export (or why it cannot be used, see
    :func:`read_rekordbox`): by its full path (a Windows path whatever its case or slashes), else
    by its file name when exactly one track in the export has it (the export was made on another
    machine)."""
    wanted = {_path_key(str(source)), _path_key(str(Path(source).expanduser().resolve()))}
    for key, grid in grids.items():
        if _path_key(key) in wanted:
            return grid
    name = _file_name(str(source))
    same = [g for key, g in grids.items() if _file_name(key) == name]
    return same[0] if len(same) == 1 else None


# --- analysis -------------------------------------------------------------------------------------

def _beats_per_bar(beats: np.ndarray, downbeats: np.ndarray) -> int:
    """The most common number of beats between downbeats (4 when it cannot be told)."""
    if len(downbeats) < 2:
        return 4
    idx = np.searchsorted(beats, downbeats - 1e-3)
    counts = np.diff(idx)
    counts = counts[(counts >= 2) & (counts <= 16)]
    return int(np.bincount(counts).argmax()) if len(counts) else 4


def source_digest(source: str | os.PathLike) -> str:
    """SHA-256 of the file's bytes ("" when it cannot be read: the decoder then says why): how
    ``set add`` tells an edited file (re-exported, trimmed, re-tagged) from the one prepared."""
    try:
        with open_regular(source) as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except (OSError, FileRefused):
        return ""


def _why_again(folder: Path, source: str | os.PathLike, digest: str, grid: Grid | None,
               song_prompt: str | None) -> tuple[str, Grid | None]:
    """Why the track in ``folder`` (``track.json`` there) must be prepared again from ``source``:
    broken files, an edited file, another grid from the export, ``--song`` asked for a track
    without a plan; and the DJ's grid to keep (its rekordbox grid when only ``--song`` asks).
    AlreadyInSet when nothing; SetError when another file has the name."""
    try:
        old = load_track(folder)
        load_landmarks(folder / PRINTS_FILE)
        load_plan(old)
    except SetError as exc:
        return f"its prepared files are broken ({exc})", None
    resolved = str(Path(source).expanduser().resolve())
    if old.source_sha256:
        same = old.source == resolved or old.source_sha256 == digest  # moved or copied: the same music
    else:  # prepared before files were hashed: the same path, or the same file name on another machine
        same = old.source == resolved or _file_name(old.source) == _file_name(resolved)
    if not same:
        raise SetError(f"{source}: another file, {old.source}, is already in the set as {old.name} (a track's name "
                       "is its file's name); rename one of the two files")
    if old.source_sha256 and digest and digest != old.source_sha256:
        return "its file changed since it was prepared", None
    if grid is not None:
        new = fit_grid(grid, old.duration)
        if old.origin != "rekordbox" or len(new.beats) != len(old.beats) or len(new.downbeats) != len(old.downbeats) \
                or not np.allclose(new.beats, old.beats, atol=2e-3) or not np.allclose(new.downbeats, old.downbeats, atol=2e-3):
            return "the rekordbox export has another grid for it", None
    if song_prompt is not None and not old.song_preset:
        kept = None
        if old.origin == "rekordbox":  # a run without the export keeps the DJ's grid
            kept = Grid(beats=np.array(old.beats), downbeats=np.array(old.downbeats),
                        beats_per_bar=old.beats_per_bar, origin="rekordbox")
        return "--song asks for a song plan", kept
    raise AlreadyInSet(f"{old.name}: already in the set, unchanged ({source})")


_LEFTOVER = re.compile(r"^\.[a-z0-9-]+\.(partial|old)-(\d+)$")


def _remove_leftovers(root: Path) -> None:
    """Delete the half-made track folders (``.NAME.partial-PID``, ``.NAME.old-PID``) of runs that
    ended without cleaning up (killed, the power lost); a running one's are left alone."""
    for path in root.iterdir():
        found = _LEFTOVER.match(path.name)
        if not found or not path.is_dir():
            continue
        pid = int(found.group(2))
        try:
            os.kill(pid, 0)  # signal 0: only asks whether the process is there
            alive = pid != os.getpid()  # this process prepares nothing yet: its own are leftovers too
        except ProcessLookupError:
            alive = False
        except OSError:  # another user's process: there
            alive = True
        if not alive:
            shutil.rmtree(path, ignore_errors=True)


def _install(stage: Path, folder: Path, replacing: bool) -> None:
    """Rename the finished ``stage`` folder to ``folder``; the track there (``replacing``) or a
    leftover without ``track.json`` is moved aside and deleted. AlreadyInSet when another
    ``set add`` finished the same track meanwhile."""
    if folder.exists():
        if (folder / TRACK_FILE).exists() and not replacing:
            raise AlreadyInSet(f"{folder.name}: added meanwhile by another `set add`; kept that one")
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(folder, old)
        os.rename(stage, folder)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(stage, folder)


def prepare_track(source: str | os.PathLike, setdir: str | os.PathLike, *, tracker: BeatTracker | None = None,
                  tracker_name: str = "librosa", grid: Grid | None = None, song_prompt: str | None = None,
                  presets_dir: str | os.PathLike | None = None) -> PreparedTrack:
    """Analyse ``source`` and add it to the set: grid (``grid`` when given, else ``tracker``'s beats
    and downbeats, else librosa's), sections, fingerprints, and with ``song_prompt`` a song preset in
    ``presets_dir`` and its plan. A track already there is made again when its file changed, the
    grid differs, ``song_prompt`` asks for a plan it lacks or its files are broken, else
    AlreadyInSet. SetError (one line) when another file has its name or it cannot be read
    (missing, corrupt, silent, no steady beat); nothing of it stays then."""
    from live.library import song

    name = track_name(source)
    root = _set_folder(setdir)
    folder = root / name
    digest = source_digest(source)
    replacing = (folder / TRACK_FILE).exists()
    if replacing:
        why, kept = _why_again(folder, source, digest, grid, song_prompt)
        _LOGGER.info("%s: preparing %s again: %s", source, name, why)
        grid = grid if grid is not None else kept
    y, sr = song.load_track(source)  # UserError in one line for missing, unreadable or too short
    if float(np.max(np.abs(y))) < SILENCE:
        raise SetError(f"{source}: silent; nothing to prepare")
    raw: dict[str, np.ndarray] = {}
    if grid is not None:
        origin = "rekordbox"
        grid = fit_grid(grid, len(y) / sr)  # an export's grid may stop short of the audio's end or run past it

        def given(_y: np.ndarray, _sr: int) -> tuple[np.ndarray, np.ndarray]:
            return grid.beats, grid.downbeats

        use = given
    elif tracker is not None:
        origin = "madmom" if "madmom" in tracker_name else tracker_name

        def capture(yy: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
            raw["beats"], raw["downbeats"] = (np.asarray(a, dtype=float) for a in tracker(yy, rate))
            return raw["beats"], raw["downbeats"]

        use = capture
    else:
        origin, use = "librosa", None
    plan = song.analyse(source, use, origin if use else "", samples=(y, sr))  # decoded once, above
    if grid is not None:
        beats, downbeats, per_bar = grid.beats, grid.downbeats, grid.beats_per_bar
    elif raw:
        beats, downbeats = raw["beats"], raw["downbeats"]
        per_bar = _beats_per_bar(beats, downbeats)
    else:
        beats, downbeats, per_bar = np.array(plan.beats), np.array(plan.downbeats), song.BEATS_PER_BAR
    marks = fp.landmarks(y, sr)
    if len(marks.hashes) < 50:
        raise SetError(f"{source}: too little tonal detail to recognise it live ({len(marks.hashes)} landmarks)")
    bpm = 60.0 * (len(beats) - 1) / (beats[-1] - beats[0]) if len(beats) > 1 else plan.bpm
    track = PreparedTrack(name=name, source=str(Path(source).expanduser().resolve()), duration=round(plan.duration, 3),
                          origin=origin, bpm=round(float(bpm), 3), beats_per_bar=int(per_bar),
                          beats=[round(float(t), 4) for t in beats], downbeats=[round(float(t), 4) for t in downbeats],
                          sections=[asdict(s) for s in plan.sections], landmarks=len(marks.hashes),
                          source_sha256=digest)
    # Made in a folder of this run's own and renamed into place whole: a Ctrl-C, a full disk or
    # another `set add` of the same set at the same time never leaves or removes half a track.
    stage = root / f".{name}.partial-{os.getpid()}"
    try:
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        save_landmarks(stage / PRINTS_FILE, marks)
        if song_prompt is not None:
            plan.beats, plan.downbeats = track.beats, track.downbeats
            _atomic_write(stage / PLAN_FILE, (json.dumps(plan.to_json(), indent=1) + "\n").encode())
            preset = song.song_name(source)
            where, written = song.write_song_preset(plan, song_prompt, paths.presets_dir(presets_dir), preset)
            if replacing and not written:  # never overwritten: the DJ may have edited its prompts
                _LOGGER.warning("%s: song preset %s kept as it is; if its sections no longer fit the track, delete %s "
                                "and run `set add --song` again", name, preset, where)
            track.song_preset = preset
        _atomic_write(stage / TRACK_FILE, (json.dumps(track.to_json(), indent=1) + "\n").encode())
        _install(stage, folder, replacing)
    except OSError as exc:
        where = exc.filename or root  # the set folder, or the presets folder of --song
        raise SetError(f"{source}: cannot write {where} ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # gone once installed; else nothing half-made stays
    track.folder = str(folder)
    return track


def _audio_files(sources: Iterable[str | os.PathLike], refused: list[str]) -> list[str]:
    """``sources`` with each folder replaced by its audio files (by suffix, sorted; not its
    subfolders'): a DJ gives the set's folder as readily as its files. A folder without any is a
    line in ``refused``."""
    from live.audiofile import AUDIO_EXTENSIONS, AUDIO_SUFFIXES

    out: list[str] = []
    for source in sources:
        path = Path(source).expanduser()
        if not path.is_dir():
            out.append(str(source))
            continue
        found = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))
        if not found:
            refused.append(f"{source}: a folder without audio files ({AUDIO_SUFFIXES})")
        out.extend(found)
    return out


@dataclass
class AddReport:
    """What :func:`add_tracks` did: the tracks prepared (``updated``: the names of those that
    replaced the set's own, see :func:`prepare_track`), one line per track refused, one per track
    kept as it was (already in the set, unchanged)."""

    added: list[PreparedTrack] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    interrupted: bool = False


def add_tracks(setdir: str | os.PathLike, sources: list[str], *, tracker: BeatTracker | None = None,
               tracker_name: str = "librosa", rekordbox_xml: str | os.PathLike | None = None,
               song_prompt: str | None = None, presets_dir: str | os.PathLike | None = None,
               progress: bool = True, on_track: Callable[[str, Any], None] | None = None) -> AddReport:
    """Prepare each of ``sources`` (files, or folders: their audio files) into the set (see
    :func:`prepare_track`), with a progress bar;
    a track that fails is one line in the report and the rest go on; Ctrl-C stops after keeping
    every finished track (``interrupted``). ``on_track(kind, what)`` is called as each track ends
    (kind ``added``/``updated`` with the PreparedTrack, ``kept``/``skipped`` with the line), so a
    long run shows each track when it is done. A bad ``rekordbox_xml`` or a set folder that cannot
    be made raises SetError before any work."""
    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    report = AddReport()
    sources = _audio_files(sources, report.refused)
    grids = read_rekordbox(rekordbox_xml, sources) if rekordbox_xml else {}  # only the set's tracks: quick
    made = not _set_folder(setdir).exists()  # a new set that ends with no track is not left behind empty
    try:
        _set_folder(setdir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SetError(f"{setdir}: cannot make the set folder ({exc.strerror or exc})") from None
    _remove_leftovers(_set_folder(setdir))
    bar = tqdm(sources, desc="set add", unit="track", disable=None if progress else True, dynamic_ncols=True)

    def tell(kind: str, what: Any) -> None:
        if on_track is not None:
            with tqdm.external_write_mode():  # a line of its own above the bar, not through it
                on_track(kind, what)

    for line in report.refused:  # folders without audio files
        tell("skipped", line)

    # Log lines (a track not in the export, a song preset kept) print above the bar, not through it.
    with logging_redirect_tqdm(tqdm_class=tqdm):
        try:
            for source in bar:
                bar.set_postfix_str(Path(source).name[:30])
                grid = grid_for(grids, source) if rekordbox_xml else None
                if isinstance(grid, str):
                    _LOGGER.warning("%s: %s; analysing its audio", source, grid)
                    grid = None
                elif rekordbox_xml and grid is None and Path(source).expanduser().is_file():  # a missing file: one line, below
                    _LOGGER.warning("%s: not in %s (or no grid there); analysing its audio", source, rekordbox_xml)
                again = (_set_folder(setdir) / track_name(source) / TRACK_FILE).exists()
                try:
                    track = prepare_track(source, setdir, tracker=tracker, tracker_name=tracker_name, grid=grid,
                                          song_prompt=song_prompt, presets_dir=presets_dir)
                except AlreadyInSet as exc:
                    report.kept.append(str(exc))
                    tell("kept", str(exc))
                except UserError as exc:
                    report.refused.append(str(exc))
                    tell("skipped", str(exc))
                else:
                    report.added.append(track)
                    if again:
                        report.updated.append(track.name)
                    tell("updated" if again else "added", track)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            bar.close()
            if made and not report.added:
                with contextlib.suppress(OSError):  # not empty (another run's track): it stays
                    _set_folder(setdir).rmdir()
    return report


# --- the index the live side matches against ------------------------------------------------------

CACHE_FILE = ".index.npz"


def _stamp(path: Path) -> list[int]:
    """(size, mtime ns) of ``path``, or (-1, -1) when it is missing: what the cache is checked against."""
    try:
        st = path.stat()
        return [st.st_size, st.st_mtime_ns]
    except OSError:
        return [-1, -1]


def _read_cache(cache: Path, signature: str) -> np.ndarray | None:
    """The cached merged keys when ``cache`` was made from the same track files, else None."""
    if not cache.is_file():
        return None
    try:
        with np.load(cache, allow_pickle=False) as z:
            if str(z["signature"]) != signature or z["keys"].dtype != np.uint64:
                return None
            keys = z["keys"]
    except Exception as exc:  # a broken cache is remade, never trusted
        _LOGGER.debug("index cache %s unusable (%s); remaking it", cache, exc)
        return None
    if len(keys) > 1 and bool(np.any(keys[1:] < keys[:-1])):
        return None
    return keys


class SetIndex:
    """A set loaded for recognition: its tracks (:class:`PreparedTrack`) and one landmark index.
    ``skipped`` lists the tracks left out (one line each: a broken file)."""

    def __init__(self, tracks: list[PreparedTrack], index: fp.Index, skipped: list[str] | None = None):
        """Wrap loaded tracks and their index (``index.names`` in the order of ``tracks``)."""
        self.tracks = tracks
        self.index = index
        self.skipped = skipped or []

    @classmethod
    def load(cls, setdir: str | os.PathLike) -> "SetIndex":
        """Load every complete track of the set; a track whose files are broken is listed in
        ``skipped`` (one line each, for the caller to log) and left out (never half-loaded).
        SetError when the set has no usable track. The merged table is cached in
        ``SETDIR/.index.npz``, remade when any track changes."""
        skipped: list[str] = []
        tracks = list_tracks(setdir, skipped)
        signature = json.dumps([[t.name, *_stamp(Path(t.folder) / PRINTS_FILE)] for t in tracks])
        cache = Path(setdir) / CACHE_FILE
        keys = _read_cache(cache, signature)
        if keys is not None:
            return cls(tracks, fp.Index([t.name for t in tracks], keys=keys), skipped)
        kept, marks = [], []
        for track in tracks:
            try:
                marks.append(load_landmarks(Path(track.folder) / PRINTS_FILE))
                kept.append(track)
            except SetError as exc:
                skipped.append(str(exc))
        if not kept and skipped:  # every track broken: say why, not that the set is empty
            more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
            raise SetError(f"{setdir}: no usable track, {len(skipped)} broken: {skipped[0]}{more}")
        if not kept:
            raise SetError(f"{setdir}: no prepared tracks (add some with `set add {setdir} TRACK...`)")
        index = fp.Index([t.name for t in kept], marks)
        if len(kept) == len(tracks):  # the signature names exactly the tracks of the table
            buf = io.BytesIO()
            np.savez(buf, keys=index.keys, signature=np.array(signature))
            try:
                _atomic_write(cache, buf.getvalue())
            except SetError as exc:  # a read-only set (a USB stick) still loads, only slower
                _LOGGER.debug("no index cache: %s", exc)
        return cls(kept, index, skipped)

    def __len__(self) -> int:
        return len(self.tracks)

    def match(self, samples: np.ndarray, samplerate: int) -> SetMatch | None:
        """Identify the newest few seconds of mono ``samples`` (3-6 s is right; the newest last):
        a :class:`SetMatch`, or None when no track of the set is clearly playing. Thread-safe (reads only)."""
        m = self.index.match(samples, samplerate)
        return None if m is None else self._answer(m)

    def align(self, samples: np.ndarray, samplerate: int,
              expect: Sequence[tuple[str, float, float]] = ()) -> SetAlignment:
        """Every track's best alignment with the newest few seconds of mono ``samples``, best first,
        each with its ``score``, ``recent`` and ``margin`` (:meth:`live.fingerprint.Index.align`);
        only the first can be :attr:`SetMatch.identified`. ``expect``: hypotheses (track name,
        position at the query's end, speed) whose own alignment :attr:`SetAlignment.expected`
        reports, one each (None: no match there, or a name not in the set). Thread-safe (reads only)."""
        number = {t.name: k for k, t in enumerate(self.tracks)}
        asked = [(number.get(name, -1), float(position), float(speed)) for name, position, speed in expect]
        found = self.index.align(samples, samplerate, expect=asked)
        return SetAlignment([self._answer(m) for m in found.matches], found.recent_pairs,
                            [None if m is None else self._answer(m) for m in found.expected])

    def _answer(self, m: fp.Match) -> SetMatch:
        track = self.tracks[m.track]
        return SetMatch(name=track.name, track=track, position=m.position, speed=m.speed, resampled=m.resampled,
                        score=m.score, margin=m.margin, recent=m.recent)
