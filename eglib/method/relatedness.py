"""Task relatedness from autoencoder errors, and the LwF / fine-tuning rule (notebook 03).

For a new task ``T_k`` with validation features ``V_k``:

* ``Er_k`` = mean error of the new task's autoencoder ``A_k`` on ``V_k``;
* ``Er_a`` = mean error of an earlier task's autoencoder ``A_a`` on the same ``V_k``;
* ``Rel(T_k, T_a) = 1 - (Er_a - Er_k) / Er_k``.

``A_k`` needs only the frozen feature extractor, so ``Er_k`` exists before any expert of ``T_k``
is trained. The measure is not symmetric. With ``Rel`` above the profile's threshold (the paper's
0.85, :attr:`eglib.config.Profile.relatedness_threshold`) the new expert is trained with Learning
without Forgetting from the most related expert, otherwise by fine-tuning it.
"""

from __future__ import annotations

import pandas as pd
import torch

from eglib.config import BASE
from eglib.method.autoencoder import TaskAutoencoder


def relatedness_from_errors(error_new: float, error_old: float) -> float:
    """``1 - (Er_a - Er_k) / Er_k`` with ``error_new = Er_k`` and ``error_old = Er_a``."""
    if error_new <= 0:
        raise ValueError(f"Er_k must be positive; got {error_new}.")
    return 1.0 - (error_old - error_new) / error_new


def _check_comparable(new_autoencoder: TaskAutoencoder, old_autoencoder: TaskAutoencoder,
                      new_val_features: torch.Tensor, name: str = "the new task") -> None:
    """Errors are comparable only on non-empty data under one shared preprocessing."""
    if len(new_val_features) == 0:
        raise ValueError(f"{name} has no validation features; relatedness needs its validation split.")
    if not new_autoencoder.standardizer.same_as(old_autoencoder.standardizer):
        raise ValueError("The two autoencoders use different standardisation statistics, so their errors are "
                         "not comparable. Train every autoencoder with the gate's standardizer "
                         "(train_autoencoder(..., standardizer=...)).")


def task_relatedness(new_autoencoder: TaskAutoencoder, old_autoencoder: TaskAutoencoder,
                new_val_features: torch.Tensor) -> float:
    """``Rel(T_k, T_a)``: how related an earlier task ``a`` is to the new task ``k``.

    Args:
        new_autoencoder: ``A_k``, trained on the new task.
        old_autoencoder: ``A_a``, of an earlier task (or of the base task).
        new_val_features: ``[N, D]`` features of the *new* task's validation images.
    """
    _check_comparable(new_autoencoder, old_autoencoder, new_val_features)
    return relatedness_from_errors(new_autoencoder.mean_error(new_val_features),
                                   old_autoencoder.mean_error(new_val_features))


def relatedness_matrix(autoencoders: dict[str, TaskAutoencoder],
                       val_features: dict[str, torch.Tensor],
                       old_names: list[str] | None = None) -> pd.DataFrame:
    """All pairwise relatedness values.

    Args:
        autoencoders: ``{task: A_task}`` (may include a base task such as ``"base"``).
        val_features: ``{task: [N, D]}`` validation features of every *new* task (the rows).
        old_names: columns (earlier tasks); default: every autoencoder.

    Returns:
        DataFrame, row ``k`` (new task), column ``a`` (old task): ``Rel(T_k, T_a)``.
    """
    old_names = old_names or list(autoencoders)
    rows = {}
    for new, features in val_features.items():
        for old in old_names:
            _check_comparable(autoencoders[new], autoencoders[old], features, name=f"Task {new!r}")
        own = autoencoders[new].mean_error(features)
        rows[new] = {old: relatedness_from_errors(own, autoencoders[old].mean_error(features)) for old in old_names}
    return pd.DataFrame.from_dict(rows, orient="index")[old_names]


def choose_transfer(rel: float, threshold: float) -> str:
    """``"lwf"`` when ``rel > threshold`` (paper: 0.85), else ``"finetune"``."""
    return "lwf" if rel > threshold else "finetune"


def choose_source(rel_to_earlier: dict[str, float], threshold: float) -> tuple[str, float, str]:
    """Most related earlier task, its relatedness, and the transfer method it implies.

    With no candidate at all (the first task when the base model is no candidate, i.e. no base-task
    autoencoder exists) the new expert fine-tunes the base model: ``(BASE, nan, "finetune")``.
    """
    if not rel_to_earlier:
        return BASE, float("nan"), "finetune"
    source = max(rel_to_earlier, key=rel_to_earlier.get)
    return source, rel_to_earlier[source], choose_transfer(rel_to_earlier[source], threshold)
