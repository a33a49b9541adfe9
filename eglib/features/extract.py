"""The frozen backbone's outputs that the method reads, batched, with an on-disk cache (notebook 00).

One pass of the images through the frozen trunk gives every layer the method needs
(:func:`extract_layers`):

* ``"conv"``   -- the backbone's spatial feature map, flattened: the paper's gate features;
* ``"pooled"`` -- that map averaged over space, ``[N, C]``: the mini profile's gate features;
* ``"expert_input"`` -- what an expert reads, taken at the backbone's *cut point* on the way to
  the gate's map. Mini: MobileNetV2's block 16, ``[N, 160, 3, 3]`` floats. Paper: the expert is
  the whole AlexNet, so its input is the resized image itself, kept as **uint8**
  ``[N, 3, 227, 227]`` (a quarter of the memory of floats; the expert normalises it, see
  :class:`eglib.features.backbones.NormalizeImages`).

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

from eglib import config, timing
from eglib.progress import progress
from eglib.features import backbones
from eglib.splits import SPLITS
from eglib.storage import atomic_writer

LAYERS = ("conv", "pooled", "expert_input")
# Bump when the preprocessing or extraction code changes, so old cache entries are not reused.
FEATURE_CODE_VERSION = 2
# Images per forward pass. On the CPU smaller batches keep each layer's activations in the caches:
# MobileNetV2 at 96 px 1.81x and the rehearsal's AlexNet at 227 px 1.16x the speed of batches of 128
# on the 2-core machine, with the same bits on its 2 threads (benchmarks/feature_batch.py, 2026-12-05),
# so the suite's numbers did not move. The bits may depend on the batching elsewhere: on one thread
# oneDNN picks other kernels for some batch sizes (features up to 7e-6 apart), as other CPUs may.
CPU_BATCH_SIZE = 32
GPU_BATCH_SIZE = 128
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
        if 0 in images.shape[1:3]:
            raise ValueError(f"Got images of {images.shape[1]}x{images.shape[2]} pixels; every image needs at least one "
                             "pixel a side (crop or resize them first).")
        if images.dtype != np.uint8:
            raise ValueError(f"Expected uint8 pixels in 0..255; got dtype {images.dtype}. Use x.astype(np.uint8).")
        return images
    batch = [np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image) for image in images]
    if not batch:
        raise ValueError("Got an empty list of images: nothing to extract.")
    for array in batch:
        if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8 or 0 in array.shape[:2]:
            raise ValueError(f"Every image must be uint8 [H, W, 3] with H, W >= 1; got {array.dtype} {array.shape}.")
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


def _pass(batch: list[np.ndarray] | np.ndarray, spec: backbones.BackboneSpec, trunk: backbones.ConvFeatures,
          layers: tuple[str, ...], device: torch.device) -> dict[str, torch.Tensor]:
    """One pass of a batch of uint8 images through the frozen trunk, giving each of ``layers``.

    The expert's cut point lies on the trunk's way to the gate's map, so the expert input is taken
    on the way (``trunk[:cut]``, then ``trunk[cut:]`` continues to the gate's map): gate features
    and expert inputs of the same images cost one pass.
    """
    resized = _resized(batch, spec.input_size, device)                    # [n, 3, S, S] in 0..1
    out = {}
    cut = spec.expert_cut if "expert_input" in layers else None
    if cut == 0:  # a whole-network expert's input is the image itself, kept as uint8
        out["expert_input"] = resized.mul(255).round_().to(torch.uint8)
    gate_layers = [layer for layer in layers if layer != "expert_input"]
    if not gate_layers and cut == 0:
        return out
    x = backbones.normalize_images(resized)
    if cut:
        x = trunk.trunk[:cut](x)
        # [n, C, h, w] at the cut point, in the standard (contiguous) layout whatever the conv kernels
        # chose: the expert's own convolutions then round the same way, from the cache or not
        out["expert_input"] = x.contiguous()
        if not gate_layers:
            return out
        x = trunk.trunk[cut:](x)
    else:
        x = trunk(x)
    flat = x.flatten(1)                                                  # [n, C*h*w], standard layout
    if "conv" in layers:
        out["conv"] = flat
    if "pooled" in layers:
        # the same reduction as pooling the cached map, so both give the same bits (and a model
        # trained on either is reused for the other, eglib.reuse)
        out["pooled"] = _mean_over_space(flat, x.shape[1])               # [n, C]
    return out


@timing.phase("feature extraction")
@torch.no_grad()
def extract_layers(images: ImageBatch, backbone: str = "mobilenet_v2", layers: Sequence[str] = ("conv",),
                   device: str | torch.device = "auto", batch_size: int | None = None) -> dict[str, torch.Tensor]:
    """Several layers of the frozen backbone from one pass of every image batch.

    Args:
        images: uint8 ``[N, H, W, 3]`` array/tensor or a list of PIL images of any size; each is
            resized to the backbone's input size.
        backbone: key of :data:`eglib.features.backbones.BACKBONES`.
        layers: any of :data:`LAYERS`:

            * ``"conv"``: the gate's spatial map, flattened, float32 ``[N, C*h*w]``;
            * ``"pooled"``: that map averaged over space, float32 ``[N, C]``;
            * ``"expert_input"``: what an expert reads, at the backbone's cut point: float32
              ``[N, C, h, w]`` activations (mini), or the resized image as uint8 ``[N, 3, S, S]``
              for a whole-network expert (paper profiles).
        device: where the backbone runs and the results live.
        batch_size: images per forward pass (``None``: :data:`CPU_BATCH_SIZE` on the CPU,
            :data:`GPU_BATCH_SIZE` elsewhere). Every image is computed on its own, but the
            kernels chosen, and so the rounding, may depend on it (see :data:`CPU_BATCH_SIZE`).

    Returns:
        ``{layer: tensor}`` on ``device``.
    """
    spec = backbones.get_backbone_spec(backbone)
    layers = tuple(dict.fromkeys(layers))
    for layer in layers:
        _check_layer(layer)
    if "expert_input" in layers and spec.expert_cut is None:
        raise ValueError(f"Backbone {backbone!r} has no expert cut point; it cannot give layer='expert_input'.")
    batch = as_uint8_batch(images)
    device = config.resolve_device(device)
    batch_size = batch_size or (CPU_BATCH_SIZE if device.type == "cpu" else GPU_BATCH_SIZE)
    trunk, _ = _trunk(backbone, str(device))
    starts = range(0, len(batch), batch_size)
    parts = [_pass(batch[start:start + batch_size], spec, trunk, layers, device)
             for start in (progress(starts, f"{backbone} features") if len(starts) > 4 else starts)]
    return {layer: torch.cat([part[layer] for part in parts]) for layer in layers}


def extract_features(images: ImageBatch, backbone: str = "mobilenet_v2", layer: str = "conv",
                     device: str | torch.device = "auto", batch_size: int | None = None) -> torch.Tensor:
    """One layer of :func:`extract_layers`: ``conv`` ``[N, C*h*w]``, ``pooled`` ``[N, C]`` or
    ``expert_input`` ``[N, C, h, w]`` (uint8 ``[N, 3, S, S]`` for a whole-network expert)."""
    return extract_layers(images, backbone, (layer,), device, batch_size)[layer]


def pool_conv_features(features: torch.Tensor, backbone: str) -> torch.Tensor:
    """Average flattened conv features ``[N, C*h*w]`` over space -> ``[N, C]`` (equals layer='pooled')."""
    c, h, w = backbones.get_backbone_spec(backbone).conv_shape
    if features.shape[1] != c * h * w:
        raise ValueError(f"Expected [N, {c * h * w}] conv features of {backbone}; got {tuple(features.shape)}.")
    return _mean_over_space(features, c)


def _mean_over_space(flat: torch.Tensor, channels: int) -> torch.Tensor:
    """Flattened maps ``[N, C*h*w]`` (standard layout) -> their spatial means ``[N, C]``."""
    return flat.contiguous().view(len(flat), channels, -1).mean(dim=2)


def cache_dir() -> Path:
    """Folder of the feature cache (``<data_root>/cache/features``)."""
    return config.data_root() / "cache" / "features"


def cache_key(images: np.ndarray, backbone: str, layer: str, device: torch.device) -> str:
    """Content key of a feature set: backbone, layer cut, input size, weights checksum, extraction
    code version, torch version, device type and the images' bytes."""
    spec = backbones.get_backbone_spec(backbone)
    digest = hashlib.sha256()
    _, weights_digest = _trunk(backbone, "cpu")
    digest.update(f"{backbone}|{layer}|{spec.expert_cut}|{spec.conv_layers}|{spec.input_size}|{weights_digest}|"
                  f"v{FEATURE_CODE_VERSION}|{torch.__version__}|{device.type}|".encode())
    digest.update(f"{images.shape}|{images.dtype}|".encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:32]


def cached_features(images: np.ndarray, backbone: str = "mobilenet_v2", layer: str = "conv",
                    device: str | torch.device = "auto") -> torch.Tensor:
    """:func:`extract_features` of a uint8 array ``[N, H, W, 3]``, read from / written to the cache.

    Returns:
        the layer's tensor on ``device`` (shapes as in :func:`extract_layers`).
    """
    _check_layer(layer)
    images = as_uint8_batch(images)
    if not isinstance(images, np.ndarray):
        raise ValueError("cached_features needs one uint8 array [N, H, W, 3]; use extract_features for lists.")
    device = config.resolve_device(device)
    spec = backbones.get_backbone_spec(backbone)
    path = _cache_path(images, backbone, layer, device)
    if path.exists():
        stored = _read_entry(path, device)
        if stored is not None:
            return stored
        path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
    # the gate's map and the expert input of the same images come from one pass: cache both
    layers = ("conv", "expert_input") if layer in ("conv", "expert_input") and spec.expert_cut else (layer,)
    computed = extract_layers(images, backbone=backbone, layers=layers, device=device)
    for name, values in computed.items():
        with atomic_writer(_cache_path(images, backbone, name, device)) as out:
            np.save(out, values.cpu().numpy())
    return computed[layer]


def stored_layers(images: ImageBatch, backbone: str = "mobilenet_v2", layers: Sequence[str] = ("conv",),
                  device: str | torch.device = "auto") -> dict[str, torch.Tensor] | None:
    """:func:`extract_layers` of a uint8 array read from the cache when every layer is stored there;
    ``None`` otherwise. Only reads: nothing is written, so images that are not cached yet leave no
    trace (the learner's tasks, :class:`eglib.method.learner.LifelongLearner`).

    The cache holds what :func:`extract_layers` computes for the same array (same batches), and
    ``"pooled"`` is derived from the stored map with the same reduction, so a hit gives the bits
    a fresh pass gives (``tests/test_data_features.py``). A damaged entry counts as a miss.
    """
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        return None
    device = config.resolve_device(device)
    out = {}
    for layer in dict.fromkeys(layers):
        _check_layer(layer)
        values = _read_entry(_cache_path(images, backbone, "conv" if layer == "pooled" else layer, device), device)
        if values is None:
            return None
        # pooled on the device, as a backbone pass on it pools (a GPU's mean rounds otherwise than the CPU's)
        out[layer] = pool_conv_features(values, backbone) if layer == "pooled" else values
    return out


def stored_or_extracted_layers(images: ImageBatch, backbone: str = "mobilenet_v2", layers: Sequence[str] = ("conv",),
                               device: str | torch.device = "auto") -> dict[str, torch.Tensor]:
    """:func:`stored_layers` when the cache holds every layer of these images, else one
    :func:`extract_layers` pass; either way nothing is written to the cache."""
    stored = stored_layers(images, backbone=backbone, layers=layers, device=device)
    return stored if stored is not None else extract_layers(images, backbone=backbone, layers=layers, device=device)


def _read_entry(path: Path, device: torch.device) -> torch.Tensor | None:
    """A cache entry's tensor on ``device``; ``None`` when it is missing or damaged."""
    try:
        return torch.from_numpy(np.load(path)).to(device)
    except (ValueError, OSError):  # FileNotFoundError is an OSError
        return None


def _cache_path(images: np.ndarray, backbone: str, layer: str, device: torch.device) -> Path:
    return cache_dir() / f"{backbone}-{layer}-{cache_key(images, backbone, layer, device)}.npy"


def benchmark_features(benchmark, backbone: str = "mobilenet_v2", layer: str = "conv",
                       device: str | torch.device = "auto") -> tuple[dict[str, dict[str, torch.Tensor]], torch.Tensor]:
    """Cached features of every split of every domain, and of the base images.

    Args:
        benchmark: an :class:`eglib.data.types.Benchmark`.

    Returns:
        ``({domain: {"train"|"val"|"test": tensor}}, base tensor)``, shapes as in
        :func:`extract_layers`. The pooled layer is derived from the cached conv map, so every
        layer costs one extraction. For ``"expert_input"`` of a whole-network expert (paper
        profiles) whose images are stored at the input size, the images themselves come back as
        uint8 ``[N, 3, S, S]``, without a copy on the CPU.
    """
    _check_layer(layer)
    spec = backbones.get_backbone_spec(backbone)

    def get(images: np.ndarray) -> torch.Tensor:
        if layer == "expert_input" and spec.expert_cut == 0 and images.shape[1:3] == (spec.input_size,) * 2:
            # a whole-network expert's input is the image itself: a [N, 3, S, S] view of the
            # benchmark's own array (no copy, nothing cached) on the CPU, a uint8 copy on a GPU
            return torch.from_numpy(images).permute(0, 3, 1, 2).to(config.resolve_device(device))
        if layer == "pooled":  # derived from the cached conv map: both gate layers cost one extraction
            return pool_conv_features(cached_features(images, backbone=backbone, layer="conv", device=device), backbone)
        return cached_features(images, backbone=backbone, layer=layer, device=device)

    per_domain = {name: {split: get(domain.split(split).images) for split in SPLITS}
                  for name, domain in benchmark.domains.items()}
    return per_domain, get(benchmark.base)
