"""The cost log of notebook 05/06: seconds and peak memory per labelled block."""

from __future__ import annotations

import time

import pytest
import torch

from eglib.run.costs import CostLog, resident_bytes


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
