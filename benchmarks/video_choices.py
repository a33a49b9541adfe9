"""How notebook 06's DFN experts are set up, by measurement: filter size, border, training length, loss.

    .venv/bin/python benchmarks/video_choices.py [--seeds 0 1 2] [--variants adopted "filter 5" ...]
                                                 [--out benchmarks/results/video_choices.csv] [--update]
                                                 [--clips-figure clips.png]

For each seed and each variant it trains one DFN expert per mini video domain, as 06 does (the
matching prior, Adam on a cosine schedule), changing one setting of 06's expert at a time:

* ``adopted``             -- 06's expert: 7x7 filters, replicated border, the profile's 10 epochs, L1 loss;
* ``filter 5``, ``filter 9`` -- 5x5 (motion up to 2 px a frame) or 9x9 filters (up to 4 px);
* ``zero border``         -- black past the frame's edge instead of the edge pixel, for the filters and
                             the matching prior alike;
* ``5 epochs``, ``20 epochs`` -- half or twice the training (each a full cosine schedule);
* ``L1 + gradient difference`` -- the loss plus :func:`eglib.video.dfn.gradient_difference` at weight 1
  (``..., weight 0.3`` and ``..., weight 3``: a third and three times that);
* ``forward splatting``   -- each pixel carried to where it goes instead of taken from where it came
  (:class:`eglib.video.dfn.ForwardSplatDFN`; the gaps filled by the backward filter);
* ``U-Net logits x10``, ``x30``, ``learning rate 0.01`` -- the U-Net's filter logits multiplied by 10 or
  30 (:class:`LouderUNetDFN`), or a learning rate of 0.01 instead of 0.003: can the network outweigh the
  matching prior (strength 30) where the last velocity is wrong (the digits' fall, their bounces)?
  Measured for the objects kept by ``benchmarks/video_objects.py`` (2026-12-06); not in the stored
  ``video_choices.csv``.

Dilation is not a variant: 06 measures how far the mini domains' pixels move in a frame
(:func:`eglib.video.dfn.motion_reach`, in its section *The expert's settings, chosen by
measurement*), and a dilated filter cannot take a pixel from an odd offset.

It writes one row per (seed, variant, domain): the validation L1 (the split the choice is made on),
the test L1, SSIM and sharpness ratio (:mod:`eglib.video.measures`), the test L1 over constant
velocity's, the training seconds, and the adopted expert's training seconds for the same seed and
domain in the same run (``adopted train s``: the machine drifts, so a time ratio is taken within
one run; ``adopted`` is therefore always measured); then prints the mean over domains, mean +- sd
over seeds. ``--clips-figure`` also draws the first test clip of each domain (first seed) with
each variant's prediction. Notebook 06 reads the CSV and shows it. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

import eglib
from eglib import config, data
from eglib.run import plots
from eglib.video import dfn, measures, rivals
from eglib.video.clips import INPUT_FRAMES

DEFAULT_OUT = config.REPO_ROOT / "benchmarks" / "results" / "video_choices.csv"


class LouderUNetDFN(dfn.DynamicFilterNetwork):
    """06's DFN whose U-Net filter logits are multiplied by ``logit_scale`` before the prior is subtracted
    (the trust channel is left alone): the start network's logits are small (its last layer is scaled
    by 0.1), and a few epochs of Adam cannot grow them to the prior's size, so without a scale the
    U-Net can only nudge the prior's choice of offset, not overrule it."""

    logit_scale = 10.0

    def __init__(self, **model_options) -> None:
        super().__init__(**model_options)
        self.to_filters.register_forward_hook(self._scale_logits)

    def _scale_logits(self, _module: nn.Module, _inputs: tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
        """``[N, k*k + 1, H, W]``: the logits scaled, the trust channel as it was."""
        return torch.cat([output[:, :-1] * self.logit_scale, output[:, -1:]], dim=1)


def louder_unet(scale: float) -> type[LouderUNetDFN]:
    """:class:`LouderUNetDFN` with ``logit_scale = scale``."""
    return type(f"LouderUNetDFN{scale:g}", (LouderUNetDFN,), {"logit_scale": float(scale)})


# each variant: the options of train_dfn it changes (the "network" key: the network's class, if not 06's)
VARIANTS: dict[str, dict] = {
    "adopted": {},
    "filter 5": {"filter_size": 5},
    "filter 9": {"filter_size": 9},
    "zero border": {"network": dfn.ZeroBorderDFN},
    "5 epochs": {"epochs": 5},
    "20 epochs": {"epochs": 20},
    "L1 + gradient difference": {"gradient_weight": 1.0},
    "L1 + gradient difference, weight 0.3": {"gradient_weight": 0.3},
    "L1 + gradient difference, weight 3": {"gradient_weight": 3.0},
    "forward splatting": {"network": dfn.ForwardSplatDFN},
    "U-Net logits x10": {"network": louder_unet(10.0)},
    "U-Net logits x30": {"network": louder_unet(30.0)},
    "learning rate 0.01": {"lr": 0.01},
}


def train_variant(variant: str, clips: np.ndarray, seed: int, epochs: int) -> dfn.DynamicFilterNetwork:
    """06's expert of ``seed`` trained on ``clips [N, 6, H, W]`` with the variant's one change."""
    options = {"epochs": epochs, **VARIANTS[variant]}
    network = options.pop("network", None)
    if network is not None:
        # the start weights 06's expert of this seed gets
        return dfn.train_dfn(clips, dfn.start_network(seed, network_class=network), seed=seed, device="cpu", **options)[0]
    return dfn.train_dfn(clips, seed=seed, device="cpu", **options)[0]


def measure(variant: str, seed: int, clips: dict[str, dict[str, np.ndarray]],
            epochs: int) -> tuple[list[dict], dict[str, dfn.DynamicFilterNetwork]]:
    """One row per domain: the variant's expert trained with ``seed``, scored on val and test; and
    the experts, by domain."""
    rows, experts = [], {}
    for name, splits in clips.items():
        start = time.perf_counter()
        expert = train_variant(variant, splits["train"], seed, epochs)
        seconds = time.perf_counter() - start
        experts[name] = expert
        test, future = splits["test"], rivals.future_frames(splits["test"])
        scores = measures.scores(dfn.predicted_frames(expert, test), future)
        rows.append({"seed": seed, "variant": variant, "domain": name,
                     "val L1": float(dfn.prediction_l1(expert, splits["val"]).mean()),
                     "test L1": float(scores["L1"].mean()), "test SSIM": float(scores["SSIM"].mean()),
                     "test sharpness": float(scores["sharpness"].mean()),
                     "test L1 / constant velocity": float(scores["L1"].mean()
                                                          / measures.l1(rivals.constant_velocity(test), future).mean()),
                     "train s": seconds})
    return rows, experts


def machine() -> str:
    """The CPU's model name (Linux) or architecture, and torch's thread count: where a row was measured."""
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
              if line.startswith("model name")]
    return f"{models[0] if models else platform.machine()}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--update", action="store_true",
                        help="keep the rows of --out for the other (seed, variant) pairs, replace those measured now")
    parser.add_argument("--clips-figure", type=Path, help="draw the first seed's first test clip per domain, each variant's prediction")
    args = parser.parse_args()
    args.variants = list(dict.fromkeys(["adopted", *args.variants]))  # the time ratios' reference, from this run
    os.environ.setdefault("EGLIB_PROGRESS", "0")
    os.environ["EGLIB_REUSE"] = "0"  # every expert is trained here ("train s" times training)
    eglib.setup(seed=0, device="cpu")
    epochs = config.get_profile("mini").video_epochs
    rows, figure_rows = [], {}  # figure_rows: per domain, its truth and each variant's prediction
    for seed in args.seeds:
        videos = data.load_video_benchmark("mini", seed=seed)
        clips = {n: {s: domain.split(s) for s in ("train", "val", "test")} for n, domain in videos.domains.items()}
        for variant in args.variants:
            measured, experts = measure(variant, seed, clips, epochs)
            rows += measured
            if seed == args.seeds[0]:
                for name, expert in experts.items():
                    clip = clips[name]["test"][0]
                    rows_of = figure_rows.setdefault(name, {f"{name}: truth": clip})
                    rows_of[f"{name}: {variant}"] = np.concatenate([clip[:INPUT_FRAMES], dfn.predict_clips(expert, clip[None])[0]])
            last = pd.DataFrame(rows[-len(clips):])
            print(f"seed {seed}, {variant}: val L1 {last['val L1'].mean():.3f}, test L1 {last['test L1'].mean():.3f}, "
                  f"sharpness {last['test sharpness'].mean():.3f}, {last['train s'].sum():.0f} s", flush=True)
    table = pd.DataFrame(rows)
    reference = table[table["variant"] == "adopted"].set_index(["seed", "domain"])["train s"]
    table["adopted train s"] = reference.reindex(pd.MultiIndex.from_frame(table[["seed", "domain"]])).to_numpy()
    table["measured"] = f"{datetime.now().isoformat(timespec='minutes')}, {machine()}, torch {torch.__version__}"
    if args.update and args.out.exists():
        kept = pd.read_csv(args.out)
        # (the rows measured before this column existed got it once, by hand, from the adopted rows of their
        # own run, 2026-12-06T09:42, which that run had written)
        if "adopted train s" not in kept:
            raise SystemExit(f"{args.out} predates the adopted expert's time per row: run without --update to measure every variant")
        measured_now = kept.set_index(["seed", "variant"]).index.isin(table.set_index(["seed", "variant"]).index)
        order = {variant: i for i, variant in enumerate(VARIANTS)}  # seeds, then the variants as listed above
        table = pd.concat([kept[~measured_now], table]).sort_values(
            ["seed", "variant"], key=lambda column: column.map(order) if column.name == "variant" else column, kind="stable")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.4f")
    per_seed = table.groupby(["variant", "seed"]).mean(numeric_only=True).drop(columns="seed", errors="ignore")
    summary = per_seed.groupby("variant").agg(["mean", "std"])
    print(summary[["val L1", "test L1", "test sharpness", "train s"]].round(3).to_string())
    print(f"wrote {args.out}")
    if args.clips_figure:
        every_row = {label: clip for rows_of in figure_rows.values() for label, clip in rows_of.items()}
        title = f"First test clip per domain, seed {args.seeds[0]}: each variant's prediction"
        plots.show_clips(every_row, title, seen=INPUT_FRAMES).savefig(args.clips_figure, dpi=90, bbox_inches="tight")
        print(f"wrote {args.clips_figure}")


if __name__ == "__main__":
    main()
