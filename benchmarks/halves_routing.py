"""How well can *any* router on the frozen backbone tell the two digit halves apart? Prints; asserts nothing.

    .venv/bin/python benchmarks/halves_routing.py [--seeds 0 1 2]

Issue 12 asks Expert Gate within 1.5 points of the better oracle-gated experts on mini, and the
same issue's first part put a related pair in the arrival order: `digits-a` (digits 0-4) and
`digits-b` (5-9), cut from one source. A misrouted sample is wrong, so Expert Gate's accuracy on a
task is at most the share of its samples routed home. This script measures how well routers that
*store all the training data*, and so are stronger than the autoencoder gate, separate the two
halves from each layer the backbone offers (the gate's pooled vector, the 3x3 conv map, and the
experts' own input, the 3x3x160 map of block 16): a logistic regression and a one-hidden-layer
MLP, trained on the training split of the two halves, scored on their validation and test splits
(mean of the two halves' accuracies). The data and features are fixed; the seed moves only the
MLP's initialisation and batch order.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import eglib
from eglib import data, features

HALVES = ("digits-a", "digits-b")


def layer_sets(benchmark) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """``{layer: {half: {split: [N, D] features}}}`` for the two halves."""
    out = {}
    for layer in ("pooled", "conv", "expert_input"):
        feats, _ = features.benchmark_features(benchmark, "mobilenet_v2", layer=layer, device="cpu")
        out[layer] = {h: {s: feats[h][s].flatten(1).numpy() for s in ("train", "val", "test")} for h in HALVES}
    return out


def balanced_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean over the two halves of the share routed to the right half."""
    return float(np.mean([np.mean(predicted[truth == k] == k) for k in (0, 1)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    eglib.setup(seed=0, device="cpu")
    sets = layer_sets(data.load_benchmark("mini"))
    rows = []
    for layer, halves in sets.items():
        split = {s: (np.concatenate([halves[h][s] for h in HALVES]),
                     np.concatenate([np.full(len(halves[h][s]), k) for k, h in enumerate(HALVES)])) for s in ("train", "val", "test")}
        scaler = StandardScaler().fit(split["train"][0])
        x = {s: scaler.transform(v[0]) for s, v in split.items()}
        routers = {"logistic regression": lambda seed: LogisticRegression(max_iter=3000)}
        routers["MLP (256 hidden)"] = lambda seed: MLPClassifier((256,), alpha=1e-3, max_iter=300, early_stopping=True,
                                                                 random_state=seed)
        for name, make in routers.items():
            seeds = [0] if name == "logistic regression" else args.seeds  # the logistic fit has no randomness
            for seed in seeds:
                torch.manual_seed(seed)
                router = make(seed).fit(x["train"], split["train"][1])
                rows.append({"layer": layer, "dim": x["train"].shape[1], "router": name, "seed": seed,
                             **{s: balanced_accuracy(router.predict(x[s]), split[s][1]) for s in ("val", "test")}})
    table = pd.DataFrame(rows)
    print(table.round(3).to_string(index=False))
    print()
    print(table.groupby(["layer", "router"])[["val", "test"]].agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
