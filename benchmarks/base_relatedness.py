"""Can the base task be the related source of `photos`, as ImageNet is of Scenes? Prints; asserts nothing.

    .venv/bin/python benchmarks/base_relatedness.py [--seeds 0 1 2] [--bases current photographs mixed]

Issue 12 asks that at least one task of the default arrival order be trained with LwF. In the
paper that happens from the base task: ImageNet -> Scenes 0.924, ImageNet -> Birds 0.865 (both
LwF), because ImageNet's images cover theirs. The mini base set ("the ImageNet stand-in") is cut
from twelve scikit-image samples that no domain uses, mostly grey scientific images, so with the
200-epoch autoencoders the base relates to `photos` at only about 0.15-0.25. This script builds
other base sets of the same size and crop scales and prints, per seed and base set, the
relatedness of the base task to every mini domain (as notebook 03 and the learner compute it:
each domain's autoencoder on its own seed, errors on its validation split) and, since the base set
also fixes the gate's standardisation, the gate's and the task classifier's test accuracy:

* ``current``: the mini benchmark's base set;
* ``photographs``: crops (15-90% of the short side) of the seven natural colour photographs the
  installed packages ship: the six that ``photos`` is cut from (at 25-50%) and matplotlib's
  ``grace_hopper``;
* ``mixed``: half of each;
* ``other-photographs``: crops of the natural colour photographs that no domain uses
  (:func:`other_photographs`), so that no base image shows a photograph that ``photos`` is cut from.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from matplotlib import cbook
from PIL import Image

import eglib
from eglib import config, data, features
from eglib.baselines.taskclassifier import train_task_classifier
from eglib.data import mini, mini_images
from eglib.features import extract
from eglib.method.autoencoder import train_autoencoder
from eglib.method.gate import train_gate
from eglib.method.relatedness import relatedness_from_errors
from eglib.method.standardizer import FeatureStandardizer
from eglib.run import scoring


def photographs() -> list[np.ndarray]:
    """The natural colour photographs of the installed packages, uint8 ``[H, W, 3]``."""
    pictures = [mini_images._photographs()[name] for name in sorted(mini_images._photographs())]
    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as hopper:
        pictures.append(np.asarray(hopper.convert("RGB")))
    return pictures


def other_photographs() -> list[np.ndarray]:
    """The natural colour photographs of the installed packages that no mini domain uses, uint8
    ``[H, W, 3]``: scikit-image's stereo pair of a motorcycle (both views), matplotlib's
    ``grace_hopper`` and its ``Minduka_Present_Blue_Pack`` (a photographed product)."""
    from skimage import data as skdata

    pictures = list(skdata.stereo_motorcycle()[:2])
    for name in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"):
        with Image.open(cbook.get_sample_data(name, asfileobj=False)) as picture:
            pictures.append(np.asarray(picture.convert("RGB")))
    return pictures


def base_set(kind: str, current: np.ndarray) -> np.ndarray:
    """``[N, S, S, 3]`` uint8 base images of ``kind``, as many and as large as the current set."""
    if kind == "current":
        return current
    rng = np.random.default_rng([0, 99])
    pools = {"photographs": [photographs()], "mixed": [photographs(), mini_images._base_images()],
             "other-photographs": [other_photographs()]}[kind]
    size = current.shape[1]
    images = []
    for index in range(mini.BASE_SIZE):
        pool = pools[index % len(pools)]
        images.append(mini_images._random_crop(pool[rng.integers(len(pool))], size, rng, 0.15, 0.9))
    return np.stack(images)


def one(seed: int, kind: str) -> dict[str, float]:
    device = eglib.setup(seed=seed, device="cpu")
    profile = config.get_profile("mini")
    benchmark = data.load_benchmark("mini")
    names = benchmark.names
    feats, _ = features.benchmark_features(benchmark, profile.backbone, layer=profile.layer, device=device)
    base = extract.extract_features(base_set(kind, benchmark.base), backbone=profile.backbone,
                                    layer=profile.layer, device=device)
    standardizer = FeatureStandardizer.fit(base)
    options = profile.autoencoder_options()
    base_ae = train_autoencoder(base, standardizer=standardizer, seed=seed, device=device, **options)
    row = {}
    for index, name in enumerate(names):
        own = train_autoencoder(feats[name]["train"], standardizer=standardizer, seed=seed + index,
                                device=device, **options)
        val = feats[name]["val"]
        row[f"Rel(base -> {name})"] = relatedness_from_errors(own.mean_error(val), base_ae.mean_error(val))
    train = {n: feats[n]["train"] for n in names}
    x, y = scoring.stack_domains(feats, "test")
    gate = train_gate(train, standardizer, seed=seed, device=device, **options)
    classifier = train_task_classifier(train, standardizer, seed=seed, device=device)
    row["gate (test)"] = scoring.mean_accuracy(scoring.per_domain_accuracy(gate.route(x), y, names))
    row["classifier (test)"] = scoring.mean_accuracy(scoring.per_domain_accuracy(classifier.predict(x), y, names))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bases", nargs="+", default=["current", "photographs", "mixed"])
    args = parser.parse_args()
    for kind in args.bases:
        table = pd.DataFrame({f"seed {seed}": one(seed, kind) for seed in args.seeds})
        table["mean"] = table.mean(axis=1)
        print(f"\nbase set: {kind}")
        print(table.round(3).to_string(), flush=True)


if __name__ == "__main__":
    main()
