"""What would a Split-MNIST-style pair in the default arrival order cost the gate? Prints; asserts nothing.

    .venv/bin/python benchmarks/split_arrival.py [--seeds 0 1 2] [--domains mnist letters]
    .venv/bin/python benchmarks/split_arrival.py --pipeline [--domains mnist] [--seeds 0 1 2]

Since mini version 3 (2026-12-04) the arrival order itself holds a cut pair, ``digits-a`` and
``digits-b`` (this script's measurements of 2026-12-04 led to it; they cut the six-domain version's
``digits``, README). It now measures cutting a further domain, and ``--pipeline`` without
``--domains`` runs the learner on the arrival order as it is.

Issue 12 part 1 asks that at least one task of the mini profile's default arrival order be trained
with LwF. Between the six mini domains the 0.85 rule never fires (highest pair about 0.66), and
the issue suggests the construction of Split-MNIST: two tasks cut from one source with disjoint
classes. Notebook 04 already trains such halves (``eglib.data.split_classes``) and finds them the
most related pairs. Before the benchmark itself is changed, this script measures what replacing
one domain ``d`` by its halves ``d-a`` (first half of the classes) and ``d-b`` (the rest) would do,
per seed, with the mini profile's autoencoders (200 epochs):

* ``Rel(d-b <- d-a)``: the relatedness of the earlier half to the later one (``b`` arrives
  second), and so whether the 0.85 rule would train ``d-b`` with LwF from ``d-a``;
* the gate's and the task classifier's test accuracy over the seven tasks (mean over tasks), and
  on the two halves alone: the halves share their source, so they are the hardest pair to route.

The halves keep their domain's splits, so each has half its domain's samples (200 training and
100 test images of the mini benchmark).

``--pipeline`` runs the lifelong learner itself (as notebook 05 does, reuse off) on the arrival
order with the first ``--domains`` entry cut in two, and prints each arrival's source, relatedness
and LwF/FT decision, then Expert Gate's and the gate's test accuracy per task (about 80 s a seed).
"""

from __future__ import annotations

import argparse

import pandas as pd
import torch

import eglib
from eglib import config, data, features
from eglib.baselines.taskclassifier import train_task_classifier
from eglib.method.gate import train_gate
from eglib.method.relatedness import relatedness_matrix
from eglib.method.standardizer import FeatureStandardizer
from eglib.run import scoring


def one_seed(seed: int, split_domains: list[str]) -> list[dict]:
    """One row per domain cut in two: relatedness of the halves, gate and classifier accuracies (%)."""
    device = eglib.setup(seed=seed, device="cpu")
    profile = config.get_profile("mini")
    benchmark = data.load_benchmark("mini")
    feats, base = features.benchmark_features(benchmark, profile.backbone, layer=profile.layer, device=device)
    standardizer = FeatureStandardizer.fit(base)
    rows = []
    for cut in split_domains:
        halves = data.split_classes(benchmark.domains[cut])
        tasks = {n: feats[n] for n in benchmark.names if n != cut}
        for part in halves:
            tasks[part.name] = {s: feats[cut][s][torch.from_numpy(r)] for s, r in part.rows.items()}
        names = list(tasks)
        train = {n: tasks[n]["train"] for n in names}
        gate = train_gate(train, standardizer, seed=seed, device=device, **profile.autoencoder_options())
        classifier = train_task_classifier(train, standardizer, seed=seed, device=device)
        x, y = scoring.stack_domains(tasks, "test")
        a, b = halves[0].name, halves[1].name
        rel = relatedness_matrix(dict(gate.autoencoders), {n: tasks[n]["val"] for n in (a, b)})
        row = {"seed": seed, "cut": cut, "Rel(b<-a)": rel.loc[b, a], "Rel(a<-b)": rel.loc[a, b]}
        for label, route in (("gate", gate.route), ("classifier", classifier.predict)):
            per_task = scoring.per_domain_accuracy(route(x), y, names)
            row[f"{label} all"] = 100 * scoring.mean_accuracy(per_task)
            row[f"{label} halves"] = 100 * (per_task[a] + per_task[b]) / 2
        rows.append(row)
        print({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return rows


def one_pipeline(seed: int, cut: str | None) -> None:
    """The learner on the mini arrival order with ``cut`` (if any) replaced by its halves: decisions, accuracies."""
    import tempfile
    from pathlib import Path

    from eglib.method.learner import LifelongLearner

    device = eglib.setup(seed=seed, device="cpu")
    benchmark = data.load_benchmark("mini")
    images = {}
    for name in benchmark.names:
        domain = benchmark.domains[name]
        if name != cut:
            images[name] = {s: (domain.split(s).images, domain.split(s).labels) for s in ("train", "val", "test")}
            continue
        for part in data.split_classes(domain):
            images[part.name] = {s: (domain.split(s).images[part.rows[s]], part.labels[s]) for s in ("train", "val", "test")}
    with tempfile.TemporaryDirectory() as folder:
        learner = LifelongLearner(Path(folder) / "zoo", profile="mini", reference_images=benchmark.base, device=device,
                                  seed=seed, base_candidate=benchmark.base_is_candidate)
        rows = []
        for name in images:
            entry = learner.add_task(name, images[name]["train"], images[name]["val"])
            rows.append({"task": name, "source": entry["source"], "Rel": entry.get("source_relatedness"),
                         "method": entry["method"]})
        result = learner.evaluate({name: pair["test"] for name, pair in images.items()})
    table = pd.DataFrame(rows).set_index("task")
    table["Expert Gate"] = pd.Series(result["per_task"])
    table["gate"] = pd.Series(result["gate_per_task"])
    print(f"\nseed {seed}: Expert Gate {result['expert_gate_accuracy']:.3f}, gate {result['gate_accuracy']:.3f}")
    print(table.round(3).to_string())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--domains", nargs="+", default=None,
                        help="the domains to cut in two, one at a time (each needs at least four classes; "
                             "default: mnist letters, or none with --pipeline)")
    parser.add_argument("--pipeline", action="store_true",
                        help="run the lifelong learner with the first of --domains cut in two (see above)")
    args = parser.parse_args()
    names = data.load_benchmark("mini").names
    unknown = [d for d in args.domains or [] if d not in names]
    if unknown:
        parser.error(f"no mini domain {unknown}; choose among {names}")
    if args.pipeline:
        for seed in args.seeds:
            one_pipeline(seed, (args.domains or [None])[0])
        return
    args.domains = args.domains or ["mnist", "letters"]
    table = pd.DataFrame([row for seed in args.seeds for row in one_seed(seed, args.domains)])
    table["gate - classifier (all)"] = table["gate all"] - table["classifier all"]
    print("\nper seed (accuracies in %, test split; relatedness on the halves' validation splits)")
    print(table.round(3).to_string(index=False))
    print("\nmean over seeds (min, max)")
    summary = table.drop(columns="seed").groupby("cut").agg(["mean", "min", "max"])
    print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
