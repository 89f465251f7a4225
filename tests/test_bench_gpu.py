"""`bench gpu`: one line and exit 2 without CUDA; the suite's orchestration, run on the CPU."""

from __future__ import annotations

import json

import pytest
import torch

from live.bench import gpu
from live.cli import main


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA answer")
def test_without_cuda_it_says_so_and_exits_2(capsys, tmp_path):
    assert main(["bench", "gpu", "--out", str(tmp_path / "gpu.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs a CUDA GPU" in err[0]
    assert not (tmp_path / "gpu.json").exists()


def test_the_suite_runs_each_step_in_its_own_process_and_reports(monkeypatch):
    decode = ("bench", "decode", "--device", "cpu", "--decoder", "approx", "--size", "64x64", "--rounds", "1",
              "--seconds", "0.2", "--display-fps", "20", "--json")
    steps = [gpu.Step("decode", decode, 0.5),
             gpu.Step("decode_bad", ("bench", "decode", "--decoder", "nonsense", "--json"), 0.2),
             gpu.Step("precompute", ("bench", "bank", "--device", "cpu", "--presets", "2", "--keyframes", "4",
                                     "--skip-precompute", "--json", "bank.json"), 0.3)]
    monkeypatch.setattr(gpu, "gpu_steps", lambda device="cuda", bank_json="bank.json": steps)
    report = gpu.run_suite(budget_s=240, device="cpu", log=lambda msg: None)
    assert report["steps"]["decode"]["status"] == "ok"
    assert report["steps"]["decode"]["results"][0]["decoder"] == "approx"
    assert report["steps"]["decode_bad"]["status"].startswith("failed")
    assert "bank_load" in report["steps"]["precompute"]
    table = gpu.format_report(report)
    assert "decode" in table and "approx" in table and "failed" in table
    json.dumps(report)  # the report is what --out writes
