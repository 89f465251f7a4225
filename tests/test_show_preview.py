"""preview: the contact sheet through the offline render, its clear errors, and the thumbnail it
leaves for the operator's preset list."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from live.cli import main
from live.errors import UserError
from live.show.preview import check_out, preview
from live.show.thumbnails import Thumbnails, thumbnail_file

ROOT = Path(__file__).resolve().parent.parent


def test_preview_sheet_has_pairs_before_and_on_beats_and_a_thumbnail(tmp_path):
    out = tmp_path / "sheet.png"
    shots = preview(preset="demo", out=str(out), moments_count=2, seconds=6.0, size="128x72", fps=20,
                    keyframes_dir=str(tmp_path / "kf"), progress=False)
    assert len(shots) == 4
    assert [s.on_beat for s in shots] == [False, True, False, True]
    for before, on in zip(shots[::2], shots[1::2]):
        assert 0 < on.time - before.time < 0.051 and on.beat == before.beat + 1  # the frame before, then the beat
        assert "on the beat" in on.label and f"beat {on.beat}" in on.label
    sheet = np.asarray(Image.open(out))
    assert sheet.shape[1] > 4 * 300 and sheet.std() > 10
    thumb = Thumbnails(str(tmp_path / "kf"))
    assert thumbnail_file("demo", str(tmp_path / "kf")).is_file()
    thumb.get(["demo"])
    thumb._loader.join(5)
    got = thumb.get(["demo"])["demo"]
    assert got.shape[2] == 3 and got.shape[1] <= 192


def test_preview_errors_are_one_line(tmp_path, capsys):
    assert main(["preview", "nope", "--out", str(tmp_path / "s.png"), "--seconds", "1"]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["preview", "demo", "--audio", str(tmp_path / "missing.wav"), "--out", str(tmp_path / "s.png")]) == 2
    assert "missing.wav" in capsys.readouterr().err
    with pytest.raises(UserError, match="does not exist"):
        check_out(str(tmp_path / "no" / "s.png"))
    with pytest.raises(UserError, match="picture"):
        check_out(str(tmp_path / "s.mp4"))
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        check_out(str(tmp_path / "dir.png"))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        import os

        if os.geteuid() != 0:
            with pytest.raises(UserError, match="cannot write"):
                check_out(str(locked / "s.png"))
    finally:
        locked.chmod(0o700)


def test_thumbnails_take_a_live_frame_when_no_file_exists(tmp_path):
    thumbs = Thumbnails(str(tmp_path))
    frame = np.zeros((432, 768, 3), np.uint8)
    frame[..., 1] = 200
    thumbs.get(["a", "b"])
    thumbs._loader.join(5)
    got = thumbs.get(["a", "b"], "a", frame)
    assert set(got) == {"a"} and got["a"].shape[1] <= 192 and got["a"][..., 1].min() == 200
