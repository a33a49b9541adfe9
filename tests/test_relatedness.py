"""Rel(T_k, T_a) = 1 - (Er_a - Er_k) / Er_k, on hand-computed values, and the LwF/FT rule."""

from __future__ import annotations

import pytest
import torch

from eglib.method import relatedness as rel


def test_formula_on_hand_computed_values():
    # Er_k = 10 (new task's own AE), Er_a = 11.5 (old AE on the new task's val data): 1 - 1.5/10
    assert rel.relatedness_from_errors(10.0, 11.5) == pytest.approx(0.85)
    assert rel.relatedness_from_errors(4.0, 6.0) == pytest.approx(0.5)
    assert rel.relatedness_from_errors(2.0, 2.0) == pytest.approx(1.0)
    # an old AE that reconstructs better than the new one gives more than 1
    assert rel.relatedness_from_errors(5.0, 4.0) == pytest.approx(1.2)


def test_arguments_are_not_swapped():
    # swapping Er_a and Er_k (a mistake seen elsewhere) would give 1 - (10-20)/20 = 1.5
    assert rel.relatedness_from_errors(error_new=10.0, error_old=20.0) == pytest.approx(0.0)


def test_choose_transfer_threshold():
    assert rel.choose_transfer(0.86, 0.85) == "lwf"
    assert rel.choose_transfer(0.85, 0.85) == "finetune"  # strictly greater, as in the paper
    assert rel.choose_transfer(0.5, 0.85) == "finetune"
    assert rel.choose_transfer(0.7, threshold=0.6) == "lwf"


def test_choose_source_picks_most_related():
    assert rel.choose_source({"a": 0.7, "b": 0.9, "base": 0.8}, 0.85) == ("b", 0.9, "lwf")
    assert rel.choose_source({"a": 0.7, "base": 0.8}, 0.85) == ("base", 0.8, "finetune")


def test_without_candidates_the_base_model_is_fine_tuned():
    source, value, method = rel.choose_source({}, 0.85)
    assert (source, method) == ("base", "finetune") and value != value  # NaN: no relatedness measured


def test_relatedness_with_autoencoders_matches_mean_errors(cluster_data):
    aes, val = cluster_data["autoencoders"], cluster_data["test"]
    er_k = float(aes[0].reconstruction_error(val[0]).mean())
    er_a = float(aes[1].reconstruction_error(val[0]).mean())
    assert rel.task_relatedness(aes[0], aes[1], val[0]) == pytest.approx(1 - (er_a - er_k) / er_k, rel=1e-5)
    # far clusters are unrelated: their AE reconstructs the new task much worse
    assert rel.task_relatedness(aes[0], aes[1], val[0]) < 0.85


def test_matrix_diagonal_is_one_and_asymmetric(cluster_data):
    aes = dict(zip("abc", cluster_data["autoencoders"]))
    val = dict(zip("abc", cluster_data["test"]))
    matrix = rel.relatedness_matrix(aes, val)
    assert list(matrix.index) == list("abc") and list(matrix.columns) == list("abc")
    # row = new task, column = old task
    assert matrix.loc["a", "b"] == pytest.approx(rel.task_relatedness(aes["a"], aes["b"], val["a"]))
    assert matrix.loc["b", "a"] == pytest.approx(rel.task_relatedness(aes["b"], aes["a"], val["b"]))
    assert all(matrix.loc[k, k] == pytest.approx(1.0) for k in "abc")
    assert matrix.loc["a", "b"] != pytest.approx(matrix.loc["b", "a"], abs=1e-6)


def test_empty_validation_set_is_refused(cluster_data):
    aes = cluster_data["autoencoders"]
    with pytest.raises(ValueError, match="validation"):
        rel.task_relatedness(aes[0], aes[1], torch.empty(0, 40))


def test_autoencoders_with_other_statistics_are_refused(cluster_data):
    from eglib.method.autoencoder import train_autoencoder

    own_statistics = train_autoencoder(cluster_data["train"][1], hidden_size=8, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="not comparable"):
        rel.task_relatedness(cluster_data["autoencoders"][0], own_statistics, cluster_data["test"][0])
    with pytest.raises(ValueError, match="'b' has no validation"):
        rel.relatedness_matrix(dict(zip("ab", cluster_data["autoencoders"])),
                               {"a": cluster_data["test"][0], "b": torch.empty(0, 40)})
