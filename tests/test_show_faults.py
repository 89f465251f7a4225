"""Fault injection on a running show that the other fault tests do not cover: a shader broken on
disk while the show runs and reloads it. Frames keep coming, the last good program keeps running,
and the fixed file is picked up again."""

from __future__ import annotations

import logging
import os
import shutil

from test_library_faults import REPO, assert_frames_keep_coming, precomputed, run_show

from live.library.bank import open_bank
from live.show.show import Show, SyncDecode
from live.visuals.decoders import make_decoder
from live.visuals.renderer import Renderer

BROKEN = "#version 330 core\nout vec4 f_color;\nvoid main() { f_color = vec4(not_declared); }\n"


def test_a_shader_broken_while_the_show_runs_keeps_the_last_good_program(tmp_path, caplog):
    shaders, presets, kdir = tmp_path / "shaders", tmp_path / "presets", tmp_path / "kf"
    shutil.copytree(REPO / "shaders", shaders)
    precomputed(presets, kdir, "alpha", seed=1, motion='[look]\nshaders = ["pulse"]\n')
    decoder = make_decoder("approx")
    bank = open_bank(decoder.family, decoder.latent_channels, decoder.device, presets, kdir)
    renderer = Renderer(64, 64, headless=True, shader_dir=shaders)
    try:
        show = Show(bank, SyncDecode(decoder), renderer, preset="alpha")
        show.clock_t = 0.0
        run_show(show, 0.5)
        good = (shaders / "pulse.glsl").read_text()
        with caplog.at_level(logging.INFO, logger="live.visuals.renderer"):
            (shaders / "pulse.glsl").write_text(BROKEN)
            os.utime(shaders / "pulse.glsl", (1e9, 1e9))  # a new mtime whatever the clock's resolution
            renderer.poll_shaders(force=True)  # what the show's once-a-second poll does, now
            assert_frames_keep_coming(show, 1.0)
            assert list(renderer.shader_errors()) == ["pulse"]
            assert any("keeping the last good version" in r.getMessage() for r in caplog.records)
            assert renderer.read_pixels().mean() > 5  # still a picture, not black
            (shaders / "pulse.glsl").write_text(good)
            os.utime(shaders / "pulse.glsl", (2e9, 2e9))
            renderer.poll_shaders(force=True)
            assert renderer.shader_errors() == {}
            assert_frames_keep_coming(show, 0.5)
    finally:
        renderer.close()
