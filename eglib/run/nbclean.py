"""Notebook cleaner: normalise execution counts, strip run metadata, keep outputs.

Execution counts are renumbered 1, 2, 3, ... over the code cells (nbval treats a cell without a
count as never run, so counts cannot simply be removed); papermill's and Jupyter's timing and id
metadata are dropped, so re-running a notebook changes only what it shows.

``python -m eglib.run.nbclean notebooks/*.ipynb`` rewrites the files; with ``--check`` it changes
nothing and exits 1 when a file would change. ``make test`` runs ``--check --fix-metadata``: a
notebook that differs only in metadata (what JupyterLab writes when it merely opens and autosaves
a notebook: cell ids, ``language_info.version``, a newer ``nbformat_minor``) is normalised in place
and reported, since nothing the notebook shows changed; a notebook whose execution counts differ
(cells were run) still fails the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

KEEP_NOTEBOOK_METADATA = ("kernelspec", "language_info")
KEEP_CELL_METADATA = ("tags",)


def clean_notebook(notebook: dict) -> dict:
    """Return a cleaned copy of a notebook's JSON: no execution counts, no papermill/timing metadata."""
    cleaned = json.loads(json.dumps(notebook))
    cleaned["metadata"] = {k: v for k, v in cleaned.get("metadata", {}).items() if k in KEEP_NOTEBOOK_METADATA}
    language = cleaned["metadata"].get("language_info")
    if isinstance(language, dict):
        language.pop("version", None)
    count = 0
    for cell in cleaned.get("cells", []):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_METADATA}
        cell.pop("id", None)
        if cell.get("cell_type") == "code":
            count += 1
            cell["execution_count"] = count
            for output in cell.get("outputs", []):
                if "execution_count" in output:
                    output["execution_count"] = count
    cleaned["nbformat_minor"] = min(cleaned.get("nbformat_minor", 4), 4)
    return cleaned


def _content(notebook: dict) -> list:
    """What a notebook shows: each cell's type, source, execution count and outputs (no metadata)."""
    return [(cell.get("cell_type"), "".join(cell.get("source", [])), cell.get("execution_count"),
             json.dumps(cell.get("outputs", []), sort_keys=True))
            for cell in notebook.get("cells", [])]


def differs_only_in_metadata(notebook: dict) -> bool:
    """Whether cleaning ``notebook`` would change its metadata (and cell ids) but nothing it shows."""
    return _content(notebook) == _content(clean_notebook(notebook))


def dumps(notebook: dict) -> str:
    """Stable JSON text of a notebook (one-space indent, sorted keys, trailing newline)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--check", action="store_true", help="report files that would change; write nothing")
    parser.add_argument("--fix-metadata", action="store_true",
                        help="with --check: normalise files that differ only in metadata (a JupyterLab autosave) "
                             "instead of failing on them")
    args = parser.parse_args(argv)
    dirty = []
    for path in args.paths:
        text = path.read_text()
        notebook = json.loads(text)
        cleaned = dumps(clean_notebook(notebook))
        if cleaned != text:
            if args.check and args.fix_metadata and differs_only_in_metadata(notebook):
                path.write_text(cleaned)
                print(f"{path}: normalised its metadata (as JupyterLab saves it); nothing it shows changed")
                continue
            dirty.append(path)
            if not args.check:
                path.write_text(cleaned)
    if args.check and dirty:
        print("Notebooks not clean (run `make clean-notebooks`, or `python -m eglib.run.nbclean notebooks/*.ipynb`):", *map(str, dirty), sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
