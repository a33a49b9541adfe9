"""A catalogue of bad inputs to the public API: each is refused by one exception of a documented
type (README, "Errors"), with a message that names the fix, before anything is written to disk.

Every case runs against a zoo that already holds task ``a`` (and a data folder beside it); the
whole tree's bytes are compared before and after the refusal.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import mini_task, register_fast_profile, snapshot
from eglib import data
from eglib.data.prepare import PaperDataError, load_prepared
from eglib.method.autoencoder import train_autoencoder
from eglib.method.learner import LifelongLearner
from eglib.method.standardizer import FeatureStandardizer
from eglib.method.zoo import ExpertZoo, ZooError
from eglib.run import reproduce
from eglib.video.clips import VideoDataError, check_clips, load_frame_folders

PROFILE = register_fast_profile()


@dataclass
class World:
    """The folder under test: ``zoo/`` with task ``a``, ``empty/`` (a zoo with statistics, no task)."""

    root: Path
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]

    @property
    def zoo(self) -> Path:
        return self.root / "zoo"

    def learner(self) -> LifelongLearner:
        return LifelongLearner(self.zoo, profile=PROFILE, device="cpu")

    def add(self, name: str = "b", train=None, val=None) -> None:
        self.learner().add_task(name, self.train if train is None else train, self.val if val is None else val)

    @property
    def damaged(self) -> Path:
        """A copy of the zoo that a case damages first (inside the tree: it must survive unchanged)."""
        return self.root / "damaged"


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("bad-inputs")
    base = data.load_mini().base[:60].copy()
    learner = LifelongLearner(root / "zoo", profile=PROFILE, reference_images=base, device="cpu")
    train, val = mini_task("shapes")
    learner.add_task("a", *mini_task("digits-a"))
    LifelongLearner(root / "empty", profile=PROFILE, reference_images=base, device="cpu")
    (root / "frames").mkdir()  # a frame folder with nothing in it
    digits = data.load_mini().domains["digits-a"].split("test")
    return World(root, train, val, (digits.images[:8].copy(), digits.labels[:8].copy()))


def relabel(pair: tuple[np.ndarray, np.ndarray], labels) -> tuple[np.ndarray, np.ndarray]:
    return pair[0], labels(pair[1])


def truncate_expert(zoo: Path) -> None:
    path = zoo / "a" / "expert.pt"
    path.write_bytes(path.read_bytes()[:-10])


def edit_manifest(change: Callable[[dict], object]) -> Callable[[Path], None]:
    """A damage: rewrite the zoo's manifest with ``change(manifest)`` (its result, if not None)."""
    def damage(zoo: Path) -> None:
        manifest = json.loads((zoo / "manifest.json").read_text())
        changed = change(manifest)
        (zoo / "manifest.json").write_text(json.dumps(manifest if changed is None else changed))
    return damage


def duplicate_task(manifest: dict) -> None:
    manifest["tasks"].append(dict(manifest["tasks"][0]))


def open_damaged(w: World) -> ExpertZoo:
    return ExpertZoo(w.damaged, profile=PROFILE)


def reproduce_exit(*argv: str) -> None:
    """``make reproduce``'s options: a refusal is exit status 2 with ``error: ...`` (raised here as SystemExit)."""
    status = reproduce.main(list(argv))
    if status == 2:
        raise SystemExit(2)


IMAGES = "uint8"
CASES: dict[str, tuple[Callable[[World], object], type[BaseException], str]] = {
    # constructing a learner
    "unknown profile": (lambda w: LifelongLearner(w.zoo, profile="mni"), ValueError, "Unknown profile 'mni'"),
    "unknown device": (lambda w: LifelongLearner(w.zoo, profile=PROFILE, device="tpu"), ValueError, "Unknown device"),
    "new zoo without reference images": (lambda w: LifelongLearner(w.root / "new", profile=PROFILE, device="cpu"),
                                         ValueError, "pass reference_images"),
    "new zoo with float reference images": (
        lambda w: LifelongLearner(w.root / "new", profile=PROFILE, device="cpu",
                                  reference_images=w.train[0].astype(np.float32)), ValueError, IMAGES),
    "a zoo of another profile": (lambda w: LifelongLearner(w.zoo, profile="mini", device="cpu"),
                                 ZooError, "profile/backbone"),
    # adding a task
    "float labels": (lambda w: w.add(train=relabel(w.train, lambda y: y + 0.5)), ValueError, "integer class indices"),
    "negative labels": (lambda w: w.add(train=relabel(w.train, lambda y: y - 1)), ValueError, "0..C-1; got -1"),
    "one-hot labels": (lambda w: w.add(train=relabel(w.train, lambda y: np.eye(6, dtype=np.int64)[y])),
                       ValueError, "one label per image"),
    "validation label outside the training classes": (
        lambda w: w.add(val=relabel(w.val, lambda y: y + 10)), ValueError, "is not a training class"),
    "mismatched lengths": (lambda w: w.add(train=(w.train[0], w.train[1][:-1])), ValueError, "60 training images but 59"),
    "empty training split": (lambda w: w.add(train=(w.train[0][:0], w.train[1][:0])), ValueError, "no training data"),
    "empty validation split": (lambda w: w.add(val=(w.val[0][:0], w.val[1][:0])), ValueError, "no validation data"),
    "one class": (lambda w: w.add(train=relabel(w.train, np.zeros_like)), ValueError, "single class"),
    "split not a pair": (lambda w: w.add(train=w.train[0]), ValueError, "as a pair (images, labels)"),
    "float images": (lambda w: w.add(train=(w.train[0].astype(np.float32), w.train[1])), ValueError, IMAGES),
    "grayscale images": (lambda w: w.add(train=(w.train[0][..., 0], w.train[1])), ValueError, "[N, H, W, 3]"),
    "four channels": (lambda w: w.add(train=(np.concatenate([w.train[0], w.train[0][..., :1]], -1), w.train[1])),
                      ValueError, "drop an alpha channel"),
    "name escaping the zoo": (lambda w: w.add("../escape"), ValueError, "it names a folder"),
    "empty name": (lambda w: w.add(""), ValueError, "it names a folder"),
    "name with a dot": (lambda w: w.add("digits.v2"), ValueError, "it names a folder"),
    "duplicate name": (lambda w: w.add("a"), ValueError, "already has a task 'a'"),
    "labels with a gap": (lambda w: w.add(train=relabel(w.train, lambda y: np.where(y == 5, 10**6, y))),
                          ValueError, "have no training image"),
    "images of zero height": (lambda w: w.add(train=(w.train[0][:, :0], w.train[1])), ValueError, "at least one pixel"),
    "the base task's name": (lambda w: w.add("base"), ValueError, "already has a task 'base'"),
    # using the learner
    "unknown task in predict": (lambda w: w.learner().predict(w.test[0], tasks=["nosuch"]), ValueError,
                                "No expert for ['nosuch']"),
    "unknown task in evaluate": (lambda w: w.learner().evaluate({"nosuch": w.test}), ValueError,
                                 "No expert for ['nosuch']"),
    "threshold outside [0, 1)": (lambda w: w.learner().predict(w.test[0], threshold=1.5), ValueError, "lies in [0, 1)"),
    "threshold that is a bool": (lambda w: w.learner().predict(w.test[0], threshold=True), ValueError, "lies in [0, 1)"),
    "no task in predict": (lambda w: w.learner().predict(w.test[0], tasks=[]), ValueError, "a non-empty list"),
    "one task name as a string": (lambda w: w.learner().predict(w.test[0], tasks="a"), ValueError, "a non-empty list"),
    "no test set": (lambda w: w.learner().evaluate({}), ValueError, "No test set given"),
    "test set not a pair": (lambda w: w.learner().evaluate({"a": w.test[0]}), ValueError, "pass a pair"),
    "test labels beyond the task's classes": (lambda w: w.learner().evaluate({"a": (w.test[0], w.test[1] + 10)}),
                                              ValueError, "has 5 classes"),
    "float images in predict": (lambda w: w.learner().predict(w.test[0] / 255.0), ValueError, IMAGES),
    "test labels of another length": (lambda w: w.learner().evaluate({"a": (w.test[0], w.test[1][:3])}),
                                      ValueError, "8 images but 3 labels"),
    "predict before any task": (
        lambda w: LifelongLearner(w.root / "empty", profile=PROFILE, device="cpu").predict(w.test[0]),
        ValueError, "call add_task first"),
    # features, autoencoders, the gate's statistics
    "NaN features": (lambda w: train_autoencoder(torch.full((4, 6), float("nan")), epochs=1), ValueError, "NaN"),
    "infinite reference features": (lambda w: FeatureStandardizer.fit(torch.full((4, 6), float("inf"))),
                                    ValueError, "NaN or infinite"),
    # the zoo on disk
    "truncated expert file": (lambda w: ExpertZoo(w.damaged, profile=PROFILE).expert("a"),
                              ZooError, "checksum"),
    "manifest path escaping the zoo": (open_damaged, ZooError, "manifest.json"),
    "manifest that is a list": (open_damaged, ZooError, "not an object with a list of tasks"),
    "manifest of another format": (open_damaged, ZooError, "this eglib reads format 1"),
    "manifest naming a task twice": (open_damaged, ZooError, "repeat"),
    "manifest with a task named base": (open_damaged, ZooError, "the base task's name"),
    "manifest record without its sha256": (open_damaged, ZooError, "lacks its 'file', 'bytes' or 'sha256'"),
    "a zoo path that is a file": (lambda w: ExpertZoo(w.root / "frames" / ".." / "zoo" / "manifest.json"),
                                  ZooError, "is a file, not a zoo folder"),
    # video frames
    "frame size not a multiple of 4": (lambda w: data.load_video_benchmark("mini", frame_size=0), ValueError,
                                       "positive multiple of 4"),
    "no frame folder": (lambda w: load_frame_folders(w.root / "no-frames"), VideoDataError, "Lay out your sequences"),
    "frame folder without domains": (lambda w: load_frame_folders(w.root / "frames"), VideoDataError, "no domain folders"),
    "float clips": (lambda w: check_clips(np.zeros((2, 6, 8, 8), np.float32)), VideoDataError, "convert('L')"),
    "clips too short": (lambda w: check_clips(np.zeros((2, 4, 8, 8), np.uint8)), VideoDataError, "Use longer clips"),
    # the paper data
    "a dataset never prepared": (lambda w: load_prepared("scenes", root=w.root / "paper"), PaperDataError,
                                 "get_paper_data.py"),
    # make reproduce's options
    "reproduce: unknown profile": (lambda w: reproduce_exit("--profile", "nosuch", "--runs", str(w.root / "runs")),
                                   SystemExit, ""),
    "reproduce: unknown device": (lambda w: reproduce_exit("--device", "tpu", "--runs", str(w.root / "runs")),
                                  SystemExit, ""),
    "reproduce: no such notebook": (lambda w: reproduce_exit("--only", "99", "--runs", str(w.root / "runs")),
                                    SystemExit, ""),
    "reproduce: resume of a folder that is no run": (
        lambda w: reproduce_exit("--resume", str(w.root / "frames"), "--runs", str(w.root / "runs")), SystemExit, ""),
}

# damage done to the copy of the zoo before the snapshot
DAMAGES = {
    "truncated expert file": truncate_expert,
    "manifest path escaping the zoo": edit_manifest(lambda m: m["tasks"][0]["expert"].update(file="../../../outside.pt")),
    "manifest that is a list": edit_manifest(lambda m: [m]),
    "manifest of another format": edit_manifest(lambda m: m.update(format=99)),
    "manifest naming a task twice": edit_manifest(duplicate_task),
    "manifest with a task named base": edit_manifest(lambda m: m["tasks"][0].update(name="base")),
    "manifest record without its sha256": edit_manifest(lambda m: m["tasks"][0]["expert"].pop("sha256") and None),
}
REPRODUCE_MESSAGES = {"reproduce: unknown profile": "Unknown profile 'nosuch'",
                      "reproduce: unknown device": "Unknown device 'tpu'",
                      "reproduce: no such notebook": "No notebook matches ['99']",
                      "reproduce: resume of a folder that is no run": "is not a run folder"}


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 25


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_refused_and_nothing_is_written(case, world, capsys, monkeypatch):
    monkeypatch.setenv("EGLIB_DATA", str(world.root / "data"))  # any data folder a call might create
    call, error, fragment = CASES[case]
    shutil.rmtree(world.damaged, ignore_errors=True)
    if case in DAMAGES:
        shutil.copytree(world.zoo, world.damaged)
        DAMAGES[case](world.damaged)
    before = snapshot(world.root)
    with pytest.raises(error) as raised:
        call(world)
    assert fragment in str(raised.value), str(raised.value)
    if error is SystemExit:
        assert REPRODUCE_MESSAGES[case] in capsys.readouterr().err
    assert snapshot(world.root) == before, f"{case}: the refusal changed files on disk"
