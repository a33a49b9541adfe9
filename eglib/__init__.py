"""eglib: the helper package of the Expert Gate notebooks.

Wings on floors: a wing imports only from the floors below it (``tests/test_layout.py`` checks it).

====  =======================  =====================================================================
floor wing                     what it holds
====  =======================  =====================================================================
0     :mod:`eglib.config`      profiles, devices, folders; the base task's name (``BASE``)
0     :mod:`eglib.storage`     checksums and atomic writes
0     :mod:`eglib.splits`      ``train`` / ``val`` / ``test`` for every kind of domain
0     :mod:`eglib.timing`      seconds (and FLOPs) per phase; :mod:`eglib.progress` bars; :mod:`eglib.optim` one step
0     :mod:`eglib.reuse`       models already trained in the run, found by the content of their inputs
1     :mod:`eglib.features`    frozen backbones with verified weights; one pass gives gate features
                               and expert inputs; the feature cache (notebook 00)
2     :mod:`eglib.method`      Expert Gate itself: standardizer, autoencoder, gate, relatedness,
                               experts (FT / LwF), zoo, learner (notebooks 01-05)
3     :mod:`eglib.baselines`   the paper's baselines and the discriminative task classifier (02, 05)
3     :mod:`eglib.video`       video clips and Dynamic Filter Network experts (06)
4     :mod:`eglib.data`        the mini, paper and rehearsal benchmarks; downloads and preparation
5     :mod:`eglib.run`         make reproduce, outputs, report, claims, checkpoints, costs, plots
====  =======================  =====================================================================

``eglib.setup`` (below) starts every notebook.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from eglib.config import resolve_device

__version__ = "0.1.0"


def setup(seed: int = 0, device: str = "auto", threads: int | None = None,
          fill_uninitialized: bool | None = None) -> torch.device:
    """Seed Python, NumPy and torch, turn on deterministic algorithms, and return the device.

    Call once at the top of every notebook, before anything touches the GPU. ``threads`` caps
    torch's CPU threads (default: all).

    What is deterministic (``tests/test_determinism.py`` measures it): on CPU, torch runs in
    deterministic mode without ``warn_only``, so an op with no deterministic CPU kernel raises
    instead of running; the same seed, code, torch build, machine kind and thread count then give
    bit-identical numbers, run after run and process after process. Other thread counts, other
    CPUs (other SIMD paths in oneDNN / BLAS) or another torch build may round differently and so
    train along other trajectories. On CUDA, cuDNN's autotuner is off and cuBLAS gets a fixed
    workspace (``CUBLAS_WORKSPACE_CONFIG``, read when cuBLAS starts, hence "before the GPU"), but
    torch keeps ``warn_only=True``: some backward kernels that the paper profile's AlexNet experts
    need (e.g. adaptive average pooling) have no deterministic CUDA version, so they warn and
    run. GPU runs are therefore close to, but not guaranteed bit-identical with, each other, and
    never with CPU runs.

    In deterministic mode torch also fills every tensor it allocates uninitialised with NaN (its
    own flag, ``torch.utils.deterministic.fill_uninitialized_memory``, on by default), a guard against
    kernels that read memory they did not write. On the CPU the suite's kernels measured do not:
    ``benchmarks/fill_memory.py`` gives the same bits with the fill off for expert fine-tuning, the
    autoencoder gates, a DFN and feature extraction (1.00-1.10x faster per training step, 1.23x for
    extraction), and notebooks 00-06 printed the same results. So on the CPU it is off unless
    ``fill_uninitialized=True`` (or ``EGLIB_FILL_UNINITIALIZED=1``) asks for the guard, e.g. to check
    a new kernel; on a GPU, where it was not measured, it stays on unless ``fill_uninitialized=False``
    (or ``EGLIB_FILL_UNINITIALIZED=0``).
    """
    resolved = resolve_device(device)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=resolved.type != "cpu")
    if fill_uninitialized is None:
        asked = os.environ.get("EGLIB_FILL_UNINITIALIZED", "").strip().lower()
        if asked not in ("", "0", "1", "false", "true", "off", "on", "no", "yes"):
            raise ValueError(f"EGLIB_FILL_UNINITIALIZED must be 1 or 0 (or true / false); got {asked!r}.")
        fill_uninitialized = asked in ("1", "true", "on", "yes") if asked else resolved.type != "cpu"
    torch.utils.deterministic.fill_uninitialized_memory = fill_uninitialized
    torch.backends.cudnn.benchmark = False
    flush_subnormals()
    if threads:
        torch.set_num_threads(threads)
    return resolved


def flush_subnormals() -> None:
    """Flush subnormal floats to zero on the CPU: saturated sigmoids and softmaxes (the autoencoders,
    the video networks' filters) otherwise fill backward passes with subnormals, which the CPU
    handles many times slower. Torch's worker threads inherit the setting when they start, so call
    it before the first parallel operation of the process (:func:`setup` does; so do the tests)."""
    torch.set_flush_denormal(True)
