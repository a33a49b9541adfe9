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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eglib import config, minibench
from eglib.storage import file_sha256

MINI_VERSION = 2
SPLIT_SIZES = {"train": 400, "val": 100, "test": 200}
BASE_SIZE = 500


@dataclass
class Split:
    """Images ``[N, S, S, 3]`` (uint8) and labels ``[N]`` (int64) of one split of one domain."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


class HasSplits:
    """Mixin of a domain with ``train``, ``val`` and ``test`` attributes (images or video clips)."""

    def split(self, which: str):
        """Return the ``train``, ``val`` or ``test`` split."""
        if which not in ("train", "val", "test"):
            raise ValueError(f"Unknown split {which!r}; use 'train', 'val' or 'test'.")
        return getattr(self, which)


@dataclass
class Domain(HasSplits):
    """One classification task of the benchmark: its classes and its three splits."""

    name: str
    classes: list[str]
    train: Split
    val: Split
    test: Split


@dataclass
class Benchmark:
    """All domains of a benchmark in their arrival order, plus the base (ImageNet stand-in) images."""

    domains: dict[str, Domain]
    base: np.ndarray
    root: Path
    meta: dict = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.domains)


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
        for index, (name, generator) in enumerate(minibench.GENERATORS.items()):
            rng = np.random.default_rng([seed, index])
            images, labels, classes = generator(total, size, rng)
            parts = _stratified_split(labels, rng)
            arrays = {}
            for split, idx in parts.items():
                arrays[f"x_{split}"] = images[idx]
                arrays[f"y_{split}"] = labels[idx]
            np.savez(staging / f"{name}.npz", **arrays)
            domains_meta[name] = {"classes": classes, **{s: int(len(p)) for s, p in parts.items()}}
        np.savez(staging / "base.npz", x=minibench.make_base(BASE_SIZE, size, np.random.default_rng([seed, 99])))
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


class DataError(RuntimeError):
    """The benchmark folder is missing, incomplete or corrupt; the message names the fix."""


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
    return Benchmark(domains=domains, base=base, root=folder, meta=manifest)


def check_profile_ready(profile: str, tasks: tuple[str, ...] | None = None) -> None:
    """Raise :class:`DataError` (before any work starts) when a profile's data cannot be had.

    ``mini`` and ``rehearsal`` are always ready (their data are generated on demand). ``paper``
    needs the prepared datasets ``tasks`` (default: the six of Tables 1 and 2; notebook 04 also
    needs SVHN, letters and MNIST) from ``data_scripts/get_paper_data.py``, AlexNet's ImageNet
    weights, and, when ``EGLIB_IMAGENET_DIR`` is set, a folder that looks like ImageNet.
    """
    settings = config.get_profile(profile)
    if not settings.paper_tasks or settings.rehearsal:
        return
    from eglib import backbones, paper_benchmark, paper_data

    missing = paper_benchmark.missing_tasks(tasks or paper_benchmark.PAPER_TASKS)
    if missing:
        raise DataError(f"Profile {profile!r} needs the paper's datasets; not prepared yet: {missing}. Run "
                        f"`.venv/bin/python data_scripts/get_paper_data.py {' '.join(missing)}` on a machine with "
                        "network access (README, 'Paper datasets').")
    try:
        backbones.find_weights(backbones.get_backbone_spec(settings.backbone), download=False)
    except backbones.WeightsError as error:
        raise DataError(str(error)) from error
    folder = paper_benchmark.imagenet_dir()
    if folder is not None:
        try:
            paper_benchmark.imagenet_files(folder)
        except paper_data.PaperDataError as error:
            raise DataError(str(error)) from error


def load_benchmark(profile: str = "mini", tasks: tuple[str, ...] | None = None) -> Benchmark:
    """Load the benchmark of a profile: the embedded mini one, the prepared paper datasets, or the
    rehearsal's generated ones (built on first use, about 10 s).

    Args:
        tasks: paper-task profiles only: which datasets, in arrival order (default: the six of
            Tables 1 and 2, :data:`eglib.paper_benchmark.PAPER_TASKS`).
    """
    check_profile_ready(profile, tasks)
    settings = config.get_profile(profile)
    if not settings.paper_tasks:
        if tasks is not None:
            raise ValueError(f"Profile {profile!r} has the fixed mini domains; `tasks` is for the paper profiles.")
        return load_mini()
    from eglib import paper_benchmark, rehearsal

    tasks = tuple(tasks or paper_benchmark.PAPER_TASKS)
    if settings.rehearsal:
        root = rehearsal.ensure_built()
        return paper_benchmark.load_paper(tasks, root=root, imagenet=root / "imagenet")
    return paper_benchmark.load_paper(tasks)
