"""Speed figures of the suite. Prints measurements; asserts nothing about time.

    .venv/bin/python benchmarks/bench_foundation.py [--skip-notebooks] [--skip-flops]

Targets it reports against:
* the gate's batched routing reaches >= 0.5x this machine's measured matmul FLOP rate;
* a cached feature set (every split of every domain + base) reloads within 5 s;
* from a cold data folder (benchmark built, every feature extracted), ``make reproduce``'s
  notebooks 00-06 run within 300 s on 2 CPU cores, none over 75 s.

Per notebook it prints where the time goes (kernel start and saving, each phase of
:mod:`eglib.timing`, the rest) and, from a second run that counts FLOPs, the arithmetic the
notebook needs at the measured matmul rate.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import eglib  # noqa: E402
from eglib import config, data, features, timing  # noqa: E402
from eglib.features import extract  # noqa: E402
from eglib.method.autoencoder import GateAutoencoder, TaskAutoencoder  # noqa: E402
from eglib.method.gate import ExpertGate  # noqa: E402
from eglib.method.standardizer import FeatureStandardizer  # noqa: E402


def best_of(fn, repeats: int = 5) -> float:
    """Fastest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def matmul_rate(size: int = 2048) -> float:
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    return 2 * size ** 3 / best_of(lambda: torch.mm(a, b)) / 1e9


def gate_rate(dim: int, tasks: int = 6, hidden: int = 100, samples: int = 1200) -> tuple[float, float]:
    """GFLOP/s of gate.errors counting only its two matmuls, and seconds per call."""
    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(256, dim, generator=generator)
    standardizer = FeatureStandardizer.fit(reference)
    gate = ExpertGate()
    for index in range(tasks):
        gate.add(f"t{index}", TaskAutoencoder(GateAutoencoder(dim, hidden), standardizer))
    x = torch.rand(samples, dim, generator=generator)
    gate.errors(x)
    seconds = best_of(lambda: gate.errors(x))
    flops = 2 * 2 * samples * dim * hidden * tasks
    return flops / seconds / 1e9, seconds


def cache_reload(profile: config.Profile) -> float:
    bench = data.load_benchmark(profile.name)
    features.benchmark_features(bench, profile.backbone, layer="conv", device="cpu")  # warm the cache
    extract._trunk.cache_clear()
    start = time.perf_counter()
    features.benchmark_features(bench, profile.backbone, layer="conv", device="cpu")
    return time.perf_counter() - start


def reproduce_cold(count_flops: bool = False) -> tuple[float, dict]:
    """Run ``make reproduce``'s notebooks from an empty data root (data build, feature extraction
    and all), pinned to 2 cores where ``taskset`` exists. Returns the command's wall time and, per
    notebook: its wall time, the time papermill spent outside its cells (kernel start, saving),
    the seconds per cell summed, and the phases it recorded (:mod:`eglib.timing`)."""
    import json
    import os
    import shutil

    with tempfile.TemporaryDirectory() as runs, tempfile.TemporaryDirectory() as data_root:
        env = {**os.environ, "EGLIB_DATA": data_root, "EGLIB_COUNT_FLOPS": "1" if count_flops else "0"}
        command = [sys.executable, "-m", "eglib.run.reproduce", "--runs", runs]
        if shutil.which("taskset"):
            command = ["taskset", "-c", "0,1", *command]
        start = time.perf_counter()
        returncode = subprocess.run(command, cwd=REPO, env=env).returncode
        wall = time.perf_counter() - start
        run = Path(runs) / "latest"
        metrics = json.loads((run / "metrics.json").read_text())
        failed = metrics["run"].get("failed_notebooks", {})
        if returncode or failed:  # the timings of the notebooks that ran still count; say which did not
            print(f"warning: make reproduce exited {returncode}; failed notebooks (not timed): {failed}")
        profile = {}
        for name, seconds in metrics["run"]["notebook_seconds"].items():
            cells = json.loads((run / "notebooks" / f"{name}.ipynb").read_text())["cells"]
            in_cells = sum(cell.get("metadata", {}).get("papermill", {}).get("duration") or 0 for cell in cells)
            profile[name] = {"wall": seconds, "outside cells": seconds - in_cells, "cells": in_cells,
                             **metrics.get(f"phases_{name[:2]}", {"seconds": {}, "flops": {}})}
        return wall, profile


def print_profile(profile: dict, flops: dict | None, peak_gflops: float) -> None:
    """Per notebook: where the wall time goes, and (when counted) the arithmetic at the matmul rate."""
    phases = list(timing.PHASES)
    header = ["notebook", "wall", "kernel+io"] + [p.replace(" training", " train").replace("feature extraction", "features")
                                                  for p in phases] + ["other"]
    if flops is not None:
        header += ["GFLOP", "at matmul rate", "wall / arithmetic"]
    rows = []
    total_flops = 0.0
    for name, entry in profile.items():
        seconds = entry["seconds"]
        row = [name[:2], f"{entry['wall']:.0f}", f"{entry['outside cells']:.0f}"]
        row += [f"{seconds.get(p, 0.0):.1f}" for p in phases]
        row.append(f"{entry['cells'] - sum(seconds.values()):.1f}")
        if flops is not None:
            counted = sum(flops.get(name, {}).get("flops", {}).values())
            total_flops += counted
            arithmetic = counted / (peak_gflops * 1e9)
            row += [f"{counted / 1e9:.0f}", f"{arithmetic:.1f} s", f"{entry['wall'] / max(arithmetic, 1e-9):.0f}x"]
        rows.append(row)
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  " + "  ".join(str(cell).rjust(width) for cell, width in zip(row, widths)))
    if flops is not None:
        for label, names in (("notebooks 00-06", in_target(profile)), ("all notebooks", list(profile))):
            wall = sum(profile[name]["wall"] for name in names)
            counted = sum(sum(flops.get(name, {}).get("flops", {}).values()) for name in names)
            arithmetic = counted / (peak_gflops * 1e9)
            print(f"{label} ({len(names)} timed): {wall:.0f} s wall for {counted / 1e9:.0f} GFLOP = {arithmetic:.1f} s "
                  f"at the matmul rate: wall / arithmetic = {wall / max(arithmetic, 1e-9):.1f}x")


def in_target(timed: dict) -> list[str]:
    """The timed notebooks that the speed target covers (00-06; 07, added later, is timed beside them)."""
    return [name for name in timed if name[:2] <= "06"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-notebooks", action="store_true")
    parser.add_argument("--skip-flops", action="store_true", help="do not run the suite a second time to count FLOPs")
    args = parser.parse_args()
    eglib.setup(0, "cpu")
    profile = config.get_profile("mini")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    peak = matmul_rate()
    print(f"matmul 2048x2048 float32: {peak:.1f} GFLOP/s")
    for dim in (1280, 11520):
        rate, seconds = gate_rate(dim)
        print(f"gate.errors, 6 tasks, h=100, D={dim}, 1200 samples: {seconds * 1e3:.1f} ms, "
              f"{rate:.1f} GFLOP/s = {rate / peak:.2f}x matmul (target >= 0.5x)")
    reload = cache_reload(profile)
    print(f"cached conv features of the whole mini benchmark reloaded in {reload:.2f} s (target < 5 s)")
    if args.skip_notebooks:
        return
    wall, timed = reproduce_cold()
    counted = None if args.skip_flops else reproduce_cold(count_flops=True)[1]
    print("make reproduce from a cold data root, 2 cores; seconds per notebook and where they go "
          "(phases are exclusive; 'other' is the rest of the cells' time: Python, plotting, tables):")
    print_profile(timed, counted, peak)
    target = in_target(timed)  # a notebook that failed is not timed: say how many were
    suite = sum(timed[name]["wall"] for name in target)
    slowest = max(target, key=lambda name: timed[name]["wall"], default=None)
    print(f"notebooks 00-06 ({len(target)} of 7 timed): {suite:.0f} s (target <= 300 s, none over 75 s"
          + (f"; the slowest: {slowest[:2]}, {timed[slowest]['wall']:.0f} s" if slowest else "")
          + f"); all {len(timed)} timed notebooks {sum(e['wall'] for e in timed.values()):.0f} s; "
          f"whole command incl. data build: {wall:.0f} s")


if __name__ == "__main__":
    main()
