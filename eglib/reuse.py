"""Reuse of models already trained in the same run folder, found by the content of their inputs.

Several notebooks train some of the same models: notebook 04's source experts (each task
fine-tuned from the base model) are notebook 05's oracle FT experts, and the first stage of 05's
single sequential model is its first oracle expert. Training is deterministic, so a model trained
from the same inputs, settings and code gives the same weights. A trainer that supports reuse
(:func:`eglib.method.experts.finetune`, :func:`~eglib.method.experts.learn_without_forgetting`,
:func:`eglib.baselines.classification.joint_training`, :func:`eglib.video.dfn.train_dfn`; the
autoencoders in :func:`eglib.method.autoencoder.train_autoencoders`)
computes a :func:`fingerprint` of everything its result depends on (the source model's weights,
the training data, every setting, the code of the trainer, the torch version and thread count),
and looks it up in ``<run>/reuse/`` before training; after training it stores the result there.

* The key is a sha256 of content, so a changed input, setting or trainer is a new key: a stored
  model is never used for anything but the exact training that made it, or one shown to compute
  the same bits (a task of a stack of autoencoders is read by training it alone only where a probe
  finds that stacking changes no bit: :func:`eglib.method.autoencoder.train_autoencoders`).
* Each stored file is checked against the sha256 in its sidecar (written last, atomically): a
  damaged or half-written entry is trained again, never trusted.
* A reused model counts its original training seconds (:func:`reused_seconds`), so cost tables
  (:class:`eglib.run.costs.CostLog`) still report what the method costs.
* A reused model leaves torch's global (CPU) random generator where the training left it (the
  state after training is stored with the model and restored on a hit), so what runs next draws
  the same numbers whether the model was trained or read back. The CUDA generators, which
  nothing in eglib draws from, are not restored.
* ``EGLIB_REUSE=0`` turns reuse off (the unit tests do; so can a user who times training).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from eglib import config
from eglib.storage import load_checked, save_checked

# models larger than this are not stored: whole-AlexNet experts (230 MB each) would fill the disk
# faster than reuse saves time, and on the paper profile they train on a GPU anyway
MAX_BYTES = 64 << 20
# part of every key: entries written in an older layout (without the generator state) are not read
FORMAT = "reuse entry 2: tensors + global torch generator state"
_RNG_KEY = "__torch_rng_state__"
_reused = {"seconds": 0.0}


def keeps(state: dict[str, torch.Tensor]) -> bool:
    """Whether a model of this state dict is small enough to be stored (:data:`MAX_BYTES`)."""
    return sum(t.numel() * t.element_size() for t in state.values()) <= MAX_BYTES


def enabled() -> bool:
    """Whether reuse is on (``EGLIB_REUSE`` is not ``0``)."""
    return os.environ.get("EGLIB_REUSE", "1") != "0"


def folder() -> Path:
    """``<run>/reuse`` (not created)."""
    return config.run_dir() / "reuse"


def _feed(digest: "hashlib._Hash", part: Any) -> None:
    if isinstance(part, torch.Tensor):
        tensor = part.detach().cpu().contiguous()
        digest.update(f"tensor {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(part, torch.nn.Module):
        # which parameters are frozen (requires_grad False): not in the state dict, but what a training may move
        digest.update(f"frozen {[name for name, p in part.named_parameters() if not p.requires_grad]}".encode())
        for name, tensor in part.state_dict().items():
            digest.update(f"module entry {name}".encode())
            _feed(digest, tensor)
    elif isinstance(part, dict):
        for key in sorted(part, key=str):
            digest.update(f"key {key!r}".encode())
            _feed(digest, part[key])
    elif isinstance(part, (list, tuple)):
        digest.update(f"sequence {len(part)}".encode())
        for item in part:
            _feed(digest, item)
    elif part is None or isinstance(part, (str, int, float, bool)):
        digest.update(f"{type(part).__name__} {part!r}".encode())
    else:
        raise TypeError(f"Cannot fingerprint a {type(part).__name__}; pass tensors, modules, numbers or strings.")


def numerics() -> tuple[int, str, bool, bool]:
    """The settings besides the inputs that decide how torch rounds: thread count, float32 matmul
    precision and the two TF32 switches."""
    return (torch.get_num_threads(), torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32,
            torch.backends.cudnn.allow_tf32)


def fingerprint(*parts: Any) -> str:
    """sha256 (hex) of ``parts`` -- tensors by dtype, shape and bytes, modules by their state
    dicts, containers item by item -- and of the torch version and :func:`numerics`, which can
    change the rounding of a training run."""
    digest = hashlib.sha256()
    for part in (FORMAT, torch.__version__, *numerics(), *parts):
        _feed(digest, part)
    return digest.hexdigest()


def source_digest(*paths: Path) -> str:
    """sha256 of source files: part of a key, so that changed training code is a new key."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def load(key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """The stored tensors and JSON extras of ``key``, or ``None`` (absent, damaged, or reuse off).

    A hit adds the stored training seconds to :func:`reused_seconds` and sets torch's global
    random generator to the state the training left it in.
    """
    stored = load_checked(folder() / f"{key}.pt") if enabled() else None
    if stored is None or _RNG_KEY not in stored[0]:
        return None
    state, meta = stored
    state = dict(state)
    torch.set_rng_state(state.pop(_RNG_KEY))
    _reused["seconds"] += float(meta.get("seconds", 0.0))
    return state, meta.get("extra", {})


def store(key: str, state: dict[str, torch.Tensor], extra: dict[str, Any], seconds: float,
          rng_state: torch.Tensor | None = None) -> bool:
    """Store a trained model's tensors, JSON extras and training seconds under ``key``, with
    torch's global generator state as it is now (call it right after the training), or
    ``rng_state``: the state a training of this model alone would have left.

    Returns whether it was stored (not when reuse is off or the tensors exceed :data:`MAX_BYTES`).
    """
    if not enabled() or not keeps(state):
        return False
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    tensors[_RNG_KEY] = torch.get_rng_state() if rng_state is None else rng_state
    save_checked(folder() / f"{key}.pt", tensors,
                 {"seconds": round(seconds, 3), "extra": extra})
    return True


def remembered(key: str | None, train: Callable[[], tuple[torch.nn.Module, dict[str, Any]]],
               rebuild: Callable[[], torch.nn.Module]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model (and its JSON extras) stored under ``key``, else ``train()``'s, then stored.

    ``rebuild()`` makes the untrained skeleton that a hit loads its tensors into; it runs with
    torch's global generator forked, so the generator stays where the stored training left it.
    ``key=None`` (reuse off, or a call that must train, e.g. one that watches its epochs) trains
    and stores nothing.
    """
    stored = load(key) if key is not None else None
    if stored is not None:
        state, extra = stored
        with torch.random.fork_rng(devices=[]):
            model = rebuild()
        model.load_state_dict(state)
        return model, extra
    start = time.perf_counter()
    model, extra = train()
    if key is not None:
        store(key, model.state_dict(), extra, time.perf_counter() - start)
    return model, extra


def reused_seconds() -> float:
    """Training seconds of every model reused so far in this process (their original runs)."""
    return _reused["seconds"]
