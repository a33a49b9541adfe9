"""Issue 12's two parts that conflict on mini v3, measured on the paper's own route. Prints; asserts nothing.

    .venv/bin/python benchmarks/base_route.py [--seeds 0 1 2] [--bases photographs other-photographs current]

On mini v3 the LwF case of the arrival order is a pair of class halves (digits-a -> digits-b), and
two related tasks are hard to route apart: Expert Gate trails the better oracle by 5.6 +- 1.1
points (README, "What the related pair shows"). In the paper the LwF cases come from the base
task instead (ImageNet -> Scenes 0.924, -> Birds 0.865), which is a source but never a routing
target. ``benchmarks/base_relatedness.py`` showed that a base set cut from the installed packages'
natural photographs makes the base the related source of ``photos`` on two seeds of three; this
script measures what that route gives for every criterion of issue 12 that it touches, with
Expert Gate itself (the learner of notebook 05, as it is):

* six domains, as in mini v2: ``digits`` whole again (v3's two halves joined, then cut to the other
  domains' 400 / 100 / 200 images, half of each class of each half), arriving where the halves
  arrive in v3, and the five other domains of v3 as they are;
* the base set (``--bases``, built by ``base_relatedness.base_set``): ``photographs`` (crops of
  the seven natural colour photographs installed, six of which ``photos`` is cut from),
  ``other-photographs`` (only those that no domain uses) or ``current`` (mini v3's own base set,
  the control);
* per seed: the learner's transfer decisions (source, Rel, method); the gate's and the
  discriminative task classifier's routing accuracy (test); Expert Gate; the oracle-gated FT and
  LwF experts and joint training (the baselines of notebook 05, same options and seeds); and the
  two gaps of issue 12's part 4 (Expert Gate minus the better oracle, minus joint training).

Everything runs in a temporary run folder (zoo and reuse store); the benchmark's feature cache is
read, never written. About 2-3 minutes per seed and base set on the 2-core machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script's base sets
from base_relatedness import base_set  # noqa: E402

import eglib  # noqa: E402
from eglib import config, data  # noqa: E402
from eglib.baselines import classification  # noqa: E402
from eglib.baselines.taskclassifier import train_task_classifier  # noqa: E402
from eglib.features import backbones, extract  # noqa: E402
from eglib.method import experts  # noqa: E402
from eglib.method.learner import LifelongLearner  # noqa: E402

SPLITS = ("train", "val", "test")
Images = dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]  # {task: {split: (images, labels)}}


def six_domains(benchmark: data.Benchmark, seed: int) -> Images:
    """The v3 domains with the two digit halves joined into ``digits`` (its labels 0..9, the first
    half's classes first), cut to the size of one half's splits by taking half of each class of each half."""
    rng = np.random.default_rng([seed, 12])
    tasks: Images = {}
    for name in benchmark.names:
        source = benchmark.source_of(name)
        if source == name:
            tasks[name] = {s: (benchmark.domains[name].split(s).images, benchmark.domains[name].split(s).labels)
                           for s in SPLITS}
            continue
        if source in tasks:
            continue
        halves = [benchmark.domains[n] for n in benchmark.names if benchmark.source_of(n) == source]
        joined = {}
        for split in SPLITS:
            images, labels, offset = [], [], 0
            for half in halves:
                part = half.split(split)
                # the same share of every class of the half
                keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(part.labels == c))[
                    :int((part.labels == c).sum()) // len(halves)] for c in range(len(half.classes))]))
                images.append(part.images[keep])
                labels.append(part.labels[keep] + offset)
                offset += len(half.classes)
            joined[split] = (np.concatenate(images), np.concatenate(labels))
        tasks[source] = joined
    return tasks


def gate_profile(layer: str) -> str:
    """The mini profile, or (registered here, for this process) the mini profile with its gate and
    relatedness on another backbone layer, e.g. ``expert_input`` (block 16's 3x3x160 map, the
    experts' own input; ``benchmarks/gate_layers.py``). Returns the profile's name."""
    mini = config.get_profile("mini")
    if layer == mini.layer:
        return mini.name
    name = f"mini-gate-{layer}"
    spec = backbones.BACKBONES[mini.backbone]
    dim = {"conv": spec.conv_dim, "expert_input": math.prod(spec.expert_input_shape or (0,))}[layer]
    config.PROFILES[name] = dataclasses.replace(mini, name=name, layer=layer, gate_dim=dim)
    return name


def one(seed: int, kind: str, folder: Path, layer: str = "pooled") -> tuple[dict[str, float], pd.DataFrame]:
    """Issue 12's numbers for one seed and base set: ``(row of figures, decision table)``."""
    device = eglib.setup(seed=seed, device="cpu")
    profile = config.get_profile(gate_profile(layer))
    benchmark = data.load_benchmark("mini")
    tasks = six_domains(benchmark, seed)
    names = list(tasks)
    learner = LifelongLearner(folder / f"zoo-{kind}-{layer}-{seed}", profile=profile.name, device=device, seed=seed,
                              reference_images=base_set(kind, benchmark.base), base_candidate=True)
    decisions = {}
    for name in names:
        entry = learner.add_task(name, tasks[name]["train"], tasks[name]["val"])
        decisions[name] = {"source": entry["source"], "Rel": entry.get("source_relatedness"),
                           "method": entry["method"], "Rel(base)": entry["relatedness"].get(config.BASE)}
    test_sets = {n: tasks[n]["test"] for n in names}
    wanted = (profile.layer, "expert_input")
    layers = {n: {s: extract.stored_or_extracted_layers(tasks[n][s][0], profile.backbone, wanted, device)
                  for s in ("train", "test")} for n in names}
    classifier = train_task_classifier({n: layers[n]["train"][profile.layer].flatten(1) for n in names},
                                       learner.zoo.standardizer(), seed=seed, device=device)
    with learner.reusing_test_features():
        hard = learner.evaluate(test_sets)
        by_classifier = learner.evaluate(test_sets, router=classifier.predict)
    train, test = ({n: (layers[n][s]["expert_input"], torch.as_tensor(tasks[n][s][1], dtype=torch.long))
                    for n in names} for s in ("train", "test"))
    options = {"epochs": profile.expert_epochs, "lr": profile.expert_lr, "flip": profile.expert_flip,
               "seed": seed, "device": device}
    base = experts.base_expert(profile.backbone)
    joint = classification.joint_training(train, base, **options)
    scores = {"joint training": np.mean([experts.accuracy(joint, n, *test[n]) for n in names])}
    for method, label in (("finetune", "oracle FT"), ("lwf", "oracle LwF")):
        oracle = classification.oracle_experts(train, base, method, **options)
        scores[label] = np.mean([experts.accuracy(oracle[n], n, *test[n]) for n in names])
    row = {"LwF arrivals": sum(d["method"] == "lwf" for d in decisions.values()),
           "gate": hard["gate_accuracy"], "task classifier": by_classifier["gate_accuracy"],
           "Expert Gate": hard["expert_gate_accuracy"], **scores}
    row["EG - better oracle"] = row["Expert Gate"] - max(scores["oracle FT"], scores["oracle LwF"])
    row["EG - joint"] = row["Expert Gate"] - scores["joint training"]
    row["gate - classifier"] = row["gate"] - row["task classifier"]
    return row, pd.DataFrame(decisions).T


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bases", nargs="+", default=["photographs", "current"])
    parser.add_argument("--layer", default="pooled", choices=extract.LAYERS,
                        help="the backbone layer the gate and relatedness read (mini: pooled)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eglib-base-route-") as scratch:
        os.environ["EGLIB_RUN_DIR"] = scratch  # zoo and reuse store of this script only
        for kind in args.bases:
            rows = {}
            for seed in args.seeds:
                rows[f"seed {seed}"], decisions = one(seed, kind, Path(scratch), args.layer)
                print(f"\nbase set {kind}, seed {seed}: arrivals\n{decisions.to_string()}", flush=True)
            table = pd.DataFrame(rows)
            table["mean"], table["sd"] = table.mean(axis=1), table.std(axis=1, ddof=1)
            print(f"\nbase set {kind}, gate on {args.layer}: test accuracy (mean over the six domains) and issue 12's gaps")
            print(table.round(3).to_string(), flush=True)


if __name__ == "__main__":
    main()
