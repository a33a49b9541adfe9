"""The cost log of notebook 05/06: seconds and peak memory per labelled block."""

from __future__ import annotations

import time

import pytest
import torch

from eglib.run.costs import CostLog, resident_bytes, tensor_bytes


def test_peak_memory_of_a_block_counts_what_it_held_even_if_freed():
    cost = CostLog()
    with cost.measure("big"):
        block = torch.ones(64, 2 ** 20)  # 256 MiB, touched
        time.sleep(0.1)
        del block
    with cost.measure("small"):
        torch.ones(1024).sum()
    table = cost.table()
    assert list(table.index) == ["big", "small"]
    assert 200 < table.loc["big", "peak_rss_increase_mib"] < 400
    assert table.loc["small", "peak_rss_increase_mib"] < 50
    assert table.loc["big", "seconds"] >= 0.1
    held = resident_bytes()
    block = torch.ones(32, 2 ** 20)  # 128 MiB, touched: resident now
    assert 100 << 20 < resident_bytes() - held < 160 << 20
    del block


def test_a_failing_block_is_still_recorded():
    cost = CostLog()
    with pytest.raises(RuntimeError):
        with cost.measure("fails"):
            raise RuntimeError("boom")
    assert "fails" in cost.table().index


def test_tensor_bytes_counts_each_storage_once_and_follows_what_objects_hold():
    layer = torch.nn.Linear(10, 5)                       # 50 + 5 float32 values
    assert tensor_bytes(layer) == 55 * 4
    tied = torch.nn.Sequential(layer, torch.nn.ReLU(), layer)
    assert tensor_bytes(tied) == 55 * 4                  # a shared layer counts once
    view = layer.weight.detach()[:2]                     # a view shares the weight's storage
    assert tensor_bytes({"model": layer, "view": view}) == 55 * 4
    assert tensor_bytes([layer, torch.zeros(3, dtype=torch.float64)]) == 55 * 4 + 24
    from eglib.method.zoo import ExpertZoo
    holder = ExpertZoo.__new__(ExpertZoo)                # an eglib object: its attributes are followed
    holder._resident = {"a": layer}
    assert tensor_bytes(holder) == 55 * 4
    holder._resident = {}
    assert tensor_bytes(holder) == 0                     # a dropped expert no longer counts
