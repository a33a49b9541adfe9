"""Which vector of the frozen sentence encoder should the text gate read? Prints; asserts nothing.

    .venv/bin/python benchmarks/text_gate_features.py [--seeds 0 1 2] [--prefix 128] [--sequences 300]

Notebook 07 routes each text sequence by its first ``--prefix`` characters with one autoencoder per
domain (``eglib.method.gate.train_gate``, the images' code, with the mini profile's code size and the
text gate's epochs). Per seed this prints the gate's routing accuracy on the validation and the test split (a way is
chosen on validation; test is reported beside it) for several ways of
making one vector of a prefix from all-MiniLM-L6-v2 (``SentenceEncoder.layer_means``):

* ``sentence``: the model's own sentence vector (last layer's token mean, L2-normalised);
* ``layer k``: the token mean of layer ``k`` alone (0 = the embeddings);
* ``mean 0-k``: the average of the token means of the embeddings and layers 1 to ``k`` (what
  ``SentenceEncoder.encode(pooling="layers", depth=k)`` returns; layers above ``k`` need not run);

and the seconds one full 6-layer pass over the gate's training prefixes took, against which a
``mean 0-k`` pass costs about ``(k + 0.3) / 6.3`` of it. A logistic-regression task classifier on
the same vectors (all training prefixes stored) is printed beside each, as the images' notebooks
compare the gate with a discriminative classifier.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import eglib
from eglib import config
from eglib.features.text_encoder import SentenceEncoder
from eglib.method.gate import train_gate
from eglib.method.standardizer import FeatureStandardizer
from eglib.text import corpora


def classifier_accuracy(train: dict[str, torch.Tensor], test: dict[str, torch.Tensor], seed: int) -> float:
    """Mean per-domain test accuracy of a softmax classifier on standardised vectors (Adam, 300 steps)."""
    names = list(train)
    x = torch.cat([train[n] for n in names])
    y = torch.cat([torch.full((len(train[n]),), i) for i, n in enumerate(names)])
    mean, std = x.mean(0), x.std(0) + 1e-6
    torch.manual_seed(seed)
    layer = torch.nn.Linear(x.shape[1], len(names))
    optimiser = torch.optim.Adam(layer.parameters(), lr=0.02)
    for _ in range(300):
        loss = F.cross_entropy(layer((x - mean) / std), y) + 1e-3 * layer.weight.square().sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        return float(np.mean([(layer((test[n] - mean) / std).argmax(1) == i).float().mean() for i, n in enumerate(names)]))


def one_seed(seed: int, prefix: int, sequences: int) -> tuple[pd.DataFrame, float]:
    eglib.setup(seed=seed, device="cpu")
    profile = config.get_profile("mini")
    domains = corpora.load_text_domains(seed=seed)
    names = list(domains)
    encoder = SentenceEncoder.pretrained()
    began = time.perf_counter()
    train = {n: encoder.layer_means([t[:prefix] for t in corpora.evenly_spaced(domains[n].train, sequences)])
             for n in names}  # spread over all training documents, as notebook 07
    full_pass = time.perf_counter() - began
    held_out = {split: {n: encoder.layer_means([t[:prefix] for t in domains[n].split(split)]) for n in names}
                for split in ("val", "test")}
    base = encoder.layer_means([t[:prefix] for t in corpora.load_base()])
    depth = base.shape[0] - 1
    ways = {"sentence": lambda m: F.normalize(m[-1], dim=1)}
    ways.update({f"layer {k}": (lambda m, k=k: m[k]) for k in range(depth + 1)})
    ways.update({f"mean 0-{k}": (lambda m, k=k: m[:k + 1].mean(0)) for k in range(1, depth + 1)})
    rows = {}
    for way, vector in ways.items():
        gate = train_gate({n: vector(train[n]) for n in names}, FeatureStandardizer.fit(vector(base)), seed=seed,
                          device="cpu", hidden_size=profile.hidden_size, epochs=profile.text_ae_epochs,
                          batch_size=profile.ae_batch_size)
        rows[way] = {f"gate {split}": np.mean([float((gate.route(vector(held_out[split][n])) == i).float().mean())
                                                for i, n in enumerate(names)]) for split in ("val", "test")}
        rows[way]["classifier test"] = classifier_accuracy({n: vector(train[n]) for n in names},
                                                           {n: vector(held_out["test"][n]) for n in names}, seed)
    return pd.DataFrame(rows).T, full_pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--prefix", type=int, default=128)
    parser.add_argument("--sequences", type=int, default=300)
    args = parser.parse_args()
    tables = {}
    for seed in args.seeds:
        tables[seed], seconds = one_seed(seed, args.prefix, args.sequences)
        print(f"seed {seed}: one full pass over the training prefixes took {seconds:.1f} s", flush=True)
    both = pd.concat(tables, axis=1)
    means = pd.DataFrame({column: both.xs(column, axis=1, level=1).mean(axis=1)
                          for column in ("gate val", "gate test", "classifier test")})
    means["gate test min"] = both.xs("gate test", axis=1, level=1).min(axis=1)
    print(f"routing accuracy, prefixes of {args.prefix} characters, {args.sequences} training sequences per domain")
    print(both.round(3).to_string())
    print("\nmeans over the seeds (choose on val; test is reported, not chosen on):")
    print(means.round(3).to_string())
    print(f"best on val: {means['gate val'].idxmax()}")


if __name__ == "__main__":
    main()
