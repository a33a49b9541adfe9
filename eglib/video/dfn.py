"""Dynamic Filter Network experts for video prediction (``06_video_prediction``, the paper's Table 4).

A Dynamic Filter Network (De Brabandere et al., 2016) does not paint the next frame: from the
frames it has seen it predicts, for every pixel, a small ``k x k`` filter (a softmax, so the
weights are positive and sum to one) and applies it to that pixel's neighbourhood in the last
frame. Motion becomes "take the pixel from over there". Rolled out, the prediction is appended to
the input and the oldest frame dropped, so 3 seen frames give 3 predicted ones.

Frames are floats in ``[0, 1]`` inside the network; errors are reported as the mean absolute
per-pixel difference on the 0..255 scale (the paper's Table 4 reports a mean per-pixel L1).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from eglib import optim, reuse, timing
from eglib.progress import progress
from eglib.config import resolve_device
from eglib.optim import descend
from eglib.storage import rebuild_module
from eglib.method.gate import routed_rows
from eglib.video import clips as clips_module
from eglib.video.clips import INPUT_FRAMES, PREDICTED_FRAMES, check_clips


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.ReLU(inplace=True))


class _Patches(torch.autograd.Function):
    """``F.unfold(padded, size)`` (stride 1, no padding), computed as a strided view copied once.

    The values are ``F.unfold``'s, bit for bit, and so is the gradient (``F.fold``, the same col2im
    that ``F.unfold``'s backward runs); the forward pass is several times faster than ``im2col``
    on the small frames of the video experts (``tests/test_video.py`` checks both).
    """

    @staticmethod
    def forward(ctx, padded: torch.Tensor, size: int) -> torch.Tensor:
        n, c, height, width = padded.shape
        ctx.size, ctx.padded_size = size, (height, width)
        windows = padded.unfold(2, size, 1).unfold(3, size, 1)  # [N, C, H, W, size, size], a view
        return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * size * size, (height - size + 1) * (width - size + 1))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return F.fold(grad, ctx.padded_size, ctx.size), None


BORDERS = ("replicate", "zeros")


def neighbourhoods(frame: torch.Tensor, size: int, border: str = "replicate") -> torch.Tensor:
    """Every pixel's ``size x size`` neighbourhood of ``frame [N, 1, H, W]``: ``[N, size*size, H*W]``.

    The border is replicated (the nearest edge pixel) by default: a filter that points past the
    edge takes the edge's value instead of darkening it (``border="zeros"``: black, which
    ``benchmarks/video_choices.py`` measures). Entry ``j`` is the offset
    ``(j // size - size // 2, j % size - size // 2)`` (rows, columns) from the pixel.
    """
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}; got {border!r}.")
    padding = (size // 2,) * 4
    padded = F.pad(frame, padding, mode="replicate") if border == "replicate" else F.pad(frame, padding)
    return _Patches.apply(padded, size)


# below this mean matching cost (about 2.5 grey levels of 255) a pixel's block is flat: see relative_cost
COST_FLOOR = 0.01


def matching_cost(previous: torch.Tensor, last: torch.Tensor, size: int, window: int,
                  border: str = "replicate") -> torch.Tensor:
    """Block-matching evidence for motion: ``[N, size*size, H, W]``.

    For every pixel ``p`` and filter offset ``o``, the absolute difference between ``last(p)`` and
    ``previous(p + o)``, averaged over a ``window x window`` block around ``p``. A small cost at
    offset ``o`` says the content at ``p`` came from ``p + o`` in the last step; if it keeps its
    velocity, the next frame at ``p`` is ``last(p + o)`` -- which is what a filter peaked at ``o``
    takes. Frames ``[N, 1, H, W]`` in ``[0, 1]``; ``border``: what ``previous`` holds past its edge
    (:func:`neighbourhoods`).
    """
    n, _, h, w = last.shape
    cost = (last.reshape(n, 1, h * w) - neighbourhoods(previous, size, border)).abs().view(n, size * size, h, w)
    return box_mean(cost, window) if window > 1 else cost


def relative_cost(cost: torch.Tensor, floor: float = COST_FLOOR) -> torch.Tensor:
    """A matching cost ``[N, k*k, H, W]`` divided, pixel by pixel, by its mean over the offsets
    plus ``floor``: how much worse each offset matches than a typical one, alike at every contrast
    whose differences are well above ``floor``.

    The raw cost of a wrong offset is small where the texture is faint and large where it is strong,
    so one strength would either leave faint textures blurred (a soft peak that leaks into the
    neighbouring offsets) or lock strong edges too hard. Divided by its own mean, the true offset
    scores near 0 and the others near 1 on both. ``floor`` (on the ``[0, 1]`` scale of the frames)
    keeps flat regions, where every offset matches and the filter may as well average, at a cost
    near 0: it caps how far a faint difference is amplified (a mean cost of ``floor`` or less weighs
    at most ``1 / floor`` times its raw value).
    """
    return cost / (cost.mean(dim=1, keepdim=True) + floor)


def box_mean(x: torch.Tensor, window: int) -> torch.Tensor:
    """Mean of ``x [..., H, W]`` over the ``window x window`` block centred on every pixel (an odd
    window; past the border the edge pixel repeats, as ``F.pad(mode="replicate")`` would give).

    Computed as ``B_H @ x @ B_W^T`` with banded averaging matrices that hold the replicated border:
    two small matrix products, several times faster on a CPU than running sums or a pooling layer
    (``benchmarks/matching_cost.py``).
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"The window must be a positive odd number (centred on the pixel), e.g. 7; got {window}.")
    rows, cols = (_box_matrix(size, window, x.dtype, x.device) for size in x.shape[-2:])
    return torch.matmul(rows, torch.matmul(x, cols.T))


@functools.lru_cache(maxsize=16)
def _box_matrix(size: int, window: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[size, size]``: row ``j`` averages entries ``j - window // 2 .. j + window // 2``, each index
    clamped into ``0 .. size - 1`` (a clamped index keeps its weight: the replicated border)."""
    half = window // 2
    sources = (torch.arange(size)[:, None] + torch.arange(-half, half + 1)[None, :]).clamp(0, size - 1)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix.scatter_add_(1, sources, torch.full(sources.shape, 1.0 / window, dtype=torch.float64))
    return matrix.to(dtype=dtype, device=device)


@torch.no_grad()
def motion_reach(clips: np.ndarray, search: int = 11, window: int = 7, texture: float = 2 * COST_FLOOR,
                 tie: float = 1e-3, clear: float = 0.2, batch_size: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """How far content moves between consecutive frames: one offset per textured, clearly matched pixel.

    For every pair of consecutive frames of every clip, the offset ``(dy, dx)`` (within
    ``search x search``) whose ``window x window`` block in the earlier frame best matches the
    block around the pixel in the later one (:func:`matching_cost`), and its length
    ``max(|dy|, |dx|)``: the reach a per-pixel filter needs to take the pixel from where it was
    (a ``k x k`` filter reaches ``k // 2``). A pixel counts only if
    * its block and all its offsets stay inside the frame (the central ``H - 2m`` x ``W - 2m``
      pixels, ``m = search // 2 + window // 2``: bounces off the walls and content entering at
      the edges are not seen);
    * its block in the later frame has texture: the block's mean of every pixel's absolute
      deviation from its own window mean is above ``texture`` (on the ``[0, 1]`` scale; a flat
      block matches any flat place);
    * no second offset matches within ``tie`` of the best (an ambiguous match says nothing);
    * the best match is clear: its cost at most ``clear`` times the mean cost over the offsets
      (:func:`relative_cost`). Content that moved beyond the search has no true match inside it;
      its best false match is rarely clear (three clips of a pan of 8 px a frame: 2 of 1,385
      textured pixels pass, where without this test a quarter of them came out within 3 px).

    Args:
        clips: uint8 ``[N, T, H, W]``.

    Returns:
        the lengths ``[M]`` (ints in ``0 .. search // 2``) and the offsets ``[M, 2]`` (``dy, dx``:
        where the content went, later minus earlier position).
    """
    if search < 1 or search % 2 == 0:
        raise ValueError(f"search must be a positive odd number (offsets centred on the pixel), e.g. 11; got {search}.")
    x = as_float_clips(clips, torch.device("cpu"))
    h, w = x.shape[2:]
    margin = search // 2 + window // 2
    if min(h, w) <= 2 * margin:
        raise ValueError(f"Frames of {h}x{w} leave no pixel whose {search}x{search} search and {window}x{window} block "
                         f"stay inside; pass a smaller search or window.")
    inside = (slice(None), slice(margin, h - margin), slice(margin, w - margin))
    found = []
    for chunk in x.split(batch_size):
        earlier, later = chunk[:, :-1].reshape(-1, 1, h, w), chunk[:, 1:].reshape(-1, 1, h, w)
        cost = matching_cost(earlier, later, search, window)[:, :, inside[1], inside[2]]  # [M, search^2, h', w']
        deviation = box_mean((later - box_mean(later, window)).abs(), window)[:, 0][inside]
        least, best = cost.min(dim=1)
        unique = (cost <= least[:, None] + tie).sum(dim=1) == 1
        clearly = least <= clear * cost.mean(dim=1)
        best = best[(deviation > texture) & unique & clearly]
        # cost offset o says later(p) = earlier(p + o): the content moved by -o
        found.append(torch.stack([search // 2 - best // search, search // 2 - best % search], dim=1))
    offsets = torch.cat(found).numpy()
    return np.abs(offsets).max(axis=1), offsets


class DynamicFilterNetwork(nn.Module):
    """Filter-generating U-Net + dynamic local filtering of the last seen frame.

    The filters' logits are the U-Net's output minus ``prior_strength`` times the block-matching
    cost of every offset (:func:`matching_cost` between the last two frames, divided by its mean over
    the offsets: :func:`relative_cost`), scaled per pixel by a
    trust factor the U-Net also predicts (``exp`` of its last channel, clamped at 0: the factor is
    at least 1). Without that prior (``prior_strength=0``, the plain DFN) the U-Net must discover
    motion from scratch, and on the mini domains a CPU's worth of epochs leaves it predicting blur
    (``06_video_prediction`` shows both). The prior is a correlation layer of the kind
    optical-flow networks use; it has no weights. The U-Net moves the filters' peaks where the
    last velocity is wrong (acceleration, bounces), but may only sharpen the prior, never flatten
    it: under an L1 loss, flattening it (a blurred guess where the motion is uncertain) lowers the
    error and loses the objects, which is what a free factor learnt on the falling digits.

    Args:
        input_frames: frames the network sees (the paper: 3).
        filter_size: side ``k`` of the per-pixel filters; motion of up to ``k // 2`` pixels per
            frame can be represented.
        width: channels of the first level (doubled at each of the two downsamplings).
        prior_strength: weight of the relative matching cost in the logits (0: no prior). The
            default 30 was chosen by ``benchmarks/pan_band.py`` (seeds 0-2): it is the weakest of
            20, 30 and 50 with which the pan expert beats constant velocity on every seed.
        match_window: side of the block over which the matching cost is averaged.
        relative_prior: divide the matching cost by its mean over the offsets (:func:`relative_cost`);
            ``False`` gives the raw cost, which needed a strength of about 300 (until 2026-12-06).
    """

    border = "replicate"  # what a filter takes past the frame's edge (neighbourhoods); the prior matches alike

    def __init__(self, input_frames: int = INPUT_FRAMES, filter_size: int = 7, width: int = 8,
                 prior_strength: float = 30.0, match_window: int = 7, relative_prior: bool = True) -> None:
        super().__init__()
        if input_frames < 2 and prior_strength:
            raise ValueError("The matching prior compares the last two seen frames: input_frames must be >= 2 "
                             "(or prior_strength=0).")
        if match_window < 1 or match_window % 2 == 0:
            raise ValueError(f"match_window must be a positive odd number (a block centred on the pixel), e.g. 7; "
                             f"got {match_window}.")
        self.input_frames, self.filter_size = input_frames, filter_size
        self.prior_strength, self.match_window, self.relative_prior = float(prior_strength), match_window, bool(relative_prior)
        self.level1 = nn.Sequential(_conv(input_frames, width), _conv(width, width))
        self.level2 = nn.Sequential(_conv(width, 2 * width, stride=2), _conv(2 * width, 2 * width))
        self.level3 = nn.Sequential(_conv(2 * width, 4 * width, stride=2), _conv(4 * width, 4 * width))
        self.up2 = _conv(4 * width + 2 * width, 2 * width)
        self.up1 = _conv(2 * width + width, 2 * width)
        # k*k filter logits, plus (with the prior) the log of the per-pixel trust in the matching cost
        self.to_filters = nn.Conv2d(2 * width, filter_size * filter_size + (1 if self.prior_strength else 0), 1)
        if self.prior_strength:  # start from the prior alone: small logits, trust factor exp(0) = 1
            with torch.no_grad():
                self.to_filters.weight.mul_(0.1)
                self.to_filters.bias.zero_()
            # the prior's settings travel in the state dict, so a checkpoint is rebuilt with the prior
            # it was trained with (from_state_dict); no weight shows them
            self.register_buffer("prior_settings", _prior_settings(self.prior_strength, self.relative_prior, match_window))

    def filters(self, frames: torch.Tensor) -> torch.Tensor:
        """Seen frames ``[N, F, H, W]`` -> per-pixel filters ``[N, k*k, H, W]`` (softmax over ``k*k``).

        ``H`` and ``W`` must be multiples of 4.
        """
        f1 = self.level1(frames)
        f2 = self.level2(f1)
        f3 = self.level3(f2)
        u2 = self.up2(torch.cat([F.interpolate(f3, scale_factor=2.0, mode="nearest"), f2], dim=1))
        u1 = self.up1(torch.cat([F.interpolate(u2, scale_factor=2.0, mode="nearest"), f1], dim=1))
        out = self.to_filters(u1)
        if not self.prior_strength:
            return torch.softmax(out, dim=1)
        with torch.no_grad():  # evidence, like an input feature: no gradient flows through the matching
            cost = self.prior_cost(frames)
        # split, not two slices: the backward pass joins the two gradients instead of zero-filling a
        # whole [N, k*k + 1, H, W] tensor for each (the same values; 5% of a training step on a CPU)
        logits, trust = out.split([out.shape[1] - 1, 1], dim=1)
        return torch.softmax(logits - self.prior_strength * trust.clamp(min=0).exp() * cost, dim=1)

    def prior_cost(self, frames: torch.Tensor) -> torch.Tensor:
        """The matching prior's cost of every offset ``[N, k*k, H, W]`` from seen frames ``[N, F, H, W]``:
        :func:`matching_cost` between the last two (the earlier one taken past its edge as ``border``
        says; the block mean repeats the edge's cost either way), divided by its mean over the offsets
        plus a floor (:func:`relative_cost`) unless ``relative_prior`` is off. A subclass may measure the evidence otherwise
        (``benchmarks/source_consistency.py`` does)."""
        cost = matching_cost(frames[:, -2:-1], frames[:, -1:], self.filter_size, self.match_window, self.border)
        return relative_cost(cost) if self.relative_prior else cost

    def step(self, frames: torch.Tensor) -> torch.Tensor:
        """Seen frames ``[N, F, H, W]`` -> the next frame ``[N, H, W]``: the last frame, filtered."""
        n, _, h, w = frames.shape
        k = self.filter_size
        patches = neighbourhoods(frames[:, -1:], k, self.border)  # [N, k*k, H*W]
        return (patches * self.filters(frames).view(n, k * k, h * w)).sum(dim=1).view(n, h, w)

    def forward(self, frames: torch.Tensor, steps: int = PREDICTED_FRAMES) -> torch.Tensor:
        """Seen frames ``[N, F, H, W]`` in ``[0, 1]`` -> ``steps`` predicted frames ``[N, steps, H, W]``."""
        if frames.ndim != 4 or frames.shape[1] != self.input_frames or frames.shape[2] % 4 or frames.shape[3] % 4:
            raise ValueError(f"Expected {self.input_frames} frames [N, {self.input_frames}, H, W] with H and W "
                             f"multiples of 4; got {tuple(frames.shape)}.")
        window, predicted = frames, []
        for _ in range(steps):
            nxt = self.step(window)
            predicted.append(nxt)
            window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
        return torch.stack(predicted, dim=1)


class ZeroBorderDFN(DynamicFilterNetwork):
    """A :class:`DynamicFilterNetwork` whose filters take black (zero padding) past the frame's edge,
    and whose matching prior sees the same black there: the border ``benchmarks/video_choices.py``
    measures against the replicated edge pixel that notebook 06 keeps. The border is not in a state
    dict: rebuild such a network with ``from_state_dict(state, network_class=ZeroBorderDFN)``."""

    border = "zeros"


class ForwardSplatDFN(DynamicFilterNetwork):
    """A :class:`DynamicFilterNetwork` that carries each pixel of the last frame *to* where it goes
    instead of taking each pixel *from* somewhere: ``benchmarks/video_choices.py`` measures it
    against the backward filtering that notebook 06 keeps (issue 14: the streak that a backward
    filter draws into the gap between two digits moving apart).

    The filters and the prior are the parent's. The matching cost of offset ``o`` at ``p`` says the
    content at ``p`` came from ``p + o``, so under constant velocity it goes to ``p - o``: the weight
    of ``o`` at ``p`` is the share of ``last(p)`` sent to ``p - o`` (``F.fold``, the transpose of the
    neighbourhoods). A target may receive more than one pixel's worth (``mass > 1``: two objects
    meet), which is averaged, or less (a gap opens, content enters at an edge); what it lacks of a
    whole pixel (``1 - mass``) is filled by the parent's backward filtering at that target.
    Like :class:`ZeroBorderDFN`, rebuild it with ``from_state_dict(state, network_class=ForwardSplatDFN)``.
    """

    def step(self, frames: torch.Tensor) -> torch.Tensor:
        """Seen frames ``[N, F, H, W]`` -> the next frame ``[N, H, W]``: the last frame's pixels carried forward."""
        n, _, h, w = frames.shape
        k = self.filter_size
        weights = self.filters(frames).view(n, k * k, h * w)  # entry j: the share sent to p - o_j
        last = frames[:, -1:]
        # fold adds entry j of p at p + o_j: flipped, entry j lands at p - o_j (the offsets are symmetric)
        sent = torch.cat([last.reshape(n, 1, h * w) * weights, weights], dim=0).flip(1)
        carried, mass = F.fold(sent, (h, w), k, padding=k // 2)[:, 0].split(n)  # [N, H, W] each
        taken = (neighbourhoods(last, k, self.border) * weights).sum(dim=1).view(n, h, w)
        return carried / mass.clamp(min=1.0) + (1.0 - mass.clamp(max=1.0)) * taken


def _prior_settings(strength: float, relative: bool, window: int) -> torch.Tensor:
    """A network's ``prior_settings`` buffer ``[3]``: strength, relative (1) or raw (0), matching window."""
    return torch.tensor([float(strength), float(relative), float(window)])


# the prior of every network stored before 2026-12-06, whose state dicts hold no prior_settings
LEGACY_PRIOR = {"prior_strength": 300.0, "relative_prior": False}


def from_state_dict(state: dict[str, torch.Tensor], network_class: type[DynamicFilterNetwork] = DynamicFilterNetwork,
                    **model_options) -> DynamicFilterNetwork:
    """Rebuild a network from its state dict (e.g. a checkpoint), in eval mode.

    A state without the prior's trust channel is a plain DFN (``prior_strength=0``). A state with it
    carries its prior's settings (``prior_settings``: strength, relative or raw, matching window),
    which are used; one stored before 2026-12-06 has none and was trained with the raw matching cost
    at 300 (:data:`LEGACY_PRIOR`, unless ``model_options`` say otherwise), which it gets back.
    What a subclass changes in its class (the ``border``, or how :meth:`~DynamicFilterNetwork.prior_cost`
    measures the evidence, as the benchmarks' variants do) is not in the state: pass the class the
    network was trained as (``network_class``), or it comes back as :class:`DynamicFilterNetwork`.

    Raises:
        ValueError: ``model_options`` contradict the prior settings stored in ``state``.
    """
    k = model_options.get("filter_size", 7)
    if state["to_filters.weight"].shape[0] == k * k:
        model_options = {**model_options, "prior_strength": 0.0}
    elif "prior_settings" in state:
        strength, relative, window = state["prior_settings"].tolist()
        stored = {"prior_strength": strength, "relative_prior": bool(relative), "match_window": int(window)}
        clash = {key: (model_options[key], value) for key, value in stored.items()
                 if key in model_options and model_options[key] != value}
        if clash:
            raise ValueError(f"The state dict was trained with other prior settings than model_options ask for "
                             f"(option: (asked, stored)) {clash}; drop those options to rebuild it as trained.")
        model_options = {**model_options, **stored}
    else:
        model_options = {**LEGACY_PRIOR, **model_options}
        state = {**state, "prior_settings": _prior_settings(model_options["prior_strength"], model_options["relative_prior"],
                                                            model_options.get("match_window", 7))}
    return rebuild_module(lambda: network_class(**model_options), state).eval()


def start_network(seed: int, device: str | torch.device = "cpu", network_class: type[DynamicFilterNetwork] = DynamicFilterNetwork,
                  **model_options) -> DynamicFilterNetwork:
    """The network that :func:`train_dfn` starts a new expert of ``seed`` from, in eval mode: with the
    matching prior, the prior alone up to small random logits (what training adds to it is measured
    against this). Drawn from a copy of torch's generator: the caller's random state is left as it was."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # as _train seeds before it builds the network
        return network_class(**model_options).to(resolve_device(device)).eval()


def as_float_clips(clips: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 clips ``[N, T, H, W]`` -> float ``[N, T, H, W]`` in ``[0, 1]`` on ``device``."""
    return torch.from_numpy(check_clips(clips)).to(device).float().div_(255)


@dataclass
class TrainingLog:
    """Per-epoch mean training loss of the predicted frames (0..1 scale): their L1, plus the
    weighted gradient difference where :func:`train_dfn` was given one."""

    loss: list[float] = field(default_factory=list)


@timing.phase("expert training")
def train_dfn(clips: np.ndarray, model: DynamicFilterNetwork | None = None, *, epochs: int = 20, lr: float = 3e-3,
              batch_size: int = 32, seed: int = 0, device: str | torch.device = "auto", gradient_weight: float = 0.0,
              **model_options) -> tuple[DynamicFilterNetwork, TrainingLog]:
    """Train a DFN to predict frames 4-6 of every clip from frames 1-3 (L1 loss, optionally plus a
    gradient-difference term; Adam with the learning rate decayed to zero along a cosine, so that
    few epochs come close to convergence).

    Args:
        clips: uint8 ``[N, 6, H, W]``.
        model: start from a copy of this network (fine-tuning); ``None`` starts from a new one
            built with ``model_options`` and the seed. The given model is never modified.
        gradient_weight: weight of a gradient-difference term added to the L1 loss
            (:func:`gradient_difference`; 0: L1 alone, what notebook 06 uses -- ``benchmarks/video_choices.py``
            measures both).

    Returns:
        the trained network (eval mode) and its per-epoch losses. A training that already ran in
        this run folder with the same clips, start, settings and code is read back instead of
        repeated (:mod:`eglib.reuse`): notebook 06 run again opens in seconds.
    """
    if model is not None and model_options:
        raise ValueError(f"model_options {sorted(model_options)} only shape a new network; drop them when fine-tuning a model.")
    gradient_weight = float(gradient_weight)
    if not np.isfinite(gradient_weight) or gradient_weight < 0:
        raise ValueError(f"gradient_weight must be a finite number >= 0 (0: the L1 loss alone); got {gradient_weight}.")
    device = resolve_device(device)
    # a start network's shape settings that no weight shows (the matching window, the prior's strength)
    # a subclass's class attributes other than the border (e.g. a benchmark's weights) are not in the key:
    # such variants train with reuse off
    start_options = None if model is None else {"class": type(model).__qualname__, "border": model.border,
                                                "input_frames": model.input_frames, "filter_size": model.filter_size,
                                                "prior_strength": model.prior_strength,
                                                "match_window": model.match_window,
                                                "relative_prior": model.relative_prior}
    settings = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "seed": seed, "model_options": model_options,
                "start_options": start_options}
    if gradient_weight:  # absent when 0: an L1 training's settings are what they were (the code digest still moves)
        settings["gradient_weight"] = gradient_weight
    key = reuse.fingerprint("train_dfn", _code_digest(), device.type, model, torch.from_numpy(check_clips(clips)),
                            settings) if reuse.enabled() else None

    def start() -> DynamicFilterNetwork:
        return (copy.deepcopy(model) if model is not None else DynamicFilterNetwork(**model_options)).to(device)

    def trained_now() -> tuple[DynamicFilterNetwork, dict]:
        net, log = _train(clips, start, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device,
                          gradient_weight=gradient_weight)
        return net, {"loss": log.loss}

    net, extra = reuse.remembered(key, trained_now, start)
    return net.to(device).eval(), TrainingLog(loss=extra["loss"])


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """This module's, eglib.optim's and eglib.video.clips' code (the frames seen and predicted): part of a reuse key."""
    return reuse.source_digest(Path(__file__), Path(optim.__file__), Path(clips_module.__file__))


def gradient_difference(predicted: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Gradient-difference loss (Mathieu et al., 2016) of frames ``[N, T, H, W]``: the mean absolute
    difference between the predicted and the true frames' neighbour differences, vertical and
    horizontal (a scalar). A blurred prediction has weak gradients where the truth has edges, so
    this term penalises blur that L1 alone rewards where the motion is uncertain."""
    def edges(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x[..., 1:, :] - x[..., :-1, :]).abs(), (x[..., :, 1:] - x[..., :, :-1]).abs()

    (py, px), (ty, tx) = edges(predicted), edges(truth)
    return F.l1_loss(py, ty) + F.l1_loss(px, tx)


def _train(clips: np.ndarray, start: Callable[[], DynamicFilterNetwork], *, epochs: int, lr: float, batch_size: int,
           seed: int, device: torch.device, gradient_weight: float = 0.0) -> tuple[DynamicFilterNetwork, TrainingLog]:
    """:func:`train_dfn`'s training: seed torch, build the start network with ``start()``, train it."""
    x = as_float_clips(clips, device)
    torch.manual_seed(seed)
    net = start()
    # unfused Adam and the default memory layout: 06's Table 4 claims sit so close to their
    # tolerances that the rounding of channels-last convolutions or a fused Adam flips one of
    # them (measured 2026-12-02: Expert Gate / joint L1 went from 1.03 to 1.06, the bound is 1.05)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    log = TrainingLog()
    seen, target = INPUT_FRAMES, INPUT_FRAMES + PREDICTED_FRAMES
    for _ in progress(range(epochs), "video network"):
        net.train()
        total = 0.0
        for batch in torch.randperm(len(x), generator=generator).split(batch_size):
            clip = x[batch.to(device)]
            predicted, truth = net(clip[:, :seen]), clip[:, seen:target]
            loss = F.l1_loss(predicted, truth)
            if gradient_weight:
                loss = loss + gradient_weight * gradient_difference(predicted, truth)
            total += descend(optimizer, loss) * len(batch)
            schedule.step()
        log.loss.append(total / len(x))
    return net.eval(), log


@timing.phase("evaluation")
@torch.no_grad()
def _predicted(model: DynamicFilterNetwork, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """The 3 predicted frames ``[N, 3, H, W]`` (in ``[0, 1]``) of float clips ``x [N, T, H, W]``."""
    return torch.cat([model(x[i:i + batch_size, :INPUT_FRAMES]) for i in range(0, len(x), batch_size)]).clamp(0, 1)


def predict_clips(model: DynamicFilterNetwork, clips: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The 3 predicted frames of every clip, uint8 ``[N, 3, H, W]`` (0..255)."""
    x = as_float_clips(clips, next(model.parameters()).device)
    return (_predicted(model, x, batch_size) * 255).round().byte().cpu().numpy()


def predicted_frames(model: DynamicFilterNetwork, clips: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The 3 predicted frames of every clip as floats on the 0..255 scale, ``[N, 3, H, W]`` (for
    :mod:`eglib.video.measures`)."""
    x = as_float_clips(clips, next(model.parameters()).device)
    return (_predicted(model, x, batch_size) * 255).cpu().numpy()


def routed_frames(experts: dict[str, DynamicFilterNetwork], routes: np.ndarray, clips: np.ndarray) -> np.ndarray:
    """:func:`predicted_frames` when clip ``i`` is predicted by expert ``list(experts)[routes[i]]``."""
    names = list(experts)
    frames = np.full((len(clips), PREDICTED_FRAMES, *np.shape(clips)[2:]), np.nan, dtype=np.float32)
    for index, rows in routed_rows(torch.as_tensor(np.asarray(routes)), len(names)):
        frames[rows.numpy()] = predicted_frames(experts[names[index]], clips[rows.numpy()])
    return frames


def prediction_l1(model: DynamicFilterNetwork, clips: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Per-clip mean absolute error ``[N]`` of the 3 predicted frames, on the 0..255 scale."""
    x = as_float_clips(clips, next(model.parameters()).device)
    target = x[:, INPUT_FRAMES:INPUT_FRAMES + PREDICTED_FRAMES]
    return ((_predicted(model, x, batch_size) - target).abs().mean(dim=(1, 2, 3)) * 255).cpu().numpy()


def finetune_in_sequence(train: dict[str, np.ndarray], test: dict[str, np.ndarray],
                         first_stage: DynamicFilterNetwork | None = None,
                         **options) -> tuple[DynamicFilterNetwork, pd.DataFrame]:
    """One DFN fine-tuned domain after domain (the paper's "single FT" baseline).

    Args:
        train, test: clips per domain, in the order the domains arrive.
        first_stage: a network already trained on the first domain with the same ``options``
            (its expert); it is used as stage 1 instead of being trained again.
        options: keyword arguments of :func:`train_dfn`.

    Returns:
        the final network and the L1 matrix (rows: after training on domain ``i``; columns:
        every domain's test clips, earlier and later ones).
    """
    model, rows = None, {}
    for stage, (name, clips) in enumerate(train.items()):
        if stage == 0 and first_stage is not None:
            model = first_stage
        else:
            model, _ = train_dfn(clips, model, **options)
        rows[name] = {other: float(prediction_l1(model, test[other]).mean()) for other in test}
    return model, pd.DataFrame.from_dict(rows, orient="index")
