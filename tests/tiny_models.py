"""Tiny randomly initialised Stable Diffusion parts, saved like a real model folder.

Tests load these through the same diffusers code users run (``from_pretrained``), so the
loading, generation and encoding paths are real; only the weights are random and small.
Nothing is downloaded: the tokenizer's vocabulary is written here.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import torch

from live.bench.models import char_tokenizer

TINY_TEXT_DIM = 32


def write_tiny_tokenizer(folder: Path) -> None:
    """A CLIP BPE tokenizer over single letters and digits, saved as a tokenizer folder."""
    char_tokenizer(folder).save_pretrained(folder)


def tiny_vae(seed: int = 0):
    """AutoencoderKL with four blocks (8x downsampling, like SD) and 4 latent channels, a few thousand weights."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8), layers_per_block=1, norm_num_groups=4, sample_size=64,
        scaling_factor=0.18215,
    )


def build_tiny_sd(folder: Path, seed: int = 0) -> Path:
    """Assemble a tiny StableDiffusionPipeline (UNet, VAE, CLIP text encoder, tokenizer) and save_pretrained it."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TINY_TEXT_DIM, attention_head_dim=4,
    )
    tok_dir = folder / "_tok"
    write_tiny_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=TINY_TEXT_DIM, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        projection_dim=TINY_TEXT_DIM))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing", steps_offset=1)
    pipe = StableDiffusionPipeline(
        unet=unet, vae=tiny_vae(seed), text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return folder


def build_tiny_sdxl(folder: Path, seed: int = 0) -> Path:
    """A tiny StableDiffusionXLPipeline (two text encoders, text_time UNet, 0.13025 VAE) saved with save_pretrained."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(16, 32),
        norm_num_groups=8, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=4, use_linear_projection=True,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + TINY_TEXT_DIM, cross_attention_dim=2 * TINY_TEXT_DIM,
    )
    tok_dir = folder / "_tok"
    write_tiny_tokenizer(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    config = CLIPTextConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=TINY_TEXT_DIM, intermediate_size=37, num_hidden_layers=2,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
        projection_dim=TINY_TEXT_DIM)
    vae = tiny_vae(seed)
    vae.register_to_config(scaling_factor=0.13025)
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(config), text_encoder_2=CLIPTextModelWithProjection(config),
        tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet,
        scheduler=EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                         timestep_spacing="trailing", steps_offset=1),
    )
    pipe.save_pretrained(folder)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return folder


@functools.lru_cache(maxsize=None)
def tiny_sdxl_path() -> Path:
    """A tiny SDXL model folder built once per test session."""
    folder = Path(tempfile.mkdtemp(prefix="tiny-sdxl-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_tiny_sdxl(folder / "tiny-sdxl")


@functools.lru_cache(maxsize=None)
def tiny_sd_path() -> Path:
    """A tiny SD model folder built once per test session (tests must not modify it; copy it first)."""
    folder = Path(tempfile.mkdtemp(prefix="tiny-sd-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_tiny_sd(folder / "tiny-sd")
