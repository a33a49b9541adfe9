"""Character-level language models: the text experts of notebook ``07_text_domains``.

A :class:`CharLM` predicts each character from the ``context`` characters before it: an embedding
per character, one causal convolution over the window (``context`` wide), a pointwise layer, and a
linear *head* that gives the next character's logits. The trunk (embedding and the two layers) is
shared by all heads; a model has one head per task it answers for, as the image experts do
(:mod:`eglib.method.experts`). Every position of a sequence is predicted in one pass, so training
is a few matrix products per batch and a model trains on a CPU in seconds.

Experts are trained from an earlier expert, as Expert Gate trains its image experts
(:func:`train_expert`): by **fine-tuning** (copy the source, train every weight on the new domain)
or by **Learning without Forgetting** (Li & Hoiem 2016: also keep the source's head and distil, on
the new domain's text, its next-character distribution from the frozen source; Hinton et al.'s
temperature 2). Scores are bits per character (:func:`bits_per_character`).

Characters: the 95 printable ASCII characters and the newline are the vocabulary; any other
character is one shared symbol (:data:`OTHER`), predicted and scored like the rest.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from eglib import reuse

VOCABULARY = "\n" + "".join(chr(code) for code in range(32, 127))
OTHER = len(VOCABULARY)            # every character outside the vocabulary
SYMBOLS = OTHER + 1                # the next-character classes
START = SYMBOLS                    # input-only symbol before the first character of a sequence
_INDEX = {character: index for index, character in enumerate(VOCABULARY)}


def encode(texts: list[str]) -> torch.Tensor:
    """Texts of one length ``T`` -> character ids ``[N, T]`` (long; :data:`OTHER` outside the vocabulary)."""
    if isinstance(texts, str):
        raise TypeError("encode takes a list of texts; wrap a single text in a list.")
    lengths = {len(text) for text in texts}
    if len(lengths) > 1:
        raise ValueError(f"All texts must have one length to be batched; got lengths {sorted(lengths)[:5]}. "
                         "Cut them with eglib.text.corpora.sequences.")
    return torch.tensor([[_INDEX.get(character, OTHER) for character in text] for text in texts], dtype=torch.long)


def decode(ids: torch.Tensor) -> str:
    """Ids ``[T]`` -> text (:data:`OTHER` shown as a middle dot)."""
    return "".join(VOCABULARY[i] if i < OTHER else "·" for i in ids.tolist())


class CharLM(nn.Module):
    """Next-character model over a window of ``context`` characters, with one head per task.

    Args:
        heads: the names of the tasks it predicts for (each gets a ``Linear(hidden, SYMBOLS)``).
        context: characters of left context each prediction sees.
        embedding, hidden: widths of the character embedding and of the two hidden layers.
    """

    def __init__(self, heads: tuple[str, ...] = ("task",), context: int = 8, embedding: int = 16,
                 hidden: int = 96) -> None:
        super().__init__()
        if context < 1:
            raise ValueError(f"context must be at least 1; got {context}.")
        self.context = context
        self.embed = nn.Embedding(SYMBOLS + 1, embedding)
        self.window = nn.Conv1d(embedding, hidden, context)
        self.mix = nn.Linear(hidden, hidden)
        self.heads = nn.ModuleDict({name: nn.Linear(hidden, SYMBOLS) for name in heads})

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids ``[N, T]`` -> hidden features ``[N, T, hidden]``; position ``t`` sees characters ``< t`` only."""
        padded = F.pad(ids, (self.context, 0), value=START)[:, :-1]                   # [N, context - 1 + T]
        x = self.embed(padded).transpose(1, 2)                                       # [N, E, context - 1 + T]
        x = F.gelu(self.window(x)).transpose(1, 2)                                   # [N, T, hidden]
        return F.gelu(self.mix(x))

    def forward(self, ids: torch.Tensor, head: str) -> torch.Tensor:
        """Ids ``[N, T]`` -> next-character logits ``[N, T, SYMBOLS]`` of ``head``."""
        if head not in self.heads:
            raise KeyError(f"This model has no head {head!r}; its heads are {list(self.heads)}.")
        return self.heads[head](self.features(ids))


@dataclass
class TrainingLog:
    """Training loss (bits per character of the task's head) every ``log_every`` steps, and the seconds taken."""

    loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    method: str = "scratch"
    source: str | None = None


@dataclass
class TrainingOptions:
    """How a text expert is trained: Adam, random batches of whole sequences, a fixed number of steps.

    The defaults are the best of a few settings of equal cost measured on the mini text domains
    (more steps on smaller batches beat fewer on larger ones: 200 steps of 8 sequences gave 2.97 bits
    per character in 1.3 s, 150 steps of 16 gave 3.07 in 2.4 s).
    """

    steps: int = 200
    batch_size: int = 8
    lr: float = 5e-3
    distillation_weight: float = 1.0
    temperature: float = 2.0
    log_every: int = 10


def _head_name(model: CharLM) -> str:
    return next(iter(model.heads))


def train_expert(task: str, train_ids: torch.Tensor, options: TrainingOptions, seed: int,
                 source: CharLM | None = None, method: str = "finetune",
                 model_options: dict | None = None) -> tuple[CharLM, TrainingLog]:
    """Train the expert of ``task`` on its sequences ``[N, T]`` (ids from :func:`encode`).

    Args:
        source: the earlier expert it starts from (its first head is its own task); ``None``
            trains a new model from scratch.
        method: with a source, ``"finetune"`` (copy it and train all of it; the new head starts as
            a copy of the source's head) or ``"lwf"`` (the same, and the source's head is kept and
            distilled towards the frozen source's outputs on the new task's text).
        model_options: ``CharLM`` settings for a model from scratch.

    Returns:
        The expert, whose first head is ``task`` (under LwF its second is the source's task), and its log.
    """
    if method not in ("finetune", "lwf"):
        raise ValueError(f"Unknown method {method!r}; use 'finetune' or 'lwf'.")
    if train_ids.ndim != 2 or len(train_ids) == 0:
        raise ValueError(f"train_ids must be non-empty [N, T] ids; got {tuple(train_ids.shape)}.")
    if source is not None and method == "lwf":
        source.eval()  # the frozen teacher, whether this training runs or is read back
    key = None
    if reuse.enabled():  # a training that already ran in this run folder is read back (eglib.reuse)
        key = reuse.fingerprint("charlm train_expert", reuse.source_digest(Path(__file__)), task, train_ids,
                                dataclasses.asdict(options), seed, source, method, model_options)

    def trained_now() -> tuple[CharLM, dict]:
        model, log = _train_expert(task, train_ids, options, seed, source, method, model_options)
        return model, dataclasses.asdict(log)

    model, log = reuse.remembered(key, trained_now, lambda: _start(task, source, method, model_options))
    return model.eval(), TrainingLog(**log)


def _start(task: str, source: CharLM | None, method: str, model_options: dict | None) -> CharLM:
    """:func:`train_expert`'s model before training: new, or a copy of ``source`` with a head for
    ``task`` (a copy of the source's head), and under LwF the source's head kept second."""
    if source is None:
        return CharLM(heads=(task,), **(model_options or {}))
    old_head = _head_name(source)
    model = copy.deepcopy(source)
    heads = {task: copy.deepcopy(source.heads[old_head])}
    if method == "lwf":
        heads[old_head] = model.heads[old_head]
    model.heads = nn.ModuleDict(heads)
    return model


def _train_expert(task: str, train_ids: torch.Tensor, options: TrainingOptions, seed: int, source: CharLM | None,
                  method: str, model_options: dict | None) -> tuple[CharLM, TrainingLog]:
    """:func:`train_expert`'s training (arguments as there, already checked)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    log = TrainingLog(method="scratch" if source is None else method)
    model = _start(task, source, method, model_options)
    teacher, old_head = None, None
    if source is not None:
        old_head = _head_name(source)
        log.source = old_head
        if method == "lwf":
            teacher = source  # put in eval mode by train_expert
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    began = time.perf_counter()
    running = 0.0
    for step in range(options.steps):
        rows = torch.randint(len(train_ids), (min(options.batch_size, len(train_ids)),), generator=generator)
        batch = train_ids[rows]
        hidden = model.features(batch)
        logits = model.heads[task](hidden)
        loss = F.cross_entropy(logits.reshape(-1, SYMBOLS), batch.reshape(-1))
        running += float(loss.detach()) / math.log(2)
        if teacher is not None:
            with torch.no_grad():
                target = teacher(batch, old_head)
            loss = loss + options.distillation_weight * distillation(model.heads[old_head](hidden), target,
                                                                     options.temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if (step + 1) % options.log_every == 0:
            log.loss.append(running / options.log_every)
            running = 0.0
    log.seconds = time.perf_counter() - began
    return model.eval(), log


def distillation(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 KL(softmax(teacher / T) || softmax(student / T))`` per position, averaged: logits ``[..., SYMBOLS]``."""
    student = F.log_softmax(student.reshape(-1, SYMBOLS) / temperature, dim=1)
    teacher = F.log_softmax(teacher.reshape(-1, SYMBOLS) / temperature, dim=1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean") * temperature ** 2


@torch.no_grad()
def log_probabilities(model: CharLM, ids: torch.Tensor, head: str | None = None, batch_size: int = 64) -> torch.Tensor:
    """Log2-probability of every actual character: ids ``[N, T]`` -> ``[N, T]`` (bits, <= 0)."""
    head = head or _head_name(model)
    model.eval()
    out = []
    for start in range(0, len(ids), batch_size):
        batch = ids[start:start + batch_size]
        logits = model(batch, head)
        out.append(torch.log_softmax(logits, dim=2).gather(2, batch[..., None])[..., 0] / math.log(2))
    return torch.cat(out)


def bits_per_character(log2_probabilities: torch.Tensor, skip: int = 0) -> float:
    """Mean of ``-log2 p`` over ``[N, T]`` positions from ``skip`` on (the routing prefix is not scored)."""
    return float(-log2_probabilities[:, skip:].mean())


def mixture_log_probabilities(per_expert: torch.Tensor, prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A DEMix-style mixture of every expert, weighted by the posterior over domains as the sequence is read.

    Args:
        per_expert: ``[K, N, T]`` log2-probabilities of each sequence's characters under each expert.
        prior: ``[K]`` prior over the experts (default uniform).

    Returns:
        ``(mixed [N, T], posterior [N, T, K])``: the mixture's log2-probability of each character, and
        the weights it used for it, ``w_k(t) ∝ prior_k * prod_{s < t} p_k(x_s)`` (Bayes' rule on the
        characters read so far).
    """
    experts = per_expert.shape[0]
    prior = torch.full((experts,), 1.0 / experts) if prior is None else prior / prior.sum()
    natural = per_expert * math.log(2)                                                   # [K, N, T] nats
    before = torch.cumsum(natural, dim=2) - natural                                      # evidence of x_<t
    log_weights = torch.log(prior)[:, None, None] + before
    log_weights = log_weights - torch.logsumexp(log_weights, dim=0, keepdim=True)
    mixed = torch.logsumexp(log_weights + natural, dim=0) / math.log(2)
    return mixed, log_weights.exp().permute(1, 2, 0)


def parameter_bytes(model: nn.Module) -> int:
    """Bytes of a model's parameters (float32)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def train_in_sequence(train_ids: dict[str, torch.Tensor], test_ids: dict[str, torch.Tensor], options: TrainingOptions,
                      seed: int, first_stages: list[CharLM], skip: int = 0) -> tuple[CharLM, dict[str, dict[str, float]]]:
    """One model fine-tuned on the domains one after another (the baseline that forgets).

    Args:
        train_ids, test_ids: ``{domain: [N, T] ids}`` in arrival order.
        first_stages: the model after each of the first stages, already trained elsewhere with the
            same settings, so reused rather than trained again: at least the first domain's expert
            (stage 1), and possibly the second domain's expert fine-tuned from it (stage 2, which
            is what Expert Gate's second expert is when fine-tuned: its only candidate source is
            the first). Stage ``i > len(first_stages)`` fine-tunes stage ``i - 1`` with seed ``seed + i - 1``.
        skip: characters of each test sequence left unscored (:func:`bits_per_character`).

    Returns:
        The model after the last domain, and ``{stage: {domain: bits per character}}``: row
        ``stage`` is measured right after training on that domain, on every domain's test text.
    """
    names = list(train_ids)
    if not 1 <= len(first_stages) <= len(names):
        raise ValueError(f"first_stages must hold 1 to {len(names)} models (the first stages); got {len(first_stages)}.")
    matrix: dict[str, dict[str, float]] = {}
    model = first_stages[0]
    for index, name in enumerate(names):
        if index < len(first_stages):
            model = first_stages[index]
        else:
            model, _ = train_expert(name, train_ids[name], options, seed + index, source=model, method="finetune")
        matrix[name] = {other: bits_per_character(log_probabilities(model, test_ids[other]), skip) for other in names}
    return model, matrix
