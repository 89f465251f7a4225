"""`render` end to end against a strobe preset: the video's flashes, counted by the independent
WCAG counter, stay at 3 a second or fewer, and flash freely with --no-flash-limit."""

import numpy as np
import pytest
from flashcount import max_flashes_per_second
from test_visuals_flash import write_strobe

from live.cli import main
from live.library.demo import write_demo_track

FPS = 60
SECONDS = 3.0


@pytest.mark.parametrize("lift", [False, True])
def test_rendered_strobe_video_keeps_to_the_flash_limit(tmp_path, lift):
    import av

    shaders, presets = write_strobe(tmp_path, "u_rate = 4.0")
    write_demo_track(tmp_path / "demo.wav", SECONDS)
    out = tmp_path / "strobe.mp4"
    argv = ["render", "--preset", "strobe", "--audio", str(tmp_path / "demo.wav"), "--out", str(out),
            "--fps", str(FPS), "--size", "64x64", "--presets-dir", str(presets), "--shaders-dir", str(shaders),
            "--keyframes-dir", str(tmp_path / "keyframes")]
    assert main(argv + (["--no-flash-limit"] if lift else [])) == 0
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == int(SECONDS * FPS)
    flashes = max_flashes_per_second(frames, [k / FPS for k in range(len(frames))])
    if lift:
        assert flashes >= 6
    else:
        assert 1 <= flashes <= 3
