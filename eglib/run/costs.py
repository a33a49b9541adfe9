"""Time and peak memory of a block of code, for the cost tables of the notebooks (``05``).

A model that the block reused from earlier in the run (:mod:`eglib.reuse`) counts with the
seconds its training took then (also shown apart, ``reused_seconds``), so a row is what the
method costs, whichever notebook happened to train the model first. Its memory is not re-measured.

:meth:`CostLog.measure` records, per labelled block, the wall-clock seconds and the *peak
increase* of the process's resident memory over its value when the block began. The peak is
found by a background thread that reads ``/proc/self/statm`` every 10 ms (Linux); on a GPU the
block's peak of allocated CUDA memory is recorded as well (``peak_cuda_allocated_mib``: the
highest total allocated on the current device during the block, not an increase).

Before each block, memory that earlier code freed is handed back to the system (glibc's
``malloc_trim``), so the start level is what is really in use and the increase is what the block
itself allocated -- otherwise a block could reuse an earlier block's freed pages and look free.
Allocations shorter than the sampling period may be missed: the figure is a lower bound.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

from eglib import reuse

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None


def release_freed_memory() -> None:
    """Collect garbage and return freed heap pages to the system (glibc only; a no-op elsewhere)."""
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def tensor_bytes(*objects: object) -> int:
    """Bytes of the distinct tensor storages that ``objects`` hold: what they keep in memory.

    Follows modules (their parameters, buffers and attributes), tensors, dicts, lists, tuples and
    sets, and the attributes of eglib's own objects (a learner, its zoo, a gate); a storage shared
    by several tensors counts once. Other objects (paths, profiles, arrays) are not entered: the
    figure is the torch memory these objects keep alive, measured from the objects themselves
    rather than from the architecture they were built with.
    """
    seen_objects: set[int] = set()
    storages: dict[tuple[int, str], int] = {}
    stack = list(objects)
    while stack:
        item = stack.pop()
        if id(item) in seen_objects:
            continue
        seen_objects.add(id(item))
        if isinstance(item, torch.Tensor):
            storage = item.untyped_storage()
            storages[storage.data_ptr(), str(item.device)] = storage.nbytes()
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, torch.nn.Module) or type(item).__module__.startswith("eglib."):
            stack.extend(getattr(item, "__dict__", {}).values())
    return sum(storages.values())


def resident_bytes() -> int:
    """The process's resident set size now, in bytes (``0`` where ``/proc`` is not available)."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class _PeakSampler(threading.Thread):
    """Samples :func:`resident_bytes` until stopped; ``peak`` holds the largest value seen."""

    def __init__(self, period: float) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.peak = resident_bytes()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.period):
            self.peak = max(self.peak, resident_bytes())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, resident_bytes())
        return self.peak


class CostLog:
    """Seconds and peak memory per labelled block.

    Example::

        cost = CostLog()
        with cost.measure("joint training"):
            train_joint(...)
        cost.table()   # one row per label: seconds, peak_rss_increase_mib[, peak_cuda_allocated_mib]
    """

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.rows: dict[str, dict[str, float]] = {}

    @contextmanager
    def measure(self, label: str, device: torch.device | str = "cpu") -> Iterator[None]:
        """Time the block and sample its memory; the row is stored even when the block raises."""
        cuda = str(device).startswith("cuda")
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        release_freed_memory()
        start_rss = resident_bytes()
        sampler = _PeakSampler(self.period)
        sampler.start()
        start, reused_before = time.perf_counter(), reuse.reused_seconds()
        try:
            yield
        finally:
            if cuda:
                torch.cuda.synchronize()
            reused = reuse.reused_seconds() - reused_before
            seconds = time.perf_counter() - start + reused
            peak = sampler.stop()
            row = {"seconds": seconds, "peak_rss_increase_mib": max(0, peak - start_rss) / 2 ** 20}
            if reused:
                row["reused_seconds"] = reused
            if cuda:
                row["peak_cuda_allocated_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
            self.rows[label] = row

    def table(self) -> pd.DataFrame:
        """One row per measured label, in the order they were measured."""
        return pd.DataFrame.from_dict(self.rows, orient="index")
