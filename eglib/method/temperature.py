"""Choosing the gate's softmax temperature by measurement (notebook 02).

The gate's probabilities are ``p_i(x) = softmax_i(-e_i(x) / t)``. Hard routing ignores ``t``, but
the multi-expert option thresholds the probabilities (the paper: ``p_i > 0.1``), so ``t`` decides
how many samples reach several experts. The paper fixes ``t = 2`` for its 43,264-value features.
Here ``t`` is chosen the way a classifier's temperature is calibrated (temperature scaling, Guo et
al. 2017): the ``t`` under which the gate's probabilities best predict the true task of held-out
samples, i.e. the one that minimises their negative log-likelihood. With calibrated probabilities a
threshold of 0.1 means what it says: a task whose probability passes it is the sample's task about
one time in ten or more.

The negative log-likelihood is convex in ``1 / t`` (a log-sum-exp of logits linear in ``1 / t``,
minus a linear term), so a log-spaced grid followed by a golden-section refinement finds its
minimum.
"""

from __future__ import annotations

import math

import torch

from eglib.method.gate import ExpertGate


def _check(errors: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    errors = torch.as_tensor(errors, dtype=torch.float64).cpu()
    labels = torch.as_tensor(labels).long().cpu()
    if errors.ndim != 2 or errors.shape[1] < 2 or len(errors) == 0:
        raise ValueError(f"errors must be [N, K] with N >= 1 samples and K >= 2 autoencoders; got {tuple(errors.shape)}.")
    if labels.shape != (len(errors),):
        raise ValueError(f"labels must be [N] = [{len(errors)}] task indices; got {tuple(labels.shape)}.")
    if labels.min() < 0 or labels.max() >= errors.shape[1]:
        raise ValueError(f"labels must index the {errors.shape[1]} autoencoders (0..{errors.shape[1] - 1}).")
    if not torch.isfinite(errors).all():
        raise ValueError("errors contain NaN or infinite values; check the features and the autoencoders.")
    return errors, labels


def gate_nll(errors: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    """Mean negative log-likelihood of the true task under the gate at ``temperature``.

    Args:
        errors: ``[N, K]`` reconstruction errors of N samples under the K task autoencoders.
        labels: ``[N]`` index of each sample's true task.
        temperature: ``t > 0``.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be positive; got {temperature}.")
    errors, labels = _check(errors, labels)
    return float(torch.nn.functional.cross_entropy(-errors / temperature, labels))


def calibrated_temperature(errors: torch.Tensor, labels: torch.Tensor, span: float = 1e3,
                           grid: int = 121, tolerance: float = 1e-4) -> float:
    """The temperature that minimises :func:`gate_nll` on held-out samples of known task.

    Args:
        errors: ``[N, K]`` errors of held-out samples (e.g. every task's validation split).
        labels: ``[N]`` true task index of each sample.
        span: the search covers ``scale / span .. scale * span``, where ``scale`` is the median gap
            between a sample's two smallest errors (the size of the differences ``t`` divides).
        grid: points of the log-spaced first search.
        tolerance: relative precision of the refinement on ``log t``.

    Returns:
        ``t``. When every sample's own autoencoder wins by a wide margin the likelihood keeps
        rising as ``t`` falls, and the smallest ``t`` searched is returned: a gate that certain
        should route hard.
    """
    errors, labels = _check(errors, labels)
    smallest_two = errors.topk(2, dim=1, largest=False).values
    scale = float((smallest_two[:, 1] - smallest_two[:, 0]).median())
    if scale <= 0:
        scale = float(errors.std()) or 1.0
    logs = torch.linspace(math.log(scale / span), math.log(scale * span), grid, dtype=torch.float64)
    values = [gate_nll(errors, labels, math.exp(v)) for v in logs.tolist()]
    best = min(range(grid), key=values.__getitem__)
    low, high = float(logs[max(best - 1, 0)]), float(logs[min(best + 1, grid - 1)])
    ratio = (math.sqrt(5) - 1) / 2
    while high - low > tolerance:  # golden section on log t: the loss is unimodal there
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if gate_nll(errors, labels, math.exp(a)) <= gate_nll(errors, labels, math.exp(b)):
            high = b
        else:
            low = a
    return math.exp((low + high) / 2)


def multi_expert_statistics(probabilities: torch.Tensor, labels: torch.Tensor, threshold: float) -> dict[str, float]:
    """What the multi-expert option does at one threshold.

    Args:
        probabilities: ``[N, K]`` gate probabilities.
        labels: ``[N]`` true task index.
        threshold: an expert answers when its task's probability exceeds it (the best task always does).

    Returns:
        ``share``: fraction of samples that reach more than one expert; ``coverage``: fraction
        whose own task's expert is among those that answer; ``experts_per_sample``: the mean
        number of experts that run.
    """
    labels = torch.as_tensor(labels).long().cpu()
    chosen = ExpertGate.route_probabilities(torch.as_tensor(probabilities).cpu(), threshold)     # [N, K] bool
    count = chosen.sum(dim=1)
    return {"share": float((count > 1).double().mean()),
            "coverage": float(chosen[torch.arange(len(labels)), labels].double().mean()),
            "experts_per_sample": float(count.double().mean())}
