"""Per-task gating autoencoders (introduced in ``01_autoencoders``).

As in the paper and its authors' code: preprocessed features ``z`` in (0, 1) ->
``Linear(D, h) + ReLU`` -> ``Linear(h, D) + sigmoid``; trained with binary cross-entropy against
``z`` by Adagrad (lr 1e-2, weight decay 5e-4 on weights only, batch 12). Two initialisations:
``"sparse"`` (the authors' code: 15 non-zero N(0, 1) input weights per unit) and ``"uniform"``
(PyTorch's default ``nn.Linear`` initialisation); each profile names its choice
(:class:`eglib.config.Profile`), and ``01_autoencoders`` compares them. At test time the error of a sample is the
Euclidean distance between ``z`` and its reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from eglib.config import resolve_device
from eglib.method.standardizer import FeatureStandardizer


INITS = ("uniform", "sparse")


class GateAutoencoder(nn.Module):
    """The undercomplete autoencoder ``D -> h -> D``; :meth:`forward` returns logits ``[N, D]``."""

    def __init__(self, dim: int, hidden_size: int = 100) -> None:
        super().__init__()
        self.encoder = nn.Linear(dim, hidden_size)
        self.decoder = nn.Linear(hidden_size, dim)

    def sparse_init_(self, generator: torch.Generator, nonzero: int = 15) -> None:
        """The authors' initialisation: per unit, ``nonzero`` incoming weights ~ N(0, 1), rest zero."""
        with torch.no_grad():
            for layer in (self.encoder, self.decoder):
                out_dim, in_dim = layer.weight.shape
                weight = torch.zeros(out_dim, in_dim)
                keep = min(nonzero, in_dim)
                columns = torch.rand(out_dim, in_dim, generator=generator).argsort(dim=1)[:, :keep]
                weight.scatter_(1, columns, torch.randn(out_dim, keep, generator=generator))
                layer.weight.copy_(weight)
                layer.bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Preprocessed features ``[N, D]`` -> reconstruction logits ``[N, D]``."""
        return self.decoder(F.relu(self.encoder(z)))

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        """Preprocessed features ``[N, D]`` -> reconstruction ``[N, D]`` in (0, 1)."""
        return torch.sigmoid(self(z))


@dataclass
class TrainingLog:
    """Mean training loss (BCE) and, when validation data was given, mean val error (L2), per epoch.

    Entry 0 of each list is measured before the first update, entry ``e`` after epoch ``e``.
    """

    train_loss: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)


@dataclass
class TaskAutoencoder:
    """A trained gating autoencoder with the gate's fixed preprocessing."""

    network: GateAutoencoder
    standardizer: FeatureStandardizer
    log: TrainingLog = field(default_factory=TrainingLog)

    @property
    def hidden_size(self) -> int:
        return self.network.encoder.out_features

    @property
    def dim(self) -> int:
        return self.standardizer.dim

    @torch.no_grad()
    def reconstruction_error(self, features: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
        """Per-sample Euclidean error: raw features ``[N, D]`` -> ``[N]`` (on the features' device)."""
        self.standardizer.check(features)
        self.network.to(features.device).eval()
        errors = []
        for start in range(0, len(features), batch_size):
            z = self.standardizer(features[start:start + batch_size])
            errors.append((self.network.reconstruct(z) - z).norm(dim=1))
        return torch.cat(errors)

    @torch.no_grad()
    def mean_error(self, features: torch.Tensor) -> float:
        """Mean of :meth:`reconstruction_error` over ``[N, D]`` features (the paper's Er)."""
        return float(self.reconstruction_error(features).mean())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only (loadable with ``weights_only=True``)."""
        state = {f"network.{k}": v.cpu() for k, v in self.network.state_dict().items()}
        state.update({f"standardizer.{k}": v for k, v in self.standardizer.state_dict().items()})
        return state

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "TaskAutoencoder":
        hidden, dim = state["network.encoder.weight"].shape
        network = GateAutoencoder(dim, hidden)
        network.load_state_dict({k[len("network."):]: v for k, v in state.items() if k.startswith("network.")})
        standardizer = FeatureStandardizer.from_state_dict(
            {k[len("standardizer."):]: v for k, v in state.items() if k.startswith("standardizer.")})
        return cls(network=network, standardizer=standardizer)


def train_autoencoder(
    train_features: torch.Tensor,
    val_features: torch.Tensor | None = None,
    *,
    standardizer: FeatureStandardizer | None = None,
    hidden_size: int = 100,
    epochs: int = 25,
    batch_size: int = 12,
    lr: float = 1e-2,
    weight_decay: float = 5e-4,
    init: str = "uniform",
    seed: int = 0,
    device: str | torch.device = "auto",
) -> TaskAutoencoder:
    """Train one task's gating autoencoder on its features.

    Args:
        train_features: raw backbone features ``[N, D]`` of the task's training images.
        val_features: optional ``[M, D]``; its mean error is recorded after every epoch.
        standardizer: the gate's fixed preprocessing. Pass the gate's (fitted on the base set)
            so errors stay comparable across tasks; if omitted it is fitted on ``train_features``,
            which only suits a stand-alone autoencoder.
        hidden_size, epochs, batch_size, lr, weight_decay: the paper code's settings by default
            (100 hidden units; Adagrad 1e-2; decay 5e-4 on weights, not biases; batch 12).
        init: ``"uniform"`` (PyTorch's default) or ``"sparse"`` (the authors' code).
        seed: fixes initialisation and batch order.
        device: where training runs.

    Returns:
        The trained :class:`TaskAutoencoder` (its network on ``device``) with its training log.
    """
    if train_features.ndim != 2 or len(train_features) == 0:
        raise ValueError(f"train_features must be a non-empty [N, D] tensor; got {tuple(train_features.shape)}. "
                         "Is the task's training split empty?")
    if hidden_size < 1 or epochs < 1 or batch_size < 1:
        raise ValueError("hidden_size, epochs and batch_size must all be positive.")
    if init not in INITS:
        raise ValueError(f"Unknown init {init!r}; use one of {INITS}.")
    device = resolve_device(device)
    if standardizer is None:
        standardizer = FeatureStandardizer.fit(train_features)
    standardizer.check(train_features)
    if val_features is not None:
        standardizer.check(val_features)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # nn.Linear's own initialisation draws from the global generator
    network = GateAutoencoder(standardizer.dim, hidden_size)
    if init == "sparse":
        network.sparse_init_(generator)
    network.to(device)
    weights = [network.encoder.weight, network.decoder.weight]
    biases = [network.encoder.bias, network.decoder.bias]
    optimizer = torch.optim.Adagrad([{"params": weights, "weight_decay": weight_decay},
                                     {"params": biases, "weight_decay": 0.0}], lr=lr)
    z_train = standardizer(train_features.to(device))
    autoencoder = TaskAutoencoder(network=network, standardizer=standardizer)
    with torch.no_grad():
        autoencoder.log.train_loss.append(float(F.binary_cross_entropy_with_logits(network(z_train), z_train)))
    if val_features is not None:
        autoencoder.log.val_error.append(autoencoder.mean_error(val_features.to(device)))
    for _ in range(epochs):
        network.train()
        order = torch.randperm(len(z_train), generator=generator).to(device)
        total = 0.0
        for start in range(0, len(order), batch_size):
            z = z_train[order[start:start + batch_size]]
            loss = F.binary_cross_entropy_with_logits(network(z), z)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(z)
        autoencoder.log.train_loss.append(total / len(z_train))
        if val_features is not None:
            autoencoder.log.val_error.append(autoencoder.mean_error(val_features.to(device)))
    network.eval()
    return autoencoder
