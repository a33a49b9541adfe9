"""`make reproduce SEEDS=0,1,2`: one run per seed, and the spread of every headline number."""

from __future__ import annotations

import json
import math

import pytest

from conftest import reproduce_tiny
from eglib.run import seeds


def test_spread_is_mean_and_sample_sd_of_every_shared_number_and_difference():
    per_seed = {
        0: {"gate_accuracy": 0.90, "discriminative_accuracy": 0.95, "multi_expert_share": 0.2, "flag": True,
            "run": {"SEED": 0}, "phases_02": {"x": 1.0}, "only_here": 1.0},
        1: {"gate_accuracy": 0.94, "discriminative_accuracy": 0.95, "multi_expert_share": 0.3, "flag": False,
            "run": {"SEED": 1}, "phases_02": {"x": 2.0}},
        2: {"gate_accuracy": 0.92, "discriminative_accuracy": 0.98, "multi_expert_share": 0.1, "flag": True,
            "run": {"SEED": 2}, "phases_02": {"x": 3.0}},
    }
    block = seeds.spread(per_seed)
    assert block["seeds"] == [0, 1, 2]
    assert set(block["keys"]) == {"gate_accuracy", "discriminative_accuracy", "multi_expert_share",
                                  "gate - discriminative classifier"}  # no bools, bookkeeping, or one-seed keys
    gate = block["keys"]["gate_accuracy"]
    assert gate["values"] == [0.90, 0.94, 0.92] and math.isclose(gate["mean"], 0.92)
    assert math.isclose(gate["sd"], 0.02)  # sample sd: sqrt((0.02^2 + 0.02^2 + 0) / 2)
    gap = block["keys"]["gate - discriminative classifier"]
    assert [round(v, 6) for v in gap["values"]] == [-0.05, -0.01, -0.06] and math.isclose(gap["mean"], -0.04)
    assert seeds.spread({7: per_seed[0]})["keys"]["gate_accuracy"]["sd"] is None  # one seed: no spread
    with pytest.raises(ValueError, match="No seed ran"):
        seeds.spread({})


@pytest.mark.parametrize("text, message", [("0,x", "comma-separated integers"), ("", "one or more distinct"),
                                           ("1,1", "one or more distinct")])
def test_bad_seed_lists_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        seeds.parse_seeds(text)
    assert seeds.parse_seeds(" 0, 1,2") == [0, 1, 2]


def test_reproduce_with_seeds_runs_each_seed_into_its_folder_and_reports_the_spread(tmp_path, capsys):
    # a headline number that depends on the seed, so that the spread is not zero by construction
    status, run = reproduce_tiny(tmp_path, ["--seeds", "0,2,4"], gate="0.9 + SEED / 100")
    assert status == 0
    for seed in (0, 2, 4):
        own = json.loads((run / f"seed-{seed}" / "metrics.json").read_text())
        assert own["run"]["SEED"] == seed and math.isclose(own["gate_accuracy"], 0.9 + seed / 100)
        assert (run / f"seed-{seed}" / "notebooks" / "00_tiny.ipynb").exists()
    top = json.loads((run / "metrics.json").read_text())
    gate = top["seeds"]["keys"]["gate_accuracy"]
    assert top["seeds"]["seeds"] == [0, 2, 4] and top["run"]["SEEDS"] == [0, 2, 4]
    assert math.isclose(gate["mean"], 0.92) and math.isclose(gate["sd"], 0.02)
    text = (run / "report.md").read_text()
    assert "| gate_accuracy | 92.00 | 2.00 | 90.00, 92.00, 94.00 |" in text and "[report](seed-2/report.md)" in text
    assert "gate_accuracy: 0.920 ± 0.020 over 3 seeds" in capsys.readouterr().out
    assert reproduce_tiny(tmp_path, ["--seeds", "0,x"])[0] == 2
