"""Same seed, same numbers: a small end-to-end slice, run in fresh processes, gives bit-identical results.

The slice (``SLICE``) is what notebook 05 does at its smallest: ``eglib.setup`` (deterministic
algorithms, no ``warn_only`` on CPU), a new zoo over mini's base images, ``add_task`` for two mini
tasks, ``evaluate`` on both, with the mini profile's settings but for its autoencoders' length (20
epochs, not 200). It prints every float as ``float.hex`` (so "equal" means bit-equal)
and a sha256 over every tensor the zoo stored. README.md, "Determinism", states what this shows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

THREADS = 1  # every run the same thread count: another count may round (and so train) differently

SLICE = r'''
import hashlib, json, sys
from pathlib import Path

import dataclasses

import torch

import eglib
from eglib import config, data
from eglib.method.learner import LifelongLearner

zoo, seed, threads = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
eglib.setup(seed, "cpu", threads=threads)
assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
try:  # no warn_only on CPU: an op without a deterministic kernel raises instead of running
    torch.zeros(4).put_(torch.tensor([0, 1]), torch.ones(2))
    sys.exit("put_ ran although it has no deterministic kernel")
except RuntimeError as error:
    assert "does not have a deterministic implementation" in str(error), error
bench = data.load_mini()


def part(name, split, count):
    s = bench.domains[name].split(split)
    return s.images[:count], s.labels[:count]


def exact(value):
    """Floats as hex strings, so that JSON equality is bit equality."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, dict):
        return {key: exact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [exact(item) for item in value]
    return value


# the mini profile with autoencoders of 20 epochs instead of 200: every code path of mini, a tenth of its
# autoencoder training (bit identity does not need the long run)
config.PROFILES["mini-short"] = dataclasses.replace(config.PROFILES["mini"], name="mini-short", ae_epochs=20)
learner = LifelongLearner(zoo, profile="mini-short", reference_images=bench.base[:96], device="cpu", seed=seed)
entries = {name: learner.add_task(name, part(name, "train", 96), part(name, "val", 32)) for name in ("digits-a", "shapes")}
metrics = learner.evaluate({name: part(name, "test", 48) for name in ("digits-a", "shapes")})
digest = hashlib.sha256()
for file in sorted(zoo.rglob("*.pt")):
    state = torch.load(file, map_location="cpu", weights_only=True)
    for key in sorted(state):
        tensor = state[key]
        digest.update(f"{file.relative_to(zoo)}/{key} {tensor.dtype} {tuple(tensor.shape)}".encode())
        digest.update(tensor.contiguous().numpy().tobytes())
print(json.dumps({"entries": exact(entries), "metrics": exact(metrics), "tensors_sha256": digest.hexdigest(),
                  "tensor_files": len(list(zoo.rglob("*.pt")))}, sort_keys=True))
'''


def run_slices(root: Path, seeds: dict[str, int]) -> dict[str, dict]:
    """Run :data:`SLICE` once per ``name: seed``, each in a fresh Python process with its own zoo
    under ``root``, all at once (each on ``THREADS`` threads); return each run's JSON output."""
    threads = str(THREADS)
    env = {**os.environ, "EGLIB_REUSE": "0", "EGLIB_PROGRESS": "0", "OMP_NUM_THREADS": threads,
           "MKL_NUM_THREADS": threads}
    running = {name: subprocess.Popen([sys.executable, "-c", SLICE, str(root / name), str(seed), threads],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for name, seed in seeds.items()}
    out = {}
    try:
        for name, process in running.items():
            stdout, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, stderr[-3000:]
            out[name] = json.loads(stdout.strip().splitlines()[-1])
    finally:
        for process in running.values():  # a failed or stuck run leaves no process behind
            if process.poll() is None:
                process.kill()
                process.wait()
    return out


def differences(first: object, second: object, prefix: str = "") -> list[str]:
    """The leaves where two JSON trees differ, each as ``.dotted.path: first != second``."""
    if isinstance(first, dict) and isinstance(second, dict):
        return [path for key in sorted(set(first) | set(second))
                for path in differences(first.get(key), second.get(key), f"{prefix}.{key}")]
    return [] if first == second else [f"{prefix}: {first!r} != {second!r}"]


def test_same_seed_gives_bit_identical_numbers_in_fresh_processes(tmp_path: Path) -> None:
    runs = run_slices(tmp_path, {"a": 0, "b": 0, "other_seed": 1})
    a, b, other = runs["a"], runs["b"], runs["other_seed"]
    assert a["tensor_files"] == 6  # standardizer, base autoencoder, and per task its autoencoder and expert
    assert set(a["metrics"]["per_task"]) == {"digits-a", "shapes"}
    assert differences(a, b) == []  # every float bit-identical, every stored tensor byte-identical
    # the comparison can fail: another seed trains other weights and measures other relatedness
    assert a["tensors_sha256"] != other["tensors_sha256"]
    assert a["entries"]["shapes"]["relatedness"] != other["entries"]["shapes"]["relatedness"]



def test_setup_skips_the_nan_fill_of_new_tensors_on_cpu_and_the_suites_steps_give_the_same_bits(monkeypatch) -> None:
    import numpy as np
    import pytest
    import torch

    import eglib
    from eglib.features import extract
    from eglib.method import experts
    from eglib.method.autoencoder import train_autoencoders
    from eglib.method.standardizer import FeatureStandardizer
    from eglib.video import dfn

    before = torch.utils.deterministic.fill_uninitialized_memory
    monkeypatch.setenv("EGLIB_REUSE", "0")
    monkeypatch.delenv("EGLIB_FILL_UNINITIALIZED", raising=False)
    try:
        eglib.setup(0, "cpu")
        assert torch.are_deterministic_algorithms_enabled() and not torch.utils.deterministic.fill_uninitialized_memory
        monkeypatch.setenv("EGLIB_FILL_UNINITIALIZED", "1")  # the guard, on request
        eglib.setup(0, "cpu")
        assert torch.utils.deterministic.fill_uninitialized_memory
        eglib.setup(0, "cpu", fill_uninitialized=False)  # the argument wins over the environment
        assert not torch.utils.deterministic.fill_uninitialized_memory
        monkeypatch.setenv("EGLIB_FILL_UNINITIALIZED", "maybe")
        with pytest.raises(ValueError, match="EGLIB_FILL_UNINITIALIZED must be 1 or 0"):
            eglib.setup(0, "cpu")
        monkeypatch.delenv("EGLIB_FILL_UNINITIALIZED")

        # what turning it off relies on: the kernels write every buffer they read. With the fill on, one that
        # read a buffer it had not written would read NaN; with it off, whatever was there: other results
        generator = torch.Generator().manual_seed(0)
        features = torch.rand(40, 64, generator=generator)
        activations = torch.rand(24, 160, 3, 3, generator=generator)
        labels = torch.arange(24) % 3
        rng = np.random.default_rng(0)
        clips = (rng.random((8, 6, 16, 16)) * 255).astype(np.uint8)
        images = (rng.random((6, 64, 64, 3)) * 255).astype(np.uint8)
        results = {}
        for fill in (True, False):
            eglib.setup(0, "cpu", fill_uninitialized=fill)
            gate = train_autoencoders({"a": features[:20], "b": features[20:]},
                                      standardizer=FeatureStandardizer.fit(features), hidden_size=8, epochs=2, device="cpu")
            expert, _ = experts.finetune(experts.base_expert(allow_random=True), "t", activations, labels, 3, epochs=1,
                                         device="cpu")
            video, _ = dfn.train_dfn(clips, epochs=1, width=2, device="cpu")
            layers = extract.extract_layers(images, "mobilenet_v2", ("pooled", "expert_input"), "cpu")
            results[fill] = [*(t for model in (gate["a"], gate["b"], expert, video) for t in model.state_dict().values()),
                             *layers.values()]
        assert len(results[True]) == len(results[False]) > 0
        assert all(torch.equal(a, b) for a, b in zip(results[True], results[False]))
    finally:
        torch.utils.deterministic.fill_uninitialized_memory = before
