"""What deterministic mode's filling of new tensors costs the suite's training steps, and that
turning it off changes no bit. Prints; asserts nothing.

    .venv/bin/python benchmarks/fill_memory.py [--repeats 3]

In deterministic mode (``torch.use_deterministic_algorithms(True)``, which :func:`eglib.setup`
turns on) the flag ``torch.utils.deterministic.fill_uninitialized_memory``, on by default, has every
tensor torch allocates uninitialised (``torch.empty``, an op's output or gradient buffer) filled with
NaN first, so that a kernel that read memory it had not written would give NaN rather than whatever
was there. Where every kernel overwrites its buffers, the fill is a pass over memory that changes
no result. For the suite's trainings (those of ``thread_scaling.py``, plus 01's gate on the conv
map) and for 00's feature extraction (MobileNetV2 at 96 px, 1,050 mini images, gate features and
expert inputs) this script times the step with the fill on and off, in alternating order in this
one process, prints the medians and their ratio, and compares every resulting tensor of the two:
"the same bits", or "DIFFERENT results".
"""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

import eglib
from eglib import config, data, features
from eglib.features import extract
from eglib.method.gate import train_gate
from eglib.method.standardizer import FeatureStandardizer

from alternating import median_seconds
from thread_scaling import workloads

os.environ["EGLIB_REUSE"] = "0"  # every call trains: nothing read back from a run folder


def conv_gate() -> Callable[[], object]:
    """01's gate of seven autoencoders on the 3x3 conv map (11,520 values a sample), 5 epochs."""
    profile = config.get_profile("mini")
    benchmark = data.load_benchmark("mini")
    feats, base = features.benchmark_features(benchmark, profile.backbone, layer="conv", device="cpu")
    standardizer = FeatureStandardizer.fit(base)
    options = {**profile.autoencoder_options(), "epochs": 5, "device": "cpu"}
    return lambda: train_gate({n: feats[n]["train"] for n in benchmark.names}, standardizer, **options)


def extraction() -> Callable[[], object]:
    """00's feature extraction: the pooled gate features and the experts' input of 1,050 mini images."""
    benchmark = data.load_benchmark("mini")
    images = np.concatenate([benchmark.domains[n].split("train").images[:150] for n in benchmark.names])
    return lambda: extract.extract_layers(images, "mobilenet_v2", ("pooled", "expert_input"), "cpu")


def tensors(result: Any) -> list[torch.Tensor]:
    """Every tensor of a training's result: the state of each module in it, and tensors, in order."""
    if isinstance(result, nn.Module):
        return list(result.state_dict().values())
    if isinstance(result, torch.Tensor):
        return [result]
    if isinstance(result, dict):
        return [t for value in result.values() for t in tensors(value)]
    if isinstance(result, (list, tuple)):
        return [t for value in result for t in tensors(value)]
    return [t for value in vars(result).values() for t in tensors(value)] if hasattr(result, "__dict__") else []


def set_fill(on: bool) -> None:
    torch.utils.deterministic.fill_uninitialized_memory = on


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ["EGLIB_PROGRESS"] = "0"
    eglib.setup(seed=0, device="cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for label, work in {**workloads(), "gate of 7 autoencoders on the conv map (5 epochs)": conv_gate(),
                        "feature extraction (1,050 images)": extraction()}.items():
        median, results = median_seconds({True: work, False: work}, args.repeats, before=set_fill)
        on, off = tensors(results[True]), tensors(results[False])
        same = len(on) == len(off) > 0 and all(torch.equal(a, b) for a, b in zip(on, off))
        print(f"{label}: fill on {median[True]:.2f} s, off {median[False]:.2f} s, "
              f"on / off {median[True] / median[False]:.2f}x; {len(on)} trained tensors, "
              + ("the same bits" if same else "DIFFERENT results"), flush=True)
    set_fill(True)


if __name__ == "__main__":
    main()
