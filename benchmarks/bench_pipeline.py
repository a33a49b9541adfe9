"""Memory of Expert Gate's ``predict`` as the zoo grows (issue 3). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_pipeline.py [--max-experts 6]

For K = 1 .. max experts it builds a zoo of K tasks (the gate's autoencoders trained briefly on the
mini domains, experts copied from the base model with a new head -- memory-wise the same as
trained ones), then, in a fresh process each, routes 600 test images through ``predict`` and
reports the peak resident set size: once with lazy loading (at most one expert in memory, the
method's claim) and once with every expert kept resident.
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
from eglib.pipeline import LifelongLearner
learner = LifelongLearner(sys.argv[1], device="cpu")
learner.zoo.max_resident = int(sys.argv[2])
bench = data.load_mini()
images = np.concatenate([d.test.images[:100] for d in bench.domains.values()])
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
learner.predict(images)
print(before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(learner.zoo.resident))
"""


def build_zoo(path: Path, count: int) -> None:
    from eglib import config, data, experts, features
    from eglib.autoencoder import train_autoencoder
    from eglib.pipeline import LifelongLearner

    bench = data.load_mini()
    learner = LifelongLearner(path, reference_images=bench.base, device="cpu")
    base = experts.base_expert()
    profile = config.get_profile("mini")
    for name in bench.names[:count]:
        domain = bench.domains[name]
        gate_features = features.extract_features(domain.train.images, layer=profile.layer, device="cpu")
        autoencoder = train_autoencoder(gate_features, standardizer=learner.zoo.standardizer(),
                                        device="cpu", **{**profile.autoencoder_options(), "epochs": 3})
        expert = experts.Expert(base.upper, 1280, {name: len(domain.classes)})
        learner.zoo.add_task(name, autoencoder, expert, {"classes": len(domain.classes), "source": "base"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-experts", type=int, default=6)
    args = parser.parse_args()
    print(f"{'experts':>7} {'peak RSS lazy (MiB)':>20} {'peak RSS all resident (MiB)':>28}")
    for count in range(1, args.max_experts + 1):
        with tempfile.TemporaryDirectory() as folder:
            zoo = Path(folder) / "zoo"
            build_zoo(zoo, count)
            peaks = []
            for resident in (1, count):
                out = subprocess.run([sys.executable, "-c", PREDICT, str(zoo), str(resident)], check=True,
                                     capture_output=True, text=True, cwd=REPO).stdout.split()
                peaks.append(int(out[1]) / 1024)
            print(f"{count:>7} {peaks[0]:>20.0f} {peaks[1]:>28.0f}")
    print(f"(this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
