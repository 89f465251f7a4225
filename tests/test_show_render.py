"""End to end: the demo preset rendered offline against the synthesised track, through the
real audio engine, traversal, approx decoder, GL shader chain and video writer."""

import numpy as np
import pytest

from live.cli import main
from live.library.demo import write_demo_track
from live.show.render import pulse_peaks, render_file
from live.visuals.video import probe

FPS = 30
SECONDS = 8.0
LOCK_IN_S = 2.0  # time the beat clock may take to lock, at the start and after the tempo change


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("render")
    track = write_demo_track(tmp / "demo.wav", SECONDS)
    out = tmp / "demo.mp4"
    stats = render_file(preset="demo", audio=str(tmp / "demo.wav"), out=str(out), size="128x96", fps=FPS,
                        progress=False)
    return track, stats, out


def test_video_has_right_frame_count_size_and_audio(rendered):
    _, stats, out = rendered
    info = probe(out)
    assert info == {"frames": int(SECONDS * FPS), "width": 128, "height": 96, "fps": FPS, "audio": True}
    assert stats.frames == int(SECONDS * FPS)


def test_frames_change_over_time(rendered):
    _, _, out = rendered
    import av

    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]
    # Successive bars show different keyframes: pictures a bar apart differ clearly.
    differences = [np.abs(frames[i] - frames[i + 60]).mean() for i in range(30, len(frames) - 60, 30)]
    assert min(differences) > 3.0, differences
    # And the keyframe walk moves forward: about one keyframe per bar over the render.
    assert 2 <= int(rendered[1].keyframe_positions[-1]) <= 6


def test_beat_pulse_peaks_within_one_frame_of_the_beats(rendered):
    track, stats, _ = rendered
    peaks = pulse_peaks(stats.pulses) / FPS
    half = SECONDS / 2
    for beat in track.beat_times:
        locked = LOCK_IN_S <= beat < half or half + LOCK_IN_S <= beat < SECONDS - 1.0 / FPS
        if not locked:
            continue
        nearest = peaks[np.argmin(np.abs(peaks - beat))]
        assert abs(nearest - beat) <= 1.0 / FPS, f"beat at {beat:.3f}s, pulse peak at {nearest:.3f}s"


def test_pulse_brightens_the_picture_on_the_beat(rendered):
    """The pulse uniform reaches the screen: frames on a beat are brighter than just before it."""
    track, stats, out = rendered
    import av

    with av.open(str(out)) as container:
        brightness = np.array([f.to_ndarray(format="rgb24").mean() for f in container.decode(video=0)])
    peaks = pulse_peaks(stats.pulses)
    peaks = peaks[(peaks > 1) & (peaks < len(brightness))]
    jumps = brightness[peaks] - brightness[peaks - 1]
    assert np.median(jumps) > 2.0, jumps


def test_render_is_deterministic(tmp_path):
    """The stepped clock: the same input renders the same frames and the same stats, every time."""
    import av

    first = tmp_path / "first.mp4"
    second = tmp_path / "second.mp4"
    wav = tmp_path / "demo.wav"
    write_demo_track(wav, 2.0)
    runs = [render_file(preset="demo", audio=str(wav), out=str(path), size="64x48", fps=FPS, progress=False)
            for path in (first, second)]
    assert runs[0].frames == runs[1].frames == 2 * FPS
    assert (runs[0].pulses, runs[0].keyframe_positions, runs[0].bpms) == \
        (runs[1].pulses, runs[1].keyframe_positions, runs[1].bpms)
    pictures = []
    for path in (first, second):
        with av.open(str(path)) as container:
            pictures.append(np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)]))
    assert np.array_equal(*pictures)


@pytest.mark.parametrize("content", [None, b"", b"this is not audio at all" * 100])
def test_bad_audio_file_is_one_line_error_exit_2(tmp_path, capsys, content):
    path = tmp_path / "song.wav"
    if content is not None:
        path.write_bytes(content)
    code = main(["render", "--preset", "demo", "--audio", str(path), "--out", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and "song.wav" in err[0]
    assert not (tmp_path / "x.mp4").exists()


def test_unknown_preset_is_one_line_error_exit_2(tmp_path, capsys):
    write_demo_track(tmp_path / "t.wav", 1.0)
    code = main(["render", "--preset", "no-such-preset", "--audio", str(tmp_path / "t.wav"),
                 "--out", str(tmp_path / "x.mp4")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no-such-preset" in err[0]
