"""Checkpoints of trained models inside a run folder, so that an interrupted run resumes.

``make reproduce RESUME=runs/<timestamp>`` reruns the notebooks into that run folder with
``EGLIB_RESUME=1``. Notebook 05 then keeps its expert zoo (every learned task is already a verified
checkpoint) and each baseline asks :func:`experts_checkpoint` for its trained experts, which are
loaded from ``<run>/checkpoints/<name>.pt`` instead of being trained again when present and intact;
06 does the same for its video networks (:func:`models_checkpoint`) and 04 keeps each finished
pair's accuracies (:func:`json_checkpoint`).
Without ``EGLIB_RESUME`` every model is trained afresh and its checkpoint overwritten.

A checkpoint holds tensors only (``torch.load(weights_only=True)``) and is checked against the
sha256 in its sidecar ``<name>.json``, which also carries small JSON results (e.g. a forgetting
matrix). Files are written atomically, the sidecar last, so a killed process leaves either the old
checkpoint, none, or the new one -- never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import torch

from eglib import config
from eglib.method.experts import Expert
from eglib.method.zoo import build_expert
from eglib.storage import atomic_writer, load_checked, save_checked

Experts = dict[str, Expert]


def resume_enabled() -> bool:
    """Whether this run resumes an earlier one (``EGLIB_RESUME=1``, set by ``make reproduce RESUME=...``)."""
    return os.environ.get("EGLIB_RESUME", "") == "1"


def checkpoint_dir() -> Path:
    """``<run>/checkpoints`` (created when missing)."""
    path = config.run_dir() / "checkpoints"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _load(name: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    return load_checked(checkpoint_dir() / f"{name}.pt")  # a damaged checkpoint is retrained, never trusted


def _save(name: str, state: dict[str, torch.Tensor], extra: dict[str, Any]) -> None:
    save_checked(checkpoint_dir() / f"{name}.pt", state, {"extra": extra})


def models_checkpoint(name: str, train: Callable[[], tuple[dict[str, torch.nn.Module], dict[str, Any]]],
                      build: Callable[[dict[str, torch.Tensor]], torch.nn.Module],
                      device: torch.device | str = "cpu") -> tuple[dict[str, torch.nn.Module], dict[str, Any], bool]:
    """Trained models ``{key: module}`` and JSON extras from ``train()``, or from the checkpoint.

    Args:
        build: rebuilds one module from its state dict (tensors only; nothing is unpickled).

    Returns:
        ``(models, extra, resumed)``; ``resumed`` is true when nothing was trained.
    """
    stored = _load(name) if resume_enabled() else None
    if stored is not None:
        state, meta = stored
        models = {key: build({k.split("/", 1)[1]: v for k, v in state.items() if k.split("/", 1)[0] == key}).to(device)
                  for key in meta["extra"]["_keys"]}
        return models, {k: v for k, v in meta["extra"].items() if k != "_keys"}, True
    models, extra = train()
    state = {f"{key}/{k}": v.detach().cpu() for key, model in models.items() for k, v in model.state_dict().items()}
    _save(name, state, {**extra, "_keys": list(models)})
    return models, extra, False


def experts_checkpoint(name: str, train: Callable[[], tuple[Experts, dict[str, Any]]], backbone: str,
                       device: torch.device | str = "cpu") -> tuple[Experts, dict[str, Any], bool]:
    """:func:`models_checkpoint` for :class:`~eglib.method.experts.Expert` models of ``backbone``."""
    return models_checkpoint(name, train, lambda state: build_expert(state, backbone), device)


Trainer = Callable[[str, Callable[[], tuple[dict, dict[str, Any]]]], tuple[dict, dict[str, Any]]]


def expert_trainer(backbone: str, device: torch.device | str = "cpu") -> Trainer:
    """``trained(name, train_fn) -> (experts, extra)``: experts of ``backbone`` trained now, or read
    back from this run's checkpoint when it resumes (what notebook 05 hands its baselines)."""
    return lambda name, train: experts_checkpoint(name, train, backbone, device)[:2]


def model_trainer(build: Callable[[dict[str, torch.Tensor]], torch.nn.Module],
                  device: torch.device | str = "cpu") -> Trainer:
    """``trained(name, train_fn) -> (models, extra)`` for any module that ``build`` rebuilds from
    its state dict (notebook 06's video networks)."""
    return lambda name, train: models_checkpoint(name, train, build, device)[:2]


def json_checkpoint(name: str, compute: Callable[[], Any]) -> Any:
    """A JSON-able result of ``compute()`` (e.g. one row of accuracies), or its stored copy when resuming."""
    path = checkpoint_dir() / f"{name}.result.json"
    if resume_enabled() and path.exists():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass  # damaged: computed again
    value = compute()
    with atomic_writer(path, "w") as out:
        json.dump(value, out)
    return value
