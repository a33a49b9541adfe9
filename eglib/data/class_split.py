"""Two tasks cut from one domain by its classes (notebook 04's related pairs).

Split-MNIST's construction, applied to any domain: the first half of the classes is one task, the
second half another. Both tasks share the domain's input distribution (same source, same pen,
same rendering), so they are the most related pairs a benchmark can offer, and comparing LwF with
fine-tuning between them asks the paper's Figure 6 question at high relatedness. The parts are
index sets into the domain's splits, so features already extracted for the domain serve them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eglib.data.types import Domain
from eglib.splits import SPLITS

MIN_CLASSES_PER_PART = 2


@dataclass(frozen=True)
class ClassPart:
    """One task cut from a domain: some of its classes, and where their samples are.

    Attributes:
        name: ``<domain>-a`` for the first half of the classes, ``<domain>-b`` for the second.
        domain: the name of the domain it is cut from.
        classes: the class names it keeps, in the domain's order.
        rows: ``{split: [n] int64}``, indices of the part's samples in the domain's split.
        labels: ``{split: [n] int64}``, their labels renumbered ``0 .. len(classes) - 1``.
    """

    name: str
    domain: str
    classes: list[str]
    rows: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def split_classes(domain: Domain) -> tuple[ClassPart, ClassPart]:
    """Cut ``domain`` into two tasks with disjoint classes: its first ``C // 2`` classes, and the rest.

    Raises:
        ValueError: when the domain has fewer than 4 classes (each part needs two), or when a
            part has no sample in some split.
    """
    count = len(domain.classes)
    if count < 2 * MIN_CLASSES_PER_PART:
        raise ValueError(f"Domain {domain.name!r} has {count} classes; cutting it into two tasks needs at least "
                         f"{2 * MIN_CLASSES_PER_PART} (two a task). Leave it out of the class split.")
    parts = []
    for suffix, kept in (("a", np.arange(count // 2)), ("b", np.arange(count // 2, count))):
        rows, labels = {}, {}
        for split in SPLITS:
            original = np.asarray(domain.split(split).labels)
            rows[split] = np.flatnonzero(np.isin(original, kept)).astype(np.int64)
            if len(rows[split]) == 0:
                raise ValueError(f"Domain {domain.name!r}: classes {domain.classes[kept[0]]}..{domain.classes[kept[-1]]} "
                                 f"have no {split} sample, so that part cannot be a task. Rebuild the domain with "
                                 "every class in every split.")
            labels[split] = (original[rows[split]] - kept[0]).astype(np.int64)
        parts.append(ClassPart(name=f"{domain.name}-{suffix}", domain=domain.name, classes=[domain.classes[c] for c in kept],
                               rows=rows, labels=labels))
    return parts[0], parts[1]
