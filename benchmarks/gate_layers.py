"""Which backbone layer should the mini gate read? Prints; asserts nothing.

    .venv/bin/python benchmarks/gate_layers.py [--seeds 0 1 2] [--layers pooled expert_input]

The mini gate reads MobileNetV2's pooled last map (1,280 values). Issue 12 asks, in one breath, for
gate parity with a task classifier, for Expert Gate level with its oracles (which needs the two
digit halves routed apart, `benchmarks/halves_routing.py`), and for pairs related above 0.85 (so
that the LwF branch runs). A layer that separates tasks better raises the first two and lowers the
third: relatedness is one minus the relative excess error of another task's autoencoder.

For each layer and seed this trains, with the mini profile's autoencoder settings, one autoencoder
per task on the seven domains and on notebook 04's class halves (the same construction and seeds
as 04), and prints:

* the gate's mean routing accuracy over the seven domains after 25 and 200 epochs (validation,
  test), and the task classifier's on the same features (test);
* the share of the two digit halves' test images routed to their own half;
* Rel(digits-b <- digits-a), the highest relatedness of any other pair of the seven domains;
* how many of 04's halves pairs (both directions) pass 0.85, and the temperature that the
  validation split calibrates (02's rule).

``expert_input`` is the experts' own input, block 16's 3x3x160 map, flattened (1,440 values).
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

import eglib
from eglib import config, data, features
from eglib.baselines.taskclassifier import train_task_classifier
from eglib.method import temperature
from eglib.method.gate import ExpertGate, train_gate
from eglib.method.relatedness import relatedness_matrix
from eglib.method.standardizer import FeatureStandardizer
from eglib.run import scoring


def layer_features(benchmark, layer: str) -> tuple[dict[str, dict[str, torch.Tensor]], torch.Tensor]:
    """``{task: {split: [N, D]}}`` (the domains and 04's class halves) and the base set's ``[M, D]``."""
    feats, base = features.benchmark_features(benchmark, "mobilenet_v2", layer=layer, device="cpu")
    feats = {n: {s: v.flatten(1) for s, v in d.items()} for n, d in feats.items()}
    for n in benchmark.names:
        if len(benchmark.domains[n].classes) >= 4 and n not in benchmark.cut_domains:
            for part in data.split_classes(benchmark.domains[n]):
                feats[part.name] = {s: feats[part.domain][s][torch.from_numpy(r)] for s, r in part.rows.items()}
    return feats, base.flatten(1)


def one(benchmark, layer: str, seed: int) -> dict[str, float]:
    eglib.setup(seed=seed, device="cpu")
    names = benchmark.names
    feats, base = layer_features(benchmark, layer)
    halves = [n for n in feats if n not in names]
    standardizer = FeatureStandardizer.fit(base)
    options = config.get_profile("mini").autoencoder_options()
    gate = train_gate({n: feats[n]["train"] for n in names + halves}, standardizer, seed=seed, device="cpu",
                      snapshot_epochs=(25, options["epochs"]), **options)
    def domains_at(epoch: int) -> ExpertGate:  # routing among the seven domains only, as 02 does
        routed_gate = ExpertGate(temperature=gate.temperature)
        for n in names:
            routed_gate.add(n, gate.autoencoders[n].at_epoch(epoch))
        return routed_gate

    domains_gate, short = domains_at(options["epochs"]), domains_at(25)
    split = {s: scoring.stack_domains({n: feats[n] for n in names}, s) for s in ("val", "test")}
    score = lambda g, s: scoring.mean_accuracy(scoring.per_domain_accuracy(g.route(split[s][0]), split[s][1], names))
    routed = scoring.per_domain_accuracy(domains_gate.route(split["test"][0]), split["test"][1], names)
    classifier = train_task_classifier({n: feats[n]["train"] for n in names}, standardizer, seed=seed, device="cpu")
    rel = relatedness_matrix(gate.autoencoders, {n: feats[n]["val"] for n in names + halves})
    pairs = [(a, b) for a, b in zip(halves[::2], halves[1::2])] + [("digits-a", "digits-b")]
    directed = [rel.loc[b, a] for a, b in pairs] + [rel.loc[a, b] for a, b in pairs]
    domain_rel = rel.loc[names, names].where(~np.eye(len(names), dtype=bool)).stack()
    other = domain_rel.drop([("digits-b", "digits-a"), ("digits-a", "digits-b")]).max()
    return {"layer": layer, "dim": int(split["test"][0].shape[1]), "seed": seed,
            "gate val 25": score(short, "val"), "gate test 25": score(short, "test"),
            "gate val": score(domains_gate, "val"), "gate test": score(domains_gate, "test"),
            "classifier test": scoring.mean_accuracy(scoring.per_domain_accuracy(classifier.predict(split["test"][0]),
                                                                                  split["test"][1], names)),
            "halves routed home": (routed["digits-a"] + routed["digits-b"]) / 2,
            "Rel(digits-b <- digits-a)": float(rel.loc["digits-b", "digits-a"]), "highest other pair": float(other),
            "04 pairs > 0.85": int(sum(v > 0.85 for v in directed)), "of": len(directed),
            "calibrated t": temperature.calibrated_temperature(domains_gate.errors(split["val"][0]), split["val"][1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--layers", nargs="+", default=["pooled", "expert_input"])
    args = parser.parse_args()
    benchmark = data.load_benchmark("mini")
    rows = []
    for layer in args.layers:
        for seed in args.seeds:
            rows.append(one(benchmark, layer, seed))
            print(pd.DataFrame(rows).round(3).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print()
    print(table.drop(columns=["seed", "of", "dim"]).groupby("layer").agg(["mean", "std"]).round(3).T.to_string())


if __name__ == "__main__":
    main()
