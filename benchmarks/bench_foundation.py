"""Speed figures of the suite. Prints measurements; asserts nothing about time.

    .venv/bin/python benchmarks/bench_foundation.py [--skip-notebooks]

Targets it reports against:
* the gate's batched routing reaches >= 0.5x this machine's measured matmul FLOP rate;
* a cached feature set (every split of every domain + base) reloads within 5 s;
* from a cold data folder (benchmark built, every feature extracted), ``make reproduce``'s
  notebooks 00-05 run within 10 minutes and notebook 06 within 4 minutes on 2 CPU cores.
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
from eglib import config, data, features  # noqa: E402
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
    features._trunk.cache_clear()
    start = time.perf_counter()
    features.benchmark_features(bench, profile.backbone, layer="conv", device="cpu")
    return time.perf_counter() - start


def notebooks_wall() -> tuple[float, dict[str, float]]:
    """Wall time of ``make reproduce`` from an empty data root (data build, feature extraction and
    all), pinned to 2 cores where ``taskset`` exists, and the seconds per notebook it recorded."""
    import json
    import os
    import shutil

    with tempfile.TemporaryDirectory() as runs, tempfile.TemporaryDirectory() as data_root:
        env = {**os.environ, "EGLIB_DATA": data_root}
        command = [sys.executable, "-m", "eglib.run.reproduce", "--runs", runs]
        if shutil.which("taskset"):
            command = ["taskset", "-c", "0,1", *command]
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=REPO, env=env)
        wall = time.perf_counter() - start
        metrics = json.loads((Path(runs) / "latest" / "metrics.json").read_text())
        return wall, metrics["run"]["notebook_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-notebooks", action="store_true")
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
    if not args.skip_notebooks:
        wall, seconds = notebooks_wall()
        print("make reproduce from a cold data root, 2 cores, seconds per notebook:")
        for name, value in seconds.items():
            print(f"  {name}: {value:.0f} s")
        suite = sum(value for name, value in seconds.items() if name[:2] <= "05")
        video = sum(value for name, value in seconds.items() if name.startswith("06"))
        print(f"notebooks 00-05: {suite:.0f} s (target < 600 s); 06: {video:.0f} s (target < 240 s); "
              f"whole command incl. data build and start-up: {wall:.0f} s")


if __name__ == "__main__":
    main()
