"""The paper's baselines on the same data, expert architecture and epochs (notebook 05; issue 3).

All functions take split-point activations per task: ``{task: (x [N, C, h, w], y [N])}`` in
arrival order, and start from the base expert (ImageNet's upper part and head).

* :func:`joint_training`    -- one shared upper part, one head per task, all data at once;
* :func:`oracle_experts`    -- one expert per task trained from the base model (FT or LwF); scored
  with the true task known;
* :func:`sequential_model`  -- a single model trained task after task (FT, or LwF distilling every
  earlier head), with its accuracy on every task after each stage;
* :func:`most_confident`    -- run every expert, keep the answer of the most confident one;
* :func:`routed_accuracy`   -- score (task, label) predictions: a misrouted sample is wrong.
"""

from __future__ import annotations

import copy

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from eglib import experts
from eglib.config import resolve_device

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


def joint_training(train: TaskData, base: experts.Expert, *, epochs: int = 10, lr: float = 1e-3,
                   batch_size: int = 32, seed: int = 0, flip: bool = False,
                   device: str | torch.device = "auto") -> experts.Expert:
    """Shared upper part + a head per task, trained on every task's data at once (mixed batches);
    ``flip`` mirrors a random half of every batch, as the experts' training does."""
    device = resolve_device(device)
    torch.manual_seed(seed)
    model = copy.deepcopy(base)
    feature_dim = next(iter(base.heads.values())).in_features
    model.heads = nn.ModuleDict({task: nn.Linear(feature_dim, _classes(y)) for task, (_, y) in train.items()})
    model.to(device)
    tasks = list(train)
    x = torch.cat([train[t][0] for t in tasks]).to(device)
    y = torch.cat([train[t][1] for t in tasks]).to(device)
    owner = torch.cat([torch.full((len(train[t][1]),), i) for i, t in enumerate(tasks)]).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    # as many updates per epoch as all tasks' experts together get
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(x), generator=generator).to(device).split(batch_size):
            shared = model.features(experts.flip_half(x[batch], generator) if flip else x[batch])
            loss = sum(F.cross_entropy(model.heads[t](shared[owner[batch] == i]), y[batch][owner[batch] == i],
                                       reduction="sum") for i, t in enumerate(tasks) if (owner[batch] == i).any())
            optimizer.zero_grad(set_to_none=True)
            (loss / len(batch)).backward()
            optimizer.step()
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
