"""The paper profile's benchmark: the prepared datasets as tasks, and the ImageNet base set.

Tasks arrive in the order of the paper's Tables 1 and 2: Scenes, Birds, Flowers, Cars, Aircraft,
Actions (:data:`PAPER_TASKS`). Each prepared dataset (``data_scripts/get_paper_data.py``) gives
its official train and test splits; a seeded 10% of every class's training images is held out as
the validation split that relatedness and the autoencoders' early checks need.

The *base* task is ImageNet. Point ``EGLIB_IMAGENET_DIR`` at a folder of ImageNet images (its
validation set is enough: flat ``ILSVRC2012_val_*.JPEG`` files or ``n########/`` synset folders);
a seeded sample of them then fixes the gate's standardisation statistics and trains the base-task
autoencoder, which makes ImageNet a relatedness candidate like any learned task. Without it the
statistics come from the embedded mini base set (the same stand-in the mini profile uses), there
is no base-task autoencoder, and ImageNet is only the default source of the first expert.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from eglib.data import prepare
from eglib.data.mini import load_mini
from eglib.data.types import Benchmark, Domain, Split

PAPER_TASKS = ("scenes", "birds", "flowers", "cars", "aircraft", "actions")
RELATEDNESS_TASKS = ("svhn", "letters", "mnist")
IMAGENET_FILE = re.compile(r"^ILSVRC2012_val_\d{8}\.JPEG$", re.IGNORECASE)
SYNSET_FOLDER = re.compile(r"^n\d{8}$")


def imagenet_dir() -> Path | None:
    """The folder of ImageNet images named by ``EGLIB_IMAGENET_DIR``, or ``None``."""
    value = os.environ.get("EGLIB_IMAGENET_DIR", "").strip()
    return Path(value).expanduser() if value else None


def imagenet_files(folder: Path) -> list[Path]:
    """ImageNet image files under ``folder``: flat validation files or synset sub-folders.

    Raises:
        prepare.PaperDataError: the folder is missing or does not look like ImageNet.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise prepare.PaperDataError(f"EGLIB_IMAGENET_DIR={folder} is not a folder. Point it at ImageNet's "
                                        "validation images (ILSVRC2012_val_*.JPEG) or its n######## synset folders.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and IMAGENET_FILE.match(p.name))
    synsets = sorted(p for p in folder.iterdir() if p.is_dir() and SYNSET_FOLDER.match(p.name))
    for synset in synsets:
        files += sorted(p for p in synset.iterdir() if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    if not files:
        raise prepare.PaperDataError(
            f"{folder} holds neither ILSVRC2012_val_*.JPEG files nor n######## synset folders: it does not look "
            "like ImageNet. Point EGLIB_IMAGENET_DIR at the extracted ILSVRC2012 validation (or training) images.")
    return files


def imagenet_images(folder: Path, count: int = 1000, size: int = 227, seed: int = 0) -> tuple[np.ndarray, int]:
    """A seeded sample of ``count`` ImageNet images as uint8 ``[n, size, size, 3]``, and how many
    unreadable files were skipped."""
    files = imagenet_files(folder)
    chosen = np.random.default_rng(seed).permutation(len(files))[:count]
    images, _, skipped = prepare.read_images([(files[i], 0) for i in sorted(chosen)], size)
    return images, len(skipped)


def _hold_out(items: list[tuple[Path, int]], fraction: float, seed: int) -> tuple[list, list]:
    """Split ``(path, label)`` items into train / validation, ``fraction`` of every class held out."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    labels = np.array([label for _, label in items])
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        rows = rows[rng.permutation(len(rows))]
        held = max(1, int(round(fraction * len(rows)))) if len(rows) > 1 else 0
        val += [items[i] for i in sorted(rows[:held])]
        train += [items[i] for i in sorted(rows[held:])]
    return train, val


def load_paper(tasks: tuple[str, ...] = PAPER_TASKS, root: Path | None = None, size: int = 227,
               val_fraction: float = 0.1, seed: int = 0, imagenet: Path | None = None,
               max_classes: int | None = None, imagenet_from_env: bool = True) -> Benchmark:
    """Load the prepared paper datasets as a :class:`eglib.data.types.Benchmark` of ``size`` px images.

    ``imagenet`` is the folder of base-task images (default: ``EGLIB_IMAGENET_DIR``, unless
    ``imagenet_from_env`` is false: then no folder means no ImageNet images).
    ``max_classes`` keeps only each task's first classes (a quick or smoke run; ``None``: all).
    ``meta`` records the image counts, the skipped (corrupt) files per task and split, and where
    the base images come from (``"imagenet"`` or ``"mini stand-in"``).
    """
    if max_classes is not None and max_classes < 2:
        raise ValueError(f"max_classes={max_classes}: a task needs at least 2 classes (None keeps them all).")
    domains, meta = {}, {"skipped": {}, "counts": {}}
    for name in tasks:
        prepared = prepare.load_prepared(name, root)
        if max_classes is not None:
            prepared = prepared.first_classes(max_classes)
        train_items, val_items = _hold_out(prepared.train, val_fraction, seed)
        splits, skipped = {}, {}
        for split, items in (("train", train_items), ("val", val_items), ("test", prepared.test)):
            if not items:
                raise prepare.PaperDataError(f"{name}: no {split} images after holding out {val_fraction:.0%} of "
                                                "each class for validation; the prepared folder is too small.")
            images, labels, bad = prepare.read_images(items, size)
            splits[split], skipped[split] = Split(images, labels), len(bad)
        domains[name] = Domain(name=name, classes=prepared.classes, **splits)
        meta["skipped"][name] = skipped
        meta["counts"][name] = {split: len(s) for split, s in splits.items()}
    base, base_meta = base_images(size=size, seed=seed, folder=imagenet, from_env=imagenet_from_env)
    meta.update(base_meta)
    return Benchmark(domains=domains, base=base, root=root or prepare.paper_root(), meta=meta)


def base_images(size: int = 227, seed: int = 0, folder: Path | None = None,
                from_env: bool = True) -> tuple[np.ndarray, dict]:
    """The base task's images and where they come from: a seeded sample of ``folder`` (default
    ``EGLIB_IMAGENET_DIR`` when ``from_env``; ``{"base_source": "imagenet", "base_skipped": n}``),
    else the embedded mini base set (``{"base_source": "mini stand-in"}``)."""
    folder = folder or (imagenet_dir() if from_env else None)
    if folder is not None:
        images, skipped = imagenet_images(folder, size=size, seed=seed)
        return images, {"base_source": "imagenet", "base_skipped": skipped}
    return load_mini().base, {"base_source": "mini stand-in"}


def missing_tasks(tasks: tuple[str, ...] = PAPER_TASKS, root: Path | None = None) -> list[str]:
    """The tasks whose prepared folder is absent or incomplete."""
    base = root or prepare.paper_root()
    return [name for name in tasks if not (base / name / "ready.json").exists()]
