"""The weight-free latent <-> RGB map for SD latents.

A linear map from the 4 latent channels to RGB, with the factors published for SD 1.x
(the same numbers ComfyUI uses for its latent previews) and for SDXL. It works on
diffusion-space latents, the ones a pipeline returns with ``output_type="latent"``.
Decoding is the matrix product and a smooth 8x upsample; encoding is the least-squares
inverse, used to make keyframes from images when no VAE is on disk.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

# rows: latent channels, columns: R, G, B. Output is roughly in [-1, 1].
LATENT_RGB_FACTORS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "sd1": (
        (0.3512, 0.2297, 0.3227),
        (0.3250, 0.4974, 0.2350),
        (-0.2829, 0.1762, 0.2721),
        (-0.2120, -0.2616, -0.7177),
    ),
    "sdxl": (
        (0.3920, 0.4054, 0.4549),
        (-0.2634, -0.0196, 0.0653),
        (0.0568, 0.1687, -0.0755),
        (-0.3112, -0.2359, -0.2076),
    ),
}
VAE_SCALE = 8  # pixels per latent cell for every SD family


def _factors(family: str, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    try:
        return torch.tensor(LATENT_RGB_FACTORS[family], device=device, dtype=dtype)
    except KeyError:
        raise ValueError(f"unknown latent family {family!r}; choose one of {sorted(LATENT_RGB_FACTORS)}") from None


def latents_to_rgb(latents: torch.Tensor, family: str = "sd1", upsample: bool = True) -> torch.Tensor:
    """Map latents (B, 4, h, w) to RGB in [0, 1] as (B, 3, H, W), H = 8h when ``upsample``.

    The upsample is bicubic, so the 8x8 cells blend smoothly instead of showing blocks.
    """
    factors = _factors(family, latents.device, latents.dtype)
    rgb = torch.einsum("bchw,cr->brhw", latents, factors)
    if upsample:
        rgb = F.interpolate(rgb, scale_factor=VAE_SCALE, mode="bicubic", align_corners=False)
    return ((rgb + 1.0) * 0.5).clamp(0.0, 1.0)


def rgb_to_latents(images: np.ndarray | torch.Tensor, family: str = "sd1") -> torch.Tensor:
    """Encode RGB images (B, H, W, 3) uint8 or float in [0, 1] to latents (B, 4, H/8, W/8).

    H and W must be multiples of 8. The result is the least-squares latent whose approx
    decode best matches the 8x8-averaged image.
    """
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.float()
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected images shaped (B, H, W, 3), got {tuple(x.shape)}")
    if x.shape[1] % VAE_SCALE or x.shape[2] % VAE_SCALE:
        raise ValueError(f"image size {x.shape[2]}x{x.shape[1]} is not a multiple of {VAE_SCALE}")
    rgb = x.permute(0, 3, 1, 2) * 2.0 - 1.0
    rgb = F.avg_pool2d(rgb, VAE_SCALE)
    inverse = torch.linalg.pinv(_factors(family, "cpu", torch.float32))  # (3, 4)
    return torch.einsum("brhw,rc->bchw", rgb, inverse).contiguous()


def to_uint8_hwc(rgb: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) floats in [0, 1] -> (B, H, W, 3) uint8 numpy, the frame format the renderer takes."""
    return (rgb.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()
