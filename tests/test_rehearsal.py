"""The rehearsal profile: the paper datasets generated in their real layouts, prepared by the real
preparers, and an untrained AlexNet that is explicit, seeded and never taken for the real one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from eglib import config, data
from eglib.data import downloads, paper, prepare, rehearsal
from eglib.features import backbones
from eglib.run import reproduce


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return rehearsal.build(tmp_path_factory.mktemp("rehearsal"))


def test_every_dataset_is_generated_with_its_full_class_count_and_prepared(built):
    manifest = downloads.load_manifest()
    assert set(rehearsal.WRITERS) == set(manifest)
    for name, entry in manifest.items():
        prepared = prepare.load_prepared(name, built)  # checks classes.txt against the manifest
        assert len(prepared.classes) == entry.classes
        train_labels = {label for _, label in prepared.train}
        assert train_labels == set(range(entry.classes)), name  # every class has training images
        assert len(prepared.test) == entry.classes * rehearsal.PER_CLASS["test"], name
    # crops follow the boxes: cars are padded by (4, 8) px and aircraft carry a 20 px banner around the box
    for name in ("cars", "aircraft", "actions"):
        crop = next((built / name / "train").rglob("*.jpg"))
        assert Image.open(crop).size == (rehearsal.IMAGE_SIDE, rehearsal.IMAGE_SIDE), name
    assert len(paper.imagenet_files(built / "imagenet")) == rehearsal.IMAGENET_IMAGES


def test_the_rehearsal_benchmark_is_the_paper_tasks_with_an_imagenet_base(built, monkeypatch):
    monkeypatch.setattr(rehearsal, "rehearsal_root", lambda: built)
    bench = data.load_benchmark("rehearsal")
    assert bench.names == list(paper.PAPER_TASKS)
    assert bench.meta["base_source"] == "imagenet" and bench.base.shape == (rehearsal.IMAGENET_IMAGES, 227, 227, 3)
    scenes = bench.domains["scenes"]
    assert scenes.train.images.shape[1:] == (227, 227, 3)
    assert len(scenes.train) == len(scenes.val) == len(scenes.test) == 67  # one of two training images held out
    study = data.load_benchmark("rehearsal", tasks=("svhn", "letters"))
    assert study.names == ["svhn", "letters"] and len(study.domains["letters"].classes) == 52
    with pytest.raises(ValueError, match="tasks"):
        data.load_benchmark("mini", tasks=("svhn",))


def test_the_smoke_profile_is_the_rehearsal_on_three_classes_a_task(built, monkeypatch):
    monkeypatch.setattr(rehearsal, "rehearsal_root", lambda: built)
    smoke, full = config.get_profile("smoke"), config.get_profile("rehearsal")
    assert smoke.rehearsal and smoke.paper_tasks and smoke.layer == full.layer
    # AlexNet with narrow fc6/fc7: the same conv trunk, so the same gate features and code paths
    assert (full.backbone, smoke.backbone) == ("alexnet_untrained", "alexnet_slim_untrained")
    # 01's sweep of code sizes: the paper's five, except on smoke (the ends its code compares)
    assert full.ae_hidden_sweep == config.get_profile("mini").ae_hidden_sweep == (10, 50, 100, 200, 500)
    assert smoke.ae_hidden_sweep == (10, 100)
    bench = data.load_benchmark("smoke")
    assert bench.names == list(paper.PAPER_TASKS)
    for name, domain in bench.domains.items():
        assert len(domain.classes) == 3, name
        assert set(domain.train.labels) == set(domain.test.labels) == {0, 1, 2}, name
    assert bench.domains["scenes"].classes == data.load_benchmark("rehearsal").domains["scenes"].classes[:3]
    with pytest.raises(ValueError, match="at least 2 classes"):
        paper.load_paper(("mnist",), root=built, max_classes=1)


def test_the_no_imagenet_smoke_profile_never_reads_imagenet_images(built, monkeypatch):
    monkeypatch.setattr(rehearsal, "rehearsal_root", lambda: built)
    monkeypatch.setenv("EGLIB_IMAGENET_DIR", str(built / "imagenet"))  # even when a user has set it
    with_imagenet, without = data.load_benchmark("smoke"), data.load_benchmark("smoke-no-imagenet")
    assert with_imagenet.meta["base_source"] == "imagenet" and with_imagenet.base_is_candidate
    assert without.meta["base_source"] == "mini stand-in" and not without.base_is_candidate
    assert without.names == with_imagenet.names
    video = data.load_video_benchmark("smoke-no-imagenet")
    assert video.base.shape == data.load_mini().base.shape  # the mini stand-in fixes the video gate's statistics


def test_an_interrupted_build_is_rebuilt(tmp_path):
    root = tmp_path / "r"
    root.mkdir()
    (root / "ready.json").write_text("{not json")
    assert rehearsal.ensure_built(root) == root
    assert prepare.load_prepared("mnist", root).classes == [str(d) for d in range(10)]


def test_callers_at_once_build_the_data_once(tmp_path, monkeypatch):
    import json
    import threading
    import time

    calls = []

    def slow_build(root):
        calls.append(root)
        time.sleep(0.3)  # long enough for the other caller to arrive while this one builds
        root.mkdir(parents=True, exist_ok=True)
        (root / "ready.json").write_text(json.dumps({"version": rehearsal.REHEARSAL_VERSION}))
        return root

    monkeypatch.setattr(rehearsal, "build", slow_build)
    root = tmp_path / "r"
    results = []
    callers = [threading.Thread(target=lambda: results.append(rehearsal.ensure_built(root))) for _ in range(3)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert results == [root] * 3 and calls == [root]


def test_generated_images_differ_by_task_and_class_and_repeat_by_seed():
    a = rehearsal.generated_image(0, 1, 0)
    assert a.dtype == np.uint8 and a.shape == (rehearsal.IMAGE_SIDE, rehearsal.IMAGE_SIDE, 3)
    assert np.array_equal(a, rehearsal.generated_image(0, 1, 0))
    assert not np.array_equal(a, rehearsal.generated_image(1, 1, 0))
    assert not np.array_equal(a, rehearsal.generated_image(0, 2, 0))


def test_the_untrained_backbone_is_explicit_seeded_and_only_in_the_rehearsal():
    spec = backbones.get_backbone_spec("alexnet_untrained")
    first, digest = backbones.load_pretrained_model("alexnet_untrained")
    second, _ = backbones.load_pretrained_model("alexnet_untrained")
    assert digest == "untrained-seed0"
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name  # the same numbers every time, whatever the global RNG did
    with pytest.raises(backbones.WeightsError, match="no weights file"):
        backbones.find_weights(spec)
    assert "UNTRAINED" in backbones.describe_weights(spec)
    assert config.get_profile("rehearsal").backbone == "alexnet_untrained"
    assert all(p.backbone != "alexnet_untrained" for p in config.PROFILES.values() if not p.rehearsal)
    data.check_profile_ready("rehearsal")  # needs neither downloads nor weights


def test_the_smoke_backbone_is_the_rehearsal_alexnet_with_narrow_fc_layers():
    full, _ = backbones.load_pretrained_model("alexnet_untrained")
    slim, digest = backbones.load_pretrained_model("alexnet_slim_untrained")
    assert digest == "untrained-seed0"
    # the same conv trunk, weight for weight: the gate's relu5 features are the rehearsal's
    for (name, a), (_, b) in zip(full.features.state_dict().items(), slim.features.state_dict().items()):
        assert torch.equal(a, b), name
    widths = [(m.in_features, m.out_features) for m in slim.classifier if isinstance(m, torch.nn.Linear)]
    assert widths == [(9216, backbones.SLIM_FC_WIDTH), (backbones.SLIM_FC_WIDTH, backbones.SLIM_FC_WIDTH),
                      (backbones.SLIM_FC_WIDTH, 1000)]
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in full.parameters()) / 15
    body, head = backbones.expert_parts(slim, "alexnet_slim_untrained")
    images = torch.zeros(2, 3, 227, 227, dtype=torch.uint8)
    assert body(images).shape == (2, backbones.SLIM_FC_WIDTH) and head.out_features == 1000
    with pytest.raises(backbones.WeightsError, match="no weights file"):
        backbones.find_weights(backbones.get_backbone_spec("alexnet_slim_untrained"))
    with pytest.raises(ValueError, match="only untrained"):
        backbones.slim_alexnet(weights="IMAGENET1K_V1")


def test_the_paper_profile_still_refuses_to_run_without_its_data(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EGLIB_DATA", str(tmp_path))
    with pytest.raises(data.DataError, match="get_paper_data.py scenes birds"):
        data.check_profile_ready("paper")
    # notebook 04 (Figure 6) also needs the relatedness study's datasets: refused before anything runs
    assert reproduce.paper_tasks_needed([Path("05_x.ipynb")]) == paper.PAPER_TASKS
    assert reproduce.main(["--profile", "paper", "--only", "04", "--runs", str(tmp_path / "runs")]) == 2
    assert "actions', 'svhn', 'letters', 'mnist']" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
