"""The data types every benchmark loader returns: splits, domains, the benchmark, and its error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eglib.splits import HasSplits

BASE_TASK_SOURCES = ("imagenet", "mini base set")


@dataclass
class Split:
    """Images ``[N, S, S, 3]`` (uint8) and labels ``[N]`` (int64) of one split of one domain."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Domain(HasSplits):
    """One classification task of the benchmark: its classes and its three splits."""

    name: str
    classes: list[str]
    train: Split
    val: Split
    test: Split


@dataclass
class Benchmark:
    """All domains of a benchmark in their arrival order, plus the base (ImageNet or stand-in) images.

    ``meta["base_source"]`` says where the base images come from: ``"imagenet"`` (ImageNet images,
    paper profiles with ``EGLIB_IMAGENET_DIR``), ``"mini base set"`` (the mini profile's own base
    task) or ``"mini stand-in"`` (the paper profiles without ImageNet: statistics only).
    """

    domains: dict[str, Domain]
    base: np.ndarray
    root: Path
    meta: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.domains)

    def source_of(self, name: str) -> str:
        """The source a domain was cut from by its classes (``digits`` for ``digits-a``), else its own name."""
        described = self.meta.get("domains")  # the mini manifest's {domain: description}
        entry = described.get(name) if isinstance(described, dict) else None
        return entry.get("cut_from", name) if isinstance(entry, dict) else name

    @property
    def cut_domains(self) -> list[str]:
        """The domains cut from a shared source by their classes (Split-MNIST's construction)."""
        return [n for n in self.names if self.source_of(n) != n]

    def earlier_of_same_source(self, name: str) -> list[str]:
        """The domains that arrive before ``name`` and share its source (``["digits-a"]`` for ``digits-b``)."""
        before = self.names[:self.names.index(name)]
        return [n for n in before if self.source_of(n) == self.source_of(name)]

    @property
    def base_is_candidate(self) -> bool:
        """Whether the base model is a relatedness candidate, with an autoencoder of its own.

        It is when the base images are the base task's data: ImageNet for the paper profiles,
        the mini base set (which *is* the mini profile's base task) for the mini profile. A
        stand-in must not pose as ImageNet: without ImageNet images the base model is only the
        first task's source (see :func:`eglib.method.relatedness.choose_source`).
        """
        return self.meta.get("base_source") in BASE_TASK_SOURCES


class DataError(RuntimeError):
    """The benchmark folder is missing, incomplete or corrupt; the message names the fix."""
