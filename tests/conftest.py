"""Shared test settings: headless GL everywhere, no network, a fixed seed."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing may download at test time
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.pop("DISPLAY", None)  # GL tests run offscreen through EGL, even on a desktop

import pyglet  # noqa: E402

pyglet.options["headless"] = True
