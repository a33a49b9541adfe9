"""How many epochs the mini experts need: validation accuracy after every epoch. Prints; asserts nothing.

    .venv/bin/python benchmarks/expert_epochs.py [--epochs 15] [--seeds 0 1]

For every mini task it fine-tunes the base expert (FT) and trains it with LwF for ``--epochs``
epochs and prints the validation accuracy after each epoch, per seed, and the mean over tasks, so
that the profile's ``expert_epochs`` can be set where the curve has flattened.
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

import eglib
from eglib import data, features
from eglib.method import experts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    eglib.setup(seed=0, device="cpu")
    benchmark = data.load_benchmark("mini")
    inputs = features.benchmark_features(benchmark, "mobilenet_v2", layer="expert_input", device="cpu")[0]
    base = experts.base_expert("mobilenet_v2")
    rows = []
    for seed in args.seeds:
        for name in benchmark.names:
            domain = benchmark.domains[name]
            y_train, y_val = (torch.from_numpy(domain.split(s).labels) for s in ("train", "val"))
            for method, trainer in (("FT", experts.finetune), ("LwF", experts.learn_without_forgetting)):
                curve = []
                trainer(base, name, inputs[name]["train"], y_train, len(domain.classes), epochs=args.epochs,
                        seed=seed, device="cpu",
                        on_epoch=lambda expert: curve.append(experts.accuracy(expert, name, inputs[name]["val"], y_val)))
                rows += [{"seed": seed, "task": name, "method": method, "epoch": e + 1, "val": v}
                         for e, v in enumerate(curve)]
            print(f"seed {seed} {name} done", flush=True)
    table = pd.DataFrame(rows)
    mean = table.groupby(["method", "seed", "epoch"])["val"].mean().unstack("epoch")
    print("mean validation accuracy over tasks, by epoch:")
    print((100 * mean).round(1).to_string())
    print((100 * table.pivot_table(index=["method", "task"], columns="epoch", values="val")).round(1).to_string())


if __name__ == "__main__":
    main()
