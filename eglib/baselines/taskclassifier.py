"""The gate's baseline: a discriminative task classifier (notebook 02, the paper's Table 3).

An MLP with one hidden layer of 100 units on the same preprocessed gate features, trained on
*all* tasks' data at once -- which Expert Gate never needs to keep. Training on at most ``N``
stored samples per task gives the paper's Figure 5 curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from eglib import optim, timing
from eglib.config import resolve_device
from eglib.optim import descend
from eglib.method.standardizer import FeatureStandardizer


@dataclass
class TaskClassifier:
    """Predicts which task a sample comes from."""

    network: nn.Sequential
    standardizer: FeatureStandardizer
    names: list[str]

    @timing.phase("evaluation")
    @torch.no_grad()
    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Features ``[N, D]`` -> ``[N]`` long, index into :attr:`names`."""
        self.network.to(features.device).eval()
        return self.network(self.standardizer(features)).argmax(dim=1)


@timing.phase("classifier training")
def train_task_classifier(
    features_by_task: dict[str, torch.Tensor],
    standardizer: FeatureStandardizer,
    *,
    samples_per_task: int | None = None,
    hidden_size: int = 100,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "auto",
) -> TaskClassifier:
    """Train the task classifier on ``{task: [N_t, D]}`` training features.

    ``samples_per_task`` keeps only the first ``N`` samples of each task (the memory budget of a
    classifier that may store ``N`` samples per task); ``None`` uses everything.
    """
    if not features_by_task:
        raise ValueError("features_by_task is empty: give at least two tasks' features.")
    device = resolve_device(device)
    generator = torch.Generator().manual_seed(seed)
    names = list(features_by_task)
    inputs, targets = [], []
    for index, name in enumerate(names):
        features = features_by_task[name]
        if len(features) == 0:
            raise ValueError(f"Task {name!r} has no training features.")
        if samples_per_task is not None:
            features = features[:samples_per_task]
        inputs.append(standardizer(features.to(device)))
        targets.append(torch.full((len(features),), index, dtype=torch.long, device=device))
    x, y = torch.cat(inputs), torch.cat(targets)
    torch.manual_seed(seed)
    network = nn.Sequential(nn.Linear(standardizer.dim, hidden_size), nn.ReLU(),
                            nn.Linear(hidden_size, len(names))).to(device)
    optimizer = optim.adam(network.parameters(), lr=lr)
    steps = max(epochs, epochs * len(x) // batch_size)  # tiny budgets still get enough updates
    for step in range(steps):
        if step % max(1, len(x) // batch_size) == 0:
            order = torch.randperm(len(x), generator=generator).to(device)
        position = (step % max(1, len(x) // batch_size)) * batch_size
        batch = order[position:position + batch_size]
        descend(optimizer, F.cross_entropy(network(x[batch]), y[batch]))
    network.eval()
    return TaskClassifier(network=network, standardizer=standardizer, names=names)
