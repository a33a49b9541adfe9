"""Gate features: frozen backbone activations, batched, with an on-disk cache (notebook 00).

:func:`extract_features` turns RGB images into ``[N, D]`` float features. Layers:

* ``"conv"``   -- the backbone's spatial feature map, flattened (the paper's choice);
* ``"pooled"`` -- that map averaged over space, ``[N, C]``;
* ``"split"``  -- the activations where an expert begins, flattened: the cached input of expert
  training. Mini: MobileNetV2 block 16, ``160 x 3 x 3`` floats. Paper: the expert is the whole
  AlexNet, so its input is the resized image itself, kept as **uint8** ``3 x 227 x 227`` (a
  quarter of the memory of floats; the expert normalises it, see
  :class:`eglib.backbones.NormalizeImages`).

:func:`cached_features` does the same through a cache under ``<data_root>/cache/features``
whose key covers backbone, layer, input size, the weights' checksum and the images' bytes, so a
second notebook gets the features of the same images in a fraction of a second.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from eglib import backbones, config
from eglib.storage import atomic_writer

LAYERS = ("conv", "pooled", "split")
# Bump when the preprocessing or extraction code changes, so old cache entries are not reused.
FEATURE_CODE_VERSION = 1
ImageBatch = np.ndarray | torch.Tensor | Sequence[Image.Image]


@functools.lru_cache(maxsize=4)
def _trunk(name: str, device: str) -> tuple[backbones.ConvFeatures, str]:
    trunk, digest = backbones.load_backbone(name)
    return trunk.to(device), digest


def _check_layer(layer: str) -> None:
    if layer not in LAYERS:
        raise ValueError(f"Unknown feature layer {layer!r}. Use one of {LAYERS}.")


def as_uint8_batch(images: ImageBatch) -> list[np.ndarray] | np.ndarray:
    """Validate a batch of RGB images; return a uint8 array ``[N, H, W, 3]`` or a list of ``[H, W, 3]``.

    Raises:
        ValueError: empty batch, wrong rank, or a channel count other than 3.
    """
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu().numpy()
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(
                f"Expected RGB images as an array [N, H, W, 3]; got shape {tuple(images.shape)}. "
                "Convert grayscale with np.repeat(x[..., None], 3, -1) or drop an alpha channel."
            )
        if len(images) == 0:
            raise ValueError("Got an empty batch of images: nothing to extract.")
        if images.dtype != np.uint8:
            raise ValueError(f"Expected uint8 pixels in 0..255; got dtype {images.dtype}. Use x.astype(np.uint8).")
        return images
    batch = [np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image) for image in images]
    if not batch:
        raise ValueError("Got an empty list of images: nothing to extract.")
    for array in batch:
        if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise ValueError(f"Every image must be uint8 [H, W, 3]; got {array.dtype} {array.shape}.")
    return batch


def _to_input(batch: list[np.ndarray] | np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """uint8 images -> normalised float ``[n, 3, size, size]`` on ``device``."""
    return backbones.normalize_images(_resized(batch, size, device))


def _resized(batch: list[np.ndarray] | np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """uint8 images ``[H, W, 3]`` -> float ``[n, 3, size, size]`` in 0..1 on ``device``."""
    tensors = [torch.from_numpy(np.array(a, copy=True)).to(device) for a in batch]
    same_size = all(t.shape == tensors[0].shape for t in tensors)
    if same_size:
        x = torch.stack(tensors).permute(0, 3, 1, 2).float().div_(255)
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    else:
        x = torch.cat([F.interpolate(t.permute(2, 0, 1)[None].float().div_(255), size=(size, size),
                                     mode="bilinear", antialias=True, align_corners=False) for t in tensors])
    return x


@torch.no_grad()
def extract_features(images: ImageBatch, backbone: str = "mobilenet_v2", layer: str = "conv",
                     device: str | torch.device = "auto", batch_size: int = 128) -> torch.Tensor:
    """Frozen backbone features of RGB images.

    Args:
        images: uint8 ``[N, H, W, 3]`` array/tensor or a list of PIL images of any size; each is
            resized to the backbone's input size.
        backbone: key of :data:`eglib.backbones.BACKBONES`.
        layer: ``"conv"`` (flattened spatial map, ``D = C*h*w``), ``"pooled"`` (``D = C``) or
            ``"split"`` (flattened expert input).
        device: where the backbone runs and the result lives.
        batch_size: images per forward pass.

    Returns:
        float32 ``[N, D]`` on ``device`` (uint8 for ``"split"`` of a whole-network expert).
    """
    spec = backbones.get_backbone_spec(backbone)
    _check_layer(layer)
    batch = as_uint8_batch(images)
    device = config.resolve_device(device)
    trunk, _ = _trunk(backbone, str(device))
    if layer == "split" and spec.expert_split is None:
        raise ValueError(f"Backbone {backbone!r} has no expert split point; layer='split' is for the mini experts.")
    net = trunk.trunk[:spec.expert_split] if layer == "split" else trunk
    outputs = []
    for start in range(0, len(batch), batch_size):
        if layer == "split" and spec.expert_split == 0:  # the expert's input is the image: kept as uint8
            resized = _resized(batch[start:start + batch_size], spec.input_size, device)
            outputs.append(resized.mul_(255).round_().to(torch.uint8).flatten(1))
            continue
        maps = net(_to_input(batch[start:start + batch_size], spec.input_size, device))
        outputs.append(maps.mean(dim=(2, 3)) if layer == "pooled" else maps.flatten(1))
    return torch.cat(outputs)


def pool_conv_features(features: torch.Tensor, backbone: str) -> torch.Tensor:
    """Average flattened conv features ``[N, C*h*w]`` over space -> ``[N, C]`` (equals layer='pooled')."""
    c, h, w = backbones.get_backbone_spec(backbone).conv_shape
    if features.shape[1] != c * h * w:
        raise ValueError(f"Expected [N, {c * h * w}] conv features of {backbone}; got {tuple(features.shape)}.")
    return features.view(len(features), c, h * w).mean(dim=2)


def cache_dir() -> Path:
    """Folder of the feature cache (``<data_root>/cache/features``)."""
    return config.data_root() / "cache" / "features"


def cache_key(images: np.ndarray, backbone: str, layer: str, device: torch.device) -> str:
    """Content key of a feature set: backbone, layer cut, input size, weights checksum, extraction
    code version, torch version, device type and the images' bytes."""
    spec = backbones.get_backbone_spec(backbone)
    digest = hashlib.sha256()
    _, weights_digest = _trunk(backbone, "cpu")
    images_u8 = "|u8" if layer == "split" and spec.expert_split == 0 else ""  # whole-network experts' uint8 input
    digest.update(f"{backbone}|{layer}{images_u8}|{spec.conv_layers}|{spec.input_size}|{weights_digest}|"
                  f"v{FEATURE_CODE_VERSION}|{torch.__version__}|{device.type}|".encode())
    digest.update(f"{images.shape}|{images.dtype}|".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:32]


def cached_features(images: np.ndarray, backbone: str = "mobilenet_v2", layer: str = "conv",
                    device: str | torch.device = "auto") -> torch.Tensor:
    """:func:`extract_features` of a uint8 array ``[N, H, W, 3]``, read from / written to the cache.

    Returns:
        float32 ``[N, D]`` on ``device``.
    """
    _check_layer(layer)
    images = as_uint8_batch(images)
    if not isinstance(images, np.ndarray):
        raise ValueError("cached_features needs one uint8 array [N, H, W, 3]; use extract_features for lists.")
    device = config.resolve_device(device)
    path = cache_dir() / f"{backbone}-{layer}-{cache_key(images, backbone, layer, device)}.npy"
    if path.exists():
        try:
            return torch.from_numpy(np.load(path)).to(device)
        except (ValueError, OSError):
            path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
    features = extract_features(images, backbone=backbone, layer=layer, device=device)
    with atomic_writer(path) as out:
        np.save(out, features.cpu().numpy())
    return features


def benchmark_features(benchmark, backbone: str = "mobilenet_v2", layer: str = "conv",
                       device: str | torch.device = "auto") -> tuple[dict[str, dict[str, torch.Tensor]], torch.Tensor]:
    """Cached features of every split of every domain, and of the base images.

    Args:
        benchmark: an :class:`eglib.data.Benchmark`.

    Returns:
        ``({domain: {"train"|"val"|"test": [N, D]}}, base [N_base, D])``. The pooled layer is
        derived from the cached conv map, so both layers cost one extraction. For ``"split"`` of
        a whole-network expert (paper profiles) whose images are stored at the input size, the
        images themselves come back as uint8 ``[N, 3, S, S]``, without a copy on the CPU.
    """
    _check_layer(layer)
    spec = backbones.get_backbone_spec(backbone)

    def get(images: np.ndarray) -> torch.Tensor:
        if layer == "split" and spec.expert_split == 0 and images.shape[1:3] == (spec.input_size,) * 2:
            # a whole-network expert's input is the image itself: a [N, 3, S, S] view of the
            # benchmark's own array (no copy, nothing cached) on the CPU, a uint8 copy on a GPU
            return torch.from_numpy(images).permute(0, 3, 1, 2).to(config.resolve_device(device))
        if layer == "split":
            return cached_features(images, backbone=backbone, layer="split", device=device)
        conv = cached_features(images, backbone=backbone, layer="conv", device=device)
        return pool_conv_features(conv, backbone) if layer == "pooled" else conv

    per_domain = {name: {split: get(domain.split(split).images) for split in ("train", "val", "test")}
                  for name, domain in benchmark.domains.items()}
    return per_domain, get(benchmark.base)
