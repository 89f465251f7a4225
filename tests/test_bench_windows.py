"""bench windows: the output's frame rate and CPU time without and with the operator view."""

import re

from live.cli import main


def test_bench_windows_prints_both_ways_and_the_cost(capsys):
    code = main(["bench", "windows", "--size", "64x64", "--seconds", "0.3", "--rounds", "1"])
    out = capsys.readouterr().out
    assert code in (0, 1) and "machine:" in out
    fps = [float(v) for v in re.findall(r"fps [\d.]+ \(median ([\d.]+)\)", out)]
    assert len(fps) == 2 and min(fps) > 0, out
    assert re.search(r"operator cost: [\d.]+% of the output's frame time", out), out
