"""Does any of 06's measured expert settings keep more of the objects at t = 6, or draw fewer streaks?

    .venv/bin/python benchmarks/video_objects.py [--seeds 0 1 2] [--variants adopted "20 epochs" ...]
                                                 [--out benchmarks/results/video_objects.csv]

Notebook 06 counts, at the last predicted frame, the share of the true object pixels that its
experts still draw within one pixel ("kept") and the bright pixels they draw where no object is
("spurious": the streak where two digits overlapped, shapes that stay joined), on the two mini
domains with bright objects on a darker ground (:func:`eglib.video.measures.objects_kept`,
:data:`eglib.video.clips.OBJECT_THRESHOLDS`). This script trains 06's expert with one setting
changed at a time, as ``benchmarks/video_choices.py`` does (its variants, its training), on those
two domains only, and writes one row per (seed, variant, domain): kept, spurious and the share of
clips that keep at least half of their object, at t = 6 on the test clips; then prints each
variant's change against the adopted expert of the same seed (mean +- sd over the seeds). The
adopted rows are 06's own experts (the same seeds, data and training), so they give 06's numbers.
Asserts nothing.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from video_choices import VARIANTS, machine, train_variant  # noqa: E402  (06's variants, trained alike)

DEFAULT_OUT = config.REPO_ROOT / "benchmarks" / "results" / "video_objects.csv"
DEFAULT_VARIANTS = ["adopted", "20 epochs", "filter 9", "L1 + gradient difference", "forward splatting",
                    "U-Net logits x10", "U-Net logits x30", "learning rate 0.01"]


def objects_at_last_frame(expert: dfn.DynamicFilterNetwork, test: np.ndarray, threshold: float) -> dict[str, float]:
    """Kept and spurious object pixels at the last predicted frame, means over the clips
    ``test [N, 6, H, W]``, and the share of clips that keep at least half of their object."""
    by_frame = measures.objects_kept_by_frame(dfn.predicted_frames(expert, test), rivals.future_frames(test), threshold)
    return {measure: float(values[-1]) for measure, values in by_frame.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS, choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    variants = list(dict.fromkeys(["adopted", *args.variants]))  # the reference of every change, from this run
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"
    eglib.setup(seed=0, device="cpu")
    epochs = config.get_profile("mini").video_epochs
    rows = []
    for seed in args.seeds:
        domains = data.load_video_benchmark("mini", seed=seed).domains
        for variant in variants:
            for name, threshold in clip_generators.OBJECT_THRESHOLDS.items():
                expert = train_variant(variant, domains[name].split("train"), seed, epochs)
                rows.append({"seed": seed, "variant": variant, "domain": name,
                             **objects_at_last_frame(expert, domains[name].split("test"), threshold)})
                print(f"seed {seed}, {variant}, {name}: " + ", ".join(
                    f"{key} {value:.3f}" for key, value in rows[-1].items() if isinstance(value, float)), flush=True)
    table = pd.DataFrame(rows)
    table["measured"] = f"{pd.Timestamp.now().isoformat(timespec='minutes')}, {machine()}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    values = table.set_index(["variant", "seed", "domain"])[["kept", "spurious", "clips with half kept"]]
    change = values - values.xs("adopted", level="variant")  # paired with the adopted expert of the same seed
    summary = change.drop(index="adopted", level="variant").groupby(["variant", "domain"]).agg(["mean", "std"])
    print("adopted (06's experts), mean over the seeds:")
    print(values.xs("adopted", level="variant").groupby("domain").mean().round(3).to_string())
    print("each variant minus the adopted expert of the same seed (mean, sd over the seeds):")
    print(summary.round(3).to_string())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
