"""Would more training clips, more steps or a wider U-Net keep more of the objects at t = 6? (issue 14)

    .venv/bin/python benchmarks/video_training_clips.py [--seeds 0 1 2] [--factor 4]
                                                        [--out benchmarks/results/video_training_clips.csv]

Notebook 06's experts learn from 240 training clips per domain, 10 epochs of batch 32: 75 steps.
Its `digits` expert keeps about half of the object pixels at the last predicted frame, no more than
its untrained prior (``benchmarks/video_object_causes.py`` shows why: the fall and the bounces). Is
that a limit of the method at this size, or of the data and the training it gets? The mini domains
are generated, so clips are free; training time is not. For each seed this script generates every
domain with ``--factor`` times 06's training clips (the same generator and seed, so the validation
and test clips are fresh ones, cut from the same stream, shared by every arm) and trains 06's expert
(:func:`eglib.video.dfn.train_dfn`, its settings) four ways:

* ``06's setting``           -- the first 240 training clips, the profile's 10 epochs;
* ``same clips, xF epochs``  -- those 240 clips, ``F`` times the epochs: the steps of the next arm;
* ``xF clips``               -- all ``F x 240`` clips, 10 epochs;
* ``U-Net width 16``         -- 06's setting with twice the U-Net's channels (``width=16``).

One row per (seed, arm, domain) in ``--out``: at t = 6 on the test clips, the object pixels kept
within one pixel, the spurious pixels and the share of clips that keep half their object
(:func:`eglib.video.measures.objects_kept_by_frame`, the domains with known object levels), the test
L1 of the three predicted frames, the training seconds and their ratio to 06's setting in the same
run (the machine drifts). Prints each arm's change from 06's setting, mean +- sd over the seeds.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import eglib
from eglib import config
from eglib.video import clips as clip_generators
from eglib.video import dfn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_choices import machine  # noqa: E402
from video_objects import objects_at_last_frame  # noqa: E402

DEFAULT_OUT = config.REPO_ROOT / "benchmarks" / "results" / "video_training_clips.csv"
SETTING = "06's setting"


def arms(factor: int, clips: int) -> dict[str, dict]:
    """Each arm: how many of the training clips it uses (``clips``), the epochs' multiplier and the network's options."""
    return {SETTING: {"clips": clips, "epochs": 1, "options": {}},
            f"same clips, x{factor} epochs": {"clips": clips, "epochs": factor, "options": {}},
            f"x{factor} clips": {"clips": factor * clips, "epochs": 1, "options": {}},
            "U-Net width 16": {"clips": clips, "epochs": 1, "options": {"width": 16}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--factor", type=int, default=4, help="training clips (and epochs) of the larger arms, times 06's")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    if args.factor < 2:
        raise SystemExit(f"--factor must be 2 or more (1 gives 06's setting again); got {args.factor}.")
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"  # every network is trained here ("train s" times training)
    eglib.setup(seed=0, device="cpu")
    epochs = config.get_profile("mini").video_epochs
    base = clip_generators.MINI_SPLITS["train"]
    splits = {**clip_generators.MINI_SPLITS, "train": args.factor * base}
    plan, rows = arms(args.factor, base), []
    for seed in args.seeds:
        domains = clip_generators.make_mini_video(seed=seed, splits=splits)
        for name, threshold in clip_generators.OBJECT_THRESHOLDS.items():
            train, test = domains[name].split("train"), domains[name].split("test")
            for arm, how in plan.items():
                start = time.perf_counter()
                expert = dfn.train_dfn(train[:how["clips"]], epochs=how["epochs"] * epochs, seed=seed, device="cpu",
                                       **how["options"])[0]
                seconds = time.perf_counter() - start
                rows.append({"seed": seed, "arm": arm, "domain": name, **objects_at_last_frame(expert, test, threshold),
                             "test L1": float(dfn.prediction_l1(expert, test).mean()), "train s": seconds})
                print(f"seed {seed}, {name}, {arm}: " + ", ".join(
                    f"{key} {value:.3f}" for key, value in rows[-1].items() if isinstance(value, float)), flush=True)
    table = pd.DataFrame(rows)
    reference = table[table["arm"] == SETTING].set_index(["seed", "domain"])["train s"]
    table["train s / 06's"] = table["train s"].to_numpy() / reference.reindex(
        pd.MultiIndex.from_frame(table[["seed", "domain"]])).to_numpy()
    table["measured"] = f"{pd.Timestamp.now().isoformat(timespec='minutes')}, {machine()}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    measured = ["kept", "spurious", "clips with half kept", "test L1"]
    values = table.set_index(["arm", "seed", "domain"])
    print(f"{SETTING}, mean over the seeds:")
    print(values.xs(SETTING, level="arm")[measured].groupby("domain").mean().round(3).to_string())
    change = values[measured] - values.xs(SETTING, level="arm")[measured]  # paired: the same seed and test clips
    change["train s / 06's"] = values["train s / 06's"]
    print(f"each arm minus {SETTING} of the same seed (mean, sd over the seeds; the time as a ratio):")
    # sort=False: per domain, the arms in the order they ran
    summary = change.drop(index=SETTING, level="arm").groupby(["arm", "domain"], sort=False).agg(["mean", "std"])
    print(summary.round(3).to_string())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
