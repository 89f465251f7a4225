"""`set`: prepare a DJ's tracks before the show (grid, sections, fingerprints), list them, remove one.
Arguments and printing only; the work is :mod:`live.library.sets`."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from live import paths
from live.cli.common import HelpFormatter, add_folder_flags
from live.errors import UserError
from live.library import sets

_LOGGER = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``set add|list|remove``."""
    sub = parser.add_subparsers(dest="set_command", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="analyse tracks into the set: beat grid, sections, fingerprints",
                         formatter_class=HelpFormatter)
    add.add_argument("setdir", metavar="SETDIR", help="the set: a name in the sets folder, or a folder path")
    add.add_argument("tracks", metavar="TRACK", nargs="+", help="audio files (WAV, FLAC, AIFF, MP3, AAC or ALAC .m4a...)")
    add.add_argument("--rekordbox-xml", default=None, metavar="FILE", help="rekordbox collection export "
                     "(File > Export Collection in xml format): use the DJ's beat grids for the tracks in it")
    add.add_argument("--tracker", choices=("madmom", "librosa"), default="madmom", help="beats and downbeats of "
                     "tracks without a rekordbox grid: madmom's RNN + DBN (weights CC BY-NC-SA 4.0, "
                     "non-commercial; librosa when madmom is not installed) or librosa")
    add.add_argument("--song", action="store_true", help="also write a song preset (song-NAME) and plan per track")
    add.add_argument("--prompt", default="abstract flowing light, music visualiser", help="with --song: the look "
                     "the song presets' section prompts start from")
    add_folder_flags(add, "sets", "presets")
    listing = sub.add_parser("list", help="the set's tracks: grid origin, BPM, bars, sections")
    listing.add_argument("setdir", metavar="SETDIR", help="the set: a name in the sets folder, or a folder path")
    add_folder_flags(listing, "sets")
    remove = sub.add_parser("remove", help="take a track out of the set")
    remove.add_argument("setdir", metavar="SETDIR", help="the set: a name in the sets folder, or a folder path")
    remove.add_argument("name", metavar="NAME", help="the track's name as `set list` shows it")
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


def run(args: argparse.Namespace) -> int:
    """Do the action; print one line per track."""
    setdir = paths.set_dir(args.setdir, args.sets_dir)
    if args.set_command == "list":
        tracks = sets.list_tracks(setdir)
        print(f"{setdir}: {len(tracks)} track{'s' if len(tracks) != 1 else ''}")
        for t in tracks:
            print(f"  {t.name:<32} {t.bpm:6.1f} BPM  {len(t.downbeats):4d} bars  {len(t.sections):2d} sections  "
                  f"grid {t.origin:<9} {t.duration / 60:5.1f} min" + (f"  preset {t.song_preset}" if t.song_preset else ""))
        return 0
    if args.set_command == "remove":
        print(f"removed {sets.remove_track(setdir, args.name)}")
        return 0
    tracker, name = _tracker(args.tracker)
    report = sets.add_tracks(setdir, args.tracks, tracker=tracker, tracker_name=name,
                             rekordbox_xml=args.rekordbox_xml, song_prompt=args.prompt if args.song else None,
                             presets_dir=args.presets_dir)
    for t in report.added:
        print(f"added {t.name}: {t.bpm:.1f} BPM, {len(t.downbeats)} bars, {len(t.sections)} sections, grid {t.origin}"
              + (f", preset {t.song_preset}" if t.song_preset else ""))
    for line in report.refused:
        print(f"skipped: {line}")
    if report.interrupted:
        print(f"interrupted: {len(report.added)} track(s) kept in {setdir}; run the same command again for the rest")
        return 130
    if not report.added and report.refused:
        raise UserError(f"no track added to {setdir}")
    count = len(sets.list_tracks(setdir))
    print(f"{setdir}: {count} track{'s' if count != 1 else ''}")
    return 0
