"""The show's start-up with the shipped presets: the presets nobody precomputed yet are one HUD
warning that names them all, not a line each that fills the HUD's warning area; other warnings pass."""

import logging
import shutil
from pathlib import Path

from live.show import runner
from live.show.runner import ShowSettings
from live.visuals.hud import WARNINGS_KEPT, WarningLog

REPO = Path(__file__).resolve().parent.parent
TEXT_PRESETS = ("acid-sections", "ambient-bloom", "techno-tunnel")  # shipped, made by precompute


def test_not_precomputed_presets_are_one_warning_naming_them_all(tmp_path, caplog):
    presets = tmp_path / "presets"
    presets.mkdir()
    for name in (*TEXT_PRESETS, "demo"):
        shutil.copy(REPO / "presets" / f"{name}.toml", presets / f"{name}.toml")
    shutil.copy(REPO / "presets" / "techno-tunnel.toml", presets / "broken.toml")
    broken = tmp_path / "kf" / "broken"
    broken.mkdir(parents=True)
    (broken / "keyframes.safetensors").write_bytes(b"not a keyframe file")  # a different fault: its own line

    hud = WarningLog()
    logging.getLogger().addHandler(hud)
    try:
        loader = runner._Loader(ShowSettings(presets_dir=str(presets), keyframes_dir=str(tmp_path / "kf"),
                                             shaders_dir=str(REPO / "shaders")), 64, 64)
        loader.run()  # the loader thread's body, here
        _, bank = loader.result()
    finally:
        logging.getLogger().removeHandler(hud)
    assert bank.names() == ["demo"]
    lines = hud.lines()
    not_precomputed = [line for line in lines if any(name in line for name in TEXT_PRESETS)]
    assert len(not_precomputed) == 1, lines  # was one line each
    assert "not precomputed" in not_precomputed[0] and all(name in not_precomputed[0] for name in TEXT_PRESETS)
    assert any("broken" in line for line in lines if line not in not_precomputed), lines
    assert len(lines) < WARNINGS_KEPT  # room left for what happens during the show
    # The show asked to start on a preset that cannot play starts on one that can, saying why
    # (it ended with an error after loading: no picture at all).
    with caplog.at_level(logging.ERROR):
        assert runner.start_preset(bank, "techno-tunnel") == "demo"
        assert runner.start_preset(bank, "demo") == "demo"
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(said) == 1 and "techno-tunnel" in said[0] and "precompute" in said[0] and "starts on demo" in said[0]
