"""The paper's baselines on the same data, expert architecture and epochs (notebook 05).

All functions take expert inputs per task: ``{task: (x [N, C, h, w], y [N])}`` in
arrival order, and start from the base expert (ImageNet's upper part and head).

* :func:`joint_training`    -- one shared upper part, one head per task, all data at once;
* :func:`oracle_experts`    -- one expert per task trained from the base model (FT or LwF); scored
  with the true task known;
* :func:`sequential_model`  -- a single model trained task after task (FT, or LwF distilling every
  earlier head), with its accuracy on every task after each stage;
* :func:`most_confident`    -- run every expert, keep the answer of the most confident one;
* :func:`routed_accuracy`   -- score (task, label) predictions: a misrouted sample is wrong;
* :func:`train_baselines`   -- all of the above for one method table (notebook 05).
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from eglib import reuse, timing
from eglib.progress import progress
from eglib.config import resolve_device
from eglib import optim
from eglib.optim import descend
from eglib.method import experts

TaskData = dict[str, tuple[torch.Tensor, torch.Tensor]]


def _classes(y: torch.Tensor) -> int:
    return int(y.max()) + 1


def oracle_experts(train: TaskData, base: experts.Expert, method: str = "finetune", *, epochs: int = 10,
                   lr: float = 1e-3, seed: int = 0, flip: bool = False,
                   device: str | torch.device = "auto") -> dict[str, experts.Expert]:
    """One expert per task, each trained from ``base`` by ``"finetune"`` or ``"lwf"``."""
    if method not in ("finetune", "lwf"):
        raise ValueError(f"Unknown method {method!r}; use 'finetune' or 'lwf'.")
    trainer = experts.finetune if method == "finetune" else experts.learn_without_forgetting
    out = {}
    for index, (task, (x, y)) in enumerate(train.items()):
        expert, _ = trainer(base, task, x, y, _classes(y), epochs=epochs, lr=lr, seed=seed + index, flip=flip,
                            device=device)
        out[task] = expert
    return out


@timing.phase("expert training")
def joint_training(train: TaskData, base: experts.Expert, *, epochs: int = 10, lr: float = 1e-3,
                   batch_size: int = 32, seed: int = 0, flip: bool = False,
                   device: str | torch.device = "auto") -> experts.Expert:
    """Shared upper part + a head per task, trained on every task's data at once (mixed batches);
    ``flip`` mirrors a random half of every batch, as the experts' training does. A training that
    already ran in this run folder with the same base, data, settings and code is read back instead
    of repeated (:mod:`eglib.reuse`)."""
    device = resolve_device(device)
    key = None
    if reuse.enabled() and reuse.keeps(base.state_dict()):  # whole AlexNets are not kept
        settings = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "flip": flip,
                    "task order": list(train)}  # the key's dicts are read in sorted order; the tasks' order matters
        key = reuse.fingerprint("joint_training", _code_digest(), device.type, base, train, settings)

    def start() -> experts.Expert:
        model = copy.deepcopy(base)
        feature_dim = next(iter(base.heads.values())).in_features
        model.heads = nn.ModuleDict({task: nn.Linear(feature_dim, _classes(y)) for task, (_, y) in train.items()})
        return model.to(device)

    def trained_now() -> tuple[experts.Expert, dict]:
        torch.manual_seed(seed)
        return _train_jointly(start(), train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, flip=flip,
                              device=device), {}

    return reuse.remembered(key, trained_now, start)[0].to(device).eval()


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """This module's, eglib.method.experts' and eglib.optim's code, and torchvision's version (the
    experts' bodies' forward code): part of a reuse key."""
    return reuse.source_digest(Path(__file__), Path(experts.__file__), Path(optim.__file__)) + torchvision.__version__


def _train_jointly(model: experts.Expert, train: TaskData, *, epochs: int, lr: float, batch_size: int, seed: int,
                   flip: bool, device: torch.device) -> experts.Expert:
    """:func:`joint_training`'s training of ``model`` (the base with a fresh head per task)."""
    tasks = list(train)
    x = torch.cat([train[t][0] for t in tasks]).to(device)
    y = torch.cat([train[t][1] for t in tasks]).to(device)
    owner = torch.cat([torch.full((len(train[t][1]),), i) for i, t in enumerate(tasks)]).to(device)
    optimizer = optim.adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    # as many updates per epoch as all tasks' experts together get
    for _ in progress(range(epochs), "joint training"):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).to(device).split(batch_size):
            shared = model.features(experts.flip_half(x[batch], generator) if flip else x[batch])
            loss = sum(F.cross_entropy(model.heads[t](shared[owner[batch] == i]), y[batch][owner[batch] == i],
                                       reduction="sum") for i, t in enumerate(tasks) if (owner[batch] == i).any())
            descend(optimizer, loss / len(batch))
    return model.eval()


def sequential_model(train: TaskData, test: TaskData, base: experts.Expert, method: str = "finetune", *,
                     epochs: int = 10, lr: float = 1e-3, seed: int = 0, flip: bool = False,
                     device: str | torch.device = "auto") -> tuple[experts.Expert, pd.DataFrame]:
    """A single model trained on the tasks in order.

    ``"finetune"`` trains shared part + the new head on the new task only (earlier heads are kept
    but not protected); ``"lwf"`` distils every earlier head (and ImageNet's) towards the model's
    own outputs before the stage.

    Returns:
        the final model and the accuracy matrix: row = after training on task r, column = task c
        (NaN for tasks not yet seen).
    """
    if method not in ("finetune", "lwf"):
        raise ValueError(f"Unknown method {method!r}; use 'finetune' or 'lwf'.")
    model = base
    tasks = list(train)
    rows = {}
    for index, task in enumerate(tasks):
        x, y = train[task]
        trainer = experts.finetune if method == "finetune" else experts.learn_without_forgetting
        model, _ = trainer(model, task, x, y, _classes(y), epochs=epochs, lr=lr, seed=seed + index, flip=flip,
                           device=device)
        rows[task] = {t: (experts.accuracy(model, t, *test[t]) if j <= index else float("nan"))
                      for j, t in enumerate(tasks)}
    return model, pd.DataFrame.from_dict(rows, orient="index")[tasks]


@torch.no_grad()
def most_confident(expert_by_task: dict[str, experts.Expert], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run every expert on ``x [N, C, h, w]``; per sample keep the expert with the highest softmax score.

    Returns:
        ``(task_index [N], label [N])`` with task indices into ``list(expert_by_task)``.
    """
    scores, labels = [], []
    for task, expert in expert_by_task.items():
        probabilities = torch.softmax(experts.logits(expert, task, x), dim=1).cpu()
        best = probabilities.max(dim=1)
        scores.append(best.values)
        labels.append(best.indices)
    scores_tensor, labels_tensor = torch.stack(scores, 1), torch.stack(labels, 1)
    task_index = scores_tensor.argmax(1)
    return task_index, labels_tensor[torch.arange(len(x)), task_index]


def routed_accuracy(task_index: torch.Tensor, labels: torch.Tensor, true_task: int, true_labels: torch.Tensor) -> float:
    """Share of samples routed to ``true_task`` *and* labelled right (a misrouted sample is wrong)."""
    return float(((task_index.cpu() == true_task) & (labels.cpu() == true_labels.cpu())).float().mean())


def _untimed(label: str) -> contextlib.AbstractContextManager:
    return contextlib.nullcontext()


def _train_now(name: str, train: Callable[[], tuple[dict, dict]]) -> tuple[dict, dict]:
    return train()


@dataclass
class BaselineResults:
    """What :func:`train_baselines` measured, keyed by the method's row label.

    Attributes:
        per_task: ``{method: {task: test accuracy}}``.
        resident_parameters: ``{method: weights needed at test time}``.
        sequence_matrices: ``{method: accuracy after each stage}`` of the single models.
        oracle_ft: the oracle FT experts ``{task: Expert}`` (also the most-confident rule's experts).
    """

    per_task: dict[str, dict[str, float]] = field(default_factory=dict)
    resident_parameters: dict[str, int] = field(default_factory=dict)
    sequence_matrices: dict[str, pd.DataFrame] = field(default_factory=dict)
    oracle_ft: dict[str, experts.Expert] = field(default_factory=dict)


def train_baselines(train: TaskData, test: TaskData, base: experts.Expert, *,
                    checkpoint: Callable[[str, Callable[[], tuple[dict, dict]]], tuple[dict, dict]] = _train_now,
                    measure: Callable[[str], contextlib.AbstractContextManager] = _untimed,
                    **options) -> BaselineResults:
    """Train and score the paper's baselines (Tables 1 and 2) on the same data as Expert Gate.

    Args:
        train, test: expert inputs and labels per task, in arrival order.
        base: the base expert every baseline starts from.
        checkpoint: ``checkpoint(name, train_fn) -> (models, extra)``; runs ``train_fn`` or reads its
            result back (e.g. :func:`eglib.run.checkpoints.experts_checkpoint`). Default: train now.
        measure: ``measure(label)`` context that times each method (e.g. ``CostLog.measure``).
        options: training options of the experts (``epochs``, ``lr``, ``seed``, ``flip``, ``device``).
    """
    names = list(train)
    results = BaselineResults()
    label = "joint training"
    with measure(label):
        joint = checkpoint("joint", lambda: ({"joint": joint_training(train, base, **options)}, {}))[0]["joint"]
    results.per_task[label] = {n: experts.accuracy(joint, n, *test[n]) for n in names}
    results.resident_parameters[label] = joint.deployed_parameters(names)

    for method, short in (("finetune", "FT"), ("lwf", "LwF")):
        label = f"multiple {short} experts (oracle)"
        with measure(label):
            oracle = checkpoint(f"oracle_{method}", lambda: (oracle_experts(train, base, method, **options), {}))[0]
        results.per_task[label] = {n: experts.accuracy(oracle[n], n, *test[n]) for n in names}
        results.resident_parameters[label] = sum(oracle[n].deployed_parameters([n]) for n in names)
        if method == "finetune":
            results.oracle_ft = oracle

    def in_sequence(method: str) -> tuple[dict, dict]:
        model, matrix = sequential_model(train, test, base, method, **options)
        return {"single": model}, {"matrix": matrix.to_dict()}

    for method, short in (("finetune", "FT"), ("lwf", "LwF")):
        label = f"single {short} model, after all tasks"
        with measure(label):
            models, extra = checkpoint(f"single_{method}", lambda: in_sequence(method))
        matrix = pd.DataFrame(extra["matrix"]).loc[names, names]
        results.sequence_matrices[label] = matrix
        results.per_task[label] = matrix.iloc[-1].to_dict()
        results.resident_parameters[label] = models["single"].deployed_parameters(names)

    label = "most confident FT expert"
    x_all = torch.cat([test[n][0] for n in names])
    with measure(f"{label} (test)"):
        task_index, labels_all = most_confident(results.oracle_ft, x_all)
    offsets = np.cumsum([0] + [len(test[n][1]) for n in names])
    results.per_task[label] = {
        n: routed_accuracy(task_index[offsets[i]:offsets[i + 1]], labels_all[offsets[i]:offsets[i + 1]], i, test[n][1])
        for i, n in enumerate(names)}
    results.resident_parameters[label] = results.resident_parameters["multiple FT experts (oracle)"]
    return results
