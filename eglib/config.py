"""Profiles, devices and folders: everything a notebook or a test can switch from outside.

A *profile* names a benchmark and the backbone that turns its images into gate features.
``mini`` is the embedded, CPU-sized benchmark (introduced in ``00_data_and_features``);
``paper`` is the paper's AlexNet set-up on the paper's datasets (AlexNet weights must be
present on the user's machine); ``rehearsal`` runs the paper profile's code path end to end on
generated images in the paper datasets' real layouts, with an untrained AlexNet and tiny epoch
counts: it proves the notebooks run, and its numbers measure nothing.

Folders come from environment variables so that papermill, nbval and users can redirect them:

* ``EGLIB_DATA``  -- root of generated data and caches (default: ``<repo>/data``);
* ``EGLIB_RUN_DIR`` -- where a notebook writes figures and metrics (default: ``<repo>/runs/interactive``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Profile:
    """One named configuration of benchmark + gate features.

    Attributes:
        name: profile name (``mini``, ``paper`` or ``rehearsal``).
        backbone: key of :data:`eglib.backbones.BACKBONES` used for gate features.
        layer: feature layer of that backbone (``"conv"`` spatial map or ``"pooled"`` vector).
        image_size: side of the stored square RGB images of the benchmark, in pixels.
        hidden_size: autoencoder code size (the paper's best: 100).
        ae_epochs: autoencoder training epochs.
        ae_batch_size: autoencoder mini-batch size (the authors' code: 12).
        ae_init: autoencoder initialisation, ``"uniform"`` or ``"sparse"`` (the authors' code).
        ae_weight_decay: Adagrad weight decay on the autoencoder's weights (the authors' code: 5e-4).
        relatedness_threshold: ``Rel`` above which a new expert is trained with LwF (paper: 0.85).
        expert_epochs, expert_lr: expert training (Adam); the paper does not print its values.
        lwf_warmup_epochs: LwF epochs that train only the new head before the joint phase.
        expert_flip: mirror a random half of every training batch of an expert (augmentation; the
            paper profile's experts see images; mini experts see activation maps and do not flip).
        gate_temperature: softmax temperature of the gate. The paper's ``t = 2`` goes with its
            43,264-value features; L2 errors grow like ``sqrt(D)``, so the mini profile scales it
            to its 1,280 values: ``2 * sqrt(1280 / 43264) = 0.34`` (see ``02_gate``).
        paper_tasks: the benchmark is the paper's tasks (prepared datasets, or generated ones in
            the rehearsal) rather than the mini domains.
        rehearsal: the data are generated and the backbone untrained: notebooks check that every
            step runs and has the right shapes, never accuracy claims.
    """

    name: str
    backbone: str
    layer: str
    image_size: int
    hidden_size: int = 100
    ae_epochs: int = 25
    ae_batch_size: int = 12
    ae_init: str = "uniform"
    ae_weight_decay: float = 0.0
    gate_temperature: float = 2.0
    relatedness_threshold: float = 0.85
    expert_epochs: int = 10
    expert_lr: float = 1e-3
    lwf_warmup_epochs: int = 3
    expert_flip: bool = False
    paper_tasks: bool = False
    rehearsal: bool = False

    def autoencoder_options(self) -> dict:
        """Keyword arguments of :func:`eglib.autoencoder.train_autoencoder` for this profile."""
        return {"hidden_size": self.hidden_size, "epochs": self.ae_epochs,
                "batch_size": self.ae_batch_size, "init": self.ae_init, "weight_decay": self.ae_weight_decay}


PROFILES: dict[str, Profile] = {
    # layer, init and weight decay of the mini profile are chosen by the measurements of 01_autoencoders
    "mini": Profile(name="mini", backbone="mobilenet_v2", layer="pooled", image_size=64, ae_epochs=25,
                    gate_temperature=0.34),
    "paper": Profile(name="paper", backbone="alexnet", layer="conv", image_size=227, ae_epochs=100,
                     ae_init="sparse", ae_weight_decay=5e-4, expert_flip=True, paper_tasks=True),
    # the paper profile's code path at CPU-sized epoch counts, on generated data (eglib.rehearsal)
    "rehearsal": Profile(name="rehearsal", backbone="alexnet_untrained", layer="conv", image_size=227, ae_epochs=2,
                         ae_init="sparse", ae_weight_decay=5e-4, expert_epochs=1, lwf_warmup_epochs=1,
                         expert_flip=True, paper_tasks=True, rehearsal=True),
}


def get_profile(name: str) -> Profile:
    """Return the profile called ``name``; raise a ``ValueError`` naming the valid ones otherwise."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(
            f"Unknown profile {name!r}. Use one of {sorted(PROFILES)} "
            f"(e.g. PROFILE=mini make reproduce)."
        ) from None


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` into a usable ``torch.device``.

    Raises:
        ValueError: for a name that is not a device, or ``cuda`` on a machine without a GPU.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"Unknown device {device!r}. Use 'cpu', 'cuda', 'cuda:N' or 'auto'.")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise ValueError(f"Unknown device {device!r}. Use 'cpu', 'cuda', 'cuda:N' or 'auto'.") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"DEVICE={device!r} was asked for but this machine has no usable CUDA GPU. "
            "Run with DEVICE=cpu (the default) or on a machine with a GPU."
        )
    return resolved


def data_root() -> Path:
    """Root folder of generated data and caches (``$EGLIB_DATA`` or ``<repo>/data``)."""
    return Path(os.environ.get("EGLIB_DATA", REPO_ROOT / "data")).expanduser().resolve()


def run_dir() -> Path:
    """Folder a notebook writes its figures and metrics to (``$EGLIB_RUN_DIR`` or ``runs/interactive``)."""
    path = Path(os.environ.get("EGLIB_RUN_DIR", REPO_ROOT / "runs" / "interactive")).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
