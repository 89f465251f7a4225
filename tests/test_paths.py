"""One rule for the show's folders: the repository's by default, an environment variable for
every command, a flag for one run; the same for every command that declares the flags."""

from __future__ import annotations

import argparse

import pytest

from live import paths
from live.cli import build_parser
from live.cli.common import add_folder_flags


@pytest.fixture()
def no_env(monkeypatch):
    for kind in paths.FOLDERS:
        monkeypatch.delenv(f"LIVE_{kind.upper()}_DIR", raising=False)
    return monkeypatch


@pytest.mark.parametrize("kind", paths.FOLDERS)
def test_repo_folder_env_then_override(kind, no_env, tmp_path):
    no_env.chdir(tmp_path)  # the working folder plays no part
    assert paths.folder(kind) == paths.ROOT / kind and (paths.ROOT / kind).is_dir()
    no_env.setenv(f"LIVE_{kind.upper()}_DIR", str(tmp_path / "env"))
    assert paths.folder(kind) == tmp_path / "env"
    assert paths.folder(kind, tmp_path / "flag") == tmp_path / "flag"
    assert getattr(paths, f"{kind}_dir")("x") == paths.folder(kind, "x")


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown folder kind 'models'"):
        paths.folder("models")


def test_folder_flags_default_to_none():
    parser = argparse.ArgumentParser()
    add_folder_flags(parser, "presets", "shaders")
    args = parser.parse_args([])
    assert args.presets_dir is None and args.shaders_dir is None
    assert parser.parse_args(["--shaders-dir", "s"]).shaders_dir == "s"
    assert "LIVE_SHADERS_DIR" in parser.format_help()


@pytest.mark.parametrize("command, kinds", [
    (["check"], ("presets", "keyframes", "shaders", "mappings", "sets")),  # check takes live's flags (--set too) and reads the MIDI map
    (["precompute"], ("presets", "keyframes")),
    (["midi", "monitor"], ("mappings", "shaders")),  # shader_param bindings are checked against the shaders
    (["midi", "learn", "blackout"], ("mappings", "shaders")),
])
def test_commands_declare_the_folder_flags(command, kinds):
    args = build_parser().parse_args(command)
    for kind in paths.FOLDERS:
        assert getattr(args, f"{kind}_dir", "absent") == (None if kind in kinds else "absent")


def test_mapping_file(no_env, tmp_path):
    no_env.chdir(tmp_path)
    assert paths.mapping_file() == paths.ROOT / "mappings" / "generic.toml"
    assert paths.mapping_file("pad.toml") == paths.ROOT / "mappings" / "pad.toml"
    assert paths.mapping_file("pad.toml", tmp_path / "maps") == tmp_path / "maps" / "pad.toml"
    assert paths.mapping_file("sub/new.toml") == paths.Path("sub/new.toml")  # a path with a folder: as given
    (tmp_path / "here.toml").write_text("")
    assert paths.mapping_file("here.toml") == paths.Path("here.toml")  # an existing file: as given


def test_mapping_name_without_extension(no_env, tmp_path):
    no_env.chdir(tmp_path)
    # `--midi-map nu` is `nu.toml` in the mappings folder, as preset names need no extension.
    assert paths.mapping_file("nu") == paths.ROOT / "mappings" / "nu.toml"
    assert paths.mapping_file("generic") == paths.mapping_file("generic.toml")
    assert paths.mapping_file("my.v2", tmp_path / "maps") == tmp_path / "maps" / "my.v2.toml"
    assert paths.mapping_file("sub/raw") == paths.Path("sub/raw")  # a path: as given
