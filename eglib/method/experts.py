"""Experts: fine-tuning and Learning without Forgetting from a source expert (notebooks 04-05).

Paper profile: an expert is the whole ImageNet AlexNet (every layer trained) with a new last
layer for its task; its input is the normalised 227 px image (``[N, 3, 227, 227]``).

Mini profile: an expert is the *upper part* of the pretrained MobileNetV2 (blocks 17 and 18,
trainable, about 0.9 M weights) plus a linear head for its task. Its input is the frozen
activation of block 16 at the backbone's cut point (``[N, 160, 3, 3]`` at 96 px), extracted once and cached, so an expert
trains in seconds on a CPU. Batch-norm statistics stay frozen (small tasks).

Two ways to train a new expert from a source expert (the base model or an earlier task's):

* :func:`finetune` -- copy the source's upper part, put a new head on it, train on the new task;
* :func:`learn_without_forgetting` -- the same copy, but the source's head is kept as an old head:
  warm up the new head with the shared part frozen, then train everything on
  ``CE(new task) + lambda * KD(old head, source's outputs; T = 2)``, where the source's outputs on
  the new task's images are recorded before training (Li & Hoiem's recipe).

The source expert is never modified: both functions work on deep copies. Both are
:func:`reusable`: a training that already ran in this run folder with the same source, data and
settings is read back instead of repeated (:mod:`eglib.reuse`).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from eglib import optim, reuse, timing
from eglib.progress import progress
from eglib.config import BASE, resolve_device
from eglib.optim import descend
from eglib.features import backbones



class Expert(nn.Module):
    """Trainable backbone body + one head per task it answers: inputs ``[N, C, h, w]`` -> logits.

    The input is the expert input of :func:`eglib.features.extract_layers`: the activation map at
    the cut point (mini profile) or the image (paper profile; see
    :func:`eglib.features.backbones.expert_parts`).
    """

    def __init__(self, upper: nn.Module, feature_dim: int, heads: dict[str, int]) -> None:
        super().__init__()
        # channels-last convolution weights (and inputs, in :meth:`features`): oneDNN's fastest
        # layout on CPU (1.4x for a mini expert's training step), and a supported one on GPU
        self.upper = upper.to(memory_format=torch.channels_last)
        self.heads = nn.ModuleDict({name: nn.Linear(feature_dim, classes) for name, classes in heads.items()})

    def features(self, activations: torch.Tensor) -> torch.Tensor:
        """Expert input ``[N, C, h, w]`` -> ``[N, feature_dim]``: the body's output, averaged over
        space when it is a map (mini experts) or as it is (the whole AlexNet's fc7)."""
        out = self.upper(activations.contiguous(memory_format=torch.channels_last))
        return out.mean(dim=(2, 3)) if out.ndim == 4 else out

    def forward(self, activations: torch.Tensor, head: str) -> torch.Tensor:
        """Logits ``[N, classes]`` of task ``head``."""
        return self.heads[head](self.features(activations))

    def deployed_parameters(self, heads: list[str]) -> int:
        """Weights needed at test time to answer ``heads``: the body and those heads."""
        return sum(p.numel() for p in self.upper.parameters()) + sum(
            p.numel() for head in heads for p in self.heads[head].parameters())

    def train(self, mode: bool = True) -> "Expert":
        """Like ``nn.Module.train`` but batch-norm layers always stay in eval mode (frozen statistics)."""
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


def base_expert(backbone: str = "mobilenet_v2", allow_random: bool = False) -> Expert:
    """The base model as an expert: the pretrained body (:func:`eglib.features.backbones.expert_parts`) and
    ImageNet's own 1000-way head (head name :data:`eglib.config.BASE`), with verified weights.

    ``allow_random=True`` builds the same architecture untrained, for tests of shapes and training
    mechanics only (never a stand-in for the pretrained model).
    """
    model, _ = backbones.load_pretrained_model(backbone, allow_random=allow_random)
    body, imagenet_head = backbones.expert_parts(model, backbone)
    expert = Expert(copy.deepcopy(body), imagenet_head.in_features, {BASE: imagenet_head.out_features})
    expert.heads[BASE].load_state_dict(imagenet_head.state_dict())
    return expert.eval()


@dataclass
class TrainingLog:
    """Per-epoch means of the new-task loss and (LwF only) the distillation term."""

    task_loss: list[float] = field(default_factory=list)
    distillation: list[float] = field(default_factory=list)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 2.0) -> torch.Tensor:
    """Knowledge-distillation term: the KL divergence KL(teacher || student) of the
    temperature-softened distributions (logits ``[N, K]`` each), averaged over the N samples and
    scaled by ``T^2`` so its gradient size does not depend on T.

    Its gradient is the one of LwF's cross-entropy against the soft targets (the two differ by the
    targets' entropy, a constant); unlike that cross-entropy, its value is 0 exactly when the
    student answers as the teacher does, so a logged value reads as a distance.
    """
    teacher = F.softmax(teacher_logits / temperature, dim=1)
    student = F.log_softmax(student_logits / temperature, dim=1)
    return (torch.xlogy(teacher, teacher) - teacher * student).sum(dim=1).mean() * temperature ** 2


def _new_expert_from(source: Expert, task: str, classes: int, keep_heads: list[str], seed: int) -> Expert:
    """Deep copy of ``source`` with only ``keep_heads`` and a fresh head for ``task``."""
    if task in source.heads:
        raise ValueError(f"The source expert already has a head called {task!r}; name the new task differently.")
    if classes < 2:
        raise ValueError(f"Task {task!r} has {classes} class(es); a classification expert needs at least 2.")
    expert = copy.deepcopy(source)
    expert.heads = nn.ModuleDict({name: expert.heads[name] for name in keep_heads})
    feature_dim = next(iter(source.heads.values())).in_features
    torch.manual_seed(seed)
    expert.heads[task] = nn.Linear(feature_dim, classes)
    return expert


def _batches(count: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator)
    return [order[start:start + batch_size] for start in range(0, count, batch_size)]


def flip_half(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images ``[n, 3, H, W]`` left-right (training augmentation)."""
    mask = (torch.rand(len(x), generator=generator) < 0.5).to(x.device)
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(-1), x)


def _check_data(activations: torch.Tensor, labels: torch.Tensor) -> None:
    if len(activations) == 0 or len(activations) != len(labels):
        raise ValueError(f"Need as many labels as activations, and at least one; got {len(activations)} "
                         f"activations and {len(labels)} labels.")


Trainer = Callable[..., tuple[Expert, TrainingLog]]


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """This module's and eglib.optim's code, and torchvision's version (the bodies' forward code)."""
    return reuse.source_digest(Path(__file__), Path(optim.__file__)) + torchvision.__version__


def reusable(train: Trainer) -> Trainer:
    """Let ``train`` (:func:`finetune` or :func:`learn_without_forgetting`) return the expert that
    the same training already made earlier in this run, read from ``<run>/reuse`` (:mod:`eglib.reuse`).

    The key covers the source expert's weights, the data, every setting (defaults included), the
    device type and this module's code; a call with ``on_epoch`` always trains (it wants to watch).
    """
    signature = inspect.signature(train)

    @functools.wraps(train)
    def trained(*args, **kwargs) -> tuple[Expert, TrainingLog]:
        arguments = signature.bind(*args, **kwargs)
        arguments.apply_defaults()
        settings = dict(arguments.arguments)
        if settings.pop("on_epoch") is not None or not reuse.enabled():
            return train(*args, **kwargs)
        source, device = settings.pop("source"), resolve_device(settings.pop("device"))
        if not reuse.keeps(source.state_dict()):
            return train(*args, **kwargs)  # too big to keep (whole AlexNets): not worth hashing
        key = reuse.fingerprint(train.__name__, _code_digest(), device.type, source, settings)

        def trained_now() -> tuple[Expert, dict]:
            expert, log = train(*args, **kwargs)
            return expert, {"log": dataclasses.asdict(log)}

        expert, extra = reuse.remembered(key, trained_now, lambda: _new_expert_from(
            source, settings["task"], settings["classes"], list(source.heads), settings["seed"]))
        return expert.to(device).eval(), TrainingLog(**extra["log"])

    return trained


@reusable
@timing.phase("expert training")
def finetune(source: Expert, task: str, activations: torch.Tensor, labels: torch.Tensor, classes: int, *,
             epochs: int = 10, lr: float = 1e-3, batch_size: int = 32, seed: int = 0, flip: bool = False,
             device: str | torch.device = "auto",
             on_epoch: Callable[[Expert], None] | None = None) -> tuple[Expert, TrainingLog]:
    """Fine-tune a copy of ``source`` with a new head on ``activations [N, C, h, w]``, ``labels [N]``.

    The copy keeps the source's heads (unused by the loss) so that forgetting can be measured.
    ``flip`` mirrors a random half of every batch (for image inputs, i.e. the paper profile).
    ``on_epoch(expert)`` is called after every epoch (e.g. to record a validation curve); it may
    switch the expert to eval mode, and must not train it.
    """
    _check_data(activations, labels)
    device = resolve_device(device)
    expert = _new_expert_from(source, task, classes, list(source.heads), seed).to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = optim.adam([p for name, p in expert.named_parameters() if not name.startswith("heads.")
                                  or name.startswith(f"heads.{task}.")], lr=lr)
    log = TrainingLog()
    x, y = activations.to(device), labels.to(device)
    for _ in progress(range(epochs), f"expert {task} (FT)"):
        expert.train()
        total = 0.0
        for batch in _batches(len(x), batch_size, generator):
            xb = flip_half(x[batch], generator) if flip else x[batch]
            total += descend(optimizer, F.cross_entropy(expert(xb, task), y[batch])) * len(batch)
        log.task_loss.append(total / len(x))
        if on_epoch is not None:
            on_epoch(expert.eval())
    return expert.eval(), log


@reusable
@timing.phase("expert training")
def learn_without_forgetting(source: Expert, task: str, activations: torch.Tensor, labels: torch.Tensor,
                             classes: int, *, epochs: int = 10, warmup_epochs: int = 3, lr: float = 1e-3,
                             batch_size: int = 32, distill_weight: float = 1.0, temperature: float = 2.0,
                             seed: int = 0, flip: bool = False, device: str | torch.device = "auto",
                             on_epoch: Callable[[Expert], None] | None = None) -> tuple[Expert, TrainingLog]:
    """Train a new expert for ``task`` from ``source`` with Learning without Forgetting.

    Args:
        source: the most related expert; its heads are the old tasks whose outputs are preserved.
        activations, labels: the new task's expert inputs ``[N, C, h, w]`` and labels ``[N]``.
        warmup_epochs: epochs training only the new head (shared part and old heads frozen).
        distill_weight: lambda of the distillation term (LwF's code: 1).
        temperature: distillation temperature (LwF's code: 2).
        flip: mirror a random half of every batch (image inputs); the source's outputs are then
            computed on the mirrored images themselves, batch by batch.
        on_epoch: called with the expert after every epoch of the joint phase, as in :func:`finetune`.

    Raises:
        ValueError: when the source has no head to distil from (LwF would silently be fine-tuning).
    """
    _check_data(activations, labels)
    if not source.heads:
        raise ValueError("The source expert has no head: LwF needs the source's outputs as soft targets.")
    device = resolve_device(device)
    old_heads = list(source.heads)
    expert = _new_expert_from(source, task, classes, old_heads, seed).to(device)
    x, y = activations.to(device), labels.to(device)
    teacher = source.to(device).eval()
    soft_targets = {}
    if not flip:
        with torch.no_grad():  # the source's answers on the new task's images, recorded once, before training
            soft_targets = {head: teacher(x, head) for head in old_heads}
    generator = torch.Generator().manual_seed(seed)
    log = TrainingLog()

    warmup = optim.adam(expert.heads[task].parameters(), lr=lr)
    for _ in range(warmup_epochs):
        expert.train()
        for batch in _batches(len(x), batch_size, generator):
            with torch.no_grad():
                shared = expert.features(flip_half(x[batch], generator) if flip else x[batch])
            descend(warmup, F.cross_entropy(expert.heads[task](shared), y[batch]))

    optimizer = optim.adam(expert.parameters(), lr=lr)
    for _ in progress(range(epochs), f"expert {task} (LwF)"):
        expert.train()
        task_total, distill_total = 0.0, 0.0
        for batch in _batches(len(x), batch_size, generator):
            xb = flip_half(x[batch], generator) if flip else x[batch]
            if flip:
                with torch.no_grad():
                    shared_teacher = teacher.features(xb)  # once per batch, shared by the old heads
                    targets = {head: teacher.heads[head](shared_teacher) for head in old_heads}
            else:
                targets = {head: soft_targets[head][batch] for head in old_heads}
            shared = expert.features(xb)
            task_loss = F.cross_entropy(expert.heads[task](shared), y[batch])
            distill = sum(distillation_loss(expert.heads[head](shared), targets[head], temperature)
                          for head in old_heads)
            descend(optimizer, task_loss + distill_weight * distill)
            task_total += float(task_loss.detach()) * len(batch)
            distill_total += float(distill.detach()) * len(batch)
        log.task_loss.append(task_total / len(x))
        log.distillation.append(distill_total / len(x))
        if on_epoch is not None:
            on_epoch(expert.eval())
    return expert.eval(), log


@timing.phase("evaluation")
@torch.no_grad()
def logits(expert: Expert, head: str, activations: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Logits ``[N, classes]`` of ``head`` on ``activations [N, C, h, w]``, on the expert's device,
    computed ``batch_size`` samples at a time (a whole test set of 227 px images at once would
    hold every AlexNet activation in memory)."""
    device = next(expert.parameters()).device
    return torch.cat([expert(activations[start:start + batch_size].to(device), head)
                      for start in range(0, len(activations), batch_size)])


@torch.no_grad()
def accuracy(expert: Expert, head: str, activations: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of ``labels [N]`` that head ``head`` predicts from ``activations [N, C, h, w]``."""
    expert.eval()
    return float((logits(expert, head, activations).argmax(1).cpu() == labels.cpu()).float().mean())


@torch.no_grad()
def answer_drift(model: Expert, source: Expert, activations: torch.Tensor, temperature: float = 2.0,
                 batch_size: int = 256) -> float:
    """How far ``model``'s answers for the source's tasks moved from ``source``'s own, on
    ``activations [N, C, h, w]``: the KL divergence KL(source || model) of the temperature-softened
    outputs, times ``T^2`` as in distillation, averaged over the samples and summed over the
    source's heads. 0 for a model whose answers did not move.

    A model without one of the source's heads is read through the source's head on the model's
    own shared layers (what the old task would get from the new body).
    """
    model.eval()
    source.eval()
    device = next(model.parameters()).device
    total = 0.0
    for head in source.heads:
        student_head = model.heads[head] if head in model.heads else source.heads[head].to(device)
        divergence = 0.0
        for start in range(0, len(activations), batch_size):
            x = activations[start:start + batch_size]
            student = F.log_softmax(student_head(model.features(x.to(device))) / temperature, dim=1)
            teacher = F.log_softmax(logits(source, head, x) / temperature, dim=1).to(device)
            divergence += float((teacher.exp() * (teacher - student)).sum())
        total += divergence / len(activations) * temperature ** 2
    return total
