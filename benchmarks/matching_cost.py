"""How fast the video experts' block-matching cost is, and what it costs in a training step.

    .venv/bin/python benchmarks/matching_cost.py [--batch 32] [--size 32] [--repeats 30]

Times, on one batch of random frames ``[N, 1, H, W]``, the matching cost of
:func:`eglib.video.dfn.matching_cost` (7x7 offsets, 7x7 window) with three ways to take the
window's mean: the two averaging matrix products that eglib uses (:func:`~eglib.video.dfn.box_mean`),
running sums along each axis (eglib's way until 2026-12-06), and a replicate-padded 7x7 average
pool. Then one training step (forward, backward, Adam) of 06's expert network. Medians of
``--repeats`` runs, taken in turns so that the machine's drift hits every method alike; ratios
to the first row. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

import eglib
from eglib.video import dfn

WINDOW, OFFSETS = 7, 7


def running_sum_mean(x: torch.Tensor, window: int, dim: int) -> torch.Tensor:
    """The window mean along ``dim`` from running sums, the border replicated (eglib until 2026-12-06)."""
    half, size = window // 2, x.shape[dim]
    first, last = x.narrow(dim, 0, 1), x.narrow(dim, size - 1, 1)
    padded = torch.cat([first.repeat_interleave(half + 1, dim=dim), x, last.repeat_interleave(half, dim=dim)], dim=dim)
    running = padded.cumsum(dim=dim)
    return (running.narrow(dim, window, size) - running.narrow(dim, 0, size)) / window


def median_ms(step: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(1e3 * (time.perf_counter() - start))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    eglib.setup(seed=0, device="cpu")
    previous, last = torch.rand(2, args.batch, 1, args.size, args.size).unbind(0)

    def absolute_differences() -> torch.Tensor:
        n, _, h, w = last.shape
        return (last.reshape(n, 1, h * w) - dfn.neighbourhoods(previous, OFFSETS)).abs().view(n, OFFSETS ** 2, h, w)

    methods: dict[str, Callable[[], torch.Tensor]] = {
        "matrix products (eglib)": lambda: dfn.matching_cost(previous, last, OFFSETS, WINDOW),
        "running sums": lambda: running_sum_mean(running_sum_mean(absolute_differences(), WINDOW, 3), WINDOW, 2),
        "average pool": lambda: F.avg_pool2d(F.pad(absolute_differences(), (WINDOW // 2,) * 4, mode="replicate"),
                                             WINDOW, 1),
        "differences alone (no mean)": absolute_differences,
    }
    reference = methods["matrix products (eglib)"]()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(3):  # in turns
        for name, method in methods.items():
            times[name] += median_ms(method, args.repeats)
    first = statistics.median(times["matrix products (eglib)"])
    print(f"matching cost of {args.batch} frame pairs of {args.size}x{args.size} ({OFFSETS}x{OFFSETS} offsets, "
          f"{WINDOW}x{WINDOW} window), {torch.get_num_threads()} threads")
    for name, method in methods.items():
        gap = (method() - reference).abs().max().item()
        median = statistics.median(times[name])
        print(f"  {name:30s} {median:7.2f} ms  {median / first:5.2f}x  (max difference from eglib's {gap:.1e})")

    net = dfn.DynamicFilterNetwork()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    clip = torch.rand(args.batch, 6, args.size, args.size)

    def training_step() -> None:
        optimizer.zero_grad()
        F.l1_loss(net(clip[:, :3]), clip[:, 3:]).backward()
        optimizer.step()

    step = statistics.median(median_ms(training_step, args.repeats))
    three = 3 * first  # a forward pass computes the cost once per predicted frame
    print(f"one training step of 06's expert (batch {args.batch}): {step:.1f} ms, of which the matching cost of its "
          f"3 rolled-out steps about {three:.1f} ms ({100 * three / step:.0f}%)")


if __name__ == "__main__":
    main()
