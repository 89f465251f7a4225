import numpy as np
import pytest
import torch

from live.visuals.approx import latents_to_rgb, rgb_to_latents, to_uint8_hwc


def test_round_trip_matches_cell_averages():
    rng = np.random.default_rng(0)
    images = rng.integers(40, 215, (2, 64, 48, 3), dtype=np.uint8)
    latents = rgb_to_latents(images)
    assert latents.shape == (2, 4, 8, 6)
    back = latents_to_rgb(latents, upsample=False)
    cells = torch.nn.functional.avg_pool2d(torch.as_tensor(images).permute(0, 3, 1, 2).float() / 255, 8)
    assert torch.allclose(back, cells, atol=1e-4)


def test_decode_upsamples_to_uint8_frames():
    frames = to_uint8_hwc(latents_to_rgb(torch.randn(1, 4, 8, 8)))
    assert frames.shape == (1, 64, 64, 3) and frames.dtype == np.uint8


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="multiple of 8"):
        rgb_to_latents(np.zeros((1, 60, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="unknown latent family"):
        latents_to_rgb(torch.zeros(1, 4, 2, 2), family="flux")
