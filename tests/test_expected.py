"""The regression check of the headline numbers (eglib.run.expected)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from eglib.run import expected

REPO = Path(__file__).resolve().parent.parent


def put(metrics: dict, path: tuple[str, ...], value) -> None:
    for key in path[:-1]:
        metrics = metrics.setdefault(key, {})
    metrics[path[-1]] = value


def metrics_at(shift: float = 0.0, notebook: str | None = None) -> dict:
    """Metrics with every expected number of the mini profile at its seeds' mean, plus ``shift``
    tolerances for those of ``notebook`` (or of every notebook)."""
    out: dict = {}
    moved = {e.name: e.mean + (shift if notebook in (None, e.notebook) else 0.0) * e.tolerance
             for e in expected.EXPECTED["mini"]}
    for item in expected.EXPECTED["mini"]:
        if item.summary is None:
            put(out, item.path, moved[item.name])
    # relatedness of 3 new tasks against base and themselves: one pair at the highest value, the
    # other 8 off-diagonal pairs set so that the mean of all 9 is the expected mean
    names = ["a", "b", "c"]
    top, mean = moved["highest relatedness of a pair"], moved["mean relatedness of the pairs"]
    rest = (9 * mean - top) / 8
    values = [[1.0 if old == new else rest for old in ["base", *names]] for new in names]
    values[0][0] = top
    out["relatedness"] = {"new_tasks": names, "old_tasks": ["base", *names], "values": values}
    return out


def test_every_number_has_three_seeds_and_a_tolerance_of_three_sd_or_its_floor():
    for item in expected.EXPECTED["mini"]:
        assert len(item.values) == 3 and all(v > 0 for v in item.values), item.name
        assert item.tolerance == pytest.approx(max(3 * statistics.stdev(item.values), item.floor))
        assert all(item.holds(v) for v in item.values), item.name  # each seed inside its own band


@pytest.mark.parametrize("notebook", ["02", "03", "05", "06"])
def test_numbers_at_the_mean_pass_and_beyond_the_tolerance_fail_naming_the_fix(notebook):
    table = expected.check(notebook, "mini", metrics_at(0.0))
    assert len(table) >= 1 and table["holds"].all()
    assert expected.check(notebook, "mini", metrics_at(0.9, notebook))["holds"].all()
    for direction in (1.1, -1.1):
        with pytest.raises(expected.RegressionError, match="outside the seed spread") as error:
            expected.check(notebook, "mini", metrics_at(direction, notebook))
        assert "eglib/run/expected.py" in str(error.value) and "SEEDS=0,1,2" in str(error.value)


def test_profiles_without_expected_numbers_check_nothing():
    for profile in ("rehearsal", "smoke", "paper"):
        assert expected.check("05", profile, {}).empty


def test_a_missing_number_is_an_error_not_a_pass():
    with pytest.raises(KeyError):
        expected.check("05", "mini", {"gate_accuracy": 0.9})


def test_every_notebook_with_expected_numbers_checks_them_after_saving():
    for prefix in sorted({item.notebook for item in expected.EXPECTED["mini"]}):
        path = next((REPO / "notebooks").glob(f"{prefix}_*.ipynb"))
        source = "".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"])
        call = f'expected.check("{prefix}", profile.name, metrics)'
        assert call in source, path.name
        assert source.index(f'outputs.save_metrics("{path.stem}", metrics)') < source.index(call), path.name


def test_readme_table_matches_the_code():
    assert expected.markdown() in (REPO / "README.md").read_text()


def test_measuring_mode_reports_a_moved_number_without_failing(monkeypatch):
    moved = metrics_at(2.0, "02")
    monkeypatch.setenv("EGLIB_EXPECTED", "off")
    table = expected.check("02", "mini", moved)
    assert not table["holds"].any()
    monkeypatch.setenv("EGLIB_EXPECTED", "on")
    with pytest.raises(expected.RegressionError, match="EGLIB_EXPECTED=off"):
        expected.check("02", "mini", moved)
