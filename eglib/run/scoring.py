"""Scoring helpers shared by the notebooks: stacking domains and per-domain accuracy."""

from __future__ import annotations

import torch


def stack_domains(features: dict[str, dict[str, torch.Tensor]], split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate one split of every domain.

    Args:
        features: ``{domain: {split: [N_d, D]}}``.

    Returns:
        ``(x [N, D], domain_index [N])`` with domains in dictionary order.
    """
    x = torch.cat([per_split[split] for per_split in features.values()])
    y = torch.cat([torch.full((len(per_split[split]),), index, dtype=torch.long, device=x.device)
                   for index, per_split in enumerate(features.values())])
    return x, y


def per_domain_accuracy(predicted: torch.Tensor, true: torch.Tensor, names: list[str]) -> dict[str, float]:
    """Accuracy of ``predicted [N]`` against ``true [N]`` within each true domain (index into ``names``)."""
    predicted, true = predicted.cpu(), true.cpu()
    empty = [name for index, name in enumerate(names) if not (true == index).any()]
    if empty:
        raise ValueError(f"No samples of domain(s) {empty} to score; every domain needs a non-empty split.")
    return {name: float((predicted[true == index] == index).float().mean()) for index, name in enumerate(names)}


def mean_accuracy(per_domain: dict[str, float]) -> float:
    """Unweighted mean over domains (the paper's 'avg' column)."""
    return sum(per_domain.values()) / len(per_domain)


def confusion_matrix(predicted: torch.Tensor, true: torch.Tensor, count: int) -> torch.Tensor:
    """``[count, count]`` counts: row = true domain, column = predicted domain."""
    matrix = torch.zeros(count, count, dtype=torch.long)
    matrix.index_put_((true.cpu(), predicted.cpu()), torch.ones(len(true), dtype=torch.long), accumulate=True)
    return matrix
