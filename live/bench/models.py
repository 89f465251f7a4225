"""Randomly initialised real-size models for the benchmarks and tests: no weights are downloaded.

The decode cost of a VAE or TAESD, and the precompute cost of a pipeline, depend only on the
architecture, so a random model of the real size measures the same speed; the pictures are noise.
"""

from __future__ import annotations

import json
import logging
import string
from pathlib import Path
from typing import TYPE_CHECKING

from live.visuals.choices import FAMILY_SCALING, KINDS

if TYPE_CHECKING:
    import torch

    from live.visuals.decoders import Decoder

_LOGGER = logging.getLogger(__name__)


# UNet / text encoder / VAE sizes of the random pipelines. sd15 matches SD 1.5's architecture.
SCALES: dict[str, dict] = {
    "tiny": {"unet": dict(block_out_channels=(16, 32), layers_per_block=1, norm_num_groups=8, attention_head_dim=4,
                          down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                          up_block_types=("CrossAttnUpBlock2D", "UpBlock2D")),
             "text": dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4),
             "vae": dict(block_out_channels=(8, 8, 8, 8), norm_num_groups=4, layers_per_block=1)},
    "sd15": {"unet": dict(block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, norm_num_groups=32,
                          attention_head_dim=8,
                          down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                          up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3),
             "text": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
             "vae": dict(block_out_channels=(128, 256, 512, 512), norm_num_groups=32, layers_per_block=2)},
}


def char_tokenizer(folder: Path):
    """A CLIP BPE tokenizer over single letters and digits (every char its own token, no merges),
    written to ``folder``: random pipelines need a tokenizer, and none can be downloaded."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = string.ascii_lowercase + string.digits + ".,!-'"
    tokens = ["<|startoftext|>", "<|endoftext|>"] + list(chars) + [c + "</w>" for c in chars]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def build_random_sd(folder: Path, scale: str = "tiny", seed: int = 0) -> Path:
    """A randomly initialised StableDiffusionPipeline of ``scale`` saved to ``folder`` (a tiny vocab tokenizer)."""
    import torch  # torch and diffusers only when a model is built: the benchmarks' --help stays quick
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    spec = SCALES[scale]
    folder.mkdir(parents=True, exist_ok=True)
    tok_dir = folder / "_vocab"  # scratch: save_pretrained copies the tokenizer into the pipeline folder
    tokenizer = char_tokenizer(tok_dir)
    torch.manual_seed(seed)
    text_dim = spec["text"]["hidden_size"]
    unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4, cross_attention_dim=text_dim,
                                **spec["unet"])
    text = CLIPTextModel(CLIPTextConfig(vocab_size=max(len(tokenizer.get_vocab()), 64), max_position_embeddings=77,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1, projection_dim=text_dim,
                                        **spec["text"]))
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, sample_size=512,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        scaling_factor=0.18215, **spec["vae"])
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       timestep_spacing="trailing", steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text, tokenizer=tokenizer, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(folder)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return folder


# less the weights): used when no weights are on disk, since the timing depends only on it.
SD_VAE_CONFIG: dict = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "act_fn": "silu",
    "latent_channels": 4,
    "norm_num_groups": 32,
    "sample_size": 512,
}


def make_random_decoder(
    kind: str,
    *,
    family: str = "sd1",
    device: str | None = None,
    dtype: torch.dtype | str | None = None,
    compile: bool = False,
    cuda_graph: bool = False,
    channels_last: bool | None = None,
    seed: int = 0,
) -> Decoder:
    """A real-size decoder of ``kind`` with random weights, for benchmarks without weights on disk.

    ``vae`` is AutoencoderKL with Stable Diffusion's VAE config, ``tiny`` is AutoencoderTiny's
    default (TAESD) config; their decode cost equals the trained models'. The pictures are noise.
    """
    from live.visuals.decoders import DecoderError, make_decoder

    if kind == "approx":
        return make_decoder("approx", family=family, device=device, dtype=dtype)
    if kind not in KINDS:
        raise DecoderError(f"--decoder {kind!r} is not known; choose one of {', '.join(KINDS)}")
    import torch
    from diffusers import AutoencoderKL, AutoencoderTiny

    from live.device import pick_device, pick_dtype
    from live.visuals.decoders import DiffusersDecoder

    torch.manual_seed(seed)
    if kind == "vae":
        vae = AutoencoderKL(**SD_VAE_CONFIG, scaling_factor=FAMILY_SCALING[family])
    else:
        vae = AutoencoderTiny()
    dev = pick_device(device)
    decoder = DiffusersDecoder(vae, kind, family, dev, pick_dtype(dev, family, dtype), channels_last=channels_last,
                               compile=compile, cuda_graph=cuda_graph, source="")
    decoder.randomly_initialised = True
    return decoder
