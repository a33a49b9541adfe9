"""The Expert Gate router (introduced in ``02_gate``).

Every task's autoencoder tries to reconstruct a sample's features; with errors ``e_i(x)`` the
gate's probabilities are ``p_i(x) = softmax_i(-e_i(x) / t)`` (``t = 2`` in the paper). Each sample
is routed on its own to ``argmax_i p_i(x)``, or, with a threshold, to every task whose
probability exceeds it. All autoencoders are evaluated together: their weights are stacked and
one batched matrix product per layer serves every task (no Python loop over samples).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import torch

from eglib import timing
from eglib.method.autoencoder import TaskAutoencoder, train_autoencoders
from eglib.method.standardizer import FeatureStandardizer
from eglib.storage import atomic_writer


class ExpertGate:
    """A set of named task autoencoders sharing one :class:`FeatureStandardizer`.

    Args:
        temperature: softmax temperature ``t`` (paper: 2).
        chunk_bytes: upper bound on the ``[K, n, D]`` reconstruction block held at once.
    """

    def __init__(self, temperature: float = 2.0, chunk_bytes: int = 16 << 20) -> None:
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got {temperature}.")
        self.temperature = temperature
        self.chunk_bytes = chunk_bytes
        self.autoencoders: dict[str, TaskAutoencoder] = {}
        self._stacked: dict[str, torch.Tensor] | None = None

    @property
    def names(self) -> list[str]:
        """Task names in the order of the probability columns."""
        return list(self.autoencoders)

    @property
    def standardizer(self) -> FeatureStandardizer | None:
        return next(iter(self.autoencoders.values())).standardizer if self.autoencoders else None

    def add(self, name: str, autoencoder: TaskAutoencoder) -> None:
        """Add task ``name``'s autoencoder. It must share the gate's preprocessing and hidden size."""
        if name in self.autoencoders:
            raise ValueError(f"Task {name!r} already has an autoencoder in this gate; choose another name.")
        if self.autoencoders:
            first = next(iter(self.autoencoders.values()))
            if not autoencoder.standardizer.same_as(first.standardizer):
                raise ValueError(
                    f"The autoencoder of {name!r} uses other standardisation statistics than the gate's. "
                    "Train it with train_autoencoder(..., standardizer=gate.standardizer) so errors are comparable."
                )
            if autoencoder.hidden_size != first.hidden_size:
                raise ValueError(f"All autoencoders of a gate need one hidden size; {name!r} has "
                                 f"{autoencoder.hidden_size}, the gate {first.hidden_size}.")
        self.autoencoders[name] = autoencoder
        self._stacked = None

    def at_epoch(self, epoch: int) -> "ExpertGate":
        """The gate of every autoencoder as it was after ``epoch`` (trained with ``snapshot_epochs``)."""
        gate = ExpertGate(temperature=self.temperature, chunk_bytes=self.chunk_bytes)
        for name, autoencoder in self.autoencoders.items():
            gate.add(name, autoencoder.at_epoch(epoch))
        return gate

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only: the shared standardisation statistics once, then every task's network."""
        if not self.autoencoders:
            raise ValueError("An empty gate has nothing to save.")
        state = {f"standardizer.{k}": v for k, v in self.standardizer.state_dict().items()}
        state["temperature"] = torch.tensor(self.temperature, dtype=torch.float64)
        for index, (name, autoencoder) in enumerate(self.autoencoders.items()):
            state[f"task{index}.name"] = torch.tensor(list(name.encode()), dtype=torch.uint8)
            state.update({f"task{index}.{k}": v.cpu() for k, v in autoencoder.network.state_dict().items()})
        return state

    def save(self, path: Path) -> None:
        """Write the gate (statistics + autoencoders) atomically; load it with :meth:`load`."""
        with atomic_writer(Path(path)) as out:
            torch.save(self.state_dict(), out)

    @classmethod
    def load(cls, path: Path) -> "ExpertGate":
        """Read a gate written by :meth:`save` (``weights_only=True``: nothing is unpickled)."""
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            temperature = float(state["temperature"])
        except (RuntimeError, OSError, EOFError, KeyError, TypeError, pickle.UnpicklingError) as error:
            raise ValueError(f"{path} is not a readable gate file ({error!r}); save the gate again.") from error
        gate = cls(temperature=temperature)
        standardizer = FeatureStandardizer(mean=state["standardizer.mean"], std=state["standardizer.std"])
        index = 0
        while f"task{index}.name" in state:
            prefix = f"task{index}."
            network_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix) and k != prefix + "name"}
            autoencoder = TaskAutoencoder.from_state_dict(
                {**{f"network.{k}": v for k, v in network_state.items()},
                 **{f"standardizer.{k}": v for k, v in standardizer.state_dict().items()}})
            autoencoder.standardizer = standardizer
            gate.add(bytes(state[prefix + "name"].tolist()).decode(), autoencoder)
            index += 1
        return gate

    def _weights(self, device: torch.device) -> dict[str, torch.Tensor]:
        """Stacked parameters: ``w1 [D, K*h]``, ``b1 [K*h]``, ``w2 [K, h, D]``, ``b2 [K, 1, D]``."""
        if self._stacked is None or self._stacked["w1"].device != device:
            nets = [ae.network for ae in self.autoencoders.values()]
            self._stacked = {
                "w1": torch.cat([n.encoder.weight.detach() for n in nets]).t().contiguous().to(device),
                "b1": torch.cat([n.encoder.bias.detach() for n in nets]).to(device),
                "w2": torch.stack([n.decoder.weight.detach().t() for n in nets]).contiguous().to(device),
                "b2": torch.stack([n.decoder.bias.detach() for n in nets])[:, None].to(device),
            }
        return self._stacked

    @timing.phase("evaluation")
    @torch.no_grad()
    def errors(self, features: torch.Tensor) -> torch.Tensor:
        """Reconstruction error of every sample under every autoencoder: ``[N, D]`` -> ``[N, K]``.

        One matrix product encodes a chunk of samples for all K autoencoders at once
        (``[n, D] @ [D, K*h]``), one batched product decodes (``[K, n, h] @ [K, h, D]``); the
        sigmoid and the distance are computed in place on that block.
        """
        if not self.autoencoders:
            raise ValueError("The gate has no autoencoders yet; add one per task with gate.add(name, ae).")
        standardizer = self.standardizer
        standardizer.check(features)
        weights = self._weights(features.device)
        count, dim = len(self.autoencoders), standardizer.dim
        hidden_size = weights["w2"].shape[1]
        chunk = max(1, self.chunk_bytes // (4 * count * dim))
        out = []
        for start in range(0, len(features), chunk):
            z = standardizer(features[start:start + chunk])                                  # [n, D]
            hidden = torch.addmm(weights["b1"], z, weights["w1"]).relu_()                     # [n, K*h]
            hidden = hidden.view(len(z), count, hidden_size).transpose(0, 1)                  # [K, n, h]
            recon = torch.baddbmm(weights["b2"], hidden, weights["w2"]).sigmoid_().sub_(z)   # [K, n, D]
            out.append(torch.linalg.vector_norm(recon, dim=2).t())                           # [n, K]
        return torch.cat(out) if out else features.new_zeros((0, count))

    def probabilities_from_errors(self, errors: torch.Tensor) -> torch.Tensor:
        """``[N, K]`` errors -> ``[N, K]`` softmax of ``-error / temperature``."""
        return torch.softmax(-errors / self.temperature, dim=1)

    @torch.no_grad()
    def probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """Gate probabilities ``[N, K]`` (rows sum to 1) of features ``[N, D]``."""
        return self.probabilities_from_errors(self.errors(features))

    @torch.no_grad()
    def route(self, features: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
        """Route every sample on its own.

        Returns:
            without ``threshold``: ``[N]`` long, the index (into :attr:`names`) of the chosen task;
            with ``threshold``: ``[N, K]`` bool, every task whose probability exceeds it (the
            most probable task is always included, so no sample is left without an expert).
        """
        return self.route_probabilities(self.probabilities(features), threshold)

    @staticmethod
    def route_probabilities(probabilities: torch.Tensor, threshold: float | None = None) -> torch.Tensor:
        """:meth:`route` from already computed probabilities ``[N, K]``."""
        best = probabilities.argmax(dim=1)
        if threshold is None:
            return best
        if not 0 <= threshold < 1:
            raise ValueError(f"threshold must lie in [0, 1); got {threshold}.")
        chosen = probabilities > threshold
        chosen[torch.arange(len(best)), best] = True
        return chosen


def routed_rows(routes: torch.Tensor, experts: int) -> Iterator[tuple[int, torch.Tensor]]:
    """The samples sent to each expert, for running only the experts that receive samples.

    Args:
        routes: ``[N]`` expert index per sample (hard routing), or ``[N, K]`` bool (multi-expert).
        experts: ``K``, the number of experts.

    Yields:
        ``(k, rows)`` with ``rows [n_k]`` the indices of the samples routed to expert ``k``, for
        every expert with ``n_k > 0``, in expert order.
    """
    routes = torch.as_tensor(routes).cpu()
    active = routes if routes.ndim == 2 else torch.nn.functional.one_hot(routes.long(), experts).bool()
    for index in range(experts):
        rows = active[:, index].nonzero().flatten()
        if len(rows):
            yield index, rows


def train_gate(train_features: dict[str, torch.Tensor], standardizer: FeatureStandardizer,
               temperature: float = 2.0, seed: int = 0, **autoencoder_options) -> ExpertGate:
    """One autoencoder per task, trained on that task's ``[N_t, D]`` features only, in one gate.

    ``autoencoder_options`` go to :func:`eglib.method.autoencoder.train_autoencoders` (e.g. the
    profile's ``autoencoder_options()``); task ``i`` trains with seed ``seed + i``, exactly as it
    would alone, while the tasks' autoencoders are trained together as one stacked model.
    """
    seeds = {name: seed + index for index, name in enumerate(train_features)}
    gate = ExpertGate(temperature=temperature)
    for name, autoencoder in train_autoencoders(train_features, standardizer=standardizer, seeds=seeds,
                                                **autoencoder_options).items():
        gate.add(name, autoencoder)
    return gate
