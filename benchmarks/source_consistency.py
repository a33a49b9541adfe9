"""Does checking the source of each offset remove the streak between two digits moving apart? (issue 14)

    .venv/bin/python benchmarks/source_consistency.py [--seeds 0 1 2] [--weight 1.0] [--outside zero edge]

A DFN takes each pixel *from* somewhere. Where two digits move apart, the gap that opens between
them is background, but its pixels get the motion of the digit beside them, and following that
motion back fetches the other digit's edge into the gap (notebook 06's test clip, README). A
source check adds, to the matching cost of offset ``o`` at pixel ``p``, the cost of the same offset
at the source ``p + o``: the content there must itself have come from ``o`` further on, i.e. move
to ``p``. Where the source lies outside the frame, ``--outside zero`` adds nothing (which makes the
offsets that point out of the frame relatively cheaper in the outer 3 px) and ``--outside edge``
adds the cost of the nearest pixel inside. The cost is then made relative as in 06.

For each seed it trains 06's expert and the source-checked one per mini video domain (same seed,
same start weights, 10 epochs) and prints validation and test L1, the test L1 over constant
velocity's and the sharpness ratio, and writes them to ``--out``. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

import eglib
from eglib import config, data
from eglib.video import dfn, measures, rivals


def at_source(cost: torch.Tensor, size: int, outside: str = "zero") -> torch.Tensor:
    """``cost [N, k*k, H, W]`` -> ``[N, k*k, H, W]`` whose entry ``j`` at ``p`` is ``cost[j]`` at
    ``p + o_j`` (the offset's source pixel; where that lies outside the frame, 0 or, with
    ``outside="edge"``, the cost at the nearest pixel inside)."""
    h, w = cost.shape[2:]
    padded = F.pad(cost, (size // 2,) * 4, mode="replicate") if outside == "edge" else F.pad(cost, (size // 2,) * 4)
    return torch.stack([padded[:, j, j // size:j // size + h, j % size:j % size + w] for j in range(size * size)], dim=1)


class SourceCheckedDFN(dfn.DynamicFilterNetwork):
    """06's DFN whose prior adds ``weight`` times the cost of each offset at its source pixel."""

    weight, outside = 1.0, "zero"

    def prior_cost(self, frames: torch.Tensor) -> torch.Tensor:
        raw = dfn.matching_cost(frames[:, -2:-1], frames[:, -1:], self.filter_size, self.match_window, self.border)
        return dfn.relative_cost(raw + self.weight * at_source(raw, self.filter_size, self.outside))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--weight", type=float, default=1.0)
    parser.add_argument("--outside", nargs="+", choices=("zero", "edge"), default=["zero", "edge"])
    parser.add_argument("--out", type=Path, default=config.REPO_ROOT / "benchmarks" / "results" / "source_consistency.csv")
    args = parser.parse_args()
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"
    eglib.setup(seed=0, device="cpu")
    SourceCheckedDFN.weight = args.weight
    epochs, rows = config.get_profile("mini").video_epochs, []
    for seed in args.seeds:
        for name, domain in data.load_video_benchmark("mini", seed=seed).domains.items():
            test, future = domain.split("test"), rivals.future_frames(domain.split("test"))
            velocity = measures.l1(rivals.constant_velocity(test), future).mean()
            for outside in [None, *args.outside]:
                if outside is None:
                    label = "06's expert"
                    net = dfn.train_dfn(domain.split("train"), epochs=epochs, seed=seed, device="cpu")[0]
                else:
                    label = f"source check, weight {args.weight:g}, outside {outside}"
                    SourceCheckedDFN.outside = outside
                    start = dfn.start_network(seed, network_class=SourceCheckedDFN)  # 06's start weights for this seed
                    net = dfn.train_dfn(domain.split("train"), start, epochs=epochs, seed=seed, device="cpu")[0]
                scores = measures.scores(dfn.predicted_frames(net, test), future)
                rows.append({"seed": seed, "domain": name, "network": label,
                             "val L1": float(dfn.prediction_l1(net, domain.split("val")).mean()),
                             "test L1": float(scores["L1"].mean()), "test L1 / constant velocity": float(scores["L1"].mean() / velocity),
                             "sharpness": float(scores["sharpness"].mean())})
                print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items()), flush=True)
    table = pd.DataFrame(rows)
    print(table.pivot_table(index=["domain", "seed"], columns="network").round(3).to_string())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
