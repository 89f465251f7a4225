"""Cheap checks of a diffusers model folder as a user copies it, before diffusers loads it.

diffusers reports a missing, damaged or cut-short weights file, or a config that is not JSON, as
a long message about the wrong file (a missing ``.safetensors`` is reported as a missing
``.bin``), after printing its own log lines. These checks read only configs and the small
safetensors headers (never the weights), so precompute, ``check`` and the decoders can refuse
such a folder up front in one line that names the file and the fix.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from live.errors import UserError
from live.files import FileRefused, read_text

# Weight file names diffusers and transformers load (plain, variant, sharded, or pickled).
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth")
_MAX_CONFIG_BYTES = 4 * 1024 * 1024
_MAX_HEADER_BYTES = 100 * 1024 * 1024  # what safetensors itself allows
_RECOPY = "copy the model folder again (or re-download it)"


class ModelFilesError(UserError):
    """A model folder with a missing, damaged or cut-short file (the message names it and the fix)."""


def read_json(path: Path) -> Any:
    """The JSON document in ``path``; ModelFilesError naming the file when it is not JSON."""
    try:
        return json.loads(read_text(path, _MAX_CONFIG_BYTES))
    except FileNotFoundError:
        raise ModelFilesError(f"{path} is missing; {_RECOPY}") from None
    except FileRefused as exc:
        raise ModelFilesError(f"{path} {exc}; {_RECOPY}") from None
    except ValueError as exc:
        raise ModelFilesError(f"{path} is not valid JSON ({str(exc).splitlines()[0][:80]}); {_RECOPY}") from None


def check_safetensors(path: Path) -> dict[str, tuple[int, ...]]:
    """Refuse a ``.safetensors`` file whose header is unreadable or whose size is not what its
    header says (a copy cut short, or another file renamed): reads only the header. Returns the
    tensors it holds, name to shape."""
    try:
        with path.open("rb") as fh:
            size = path.stat().st_size
            head = fh.read(8)
            if len(head) < 8:
                raise ModelFilesError(f"{path} is empty or cut short ({size} bytes); {_RECOPY}")
            (n,) = struct.unpack("<Q", head)
            if n > min(_MAX_HEADER_BYTES, size - 8):
                raise ModelFilesError(f"{path} is not a safetensors file or is cut short; {_RECOPY}")
            header = json.loads(fh.read(n))
    except OSError as exc:
        raise ModelFilesError(f"{path} cannot be read ({exc.strerror or exc}); check its permissions") from None
    except (ValueError, UnicodeDecodeError):
        raise ModelFilesError(f"{path} is not a safetensors file (its header is not readable); {_RECOPY}") from None
    if not isinstance(header, dict):
        raise ModelFilesError(f"{path} is not a safetensors file (its header is not readable); {_RECOPY}")
    ends = [int(v["data_offsets"][1]) for k, v in header.items()
            if k != "__metadata__" and isinstance(v, dict) and isinstance(v.get("data_offsets"), list)
            and len(v["data_offsets"]) == 2]
    expected = 8 + n + max(ends, default=0)
    if size < expected:
        raise ModelFilesError(f"{path} is cut short ({size:,} of {expected:,} bytes); {_RECOPY}")
    return {k: tuple(v.get("shape", ())) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)}


def _expected_tensors(config: dict) -> dict[str, tuple[int, ...]] | None:
    """The tensor names the diffusers model class in ``config`` has, built on the meta device
    (no memory, a fraction of a second even for SD's UNet); None when it cannot be told."""
    name = config.get("_class_name")
    if not isinstance(name, str) or not name.isidentifier():
        return None
    import diffusers  # only here: a folder with weights to check is about to be loaded by diffusers anyway
    import torch

    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_config"):
        return None
    try:
        with torch.device("meta"):
            model = cls.from_config(config)
    except Exception:  # noqa: BLE001 - a config diffusers cannot build: its own loading reports that
        return None
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _check_tensor_names(folder: Path, config: Any, names: dict[str, tuple[int, ...]], files: list[Path]) -> None:
    """Refuse weights that are mostly not the model's (another model's file copied in): diffusers
    would fill the missing tensors with random numbers and only warn, and the show would decode noise."""
    if not isinstance(config, dict) or not names:
        return
    expected = _expected_tensors(config)
    if not expected:
        return
    missing = expected.keys() - names.keys()
    # a few renamed tensors (old attention names) diffusers converts on load; most missing: another file
    if len(missing) * 2 > len(expected):
        raise ModelFilesError(f"{files[0]} does not hold the weights of the {config['_class_name']} its config.json "
                              f"describes ({len(missing)} of {len(expected)} tensors missing: another model's "
                              f"file?); {_RECOPY}")
    wrong = sorted(k for k in expected.keys() & names.keys() if names[k] != expected[k])
    if wrong:
        raise ModelFilesError(f"{files[0]} does not fit its config.json: {len(wrong)} tensors have other shapes "
                              f"({wrong[0]} is {list(names[wrong[0]])}, the config makes {list(expected[wrong[0]])}; "
                              f"another model's file?); {_RECOPY}")


def check_component(folder: Path) -> Any:
    """One model folder (a ``vae/``, ``unet/``... or a standalone VAE folder): its config.json is
    JSON, it holds a weights file, and each safetensors file in it is whole. Returns the config
    (None for a folder without one: a tokenizer, a scheduler)."""
    if not folder.is_dir():
        raise ModelFilesError(f"{folder} is missing; {_RECOPY}")
    config = folder / "config.json"
    if not config.is_file():
        return None  # a tokenizer, scheduler or feature extractor: no weights (diffusers checks the rest)
    doc = read_json(config)
    weights = sorted(p for p in folder.iterdir() if p.name.endswith(_WEIGHT_SUFFIXES) and p.is_file())
    if not weights:
        raise ModelFilesError(f"{folder} has no weights file (diffusion_pytorch_model.safetensors or "
                              f"model.safetensors); {_RECOPY}")
    safetensors = [p for p in weights if p.suffix == ".safetensors"]
    names: dict[str, tuple[int, ...]] = {}
    for path in safetensors:
        names.update(check_safetensors(path))
    if len(safetensors) == len(weights):  # with pickled .bin files too, which one loads is diffusers' choice
        _check_tensor_names(folder, doc, names, safetensors)
    return doc


# Parts a pipeline folder may lack: precompute loads without the safety checker (people delete
# its 1.2 GB folder), so its absence is not damage.
NOT_LOADED = ("safety_checker",)


def check_pipeline(folder: Path) -> None:
    """A pipeline folder: model_index.json is JSON and every component it names is whole
    (see :func:`check_component`), but those in :data:`NOT_LOADED`."""
    index = read_json(folder / "model_index.json")
    if not isinstance(index, dict):
        raise ModelFilesError(f"{folder / 'model_index.json'} is not a diffusers model index; {_RECOPY}")
    for name, value in index.items():
        # components are ["library", "ClassName"]; a skipped one (safety_checker) is [null, null]
        if name.startswith("_") or name in NOT_LOADED or not isinstance(value, list) or None in value:
            continue
        check_component(folder / name)


def what_is_here(folder: Path) -> str:
    """A few words on what a folder that is not the one asked for holds, for the error line:
    a single-file checkpoint (the fix is a conversion), or one part of a model (a VAE, a UNet:
    the fix is another folder or flag); "" when nothing is recognised."""
    try:
        files = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        return ""
    config = folder / "config.json"
    if config.is_file():
        try:
            doc = read_json(config)
        except ModelFilesError:
            return ""
        name = doc.get("_class_name", "") if isinstance(doc, dict) else ""
        if name.startswith("Autoencoder"):
            return f"it is a VAE folder ({name}): give it as --vae (generation.vae), the whole model as --model"
        if name:
            return (f"it holds one part of a model ({name} in config.json), not a whole pipeline: use the folder "
                    f"above it")
    single = [n for n in files if n.endswith((".safetensors", ".ckpt"))]
    if single:
        return (f"it holds a single-file checkpoint ({single[0]}), not the diffusers folder layout; convert it once "
                f"with diffusers' StableDiffusionPipeline.from_single_file(FILE).save_pretrained(FOLDER) "
                f"(StableDiffusionXLPipeline for SDXL)")
    return ""
