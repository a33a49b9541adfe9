"""How long the gate's autoencoders must train: the gate's accuracy and the digit halves' relatedness
after 50 ... 200 epochs, per seed. Prints; asserts nothing.

    .venv/bin/python benchmarks/gate_epochs.py [--seeds 0 1 2] [--epochs 50 75 100 150 200]

Notebook 01 shows, for its one seed, the gate's validation and test accuracy against the epochs of
its default run (kept snapshots of one training, as here). Whether the profile's 200 epochs could be
cut (issue 11: "only where the curve has flattened") needs more than one seed and more than the
gate: relatedness decides how a task is trained. For each seed it trains the mini autoencoders as
01 does (one stacked run, seed + arrival index, the profile's settings, snapshots at ``--epochs``) and
prints, at each kept epoch: the gate's mean accuracy on val and test, Rel(digits-b <- digits-a) on
digits-b's validation features (what 03 and 05 decide LwF or fine-tuning on), and the mean
relatedness of the other ordered pairs.
"""

from __future__ import annotations

import argparse
import os

import pandas as pd

import eglib
from eglib import config, data, features
from eglib.method.autoencoder import train_autoencoders
from eglib.method.gate import ExpertGate
from eglib.method.relatedness import task_relatedness
from eglib.method.standardizer import FeatureStandardizer
from eglib.run import scoring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, nargs="+", default=[50, 75, 100, 150, 200])
    args = parser.parse_args()
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"
    eglib.setup(seed=0, device="cpu")
    profile = config.get_profile("mini")
    benchmark = data.load_benchmark("mini")
    names = benchmark.names
    feats, base = features.benchmark_features(benchmark, profile.backbone, layer=profile.layer, device="cpu")
    standardizer = FeatureStandardizer.fit(base)
    options = {**profile.autoencoder_options(), "epochs": max(args.epochs)}
    splits = {split: scoring.stack_domains(feats, split) for split in ("val", "test")}
    rows = []
    for seed in args.seeds:
        eglib.setup(seed=seed, device="cpu")
        trained = train_autoencoders({n: feats[n]["train"] for n in names}, standardizer=standardizer,
                                     seeds={n: seed + i for i, n in enumerate(names)}, snapshot_epochs=args.epochs,
                                     device="cpu", **options)
        gate = ExpertGate()
        for name in names:
            gate.add(name, trained[name])
        for epoch in args.epochs:
            then = gate.at_epoch(epoch)  # as 01's training-length curve reads it
            row = {"seed": seed, "epochs": epoch}
            for split, (x, y) in splits.items():
                row[f"gate {split}"] = scoring.mean_accuracy(scoring.per_domain_accuracy(then.route(x), y, names))
            at = then.autoencoders
            row["Rel(digits-b <- digits-a)"] = task_relatedness(at["digits-b"], at["digits-a"], feats["digits-b"]["val"])
            others = [task_relatedness(at[k], at[a], feats[k]["val"]) for k in names for a in names
                      if k != a and {k, a} != {"digits-a", "digits-b"}]
            row["mean Rel, other pairs"] = sum(others) / len(others)
            rows.append(row)
            print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()), flush=True)
    table = pd.DataFrame(rows).set_index(["epochs", "seed"]).sort_index()
    print(table.round(3).to_string())
    print(table.groupby("epochs").agg(["mean", "std"]).round(3).to_string())


if __name__ == "__main__":
    main()
