"""Autoencoder training and the gate's routing."""

from __future__ import annotations

import math

import pytest
import torch

from eglib.method.autoencoder import TaskAutoencoder, train_autoencoder, train_autoencoders
from eglib.method.gate import ExpertGate
from eglib.method.standardizer import FeatureStandardizer


def make_gate(cluster_data, temperature: float = 2.0) -> ExpertGate:
    gate = ExpertGate(temperature=temperature)
    for index, autoencoder in enumerate(cluster_data["autoencoders"]):
        gate.add(f"task{index}", autoencoder)
    return gate


def test_training_lowers_the_loss_and_the_error(cluster_data):
    x = cluster_data["train"][0]
    ae = train_autoencoder(x, cluster_data["test"][0], standardizer=cluster_data["standardizer"],
                           hidden_size=8, epochs=10, device="cpu")
    assert ae.log.train_loss[-1] < 0.9 * ae.log.train_loss[0]
    assert ae.log.val_error[-1] < ae.log.val_error[0]


def test_training_is_deterministic(cluster_data):
    x, st = cluster_data["train"][1], cluster_data["standardizer"]
    first = train_autoencoder(x, standardizer=st, hidden_size=8, epochs=3, seed=5, device="cpu")
    second = train_autoencoder(x, standardizer=st, hidden_size=8, epochs=3, seed=5, device="cpu")
    assert first.log.train_loss == second.log.train_loss
    assert torch.equal(first.network.encoder.weight, second.network.encoder.weight)


def test_sparse_initialisation_has_fifteen_inputs_per_unit():
    from eglib.method.autoencoder import GateAutoencoder

    net = GateAutoencoder(dim=200, hidden_size=10)
    net.sparse_init_(torch.Generator().manual_seed(0))
    assert ((net.encoder.weight != 0).sum(dim=1) == 15).all()
    assert ((net.decoder.weight != 0).sum(dim=1) == 10).all()  # h=10 < 15: all inputs


def test_error_is_euclidean_distance_of_preprocessed_features(cluster_data):
    ae, x = cluster_data["autoencoders"][0], cluster_data["test"][0][:5]
    z = cluster_data["standardizer"](x)
    expected = (torch.sigmoid(ae.network(z)) - z).pow(2).sum(dim=1).sqrt()
    torch.testing.assert_close(ae.reconstruction_error(x), expected)


def test_standardizer_applies_sigmoid_of_standardised_values():
    reference = torch.tensor([[0.0, 2.0], [2.0, 6.0]])
    st = FeatureStandardizer.fit(reference, floor_ratio=0.0)
    out = st(torch.tensor([[1.0, 4.0]]))
    torch.testing.assert_close(out, torch.tensor([[0.5, 0.5]]))
    # by hand: mean (1, 4), sample std (sqrt 2, sqrt 8), so the references sit at -+1/sqrt 2 before the sigmoid
    low, high = 1 / (1 + math.exp(1 / math.sqrt(2))), 1 / (1 + math.exp(-1 / math.sqrt(2)))
    torch.testing.assert_close(st(reference), torch.tensor([[low, low], [high, high]]))


def test_well_separated_clusters_are_routed_to_their_task(cluster_data):
    gate = make_gate(cluster_data)
    for index, x in enumerate(cluster_data["test"]):
        assert (gate.route(x) == index).float().mean() == 1.0


def test_batched_routing_equals_per_sample_routing(cluster_data):
    gate = make_gate(cluster_data)
    x = torch.cat(cluster_data["test"])
    batched_errors = gate.errors(x)
    one_by_one = torch.cat([gate.errors(x[i:i + 1]) for i in range(len(x))])
    torch.testing.assert_close(batched_errors, one_by_one)
    looped = torch.stack([ae.reconstruction_error(x) for ae in cluster_data["autoencoders"]], dim=1)
    torch.testing.assert_close(batched_errors, looped, rtol=1e-4, atol=1e-4)
    assert torch.equal(gate.route(x), torch.stack([gate.route(x[i:i + 1])[0] for i in range(len(x))]))
    # small chunks give the same answer as one block
    gate.chunk_bytes = 4 * 3 * 40 * 7
    torch.testing.assert_close(gate.errors(x), batched_errors)
    # no sample, no answer (not an error)
    assert gate.errors(x[:0]).shape == (0, 3) and gate.route(x[:0]).shape == (0,)


def test_probabilities_are_softmax_of_negative_error_over_temperature(cluster_data):
    gate = make_gate(cluster_data, temperature=2.0)
    x = cluster_data["test"][2][:4]
    errors = gate.errors(x)
    torch.testing.assert_close(gate.probabilities(x), torch.softmax(-errors / 2.0, dim=1))
    torch.testing.assert_close(gate.probabilities(x).sum(dim=1), torch.ones(4))
    hot = make_gate(cluster_data, temperature=50.0).probabilities(x)
    assert hot.max(dim=1).values.mean() < gate.probabilities(x).max(dim=1).values.mean()


def test_threshold_routing_includes_argmax_and_every_probable_task(cluster_data):
    gate = make_gate(cluster_data, temperature=1000.0)  # nearly uniform: every task passes 0.1
    x = cluster_data["test"][0][:6]
    chosen = gate.route(x, threshold=0.1)
    assert chosen.shape == (6, 3) and chosen.all()
    strict = make_gate(cluster_data).route(x, threshold=0.999)
    assert torch.equal(strict.float().argmax(dim=1), make_gate(cluster_data).route(x))
    assert (strict.sum(dim=1) >= 1).all()


def test_gate_refuses_mismatched_inputs(cluster_data):
    gate = make_gate(cluster_data)
    with pytest.raises(ValueError, match=r"\[N, 40\]"):
        gate.route(torch.zeros(3, 41))
    with pytest.raises(ValueError, match="already"):
        gate.add("task0", cluster_data["autoencoders"][0])
    other = train_autoencoder(cluster_data["train"][0], hidden_size=8, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="standardizer=gate.standardizer"):
        gate.add("other", other)
    with pytest.raises(ValueError, match="no autoencoders"):
        ExpertGate().route(torch.zeros(1, 40))


def test_training_refuses_empty_or_wrong_features(cluster_data):
    with pytest.raises(ValueError, match="empty"):
        train_autoencoder(torch.empty(0, 40), standardizer=cluster_data["standardizer"])
    with pytest.raises(ValueError, match=r"\[N, 40\]"):
        train_autoencoder(torch.zeros(5, 30), standardizer=cluster_data["standardizer"])


def test_state_dict_round_trip_is_tensors_only(cluster_data, tmp_path):
    ae = cluster_data["autoencoders"][0]
    torch.save(ae.state_dict(), tmp_path / "ae.pt")
    restored = TaskAutoencoder.from_state_dict(torch.load(tmp_path / "ae.pt", weights_only=True))
    x = cluster_data["test"][0]
    torch.testing.assert_close(restored.reconstruction_error(x), ae.reconstruction_error(x))


def test_gate_save_and_load_round_trip(cluster_data, tmp_path):
    gate = make_gate(cluster_data, temperature=0.5)
    gate.save(tmp_path / "gate.pt")
    restored = ExpertGate.load(tmp_path / "gate.pt")
    x = torch.cat(cluster_data["test"])
    assert restored.names == gate.names and restored.temperature == 0.5
    torch.testing.assert_close(restored.probabilities(x), gate.probabilities(x))
    (tmp_path / "broken.pt").write_bytes((tmp_path / "gate.pt").read_bytes()[:200])
    with pytest.raises(ValueError, match="save the gate again"):
        ExpertGate.load(tmp_path / "broken.pt")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="save the gate again"):
        ExpertGate.load(tmp_path / "other.pt")


def test_per_domain_accuracy_refuses_an_empty_domain():
    from eglib.run.scoring import per_domain_accuracy

    with pytest.raises(ValueError, match=r"\['b'\]"):
        per_domain_accuracy(torch.tensor([0, 0]), torch.tensor([0, 0]), ["a", "b"])


def test_unknown_init_is_refused(cluster_data):
    with pytest.raises(ValueError, match="Unknown init"):
        train_autoencoder(cluster_data["train"][0], standardizer=cluster_data["standardizer"], init="xavier")


def _reference_training(features, standardizer, seed, epochs, weight_decay, init):
    """The textbook loop: one autoencoder, torch.optim.Adagrad, batches of 12 in its own seeded order."""
    import torch.nn.functional as F

    from eglib.method.autoencoder import _new_network

    network, generator = _new_network(standardizer.dim, 16, init, seed)
    optimizer = torch.optim.Adagrad([{"params": [network.encoder.weight, network.decoder.weight],
                                      "weight_decay": weight_decay},
                                     {"params": [network.encoder.bias, network.decoder.bias], "weight_decay": 0.0}],
                                    lr=1e-2)
    z_all = standardizer(features)
    for _ in range(epochs):
        order = torch.randperm(len(z_all), generator=generator)
        for start in range(0, len(order), 12):
            z = z_all[order[start:start + 12]]
            loss = F.binary_cross_entropy_with_logits(network(z), z)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return network


@pytest.mark.parametrize("init, weight_decay", [("uniform", 0.0), ("sparse", 5e-4)])
def test_stacked_training_makes_the_updates_of_training_alone(init, weight_decay):
    generator = torch.Generator().manual_seed(3)
    features = {f"t{k}": torch.randn(50 + 25 * (k // 2), 40, generator=generator) + k for k in range(4)}
    standardizer = FeatureStandardizer.fit(torch.cat(list(features.values())))
    options = {"hidden_size": 16, "epochs": 3, "init": init, "weight_decay": weight_decay, "device": "cpu"}
    seeds = {name: 10 + index for index, name in enumerate(features)}
    stacked = train_autoencoders(features, standardizer=standardizer, seeds=seeds, **options)
    for name, autoencoder in stacked.items():
        alone = train_autoencoder(features[name], standardizer=standardizer, seed=seeds[name], **options)
        # the same updates as alone, up to the rounding of a batched matrix product
        torch.testing.assert_close(alone.network.encoder.weight, autoencoder.network.encoder.weight,
                                   rtol=1e-5, atol=1e-6)
        reference = _reference_training(features[name], standardizer, seeds[name], 3, weight_decay, init)
        for ours, theirs in ((autoencoder.network.encoder, reference.encoder), (autoencoder.network.decoder, reference.decoder)):
            torch.testing.assert_close(ours.weight, theirs.weight, rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(ours.bias, theirs.bias, rtol=1e-4, atol=1e-5)


def test_a_snapshot_is_the_network_of_a_shorter_run(cluster_data):
    train = {f"t{k}": cluster_data["train"][k] for k in range(2)}
    standardizer = FeatureStandardizer.fit(torch.cat(list(train.values())))
    long = train_autoencoders(train, standardizer=standardizer, hidden_size=8, epochs=6, snapshot_epochs=(0, 3, 6),
                              device="cpu")
    short = train_autoencoders(train, standardizer=standardizer, hidden_size=8, epochs=3, device="cpu")
    x = torch.cat(list(train.values()))
    for name in train:
        assert sorted(long[name].log.snapshots) == [0, 3, 6]
        assert torch.allclose(long[name].at_epoch(3).reconstruction_error(x), short[name].reconstruction_error(x))
        assert torch.equal(long[name].at_epoch(6).reconstruction_error(x), long[name].reconstruction_error(x))
        assert not torch.allclose(long[name].at_epoch(0).reconstruction_error(x), short[name].reconstruction_error(x))
    gate = ExpertGate()
    for name, autoencoder in long.items():
        gate.add(name, autoencoder)
    assert torch.allclose(gate.at_epoch(3).errors(x), torch.stack([short[n].reconstruction_error(x) for n in train], 1))
    with pytest.raises(KeyError, match="snapshot_epochs"):
        long["t0"].at_epoch(4)
    with pytest.raises(ValueError, match="snapshot_epochs"):
        train_autoencoders(train, standardizer=standardizer, epochs=3, snapshot_epochs=(5,), device="cpu")
