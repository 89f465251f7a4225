"""The clip layer's parts: a tiny video written with PyAV, decoded looping and scaled, at a
stepped time (render) and on a thread at the clock (live); beat cuts and commands; bad files."""

import time

import numpy as np
import pytest

from live.errors import UserError
from live.messages import AudioState
from live.visuals.clips import CLIP_SEQ_BASE, ClipLayer, ClipPlayer, ClipReader, SyncClip, check_clip
from tiny_video import write_clip

RED, GREEN, BLUE = (220, 20, 20), (20, 220, 20), (20, 20, 220)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip") / "rgb.mp4", [RED, GREEN, BLUE], fps=10)


def colour_of(rgb: np.ndarray) -> tuple[int, int, int]:
    return tuple(int(round(v / 100.0)) * 100 for v in rgb.reshape(-1, 3).mean(axis=0))


def test_reader_loops_at_the_clip_rate_scaled_to_the_output(clip):
    frames = ClipReader(clip, 64, 16).frames()
    got = [next(frames) for _ in range(7)]
    assert [round(t, 3) for t, _ in got] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert all(rgb.shape == (16, 64, 3) and not rgb.flags.writeable for _, rgb in got)
    assert [colour_of(rgb) for _, rgb in got] == [colour_of(np.array([c])) for c in [RED, GREEN, BLUE] * 2 + [RED]]


def test_sync_clip_gives_the_frame_for_each_stepped_time(clip):
    source = SyncClip(ClipReader(clip, 32, 32))
    frames = [source.frame_at(t) for t in (0.0, 0.05, 0.1, 0.25, 0.31)]
    assert [f.display_time for f in frames] == pytest.approx([0.0, 0.0, 0.1, 0.2, 0.3])
    assert frames[0] is frames[1]  # the same frame again: the renderer does not upload it twice
    seqs = [f.seq for f in frames[1:]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 4 and max(seqs) < CLIP_SEQ_BASE


def test_player_publishes_frames_at_the_clock(clip):
    player = ClipPlayer(ClipReader(clip, 32, 32)).start()
    try:
        deadline = time.perf_counter() + 2.0
        while player.frame_at(0.0) is None and time.perf_counter() < deadline:
            time.sleep(0.01)
        start = time.perf_counter()
        seen = {}
        while time.perf_counter() - start < 0.65:
            frame = player.frame_at(0.0)
            seen.setdefault(frame.seq, (frame.display_time, time.perf_counter()))
            time.sleep(0.005)
    finally:
        player.stop()
    # About 10 frames a second, each published close to (never long before) its time.
    assert 3 <= len(seen) <= 8, seen
    for due, published in seen.values():
        assert -0.02 <= published - due <= 0.3  # never early; late only as a loaded machine makes it


@pytest.mark.parametrize("content", [None, b"", b"not a video at all" * 50])
def test_bad_clip_file_is_one_clear_error(tmp_path, content):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=r"--clip .*clip\.mp4: (no such file|not a readable video|no video)"):
        check_clip(path)


def test_audio_only_file_is_refused(tmp_path):
    from live.library.demo import write_demo_track

    write_demo_track(tmp_path / "song.wav", 0.5)
    with pytest.raises(UserError, match="no video stream"):
        check_clip(tmp_path / "song.wav")


def test_a_short_clip_loops_from_memory(tmp_path):
    path = write_clip(tmp_path / "c.mp4", [RED, GREEN], fps=10)
    frames = ClipReader(path, 16, 16).frames()
    first = [next(frames) for _ in range(2)]
    path.unlink()  # not read again: the two frames are kept
    again = [next(frames) for _ in range(4)]
    assert [round(t, 3) for t, _ in again] == [0.2, 0.3, 0.4, 0.5]
    assert all(a[1] is b[1] for a, b in zip(first * 2, again))


def test_still_image_is_a_clip(tmp_path):
    from PIL import Image

    Image.new("RGB", (30, 20), GREEN).save(tmp_path / "still.png")
    frames = ClipReader(tmp_path / "still.png", 16, 16).frames()
    got = [next(frames) for _ in range(3)]
    assert got[1][0] > got[0][0] and colour_of(got[2][1]) == colour_of(np.array([GREEN]))


def test_clip_broken_mid_show_is_logged_once_and_gives_no_frames(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("live.visuals.clips.KEEP_BYTES", 0)  # read the file again each loop
    path = write_clip(tmp_path / "c.mp4", [RED, GREEN])
    source = SyncClip(ClipReader(path, 16, 16))
    assert source.frame_at(0.0) is not None
    path.write_bytes(b"garbage" * 100)  # the next loop reopens the file
    got = [source.frame_at(t) for t in np.arange(0.1, 1.0, 0.05)]
    assert got[-1] is None and source.error
    assert sum("clip" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records) == 1


def test_player_broken_mid_show_is_logged_once(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr("live.visuals.clips.KEEP_BYTES", 0)
    path = write_clip(tmp_path / "c.mp4", [RED, GREEN], fps=20)
    player = ClipPlayer(ClipReader(path, 16, 16)).start()
    try:
        path.unlink()  # gone before the first loop ends
        deadline = time.perf_counter() + 2.0
        while not player.error and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert player.error and player.frame_at(0.0) is None
    finally:
        player.stop()
    assert sum("failed" in r.getMessage() for r in caplog.records) == 1


class _Still:
    """A clip source that always has one frame."""

    error = ""

    def frame_at(self, t):
        return "clip frame"

    def stop(self):
        pass


def beats(n: float) -> AudioState:
    return AudioState(time=0.0, bpm=60.0, beat_index=int(n), beat_phase=n % 1.0)


def test_layer_cuts_every_n_beats_on_the_beat():
    layer = ClipLayer(_Still(), every=2)
    shown = [layer.frame(beats(0.0), t) is not None for t in np.arange(0.0, 8.0, 0.25)]
    # 60 BPM: beat k at k seconds; a cut at beats 2, 4, 6.
    changes = [i * 0.25 for i in range(1, len(shown)) if shown[i] != shown[i - 1]]
    assert changes == [2.0, 4.0, 6.0]
    assert shown[0] is False and shown[-1] is True


def test_layer_commands_switch_and_a_tempo_step_back_is_no_cut():
    layer = ClipLayer(_Still())
    assert layer.frame(beats(0), 0.0) is None
    layer.command("layer", ("clip",))
    assert layer.frame(beats(0), 0.0) == "clip frame"
    layer.command("layer", ("toggle",))
    assert layer.showing == "sd"
    layer.command("clip_every", (1.0,))
    layer.frame(beats(5.5), 0.0)
    layer.frame(beats(3.2), 0.0)  # the clock relocked a little behind
    assert layer.showing == "sd"
    layer.frame(beats(4.1), 0.0)
    assert layer.showing == "clip"
    layer.command("clip_every", (0.0,))
    for n in range(10, 20):
        layer.frame(beats(n), 0.0)
    assert layer.showing == "clip"
