"""Every command explains itself, and the entry points agree."""

import pytest

from live.cli import BENCHMARKS, COMMANDS, build_parser, main


@pytest.mark.parametrize("argv", [[]] + [[name] for name in COMMANDS] + [["bench", name] for name in BENCHMARKS])
def test_every_command_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv + ["--help"] if argv else ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage:") and len(text.splitlines()) > 3


def test_no_command_means_live():
    args = build_parser().parse_args(["live", "--headless"])
    assert args.handler.__module__ == "live.cli.live"
    # main() inserts "live" before bare options; parse the same way without running the show
    assert build_parser().parse_args(["live"]).preset == "demo"


def test_bad_size_is_one_line_error(tmp_path, capsys):
    code = main(["render", "--preset", "demo", "--audio", str(tmp_path / "a.wav"), "--out", str(tmp_path / "o.mp4"),
                 "--size", "big"])
    assert code == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
