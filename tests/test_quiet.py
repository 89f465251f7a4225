"""Library notices that concern no user (transformers' torchvision fallback, diffusers' accelerate
advice) are dropped at their source; the libraries' other warnings still show."""

import subprocess
import sys
from pathlib import Path

import pytest
from tiny_models import tiny_sd_path

ROOT = Path(__file__).resolve().parent.parent

LOAD = """
import logging, sys, torch
import live.library.precompute as pc
from live.visuals.decoders import load_autoencoder
path = sys.argv[1]
pc.load_pipeline(pc.resolve_model(path), "cpu", torch.float32, False)  # imports diffusers' pipelines: the notices
load_autoencoder("vae", path)  # the show's decoder load
logging.getLogger("transformers.utils.import_utils").warning("another transformers warning")
logging.getLogger("diffusers.models.modeling_utils").warning("another diffusers warning")
"""


@pytest.mark.slow
def test_loading_a_model_prints_no_notice_that_concerns_no_user():
    proc = subprocess.run([sys.executable, "-c", LOAD, str(tiny_sd_path())], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for noise in ("torchvision", "accelerate", "```"):
        assert noise not in proc.stderr, proc.stderr
    assert "another transformers warning" in proc.stderr and "another diffusers warning" in proc.stderr


def test_the_filters_drop_only_the_notices():
    import logging

    from live.quiet import NOT_FOR_USERS, quiet_library_notices

    quiet_library_notices()
    quiet_library_notices()  # once is enough; a second call adds nothing
    for name, texts in NOT_FOR_USERS.items():
        logger = logging.getLogger(name)
        assert [type(f).__name__ for f in logger.filters].count("_DropNotices") == 1
        make = lambda msg: logger.makeRecord(name, logging.WARNING, __file__, 1, msg, (), None)  # noqa: E731
        assert not all(f.filter(make(f"`X` {texts[0]} ...")) for f in logger.filters)
        assert all(f.filter(make("something the user must know")) for f in logger.filters)
