"""Notices from third-party libraries that concern no user of this tool, dropped at their source.

transformers says ``requires torchvision (not installed)`` once per image-processor class that
diffusers touches on import (this tool never uses them: it feeds PIL images to the VAE itself),
and diffusers advises ``pip install accelerate`` in a markdown block on every model load (the
models here are small enough to load without it). Each is dropped by a filter on the one logger
that emits it, matched on its text, so every other warning of those libraries still shows.
"""

from __future__ import annotations

import logging

# logger name -> text that marks a notice of no use to this tool's users
NOT_FOR_USERS: dict[str, tuple[str, ...]] = {
    "transformers.utils.import_utils": ("requires torchvision (not installed)",),
    # "An error occurred while trying to fetch FOLDER": said whenever a folder has .bin weights and no
    # .safetensors, before it loads the .bin fine (nothing is fetched); a real failure is our own one line
    "diffusers.models.modeling_utils": ("`accelerate` was not found", "An error occurred while trying to fetch"),
    "diffusers.pipelines.pipeline_utils": ("`accelerate` was not found",),
}


class _DropNotices(logging.Filter):
    """Drops records whose message contains one of ``texts``."""

    def __init__(self, texts: tuple[str, ...]) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        """False (drop) for one of the notices."""
        message = str(record.msg)  # these libraries log ready-made strings; no need to format
        return not any(text in message for text in self.texts)


def quiet_library_notices() -> None:
    """Install the filters (once; later calls do nothing). Cheap: the loggers are named, not imported,
    so it may run before diffusers or transformers is imported, which is when they speak."""
    for name, texts in NOT_FOR_USERS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropNotices) for f in logger.filters):
            logger.addFilter(_DropNotices(texts))
