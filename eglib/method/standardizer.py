"""The gate's fixed feature preprocessing: standardise with base statistics, then a sigmoid (notebook 01).

Every autoencoder of one gate sees its input through the *same* :class:`FeatureStandardizer`,
fitted once on the base (ImageNet stand-in) features and stored with the gate, so that
reconstruction errors of different autoencoders stay comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FeatureStandardizer:
    """``z = sigmoid((x - mean) / std)``, values in (0, 1).

    Attributes:
        mean: ``[D]`` per-dimension mean of the reference features.
        std: ``[D]`` per-dimension standard deviation, floored (see :meth:`fit`).
    """

    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def fit(cls, reference: torch.Tensor, floor_ratio: float = 0.1) -> "FeatureStandardizer":
        """Statistics of reference features ``[N, D]``.

        Dimensions that hardly vary on the reference set (e.g. ReLU units never active on
        photographs) would blow up; their std is floored at ``floor_ratio`` times the mean std.
        """
        if reference.ndim != 2 or len(reference) < 2:
            raise ValueError(f"Reference features must be [N>=2, D]; got {tuple(reference.shape)}.")
        if not bool(torch.isfinite(reference).all()):
            raise ValueError("The reference features contain NaN or infinite values; the gate's statistics would be "
                             "undefined. Find the images or the extraction step that produced them.")
        reference = reference.float()
        std = reference.std(dim=0)
        floor = float(std.mean()) * floor_ratio + 1e-6
        return cls(mean=reference.mean(dim=0), std=std.clamp_min(floor))

    @property
    def dim(self) -> int:
        return int(self.mean.numel())

    def check(self, features: torch.Tensor) -> None:
        """Raise a ``ValueError`` naming the fix when ``features`` is not finite ``[N, D]`` of this dimension."""
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ValueError(
                f"Expected features [N, {self.dim}] (the gate's feature layer); got {tuple(features.shape)}. "
                "Extract them with the same backbone and layer the gate was built with."
            )
        if not bool(torch.isfinite(features).all()):
            raise ValueError("The features contain NaN or infinite values; they cannot be reconstructed or compared. "
                             "Find the images or the extraction step that produced them (torch.isfinite(x).all(1)).")

    def __call__(self, features: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` raw features -> ``[N, D]`` preprocessed values in (0, 1)."""
        self.check(features)
        mean, std = self.mean.to(features.device), self.std.to(features.device)
        return torch.sigmoid((features.float() - mean) / std)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.cpu(), "std": self.std.cpu()}

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "FeatureStandardizer":
        return cls(mean=state["mean"], std=state["std"])

    def same_as(self, other: "FeatureStandardizer") -> bool:
        """True when both apply identical statistics."""
        return (self.dim == other.dim and torch.equal(self.mean.cpu(), other.mean.cpu())
                and torch.equal(self.std.cpu(), other.std.cpu()))
