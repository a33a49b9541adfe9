"""Shared fixtures: synthetic features, and an isolated data root for tests that write data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import eglib
from eglib.method.autoencoder import train_autoencoder
from eglib.method.standardizer import FeatureStandardizer

os.environ.setdefault("EGLIB_PROGRESS", "0")  # no progress bars in test output
os.environ.setdefault("EGLIB_REUSE", "0")  # every test trains what it trains (tests/test_reuse.py turns reuse on)
# as eglib.setup does in every notebook, before torch starts its worker threads (test_video's DFN
# training took 27 s without it and 13 s with it, one thread)
eglib.flush_subnormals()


def clusters(count: int = 3, per_cluster: int = 60, dim: int = 40, seed: int = 0) -> list[torch.Tensor]:
    """``count`` well-separated Gaussian clusters of ``[per_cluster, dim]`` features (non-negative like ReLU maps)."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for index in range(count):
        center = torch.zeros(dim)
        block = dim // count
        center[index * block:(index + 1) * block] = 4.0
        out.append((center + 0.3 * torch.randn(per_cluster, dim, generator=generator)).clamp_min(0))
    return out


@pytest.fixture(scope="session")
def cluster_data() -> dict:
    """Three clusters, their shared standardizer, and one trained autoencoder per cluster."""
    train = clusters(seed=0)
    test = clusters(seed=1)
    standardizer = FeatureStandardizer.fit(torch.cat(train))
    autoencoders = [train_autoencoder(x, standardizer=standardizer, hidden_size=8, epochs=30, seed=i, device="cpu")
                    for i, x in enumerate(train)]
    return {"train": train, "test": test, "standardizer": standardizer, "autoencoders": autoencoders}


@pytest.fixture()
def data_root(tmp_path, monkeypatch):
    """A private EGLIB_DATA for tests that build or break data."""
    monkeypatch.setenv("EGLIB_DATA", str(tmp_path))
    return tmp_path


def headline_notebook(folder, gate: str = "0.5", extra: str = "") -> None:
    """Write ``folder/00_tiny.ipynb``: it saves the headline keys ``make reproduce`` requires, with
    ``gate_accuracy = <gate>`` (a Python expression; ``SEED``, ``PROFILE`` are its parameters) and
    ``extra`` (more ``'key': value`` items)."""
    tiny_notebook(folder / "00_tiny.ipynb",
                  "from eglib.run import outputs\n"
                  f"outputs.save_metrics('00_tiny', {{'gate_accuracy': {gate}, 'discriminative_accuracy': 0.75, "
                  "'gate_accuracy_per_domain': {'a': 0.5}, 'discriminative_accuracy_per_domain': {'a': 0.75}, "
                  f"'relatedness': {{'new_tasks': ['a'], 'old_tasks': ['a'], 'values': [[1.0]]}}, {extra}}})",
                  parameters='PROFILE = "x"\nDEVICE = "x"\nSEED = -1')


def reproduce_tiny(tmp_path: Path, args: list[str], **notebook: str) -> tuple[int, Path]:
    """``make reproduce`` with ``args`` over one :func:`headline_notebook` (``notebook``: its
    options) into ``tmp_path/runs``; returns the exit status and the run folder (``runs/latest``)."""
    from eglib.run import reproduce

    folder = tmp_path / "nbs"
    folder.mkdir(exist_ok=True)
    headline_notebook(folder, **notebook)
    runs = tmp_path / "runs"
    status = reproduce.main(["--runs", str(runs), "--notebook-dir", str(folder), *args])
    return status, (runs / "latest").resolve()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder``: relative path -> bytes (``None`` for folders), to show nothing changed."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def tiny_notebook(path, code: str, parameters: str | None = None) -> None:
    """Write a python3 notebook at ``path`` with an optional ``parameters`` cell and one code cell."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = []
    if parameters is not None:
        cells.append(nbformat.v4.new_code_cell(parameters))
        cells[0].metadata["tags"] = ["parameters"]
    notebook.cells = [*cells, nbformat.v4.new_code_cell(code)]
    nbformat.write(notebook, path)



FAST_PROFILE = "fast-mini"


def register_fast_profile() -> str:
    """Register (idempotently) the mini profile with the shortest training and return its name.

    For tests about what reaches the disk or what is refused, not about accuracy.
    """
    import dataclasses

    from eglib import config

    config.PROFILES[FAST_PROFILE] = dataclasses.replace(config.PROFILES["mini"], name=FAST_PROFILE, ae_epochs=2,
                                                        expert_epochs=1, lwf_warmup_epochs=1)
    return FAST_PROFILE


def mini_task(domain: str, train: int = 60, val: int = 20) -> tuple[tuple, tuple]:
    """The first ``train`` training and ``val`` validation images of a mini domain: ``((x, y), (x, y))``."""
    from eglib import data

    bench = data.load_mini()
    first, second = bench.domains[domain].split("train"), bench.domains[domain].split("val")
    return ((first.images[:train].copy(), first.labels[:train].copy()),
            (second.images[:val].copy(), second.labels[:val].copy()))
