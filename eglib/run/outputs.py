"""Where a notebook's figures and headline numbers go (every notebook uses this).

Both land in the run folder (:func:`eglib.config.run_dir`): figures as PNG under ``figures/``,
numbers as JSON under ``metrics/<notebook>.json``; ``make reproduce`` merges the JSON files into
one ``metrics.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from eglib import config, timing
from eglib.storage import atomic_writer


def _jsonable(value: Any) -> Any:
    """Convert tensors, numpy scalars/arrays and DataFrames into plain JSON values."""
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # pandas DataFrame
        return {"rows": [str(i) for i in value.index], "columns": [str(c) for c in value.columns],
                "values": _jsonable(value.to_numpy().tolist())}
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write ``payload`` as indented JSON to ``path`` via a temporary file and a rename."""
    with atomic_writer(path, "w") as out:
        json.dump(_jsonable(payload), out, indent=1)


def save_metrics(notebook: str, metrics: dict[str, Any]) -> Path:
    """Write a notebook's headline numbers to ``<run_dir>/metrics/<notebook>.json``; return the path.

    The file also gets ``phases_<NN>``: the seconds (and, when counted, FLOPs) that the notebook's
    process spent in each phase of the method so far (:mod:`eglib.timing`).
    """
    path = config.run_dir() / "metrics" / f"{notebook}.json"
    write_json_atomic(path, {**metrics, f"phases_{notebook[:2]}": timing.totals()})
    return path


@timing.phase("figures")
def save_figure(figure: Any, name: str) -> Path:
    """Save a matplotlib figure as ``<run_dir>/figures/<name>.png`` (150 dpi); return the path."""
    path = config.run_dir() / "figures" / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=150, bbox_inches="tight")
    return path


def show_figure(figure: Any, name: str, alt: str) -> None:
    """Save ``figure`` (:func:`save_figure`, into ``<run>/figures/<name>.png``), show it in the
    notebook with ``alt`` as its alternative text (the output's ``image/png`` metadata, which
    nbconvert writes into the ``<img>`` tag and screen readers read), and close it so the inline
    backend does not show it twice. Returns nothing, so that a cell ending with it prints no path
    (a committed notebook would otherwise show the machine's folders).
    """
    from IPython.display import display
    import matplotlib.pyplot as plt

    if not alt or not alt.strip():
        raise ValueError(f"Figure {name!r}: give it an alternative text, a sentence saying what it shows.")
    save_figure(figure, name)
    display(figure, metadata={"image/png": {"alt": alt.strip()}})
    plt.close(figure)


def merge_metrics(run: Path) -> dict[str, Any]:
    """Union of ``<run>/metrics/*.json`` in file-name order (later notebooks win on shared keys)."""
    merged: dict[str, Any] = {}
    for path in sorted((run / "metrics").glob("*.json")):
        merged.update(json.loads(path.read_text()))
    return merged
