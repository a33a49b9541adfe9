"""Memory of Expert Gate's ``predict`` as the zoo grows. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_pipeline.py [--max-experts 6] [--profile mini|rehearsal]

For K = 1 .. max experts it builds a zoo of K tasks (the gate's autoencoders trained briefly on the
profile's tasks, experts copied from the base model with a new head -- memory-wise the same as
trained ones), then, in a fresh process each, routes 100 test images per task through ``predict``
and reports the peak resident set size: once with lazy loading (at most one expert in memory, the
method's claim) and once with every expert kept resident. ``--profile rehearsal`` measures the
paper profile's sizes: whole-AlexNet experts (57 M weights each) and autoencoders on 43,264-value
relu5 maps (the rehearsal's AlexNet is untrained, which changes no size).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

PREDICT = """
import resource, sys, numpy as np
from eglib import data
from eglib.method.learner import LifelongLearner
learner = LifelongLearner(sys.argv[1], profile=sys.argv[3], device="cpu")
learner.zoo.max_resident = int(sys.argv[2])
bench = data.load_benchmark(sys.argv[3])
images = np.concatenate([d.test.images[:100] for d in bench.domains.values()])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
learner.predict(images)
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(learner.zoo.resident))
"""


def build_zoo(path: Path, count: int, profile_name: str) -> None:
    from eglib import config, data, features
    from eglib.config import BASE
    from eglib.method import experts
    from eglib.method.autoencoder import train_autoencoder
    from eglib.method.learner import LifelongLearner

    bench = data.load_benchmark(profile_name)
    profile = config.get_profile(profile_name)
    learner = LifelongLearner(path, profile=profile_name, reference_images=bench.base, device="cpu")
    base = experts.base_expert(profile.backbone)
    feature_dim = base.heads[BASE].in_features
    for name in bench.names[:count]:
        domain = bench.domains[name]
        gate_features = features.extract_features(domain.train.images, backbone=profile.backbone,
                                                  layer=profile.layer, device="cpu")
        autoencoder = train_autoencoder(gate_features, standardizer=learner.zoo.standardizer(),
                                        device="cpu", **{**profile.autoencoder_options(), "epochs": 3})
        expert = experts.Expert(base.upper, feature_dim, {name: len(domain.classes)})
        learner.zoo.add_task(name, autoencoder, expert, {"classes": len(domain.classes), "source": "base"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-experts", type=int, default=6)
    parser.add_argument("--profile", default="mini", choices=("mini", "rehearsal"))
    args = parser.parse_args()
    print(f"{'experts':>7} {'peak RSS lazy (MiB)':>20} {'peak RSS all resident (MiB)':>28}")
    for count in range(1, args.max_experts + 1):
        with tempfile.TemporaryDirectory() as folder:
            zoo = Path(folder) / "zoo"
            build_zoo(zoo, count, args.profile)
            peaks = []
            for resident in (1, count):
                out = subprocess.run([sys.executable, "-c", PREDICT, str(zoo), str(resident), args.profile], check=True,
                                     capture_output=True, text=True, cwd=REPO).stdout.split()
                peaks.append(int(out[1]) / 1024)
            print(f"{count:>7} {peaks[0]:>20.0f} {peaks[1]:>28.0f}")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
