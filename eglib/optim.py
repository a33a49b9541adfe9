"""One optimisation step, the same in every trainer of eglib (experts, baselines, video networks)."""

from __future__ import annotations

import torch


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    """Clear the gradients, back-propagate ``loss`` (a scalar), step ``optimizer``; return the loss."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
