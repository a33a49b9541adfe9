"""How many epochs notebook 06's video networks need: its Table 4 and its expert checks per epoch count.

    .venv/bin/python benchmarks/video_epochs.py [--epochs 4 6 8 10] [--seeds 0 1]

For each epoch count (the cosine learning-rate schedule always ends at zero, so a shorter run is a
shorter schedule, not a cut of the longer one) and seed it trains, as 06 does, one DFN expert per
mini video domain, the plain DFNs, the joint network and the single network fine-tuned in sequence,
and prints, beside the training seconds: the mean test L1 of the oracle experts, joint and single
FT; the experts' worst L1 ratios to the constant-velocity guess and to the last frame blurred to
their sharpness; their lowest sharpness ratio; and the plain DFNs' highest. 06's checks need the
ratios < 1 and < 1 (until 2026-12-06: < 1.02 against constant velocity), sharpness >= 0.6, plain < 0.6, oracle / joint <= 1.05 and oracle < single FT.
Expert Gate routes 97-100% of clips to their own expert in 06, so the oracle stands in for it here.
Prints; asserts nothing.
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


def one_run(clips: dict[str, dict[str, np.ndarray]], epochs: int, seed: int) -> dict[str, float]:
    """Train 06's networks for ``epochs`` with ``seed``; their scores on the test clips (see the module)."""
    names, options = list(clips), {"epochs": epochs, "seed": seed, "device": "cpu"}
    start = time.perf_counter()
    experts = {n: dfn.train_dfn(clips[n]["train"], **options)[0] for n in names}
    plain = {n: dfn.train_dfn(clips[n]["train"], prior_strength=0.0, **options)[0] for n in names}
    joint = dfn.train_dfn(np.concatenate([clips[n]["train"] for n in names]), **options)[0]
    single = dfn.finetune_in_sequence({n: clips[n]["train"] for n in names}, {n: clips[n]["test"] for n in names},
                                      first_stage=experts[names[0]], **options)[0]
    seconds = time.perf_counter() - start
    row: dict[str, float] = {"train s": seconds}
    for label, models in (("oracle", experts), ("joint", dict.fromkeys(names, joint)),
                          ("single FT", dict.fromkeys(names, single))):
        row[f"{label} L1"] = float(np.mean([dfn.prediction_l1(models[n], clips[n]["test"]).mean() for n in names]))
    cv, blurred, sharp, plain_sharp = [], [], [], []
    for n in names:
        test, future = clips[n]["test"], rivals.future_frames(clips[n]["test"])
        expert = measures.scores(dfn.predicted_frames(experts[n], test), future)
        sharpness = float(expert["sharpness"].mean())
        sigma = rivals.sigma_matching_sharpness(test, sharpness)
        cv.append(float(expert["L1"].mean() / measures.l1(rivals.constant_velocity(test), future).mean()))
        blurred.append(float(expert["L1"].mean() / measures.l1(rivals.blurred_last(test, sigma), future).mean()))
        sharp.append(sharpness)
        plain_sharp.append(float(measures.sharpness_ratio(dfn.predicted_frames(plain[n], test), future).mean()))
    row.update({"max L1/CV": max(cv), "max L1/blurred": max(blurred), "min sharpness": min(sharp),
                "max plain sharpness": max(plain_sharp)})
    row["oracle/joint"] = row["oracle L1"] / row["joint L1"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, nargs="+", default=[4, 6, 8, 10])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"  # every call trains ("train s" times training, not reading back a run folder)
    eglib.setup(seed=0, device="cpu")
    rows = {}
    for seed in args.seeds:
        videos = data.load_video_benchmark("mini", seed=seed)
        clips = {n: {s: domain.split(s) for s in ("train", "test")} for n, domain in videos.domains.items()}
        for epochs in args.epochs:
            rows[(seed, epochs)] = one_run(clips, epochs, seed)
            print(f"seed {seed}, {epochs} epochs: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[(seed, epochs)].items()),
                  flush=True)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["seed", "epochs"]
    print(table.round(3).to_string())


if __name__ == "__main__":
    main()
