"""`render` is deterministic by construction: the same inputs give the same frames, in one process
or many, with the procedural keyframe cache cold or warm, whatever changes on disk meanwhile.

Root causes these tests pin down (each failed on the code before):
- x264's macroblock-tree rate control (on in the ``veryfast`` preset) gave different bits for the
  same frames from one encode to the next on AVX-512 machines whenever the frame's 16x16 block
  count is not a multiple of 16 (64x48, the old test's size, is 12): it depends on memory the
  encoder never wrote, so what ran before in the process decided the video;
- the bank looked for changed files on a background thread once a (simulated) second, and the
  renderer once a wall-clock second, so a change on disk reached a render at a frame that
  depended on thread timing and render speed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from live.library.demo import demo_images, write_demo_track
from live.show.render import render_file
from live.visuals import renderer as renderer_module
from live.visuals.video import VideoWriter

ROOT = Path(__file__).resolve().parent.parent
FPS = 30
SIZE = "64x48"  # 4x3 blocks of 16x16: the size whose encodes used to differ


def _frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _packets(path: Path) -> bytes:
    with av.open(str(path)) as container:
        return b"".join(bytes(p) for p in container.demux(video=0))


def _render(tmp: Path, wav: Path, name: str, keyframes: Path, **kwargs) -> tuple[np.ndarray, object]:
    out = tmp / f"{name}.mp4"
    stats = render_file(preset="demo", audio=str(wav), out=str(out), size=SIZE, fps=FPS, progress=False,
                        keyframes_dir=keyframes, **kwargs)
    return _frames(out), stats


@pytest.fixture()
def wav(tmp_path: Path) -> Path:
    path = tmp_path / "demo.wav"
    write_demo_track(path, 1.5)
    return path


def _moving_pictures(width: int, height: int, count: int = 30) -> list[np.ndarray]:
    """A crossfade between two demo pictures, panning: content x264 predicts between frames."""
    images = demo_images(width * 2, height * 2, 2).astype(np.float32)
    frames = []
    for i in range(count):
        mix = (i % 15) / 15.0
        picture = images[0] * (1 - mix) + images[1] * mix
        dx, dy = i % width, (2 * i) % height
        frames.append(np.ascontiguousarray(picture[dy:dy + height, dx:dx + width].astype(np.uint8)))
    return frames


@pytest.mark.parametrize("width, height", [(96, 64), (160, 96)])  # 24 and 60 blocks of 16x16
def test_video_bits_depend_on_the_frames_alone(tmp_path, width, height):
    """The same frames encoded ten times, with other allocations in between (as a render's GL,
    audio and torch work makes), give the same bytes every time (before: 3 different videos)."""
    frames = _moving_pictures(width, height)
    churn: list[np.ndarray] = []
    encodes = set()
    for k in range(10):
        path = tmp_path / f"{k}.mp4"
        writer = VideoWriter(path, width, height, FPS)
        for i, frame in enumerate(frames):
            writer.write(frame)
            # memory written, freed and handed to the encoder's next allocations
            churn.append(np.frombuffer(os.urandom(1000 * (7 * k + i) % 150_000 + 4096), np.uint8).copy())
            del churn[:-5]
        writer.close()
        encodes.add(_packets(path))
    assert len(encodes) == 1


def test_render_same_frames_with_cold_and_warm_keyframe_cache(tmp_path, wav):
    """Two renders with an empty keyframes folder each (the procedural keyframes are built on
    first use) and one more with the first folder warm: the same frames and stats, exactly."""
    runs = [_render(tmp_path, wav, name, tmp_path / folder)
            for name, folder in (("cold1", "kf1"), ("cold2", "kf2"), ("warm", "kf1"))]
    (first, stats), *others = runs
    assert len(first) == int(1.5 * FPS)
    for frames, other in others:
        assert (other.pulses, other.keyframe_positions, other.bpms) == (stats.pulses, stats.keyframe_positions, stats.bpms)
        assert np.array_equal(frames, first)


def test_render_in_a_subprocess_matches_one_in_this_process(tmp_path, wav):
    """A fresh interpreter (nothing cached in memory, the CLI's path) renders the same video."""
    here, _ = _render(tmp_path, wav, "here", tmp_path / "kf-here")
    out = tmp_path / "there.mp4"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVE_")}
    proc = subprocess.run([sys.executable, str(ROOT / "run_live.py"), "render", "--preset", "demo", "--audio", str(wav),
                           "--out", str(out), "--size", SIZE, "--fps", str(FPS),
                           "--keyframes-dir", str(tmp_path / "kf-there")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert np.array_equal(_frames(out), here)
    assert _packets(out) == _packets(tmp_path / "here.mp4")


def test_render_never_looks_for_changed_preset_files(tmp_path, wav, monkeypatch):
    """A render reads presets and keyframes once: no background refresh, whose finishing frame
    would depend on thread timing (a song render's section switch would pick up what it read)."""
    from live.library import bank

    started = []
    monkeypatch.setattr(bank._RefreshJob, "start", lambda job: started.append(job))
    _render(tmp_path, wav, "r", tmp_path / "kf")  # 1.5 s: live, a refresh starts at 1 s
    assert started == []


class _FastClock:
    """perf_counter for the renderer module that leaps 2 s a call: each draw is 'a second later'."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 2.0
        return self.now


def test_shader_edited_during_a_render_does_not_reach_it(tmp_path, wav, monkeypatch):
    """A shader file changed mid-render is not picked up: live it is, once a wall-clock second,
    so a render would show it from a frame that depends on how fast the machine renders."""
    shaders = tmp_path / "shaders"
    shutil.copytree(ROOT / "shaders", shaders)
    kf = tmp_path / "kf"
    reference, _ = _render(tmp_path, wav, "reference", kf, shaders_dir=shaders)

    monkeypatch.setattr(renderer_module, "time", _FastClock())
    draw = renderer_module.Renderer.draw
    calls = []

    def draw_and_edit(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # a third of the way into the first tenth of a second: someone saves pulse.glsl
            path = shaders / "pulse.glsl"
            path.write_text("#version 330 core\nout vec4 f_color;\nvoid main() { f_color = vec4(1.0, 0.0, 0.0, 1.0); }\n")
            os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 10))
        return draw(self, *args, **kwargs)

    monkeypatch.setattr(renderer_module.Renderer, "draw", draw_and_edit)
    edited, _ = _render(tmp_path, wav, "edited", kf, shaders_dir=shaders)
    assert np.array_equal(edited, reference)
