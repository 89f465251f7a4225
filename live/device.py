"""Device and precision choice for torch work (decoding, precompute): one rule for every part."""

from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import torch

from live.errors import UserError
from live.precisions import PRECISIONS

_LOGGER = logging.getLogger(__name__)


DTYPES: dict[str, torch.dtype] = dict(zip(PRECISIONS, (torch.float32, torch.float16, torch.bfloat16)))
# torch's own default intra-op thread count (the physical cores), read before anything changes it.
# torch.set_num_threads stores a process-wide value that every thread created later starts from:
# once a one-thread approx worker had run, a tiny or VAE decode thread started afterwards in the
# same process got 1 thread instead of 2 (measured). Decode threads therefore set their count
# explicitly from this, never inherit it.
DEFAULT_CPU_THREADS = max(1, torch.get_num_threads())


class DeviceError(UserError):
    """A torch device or precision that this machine cannot use."""


# ----- device and dtype ---------------------------------------------------------------------


def pick_device(device: str | None = None) -> torch.device:
    """The decode device: ``device`` when given (checked), else cuda, then mps, then cpu."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"--device {device!r} is not a torch device; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"--device {device} asked for CUDA, but torch sees no CUDA GPU; use --device cpu or auto")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError(f"--device {device} asked for MPS, but it is not available here; use --device cpu or auto")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"--device {device} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return dev


def pick_dtype(device: torch.device, family: str = "sd1", dtype: torch.dtype | str | None = None) -> torch.dtype:
    """fp32 on CPU; on a GPU fp16, except bf16 for SDXL's VAE on CUDA (its fp16 overflows to NaN)."""
    if isinstance(dtype, str):
        try:
            dtype = DTYPES[dtype]
        except KeyError:
            raise DeviceError(f"--dtype {dtype!r} is not known; choose one of {', '.join(DTYPES)}") from None
    if dtype is not None:
        if device.type == "cpu" and dtype == torch.float16:
            # Many CPU conv kernels have no fp16 path; it would be slower or fail mid-show.
            raise DeviceError("--dtype fp16 is not supported on the CPU; use fp32 or bf16 there")
        return dtype
    if device.type == "cpu":
        return torch.float32
    if device.type == "cuda" and family == "sdxl" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch CPU threads on this thread (OpenMP setting, per thread)."""
    if not count:
        yield
        return
    before = torch.get_num_threads()
    if before != count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if before != count:
            torch.set_num_threads(before)
