"""Every command explains itself, and the entry points agree."""

import pytest

from live.cli import BENCHMARKS, COMMANDS, build_parser, main


@pytest.mark.parametrize("argv", [[]] + [[name] for name in COMMANDS] + [["bench", name] for name in BENCHMARKS])
def test_every_command_has_help(argv, capsys):
    assert main(argv + ["--help"] if argv else ["--help"]) == 0
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


def test_live_flags_build_the_show_settings(tmp_path):
    """Every ShowSettings field has a `live` flag with the field's default."""
    from live.cli.live import settings_from_args
    from live.show.runner import ShowSettings

    assert settings_from_args(build_parser().parse_args(["live"])) == ShowSettings()
    args = build_parser().parse_args(["live", "--headless", "--fps", "30", "--presets-dir", str(tmp_path),
                                      "--mappings-dir", str(tmp_path), "--midi-map", "x.toml", "--seconds", "2"])
    settings = settings_from_args(args)
    assert settings.headless and settings.fps == 30 and settings.seconds == 2.0
    assert settings.presets_dir == str(tmp_path) and settings.midi_map == "x.toml"



def test_live_and_render_take_the_tracker_settings(tmp_path):
    from live.cli.live import settings_from_args

    settings = settings_from_args(build_parser().parse_args(["live", "--tempo-min", "85", "--tempo-max", "175",
                                                             "--onset", "hfc"]))
    assert (settings.analysis.tempo_min, settings.analysis.tempo_max, settings.analysis.onset_method) == (85, 175, "hfc")


@pytest.mark.parametrize("command", [["live", "--headless", "--seconds", "1"],
                                     ["render", "--preset", "demo", "--audio", "a.wav", "--out", "o.mp4"]])
def test_a_bad_tempo_range_is_one_line_error(command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(command + ["--tempo-min", "120", "--tempo-max", "130"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and "too narrow" in err[0], err

def test_render_has_the_folder_flags(tmp_path):
    args = build_parser().parse_args(["render", "--preset", "p", "--audio", "a.wav", "--out", "o.mp4",
                                      "--presets-dir", str(tmp_path), "--keyframes-dir", "k", "--shaders-dir", "s"])
    assert (args.presets_dir, args.keyframes_dir, args.shaders_dir) == (str(tmp_path), "k", "s")


@pytest.mark.parametrize("command", [["live", "--headless", "--seconds", "1"],
                                     ["render", "--preset", "demo", "--audio", "a.wav", "--out", "o.mp4"]])
@pytest.mark.parametrize("fps", ["0", "-30"])
def test_fps_of_zero_or_less_is_one_line_error(command, fps, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(command + ["--fps", fps])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and "--fps" in err[0], err


def test_live_presets_dir_flag_reaches_the_bank(tmp_path, capsys):
    empty = tmp_path / "no-presets"
    empty.mkdir()
    code = main(["live", "--headless", "--seconds", "1", "--osc-port", "0", "--presets-dir", str(empty)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(empty) in err[0], err


@pytest.mark.parametrize("flag, value", [("--osc-port", "70000"), ("--osc-port", "-1"), ("--samplerate", "0"),
                                         ("--samplerate", "10000000"), ("--blocksize", "0"), ("--blocksize", "1000000"),
                                         ("--seconds", "-5"), ("--seconds", "0"), ("--seconds", "nan"),
                                         ("--screen", "-1")])
def test_live_values_out_of_range_are_one_line_errors(flag, value, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(["live", "--headless", flag, value])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: ") and flag in err[0], err


def test_osc_port_zero_and_the_edges_are_accepted():
    from live.cli.live import settings_from_args

    for port in ("0", "1", "65535"):
        assert settings_from_args(build_parser().parse_args(["live", "--osc-port", port])).osc_port == int(port)


def test_live_refuses_an_absurd_sample_rate_in_a_wav_header(tmp_path, capsys):
    import struct

    import numpy as np
    import soundfile as sf

    path = tmp_path / "odd.wav"
    sf.write(path, np.zeros(4410, np.float32), 44100)
    data = bytearray(path.read_bytes())
    data[24:28] = struct.pack("<I", 3_000_000)  # the WAV fmt chunk's sample rate field
    path.write_bytes(bytes(data))
    code = main(["live", "--headless", "--osc-port", "0", "--audio", str(path), "--seconds", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "3000000 Hz" in err[0] and str(path) in err[0], err


def test_an_unwritable_log_file_is_one_line_error(tmp_path, capsys):
    code = main(["live", "--headless", "--log-file", str(tmp_path / "no" / "such" / "dir" / "live.log")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: --log-file"), err


def _numeric_flags(parser=None, path=()):
    """(command path, option, its action) for every numeric option of every (sub)command."""
    import argparse

    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _numeric_flags(sub, (*path, name))
        elif action.option_strings and action.type is not None and action.type not in (str,):
            yield path, action.option_strings[-1], action


def test_every_numeric_flag_of_every_command_is_range_checked():
    from live.values import Bounded

    flags = list(_numeric_flags())
    assert len(flags) > 30
    unchecked = [(" ".join(path), flag) for path, flag, action in flags if not isinstance(action.type, Bounded)
                 and getattr(action.type, "__name__", "") not in ("_on_off", "_size")]  # on|off, WxH: own parsers
    assert not unchecked, unchecked


@pytest.mark.parametrize("value", ["nan", "inf", "-1e12", "1e12", "x"])
def test_an_absurd_number_is_one_line_error_before_anything_runs(value, capsys):
    from live.values import Bounded

    for path, flag, action in _numeric_flags():
        if not isinstance(action.type, Bounded):
            continue  # a size (WxH) has its own parser
        if (action.type.low is None and value == "-1e12") or (action.type.high is None and value == "1e12"):
            continue  # an open end (how long to run, a MIDI fader's min or max) only has to be finite
        if action.type.kind is int and value in ("-1e12", "1e12"):
            value_here = str(int(float(value)))
        else:
            value_here = value
        required = {("render",): ["--preset", "p", "--audio", "a.wav", "--out", "o.mp4"], ("beats",): ["f.wav"],
                    ("midi", "learn"): ["tap"], ("bench", "beats"): []}
        argv = [*path, *required.get(path, []), flag, value_here]
        with pytest.raises(SystemExit) as exit_info:
            build_parser().parse_args(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2, argv
        assert len(err) == 1 and err[0].startswith("error: ") and flag in err[0], (argv, err)


def test_a_bad_osc_allow_list_is_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["live", "--headless", "--seconds", "1", "--osc-allow", "192.168.1.0/24,club"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "club" in err[0], err
