"""GPU check: the mini suite on ``cuda``, and the paper profile end to end on generated 227 px images.

    .venv/bin/python benchmarks/gpu_check.py                      # on a GPU machine (target < 8 min)
    .venv/bin/python benchmarks/gpu_check.py --device cpu --quick --skip-mini --skip-rehearsal  # smoke test

Part 1 runs ``eglib.run.reproduce --device cuda`` (notebooks 00-06 of the mini profile) and prints the
seconds per notebook. Part 2 runs notebooks 00-05 with ``--profile rehearsal``: the paper
profile's code path end to end (paper tasks in their real layouts, AlexNet at 227 px, whole-network
experts) on generated images, a few per class. Part 3 times the paper profile's heavy steps at the
paper's sizes: AlexNet relu5 features (43,264 values) of generated 227 px images, a gate of h = 100
autoencoders, and a whole AlexNet expert trained by fine-tuning and by LwF, printing images per
second for feature extraction and expert training. The AlexNet of parts 2 and 3 is **untrained**
(its ImageNet file is not on this kind of machine and no network reaches it): they check that
every step runs on the device and measure speed, not accuracy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
REHEARSAL_NOTEBOOKS = ("00", "01", "02", "03", "04", "05")
sys.path.insert(0, str(REPO))

import eglib  # noqa: E402
from eglib import config  # noqa: E402
from eglib.features import backbones  # noqa: E402
from eglib.method import experts  # noqa: E402
from eglib.method.autoencoder import train_autoencoder  # noqa: E402
from eglib.method.gate import ExpertGate  # noqa: E402
from eglib.method.standardizer import FeatureStandardizer  # noqa: E402


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def suite(device: str, profile: str = "mini", only: tuple[str, ...] = ()) -> dict:
    """Run ``eglib.run.reproduce`` for ``profile`` on ``device`` into a temporary folder; print and
    return the seconds per notebook (``only``: two-digit prefixes, default all)."""
    with tempfile.TemporaryDirectory() as runs:
        start = time.perf_counter()
        command = [sys.executable, "-m", "eglib.run.reproduce", "--profile", profile, "--device", device, "--runs", runs]
        # no check=True: a failed notebook must not cost the remaining parts of a scarce GPU session
        subprocess.run(command + (["--only", *only] if only else []), cwd=REPO)
        wall = time.perf_counter() - start
        metrics = json.loads((Path(runs) / "latest" / "metrics.json").read_text())
    for name, seconds in metrics["run"]["notebook_seconds"].items():
        print(f"  {name}: {seconds:.0f} s")
    for name, reason in metrics["run"].get("failed_notebooks", {}).items():
        print(f"  {name}: FAILED in {reason}")
    print(f"{profile} suite on {device}: {wall:.0f} s")
    return metrics


def generated_tasks(tasks: int, classes: int, per_class: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per task, normalised 227 px images ``[classes * per_class, 3, 227, 227]`` and labels: each task
    has its own colour cast and each class its own stripe frequency, so tasks and classes differ."""
    generator = torch.Generator().manual_seed(seed)
    size = backbones.get_backbone_spec("alexnet").input_size
    grid = torch.linspace(0, 1, size)
    out = []
    for task in range(tasks):
        images, labels = [], []
        for label in range(classes):
            stripes = torch.sin(2 * np.pi * (label + 2) * grid)[None, :].expand(size, size)
            cast = torch.tensor([1.0 + task, 1.0, 1.0 - 0.3 * task]).view(3, 1, 1)
            base = cast * stripes[None] + 0.3 * torch.randn(per_class, 3, size, size, generator=generator)
            images.append(base)
            labels += [label] * per_class
        out.append((torch.cat(images), torch.tensor(labels)))
    return out


def paper_steps(device: torch.device, quick: bool) -> None:
    classes, per_class, epochs = (3, 4, 1) if quick else (10, 8, 3)
    tasks = generated_tasks(3, classes, per_class)
    trunk, _ = backbones.load_backbone("alexnet", allow_random=True)
    trunk = trunk.to(device)
    start = time.perf_counter()
    with torch.no_grad():
        feats = [torch.cat([trunk(x[i:i + 64].to(device)).flatten(1) for i in range(0, len(x), 64)]) for x, _ in tasks]
    synchronize(device)
    seconds = time.perf_counter() - start
    count = sum(len(x) for x, _ in tasks)
    print(f"AlexNet relu5 features ({feats[0].shape[1]:,} values) of {count} images: {count / seconds:.0f} images/s")
    profile = config.get_profile("paper")
    standardizer = FeatureStandardizer.fit(feats[0])  # no ImageNet base here: the first task fixes them
    gate = ExpertGate(temperature=profile.gate_temperature)
    start = time.perf_counter()
    for index, f in enumerate(feats):
        options = {**profile.autoencoder_options(), "epochs": 5 if quick else 20}
        gate.add(f"task{index}", train_autoencoder(f, standardizer=standardizer, seed=index, device=device, **options))
    synchronize(device)
    routed = [float((gate.route(f).cpu() == i).float().mean()) for i, f in enumerate(feats)]
    print(f"gate of 3 autoencoders (h=100, D=43,264): trained in {time.perf_counter() - start:.1f} s; "
          f"routing on the training images {np.round(routed, 3).tolist()}")
    source = experts.base_expert("alexnet", allow_random=True)
    x, y = tasks[0]
    for method in ("finetune", "lwf"):
        start = time.perf_counter()
        if method == "finetune":
            trained, _ = experts.finetune(source, "task0", x, y, classes, epochs=epochs, device=device)
        else:
            trained, log = experts.learn_without_forgetting(source, "task0", x, y, classes, epochs=epochs,
                                                            warmup_epochs=1, device=device)
            assert log.distillation[0] > 0
        synchronize(device)
        seconds = time.perf_counter() - start
        print(f"whole-AlexNet expert, {method}: {len(x) * epochs / seconds:.0f} training images/s "
              f"({len(x)} images x {epochs} epochs in {seconds:.1f} s)")
        del trained


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke test of this script)")
    parser.add_argument("--skip-mini", action="store_true", help="skip part 1, the mini suite")
    parser.add_argument("--skip-rehearsal", action="store_true", help="skip part 2, the paper profile's notebooks "
                        "on generated data (PROFILE=rehearsal)")
    args = parser.parse_args()
    device = eglib.setup(seed=0, device=args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"gpu_check on {name}, torch {torch.__version__}")
    start = time.perf_counter()
    if not args.skip_mini:
        metrics = suite(args.device)
        keys = ("expert_gate_accuracy", "gate_accuracy", "video_gate_accuracy")
        print("  mini:", {key: round(metrics[key], 3) for key in keys if key in metrics})
    if not args.skip_rehearsal:  # the paper profile's notebooks end to end on generated 227 px images
        suite(args.device, "rehearsal", REHEARSAL_NOTEBOOKS)
    paper_steps(device, args.quick)
    print(f"gpu_check finished in {time.perf_counter() - start:.0f} s (target < 480 s on a GPU)")


if __name__ == "__main__":
    main()
