"""eglib: the thin helper package of the Expert Gate notebooks.

Modules, each introduced by a notebook:

* :mod:`eglib.config`        profiles, devices, folders              (00)
* :mod:`eglib.data`          the mini benchmark on disk               (00)
* :mod:`eglib.backbones`     frozen ImageNet backbones, verified weights (00)
* :mod:`eglib.features`      batched feature extraction and its cache (00)
* :mod:`eglib.autoencoder`   per-task gating autoencoders             (01)
* :mod:`eglib.gate`          the Expert Gate router                   (02)
* :mod:`eglib.taskclassifier` the discriminative task classifier baseline (02)
* :mod:`eglib.relatedness`   task relatedness and the LwF/FT rule     (03)
* :mod:`eglib.plots`, :mod:`eglib.results` figures and metrics shared by notebooks
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
