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


def setup(seed: int = 0, device: str = "auto", threads: int | None = None) -> torch.device:
    """Seed Python, NumPy and torch, turn on deterministic algorithms, and return the device.

    Call once at the top of every notebook. ``threads`` caps torch's CPU threads (default: all).
    """
    resolved = resolve_device(device)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.set_flush_denormal(True)  # denormal floats slow CPU backward passes of saturated sigmoids ~10x
    if threads:
        torch.set_num_threads(threads)
    return resolved
