"""Profiles, devices and folders: everything a notebook or a test can switch from outside.

A *profile* names a benchmark and the backbone that turns its images into gate features.
``mini`` is the embedded, CPU-sized benchmark (introduced in ``00_data_and_features``);
``paper`` is the paper's AlexNet set-up on the paper's datasets (AlexNet weights must be
present on the user's machine); ``rehearsal`` runs the paper profile's code path end to end on
generated images in the paper datasets' real layouts, with an untrained AlexNet and tiny epoch
counts: it proves the notebooks run, and its numbers measure nothing. ``smoke`` is the rehearsal
on three classes per task with one epoch of everything (``make test`` runs it).

Folders come from environment variables so that papermill, nbval and users can redirect them:

* ``EGLIB_DATA``  -- root of generated data and caches (default: ``<repo>/data``);
* ``EGLIB_RUN_DIR`` -- where a notebook writes figures and metrics (default: ``<repo>/runs/interactive``).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
# The base task (ImageNet, or the profile's stand-in for it): its name wherever a task name is
# expected -- a relatedness candidate, an expert's source, the base expert's ImageNet head.
BASE = "base"
# The paper's gate temperature and the size of the features it belongs to (AlexNet relu5, 256x13x13).
PAPER_TEMPERATURE = 2.0
PAPER_GATE_DIM = 256 * 13 * 13


@dataclass(frozen=True)
class Profile:
    """One named configuration of benchmark + gate features.

    Attributes:
        name: profile name (``mini``, ``paper`` or ``rehearsal``).
        backbone: key of :data:`eglib.features.backbones.BACKBONES` used for gate features.
        layer: feature layer of that backbone (``"conv"`` spatial map or ``"pooled"`` vector).
        image_size: side of the stored square RGB images of the benchmark, in pixels.
        hidden_size: autoencoder code size (the paper's best: 100).
        ae_epochs: autoencoder training epochs.
        ae_batch_size: autoencoder mini-batch size (the authors' code: 12).
        ae_hidden_sweep: the code sizes ``01_autoencoders`` compares (the paper's: 10, 50, 100, 200, 500).
        ae_sweep_epochs: epochs of ``01_autoencoders``' comparisons of code size, layer and training
            details (``None``: ``ae_epochs``); the profile's own setting is also shown at full length.
        ae_init: autoencoder initialisation, ``"uniform"`` or ``"sparse"`` (the authors' code).
        ae_weight_decay: Adagrad weight decay on the autoencoder's weights (the authors' code: 5e-4).
        gate_dim: size ``D`` of the gate features (``backbone`` at ``layer``; a test checks it).
        relatedness_threshold: ``Rel`` above which a new expert is trained with LwF (paper: 0.85).
        multi_expert_threshold: gate probability above which an expert also answers, in the
            multi-expert option (paper: 0.1).
        temperature: the gate's softmax temperature, when chosen by measurement (the mini
            profile's: the calibrated value of ``02_gate``, which checks it); ``None`` takes the
            paper's ``t = 2`` scaled to the profile's features (:attr:`gate_temperature`).
        expert_epochs, expert_lr: expert training (Adam); the paper does not print its values.
        lwf_warmup_epochs: LwF epochs that train only the new head before the joint phase.
        expert_flip: mirror a random half of every training batch of an expert (augmentation; the
            paper profile's experts see images; mini experts see activation maps and do not flip).
        video_epochs: training epochs of every video network of ``06_video_prediction``.
        text_steps: training steps of every character-level text expert of ``07_text_domains``
            (the joint model gets one run of them per domain).
        text_gate_sequences: training sequences per text domain whose prefixes train its gate autoencoder.
        text_ae_epochs: training epochs of the text gate's autoencoders.
        paper_tasks: the benchmark is the paper's tasks (prepared datasets, or generated ones in
            the rehearsal) rather than the mini domains.
        rehearsal: the data are generated and the backbone untrained: notebooks check that every
            step runs and has the right shapes, never accuracy claims.
        max_classes: paper-task profiles: keep only the first ``max_classes`` classes of every
            task (``None``: all). The ``smoke`` profile uses it to run the rehearsal's code path at
            the smallest size that still executes every branch.
        rehearsal_imagenet: rehearsal profiles: supply the generated stand-in ImageNet folder
            (``True``), or run the paper profile's branches for a user without ImageNet images
            (``False``: the base model is then only the first task's source, never a candidate,
            and ``EGLIB_IMAGENET_DIR`` is ignored).
    """

    name: str
    backbone: str
    layer: str
    image_size: int
    gate_dim: int
    hidden_size: int = 100
    ae_epochs: int = 25
    ae_batch_size: int = 12
    ae_hidden_sweep: tuple[int, ...] = (10, 50, 100, 200, 500)
    ae_sweep_epochs: int | None = None
    ae_init: str = "uniform"
    ae_weight_decay: float = 0.0
    relatedness_threshold: float = 0.85
    multi_expert_threshold: float = 0.1
    temperature: float | None = None
    expert_epochs: int = 10
    expert_lr: float = 1e-3
    lwf_warmup_epochs: int = 3
    expert_flip: bool = False
    video_epochs: int = 10
    text_steps: int = 200
    text_gate_sequences: int = 300
    text_ae_epochs: int = 50
    paper_tasks: bool = False
    rehearsal: bool = False
    max_classes: int | None = None
    rehearsal_imagenet: bool = True

    @property
    def gate_temperature(self) -> float:
        """Softmax temperature of the gate: the profile's measured :attr:`temperature`, or else the
        paper's ``t = 2`` scaled to this profile's features.

        ``t = 2`` belongs to the paper's 43,264-value features, and L2 reconstruction errors (and
        their differences) grow like ``sqrt(D)``, so the scaled value is ``t = 2 * sqrt(D / 43264)``:
        2 on the paper profiles, 0.344 for the mini profile's 1,280 pooled values. The mini
        profile uses the value that ``02_gate`` calibrates on the validation split instead (0.10).
        Hard routing does not depend on ``t``; the multi-expert threshold does.
        """
        if self.temperature is not None:
            return self.temperature
        return self.scaled_paper_temperature

    @property
    def scaled_paper_temperature(self) -> float:
        """The paper's ``t = 2`` scaled by ``sqrt(D / 43264)`` to this profile's ``gate_dim``."""
        return PAPER_TEMPERATURE * math.sqrt(self.gate_dim / PAPER_GATE_DIM)

    def settings(self) -> dict:
        """Every setting of the profile, the derived gate temperature included (for reports)."""
        return {**dataclasses.asdict(self), "gate_temperature": round(self.gate_temperature, 4)}

    def autoencoder_options(self) -> dict:
        """Keyword arguments of :func:`eglib.method.autoencoder.train_autoencoder` for this profile."""
        return {"hidden_size": self.hidden_size, "epochs": self.ae_epochs,
                "batch_size": self.ae_batch_size, "init": self.ae_init, "weight_decay": self.ae_weight_decay}


PROFILES: dict[str, Profile] = {
    # layer, init, weight decay and training length of the mini profile are chosen by the measurements of
    # 01_autoencoders (its sweeps run 25 epochs, an eighth of the profile's, to keep the notebook fast) and
    # its gate temperature by 02_gate's calibration (validation likelihood; 0.089, 0.094, 0.115 on seeds 0-2 with
    # the digit halves, mini version 3; it was 0.175, 0.180, 0.179 on the six domains of version 2)
    "mini": Profile(name="mini", backbone="mobilenet_v2", layer="pooled", image_size=64, gate_dim=1280, ae_epochs=200,
                    ae_sweep_epochs=25, temperature=0.10),
    "paper": Profile(name="paper", backbone="alexnet", layer="conv", image_size=227, gate_dim=PAPER_GATE_DIM, ae_epochs=100,
                     ae_init="sparse", ae_weight_decay=5e-4, expert_flip=True, paper_tasks=True),
    # the paper profile's code path at CPU-sized epoch counts, on generated data (eglib.data.rehearsal)
    "rehearsal": Profile(name="rehearsal", backbone="alexnet_untrained", layer="conv", image_size=227,
                         gate_dim=PAPER_GATE_DIM, ae_epochs=2,
                         ae_init="sparse", ae_weight_decay=5e-4, expert_epochs=1, lwf_warmup_epochs=1, video_epochs=2,
                         text_steps=4, text_gate_sequences=40, text_ae_epochs=2,
                         expert_flip=True, paper_tasks=True, rehearsal=True),
}
# the rehearsal at its smallest (make test): three classes a task, one epoch of everything
# (AlexNet's fc6/fc7 64 units wide: a whole-network expert of 3.2 M weights instead of 61 M; and 01's sweep of
# code sizes at its two ends of interest, since 500 units on 43,264 values are 2 GB of weights and Adagrad state)
PROFILES["smoke"] = dataclasses.replace(PROFILES["rehearsal"], name="smoke", backbone="alexnet_slim_untrained",
                                        ae_epochs=1, video_epochs=1, text_steps=2, text_ae_epochs=1, max_classes=3, ae_hidden_sweep=(10, 100))
# ... and the same without ImageNet images, the set-up of a user who has only the paper's datasets
PROFILES["smoke-no-imagenet"] = dataclasses.replace(PROFILES["smoke"], name="smoke-no-imagenet", rehearsal_imagenet=False)


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
