"""Small, safe file operations shared by the data, weights, cache and results code."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator, Mapping, TypeVar

Module = TypeVar("Module")


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file with ``algorithm`` (``sha256``, ``md5``, ...), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")


def save_tensors(state: dict, path: Path) -> dict:
    """Write a dict of tensors atomically with ``torch.save``; return ``{"file", "bytes", "sha256"}``."""
    import torch

    with atomic_writer(path) as out:
        torch.save(state, out)
    return {"file": path.name, "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def save_checked(path: Path, state: dict, meta: dict) -> None:
    """Tensors at ``path`` (``.pt``) and, written last, a JSON sidecar ``path.with_suffix(".json")``
    holding their sha256 and ``meta``: a killed writer leaves no sidecar that vouches for a partial file."""
    record = save_tensors(state, path)
    with atomic_writer(path.with_suffix(".json"), "w") as out:
        json.dump({"sha256": record["sha256"], **meta}, out)


def load_checked(path: Path) -> tuple[dict, dict] | None:
    """What :func:`save_checked` wrote: ``(tensors, sidecar)``, or ``None`` when either file is
    missing or unreadable or the tensors' sha256 differs from the sidecar's (damaged: never trusted)."""
    import torch

    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        if file_sha256(path) != meta["sha256"]:
            return None
        return torch.load(path, map_location="cpu", weights_only=True), meta
    except (OSError, ValueError, KeyError, RuntimeError):
        return None


@contextmanager
def atomic_writer(path: Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; rename it onto ``path`` only on success.

    Readers therefore see either the old file or the complete new one, never a partial write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as out:
            yield out
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def rebuild_module(build: Callable[[], Module], state: Mapping) -> Module:
    """The module that ``build()`` makes, holding ``state``'s tensors, without initialising it first.

    ``build`` runs on PyTorch's meta device: no memory, no random initialisation and no draw from
    any random generator (building a whole AlexNet only to overwrite it took 20% of a smoke-sized
    notebook 05). The module then gets uninitialised CPU memory in its own layouts (channels-last
    convolutions stay so) and ``load_state_dict`` (strict) fills every tensor, so what it computes
    is bit for bit what a module built normally and then loaded computes.

    Raises:
        ValueError: the module has a buffer that no state dict holds (it would stay uninitialised).
        RuntimeError: ``state`` lacks a tensor of the module or has one it lacks (``load_state_dict``).
    """
    import torch

    with torch.device("meta"):
        module = build()
    stored = set(module.state_dict())
    unstored = [name for name, _ in module.named_buffers() if name not in stored]
    if unstored:
        raise ValueError(f"{type(module).__name__} has buffers that no state dict holds ({unstored}); "
                         "build it normally and load its state instead.")
    module.to_empty(device="cpu")
    module.load_state_dict(state)
    return module
