"""Why do the digits keep only about half of their object pixels at t = 6? (issue 14)

    .venv/bin/python benchmarks/video_object_causes.py [--seeds 0 1 2] [--clips 400] [--epochs 10]
                                                       [--out benchmarks/results/video_object_causes.csv]

Notebook 06 finds that its `digits` expert, like constant velocity, still draws about half of the
true object pixels within one pixel of their place at the last predicted frame. The falling digits
have three things a prediction from 3 frames can miss: gravity (the velocity changes every frame),
bounces off the walls and the floor (a bounce between the last two seen frames spoils the last
displacement too), and whole-pixel positions of a continuous vertical motion (a digit's vertical
step varies by a pixel at a constant velocity). A second digit moves otherwise than the first,
which one shift of the whole frame cannot follow, and the two overlap, where block matching is
ambiguous. This script takes them apart with the domain's own generator
(:func:`eglib.video.clips.make_bouncing_digits`): fresh clips with and without gravity, with one or
two digits, each split by where a digit bounced (nowhere in the clip; only between seen frames; in
the three predicted steps), and for each group the share of object pixels kept and the spurious
pixels at t = 6 (:func:`eglib.video.measures.objects_kept`, tolerance 1 px, the domain's threshold) for

* 06's expert of the seed (trained on the domain's training clips as 06 trains it; ``--epochs``
  changes its training length),
* the prior alone (:func:`eglib.video.dfn.start_network`: the same network as its training starts),
* constant velocity (the whole frame shifted by its last displacement) and repeating the last frame.

The expert learnt the domain with gravity and two digits; the other conditions are outside what it
was trained on, which is what they are for: the prior and constant velocity have learnt nothing.
One row per (seed, condition, bounce group, method) in ``--out``; prints the mean and sd over the
seeds. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import eglib
from eglib import config, data
from eglib.video import clips as clip_generators
from eglib.video import dfn, measures, rivals
from eglib.video.clips import INPUT_FRAMES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_choices import machine  # noqa: E402

DEFAULT_OUT = config.REPO_ROOT / "benchmarks" / "results" / "video_object_causes.csv"
# condition -> generator options; the first is the mini domain itself
CONDITIONS = {
    "the domain (gravity, 2 digits)": {},
    "gravity, 1 digit": {"digits_per_clip": 1},
    "no gravity, 2 digits": {"gravity": 0.0},
    "no gravity, 1 digit": {"gravity": 0.0, "digits_per_clip": 1},
}


def predictions(clips: np.ndarray, expert: dfn.DynamicFilterNetwork,
                prior: dfn.DynamicFilterNetwork) -> dict[str, np.ndarray]:
    """Each method's 3 predicted frames of ``clips [N, 6, H, W]``, ``[N, 3, H, W]`` on the 0..255 scale."""
    return {"DFN expert": dfn.predicted_frames(expert, clips), "prior alone": dfn.predicted_frames(prior, clips),
            "constant velocity": rivals.constant_velocity(clips), "repeat the last frame": rivals.repeat_last(clips)}


BOUNCE_GROUPS = ("all", "no bounce", "bounce while seen only", "bounce while predicted")


def bounce_groups(bounced: np.ndarray) -> dict[str, np.ndarray]:
    """Clips by where a digit bounced, from the generator's ``bounced [N, 5]`` (step ``t``: frame ``t`` to ``t + 1``):
    ``[N]`` masks for all clips, none, only between seen frames, and in the predicted steps."""
    seen, predicted = bounced[:, :INPUT_FRAMES - 1].any(axis=1), bounced[:, INPUT_FRAMES - 1:].any(axis=1)
    return dict(zip(BOUNCE_GROUPS, (np.ones(len(bounced), dtype=bool), ~seen & ~predicted, seen & ~predicted, predicted)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--clips", type=int, default=400, help="clips generated per condition and seed")
    parser.add_argument("--epochs", type=int, help="the expert's training epochs (default: the mini profile's, 06's)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"
    eglib.setup(seed=0, device="cpu")
    epochs = args.epochs or config.get_profile("mini").video_epochs
    threshold = clip_generators.OBJECT_THRESHOLDS["digits"]
    rows = []
    for seed in args.seeds:
        train = data.load_video_benchmark("mini", seed=seed).domains["digits"].split("train")
        expert = dfn.train_dfn(train, seed=seed, epochs=epochs, device="cpu")[0]
        prior = dfn.start_network(seed)
        for condition, options in CONDITIONS.items():
            rng = np.random.default_rng([seed, 14])  # the same paths in every condition of a seed
            clips, bounced = clip_generators.make_bouncing_digits(args.clips, train.shape[-1], rng, with_bounces=True, **options)
            groups = bounce_groups(bounced)
            truth = rivals.future_frames(clips)
            for method, frames in predictions(clips, expert, prior).items():
                shares = measures.objects_kept(frames, truth, threshold)
                for group, members in groups.items():
                    rows.append({"seed": seed, "condition": condition, "clips": group, "method": method,
                                 "count": int(members.sum()),
                                 "kept": float(np.nanmean(shares["kept"][members, -1])),
                                 "spurious": float(np.nanmean(shares["spurious"][members, -1]))})
            print(f"seed {seed}, {condition}: " + ", ".join(f"{group} {members.mean():.0%}" for group, members in groups.items()
                                                            if group != "all"), flush=True)
    table = pd.DataFrame(rows)
    table["measured"] = f"{pd.Timestamp.now().isoformat(timespec='minutes')}, {machine()}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    order = {"condition": list(CONDITIONS), "clips": list(BOUNCE_GROUPS),
             "method": ["DFN expert", "prior alone", "constant velocity", "repeat the last frame"]}
    summary = table.groupby(["condition", "clips", "method"])[["kept", "spurious", "count"]].agg(["mean", "std"])
    summary = summary.reindex(pd.MultiIndex.from_product(order.values(), names=list(order)))
    print("t = 6, object pixels kept within 1 px and spurious bright pixels per object pixel (mean, sd over the seeds)")
    print(summary.round(3).to_string())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
