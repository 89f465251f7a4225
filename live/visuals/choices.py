"""The visuals' named choices, declared once and importing nothing heavy: decoder kinds, latent
families (with their VAEs' scaling factors) and aspect modes. The command line lists them in its
--help from here, so building the parser does not load torch; :mod:`live.visuals.decoders`,
:mod:`live.visuals.renderer` and :mod:`live.library.presets` use the same objects."""

from __future__ import annotations

from live.errors import UserError

KINDS = ("approx", "tiny", "vae")

# What the VAE of each latent family multiplies its encoder output by (diffusers' scaling_factor);
# also used to tell a family from a VAE config. Stored latents are always the scaled,
# diffusion-space ones a pipeline returns with output_type="latent".
FAMILY_SCALING: dict[str, float] = {"sd1": 0.18215, "sdxl": 0.13025}
FAMILIES = tuple(FAMILY_SCALING)

ASPECTS = ("fit", "fill", "stretch")  # how a decoded frame is mapped onto the output: u_aspect is the index


def check_aspect(aspect: str) -> str:
    """``aspect`` if it is one of :data:`ASPECTS`, else UserError."""
    if aspect not in ASPECTS:
        raise UserError(f"--aspect {aspect!r}: choose {', '.join(ASPECTS)}")
    return aspect
