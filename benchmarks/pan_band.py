"""Where the pan expert of notebook 06 gains and loses against the constant-velocity guess.

    .venv/bin/python benchmarks/pan_band.py [--seeds 0 1 2] [--strengths 300 1000]

On a pan the whole frame moves by one whole-pixel velocity, so constant velocity (the last frame
shifted by the last displacement) is exact everywhere except in the band of new content that enters
at the leading edges, which no seen frame shows (k times the velocity wide at the k-th predicted
step). This script trains the pan expert as 06 does (10 epochs, the video seed for data and
training) with each matching-prior strength, and splits both methods' mean L1 into what the band
and the rest of the frame (the interior) contribute: the two parts add up to the mean L1. With
``--all-domains`` it also prints the digits' and shapes' experts' L1, SSIM and sharpness ratio at
each strength, against constant velocity. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd

import eglib
from eglib import data
from eglib.video import dfn, measures, rivals
from eglib.video.clips import INPUT_FRAMES, PREDICTED_FRAMES


def entering_band(clips: np.ndarray) -> np.ndarray:
    """``[N, 3, H, W]`` True where a predicted frame shows content that entered at an edge: the
    pixels whose source under the last seen displacement (phase correlation) lies outside the frame."""
    n, _, h, w = clips.shape
    band = np.zeros((n, PREDICTED_FRAMES, h, w), dtype=bool)
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    for i, clip in enumerate(clips):
        dy, dx = rivals.displacement(clip[INPUT_FRAMES - 2], clip[INPUT_FRAMES - 1])
        for step in range(PREDICTED_FRAMES):
            source_row, source_col = rows - (step + 1) * dy, cols - (step + 1) * dx
            band[i, step] = (source_row < 0) | (source_row >= h) | (source_col < 0) | (source_col >= w)
    return band


def split_l1(predicted: np.ndarray, truth: np.ndarray, band: np.ndarray) -> dict[str, float]:
    """Mean L1 and what the band and the interior contribute to it (they add up to it)."""
    error = np.abs(predicted - truth)
    return {"L1": float(error.mean()), "band": float(error[band].sum() / error.size),
            "interior": float(error[~band].sum() / error.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strengths", type=float, nargs="+", default=[300.0, 1000.0])
    parser.add_argument("--all-domains", action="store_true")
    args = parser.parse_args()
    os.environ["EGLIB_REUSE"] = "0"  # every network trained here, none read back
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    rows, others = [], []
    for seed in args.seeds:
        eglib.setup(seed=seed, device="cpu")
        domains = data.load_video_benchmark("mini", seed=seed).domains
        test = domains["pan"].split("test")
        truth, band = rivals.future_frames(test), entering_band(test)
        rows.append({"seed": seed, "method": "constant velocity", "band share": float(band.mean()),
                     **split_l1(rivals.constant_velocity(test), truth, band)})
        for strength in args.strengths:
            start = time.perf_counter()
            expert, _ = dfn.train_dfn(domains["pan"].split("train"), epochs=10, seed=seed, device="cpu",
                                      prior_strength=strength)
            rows.append({"seed": seed, "method": f"expert, prior {strength:g}", "band share": float(band.mean()),
                         **split_l1(dfn.predicted_frames(expert, test), truth, band),
                         "train s": time.perf_counter() - start})
            for name in ("digits", "shapes") if args.all_domains else ():
                clips = domains[name].split("test")
                model, _ = dfn.train_dfn(domains[name].split("train"), epochs=10, seed=seed, device="cpu",
                                         prior_strength=strength)
                future = rivals.future_frames(clips)
                scores = {k: float(v.mean()) for k, v in measures.scores(dfn.predicted_frames(model, clips), future).items()}
                others.append({"seed": seed, "domain": name, "prior": strength, **scores,
                               "constant velocity L1": float(measures.l1(rivals.constant_velocity(clips), future).mean())})
    table = pd.DataFrame(rows)
    print("pan test clips: mean L1 (0-255) and what the entering band and the interior contribute to it")
    print(table.round(3).to_string(index=False))
    print("\nmean over seeds")
    print(table.groupby("method")[["L1", "band", "interior"]].agg(["mean", "std"]).round(3).to_string())
    if others:
        print("\nthe other domains' experts at each prior strength")
        print(pd.DataFrame(others).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
