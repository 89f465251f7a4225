"""Visuals: latent traversal, decoders and the decode worker, the GL renderer and shaders, video output."""
