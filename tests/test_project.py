"""Project-level checks: environment files agree, the runner validates its input, notebooks are clean."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import reproduce_tiny, tiny_notebook

from eglib.run import nbclean, outputs, reproduce

REPO = Path(__file__).resolve().parent.parent


def requirement_pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_environment_yml_parses_and_matches_requirements():
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    assert env["name"] and "python=3.11" in env["dependencies"]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_pins = requirement_pins(pip_section)
    venv_pins = requirement_pins((REPO / "requirements.txt").read_text().splitlines())
    assert conda_pins == venv_pins
    assert venv_pins["torch"] == "2.14.1" and venv_pins["torchvision"] == "0.29.1"


def test_requirements_agree_with_the_lock_file():
    lock = requirement_pins((REPO / "requirements-lock.txt").read_text().splitlines())
    for name, version in requirement_pins((REPO / "requirements.txt").read_text().splitlines()).items():
        assert lock.get(name) == version, name


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in requirement_pins((REPO / "requirements.txt").read_text().splitlines()).items():
        assert version(name) == pinned, name


def notebooks() -> list[Path]:
    return sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_exist_in_order_with_python3_kernel_and_parameters():
    names = [path.stem for path in notebooks()]
    assert names[:4] == ["00_data_and_features", "01_autoencoders", "02_gate", "03_relatedness"]
    for path in notebooks():
        notebook = json.loads(path.read_text())
        assert notebook["metadata"]["kernelspec"]["name"] == "python3", path.name
        tagged = [c for c in notebook["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, path.name
        assert all(key in "".join(tagged[0]["source"]) for key in ("PROFILE", "DEVICE", "SEED"))


def test_committed_notebooks_are_executed_and_clean():
    for path in notebooks():
        text = path.read_text()
        notebook = json.loads(text)
        assert nbclean.dumps(nbclean.clean_notebook(notebook)) == text, f"run python -m eglib.run.nbclean {path}"
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        outputs = [o for c in code for o in c["outputs"]]
        figures = [o for o in outputs if "image/png" in o.get("data", {})]
        assert outputs and figures, f"{path.name} is not executed (run make notebooks)"
        assert not any(o.get("output_type") == "error" for c in code for o in c["outputs"]), path.name


def test_every_committed_figure_has_alternative_text():
    """Each image a notebook shows carries an alt text (eglib.run.outputs.show_figure), which
    nbconvert writes into the <img> tag and screen readers read; a figure shown by plt.show() has none."""
    missing = []
    for path in notebooks():
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            for output in cell.get("outputs", []):
                if "image/png" in output.get("data", {}):
                    alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
                    if len(alt.split()) < 5:
                        missing.append(f"{path.name} cell {index}")
    assert not missing, f"figures without alternative text: {missing}"


def test_show_figure_saves_shows_with_alt_and_refuses_no_alt(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from IPython import display as ipython_display

    from eglib.run import outputs

    monkeypatch.setenv("EGLIB_RUN_DIR", str(tmp_path))
    shown = []
    monkeypatch.setattr(ipython_display, "display", lambda obj, metadata=None: shown.append((obj, metadata)))
    figure = plt.figure()
    assert outputs.show_figure(figure, "probe", alt=" A line that rises. ") is None  # a cell ending with it prints no path
    assert (tmp_path / "figures" / "probe.png").exists()
    assert shown == [(figure, {"image/png": {"alt": "A line that rises."}})]
    assert not plt.fignum_exists(figure.number)  # closed: the inline backend will not show it again
    with pytest.raises(ValueError, match="alternative text"):
        outputs.show_figure(plt.figure(), "probe", alt="  ")


def test_a_jupyterlab_autosave_is_normalised_and_a_run_cell_still_fails_the_check(tmp_path, capsys):
    """What JupyterLab writes when it opens and autosaves a notebook (nbformat 4.5 cell ids, the
    Python version, its own metadata) does not fail make test's check; changed counts do."""
    import nbformat

    committed = notebooks()[0].read_text()
    autosaved = nbformat.reads(committed, as_version=4)
    autosaved.nbformat_minor = 5
    for index, cell in enumerate(autosaved.cells):
        cell["id"] = f"cell-{index}"
        cell.metadata["trusted"] = True
    autosaved.metadata["language_info"]["version"] = "3.11.9"
    autosaved.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    path = tmp_path / "00.ipynb"
    nbformat.write(autosaved, path)
    assert path.read_text() != committed
    assert nbclean.main(["--check", path.as_posix()]) == 1                      # the plain check refuses it
    assert nbclean.main(["--check", "--fix-metadata", path.as_posix()]) == 0    # make test's normalises it
    assert path.read_text() == committed and "normalised its metadata" in capsys.readouterr().out
    run = json.loads(committed)
    next(c for c in run["cells"] if c["cell_type"] == "code")["execution_count"] = 7  # a cell was run again
    path.write_text(nbclean.dumps(run))
    assert nbclean.main(["--check", "--fix-metadata", path.as_posix()]) == 1
    assert json.loads(path.read_text()) == run                                  # and is left as it was


def test_cleaner_strips_counts_and_run_metadata():
    dirty = {"metadata": {"kernelspec": {"name": "python3"}, "papermill": {"duration": 3}},
             "nbformat": 4, "nbformat_minor": 5,
             "cells": [{"cell_type": "code", "execution_count": 7, "id": "abc", "source": "1",
                        "metadata": {"tags": ["x"], "papermill": {"duration": 1}, "execution": {}},
                        "outputs": [{"output_type": "execute_result", "execution_count": 7, "data": {}, "metadata": {}}]}]}
    clean = nbclean.clean_notebook(dirty)
    assert clean["metadata"] == {"kernelspec": {"name": "python3"}}
    cell = clean["cells"][0]
    assert cell["execution_count"] == 1 and cell["metadata"] == {"tags": ["x"]} and "id" not in cell
    assert cell["outputs"][0]["execution_count"] == 1


@pytest.mark.parametrize("argv, message", [
    (["--profile", "tiny"], "Unknown profile"),
    (["--device", "tpu"], "Unknown device"),
    (["--only", "99"], "No notebook matches"),
    (["--notebook-dir", "/nonexistent"], "No notebook matches"),
    (["--profile", "paper"], "get_paper_data.py scenes"),
])
def test_reproduce_refuses_bad_input_before_running(argv, message, tmp_path, capsys):
    assert reproduce.main([*argv, "--runs", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing half-made


def test_metrics_merge_and_run_folder(tmp_path):
    run = reproduce.new_run_dir(tmp_path)
    assert (tmp_path / "latest").resolve() == run.resolve()
    (run / "metrics").mkdir()
    (run / "metrics" / "00_a.json").write_text(json.dumps({"x": 1, "y": 1}))
    (run / "metrics" / "01_b.json").write_text(json.dumps({"y": 2}))
    assert outputs.merge_metrics(run) == {"x": 1, "y": 2}
    second = reproduce.new_run_dir(tmp_path)
    assert second != run and (tmp_path / "latest").resolve() == second.resolve()


def test_report_puts_the_headline_tables_on_one_page(tmp_path):
    from eglib.run.report import build_report

    metrics = {
        "run": {"PROFILE": "mini", "DEVICE": "cpu", "SEED": 0, "notebook_seconds": {"00_x": 1.0}},
        "gate_accuracy_per_domain": {"a": 0.9, "b": 1.0},
        "discriminative_accuracy_per_domain": {"a": 1.0, "b": 1.0},
        "relatedness": {"new_tasks": ["a", "b"], "old_tasks": ["a", "b"], "values": [[1.0, 0.5], [0.25, 1.0]]},
        "method_table": {"rows": ["Expert Gate"], "columns": ["a", "b", "avg"], "values": [[0.9, 0.8, 0.85]]},
        "transfer_choices": [{"task": "a", "source": "base", "relatedness": 0.5, "method": "finetune"}],
        "video_l1": {"Expert Gate": {"a": 12.5, "avg": 12.5}, "joint training": {"a": 13.0, "avg": 13.0}},
        "video_ssim": {"Expert Gate": {"a": 0.8, "avg": 0.8}, "joint training": {"a": 0.7, "avg": 0.7}},
        "video_sharpness": {"Expert Gate": {"a": 0.9, "avg": 0.9}, "joint training": {"a": 0.95, "avg": 0.95}},
        "video_gate_accuracy": 0.975,
        "gate_temperature": 0.23, "gate_temperature_calibrated": 0.2331, "gate_temperature_scaled_paper": 0.344,
        "multi_expert_share": 0.189,
    }
    text = build_report(tmp_path, metrics)
    assert "t = 0.230; calibrated on the validation split: 0.233" in text and "18.9% of the test samples" in text
    assert "| Expert Gate | 12.5 | 12.5 |" in text and "routed 97.5% of the test clips" in text
    assert "| Expert Gate | 0.8 | 0.9 |" in text  # SSIM and sharpness beside L1
    assert "| Expert Gate (no stored data) | 90.0 | 100.0 | 95.0 |" in text
    assert "| a | 1.0 | 0.5 |" in text and "| Expert Gate | 90.0 | 80.0 | 85.0 |" in text
    assert "figures/03_relatedness_heatmap.png" in text and "| base |" in text


def test_reproduce_runs_numbered_notebooks_with_papermill_into_a_run_folder(tmp_path, capsys):
    """End to end on a tiny generated notebook: parameters injected, metrics merged, report written."""
    status, run = reproduce_tiny(tmp_path, ["--seed", "3"], extra="'seed_seen': SEED, 'profile_seen': PROFILE")
    assert status == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["seed_seen"] == 3 and metrics["profile_seen"] == "mini"
    assert metrics["run"]["SEED"] == 3 and "00_tiny" in metrics["run"]["notebook_seconds"]
    assert (run / "notebooks" / "00_tiny.ipynb").exists() and "Task recognition" in (run / "report.md").read_text()
    out = capsys.readouterr().out
    assert "[1/1] 00_tiny ... done" in out and f"Results: {run}" in out


def test_paper_report_puts_each_cell_beside_the_paper(tmp_path):
    from eglib.run.report import build_report

    metrics = {
        "run": {"PROFILE": "paper", "settings": {"expert_lr": 0.001, "expert_epochs": 10}},
        "method_table": {"rows": ["Expert Gate"], "columns": ["scenes", "birds", "avg"], "values": [[0.6, 0.55, 0.575]]},
        "table1": {"rows": ["Expert Gate", "single FT model, after birds"], "columns": ["scenes", "birds", "avg"],
                   "values": [[0.63, 0.58, 0.605], [0.5, 0.6, 0.55]]},
        "gate_accuracy_per_domain": {"scenes": 0.95}, "discriminative_accuracy_per_domain": {"scenes": 0.97},
        "relatedness": {"new_tasks": ["scenes"], "old_tasks": ["scenes", "base"], "values": [[1.0, 0.9]]},
        "lwf_vs_ft_pairs": [{"source": "svhn", "new": "letters", "relatedness": 0.9, "FT": 0.85, "LwF": 0.88,
                             "final distillation": 0.1, "gain": 0.03},
                            {"source": "base", "new": "letters", "relatedness": None, "FT": 0.85, "LwF": 0.86,
                             "final distillation": 0.1, "gain": 0.01}],
        "lwf_rule_right_at_085": 1.0, "lwf_best_threshold": 0.85,
    }
    text = build_report(tmp_path, metrics)
    assert "| Expert Gate | 63.0 / 63.5 (-0.5) | 58.0 / 57.6 (+0.4) | – |" in text  # Table 1
    assert "| single FT model, after birds | 50.0 / 50.3 (-0.3) | 60.0 / 57.3 (+2.7) |" in text
    assert "| Expert Gate | 60.0 / 60.4 (-0.4) | 55.0 / 57.0 (-2.0) | – |" in text  # Table 2
    assert "| Expert Gate (no stored data) | 95.0 / 94.6 (+0.4) |" in text  # Table 3
    assert "| base → scenes | 90.0 | 92.4 | -2.4 |" in text
    assert "| svhn → letters | 0.9 | 88.0 / 88.5 | 85.0 / 86.6 |" in text  # Figure 6
    assert "| base → letters | – | 86.0 / 86.2 | 85.0 / 86.6 |" in text  # no ImageNet images: Rel unknown
    assert "| expert_lr | 0.001 |" in text
    assert "REHEARSAL" not in text
    assert "Beside the paper" not in build_report(tmp_path, {**metrics, "run": {"PROFILE": "mini"}})
    assert "measure nothing" in build_report(tmp_path, {**metrics, "run": {"PROFILE": "rehearsal"}})



def test_a_failing_notebook_does_not_stop_the_others_and_is_reported(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "nbs"
    folder.mkdir()
    parameters = 'PROFILE = "x"\nDEVICE = "x"\nSEED = -1'
    tiny_notebook(folder / "00_fails.ipynb", "assert 1 + 1 == 3, 'a claim that does not hold'", parameters=parameters)
    tiny_notebook(folder / "01_runs.ipynb", "from eglib.run import outputs\noutputs.save_metrics('01_runs', {'x': 1})",
                  parameters=parameters)
    runs = tmp_path / "runs"
    monkeypatch.chdir(tmp_path)  # a relative --runs folder is the caller's, not the notebooks' folder
    assert reproduce.main(["--runs", "runs", "--notebook-dir", str(folder)]) == 1
    run = (runs / "latest").resolve()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["x"] == 1 and list(metrics["run"]["failed_notebooks"]) == ["00_fails"]
    text = (run / "report.md").read_text()
    assert "## Failed notebooks" in text and "a claim that does not hold" in text
    assert "1 notebook(s) failed: 00_fails" in capsys.readouterr().err


def test_an_image_grid_row_may_hold_fewer_images_than_columns():
    import matplotlib
    import numpy as np

    matplotlib.use("Agg", force=False)
    from eglib.run import plots

    figure = plots.image_grid({"three": np.zeros((3, 8, 8, 3), np.uint8), "ten": np.zeros((10, 8, 8, 3), np.uint8)})
    axes = np.array(figure.axes).reshape(2, 10)
    assert [len(axis.images) for axis in axes[0]] == [1] * 3 + [0] * 7
    assert all(len(axis.images) == 1 for axis in axes[1])


def test_method_diagram_states_the_rule_it_is_given():
    import matplotlib
    matplotlib.use("Agg", force=False)
    from eglib.run import diagram

    figure = diagram.method_diagram(threshold=0.7)
    texts = " ".join(text.get_text() for text in figure.axes[0].texts)
    assert "Rel > 0.7 ?" in texts and "softmax(−e / t)" in texts and "Rel = 2 − Er_a / Er_k" in texts
    assert len(figure.axes[0].patches) == len(diagram.TEST_ROW) + len(diagram.TRAIN_ROW)
