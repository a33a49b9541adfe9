"""The paper profile's benchmark from prepared datasets, the ImageNet base folder, and readiness checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_paper_data import MANIFEST, make_birds, make_scenes, photo

from eglib import data
from eglib.data import downloads, paper, prepare


@pytest.fixture()
def prepared(tmp_path, monkeypatch):
    """Tiny Scenes and Birds prepared under a private data root (2 classes each)."""
    monkeypatch.setenv("EGLIB_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("EGLIB_IMAGENET_DIR", raising=False)
    small = {name: dataclasses.replace(MANIFEST[name], classes=2) for name in ("scenes", "birds")}
    monkeypatch.setattr(prepare, "load_manifest", lambda: small)
    for name, maker in (("scenes", make_scenes), ("birds", make_birds)):
        maker(tmp_path / "raw" / name)
        prepare.prepare(small[name], tmp_path / "raw" / name)
    return tmp_path


def test_paper_benchmark_from_prepared_datasets(prepared, monkeypatch):
    with pytest.raises(prepare.PaperDataError, match="birds: no val images"):
        paper.load_paper(("scenes", "birds"), size=32)  # one training image per class
    bench = paper.load_paper(("scenes",), size=32)
    assert bench.names == ["scenes"]
    scenes = bench.domains["scenes"]
    assert scenes.train.images.shape[1:] == (32, 32, 3) and scenes.classes == ["airport_inside", "bakery"]
    assert len(scenes.train) + len(scenes.val) == 4 and len(scenes.val) == 2  # one held out per class
    assert bench.meta["base_source"] == "mini stand-in" and bench.base.ndim == 4
    imagenet = prepared / "imagenet"
    for i in range(3):
        photo(imagenet / f"ILSVRC2012_val_{i + 1:08d}.JPEG", seed=i)
    photo(imagenet / "n01440764" / "n01440764_1.JPEG")
    monkeypatch.setenv("EGLIB_IMAGENET_DIR", str(imagenet))
    again = paper.load_paper(("scenes",), size=32)
    assert again.meta["base_source"] == "imagenet" and again.base.shape == (4, 32, 32, 3)
    assert np.array_equal(again.domains["scenes"].val.images, scenes.val.images)  # seeded hold-out


def test_a_wrong_imagenet_folder_is_named(tmp_path):
    with pytest.raises(prepare.PaperDataError, match="is not a folder"):
        paper.imagenet_files(tmp_path / "nope")
    photo(tmp_path / "holiday.jpg")
    with pytest.raises(prepare.PaperDataError, match="does not look like ImageNet"):
        paper.imagenet_files(tmp_path)


def test_paper_profile_readiness_names_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("EGLIB_DATA", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(data.DataError, match=r"get_paper_data.py scenes birds flowers cars aircraft actions"):
        data.check_profile_ready("paper")
    for name in paper.PAPER_TASKS:  # pretend every dataset is prepared
        (tmp_path / "paper" / name).mkdir(parents=True)
        (tmp_path / "paper" / name / "ready.json").write_text("{}")
    with pytest.raises(data.DataError, match="alexnet-owt-7be5be79.pth"):
        data.check_profile_ready("paper")
    data.check_profile_ready("mini")  # always ready: built on demand
    assert set(downloads.load_manifest()) >= set(paper.PAPER_TASKS) | set(paper.RELATEDNESS_TASKS)
