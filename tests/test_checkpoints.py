"""Checkpoints of a run's baselines, and `make reproduce RESUME=...` reusing a run folder."""

from __future__ import annotations

import copy
import json

import torch
from conftest import tiny_notebook

from eglib.config import BASE
from eglib.method import experts
from eglib.run import checkpoints, reproduce
from eglib.video import dfn


def test_checkpoint_is_reused_only_when_resuming_and_intact(tmp_path, monkeypatch):
    monkeypatch.setenv("EGLIB_RUN_DIR", str(tmp_path))
    monkeypatch.delenv("EGLIB_RESUME", raising=False)
    base = experts.base_expert("mobilenet_v2")
    calls = []

    def train():
        calls.append(1)
        expert = copy.deepcopy(base)
        expert.heads[BASE].bias.data += len(calls)
        return {"a": expert}, {"matrix": {"x": {"y": 0.5}}}

    first, extra, resumed = checkpoints.experts_checkpoint("joint", train, "mobilenet_v2")
    assert not resumed and len(calls) == 1
    monkeypatch.setenv("EGLIB_RESUME", "1")
    again, extra_again, resumed = checkpoints.experts_checkpoint("joint", train, "mobilenet_v2")
    assert resumed and len(calls) == 1 and extra_again == extra
    torch.testing.assert_close(again["a"].heads[BASE].bias, first["a"].heads[BASE].bias)
    (tmp_path / "checkpoints" / "joint.pt").write_bytes(b"damaged")
    _, _, resumed = checkpoints.experts_checkpoint("joint", train, "mobilenet_v2")
    assert not resumed and len(calls) == 2  # a damaged checkpoint is retrained, not trusted
    monkeypatch.setenv("EGLIB_RESUME", "0")
    checkpoints.experts_checkpoint("joint", train, "mobilenet_v2")
    assert len(calls) == 3  # a fresh run always trains
    monkeypatch.setenv("EGLIB_RESUME", "1")
    trained = checkpoints.expert_trainer("mobilenet_v2")  # what notebook 05 hands its baselines
    models, extra_read = trained("joint", train)
    assert len(calls) == 3 and extra_read == extra and set(models) == {"a"}


def test_reproduce_resume_reruns_into_the_same_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("EGLIB_RESUME", "0")
    monkeypatch.setenv("EGLIB_RUN_DIR", str(tmp_path / "unused"))
    folder = tmp_path / "nbs"
    folder.mkdir()
    tiny_notebook(folder / "00_tiny.ipynb", "import os\nfrom eglib.run import outputs\n"
                  "outputs.save_metrics('00_tiny', {'resume_seen': os.environ.get('EGLIB_RESUME')})")
    runs = tmp_path / "runs"
    assert reproduce.main(["--runs", str(runs), "--notebook-dir", str(folder), "--only", "00"]) == 0
    run = (runs / "latest").resolve()
    assert json.loads((run / "metrics.json").read_text())["resume_seen"] is None
    assert reproduce.main(["--notebook-dir", str(folder), "--only", "00", "--resume", str(run)]) == 0
    assert json.loads((run / "metrics.json").read_text())["resume_seen"] == "1"
    assert len(list(runs.iterdir())) == 2  # the run and `latest`: no new run folder
    assert reproduce.main(["--notebook-dir", str(folder), "--resume", str(tmp_path / "nbs")]) == 2


def test_json_checkpoint_and_generic_models(tmp_path, monkeypatch):
    from eglib.video.dfn import DynamicFilterNetwork

    monkeypatch.setenv("EGLIB_RUN_DIR", str(tmp_path))
    monkeypatch.setenv("EGLIB_RESUME", "1")
    calls = []
    assert checkpoints.json_checkpoint("row", lambda: calls.append(1) or {"FT": 0.5}) == {"FT": 0.5}
    assert checkpoints.json_checkpoint("row", lambda: calls.append(1) or {"FT": 0.9}) == {"FT": 0.5}
    assert len(calls) == 1
    torch.manual_seed(0)
    net = DynamicFilterNetwork()
    models, _, resumed = checkpoints.models_checkpoint("dfn", lambda: ({"a": net}, {}), dfn.from_state_dict)
    again, _, resumed_again = checkpoints.models_checkpoint("dfn", lambda: ({"a": DynamicFilterNetwork()}, {}),
                                                            dfn.from_state_dict)
    assert not resumed and resumed_again
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in again["a"].state_dict().items())
