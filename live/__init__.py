"""Beat-locked Stable Diffusion visuals for live shows. See ../shared/DESIGN.md for the data flow."""

__version__ = "0.1.0"
