"""How notebook 06's DFN experts are set up, by measurement: filter size, border, training length, loss.

    .venv/bin/python benchmarks/video_choices.py [--seeds 0 1 2] [--variants adopted "filter 5" ...]
                                                 [--out benchmarks/results/video_choices.csv]

For each seed and each variant it trains one DFN expert per mini video domain, as 06 does (the
matching prior, Adam on a cosine schedule), changing one setting of 06's expert at a time:

* ``adopted``             -- 06's expert: 7x7 filters, replicated border, the profile's 10 epochs, L1 loss;
* ``filter 5``, ``filter 9`` -- 5x5 (motion up to 2 px a frame) or 9x9 filters (up to 4 px);
* ``zero border``         -- the filtered neighbourhoods padded with black instead of the edge pixel;
* ``5 epochs``, ``20 epochs`` -- half or twice the training (each a full cosine schedule);
* ``L1 + gradient difference`` -- the loss plus :func:`eglib.video.dfn.gradient_difference` at weight 1.

Dilation is not a variant: 06 measures how far the mini domains' pixels move in a frame (the cell
*Why 7x7 filters*), and a dilated filter cannot take a pixel from an odd offset.

It writes one row per (seed, variant, domain): the validation L1 (the split the choice is made on),
the test L1, SSIM and sharpness ratio (:mod:`eglib.video.measures`), the test L1 over constant
velocity's, and the training seconds; then prints the mean over domains, mean +- sd over seeds.
Notebook 06 reads the CSV and shows it. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import eglib
from eglib import config, data
from eglib.video import dfn, measures, rivals

DEFAULT_OUT = config.REPO_ROOT / "benchmarks" / "results" / "video_choices.csv"


class ZeroBorderDFN(dfn.DynamicFilterNetwork):
    """06's DFN, but a filter that points past the frame's edge takes black (zero padding)."""

    def step(self, frames: torch.Tensor) -> torch.Tensor:
        n, _, h, w = frames.shape
        k = self.filter_size
        patches = F.unfold(frames[:, -1:], k, padding=k // 2)  # [N, k*k, H*W], zeros past the edge
        return (patches * self.filters(frames).view(n, k * k, h * w)).sum(dim=1).view(n, h, w)


def _trainer(variant: str, epochs: int) -> Callable[[np.ndarray, int], dfn.DynamicFilterNetwork]:
    """``train(clips, seed) -> expert`` for one variant (every other setting is 06's)."""
    if variant == "zero border":
        def train(clips: np.ndarray, seed: int) -> dfn.DynamicFilterNetwork:
            torch.manual_seed(seed)  # the start weights 06's expert of this seed would get
            return dfn.train_dfn(clips, ZeroBorderDFN(), epochs=epochs, seed=seed, device="cpu")[0]
        return train
    options: dict = {"epochs": epochs}
    if variant.startswith("filter "):
        options["filter_size"] = int(variant.split()[1])
    elif variant.endswith(" epochs"):
        options["epochs"] = int(variant.split()[0])
    elif variant == "L1 + gradient difference":
        options["gradient_weight"] = 1.0
    elif variant != "adopted":
        raise ValueError(f"Unknown variant {variant!r}; choose from {VARIANTS}.")
    return lambda clips, seed: dfn.train_dfn(clips, seed=seed, device="cpu", **options)[0]


VARIANTS = ("adopted", "filter 5", "filter 9", "zero border", "5 epochs", "20 epochs", "L1 + gradient difference")


def measure(variant: str, seed: int, clips: dict[str, dict[str, np.ndarray]], epochs: int) -> list[dict]:
    """One row per domain: the variant's expert trained with ``seed``, scored on val and test."""
    train, rows = _trainer(variant, epochs), []
    for name, splits in clips.items():
        start = time.perf_counter()
        expert = train(splits["train"], seed)
        seconds = time.perf_counter() - start
        test, future = splits["test"], rivals.future_frames(splits["test"])
        scores = measures.scores(dfn.predicted_frames(expert, test), future)
        rows.append({"seed": seed, "variant": variant, "domain": name,
                     "val L1": float(dfn.prediction_l1(expert, splits["val"]).mean()),
                     "test L1": float(scores["L1"].mean()), "test SSIM": float(scores["SSIM"].mean()),
                     "test sharpness": float(scores["sharpness"].mean()),
                     "test L1 / constant velocity": float(scores["L1"].mean()
                                                          / measures.l1(rivals.constant_velocity(test), future).mean()),
                     "train s": seconds})
    return rows


def machine() -> str:
    """The CPU's model name (Linux) or architecture, and torch's thread count: where a row was measured."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
              if line.startswith("model name")]
    return f"{models[0] if models else platform.machine()}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"  # every expert is trained here ("train s" times training)
    eglib.setup(seed=0, device="cpu")
    epochs = config.get_profile("mini").video_epochs
    rows = []
    for seed in args.seeds:
        videos = data.load_video_benchmark("mini", seed=seed)
        clips = {n: {s: domain.split(s) for s in ("train", "val", "test")} for n, domain in videos.domains.items()}
        for variant in args.variants:
            rows += measure(variant, seed, clips, epochs)
            last = pd.DataFrame(rows[-len(clips):])
            print(f"seed {seed}, {variant}: val L1 {last['val L1'].mean():.3f}, test L1 {last['test L1'].mean():.3f}, "
                  f"sharpness {last['test sharpness'].mean():.3f}, {last['train s'].sum():.0f} s", flush=True)
    table = pd.DataFrame(rows)
    table["measured"] = f"{date.today().isoformat()}, {machine()}, torch {torch.__version__}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    per_seed = table.groupby(["variant", "seed"]).mean(numeric_only=True).drop(columns="seed", errors="ignore")
    summary = per_seed.groupby("variant").agg(["mean", "std"])
    print(summary[["val L1", "test L1", "test sharpness", "train s"]].round(3).to_string())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
