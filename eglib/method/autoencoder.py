"""Per-task gating autoencoders (introduced in ``01_autoencoders``).

As in the paper and its authors' code: preprocessed features ``z`` in (0, 1) ->
``Linear(D, h) + ReLU`` -> ``Linear(h, D) + sigmoid``; trained with binary cross-entropy against
``z`` by Adagrad (lr 1e-2, weight decay 5e-4 on weights only, batch 12). Two initialisations:
``"sparse"`` (the authors' code: 15 non-zero N(0, 1) input weights per unit) and ``"uniform"``
(PyTorch's default ``nn.Linear`` initialisation); each profile names its choice
(:class:`eglib.config.Profile`), and ``01_autoencoders`` compares them. At test time the error of
a sample is the Euclidean distance between ``z`` and its reconstruction.

:func:`train_autoencoders` trains several tasks' autoencoders as one stacked model (one batched
matrix product per layer), each on its own data with its own seeded batch order and Adagrad
state: the same updates as training each alone (up to the rounding of a batched matrix
product), without a Python loop over tasks. A stack that an earlier call of the same run already
trained (same tasks' features and seeds, settings and code) is read back from ``<run>/reuse``
(:mod:`eglib.reuse`) instead of being trained again, whatever else either call trained; where a
probe shows that stacking changes no bit of any task's training (:func:`_stacking_is_exact`), each
task is also read back by a call that trains it alone.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from eglib import optim, reuse, timing
from eglib.progress import progress
from eglib.config import resolve_device
from eglib.method import standardizer as standardizer_module
from eglib.method.standardizer import FeatureStandardizer
from eglib.optim import descend
from eglib.storage import rebuild_module


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
                # a uniformly random set of ``keep`` columns per unit: the smallest of i.i.d. uniforms
                # (topk is linear in ``in_dim``; a full argsort took 1.8 s for 500 x 43,264)
                columns = torch.rand(out_dim, in_dim, generator=generator).topk(keep, dim=1, largest=False).indices
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
    ``snapshots`` holds the network's state after each epoch asked for with ``snapshot_epochs``
    (e.g. to draw the gate's accuracy against training length from one run).
    """

    train_loss: list[float] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


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

    @timing.phase("evaluation")
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

    def at_epoch(self, epoch: int) -> "TaskAutoencoder":
        """This autoencoder as it was after ``epoch`` (one of the ``snapshot_epochs`` it was trained with)."""
        if epoch not in self.log.snapshots:
            raise KeyError(f"No snapshot of epoch {epoch}; this autoencoder kept {sorted(self.log.snapshots)}. "
                           "Train with snapshot_epochs=[...] naming the epochs you need.")
        network = rebuild_module(lambda: GateAutoencoder(self.dim, self.hidden_size), self.log.snapshots[epoch])
        return TaskAutoencoder(network=network.to(self.network.encoder.weight.device).eval(),
                               standardizer=self.standardizer)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> "TaskAutoencoder":
        hidden, dim = state["network.encoder.weight"].shape
        network = rebuild_module(lambda: GateAutoencoder(dim, hidden),
                                 {k[len("network."):]: v for k, v in state.items() if k.startswith("network.")})
        standardizer = FeatureStandardizer.from_state_dict(
            {k[len("standardizer."):]: v for k, v in state.items() if k.startswith("standardizer.")})
        return cls(network=network, standardizer=standardizer)


def _new_network(dim: int, hidden_size: int, init: str, seed: int) -> tuple[GateAutoencoder, torch.Generator]:
    """A task's untrained network and the generator of its batch order, as seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # nn.Linear's own initialisation draws from the global generator
    network = GateAutoencoder(dim, hidden_size)
    if init == "sparse":
        network.sparse_init_(generator)
    return network, generator


def train_autoencoder(train_features: torch.Tensor, val_features: torch.Tensor | None = None, *,
                      standardizer: FeatureStandardizer | None = None, seed: int = 0,
                      **options) -> TaskAutoencoder:
    """Train one task's gating autoencoder on its features.

    Args:
        train_features: raw backbone features ``[N, D]`` of the task's training images.
        val_features: optional ``[M, D]``; its mean error is recorded after every epoch.
        standardizer: the gate's fixed preprocessing. Pass the gate's (fitted on the base set)
            so errors stay comparable across tasks; if omitted it is fitted on ``train_features``,
            which only suits a stand-alone autoencoder.
        seed: fixes initialisation and batch order.
        options: ``hidden_size``, ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``init``,
            ``device`` as in :func:`train_autoencoders`.

    Returns:
        The trained :class:`TaskAutoencoder` (its network on ``device``) with its training log.
    """
    if standardizer is None:
        if train_features.ndim != 2 or len(train_features) == 0:
            raise ValueError(f"train_features must be a non-empty [N, D] tensor; got {tuple(train_features.shape)}. "
                             "Is the task's training split empty?")
        standardizer = FeatureStandardizer.fit(train_features)
    vals = None if val_features is None else {"task": val_features}
    return train_autoencoders({"task": train_features}, vals, standardizer=standardizer, seeds={"task": seed},
                              **options)["task"]


@timing.phase("autoencoder training")
def train_autoencoders(train_features: dict[str, torch.Tensor], val_features: dict[str, torch.Tensor] | None = None,
                       *, standardizer: FeatureStandardizer, seeds: dict[str, int] | None = None,
                       hidden_size: int = 100, epochs: int = 25, batch_size: int = 12, lr: float = 1e-2,
                       weight_decay: float = 5e-4, init: str = "uniform", device: str | torch.device = "auto",
                       stack_bytes: int = 1 << 30, snapshot_epochs: Sequence[int] = ()) -> dict[str, TaskAutoencoder]:
    """Train several tasks' autoencoders together, each on its own data as if alone.

    Tasks with the same number of training samples are stacked into one batched model: every step
    takes each task's own mini-batch (its own seeded order), computes each task's own loss, and
    updates each task's own weights and Adagrad state -- the same updates as training the task
    alone (up to float rounding), with one batched matrix product per layer instead of a Python
    loop over tasks.

    Args:
        train_features: ``{task: [N_t, D]}`` raw backbone features of each task's training images.
        val_features: optional ``{task: [M_t, D]}``; each task's mean error is logged per epoch.
        standardizer: the gate's fixed preprocessing, shared by every autoencoder.
        seeds: ``{task: seed}`` (initialisation and batch order); default: 0, 1, 2, ... in order.
        hidden_size, epochs, batch_size, lr, weight_decay: the paper code's settings by default
            (100 hidden units; Adagrad 1e-2; decay 5e-4 on weights, not biases; batch 12).
        init: ``"uniform"`` (PyTorch's default) or ``"sparse"`` (the authors' code).
        device: where training runs.
        stack_bytes: bound on the stacked training features ``[K, N, D]`` held at once.
        snapshot_epochs: epochs (0 to ``epochs``) after which each network's state is kept in
            ``log.snapshots`` (:meth:`TaskAutoencoder.at_epoch`); training is the same without them.

    Returns:
        ``{task: TaskAutoencoder}`` in the order of ``train_features``.
    """
    if hidden_size < 1 or epochs < 1 or batch_size < 1:
        raise ValueError("hidden_size, epochs and batch_size must all be positive.")
    if init not in INITS:
        raise ValueError(f"Unknown init {init!r}; use one of {INITS}.")
    snapshot_epochs = sorted(set(int(e) for e in snapshot_epochs))
    if snapshot_epochs and not 0 <= snapshot_epochs[0] <= snapshot_epochs[-1] <= epochs:
        raise ValueError(f"snapshot_epochs must lie in 0..{epochs} (the epochs trained); got {snapshot_epochs}.")
    if not train_features:
        raise ValueError("No task to train an autoencoder for.")
    for name, features in train_features.items():
        if features.ndim != 2 or len(features) == 0:
            raise ValueError(f"train_features of {name!r} must be a non-empty [N, D] tensor; got "
                             f"{tuple(features.shape)}. Is the task's training split empty?")
        standardizer.check(features)
        if val_features is not None and name in val_features:
            standardizer.check(val_features[name])
    device = resolve_device(device)
    seeds = seeds or {name: index for index, name in enumerate(train_features)}
    settings = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay,
                "snapshot_epochs": tuple(snapshot_epochs)}
    # a watched call (validation log or snapshots asked for) is read back only by the same watched
    # call (its logs and snapshots are stored with it); what it trains serves unwatched calls too
    watched = val_features is not None or bool(snapshot_epochs)
    trained: dict[str, TaskAutoencoder] = {}
    by_size: dict[int, list[str]] = {}
    for name, features in train_features.items():
        by_size.setdefault(len(features), []).append(name)
    for size, names in by_size.items():
        per_stack = max(1, stack_bytes // (size * standardizer.dim * 4))
        for first in range(0, len(names), per_stack):
            group = names[first:first + per_stack]
            # every network is made, trained or read back: a stored stack is loaded into them (each
            # network reseeds torch's global generator, so a hit leaves it where training would)
            networks, after_init = {}, {}
            for name in group:
                networks[name] = _new_network(standardizer.dim, hidden_size, init, seeds[name])
                after_init[name] = torch.get_rng_state()  # where training this task alone leaves the generator
            key_of = functools.partial(_stack_key, train_features=train_features, standardizer=standardizer, seeds=seeds,
                                       hidden_size=hidden_size, init=init, device=device, settings=settings)
            key = key_of(group)
            lookup = _watched_key(key, [None if val_features is None else val_features.get(name) for name in group],
                                  settings["snapshot_epochs"]) if watched else key
            stored = None if lookup is None else reuse.load(lookup)
            if stored is not None:
                trained.update(_from_stored(stored, networks, standardizer, device))
                continue
            began = time.perf_counter()
            autoencoders = {name: TaskAutoencoder(network=networks[name][0].to(device), standardizer=standardizer)
                            for name in group}
            _train_stacked(autoencoders, [networks[name][1] for name in group],
                           [train_features[name] for name in group],
                           [None if val_features is None else val_features.get(name) for name in group],
                           device, **settings)
            trained.update(autoencoders)
            seconds = time.perf_counter() - began
            _store(key, list(autoencoders.values()), seconds)
            if watched:
                _store(lookup, list(autoencoders.values()), seconds, with_logs=True, epochs=epochs)
            # each task also under the key of training it alone, when the stack gave it those very bits
            # (03 and the learner train tasks one at a time; 01 trains the same tasks as one stack)
            if len(group) > 1 and reuse.enabled() and _stacking_is_exact(len(group), size, standardizer.dim, hidden_size, batch_size, lr,
                                                     weight_decay, device):
                for name in group:
                    _store(key_of([name]), [autoencoders[name]], seconds / len(group), after_init[name])
    return {name: trained[name] for name in train_features}


def _store(key: str | None, autoencoders: list[TaskAutoencoder], seconds: float,
           rng_state: torch.Tensor | None = None, with_logs: bool = False, epochs: int = 0) -> None:
    """Store a stack's trained networks and training losses under ``key`` (by position in the
    stack, so any names may read them back), ``with_logs`` also their validation errors and
    snapshots (a snapshot after the last of ``epochs`` is the final network: stored once); nothing
    when ``key`` is ``None`` (or when it all exceeds :data:`eglib.reuse.MAX_BYTES`: the call then
    trains the next time)."""
    if key is None:
        return
    state = {f"{index}/{k}": v for index, ae in enumerate(autoencoders) for k, v in ae.network.state_dict().items()}
    extra: dict = {"train_loss": [ae.log.train_loss for ae in autoencoders]}
    if with_logs:
        state.update({f"{index}/{SNAPSHOT}{epoch}/{k}": v for index, ae in enumerate(autoencoders)
                      for epoch, snapshot in ae.log.snapshots.items() if epoch != epochs for k, v in snapshot.items()})
        extra["val_error"] = [ae.log.val_error for ae in autoencoders]
        extra["final_snapshot"] = epochs if any(epochs in ae.log.snapshots for ae in autoencoders) else None
    reuse.store(key, state, extra, seconds, rng_state=rng_state)


SNAPSHOT = "snapshot after epoch "  # how a stored entry names a snapshot's tensors


def _watched_key(key: str | None, val_features: list[torch.Tensor | None], snapshot_epochs: tuple[int, ...]) -> str | None:
    """The key of a watched call's stack: the stack's own ``key`` with what was watched (each
    task's validation features, the snapshot epochs), or ``None`` when ``key`` is."""
    return None if key is None else reuse.fingerprint("train_autoencoders watched stack", key, val_features,
                                                      snapshot_epochs)


def _stack_key(group: list[str], *, train_features: dict[str, torch.Tensor], standardizer: FeatureStandardizer,
               seeds: dict[str, int], hidden_size: int, init: str, device: torch.device, settings: dict) -> str | None:
    """The key under which one stack's trained autoencoders are stored in ``<run>/reuse``, or ``None``
    (reuse off, or too large to store).

    A stack is trained as one computation, and its result depends only on its own tasks' features
    and seeds (in order), the shared preprocessing, the settings and this code -- not on the other
    stacks of the call. So a call that stacks the same tasks again reads them back, whatever else
    it trains: ``02``'s gate is ``01``'s, and ``04``'s gate over the domains and their halves reads
    the domains' stack from ``01``. A stack whose tasks get the bits they would get alone
    (:func:`_stacking_is_exact`) is also stored task by task under the key of each task's own
    stack of one: ``03`` and ``05``'s learner, which train one task at a time, read ``01``'s.
    """
    if not reuse.enabled() or len(group) * 2 * standardizer.dim * hidden_size * 4 > reuse.MAX_BYTES:
        return None
    return reuse.fingerprint("train_autoencoders stack", _code_digest(), device.type, standardizer.state_dict(),
                             [(train_features[name], seeds[name]) for name in group], hidden_size, init,
                             {k: v for k, v in settings.items() if k != "snapshot_epochs"})


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """This module's, eglib.optim's and the standardizer's code: changed training code is a new reuse key."""
    return reuse.source_digest(Path(__file__), Path(optim.__file__), Path(standardizer_module.__file__))


def _from_stored(stored: tuple[dict[str, torch.Tensor], dict], networks: dict[str, tuple[GateAutoencoder, torch.Generator]],
                 standardizer: FeatureStandardizer, device: torch.device) -> dict[str, TaskAutoencoder]:
    """One stack's autoencoders as an earlier call of this run trained them (:mod:`eglib.reuse`),
    loaded into the freshly made ``networks``."""
    state, extra = stored
    autoencoders = {}
    for index, (name, (network, _)) in enumerate(networks.items()):
        prefix = f"{index}/"
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        snapshots: dict[int, dict[str, torch.Tensor]] = {}
        for entry in [k for k in own if k.startswith(SNAPSHOT)]:
            epoch, _, tensor_name = entry[len(SNAPSHOT):].partition("/")
            snapshots.setdefault(int(epoch), {})[tensor_name] = own.pop(entry)
        network.load_state_dict(own)
        if extra.get("final_snapshot") is not None:  # stored once, as the final network
            snapshots[int(extra["final_snapshot"])] = {k: v.clone() for k, v in own.items()}
        log = TrainingLog(train_loss=list(extra["train_loss"][index]),
                          val_error=list(extra["val_error"][index]) if "val_error" in extra else [],
                          snapshots=dict(sorted(snapshots.items())))
        autoencoders[name] = TaskAutoencoder(network=network.to(device).eval(), standardizer=standardizer, log=log)
    return autoencoders


def _losses(w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """Each of ``K`` stacked autoencoders' mean binary cross-entropy on its own standardised batch:
    weights ``w1 [K, D, h]``, ``b1 [K, h]``, ``w2 [K, h, D]``, ``b2 [K, D]``, batch ``[K, B, D]`` -> ``[K]``.

    On the CPU a task alone (``K = 1``) takes its first product as one slice of a stack of two (the
    same slice twice, a stride-0 view): on several threads a lone product of a small batch may split
    its long reduction (over ``D``) between threads, where a batched one gives each thread whole
    slices, so a task alone would round otherwise than the same task in a stack (seen on a Xeon on
    2 threads, ``D = 1280, h = 100``, batch 12: of a step's products only this one differed). The
    backward pass's product over ``D`` (the hidden layer's gradient) stays lone; :func:`_stacking_is_exact`
    checks the whole step on every machine, so a CPU that splits that one too is still found out.
    The pair costs a task alone about 1.2x its training time on the CPU (its first product, forward
    and backward, is computed twice: 50 epochs of the mini base set's autoencoder 2.57-2.97 s against
    2.16-2.35 s, 2026-12-06, a Xeon); 03 pays it once, for the base set's autoencoder."""
    if len(batch) == 1 and batch.device.type == "cpu":
        pair = (t.expand(2, *t.shape[1:]) for t in (b1.unsqueeze(1), batch, w1))
        hidden = torch.baddbmm(*pair)[:1].relu_()
    else:
        hidden = torch.baddbmm(b1.unsqueeze(1), batch, w1).relu_()
    logits = torch.baddbmm(b2.unsqueeze(1), hidden, w2)
    return F.binary_cross_entropy_with_logits(logits, batch, reduction="none").mean(dim=(1, 2))


class _Stack:
    """``K`` autoencoders' weights stacked ``[K, ...]`` with their Adagrad state, and one training
    step for all of them (used by :func:`_train_stacked` and by the probe :func:`_stacking_is_exact`).

    Weights are stored transposed, ``w1 [K, D, h]`` and ``w2 [K, h, D]``, so that neither direction
    of a product transposes them. ``torch.optim.Adagrad`` (no lr decay, eps 1e-10; weight decay on
    weights only): its state is per element, so each task keeps its own.
    """

    def __init__(self, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor, *,
                 lr: float, weight_decay: float) -> None:
        self.w1, self.b1, self.w2, self.b2 = (t.detach().contiguous().clone().requires_grad_() for t in (w1, b1, w2, b2))
        self.optimizer = optim.adagrad([{"params": [self.w1, self.w2], "weight_decay": weight_decay},
                                        {"params": [self.b1, self.b2], "weight_decay": 0.0}], lr=lr)

    @property
    def weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(w1 [K, D, h], b1 [K, h], w2 [K, h, D], b2 [K, D])``."""
        return self.w1, self.b1, self.w2, self.b2

    def losses(self, batch: torch.Tensor) -> torch.Tensor:
        """Each task's mean binary cross-entropy on its own batch: ``[K, B, D]`` -> ``[K]``."""
        return _losses(*self.weights, batch)

    @torch.no_grad()
    def losses_each(self, z: torch.Tensor) -> torch.Tensor:
        """Each task's mean loss on its whole set, ``[K, N, D]`` -> ``[K]``, one task at a time on
        fresh copies: a reduction over a whole set may be split across threads otherwise in a stack
        than alone, so each task's is computed as when the task trains alone."""
        return torch.cat([_losses(*(t[k:k + 1].clone() for t in self.weights), z[k:k + 1].clone())
                          for k in range(len(z))])

    def step(self, batch: torch.Tensor) -> torch.Tensor:
        """One update of every task on its own batch ``[K, B, D]``; returns the losses ``[K]`` (detached)."""
        losses = self.losses(batch)
        descend(self.optimizer, losses.sum())  # task k's gradient is that of its own loss
        return losses.detach()


@functools.lru_cache(maxsize=64)
def _probe(count: int, samples: int, dim: int, hidden_size: int, batch_size: int, lr: float, weight_decay: float,
           device: str, numerics: tuple) -> bool:
    """Train a random stack of ``count`` tasks (weights ``[count, dim, hidden_size]`` ...) and each
    of its tasks alone for three steps -- a full batch, the last batch of ``samples`` (its size),
    a full batch again (with Adagrad state) -- and say whether every loss and weight is the same
    bit for bit. ``numerics`` (threads and precision settings) only keys the cache."""
    generator = torch.Generator().manual_seed(0)  # its own generator: the probe draws nothing from torch's global one

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator).to(device)

    w1, b1, w2, b2 = rand(count, dim, hidden_size) - 0.5, rand(count, hidden_size), rand(count, hidden_size, dim) - 0.5, rand(count, dim)
    stack = _Stack(w1, b1, w2, b2, lr=lr, weight_decay=weight_decay)
    alone = [_Stack(w1[k:k + 1], b1[k:k + 1], w2[k:k + 1], b2[k:k + 1], lr=lr, weight_decay=weight_decay)
             for k in range(count)]
    last = samples % batch_size or batch_size
    for size in (min(batch_size, samples), last, min(batch_size, samples)):
        batch = rand(count, size, dim)
        stacked_losses = stack.step(batch)
        for k, single in enumerate(alone):  # a task alone trains on a batch of its own (fresh memory)
            if not torch.equal(single.step(batch[k:k + 1].clone()), stacked_losses[k:k + 1]):
                return False
    return all(torch.equal(mine, stacked[k:k + 1])
               for k, single in enumerate(alone) for mine, stacked in zip(single.weights, stack.weights))


def _numerics(device: torch.device) -> tuple:
    """What besides the shapes decides how products round: :func:`eglib.reuse.numerics` and the GPU's name."""
    return (*reuse.numerics(), torch.cuda.get_device_name(device) if device.type == "cuda" else "")


def _stacking_is_exact(count: int, samples: int, dim: int, hidden_size: int, batch_size: int, lr: float,
                       weight_decay: float, device: torch.device) -> bool:
    """Whether a stack of ``count`` tasks with ``samples`` training samples each trains every task
    to the very bits it gets alone, on this machine, device and thread count.

    A batched matrix product may round a task's slice otherwise than the product of that slice
    alone (on 2 threads MKL does for some shapes, e.g. ``D = 256, h = 100`` with a last batch of
    10). Which happens depends on the shapes, the threads and the precision settings, not on the
    values, so a probe decides it (:func:`_probe`); cached per shape and settings. (The loss over
    a whole set, logged before the first epoch, is computed task by task in any case:
    :meth:`_Stack.losses_each`.)
    """
    return _probe(count, samples, dim, hidden_size, batch_size, float(lr), float(weight_decay), str(device),
                  _numerics(device))


def _train_stacked(autoencoders: dict[str, TaskAutoencoder], generators: list[torch.Generator],
                   train: list[torch.Tensor], val: list[torch.Tensor | None], device: torch.device, *,
                   epochs: int, batch_size: int, lr: float, weight_decay: float,
                   snapshot_epochs: tuple[int, ...] = ()) -> None:
    """Train ``K`` autoencoders with ``N`` training samples each, stacked (:class:`_Stack`)."""
    models = list(autoencoders.values())
    standardizer = models[0].standardizer
    z = torch.stack([standardizer(features.to(device)) for features in train])                # [K, N, D]
    layers = [(m.network.encoder, m.network.decoder) for m in models]
    stack = _Stack(*(torch.stack([layer[i].weight.detach().T for layer in layers]) if kind == "weight"
                     else torch.stack([layer[i].bias.detach() for layer in layers])
                     for i in (0, 1) for kind in ("weight", "bias")), lr=lr, weight_decay=weight_decay)
    w1, b1, w2, b2 = stack.weights                                                            # [K,D,h] [K,h] [K,h,D] [K,D]

    def write_back() -> None:
        with torch.no_grad():
            for k, (encoder, decoder) in enumerate(layers):
                for module, weight, bias in ((encoder, w1, b1), (decoder, w2, b2)):
                    module.weight.copy_(weight[k].T)
                    module.bias.copy_(bias[k])

    def log_val() -> None:
        for model, features in zip(models, val):
            if features is not None:
                model.log.val_error.append(model.mean_error(features.to(device)))

    def snapshot(epoch: int) -> None:
        if epoch in snapshot_epochs:
            write_back()
            for model in models:
                model.log.snapshots[epoch] = {k: v.detach().cpu().clone() for k, v in model.network.state_dict().items()}

    with torch.no_grad():
        for model, loss in zip(models, stack.losses_each(z).tolist()):
            model.log.train_loss.append(loss)
    log_val()
    snapshot(0)
    rows = torch.arange(len(models), device=device).unsqueeze(1)
    for epoch in progress(range(1, epochs + 1), f"autoencoders of {len(models)} task(s)"):
        orders = torch.stack([torch.randperm(z.shape[1], generator=g) for g in generators]).to(device)  # [K, N]
        totals = torch.zeros(len(models), dtype=torch.float64)
        for start in range(0, z.shape[1], batch_size):
            batch = z[rows, orders[:, start:start + batch_size]]                               # [K, B, D]
            totals += stack.step(batch).cpu().double() * batch.shape[1]
        for model, total in zip(models, totals.tolist()):
            model.log.train_loss.append(total / z.shape[1])
        if any(features is not None for features in val):
            write_back()
            log_val()
        snapshot(epoch)
    write_back()
    for model in models:
        model.network.eval()
