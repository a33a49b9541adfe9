"""The gate temperature chosen by measurement (eglib.method.temperature, notebook 02)."""

import math

import pytest
import torch

from eglib.method.temperature import calibrated_temperature, gate_nll, multi_expert_statistics


def _sampled(temperature: float, samples: int = 20000, tasks: int = 5, seed: int = 0):
    """Errors [N, K] and labels drawn from softmax(-errors / temperature): a gate calibrated at that t."""
    generator = torch.Generator().manual_seed(seed)
    errors = 3.0 + torch.rand(samples, tasks, generator=generator, dtype=torch.float64)
    labels = torch.multinomial(torch.softmax(-errors / temperature, dim=1), 1, generator=generator).flatten()
    return errors, labels


@pytest.mark.parametrize("true_t", [0.05, 0.3, 2.0])
def test_recovers_the_temperature_the_labels_were_drawn_at(true_t):
    errors, labels = _sampled(true_t)
    found = calibrated_temperature(errors, labels)
    assert found == pytest.approx(true_t, rel=0.08)
    # and it is a minimum of the likelihood: both neighbours fit worse
    assert gate_nll(errors, labels, found) < gate_nll(errors, labels, found * 1.3)
    assert gate_nll(errors, labels, found) < gate_nll(errors, labels, found / 1.3)


def test_does_not_depend_on_the_scale_of_the_errors_beyond_scaling_t():
    errors, labels = _sampled(0.3)
    assert calibrated_temperature(10 * errors, labels) == pytest.approx(10 * calibrated_temperature(errors, labels),
                                                                        rel=1e-3)


def test_a_gate_that_is_always_right_by_a_margin_routes_hard():
    errors = torch.full((6, 3), 5.0)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    errors[torch.arange(6), labels] = 1.0
    found = calibrated_temperature(errors, labels, span=100.0)
    assert found == pytest.approx(4.0 / 100.0, rel=1e-3)  # the smallest t searched: median gap 4 / span


@pytest.mark.parametrize("errors, labels, message", [
    (torch.ones(4), torch.zeros(4), r"\[N, K\]"),
    (torch.ones(4, 1), torch.zeros(4), r"K >= 2"),
    (torch.ones(4, 3), torch.zeros(3), r"labels must be \[N\]"),
    (torch.ones(4, 3), torch.tensor([0, 1, 2, 3]), r"0\.\.2"),
    (torch.tensor([[1.0, math.nan], [1.0, 2.0]]), torch.tensor([0, 1]), "NaN"),
])
def test_bad_inputs_name_the_fix(errors, labels, message):
    with pytest.raises(ValueError, match=message):
        calibrated_temperature(errors, labels)


def test_nll_needs_a_positive_temperature():
    with pytest.raises(ValueError, match="positive"):
        gate_nll(torch.ones(2, 2), torch.tensor([0, 1]), 0.0)


def test_multi_expert_statistics_count_what_the_threshold_activates():
    probabilities = torch.tensor([[0.80, 0.15, 0.05],    # two experts; the own one (0) among them
                                  [0.60, 0.35, 0.05],    # two experts; own task 1 is the second
                                  [0.95, 0.03, 0.02],    # one expert, the wrong one
                                  [0.40, 0.30, 0.30]])   # three experts
    labels = torch.tensor([0, 1, 2, 2])
    stats = multi_expert_statistics(probabilities, labels, threshold=0.1)
    assert stats == pytest.approx({"share": 0.75, "coverage": 0.75, "experts_per_sample": 2.0})
    hard = multi_expert_statistics(probabilities, labels, threshold=0.99)  # only the arg-max answers
    assert hard == pytest.approx({"share": 0.0, "coverage": 0.25, "experts_per_sample": 1.0})
