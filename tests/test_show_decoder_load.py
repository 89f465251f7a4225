"""A decoder whose folder passed the start-up checks but whose weights still will not load: the
show goes on with the next decoder down and says so in the log."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from tiny_models import tiny_vae

from live.show.runner import _decoder_chain


def test_a_vae_that_will_not_load_falls_back_with_a_log_line(tmp_path, caplog):
    folder = tmp_path / "old vae"
    tiny_vae().save_pretrained(folder, safe_serialization=False)
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"not a pickle")  # headers of a .bin are not checked
    settings = SimpleNamespace(decoder="vae", model=str(folder), family="sd1", tiny_model=None)
    with caplog.at_level(logging.WARNING, logger="live.show.runner"):
        chain = _decoder_chain(settings)
    assert [d.name for d in chain] == ["approx"]
    assert "vae decoder could not be loaded, the show goes on with the next decoder" in caplog.text
    assert str(folder) in caplog.text
