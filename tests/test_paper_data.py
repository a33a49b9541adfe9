"""Paper datasets offline: every preparer on tiny files generated in that dataset's real layout,
verified downloads, safe extraction, and nothing that looks ready after a failure."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import tarfile

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from eglib.data import downloads, prepare

MANIFEST = downloads.load_manifest()


def photo(path, size=(40, 30), seed=0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def make_scenes(raw):
    lines = {"TrainImages.txt": [], "TestImages.txt": []}
    for c, cls in enumerate(("airport_inside", "bakery")):
        for i in range(3):
            photo(raw / "Images" / cls / f"{cls}_{i}.jpg", seed=c * 10 + i)
            lines["TrainImages.txt" if i < 2 else "TestImages.txt"].append(f"{cls}/{cls}_{i}.jpg")
    photo(raw / "Images" / "bakery" / "unlisted.jpg")  # not in a split file: ignored
    for name, rows in lines.items():
        (raw / name).write_text("\n".join(rows) + "\n")
    return 2, {"train": 4, "test": 2}


def make_birds(raw):
    base = raw / "CUB_200_2011"
    images, split = [], []
    for i, cls in enumerate(["001.Black_footed_Albatross"] * 2 + ["002.Laysan_Albatross"] * 2):
        rel = f"{cls}/{cls.split('.')[1]}_{i}.jpg"
        photo(base / "images" / rel, seed=i)
        images.append(f"{i + 1} {rel}")
        split.append(f"{i + 1} {i % 2}")
    (base / "images.txt").write_text("\n".join(images) + "\n")
    (base / "train_test_split.txt").write_text("\n".join(split) + "\n")
    return 2, {"train": 2, "test": 2}


def make_flowers(raw):
    for i in range(1, 7):
        photo(raw / "jpg" / f"image_{i:05d}.jpg", seed=i)
    savemat(raw / "imagelabels.mat", {"labels": np.array([[1, 1, 2, 2, 3, 3]])})
    savemat(raw / "setid.mat", {"trnid": np.array([[1, 3]]), "valid": np.array([[5]]), "tstid": np.array([[2, 4, 6]])})
    return 3, {"train": 3, "test": 3}


def _annotations(rows):
    dtype = [(k, "O") for k in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")]
    return np.array([tuple(r) for r in rows], dtype=dtype)


def make_cars(raw):
    for folder in ("cars_train", "cars_test"):
        for i in range(1, 3):
            photo(raw / folder / f"{i:05d}.jpg", size=(60, 50), seed=i)
    (raw / "devkit").mkdir(parents=True)
    savemat(raw / "devkit" / "cars_meta.mat", {"class_names": np.array([["AM General Hummer SUV 2000", "Ram C/V Cargo Van Minivan 2012"]], dtype=object)})
    savemat(raw / "devkit" / "cars_train_annos.mat",
            {"annotations": _annotations([(5, 6, 24, 30, 1, "00001.jpg"), (0, 0, 59, 49, 2, "00002.jpg")])})
    savemat(raw / "cars_test_annos_withlabels.mat",
            {"annotations": _annotations([(10, 10, 29, 19, 2, "00001.jpg"), (1, 1, 10, 10, 1, "00002.jpg")])})
    return 2, {"train": 2, "test": 2}


def make_aircraft(raw):
    base = raw / "fgvc-aircraft-2013b" / "data"
    ids = ["0034309", "0034958", "0037511", "0037512"]
    for i, image_id in enumerate(ids):
        photo(base / "images" / f"{image_id}.jpg", size=(60, 50), seed=i)
    (base / "images_box.txt").write_text("\n".join(f"{i} 3 4 22 31" for i in ids) + "\n")
    (base / "images_variant_trainval.txt").write_text(f"{ids[0]} 707-320\n{ids[1]} F/A-18\n")
    (base / "images_variant_test.txt").write_text(f"{ids[2]} 707-320\n{ids[3]} F/A-18\n")
    return 2, {"train": 2, "test": 2}


def voc_xml(people) -> str:
    objects = "".join(
        "<object><name>person</name><bndbox><xmin>2.5</xmin><ymin>3</ymin><xmax>20</xmax><ymax>25</ymax></bndbox>"
        "<actions>" + "".join(f"<{a}>{int(a in acts)}</{a}>" for a in (*prepare.VOC_ACTIONS, "other")) + "</actions></object>"
        for acts in people)
    return f"<annotation><filename>x.jpg</filename>{objects}</annotation>"


def make_actions(raw):
    base = raw / "VOCdevkit" / "VOC2012"
    people = {"2010_000001": [["jumping"], ["jumping", "running"]],   # the second person has two labels: dropped
              "2010_000002": [["phoning"], ["other"]],                 # "other" only: dropped
              "2010_000003": [["jumping"]], "2010_000004": [["phoning"]]}
    for image_id, persons in people.items():
        photo(base / "JPEGImages" / f"{image_id}.jpg", seed=len(persons))
        (base / "Annotations").mkdir(parents=True, exist_ok=True)
        (base / "Annotations" / f"{image_id}.xml").write_text(voc_xml(persons))
    (base / "ImageSets" / "Action").mkdir(parents=True)
    (base / "ImageSets" / "Action" / "train.txt").write_text("2010_000001\n2010_000002\n")
    (base / "ImageSets" / "Action" / "val.txt").write_text("2010_000003\n2010_000004\n")
    return 2, {"train": 2, "test": 2}


def make_svhn(raw):
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name, labels in (("train_32x32.mat", [10, 1, 2, 10]), ("test_32x32.mat", [1, 2])):
        savemat(raw / name, {"X": rng.integers(0, 256, (32, 32, 3, len(labels)), dtype=np.uint8),
                             "y": np.array(labels, dtype=np.uint8)[:, None]})
    return 3, {"train": 4, "test": 2}


def make_letters(raw):
    base = raw / "English" / "Img" / "GoodImg" / "Bmp"
    for sample in (1, 11, 37):  # a digit (left out), 'A', 'a'
        for i in range(3):
            photo(base / f"Sample{sample:03d}" / f"img{sample:03d}-{i:05d}.png", seed=sample + i)
    return 2, {"train": 4, "test": 2}


def make_mnist(raw):
    raw.mkdir(parents=True)
    for prefix, labels in (("train", [0, 1, 1]), ("t10k", [0, 1])):
        images = np.random.default_rng(1).integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
        with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as out:
            out.write(b"\0" * 16 + images.tobytes())
        with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as out:
            out.write(b"\0" * 8 + bytes(labels))
    return 2, {"train": 3, "test": 2}


MAKERS = {"scenes": make_scenes, "birds": make_birds, "flowers": make_flowers, "cars": make_cars,
          "aircraft": make_aircraft, "actions": make_actions, "svhn": make_svhn, "letters": make_letters,
          "mnist": make_mnist}


def test_every_manifest_dataset_has_a_preparer_and_checked_fields():
    assert set(MANIFEST) == set(prepare.PREPARERS) == set(MAKERS)
    for entry in MANIFEST.values():
        assert entry.files and entry.split
        for file in entry.files:
            assert file.url.startswith("http") and file.hash_source
            assert file.hash is None or file.hash.split(":")[0] in ("md5", "sha256")
    assert all(f.manual for f in MANIFEST["cars"].files)  # the original host is gone


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_preparer_on_the_real_layout(tmp_path, name):
    raw = tmp_path / "raw"
    classes, counts = MAKERS[name](raw)
    entry = dataclasses.replace(MANIFEST[name], classes=classes)
    assert prepare.prepare(entry, raw, tmp_path / "out") == counts
    folder = tmp_path / "out" / name
    assert not (tmp_path / "out" / f"{name}.partial").exists()
    names = (folder / "classes.txt").read_text().split()
    assert len(names) == classes and all("/" not in n for n in names)
    items = [(p, 0) for p in sorted((folder / "train").rglob("*")) if p.is_file()]
    images, labels, skipped = prepare.read_images(items, 16)
    assert images.shape == (counts["train"], 16, 16, 3) and skipped == []


def test_crops_follow_the_boxes(tmp_path):
    make_cars(tmp_path / "raw")
    prepare.prepare(dataclasses.replace(MANIFEST["cars"], classes=2), tmp_path / "raw", tmp_path / "out")
    crop = Image.open(tmp_path / "out" / "cars" / "train" / "AM_General_Hummer_SUV_2000" / "00001.jpg")
    assert crop.size == (20, 25)  # x 5..24, y 6..30, inclusive


def test_missing_classes_or_files_leave_nothing_that_looks_ready(tmp_path):
    raw = tmp_path / "raw"
    make_scenes(raw)
    with pytest.raises(prepare.PaperDataError, match="found 2 classes.*expected 67"):
        prepare.prepare(MANIFEST["scenes"], raw, tmp_path / "out")
    (raw / "Images" / "bakery" / "bakery_0.jpg").unlink()
    with pytest.raises(prepare.PaperDataError, match="bakery_0.jpg is listed.*missing"):
        prepare.prepare(dataclasses.replace(MANIFEST["scenes"], classes=2), raw, tmp_path / "out")
    assert not (tmp_path / "out" / "scenes").exists()


def test_loading_checks_classes_and_skips_corrupt_images(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "load_manifest", lambda: {"scenes": dataclasses.replace(MANIFEST["scenes"], classes=2)})
    with pytest.raises(prepare.PaperDataError, match="get_paper_data.py scenes"):
        prepare.load_prepared("scenes", tmp_path / "out")
    make_scenes(tmp_path / "raw")
    prepare.prepare(dataclasses.replace(MANIFEST["scenes"], classes=2), tmp_path / "raw", tmp_path / "out")
    dataset = prepare.load_prepared("scenes", tmp_path / "out")
    assert dataset.classes == ["airport_inside", "bakery"] and len(dataset.train) == 4
    dataset.train[0][0].write_bytes(b"not a jpeg")
    images, labels, skipped = prepare.read_images(dataset.train, 8)
    assert len(images) == 3 and skipped == [dataset.train[0][0]]
    (tmp_path / "out" / "scenes" / "test" / ".ipynb_checkpoints").mkdir()  # hidden: neither a class nor an image
    (tmp_path / "out" / "scenes" / "train" / "bakery" / ".DS_Store").write_bytes(b"\0")
    assert len(prepare.load_prepared("scenes", tmp_path / "out").train) == 4
    (tmp_path / "out" / "scenes" / "test" / "extra_class").mkdir()
    with pytest.raises(prepare.PaperDataError, match=r"extra \['extra_class'\]"):
        prepare.load_prepared("scenes", tmp_path / "out")


def remote(path, **changes) -> downloads.RemoteFile:
    digest = hashlib.md5(path.read_bytes()).hexdigest() if path.exists() else "0" * 32
    fields = {"name": path.name, "url": "https://example.invalid/" + path.name, "hash": f"md5:{digest}",
              "hash_source": "test", "page": "https://example.invalid/page"}
    return downloads.RemoteFile(**{**fields, **changes})


def test_fetch_verifies_present_files_and_explains_what_is_missing(tmp_path, monkeypatch):
    folder = tmp_path / "files"
    folder.mkdir()
    good = folder / "a.tgz"
    good.write_bytes(b"official bytes")
    assert downloads.fetch(remote(good), folder) == good
    with pytest.raises(downloads.DownloadError, match="does not match the md5"):
        downloads.fetch(remote(good, hash="md5:" + "0" * 32), folder)
    assert good.read_bytes() == b"official bytes"  # a mismatch deletes nothing
    with pytest.raises(downloads.DownloadError, match="has 14 bytes, the official a.tgz has 99"):
        downloads.fetch(remote(good, size=99), folder)
    with pytest.raises(downloads.DownloadError, match=r"by hand from https://example.invalid/page and put it at .*b.tgz"):
        downloads.fetch(remote(folder / "b.tgz", manual=True), folder)
    monkeypatch.setattr(downloads, "host_reachable", lambda url, timeout=3.0: False)
    with pytest.raises(downloads.DownloadError, match="Offline: cannot reach example.invalid"):
        downloads.fetch(remote(folder / "c.tgz"), folder)
    monkeypatch.setattr(downloads, "host_reachable", lambda url, timeout=3.0: True)
    with pytest.raises(downloads.DownloadError, match="--accept-unverified"):
        downloads.fetch(remote(folder / "d.tgz", hash=None), folder)


def test_host_reachable_fails_fast_without_network(monkeypatch):
    import socket
    import time

    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)  # the hosts below must answer themselves, not a proxy
    start = time.perf_counter()
    assert not downloads.host_reachable("http://192.0.2.1/x", timeout=0.5)  # TEST-NET-1 (RFC 5737): no one answers
    assert time.perf_counter() - start < 2
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/file.tgz"
        assert downloads.host_reachable(url, timeout=1.0)  # a host that listens is reachable
    assert not downloads.host_reachable(url, timeout=1.0)  # the same port closed: refused


def test_behind_a_proxy_the_proxy_is_the_host_that_must_answer(monkeypatch):
    import socket

    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        assert downloads.host_reachable("https://unreachable.invalid/file.tgz", timeout=1.0)  # the proxy answers
    # the same proxy, closed now: offline, although the download's own host is not even looked up
    assert not downloads.host_reachable("https://unreachable.invalid/file.tgz", timeout=1.0)


def tar_with(path, members) -> None:
    with tarfile.open(path, "w:gz") as bundle:
        for info, data in members:
            bundle.addfile(info, io.BytesIO(data) if data is not None else None)


def test_safe_extract_refuses_members_that_escape(tmp_path):
    def file(name, data=b"x"):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        return info, data

    def link(name, target):
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, target
        return info, None

    ok = tmp_path / "ok.tgz"
    tar_with(ok, [file("d/a.txt"), link("d/b.txt", "a.txt")])
    downloads.safe_extract(ok, tmp_path / "out")
    assert (tmp_path / "out" / "d" / "a.txt").read_bytes() == b"x"
    for bad_name, members in (("up", [file("../evil.txt")]), ("abs", [file("/tmp/evil.txt")]),
                              ("link", [link("d/escape", "../../../etc/passwd")])):
        bad = tmp_path / f"{bad_name}.tgz"
        tar_with(bad, members)
        with pytest.raises(downloads.DownloadError, match="refusing to extract"):
            downloads.safe_extract(bad, tmp_path / f"x_{bad_name}")
        assert not any((tmp_path / f"x_{bad_name}").rglob("*"))
    assert not (tmp_path / "evil.txt").exists()


def test_get_paper_data_end_to_end_from_local_archives(tmp_path, monkeypatch, capsys):
    """The script on a test manifest whose archive is already in place: verified, extracted, prepared."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("get_paper_data", Path(__file__).parent.parent / "data_scripts" / "get_paper_data.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    make_birds(tmp_path / "layout")
    files = tmp_path / "root" / "raw" / "birds" / "files"
    files.mkdir(parents=True)
    archive = files / "CUB_200_2011.tgz"
    with tarfile.open(archive, "w:gz") as bundle:
        bundle.add(tmp_path / "layout" / "CUB_200_2011", arcname="CUB_200_2011")
    entry = dataclasses.replace(MANIFEST["birds"], classes=2, files=(remote(archive),))
    monkeypatch.setattr(downloads, "load_manifest", lambda: {"birds": entry})
    assert script.main(["birds", "--root", str(tmp_path / "root")]) == 0
    assert "ready in" in capsys.readouterr().out
    assert (tmp_path / "root" / "birds" / "ready.json").exists()
    archive.write_bytes(archive.read_bytes()[:100])  # truncated: refused, the prepared folder untouched
    assert script.main(["birds", "--root", str(tmp_path / "root")]) == 1
    assert "does not match the md5" in capsys.readouterr().err
    assert script.main(["nope"]) == 2

