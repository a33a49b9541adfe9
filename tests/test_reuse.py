"""Reuse of trained models (experts, autoencoders, joint training, video networks, text experts) within a run folder (eglib.reuse): found by content, never trusted when
damaged, never used for a different training, and counted at its original cost."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from eglib import reuse
from eglib.method import experts
from eglib.run.costs import CostLog


def tiny_source() -> experts.Expert:
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(4, 8, 1), nn.BatchNorm2d(8), nn.ReLU())
    return experts.Expert(body, 8, {"base": 5}).eval()


@pytest.fixture()
def run_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EGLIB_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("EGLIB_REUSE", "1")
    return tmp_path


@pytest.fixture()
def task_data():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(40, 4, 3, 3, generator=generator), torch.randint(0, 3, (40,), generator=generator)


def no_training(*args, **kwargs):
    raise AssertionError("trained although the same training was stored")


def test_fingerprints_follow_content():
    x = torch.arange(12.0).view(3, 4)
    assert reuse.fingerprint(x, {"lr": 1e-3}) == reuse.fingerprint(x.clone(), {"lr": 1e-3})
    changed = x.clone()
    changed[2, 3] += 1e-6
    assert reuse.fingerprint(changed, {"lr": 1e-3}) != reuse.fingerprint(x, {"lr": 1e-3})
    assert reuse.fingerprint(x, {"lr": 1e-3}) != reuse.fingerprint(x, {"lr": 1e-2})
    assert reuse.fingerprint(x.view(4, 3)) != reuse.fingerprint(x)  # same bytes, other shape
    with pytest.raises(TypeError, match="fingerprint"):
        reuse.fingerprint(object())
    source, frozen = tiny_source(), tiny_source()
    frozen.heads.requires_grad_(False)  # the same weights, but a training would not move the heads
    assert reuse.fingerprint(source) == reuse.fingerprint(tiny_source()) != reuse.fingerprint(frozen)


@pytest.mark.parametrize("trainer", [experts.finetune, experts.learn_without_forgetting])
def test_the_same_training_is_read_back_and_any_change_trains_again(trainer, run_dir, task_data, monkeypatch):
    x, y = task_data
    source = tiny_source()
    first, first_log = trainer(source, "new", x, y, 3, epochs=2, seed=3, device="cpu")
    assert len(list((run_dir / "reuse").glob("*.pt"))) == 1
    monkeypatch.setattr(experts, "descend", no_training)
    again, again_log = trainer(source, "new", x, y, 3, epochs=2, seed=3, device="cpu")
    assert again is not first and again_log == first_log
    for (name, a), (_, b) in zip(first.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    assert torch.equal(experts.logits(again, "new", x), experts.logits(first, "new", x))
    # another seed, other data, another source or an epoch watcher: trained, not read back
    for call in (lambda: trainer(source, "new", x, y, 3, epochs=2, seed=4, device="cpu"),
                 lambda: trainer(source, "new", x[:-1], y[:-1], 3, epochs=2, seed=3, device="cpu"),
                 lambda: trainer(tiny_source().train(), "new", x, y, 3, epochs=3, seed=3, device="cpu"),
                 lambda: trainer(source, "new", x, y, 3, epochs=2, seed=3, device="cpu", on_epoch=lambda e: None)):
        with pytest.raises(AssertionError, match="trained although"):
            call()


def tiny_clips(seed: int = 0):
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, size=(5, 6, 8, 8), dtype=np.uint8)


def test_video_networks_are_read_back_and_any_change_trains_again(run_dir, monkeypatch):
    from eglib.video import dfn

    clips, options = tiny_clips(), {"epochs": 1, "batch_size": 2, "seed": 3, "device": "cpu", "width": 2}
    first, first_log = dfn.train_dfn(clips, **options)
    tuned, _ = dfn.train_dfn(tiny_clips(1), first, epochs=1, batch_size=2, seed=3, device="cpu")  # fine-tuning
    assert len(list((run_dir / "reuse").glob("*.pt"))) == 2
    monkeypatch.setattr(dfn, "descend", no_training)
    again, again_log = dfn.train_dfn(clips, **options)
    assert again is not first and again_log == first_log and not again.training
    for (name, a), (_, b) in zip(first.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    assert (dfn.predict_clips(again, clips) == dfn.predict_clips(first, clips)).all()
    tuned_again, _ = dfn.train_dfn(tiny_clips(1), again, epochs=1, batch_size=2, seed=3, device="cpu")
    assert all(torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), tuned_again.state_dict().values()))
    # a start that differs only where no weight shows it (the matching window), or in a frozen weight
    other_window = dfn.DynamicFilterNetwork(width=2, match_window=3)
    other_window.load_state_dict(first.state_dict())
    frozen = dfn.DynamicFilterNetwork(width=2)
    frozen.load_state_dict(first.state_dict())
    frozen.level1.requires_grad_(False)

    black = dfn.ZeroBorderDFN(width=2)  # the same weights, another class: black past the edge
    black.load_state_dict(first.state_dict())
    # another seed, other clips, another start, shape or loss: trained, not read back
    for call in (lambda: dfn.train_dfn(tiny_clips(1), other_window, epochs=1, batch_size=2, seed=3, device="cpu"),
                 lambda: dfn.train_dfn(tiny_clips(1), black, epochs=1, batch_size=2, seed=3, device="cpu"),
                 lambda: dfn.train_dfn(clips, **options, gradient_weight=1.0),
                 lambda: dfn.train_dfn(tiny_clips(1), frozen, epochs=1, batch_size=2, seed=3, device="cpu"),
                 lambda: dfn.train_dfn(clips, **{**options, "seed": 4}),
                 lambda: dfn.train_dfn(clips[:-1], **options),
                 lambda: dfn.train_dfn(clips, **{**options, "width": 4}),
                 lambda: dfn.train_dfn(tiny_clips(1), tuned, epochs=1, batch_size=2, seed=3, device="cpu")):
        with pytest.raises(AssertionError, match="trained although"):
            call()


def test_joint_training_is_read_back_and_any_change_trains_again(run_dir, task_data, monkeypatch):
    from eglib.baselines import classification

    x, y = task_data
    train = {"a": (x, y), "b": (x + 1, (y + 1) % 3)}
    first = classification.joint_training(train, tiny_source(), epochs=1, seed=3, device="cpu")
    monkeypatch.setattr(classification, "descend", no_training)
    again = classification.joint_training(train, tiny_source(), epochs=1, seed=3, device="cpu")
    assert again is not first and list(again.heads) == ["a", "b"] and not again.training
    for (name, a), (_, b) in zip(first.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    # the tasks in another order, another seed, other data: trained, not read back
    for changed in ({"b": train["b"], "a": train["a"]}, {"a": (x[:-1], y[:-1]), "b": train["b"]}):
        with pytest.raises(AssertionError, match="trained although"):
            classification.joint_training(changed, tiny_source(), epochs=1, seed=3, device="cpu")
    with pytest.raises(AssertionError, match="trained although"):
        classification.joint_training(train, tiny_source(), epochs=1, seed=4, device="cpu")


def test_text_experts_are_read_back_and_any_change_trains_again(run_dir, monkeypatch):
    from eglib.text import charlm

    ids = charlm.encode(["the cat sat on the mat", "a dog ran in the park!"])
    options, small = charlm.TrainingOptions(steps=3, batch_size=2, log_every=1), {"hidden": 8, "embedding": 4}
    first, first_log = charlm.train_expert("a", ids, options, 3, model_options=small)
    lwf, lwf_log = charlm.train_expert("b", ids.flip(1), options, 4, source=first, method="lwf")
    monkeypatch.setattr(charlm, "_train_expert", no_training)
    again, again_log = charlm.train_expert("a", ids, options, 3, model_options=small)
    lwf_again, lwf_again_log = charlm.train_expert("b", ids.flip(1), options, 4, source=again.train(), method="lwf")
    assert not again.training  # LwF's source is the frozen teacher, read back or not
    assert again_log == first_log and lwf_again_log == lwf_log and list(lwf_again.heads) == ["b", "a"]
    for model, back in ((first, again), (lwf, lwf_again)):
        for (name, a), (_, b) in zip(model.state_dict().items(), back.state_dict().items()):
            assert torch.equal(a, b), name
    # another seed, other text, other settings, another method: trained, not read back
    for call in (lambda: charlm.train_expert("a", ids, options, 4, model_options=small),
                 lambda: charlm.train_expert("a", ids[:1], options, 3, model_options=small),
                 lambda: charlm.train_expert("a", ids, charlm.TrainingOptions(steps=4, batch_size=2), 3, model_options=small),
                 lambda: charlm.train_expert("b", ids.flip(1), options, 4, source=first, method="finetune")):
        with pytest.raises(AssertionError, match="trained although"):
            call()


def test_a_damaged_entry_is_trained_again(run_dir, task_data, monkeypatch):
    x, y = task_data
    source = tiny_source()
    experts.finetune(source, "new", x, y, 3, epochs=1, device="cpu")
    stored = next((run_dir / "reuse").glob("*.pt"))
    stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setattr(experts, "descend", no_training)
    with pytest.raises(AssertionError, match="trained although"):
        experts.finetune(source, "new", x, y, 3, epochs=1, device="cpu")


def test_reuse_off_stores_nothing(tmp_path, monkeypatch, task_data):
    monkeypatch.setenv("EGLIB_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("EGLIB_REUSE", "0")
    experts.finetune(tiny_source(), "new", *task_data, 3, epochs=1, device="cpu")
    assert not (tmp_path / "reuse").exists()


def test_a_reused_model_costs_its_original_training_time(run_dir):
    state = {"w": torch.ones(3)}
    assert reuse.store("k", state, {"note": 1}, seconds=12.5)
    cost = CostLog()
    with cost.measure("method"):
        loaded, extra = reuse.load("k")
    assert torch.equal(loaded["w"], state["w"]) and extra == {"note": 1}
    row = cost.table().loc["method"]
    assert row["reused_seconds"] == 12.5 and 12.5 <= row["seconds"] < 15
    assert not reuse.store("big", {"w": torch.zeros(reuse.MAX_BYTES // 4 + 1)}, {}, seconds=1.0)  # too big to keep


def test_autoencoders_of_the_same_call_are_read_back_and_a_watched_call_trains_the_first_time(run_dir, monkeypatch):
    from eglib.method import autoencoder
    from eglib.method.standardizer import FeatureStandardizer

    generator = torch.Generator().manual_seed(2)
    train = {"a": torch.randn(30, 6, generator=generator), "b": torch.randn(30, 6, generator=generator) + 1}
    standardizer = FeatureStandardizer.fit(torch.cat(list(train.values())))
    options = {"standardizer": standardizer, "hidden_size": 3, "epochs": 2, "device": "cpu"}
    began = time.perf_counter()
    first = autoencoder.train_autoencoders(train, **options)
    took = time.perf_counter() - began
    before = reuse.reused_seconds()
    monkeypatch.setattr(autoencoder, "descend", no_training)
    again = autoencoder.train_autoencoders(train, **options)
    assert 0 < reuse.reused_seconds() - before <= took  # counted at what the training took
    for name in train:
        assert torch.equal(again[name].reconstruction_error(train[name]), first[name].reconstruction_error(train[name]))
        assert again[name].log.train_loss == first[name].log.train_loss
    for changed in ({"seeds": {"a": 5, "b": 1}}, {"epochs": 3}, {"snapshot_epochs": (1,)}):
        with pytest.raises(AssertionError, match="trained although"):
            autoencoder.train_autoencoders(train, **{**options, **changed})
    with pytest.raises(AssertionError, match="trained although"):  # a call that logs validation errors trains
        autoencoder.train_autoencoders(train, {"a": train["a"]}, **options)


def test_a_watched_call_is_read_back_with_its_logs_and_snapshots(run_dir, monkeypatch):
    """01's default gate logs validation errors and keeps snapshots: run again, it reads them back."""
    from eglib.method import autoencoder
    from eglib.method.standardizer import FeatureStandardizer

    generator = torch.Generator().manual_seed(4)
    train = {name: torch.randn(30, 6, generator=generator) + shift for shift, name in enumerate("abc")}
    val = {name: train[name][:10] + 0.1 for name in "ab"}  # c has no validation data
    standardizer = FeatureStandardizer.fit(torch.cat(list(train.values())))
    options = {"standardizer": standardizer, "hidden_size": 3, "epochs": 3, "device": "cpu", "snapshot_epochs": (0, 2, 3)}
    torch.manual_seed(5)
    first = autoencoder.train_autoencoders(train, val, **options)
    after_training = torch.rand(3)
    monkeypatch.setattr(autoencoder, "descend", no_training)
    torch.manual_seed(6)
    again = autoencoder.train_autoencoders(train, val, **options)
    assert torch.equal(torch.rand(3), after_training)  # the generator where the training left it
    for name in train:
        assert again[name].log.train_loss == first[name].log.train_loss and not again[name].network.training
        assert again[name].log.val_error == first[name].log.val_error
        assert len(first[name].log.val_error) == (4 if name in val else 0)
        assert list(again[name].log.snapshots) == [0, 2, 3]
        for epoch in (0, 2, 3):
            assert torch.equal(again[name].at_epoch(epoch).reconstruction_error(train[name]),
                               first[name].at_epoch(epoch).reconstruction_error(train[name]))
        assert torch.equal(again[name].reconstruction_error(train[name]), first[name].reconstruction_error(train[name]))
    # what it trained serves an unwatched call too; other validation data or snapshots train
    assert autoencoder.train_autoencoders(train, **{**options, "snapshot_epochs": ()})["a"].log.val_error == []
    for call in (lambda: autoencoder.train_autoencoders(train, {"a": val["a"]}, **options),
                 lambda: autoencoder.train_autoencoders(train, {**val, "b": val["b"] + 1e-3}, **options),
                 lambda: autoencoder.train_autoencoders(train, val, **{**options, "snapshot_epochs": (0, 1)})):
        with pytest.raises(AssertionError, match="trained although"):
            call()


def test_a_stack_is_read_back_whatever_else_the_call_trains(run_dir, monkeypatch):
    """02's gate reads 01's stack; 04's call over the domains and their halves reads the domains' stack."""
    from eglib.method import autoencoder
    from eglib.method.standardizer import FeatureStandardizer

    generator = torch.Generator().manual_seed(4)
    domains = {"a": torch.randn(30, 6, generator=generator), "b": torch.randn(30, 6, generator=generator) + 1}
    halves = {"a-1": domains["a"][:15], "a-2": domains["a"][15:]}
    standardizer = FeatureStandardizer.fit(torch.cat(list(domains.values())))
    options = {"standardizer": standardizer, "hidden_size": 3, "epochs": 2, "device": "cpu"}
    seeds = {"a": 1, "b": 2, "a-1": 3, "a-2": 4}
    first = autoencoder.train_autoencoders(domains, {"a": domains["a"]}, seeds=seeds, **options)  # watched: trains
    halves_alone = autoencoder.train_autoencoders(halves, seeds=seeds, **options)
    steps = []
    monkeypatch.setattr(autoencoder, "descend", lambda optimizer, loss: steps.append(1))
    hits = reuse.reused_seconds()
    both = autoencoder.train_autoencoders({**domains, **halves}, seeds=seeds, **options)
    assert not steps and reuse.reused_seconds() > hits  # both stacks were stored, by two different calls
    for name, stored in {**first, **halves_alone}.items():
        assert torch.equal(both[name].network.encoder.weight, stored.network.encoder.weight), name
    alone = autoencoder.train_autoencoders({"a": domains["a"]}, seeds=seeds, **options)["a"]
    # "a" alone is another stack than "a" beside "b": read back only where the probe found that
    # stacking changes no bit of a task's training for these shapes on this machine
    exact = autoencoder._stacking_is_exact(2, 30, 6, 3, 12, 1e-2, 5e-4, torch.device("cpu"))
    assert bool(steps) != exact
    if exact:
        assert torch.equal(alone.network.encoder.weight, first["a"].network.encoder.weight)


def test_a_task_of_an_exact_stack_is_read_back_by_training_it_alone_with_the_same_bits(run_dir, monkeypatch):
    """03 and 05's learner train one task at a time what 01 trains as one stack: where stacking
    is exact, the task alone is read back with the network, losses and generator state that
    training it alone gives; where it is not, the task alone is trained."""
    from eglib.method import autoencoder
    from eglib.method.standardizer import FeatureStandardizer

    generator = torch.Generator().manual_seed(5)
    tasks = {name: torch.randn(40, 16, generator=generator) + shift for shift, name in enumerate("abc")}
    standardizer = FeatureStandardizer.fit(torch.cat(list(tasks.values())))
    options = {"standardizer": standardizer, "hidden_size": 4, "epochs": 3, "device": "cpu"}
    seeds = {"a": 0, "b": 1, "c": 2}
    monkeypatch.setattr(autoencoder, "_stacking_is_exact", lambda *args: True)  # the probe's verdict, fixed
    autoencoder.train_autoencoders(tasks, seeds=seeds, **options)
    torch.manual_seed(123)
    hits = reuse.reused_seconds()
    read = autoencoder.train_autoencoder(tasks["b"], standardizer=standardizer, seed=1, epochs=3, hidden_size=4, device="cpu")
    after_read = torch.rand(3)
    assert reuse.reused_seconds() > hits
    monkeypatch.setenv("EGLIB_REUSE", "0")
    torch.manual_seed(999)
    trained = autoencoder.train_autoencoder(tasks["b"], standardizer=standardizer, seed=1, epochs=3, hidden_size=4, device="cpu")
    after_training = torch.rand(3)
    if autoencoder._probe(3, 40, 16, 4, 12, 1e-2, 5e-4, "cpu", autoencoder._numerics(torch.device("cpu"))):  # the real verdict
        for key, value in trained.network.state_dict().items():
            assert torch.equal(read.network.state_dict()[key], value), key
        assert read.log.train_loss == trained.log.train_loss
    assert torch.equal(after_read, after_training)  # the generator left where training "b" alone leaves it
    monkeypatch.setenv("EGLIB_REUSE", "1")
    monkeypatch.setattr(autoencoder, "_stacking_is_exact", lambda *args: False)
    others = {name: features + 10 for name, features in tasks.items()}
    autoencoder.train_autoencoders(others, seeds=seeds, **options)
    steps = []
    monkeypatch.setattr(autoencoder, "descend", lambda optimizer, loss: steps.append(1))
    autoencoder.train_autoencoder(others["b"], standardizer=standardizer, seed=1, epochs=3, hidden_size=4, device="cpu")
    assert steps  # an inexact stack stores no task on its own


def test_the_stacking_probe_compares_bits_and_draws_no_random_numbers(monkeypatch):
    from eglib.method import autoencoder

    def probe() -> bool:
        autoencoder._probe.cache_clear()
        return autoencoder._stacking_is_exact(3, 25, 32, 5, 12, 1e-2, 5e-4, torch.device("cpu"))

    before, threads = torch.get_rng_state(), torch.get_num_threads()
    assert isinstance(probe(), bool) and torch.equal(torch.get_rng_state(), before)
    torch.set_num_threads(1)
    try:  # one thread: a slice's products and reductions are computed as for the slice alone
        assert probe()
        real = torch.baddbmm  # a batched product that rounds a stack's slices otherwise, by one ulp

        def rounds_stacks_otherwise(bias, left, right):
            out = real(bias, left, right)
            # a real stack, not a task alone's stride-0 pair (which is computed as a stack's slice)
            return torch.nextafter(out, out + 1) if len(left) > 1 and left.stride(0) != 0 else out

        monkeypatch.setattr(autoencoder.torch, "baddbmm", rounds_stacks_otherwise)
        assert not probe()
    finally:
        torch.set_num_threads(threads)
        autoencoder._probe.cache_clear()


def test_a_task_alone_takes_its_long_product_as_a_stack_does(monkeypatch):
    """A CPU may round a lone product of a small batch otherwise than the same product as one slice
    of a batch (on a Xeon on 2 threads: the long reduction over D split between threads). A task
    alone takes its first product as a slice of a stack of two, so such a CPU still finds stacking
    exact, and 03 reads 01's autoencoders."""
    from eglib.method import autoencoder

    real = torch.baddbmm
    dim = 64

    def splits_lone_long_reductions(bias, left, right):
        out = real(bias, left, right)
        return torch.nextafter(out, out + 1) if len(left) == 1 and left.shape[-1] == dim else out

    monkeypatch.setattr(autoencoder.torch, "baddbmm", splits_lone_long_reductions)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # no real split: only the fake rounds otherwise
    try:
        autoencoder._probe.cache_clear()
        assert autoencoder._stacking_is_exact(3, 25, dim, 5, 12, 1e-2, 5e-4, torch.device("cpu"))
    finally:
        torch.set_num_threads(threads)
        autoencoder._probe.cache_clear()


def test_a_hit_leaves_the_global_generator_where_the_training_left_it(run_dir, task_data):
    """What runs after a reused model draws the same numbers as after the training itself."""
    from eglib.method import autoencoder
    from eglib.method.standardizer import FeatureStandardizer

    x, y = task_data
    features = {"a": x.flatten(1), "b": x.flatten(1) + 1}
    standardizer = FeatureStandardizer.fit(torch.cat(list(features.values())))
    from eglib.baselines import classification
    from eglib.text import charlm
    from eglib.video import dfn

    calls = (lambda: experts.finetune(tiny_source(), "new", x, y, 3, epochs=1, seed=3, device="cpu"),
             lambda: autoencoder.train_autoencoders(features, standardizer=standardizer, hidden_size=3, epochs=1,
                                                    device="cpu"),
             lambda: dfn.train_dfn(tiny_clips(), epochs=1, batch_size=2, seed=3, device="cpu", width=2),
             lambda: classification.joint_training({"a": (x, y)}, tiny_source(), epochs=1, seed=3, device="cpu"),
             lambda: charlm.train_expert("t", charlm.encode(["abcdefgh", "hgfedcba"]),
                                         charlm.TrainingOptions(steps=2, batch_size=2), 3, model_options={"hidden": 8}))
    for call in calls:
        torch.manual_seed(123)
        call()                                   # trains and stores
        after_training = torch.rand(4)
        torch.manual_seed(999)                   # somewhere else entirely
        hits = reuse.reused_seconds()
        call()                                   # read back
        assert reuse.reused_seconds() > hits
        assert torch.equal(torch.rand(4), after_training)


def test_the_loss_over_a_whole_set_is_computed_as_for_each_task_alone():
    """The loss logged before the first epoch reduces over a task's whole set (here 51,200 values,
    more than one thread's share): in a stack it is computed task by task, so it has the bits of
    the task trained alone."""
    from eglib.method import autoencoder

    generator = torch.Generator().manual_seed(3)
    weights = [torch.rand(3, 128, 8, generator=generator) - 0.5, torch.rand(3, 8, generator=generator),
               torch.rand(3, 8, 128, generator=generator) - 0.5, torch.rand(3, 128, generator=generator)]
    z = torch.rand(3, 400, 128, generator=generator)
    stack = autoencoder._Stack(*weights, lr=1e-2, weight_decay=5e-4)
    for k, loss in enumerate(stack.losses_each(z)):
        alone = autoencoder._Stack(*(w[k:k + 1] for w in weights), lr=1e-2, weight_decay=5e-4)
        assert torch.equal(alone.losses_each(z[k:k + 1].clone()), loss[None])

