"""Timing several variants of one step fairly on a noisy machine (a helper of the benchmark scripts).

The machine is shared and its speed drifts from minute to minute, so the variants are timed in turn,
the order reversed every other round, after one warm-up call each, and each variant's median is kept.
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable, Hashable


def median_seconds(variants: dict[Hashable, Callable[[], Any]], repeats: int,
                   before: Callable[[Hashable], None] | None = None) -> tuple[dict[Hashable, float], dict[Hashable, Any]]:
    """Median seconds of each variant over ``repeats`` rounds in alternating order, and each one's last result.

    ``before(key)``, when given, runs untimed before every call of that variant (e.g. to set the
    thread count it needs).
    """
    prepare = before or (lambda key: None)
    results = {}
    for key, work in variants.items():  # warm-up: allocations, caches, lazy loading
        prepare(key)
        results[key] = work()
    seconds: dict[Hashable, list[float]] = {key: [] for key in variants}
    order = list(variants)
    for repeat in range(repeats):
        for key in (order if repeat % 2 == 0 else order[::-1]):
            prepare(key)
            start = time.perf_counter()
            results[key] = variants[key]()
            seconds[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in seconds.items()}, results
