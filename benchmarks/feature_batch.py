"""Feature extraction's batch size on the CPU: time and bits. Prints; asserts nothing.

    .venv/bin/python benchmarks/feature_batch.py [--images 1050] [--repeats 4]

The frozen trunk runs image by image inside a batch, so its features should not depend on how the
images are batched; smaller batches keep each layer's activations in the CPU's caches. For the
mini backbone (MobileNetV2 at 96 px, gate features and expert inputs, as the suite extracts them)
and the rehearsal's untrained AlexNet at 227 px (gate map only), on mini training images, it times
``extract_layers`` at several batch sizes in alternating order, prints the medians, and whether
each gives the same bits as a batch of 128 (the size used until 2026-12-05).
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch

import eglib
from eglib import data
from eglib.features import extract

from alternating import median_seconds

BATCH_SIZES = (16, 32, 64, 128)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=1050)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    os.environ["EGLIB_PROGRESS"] = "0"
    eglib.setup(seed=0, device="cpu")
    benchmark = data.load_benchmark("mini")
    per_domain = -(-args.images // len(benchmark.names))
    images = np.concatenate([benchmark.domains[n].split("train").images[:per_domain] for n in benchmark.names])
    print(f"{len(images)} images, {torch.get_num_threads()} threads")
    for backbone, layers in (("mobilenet_v2", ("pooled", "expert_input")), ("alexnet_untrained", ("conv",))):
        median, out = median_seconds(
            {size: (lambda size=size: extract.extract_layers(images, backbone, layers, "cpu", batch_size=size))
             for size in BATCH_SIZES}, args.repeats)
        for size in BATCH_SIZES:
            same = all(torch.equal(out[size][layer], out[128][layer]) for layer in layers)
            print(f"{backbone} {'+'.join(layers)}: batch {size:3d}  {median[size]:.2f} s "
                  f"({median[128] / median[size]:.2f}x the speed of 128), {'the same bits' if same else 'OTHER BITS'}")

if __name__ == "__main__":
    main()
