"""Where a figure was measured: one description of the machine for every benchmark."""

from __future__ import annotations

import logging
import os
import platform
from typing import Any

_LOGGER = logging.getLogger(__name__)


def machine_info() -> dict[str, Any]:
    """Where the figures were measured: OS, CPU, cores, torch, GPU, load."""
    import torch  # here, not at the top: a benchmark's --help must not wait for torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if gpu is None and getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        gpu = "Apple MPS"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "os": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "gpu": gpu, "python": platform.python_version(),
        "load_avg_1min": round(load, 2) if load is not None else None,
    }


def machine_line() -> str:
    """:func:`machine_info` as the one line a benchmark prints before its figures."""
    m = machine_info()
    return (f"machine: {m['cpu']}, {m['cores']} CPU cores, {m['os']}, python {m['python']}, torch {m['torch']} "
            f"({m['torch_threads']} threads), GPU: {m['gpu'] or 'none'}, load avg {m['load_avg_1min']}")
