"""Names from split lists, archives and manifests never leave their folder: the helper, and its use by
the paper-data preparers, archive extraction and the expert zoo, on crafted input."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from conftest import snapshot
from test_paper_data import MANIFEST, make_actions, make_birds, make_scenes, photo, voc_xml
from test_zoo import filled_zoo, parts  # noqa: F401  (parts is the fixture filled_zoo needs)

from eglib.data import downloads, prepare
from eglib.method.zoo import ExpertZoo, ZooError
from eglib.safe_paths import UnsafeNameError, inside, plain_name, stays_inside


# -- the helper ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["2010_000001", "F-A-18", "img.jpg", ".hidden", "a b", "Motorrad_ü", "..."])
def test_plain_names_pass_unchanged(name):
    assert plain_name(name, "image id") == name


@pytest.mark.parametrize("name, problem", [
    ("", "it is empty"), (".", "names a folder itself"), ("..", "names a folder itself"),
    ("../escape", "path separator"), ("a/b", "path separator"), ("a\\b", "path separator"),
    ("/etc/passwd", "path separator"), ("a\x00b", "control character '\\x00'"),
    ("id\n", "control character '\\n'"), ("tab\there", "control character"), ("del\x7f", "control character"),
    (None, "NoneType, not a string"), (7, "int, not a string"),
])
def test_unsafe_names_are_refused_with_what_and_the_fix(name, problem):
    with pytest.raises(UnsafeNameError, match="Unsafe image id in train.txt") as caught:
        plain_name(name, "image id in train.txt")
    message = str(caught.value)
    assert problem in message and "replace it with the original" in message
    assert isinstance(caught.value, ValueError)
    with pytest.raises(UnsafeNameError, match="Rename it."):
        plain_name(name, "task name", fix="Rename it.")


@pytest.mark.parametrize("relative", ["expert.pt", "task/expert.pt", "./task/expert.pt", "task/../other/x.pt", "."])
def test_relative_paths_that_stay_inside_are_the_plain_join(tmp_path, relative):
    assert inside(tmp_path, relative, "file") == tmp_path / relative
    assert stays_inside(tmp_path, relative)


@pytest.mark.parametrize("relative, problem", [
    ("../x.pt", "it leaves"), ("task/../../x.pt", "it leaves"), ("/etc/passwd", "absolute path"),
    ("", "empty"), ("a\x00b", "control character"), ("a/b\r", "control character"),
])
def test_relative_paths_that_leave_are_refused(tmp_path, relative, problem):
    folder = tmp_path / "zoo"
    with pytest.raises(UnsafeNameError, match=problem):
        inside(folder, relative, "file path in the manifest")
    assert not stays_inside(folder, relative)


def test_a_symbolic_link_pointing_out_is_refused(tmp_path):
    folder, outside = tmp_path / "zoo", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (folder / "task").symlink_to(outside, target_is_directory=True)
    (folder / "ok").symlink_to(folder / "real", target_is_directory=True)
    with pytest.raises(UnsafeNameError, match="symbolic link"):
        inside(folder, "task/expert.pt", "file path")
    assert inside(folder, "ok/expert.pt", "file path") == folder / "ok" / "expert.pt"


# -- the preparers ------------------------------------------------------------------------------
def craft_actions(raw: Path) -> str:
    """VOC Actions whose train list names ``../../../../escape``: Annotations/<id>.xml and
    JPEGImages/<id>.jpg resolve to the test's own folder, and the crop's file name would too."""
    make_actions(raw)
    base = raw / "VOCdevkit" / "VOC2012"
    (raw.parent / "escape.xml").write_text(voc_xml([["jumping"]]))
    photo(raw.parent / "escape.jpg")
    (base / "ImageSets" / "Action" / "train.txt").write_text("2010_000001\n../../../../escape\n")
    return "image id in ImageSets/Action/train.txt"


def craft_scenes(raw: Path) -> str:
    make_scenes(raw)
    photo(raw.parent / "escape.jpg")
    with open(raw / "TrainImages.txt", "a") as listing:
        listing.write("bakery/../../../escape.jpg\n")
    return "image path in TrainImages.txt"


def craft_birds(raw: Path) -> str:
    make_birds(raw)
    photo(raw.parent / "escape.jpg")
    base = raw / "CUB_200_2011"
    with open(base / "images.txt", "a") as images, open(base / "train_test_split.txt", "a") as split:
        images.write("5 001.Black_footed_Albatross/../../../../escape.jpg\n")
        split.write("5 1\n")
    return "image path in images.txt"


@pytest.mark.parametrize("name, craft", [("actions", craft_actions), ("scenes", craft_scenes), ("birds", craft_birds)])
def test_crafted_split_lists_are_refused_and_nothing_is_written(tmp_path, name, craft):
    raw = tmp_path / "raw"
    what = craft(raw)
    (tmp_path / "out").mkdir()  # the prepared datasets' root, as data/paper is
    before = snapshot(tmp_path)
    entry = dataclasses.replace(MANIFEST[name], classes=2)
    with pytest.raises(prepare.PaperDataError, match=f"Unsafe {what}.*Delete raw/{name}/extracted"):
        prepare.prepare(entry, raw, tmp_path / "out")
    assert snapshot(tmp_path) == before  # no prepared folder, no partial one, nothing beside the raw files


def test_prepare_actions_itself_refuses_the_id_before_reading_or_writing(tmp_path):
    craft_actions(tmp_path / "raw")
    writer = prepare.PreparedWriter(tmp_path / "out")
    with pytest.raises(UnsafeNameError, match=r"Unsafe image id in ImageSets/Action/train.txt '\.\./"):
        prepare.prepare_actions(tmp_path / "raw", writer)
    assert not list(tmp_path.glob("escape_*"))
    assert sum(writer.counts["train"].values()) == 1  # the image listed before the crafted id


def test_the_writer_refuses_unsafe_file_and_class_names(tmp_path):
    photo(tmp_path / "a.jpg")
    writer = prepare.PreparedWriter(tmp_path / "out")
    with pytest.raises(UnsafeNameError, match="image file name"):
        writer.put("train", "cls", tmp_path / "a.jpg", stem="../../escape")
    for label in ("..", " . ", "tab\tname"):
        with pytest.raises(prepare.PaperDataError, match="cannot name a folder"):
            writer.put("train", label, tmp_path / "a.jpg")
    assert prepare.class_folder("F/A-18") == "F-A-18"  # a slash inside a class name is replaced, as before
    assert not (tmp_path / "escape.jpg").exists() and not (tmp_path / "out").exists()


# -- archives -----------------------------------------------------------------------------------
def zip_with(path: Path, names: list[str]) -> None:
    with zipfile.ZipFile(path, "w") as bundle:
        for name in names:
            bundle.writestr(name, b"x")


def tar_with_names(path: Path, names: list[str]) -> None:
    with tarfile.open(path, "w:gz") as bundle:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 1
            bundle.addfile(info, io.BytesIO(b"x"))


@pytest.mark.parametrize("writer, suffix", [(zip_with, "zip"), (tar_with_names, "tgz")])
@pytest.mark.parametrize("bad", ["../evil.txt", "d/../../evil.txt", "/tmp/eglib-evil.txt", "d/evil\x1b[2J.txt"])
def test_archives_with_escaping_members_are_refused_whole(tmp_path, writer, suffix, bad):
    archive = tmp_path / f"a.{suffix}"
    writer(archive, ["d/ok.txt", bad])
    with pytest.raises(downloads.DownloadError, match="refusing to extract"):
        downloads.safe_extract(archive, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*"))  # not even the good member
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/eglib-evil.txt").exists()


@pytest.mark.parametrize("writer, suffix", [(zip_with, "zip"), (tar_with_names, "tgz")])
def test_archives_with_safe_members_extract_as_before(tmp_path, writer, suffix):
    archive = tmp_path / f"a.{suffix}"
    writer(archive, ["./d/ok.txt", "d/sub/x.txt", "top.txt"])
    downloads.safe_extract(archive, tmp_path / "out")
    assert snapshot(tmp_path / "out") == {"d": None, "d/ok.txt": b"x", "d/sub": None, "d/sub/x.txt": b"x", "top.txt": b"x"}


# -- the zoo ------------------------------------------------------------------------------------
def craft_manifest(zoo: Path, change) -> None:
    manifest = json.loads((zoo / "manifest.json").read_text())
    change(manifest)
    (zoo / "manifest.json").write_text(json.dumps(manifest))


@pytest.fixture()
def zoo_and_outside(tmp_path, parts):  # noqa: F811
    """A two-task zoo in ``tmp_path/zoo`` and, outside it, a copy of task a's expert file (so a
    manifest pointing at it would pass the size and checksum test)."""
    zoo = tmp_path / "zoo"
    filled_zoo(zoo, parts)
    (tmp_path / "x.pt").write_bytes((zoo / "a" / "expert.pt").read_bytes())
    return zoo, tmp_path / "x.pt"


@pytest.mark.parametrize("label", ["dotdot", "absolute", "task_name", "standardizer"])
def test_a_manifest_naming_a_path_outside_the_zoo_is_refused(zoo_and_outside, label):
    zoo, outside = zoo_and_outside
    changes = {
        "dotdot": lambda m: m["tasks"][0]["expert"].update(file="../../x.pt"),
        "absolute": lambda m: m["tasks"][0]["expert"].update(file=str(outside)),
        "task_name": lambda m: m["tasks"][0].update(name=".."),
        "standardizer": lambda m: m["standardizer"].update(file="../x.pt"),
    }
    craft_manifest(zoo, changes[label])
    before = snapshot(zoo.parent)
    refusal = "breaks the rule" if label == "task_name" else "Unsafe .*manifest"  # the name rule comes first
    with pytest.raises(ZooError, match=rf"{refusal}.*manifest\.json is damaged or crafted: restore it"):
        ExpertZoo(zoo)
    assert snapshot(zoo.parent) == before


def test_a_manifest_path_swapped_after_opening_is_refused_on_load(zoo_and_outside):
    zoo, _ = zoo_and_outside
    opened = ExpertZoo(zoo)
    opened.manifest["tasks"][0]["expert"]["file"] = "../../x.pt"
    before = snapshot(zoo.parent)
    with pytest.raises(ZooError, match="leaves"):
        opened.expert("a")
    assert snapshot(zoo.parent) == before and opened.resident == []


def test_unsafe_task_names_are_refused_before_anything_is_written(tmp_path, parts):  # noqa: F811
    zoo = filled_zoo(tmp_path / "zoo", parts, tasks=("a",))
    before = snapshot(tmp_path)
    for name in ("../escape", "", "a/b", "x\n", ".", ".."):
        with pytest.raises(ValueError, match="names a folder|control character"):
            zoo.add_task(name, parts["autoencoders"][1], parts["expert"], {})
    assert snapshot(tmp_path) == before
    assert os.listdir(tmp_path) == ["zoo"]
