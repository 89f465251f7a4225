"""The one safe reader of user files: FIFOs, devices, folders, huge and deeply nested files."""

import os

import pytest

from live.files import FileRefused, load_toml, read_bytes, read_text


def test_reads_a_regular_file_exactly(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text('name = "x"\n')
    assert load_toml(path) == {"name": "x"}
    assert read_bytes(path, 100) == b'name = "x"\n'


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "p.toml"
    os.mkfifo(fifo)
    with pytest.raises(FileRefused, match="not a regular file"):
        read_text(fifo)


def test_a_device_behind_a_symlink_is_refused(tmp_path):
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="not a regular file"):
        read_text(link)


def test_a_folder_and_a_large_file_are_refused(tmp_path):
    with pytest.raises(FileRefused, match="folder"):
        read_text(tmp_path)
    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(10_000)
    with pytest.raises(FileRefused, match="over the limit"):
        read_bytes(big, 1000)


def test_deeply_nested_toml_is_one_line_error(tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 50_000 + "]" * 50_000 + "\n")
    with pytest.raises(FileRefused, match="nested too deeply"):
        load_toml(path)


def test_non_utf8_and_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(b"\xff\xfe = 1")
    with pytest.raises(FileRefused, match="UTF-8"):
        load_toml(path)
    path.write_text("= = =")
    with pytest.raises(FileRefused, match="not valid TOML"):
        load_toml(path)
    with pytest.raises(FileNotFoundError):
        load_toml(tmp_path / "missing.toml")


def test_write_whole_replaces_the_file_and_leaves_no_temporary(tmp_path):
    from live.files import write_whole

    path = tmp_path / "plan.json"
    path.write_text("old")
    write_whole(path, "new text")
    write_whole(tmp_path / "b.bin", b"\x00\x01")
    assert path.read_text() == "new text" and (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "plan.json"]
