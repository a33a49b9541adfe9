"""The lifelong learner over a zoo: order of operations, no data kept, reopen and continue."""

from __future__ import annotations

import dataclasses
import gc
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import register_fast_profile
from eglib import config, data
from eglib.features import extract
from eglib.method.learner import LifelongLearner

FAST = register_fast_profile()
DOMAIN_OF = {"digits": "digits-a"}
FLAT = 100.0  # a gate temperature at which the two tasks' probabilities are nearly equal


@pytest.fixture(scope="module")
def tasks():
    bench = data.load_mini()

    def part(name, split, count):  # the task "digits" is the mini domain digits-a (the digits 0-4)
        s = bench.domains[DOMAIN_OF.get(name, name)].split(split)
        return s.images[:count].copy(), s.labels[:count].copy()

    names = ["digits", "shapes"]
    return {"base": bench.base[:150].copy(),
            "train": {n: part(n, "train", 150) for n in names},
            "val": {n: part(n, "val", 50) for n in names},
            "test": {n: part(n, "test", 60) for n in names}}


def test_two_tasks_learned_routed_and_scored(tmp_path, tasks, monkeypatch):
    learner = LifelongLearner(tmp_path / "zoo", reference_images=tasks["base"], device="cpu")
    first = learner.add_task("digits", tasks["train"]["digits"], tasks["val"]["digits"])
    assert first["source"] == "base" and set(first["relatedness"]) == {"base"}
    second = learner.add_task("shapes", tasks["train"]["shapes"], tasks["val"]["shapes"])
    assert set(second["relatedness"]) == {"base", "digits"}
    # the source and method follow from the relatedness that the stored autoencoders give, by hand:
    # Rel = 1 - (Er_a - Er_k) / Er_k on the new task's validation features, the most related is the
    # source, LwF above the profile's threshold
    val_features = extract.extract_features(tasks["val"]["shapes"][0], backbone=learner.profile.backbone,
                                            layer=learner.profile.layer, device="cpu")
    er_k = learner.zoo.autoencoder("shapes").mean_error(val_features)
    assert second["Er_k"] == pytest.approx(er_k, rel=1e-5)
    by_hand = {"base": learner.zoo.base_autoencoder().mean_error(val_features),
               "digits": learner.zoo.autoencoder("digits").mean_error(val_features)}
    by_hand = {old: 1 - (error - er_k) / er_k for old, error in by_hand.items()}
    assert second["relatedness"] == pytest.approx(by_hand, rel=1e-5)
    source = max(by_hand, key=by_hand.get)
    assert second["source"] == source and second["source_relatedness"] == second["relatedness"][source]
    assert second["method"] == ("lwf" if by_hand[source] > learner.profile.relatedness_threshold else "finetune")
    result = learner.evaluate(tasks["test"])
    assert result["gate_accuracy"] > 0.9
    assert result["expert_gate_accuracy"] > 0.6
    assert result["expert_gate_accuracy"] <= result["gate_accuracy"]  # a misrouted sample is wrong
    assert learner.zoo.resident == ["shapes"]  # one expert resident at a time
    # multi-expert option: a threshold no second task can pass is the hard gate
    assert learner.evaluate(tasks["test"], threshold=0.999) == result
    everyone = learner.evaluate(tasks["test"], threshold=0.0)  # every expert answers, p * confidence decides
    assert everyone["expert_gate_accuracy"] > result["expert_gate_accuracy"] - 0.05  # soft routing costs little here
    # several evaluations of the same test sets inside reusing_test_features: the same results from one
    # backbone pass per test set, and nothing left in memory afterwards
    passes = []
    fresh_pass = learner._gate_features_and_expert_inputs
    monkeypatch.setattr(learner, "_gate_features_and_expert_inputs", lambda images: passes.append(1) or fresh_pass(images))
    with learner.reusing_test_features():
        assert learner.evaluate(tasks["test"]) == result
        assert learner.evaluate(tasks["test"], threshold=0.0) == everyone
        assert learner.evaluate({"digits": tasks["test"]["digits"]}, tasks=["digits"])["gate_accuracy"] == 1.0
    assert len(passes) == len(tasks["test"]) and learner._memo is None
    learner.evaluate(tasks["test"])
    assert len(passes) == 2 * len(tasks["test"])  # outside the block every call passes the images again
    monkeypatch.undo()
    # the rule itself, sample by sample: at the profile's temperature, and at a nearly flat gate (t = FLAT)
    # where an expert's confidence overrides the most probable task for some samples
    images = np.concatenate([tasks["test"][name][0] for name in ("digits", "shapes")])
    hard_routes = learner.predict(images).task_index
    for temperature in (learner.profile.gate_temperature, FLAT):
        monkeypatch.setattr(config.Profile, "gate_temperature", property(lambda self, t=temperature: t))
        task_index, labels = every_expert_answers_by_hand(learner, images)
        multi = learner.predict(images, threshold=0.0)
        assert torch.equal(multi.task_index, task_index) and torch.equal(multi.labels, labels)
    assert (task_index != hard_routes).any()  # so the comparison tells the multi-expert rule from hard routing
    monkeypatch.undo()
    # ...and the temperature argument is the same as a profile with that temperature
    flat = learner.predict(images, threshold=0.0, temperature=FLAT)
    assert torch.equal(flat.task_index, task_index) and torch.equal(flat.labels, labels)
    # the system as it stood after the first task: one autoencoder, every sample goes to it
    first_only = learner.evaluate({"digits": tasks["test"]["digits"]}, tasks=["digits"])
    assert first_only["gate_accuracy"] == 1.0 and first_only["expert_gate_accuracy"] >= result["per_task"]["digits"]
    # another router in the gate's place: the oracle sends every sample home, so only the experts err
    oracle = {name: learner.evaluate({name: tasks["test"][name]},
                                     router=lambda feats, k=index: torch.full((len(feats),), k))
              for index, name in enumerate(["digits", "shapes"])}
    for name in ("digits", "shapes"):
        assert oracle[name]["gate_accuracy"] == 1.0
        assert oracle[name]["expert_gate_accuracy"] >= result["per_task"][name]
    assert first["source_relatedness"] == first["relatedness"]["base"]
    with pytest.raises(ValueError, match="No expert for \\['shapes'\\] among"):
        learner.evaluate(tasks["test"], tasks=["digits"])
    with pytest.raises(ValueError, match="No expert for \\['cars'\\]"):
        learner.predict(tasks["test"]["digits"][0], tasks=["cars"])


@torch.no_grad()
def every_expert_answers_by_hand(learner: LifelongLearner, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The multi-expert rule with every expert answering (threshold 0), from the zoo's gate and
    experts directly: each sample takes the task ``k`` that maximises ``p_k(x) * max softmax of
    expert k``, and that expert's label. Returns ``(task_index [N], label [N])``."""
    profile, names = learner.profile, learner.zoo.task_names
    layers = extract.extract_layers(images, backbone=profile.backbone, layers=(profile.layer, "expert_input"),
                                    device="cpu")
    probabilities = learner.zoo.gate(temperature=profile.gate_temperature).probabilities(layers[profile.layer])
    answers = [torch.softmax(learner.zoo.expert(name)(layers["expert_input"], name), dim=1).max(dim=1)
               for name in names]
    chosen = (probabilities * torch.stack([answer.values for answer in answers], dim=1)).argmax(dim=1)  # [N]
    return chosen, torch.stack([answer.indices for answer in answers], dim=1)[torch.arange(len(chosen)), chosen]


def cache_listing() -> set:
    from eglib import features

    return set(features.cache_dir().glob("*")) if features.cache_dir().exists() else set()


def test_earlier_task_data_is_never_read_or_kept(tmp_path, tasks):
    cached_before = cache_listing()
    learner = LifelongLearner(tmp_path / "zoo", profile=FAST, reference_images=tasks["base"], device="cpu")
    images, labels = (a.copy() for a in tasks["train"]["digits"])
    val_images, val_labels = (a.copy() for a in tasks["val"]["digits"])
    learner.add_task("digits", (images, labels), (val_images, val_labels))
    watchers = [weakref.ref(a) for a in (images, labels, val_images, val_labels)]
    images[:] = 0  # had the learner kept a view, the next task would see garbage
    del images, labels, val_images, val_labels
    gc.collect()
    assert all(w() is None for w in watchers)  # the learner holds no reference to the task's data
    assert cache_listing() == cached_before  # no features of the task were written to the cache
    learner.add_task("shapes", tasks["train"]["shapes"], tasks["val"]["shapes"])


def test_features_already_in_the_cache_are_read_bit_for_bit_and_new_ones_never_written(tmp_path, tasks, monkeypatch):
    """The learner reads the gate features and expert inputs of images the cache already holds
    (the benchmark's, which notebook 00 cached), with the bits a backbone pass gives, and leaves
    no entry for images it is the first to see."""
    from eglib import features

    monkeypatch.setenv("EGLIB_DATA", str(tmp_path / "data"))  # an empty cache of its own
    learner = LifelongLearner(tmp_path / "zoo", profile=FAST, reference_images=tasks["base"], device="cpu")
    images = tasks["test"]["digits"][0]
    fresh = learner._gate_features_and_expert_inputs(images)  # nothing cached: a backbone pass
    assert cache_listing() == set()  # ...that wrote nothing
    features.cached_features(images, device="cpu")  # now cached, as 00 caches the benchmark
    passes = []

    def backbone_pass(images, backbone, layers, device):
        passes.append(len(images))
        return {layer: torch.full((len(images), 2), 7.0) for layer in layers}  # "computed"

    monkeypatch.setattr(extract, "extract_layers", backbone_pass)
    stored = learner._gate_features_and_expert_inputs(images)
    assert not passes  # read, not computed
    assert all(torch.equal(a, b) for a, b in zip(stored, fresh))  # the same bits as the pass
    other = images.copy()
    other[0, 0, 0, 0] ^= 1  # not in the cache: computed, never read from another entry
    assert all((computed == 7.0).all() for computed in learner._gate_features_and_expert_inputs(other))
    assert passes == [len(images)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_cached_features_are_pooled_there_as_a_backbone_pass_pools_them(tmp_path, tasks, monkeypatch):
    from eglib import features

    monkeypatch.setenv("EGLIB_DATA", str(tmp_path / "data"))
    learner = LifelongLearner(tmp_path / "zoo", profile=FAST, reference_images=tasks["base"], device="cuda")
    images = tasks["test"]["digits"][0]
    features.cached_features(images, device="cuda")
    fresh = features.extract_features(images, layer=config.get_profile(FAST).layer, device="cuda")
    assert torch.equal(learner._gate_features(images), fresh)


def test_reopened_in_a_new_process_and_continued(tmp_path, tasks):
    zoo = tmp_path / "zoo"
    LifelongLearner(zoo, profile=FAST, reference_images=tasks["base"], device="cpu").add_task(
        "digits", tasks["train"]["digits"], tasks["val"]["digits"])
    np.savez(tmp_path / "shapes.npz", x=tasks["train"]["shapes"][0], y=tasks["train"]["shapes"][1],
             vx=tasks["val"]["shapes"][0], vy=tasks["val"]["shapes"][1])
    script = (
        "import sys; import numpy as np; from eglib.method.learner import LifelongLearner\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r}); from conftest import register_fast_profile\n"
        "register_fast_profile()  # a profile registered by the tests: a new process registers it again\n"
        f"d = np.load(r'{tmp_path / 'shapes.npz'}')\n"
        f"learner = LifelongLearner(r'{zoo}', profile={FAST!r}, device='cpu')\n"
        "entry = learner.add_task('shapes', (d['x'], d['y']), (d['vx'], d['vy']))\n"
        "print(entry['source'], sorted(entry['relatedness']))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "['base', 'digits']" in out.stdout
    assert LifelongLearner(zoo, profile=FAST, device="cpu").zoo.task_names == ["digits", "shapes"]


def test_bad_tasks_are_refused_and_the_zoo_left_as_it_was(tmp_path, tasks):
    learner = LifelongLearner(tmp_path / "zoo", profile=FAST, reference_images=tasks["base"], device="cpu")
    learner.add_task("digits", tasks["train"]["digits"], tasks["val"]["digits"])
    manifest = (tmp_path / "zoo" / "manifest.json").read_text()
    x, y = tasks["train"]["shapes"]
    with pytest.raises(ValueError, match="already has a task"):
        learner.add_task("digits", (x, y), tasks["val"]["shapes"])
    with pytest.raises(ValueError, match="single class"):
        learner.add_task("one", (x, np.zeros_like(y)), tasks["val"]["shapes"])
    with pytest.raises(ValueError, match="no validation data"):
        learner.add_task("noval", (x, y), (x[:0], y[:0]))
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        learner.add_task("gray", (x[..., 0], y), tasks["val"]["shapes"])
    assert (tmp_path / "zoo" / "manifest.json").read_text() == manifest
    with pytest.raises(ValueError, match="reference_images"):
        LifelongLearner(tmp_path / "fresh", device="cpu")


def test_paper_profile_without_alexnet_weights_stops_with_instructions(tmp_path, monkeypatch, tasks):
    from eglib.features import backbones

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(backbones, "_try_download", lambda *args, **kwargs: False)  # as offline
    with pytest.raises(backbones.WeightsError, match="alexnet-owt-7be5be79.pth.*never uses random"):
        LifelongLearner(tmp_path / "zoo", profile="paper", reference_images=tasks["base"][:4], device="cpu")
    assert not (tmp_path / "zoo" / "manifest.json").exists()


# the kill tests are about what reaches the disk: they train with the shortest settings
KILL_SCRIPT = f"""
import os, signal, sys
import numpy as np
import torch
sys.path.insert(0, {str(Path(__file__).parent)!r})
from conftest import register_fast_profile
from eglib.method import experts, zoo
from eglib.method.learner import LifelongLearner

zoo_path, data_path, point = sys.argv[1:4]
profile = register_fast_profile()

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no finally: as a crash or an OOM kill

if point == "training":
    experts.finetune = experts.learn_without_forgetting = die
elif point == "writing":
    def half_written(state, out):
        out.write(b"half a file")
        out.flush()
        die()
    zoo.torch.save = half_written
elif point == "commit":  # every file of the task is in place, the manifest not yet rewritten
    zoo.ExpertZoo._write_manifest = die
d = np.load(data_path)
LifelongLearner(zoo_path, profile=profile, device="cpu").add_task("shapes", (d["x"], d["y"]), (d["vx"], d["vy"]))
"""


@pytest.fixture(scope="module")
def one_task_zoo(tmp_path_factory, tasks):
    """A zoo that has learned `digits`, and `shapes` data saved for a child process."""
    root = tmp_path_factory.mktemp("kill")
    LifelongLearner(root / "zoo", profile=FAST, reference_images=tasks["base"], device="cpu").add_task(
        "digits", tasks["train"]["digits"], tasks["val"]["digits"])
    np.savez(root / "shapes.npz", x=tasks["train"]["shapes"][0], y=tasks["train"]["shapes"][1],
             vx=tasks["val"]["shapes"][0], vy=tasks["val"]["shapes"][1])
    return root


@pytest.fixture(scope="module")
def uninterrupted_shapes(tmp_path_factory, one_task_zoo, tasks) -> dict:
    """The manifest entry (file sha256s included) that `shapes` gets when nothing kills its add_task."""
    import shutil

    zoo = tmp_path_factory.mktemp("uninterrupted") / "zoo"
    shutil.copytree(one_task_zoo / "zoo", zoo)
    return LifelongLearner(zoo, profile=FAST, device="cpu").add_task("shapes", tasks["train"]["shapes"],
                                                                     tasks["val"]["shapes"])


@pytest.mark.parametrize("point", ["training", "writing", "commit"])
def test_killed_add_task_leaves_a_loadable_zoo_and_can_be_redone(tmp_path, one_task_zoo, uninterrupted_shapes,
                                                                 tasks, point):
    import shutil

    zoo = tmp_path / "zoo"
    shutil.copytree(one_task_zoo / "zoo", zoo)
    killed = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(zoo), str(one_task_zoo / "shapes.npz"), point],
                            capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr  # the child really died by SIGKILL
    reopened = LifelongLearner(zoo, profile=FAST, device="cpu")
    assert reopened.zoo.task_names == ["digits"]
    assert reopened.evaluate({"digits": tasks["test"]["digits"]})["gate_accuracy"] == 1.0  # one task: all routed home
    reopened.zoo.expert("digits")  # checksums of the learned task still verify
    entry = reopened.add_task("shapes", tasks["train"]["shapes"], tasks["val"]["shapes"])
    assert entry == uninterrupted_shapes  # redone as if never killed: same decision, byte-identical files
    again = LifelongLearner(zoo, profile=FAST, device="cpu")
    assert again.zoo.task_names == ["digits", "shapes"]
    again.zoo.expert("shapes")
    assert not list(zoo.glob(".*staging"))


def test_without_a_base_candidate_the_base_model_is_only_the_first_source(tmp_path, tasks):
    learner = LifelongLearner(tmp_path / "zoo", profile=FAST, reference_images=tasks["base"], device="cpu",
                              base_candidate=False)
    assert learner.zoo.manifest["base_autoencoder"] is None
    first = learner.add_task("digits", tasks["train"]["digits"], tasks["val"]["digits"])
    assert (first["source"], first["method"], first["relatedness"]) == ("base", "finetune", {})
    assert first["source_relatedness"] is None  # no relatedness to the base model was measured
    second = learner.add_task("shapes", tasks["train"]["shapes"], tasks["val"]["shapes"])
    assert set(second["relatedness"]) == {"digits"} and second["source"] == "digits"


def test_a_profile_whose_gate_reads_a_feature_map_gates_on_it_flattened(tmp_path, tasks):
    # e.g. the experts' own input (3x3x160) instead of the pooled vector: benchmarks/base_route.py --layer
    name = f"{FAST}-gate-on-expert-input"
    config.PROFILES[name] = dataclasses.replace(config.PROFILES[FAST], name=name, layer="expert_input", gate_dim=1440)
    learner = LifelongLearner(tmp_path / "zoo", profile=name, reference_images=tasks["base"], device="cpu")
    assert learner.zoo.standardizer().dim == 1440
    for task in ("digits", "shapes"):
        learner.add_task(task, tasks["train"][task], tasks["val"][task])
    scores = learner.evaluate(tasks["test"])
    assert scores["gate_accuracy"] > 0.9, scores  # two unlike domains: the map tells them apart
