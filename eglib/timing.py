"""Where a notebook's time goes: exclusive wall time, and optionally arithmetic, per phase.

The method's heavy functions are marked with :func:`phase` (feature extraction, autoencoder
training, expert training, evaluation, ...). A phase's time is *exclusive*: a phase that runs
inside another (an evaluation inside sequential training) counts as itself, not twice. With
``EGLIB_COUNT_FLOPS=1`` the outermost phase also counts the floating-point operations of its
matrix products and convolutions, forward and backward (``torch.utils.flop_counter``), including
those of phases inside it; counting slows the run, so ``make benchmark`` times one run and counts
in another. :func:`eglib.run.outputs.save_metrics` adds :func:`totals` to every notebook's metrics.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

PHASES = ("feature extraction", "autoencoder training", "expert training", "classifier training", "evaluation",
          "figures")
Function = TypeVar("Function", bound=Callable[..., Any])

_seconds: dict[str, float] = defaultdict(float)
_flops: dict[str, int] = defaultdict(int)
_stack: list[list[Any]] = []  # [phase, start of its current exclusive stretch]


def phase(name: str) -> Callable[[Function], Function]:
    """Decorator: the wrapped function's time (and, when counting, its FLOPs) belong to ``name``."""
    if name not in PHASES:
        raise ValueError(f"Unknown phase {name!r}; use one of {PHASES}.")

    def decorate(function: Function) -> Function:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            now = time.perf_counter()
            if _stack:
                _seconds[_stack[-1][0]] += now - _stack[-1][1]
            _stack.append([name, now])
            try:
                if len(_stack) > 1 or os.environ.get("EGLIB_COUNT_FLOPS", "") != "1":
                    return function(*args, **kwargs)
                import torch
                from torch.utils.flop_counter import FlopCounterMode

                mapping = {torch.ops.aten.convolution_backward: convolution_backward_flops}
                with FlopCounterMode(display=False, custom_mapping=mapping) as counter:
                    result = function(*args, **kwargs)
                _flops[name] += counter.get_total_flops()
                return result
            finally:
                end = time.perf_counter()
                _seconds[name] += end - _stack[-1][1]
                _stack.pop()
                if _stack:
                    _stack[-1][1] = end
        return timed  # type: ignore[return-value]
    return decorate


def convolution_backward_flops(grad_out_shape: list[int], x_shape: list[int], w_shape: list[int], _bias: Any,
                               _stride: Any, _padding: Any, _dilation: Any, transposed: bool, _output_padding: Any,
                               _groups: int, output_mask: list[bool], *_: Any, **__: Any) -> int:
    """FLOPs of a convolution's backward pass: each gradient asked for (input, weight) costs what
    the forward costs, ``2 * N * spatial * prod(weight shape)``.

    torch's own formula (2.14) counts the weight gradient of a grouped convolution as if it were
    dense: for MobileNetV2's depthwise 3x3 convolutions (960 groups) that is 960 times too many,
    and it made a mini expert's backward pass look 11x its forward.
    """
    spatial = x_shape[2:] if transposed else grad_out_shape[2:]  # where the forward's outputs are computed
    forward = 2 * grad_out_shape[0] * math.prod(spatial) * math.prod(w_shape)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


def totals() -> dict[str, dict[str, float]]:
    """``{"seconds": {phase: s}, "flops": {phase: n}}`` recorded in this process so far."""
    return {"seconds": {name: round(_seconds[name], 3) for name in PHASES if name in _seconds},
            "flops": {name: int(_flops[name]) for name in PHASES if name in _flops}}


def reset() -> None:
    """Forget what was recorded."""
    _seconds.clear()
    _flops.clear()
