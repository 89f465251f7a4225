"""The clip layer through the real show: a render with the stepped clock shows the clip's pixels
in the SD layer's place and cuts on the beat; layer commands switch; a bad clip is one error line."""

from pathlib import Path

import av
import numpy as np
import pytest

from live.cli import main
from live.library.bank import open_bank
from live.library.demo import write_demo_track
from live.messages import AudioState, Command
from live.show.render import pulse_peaks, render_file
from live.show.show import Show, SyncDecode
from live.visuals.clips import ClipLayer, ClipReader, SyncClip
from live.visuals.decoders import make_decoder
from live.visuals.renderer import Renderer
from tiny_video import write_clip

ROOT = Path(__file__).resolve().parent.parent
FPS = 30
GREEN = (10, 230, 10)  # the demo's pictures are never this green


def greenness(frames: np.ndarray) -> np.ndarray:
    """Per frame: how much green stands above red and blue (the clip: > 150; the demo: < 60)."""
    f = frames.astype(int)
    return (f[..., 1] - np.maximum(f[..., 0], f[..., 2])).mean(axis=(1, 2))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clipshow")
    return write_demo_track(tmp / "demo.wav", 3.0), write_clip(tmp / "green.mp4", [GREEN] * 8, fps=8), tmp


_RENDERS: dict[str, tuple] = {}


def render_with_clip(media, every: float, name: str):
    if name in _RENDERS:
        return _RENDERS[name]
    track, clip, tmp = media
    out = tmp / f"{name}.mp4"
    stats = render_file(preset="demo", audio=str(tmp / "demo.wav"), out=str(out), size="64x48", fps=FPS,
                        progress=False, clip=str(clip), clip_every=every)
    with av.open(str(out)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    _RENDERS[name] = stats, greenness(frames)
    return _RENDERS[name]


@pytest.mark.parametrize("every", [1, 2])
def test_render_cuts_to_the_clip_on_the_beat(media, every):
    stats, green = render_with_clip(media, every, f"every{every}")
    clip_frames = green > 150
    assert np.all(clip_frames | (green < 60)), green  # every frame is wholly one layer or the other
    assert 0.25 < clip_frames.mean() < 0.75
    cuts = np.flatnonzero(clip_frames[1:] != clip_frames[:-1]) + 1
    peaks = pulse_peaks(stats.pulses)  # the frames a beat lands on (the pulse restarts)
    assert len(cuts) >= 2
    assert set(cuts) <= set(peaks), (cuts, peaks)
    # Every beat is a cut with every=1; with every=2 about every other beat (the count can jump
    # while the clock locks in, so not exactly every other pulse peak).
    following = [p for p in peaks if cuts[0] <= p <= cuts[-1]]
    if every == 1:
        assert list(cuts) == following
    else:
        assert len(following) >= 2 * len(cuts) - 2


def test_render_with_clip_is_deterministic(media):
    assert np.array_equal(render_with_clip(media, 1, "every1")[1], render_with_clip(media, 1, "again")[1])


@pytest.fixture(scope="module")
def show(media):
    _, clip, tmp = media
    presets = tmp / "presets"
    presets.mkdir()
    (presets / "alpha.toml").write_text((ROOT / "presets" / "demo.toml").read_text())
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, tmp / "keyframes")
    renderer = Renderer(64, 48, headless=True)
    layer = ClipLayer(SyncClip(ClipReader(clip, 64, 48)))
    yield Show(bank, SyncDecode(decoder), renderer, preset="alpha", clip=layer)
    renderer.close()


def state(t: float) -> AudioState:
    return AudioState(time=t, bpm=120.0, beat_index=int(t * 2), beat_phase=(t * 2) % 1.0)


def shown_after(show, t: float, *commands: Command) -> float:
    for cmd in commands:
        show.commands.put(cmd)
    show.tick(t, state(t))
    return float(greenness(show.renderer.read_pixels()[None])[0])


def test_layer_commands_switch_between_sd_and_clip(show):
    assert shown_after(show, 0.0) < 60
    assert shown_after(show, 0.1, Command("layer", ("clip",), source="osc")) > 150
    assert shown_after(show, 0.2) > 150
    assert shown_after(show, 0.3, Command("layer", ("toggle",), source="osc")) < 60
    assert shown_after(show, 0.4, Command("layer", ("toggle",), source="midi")) > 150
    show.tick(0.7, state(0.7))  # the status is published at most every 0.25 s
    assert show.status()["layer"] == "clip"
    assert shown_after(show, 0.75, Command("layer", ("sd",), source="osc")) < 60
    show.tick(0.99, state(0.99))
    assert show.status()["layer"] == "sd"


def test_clip_every_command_starts_beat_cuts(show):
    show.commands.put(Command("clip_every", (1.0,)))
    seen = [shown_after(show, 1.0 + k / FPS) > 150 for k in range(40)]  # 120 BPM: a beat every 15 frames
    cuts = [k for k in range(1, 40) if seen[k] != seen[k - 1]]
    assert len(cuts) == 2 and cuts[1] - cuts[0] == 15, seen
    show.commands.put(Command("clip_every", (0.0,)))
    show.tick(3.0, state(3.0))


def test_layer_command_without_a_clip_is_refused(media, show, caplog):  # show: writes the presets
    _, _, tmp = media
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, tmp / "presets", tmp / "keyframes")
    renderer = Renderer(32, 32, headless=True)
    try:
        s = Show(bank, SyncDecode(decoder), renderer, preset="alpha")
        s.commands.put(Command("layer", ("clip",), source="osc"))
        s.tick(0.0, state(0.0))
    finally:
        renderer.close()
    assert any("no clip" in r.getMessage() and "--clip" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("command", ["render", "live"])
def test_bad_clip_file_is_one_error_line(tmp_path, capsys, command, media):
    track = media[2] / "demo.wav"
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"\x00\x01 not a video" * 40)
    args = {"render": ["render", "--preset", "demo", "--audio", str(track), "--out", str(tmp_path / "x.mp4")],
            "live": ["live", "--headless", "--audio", str(track), "--seconds", "1", "--osc-port", "0"]}[command]
    code = main(args + ["--clip", str(bad)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --clip ") and "clip.mp4" in err[0], err
    assert not (tmp_path / "x.mp4").exists()
