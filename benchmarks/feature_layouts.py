"""The frozen trunk's pass in torch's standard layout against channels-last. Prints; asserts nothing.

    .venv/bin/python benchmarks/feature_layouts.py [--batches 3]

Feature extraction (00's cold cache, 06's clip features) runs MobileNetV2's trunk at 96 px on
about 5,200 images, a few seconds of arithmetic that takes about 25 s. This times one batch of 128
random images through the trunk in the layout the cache is computed in and in channels-last, and
prints whether the two give the same bits: a layout that rounds otherwise would change every
cached feature, and with them every number of the suite.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch

import eglib
from eglib.features import backbones, extract


def seconds_per_batch(trunk: torch.nn.Module, x: torch.Tensor, batches: int) -> tuple[float, torch.Tensor]:
    """Mean seconds of one no-grad pass of ``x`` [n, 3, S, S] after a warm-up pass, and the output."""
    with torch.no_grad():
        out = trunk(x)
        start = time.perf_counter()
        for _ in range(batches):
            out = trunk(x)
    return (time.perf_counter() - start) / batches, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--backbone", default="mobilenet_v2")
    args = parser.parse_args()
    eglib.setup(seed=0, device="cpu")
    trunk, _ = extract._trunk(args.backbone, "cpu")
    size = backbones.get_backbone_spec(args.backbone).input_size
    x = backbones.normalize_images(torch.rand(128, 3, size, size))
    standard, reference = seconds_per_batch(trunk, x, args.batches)
    channels_last, out = seconds_per_batch(copy.deepcopy(trunk).to(memory_format=torch.channels_last),
                                           x.contiguous(memory_format=torch.channels_last), args.batches)
    same = torch.equal(out.contiguous(), reference)
    print(f"{args.backbone} trunk, batch of 128 at {size} px, {torch.get_num_threads()} threads:")
    print(f"  standard layout {standard:.3f} s, channels-last {channels_last:.3f} s ({standard / channels_last:.2f}x)")
    print("  outputs: the same bits" if same else
          f"  outputs differ: largest difference {(out - reference).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
