"""Progress bars for the long steps (training epochs, feature extraction batches).

Shown in JupyterLab and terminals; off when ``EGLIB_PROGRESS=0``, which ``make reproduce``,
``make notebooks`` and the tests set, so that executed and committed notebooks hold no bars
(``make reproduce`` prints its own line per notebook instead).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def enabled() -> bool:
    """Whether bars are shown (``EGLIB_PROGRESS`` is not ``0``)."""
    return os.environ.get("EGLIB_PROGRESS", "1") != "0"


def progress(items: Iterable[Item], description: str, total: int | None = None) -> Iterable[Item] | Iterator[Item]:
    """``items`` with a bar labelled ``description`` that disappears when done, or ``items`` itself
    when bars are off."""
    if not enabled():
        return items
    from tqdm.std import tqdm

    return tqdm(items, desc=description, total=total, leave=False, mininterval=0.5, dynamic_ncols=True)
