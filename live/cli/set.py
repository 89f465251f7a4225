"""`set`: prepare a DJ's tracks before the show (grid, sections, fingerprints), list them, remove one.
Arguments and printing only; the work is :mod:`live.library.sets`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from live import paths
from live.cli.common import HelpFormatter, add_folder_flags
from live.errors import UserError
from live.library import sets

_LOGGER = logging.getLogger(__name__)


ADD_HELP = """Analyse each TRACK into the set SETDIR (made when new): its beat grid, song mode's sections
and a fingerprint index that recognises it from a few seconds of live audio. Each track is one
line when it is done; a track that cannot be used is one `skipped:` line and the rest go on.

Grids: with --rekordbox-xml, a track's grid is the one the DJ checked in rekordbox (matched by
its path, else its file name); otherwise madmom analyses the audio (about 70-90 s for a
5-minute track).

Running it again is safe: a track already in the set is kept unless its file changed, the
export has another grid for it, --song asks for a plan it lacks, or its files are broken; then
it is made again. Ctrl-C keeps every finished track; the same command later adds the rest.
A track's name is its file's name (`Déjà Vu.mp3` is deja-vu), so two files of one name cannot
both be in a set."""

LIST_HELP = """The set's tracks, one line each: name (what `set remove` and the show's /status call it),
BPM, bars, sections, where the grid came from (rekordbox: the DJ's; madmom or librosa: analysed),
length, and with --song the song preset the track plays. A broken track (run `set add` with its
file again) is one line of its own."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``set add|list|remove``."""
    sub = parser.add_subparsers(dest="set_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="analyse tracks into the set: beat grid, sections, fingerprints",
                         description=ADD_HELP, formatter_class=HelpFormatter)
    add.add_argument("setdir", metavar="SETDIR", help="the set: a name in the sets folder, or a folder path")
    add.add_argument("tracks", metavar="TRACK", nargs="+", help="audio files (WAV, FLAC, AIFF, MP3, AAC or ALAC .m4a...), or folders: their audio files")
    add.add_argument("--rekordbox-xml", default=None, metavar="FILE", help="rekordbox collection export "
                     "(File > Export Collection in xml format): use the DJ's beat grids for the tracks in it")
    add.add_argument("--tracker", choices=("madmom", "librosa"), default="madmom", help="beats and downbeats of "
                     "tracks without a rekordbox grid: madmom's RNN + DBN (weights CC BY-NC-SA 4.0, "
                     "non-commercial; librosa when madmom is not installed) or librosa")
    add.add_argument("--song", action="store_true", help="also write a song preset (song-NAME) and plan per track: "
                     "the show then plays the track's sections where they fall in it")
    add.add_argument("--prompt", default="abstract flowing light, music visualiser", help="with --song: the look "
                     "the song presets' section prompts start from")
    add_folder_flags(add, "sets", "presets")
    listing = sub.add_parser("list", help="the set's tracks: grid origin, BPM, bars, sections",
                             description=LIST_HELP, formatter_class=HelpFormatter)
    listing.add_argument("setdir", metavar="SETDIR", nargs="?", default=None,
                         help="the set: a name in the sets folder, or a folder path (none: the sets there)")
    add_folder_flags(listing, "sets")
    remove = sub.add_parser("remove", help="take a track out of the set",
                            description="Take a track out of the set (its song preset stays in the presets folder).",
                            formatter_class=HelpFormatter)
    remove.add_argument("setdir", metavar="SETDIR", help="the set: a name in the sets folder, or a folder path")
    remove.add_argument("name", metavar="NAME", help="the track's name as `set list` shows it, or its audio file")
    add_folder_flags(remove, "sets")


def _tracker(name: str) -> tuple[Any, str]:
    """(beat tracker, its name): madmom's when asked for and installed, else librosa's (None)."""
    if name == "librosa":
        return None, "librosa"
    from live.audio.rnn import INSTALL_HINT, LICENCE, import_madmom

    if import_madmom() is None:
        _LOGGER.warning("madmom is not installed (%s): beats and downbeats by librosa", INSTALL_HINT)
        return None, "librosa"
    from live.show.song import madmom_downbeats

    _LOGGER.info("beats and downbeats by madmom's RNN + DBN; weights %s", LICENCE)
    return madmom_downbeats, "madmom"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _line(track: Any) -> str:
    """One track as ``set add`` and ``set list`` print it."""
    return (f"{track.bpm:.1f} BPM, {_plural(len(track.downbeats), 'bar')}, {_plural(len(track.sections), 'section')}, "
            f"grid {track.origin}" + (f", preset {track.song_preset}" if track.song_preset else ""))


def _list_sets(root: Path) -> int:
    """``set list`` without a set: the sets in the sets folder, with their track counts."""
    found = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    print(f"{root}: {_plural(len(found), 'set')}" + ("" if found else " (make one with `set add NAME TRACK...`)"))
    for folder in found:
        print(f"  {folder.name:<32} {_plural(len(sets.list_tracks(folder, [])), 'track')}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Do the action; print one line per track."""
    if args.set_command == "list" and args.setdir is None:
        return _list_sets(paths.sets_dir(args.sets_dir))
    setdir = paths.set_dir(args.setdir, args.sets_dir)
    if args.set_command == "list":
        broken: list[str] = []
        tracks = []
        for t in sets.list_tracks(setdir, broken):
            if (Path(t.folder) / sets.PRINTS_FILE).is_file():
                tracks.append(t)
            else:  # the show leaves it out: it could not be recognised
                broken.append(f"{t.name}: its fingerprints are missing; run `set add` with {t.source} again")
        print(f"{setdir}: {_plural(len(tracks), 'track')}" + (f", {len(broken)} broken" if broken else ""))
        for t in tracks:
            print(f"  {t.name:<32} {t.bpm:6.1f} BPM  {len(t.downbeats):4d} bars  {len(t.sections):2d} sections  "
                  f"grid {t.origin:<9} {t.duration / 60:5.1f} min" + (f"  preset {t.song_preset}" if t.song_preset else ""))
            try:
                sets.load_plan(t)
            except sets.SetError as exc:  # the show plays the track without its plan: say so before the gig
                print(f"    no plan: {exc}")
        for line in broken:
            print(f"  broken: {line}")
        if not tracks and not broken:
            print(f"  (no tracks: add some with `set add {args.setdir} TRACK...`)")
        return 0
    if args.set_command == "remove":
        folder, preset = sets.remove_track(setdir, args.name)
        print(f"removed {folder.name} from {setdir}"
              + (f" (its song preset {preset} stays in the presets folder)" if preset else ""))
        return 0
    tracker, name = _tracker(args.tracker)

    def said(kind: str, what: Any) -> None:
        print(f"{kind} {what.name}: {_line(what)}" if kind in ("added", "updated") else f"{kind}: {what}", flush=True)

    report = sets.add_tracks(setdir, args.tracks, tracker=tracker, tracker_name=name,
                             rekordbox_xml=args.rekordbox_xml, song_prompt=args.prompt if args.song else None,
                             presets_dir=args.presets_dir, on_track=said)
    if report.interrupted:
        print(f"interrupted: {len(report.added)} track(s) kept in {setdir}; run the same command again for the rest")
        return 130
    if not report.added and not report.kept and report.refused:
        raise UserError(f"no track added to {setdir}")
    count = len(sets.list_tracks(setdir))
    print(f"{setdir}: {_plural(count, 'track')}")
    return 0
