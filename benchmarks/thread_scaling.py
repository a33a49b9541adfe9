"""How much a second thread speeds up the suite's training steps. Prints; asserts nothing.

    .venv/bin/python benchmarks/thread_scaling.py [--repeats 3]

The suite runs each notebook on every core (2 here). Whether its training steps use the second core
well decides whether two notebooks side by side on one thread each would finish sooner than one
after the other on two. For three of the suite's costs (fine-tuning a mini expert, 3 epochs; a gate
of seven autoencoders, 20 epochs; a video DFN, 1 epoch) it times the step on 1 and on 2 threads,
in alternating order, in this one process, and prints the medians and their ratio (the speed-up of the
second thread: 2.0 would be perfect; under 1.5, two one-thread lanes do more work per second).
"""

from __future__ import annotations

import argparse
import os
from typing import Callable

import torch

import eglib
from eglib import config, data, features, video
from eglib.method import experts
from eglib.method.gate import train_gate
from eglib.method.standardizer import FeatureStandardizer
from eglib.video import dfn

from alternating import median_seconds

os.environ["EGLIB_REUSE"] = "0"  # every call trains: nothing read back from a run folder


def workloads() -> dict[str, Callable[[], object]]:
    """The three trainings, each a callable that trains from scratch with fixed seeds."""
    profile = config.get_profile("mini")
    benchmark = data.load_benchmark("mini")
    name = benchmark.names[0]
    inputs = features.benchmark_features(benchmark, profile.backbone, layer="expert_input", device="cpu")[0]
    gate_features, base_features = features.benchmark_features(benchmark, profile.backbone, layer=profile.layer,
                                                               device="cpu")
    labels = torch.from_numpy(benchmark.domains[name].split("train").labels)
    base = experts.base_expert(profile.backbone)
    standardizer = FeatureStandardizer.fit(base_features)
    clips = data.load_video_benchmark("mini", seed=0).domains
    first_clips = clips[next(iter(clips))].split("train")
    gate_options = {**profile.autoencoder_options(), "epochs": 20, "device": "cpu"}
    return {
        "expert fine-tuning (3 epochs)": lambda: experts.finetune(
            base, name, inputs[name]["train"], labels, len(benchmark.domains[name].classes), epochs=3, device="cpu"),
        "gate of 7 autoencoders (20 epochs)": lambda: train_gate(
            {n: gate_features[n]["train"] for n in benchmark.names}, standardizer, **gate_options),
        "video DFN (1 epoch)": lambda: dfn.train_dfn(first_clips, epochs=1, device="cpu"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["EGLIB_PROGRESS"] = "0"  # no progress bars between the figures
    eglib.setup(seed=0, device="cpu")
    cores = torch.get_num_threads()
    print(f"torch threads available: {cores}")
    for label, work in workloads().items():
        median, _ = median_seconds({1: work, 2: work}, args.repeats, before=torch.set_num_threads)
        torch.set_num_threads(cores)
        print(f"{label}: 1 thread {median[1]:.2f} s, 2 threads {median[2]:.2f} s, "
              f"speed-up of the second thread {median[1] / median[2]:.2f}x")

if __name__ == "__main__":
    main()
