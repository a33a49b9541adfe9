"""The mini benchmark on disk: build once, verify, load (introduced in ``00_data_and_features``).

Layout under ``<data_root>/mini/``::

    manifest.json      written last; lists every file with its size and sha256
    <domain>.npz       x_train, y_train, x_val, y_val, x_test, y_test  (uint8 [N,S,S,3], int64 [N])
    base.npz           x (uint8 [N,S,S,3]) -- the unlabelled ImageNet stand-in

A build writes into a temporary sibling folder and renames it into place only when complete,
so an interrupted build never leaves a folder that looks ready.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from eglib import config
from eglib.data import mini_images
from eglib.data.types import Benchmark, DataError, Domain, Split
from eglib.storage import file_sha256

MINI_VERSION = 3
SPLIT_SIZES = {"train": 400, "val": 100, "test": 200}
BASE_SIZE = 500


def _stratified_split(labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Split indices of ``labels`` into train/val/test of :data:`SPLIT_SIZES`, stratified by class."""
    shuffled = rng.permutation(len(labels))
    by_class = [shuffled[labels[shuffled] == c] for c in np.unique(labels)]
    # deal classes round-robin so that every split is close to balanced
    ranks = np.concatenate([np.arange(len(idx)) for idx in by_class])
    dealt = np.concatenate(by_class)[np.argsort(ranks, kind="stable")]
    sizes = list(SPLIT_SIZES.values())
    bounds = np.cumsum([0] + sizes)
    return {name: np.sort(dealt[bounds[i]:bounds[i + 1]]) for i, name in enumerate(SPLIT_SIZES)}


def build_mini(root: Path | None = None, seed: int = 0, size: int = 64) -> Path:
    """Generate the mini benchmark into ``<root>/mini`` (atomically) and return that folder.

    Deterministic: the same ``seed`` gives byte-identical arrays.
    """
    root = Path(root) if root is not None else config.data_root()
    target = root / "mini"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".mini-building-", dir=root))
    try:
        files = {}
        total = sum(SPLIT_SIZES.values())
        domains_meta = {}
        for index, (name, generator) in enumerate(mini_images.GENERATORS.items()):
            rng = np.random.default_rng([seed, index])
            images, labels, classes = generator(total, size, rng)
            parts = _stratified_split(labels, rng)
            arrays = {}
            for split, idx in parts.items():
                arrays[f"x_{split}"] = images[idx]
                arrays[f"y_{split}"] = labels[idx]
            np.savez(staging / f"{name}.npz", **arrays)
            domains_meta[name] = {"classes": classes, **{s: int(len(p)) for s, p in parts.items()}}
            if name in mini_images.CUT_FROM:
                domains_meta[name]["cut_from"] = mini_images.CUT_FROM[name]
        np.savez(staging / "base.npz", x=mini_images.make_base(BASE_SIZE, size, np.random.default_rng([seed, 99])))
        for path in sorted(staging.glob("*.npz")):
            files[path.name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
        manifest = {"version": MINI_VERSION, "seed": seed, "image_size": size,
                    "domains": domains_meta, "files": files}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=1))
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def check_mini(folder: Path) -> dict:
    """Verify ``folder`` against its manifest (sizes and sha256); return the manifest.

    Raises:
        DataError: when the manifest or a file is missing, truncated or altered.
    """
    fix = f"Rebuild it with `python data_scripts/make_mini.py --force` (replaces {folder})."
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise DataError(f"{folder} has no manifest.json: it is missing or half-written. {fix}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as error:
        raise DataError(f"{manifest_path} is not valid JSON ({error}). {fix}") from error
    if manifest.get("version") != MINI_VERSION:
        raise DataError(f"{folder} was built by another version of eglib. {fix}")
    for name, info in manifest["files"].items():
        path = folder / name
        if not path.exists() or path.stat().st_size != info["bytes"] or file_sha256(path) != info["sha256"]:
            raise DataError(f"{path} is missing, truncated or altered. {fix}")
    return manifest


def load_mini(root: Path | None = None, build: bool = True, seed: int = 0) -> Benchmark:
    """Load the mini benchmark, building it first when it is absent (and ``build`` is true).

    A folder that exists but fails verification is never silently replaced: a
    :class:`DataError` says how to rebuild it.
    """
    root = Path(root) if root is not None else config.data_root()
    folder = root / "mini"
    if not folder.exists():
        if not build:
            raise DataError(f"No mini benchmark at {folder}. Build it with `python data_scripts/make_mini.py`.")
        build_mini(root, seed=seed)
    manifest = check_mini(folder)
    domains = {}
    for name, info in manifest["domains"].items():
        with np.load(folder / f"{name}.npz") as arrays:
            splits = {s: Split(arrays[f"x_{s}"], arrays[f"y_{s}"]) for s in SPLIT_SIZES}
        domains[name] = Domain(name=name, classes=list(info["classes"]), **splits)
    with np.load(folder / "base.npz") as arrays:
        base = arrays["x"]
    return Benchmark(domains=domains, base=base, root=folder, meta={**manifest, "base_source": "mini base set"})
