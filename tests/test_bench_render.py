"""`bench render`'s render-loop and upload figures, run small (a benchmark, not a timed test)."""

from __future__ import annotations

import re

from live.cli import main


def test_bench_render_reports_loop_and_upload_times_with_the_machine(capsys):
    code = main(["bench", "render", "--skip-offline", "--loop-sizes", "64x48", "--loop-frames", "3",
                 "--upload-frames", "3"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("machine: ") and "GL: " in out
    for size in ("64x48",):
        for chain in ("default (pulse)", "demo (3)", "every shader (12)"):
            assert re.search(rf"{size}\s+{re.escape(chain)}\s+[\d.]+ ms/frame \(p95\s+[\d.]+\) =\s+[\d.]+ fps", out), out
    for side in (512, 1024):
        assert re.search(rf"{side}x{side}\s+[\d.]+ ms \(p95 [\d.]+\)", out), out
