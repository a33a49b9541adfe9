"""The frozen trunk's pass in torch's standard layout against channels-last. Prints; asserts nothing.

    .venv/bin/python benchmarks/feature_layouts.py [--batches 3]

Feature extraction (00's cold cache, 06's clip features) runs MobileNetV2's trunk at 96 px on
about 5,200 images, a few seconds of arithmetic that took about 25 s in batches of 128. This times
one batch of 128 random images through the trunk (medians, alternating order) in the layout the
cache is computed in and in channels-last, and
prints whether the two give the same bits: a layout that rounds otherwise would change every
cached feature, and with them every number of the suite.
"""

from __future__ import annotations

import argparse
import copy

import torch

import eglib
from eglib.features import backbones, extract

from alternating import median_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--backbone", default="mobilenet_v2")
    args = parser.parse_args()
    eglib.setup(seed=0, device="cpu")
    trunk, _ = extract._trunk(args.backbone, "cpu")
    size = backbones.get_backbone_spec(args.backbone).input_size
    x = backbones.normalize_images(torch.rand(128, 3, size, size))
    channels_last = copy.deepcopy(trunk).to(memory_format=torch.channels_last)
    x_last = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        median, out = median_seconds({"standard": lambda: trunk(x), "channels-last": lambda: channels_last(x_last)},
                                     args.batches)
    same = torch.equal(out["channels-last"].contiguous(), out["standard"])
    print(f"{args.backbone} trunk, batch of 128 at {size} px, {torch.get_num_threads()} threads:")
    print(f"  standard layout {median['standard']:.3f} s, channels-last {median['channels-last']:.3f} s "
          f"({median['standard'] / median['channels-last']:.2f}x)")
    print("  outputs: the same bits" if same else
          "  outputs differ: largest difference "
          f"{(out['channels-last'] - out['standard']).abs().max().item():.2e}")

if __name__ == "__main__":
    main()
