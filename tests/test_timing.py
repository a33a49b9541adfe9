"""Phase timing for make benchmark: exclusive seconds per phase, FLOPs when asked."""

from __future__ import annotations

import time

import pytest
import torch

from eglib import timing


@pytest.fixture(autouse=True)
def fresh():
    timing.reset()
    yield
    timing.reset()


def test_nested_phases_count_their_own_time_once():
    @timing.phase("evaluation")
    def evaluate():
        time.sleep(0.05)

    @timing.phase("expert training")
    def train():
        time.sleep(0.05)
        evaluate()
        time.sleep(0.05)

    train()
    seconds = timing.totals()["seconds"]
    assert seconds["evaluation"] == pytest.approx(0.05, abs=0.03)
    assert seconds["expert training"] == pytest.approx(0.10, abs=0.04)  # the evaluation inside is not its own


def test_flops_are_counted_only_when_asked(monkeypatch):
    @timing.phase("evaluation")
    def product():
        return torch.ones(8, 16) @ torch.ones(16, 4)

    product()
    assert timing.totals()["flops"] == {}
    monkeypatch.setenv("EGLIB_COUNT_FLOPS", "1")
    product()
    assert timing.totals()["flops"] == {"evaluation": 2 * 8 * 16 * 4}


def test_unknown_phase_is_refused():
    with pytest.raises(ValueError, match="Unknown phase"):
        timing.phase("coffee")


@pytest.mark.parametrize("groups", [1, 4, 8])
def test_a_convolutions_backward_costs_one_forward_per_gradient(groups, monkeypatch):
    # torch's own formula counts a grouped convolution's weight gradient as if it were dense
    conv = torch.nn.Conv2d(8, 16, 3, padding=1, groups=groups)
    x = torch.randn(4, 8, 10, 10)
    forward = 2 * 4 * 10 * 10 * 16 * (8 // groups) * 3 * 3  # + bias, which the counters leave out

    @timing.phase("expert training")
    def step(inputs):
        conv.zero_grad()
        conv(inputs).sum().backward()

    monkeypatch.setenv("EGLIB_COUNT_FLOPS", "1")
    step(x)  # weight gradient only: the input needs none
    assert timing.totals()["flops"] == {"expert training": 2 * forward}
    timing.reset()
    step(x.requires_grad_())  # weight and input gradients
    assert timing.totals()["flops"] == {"expert training": 3 * forward}
