"""Seed spreads (``make reproduce SEEDS=0,1,2``): the suite once per seed, then every headline
number and every claimed difference as values, mean and standard deviation.

One seed proves little: the same seed moved results by up to 5 points between two machines, and
on one machine a seed moves training trajectories by as much. A difference between two methods is
worth stating when it is large against its spread over seeds; :func:`spread` gives that spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Metrics = dict[str, Any]

# the differences the notebooks claim, each computed within one seed's run
DIFFERENCES: dict[str, Callable[[Metrics], float]] = {
    "gate - discriminative classifier": lambda m: m["gate_accuracy"] - m["discriminative_accuracy"],
    "Expert Gate - best oracle experts": lambda m: m["expert_gate_accuracy"] - max(m["oracle_ft_accuracy"],
                                                                                  m["oracle_lwf_accuracy"]),
    "Expert Gate - joint training": lambda m: m["expert_gate_accuracy"] - m["joint_accuracy"],
    "single LwF - single FT (after all tasks)": lambda m: m["single_lwf_final_accuracy"] - m["single_ft_final_accuracy"],
    "oracle LwF - oracle FT": lambda m: m["oracle_lwf_accuracy"] - m["oracle_ft_accuracy"],
}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def headline_numbers(metrics: Metrics) -> dict[str, float]:
    """The run's scalar results: every top-level finite number of ``metrics.json`` (the run's own
    bookkeeping under ``run`` and ``phases_NN`` excluded), then the claimed differences it allows."""
    numbers = {key: float(value) for key, value in metrics.items()
               if _is_number(value) and key != "run" and not key.startswith("phases_")}
    for name, difference in DIFFERENCES.items():
        try:
            numbers[name] = float(difference(metrics))
        except (KeyError, TypeError):
            continue  # a notebook that did not run, or a profile without that number
    return numbers


def spread(per_seed: dict[int, Metrics]) -> dict[str, Any]:
    """The ``seeds`` block of a multi-seed run.

    Args:
        per_seed: ``{seed: merged metrics of that seed's run}``.

    Returns:
        ``{"seeds": [...], "keys": {key: {"values": [...], "mean": m, "sd": s}}}`` over the keys
        that every seed's run has; ``sd`` is the sample standard deviation (``n - 1``), ``None``
        for a single seed.
    """
    if not per_seed:
        raise ValueError("No seed ran: pass at least one seed (SEEDS=0,1,2).")
    numbers = {seed: headline_numbers(metrics) for seed, metrics in per_seed.items()}
    shared = [key for key in numbers[next(iter(numbers))] if all(key in n for n in numbers.values())]
    keys = {}
    for key in shared:
        values = [numbers[seed][key] for seed in per_seed]
        mean = sum(values) / len(values)
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else None
        keys[key] = {"values": values, "mean": mean, "sd": sd}
    return {"seeds": list(per_seed), "keys": keys}


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]``; a ``ValueError`` naming the format otherwise (repeats refused)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"SEEDS={text!r}: give comma-separated integers, e.g. SEEDS=0,1,2.") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"SEEDS={text!r}: give one or more distinct integers, e.g. SEEDS=0,1,2.")
    return seeds
