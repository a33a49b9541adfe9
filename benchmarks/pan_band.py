"""Where the pan expert of notebook 06 gains and loses against the constant-velocity guess.

    .venv/bin/python benchmarks/pan_band.py [--seeds 0 1 2] [--strengths 20 30 50] [--raw-strengths 300]
                                            [--all-domains]

On a pan the whole frame moves by one whole-pixel velocity, so constant velocity (the last frame
shifted by the last displacement) is exact everywhere except in the band of new content that enters
at the leading edges, which no seen frame shows (k times the velocity wide at the k-th predicted
step). This script trains the pan expert as 06 does (the mini profile's epochs, the video seed for data and
training) with each strength of the matching prior (the relative cost, 06's, and ``--raw-strengths``
for the raw cost that 06 used until 2026-12-06), and splits both methods' mean L1 into what the band
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
from eglib import config, data
from eglib.video import dfn, measures, rivals
from eglib.video.clips import PREDICTED_FRAMES


def entering_band(clips: np.ndarray) -> np.ndarray:
    """Where a predicted frame shows content that entered at an edge: bool ``[N, 3, H, W]`` for
    uint8 clips ``[N, 6, H, W]``, True at the pixels whose source under the last seen displacement
    (:func:`eglib.video.rivals.last_displacements`, the one constant velocity uses) lies outside
    the frame -- where :func:`~eglib.video.rivals.constant_velocity` repeats the edge pixel."""
    n, _, h, w = clips.shape
    rows, cols = np.arange(h)[None, None, :, None], np.arange(w)[None, None, None, :]
    steps = np.arange(1, PREDICTED_FRAMES + 1)[None, :, None, None]
    shifts = rivals.last_displacements(clips)[:, :, None, None, None]  # [N, 2, 1, 1, 1]
    source_rows, source_cols = rows - steps * shifts[:, 0], cols - steps * shifts[:, 1]
    return (source_rows < 0) | (source_rows >= h) | (source_cols < 0) | (source_cols >= w)


def split_l1(predicted: np.ndarray, truth: np.ndarray, band: np.ndarray) -> dict[str, float]:
    """Mean L1 of float frames ``predicted`` and ``truth`` ``[N, 3, H, W]`` (0..255), and what the
    pixels inside and outside ``band`` (bool, same shape) contribute to it (the two add up to it)."""
    error = np.abs(predicted - truth)
    return {"L1": float(error.mean()), "band": float(error[band].sum() / error.size),
            "interior": float(error[~band].sum() / error.size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strengths", type=float, nargs="+", default=[20.0, 30.0, 50.0],
                        help="strengths of the relative matching cost (06's default: 30)")
    parser.add_argument("--raw-strengths", type=float, nargs="*", default=[300.0],
                        help="strengths of the raw matching cost (relative_prior=False; 06 until 2026-12-06: 300)")
    parser.add_argument("--all-domains", action="store_true")
    args = parser.parse_args()
    os.environ["EGLIB_REUSE"] = "0"  # every network trained here, none read back
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    epochs = config.get_profile("mini").video_epochs  # 06's
    names = ("pan", "digits", "shapes") if args.all_domains else ("pan",)
    pan_rows, other_rows = [], []
    for seed in args.seeds:
        eglib.setup(seed=seed, device="cpu")
        domains = data.load_video_benchmark("mini", seed=seed).domains
        tests = {n: domains[n].split("test") for n in names}
        truths = {n: rivals.future_frames(tests[n]) for n in names}
        guesses = {n: rivals.constant_velocity(tests[n]) for n in names}
        band = entering_band(tests["pan"])
        pan_rows.append({"seed": seed, "method": "constant velocity", **split_l1(guesses["pan"], truths["pan"], band)})
        priors = [(f"relative {s:g}", {"prior_strength": s}) for s in args.strengths]
        priors += [(f"raw {s:g}", {"prior_strength": s, "relative_prior": False}) for s in args.raw_strengths]
        for label, prior in priors:
            for name in names:
                start = time.perf_counter()
                expert, _ = dfn.train_dfn(domains[name].split("train"), epochs=epochs, seed=seed, device="cpu", **prior)
                predicted, seconds = dfn.predicted_frames(expert, tests[name]), time.perf_counter() - start
                if name == "pan":
                    pan_rows.append({"seed": seed, "method": f"expert, prior {label}",
                                     **split_l1(predicted, truths[name], band), "train s": seconds})
                else:
                    scores = {k: float(v.mean()) for k, v in measures.scores(predicted, truths[name]).items()}
                    other_rows.append({"seed": seed, "domain": name, "prior": label, **scores,
                                       "constant velocity L1": float(measures.l1(guesses[name], truths[name]).mean())})
        print(f"seed {seed}: the entering band is {band.mean():.3f} of the pan's predicted pixels", flush=True)
    table = pd.DataFrame(pan_rows)
    print("\npan test clips: mean L1 (0-255) and what the entering band and the interior contribute to it")
    print(table.round(3).to_string(index=False))
    print("\nmean over seeds")
    print(table.groupby("method")[["L1", "band", "interior"]].agg(["mean", "std"]).round(3).to_string())
    # paired by seed (the same test clips): the expert's L1 minus constant velocity's; < 0 on every seed is a win
    guess = table[table["method"] == "constant velocity"].set_index("seed")["L1"]
    lead = table.assign(**{"minus constant velocity": table["L1"] - table["seed"].map(guess)})
    print("\nL1 minus constant velocity's, per seed (< 0: the expert is better)")
    print(lead.pivot(index="method", columns="seed", values="minus constant velocity").round(3).to_string())
    if other_rows:
        print("\nthe other domains' experts at each prior strength")
        print(pd.DataFrame(other_rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
