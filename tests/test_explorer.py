"""The gate explorer of notebook 02 (eglib.run.explorer): statistics, the static figure, live sliders."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # this test draws off screen; the notebooks keep the inline backend

import numpy as np
import pytest
import torch

from eglib.method.temperature import multi_expert_statistics
from eglib.run.explorer import GateExplorer


@pytest.fixture()
def gate_explorer() -> GateExplorer:
    """Three tasks, 60 samples: errors lowest on the own task, except for the last 6 samples."""
    generator = torch.Generator().manual_seed(0)
    true = torch.arange(3).repeat_interleave(20)
    errors = 1.0 + 0.3 * torch.rand(60, 3, generator=generator)
    errors[torch.arange(60), true] -= 0.5
    errors[-6:, 0] = 0.1  # six samples of task 2 that autoencoder 0 explains best
    return GateExplorer(errors, true, ["a", "b", "c"], lambda index: np.zeros((8, 8, 3), np.uint8))


def test_statistics_follow_the_errors_and_the_temperature(gate_explorer):
    cold, warm = gate_explorer.statistics(0.01, 0.1), gate_explorer.statistics(2.0, 0.1)
    assert cold["hard routing accuracy"] == warm["hard routing accuracy"] == pytest.approx(54 / 60)
    assert cold["share"] == 0.0 and cold["coverage"] == pytest.approx(54 / 60)  # a cold gate is arg-min routing
    assert warm["share"] > 0.5 and warm["coverage"] == 1.0                      # a flat one wakes every expert
    expected = multi_expert_statistics(gate_explorer.probabilities(0.3), gate_explorer.true, 0.2)
    assert {k: gate_explorer.statistics(0.3, 0.2)[k] for k in expected} == expected
    assert np.all(np.diff(gate_explorer.curves(0.1)["experts_per_sample"]) >= -1e-12)  # more experts as t grows


def test_the_figure_shows_one_state_and_bad_input_is_refused(gate_explorer):
    figure = gate_explorer.figure(0.3, 0.1, sample=59)
    sweep, picture, bars = figure.axes
    assert "from c" in picture.get_title()
    heights = [patch.get_height() for patch in bars.patches]
    assert heights == pytest.approx(gate_explorer.probabilities(0.3)[59].tolist())
    assert sweep.lines[-1].get_xdata()[0] == 0.3  # this t is marked on the sweep
    with pytest.raises(ValueError, match="pick a test sample"):
        gate_explorer.figure(0.3, 0.1, sample=60)
    with pytest.raises(ValueError, match="must be positive"):
        gate_explorer.statistics(0.0, 0.1)
    with pytest.raises(ValueError, match=r"errors must be \[N, K\]"):
        GateExplorer(torch.ones(5, 2), torch.zeros(5), ["a", "b", "c"], lambda index: None)


def test_moving_a_slider_redraws(gate_explorer, monkeypatch):
    drawn = []
    original = GateExplorer.figure
    monkeypatch.setattr(GateExplorer, "figure", lambda self, t, threshold, sample: drawn.append((t, threshold, sample))
                        or original(self, t, threshold, sample))
    box = gate_explorer.widget(0.3, 0.1, 5)
    temperature, threshold, sample = box.children[0].children
    assert (temperature.value, threshold.value, sample.value) == (pytest.approx(0.3), 0.1, 5)
    sample.value = 59
    threshold.value = 0.2
    assert drawn[-2:] == [(pytest.approx(0.3), 0.1, 59), (pytest.approx(0.3), 0.2, 59)]
