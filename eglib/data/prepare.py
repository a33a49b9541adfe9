"""The paper profile's datasets: from the downloaded files to one prepared layout, and back.

``data_scripts/get_paper_data.py`` fetches each dataset's files (:mod:`eglib.data.downloads`), extracts
them and calls :func:`prepare`, which turns the dataset's own layout (folders, annotation and
split files) into one layout shared by every dataset::

    <data_root>/paper/<dataset>/
        train/<class>/<image>.jpg      test/<class>/<image>.jpg
        classes.txt                     one class name per line, in label order
        ready.json                      image counts; written last

Every name read from a split list or annotation file (image ids, relative image paths, class names)
goes through :mod:`eglib.safe_paths`: a crafted ``../`` or absolute path is refused before anything
is read or written with it. Cars, Aircraft and Actions are cropped to their bounding boxes, as in the paper. Preparation
writes into ``<dataset>.partial`` and renames the folder into place only when it is complete, so
an interruption never leaves something that looks ready.
"""

from __future__ import annotations

import gzip
import json
import shutil
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from eglib import config
from eglib.data.downloads import DatasetEntry, load_manifest
from eglib.safe_paths import UnsafeNameError, inside, plain_name

SPLITS = ("train", "test")
VOC_ACTIONS = ("jumping", "phoning", "playinginstrument", "reading", "ridingbike", "ridinghorse", "running",
               "takingphoto", "usingcomputer", "walking")
LETTER_CLASSES = [f"upper_{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"] + [f"lower_{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
Box = tuple[float, float, float, float]


class PaperDataError(RuntimeError):
    """A dataset folder that cannot be used as it is; the message names the fix."""


def paper_root() -> Path:
    """``<data_root>/paper``: raw downloads under ``raw/``, prepared datasets beside them."""
    return config.data_root() / "paper"


def class_folder(name: str) -> str:
    """A class name as a safe folder name (``/`` and spaces replaced; what is still not a plain name,
    such as empty, ``.``, ``..`` or control characters, refused with :class:`PaperDataError`)."""
    folder = name.strip().replace("/", "-").replace("\\", "-").replace(" ", "_")
    try:
        return plain_name(folder, "class folder", fix="The annotation files are damaged: restore the originals.")
    except UnsafeNameError as error:
        raise PaperDataError(f"Class name {name!r} cannot name a folder. {error}") from error


class PreparedWriter:
    """Writes images into ``<folder>/<split>/<class>/`` and counts them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counts: dict[str, dict[str, int]] = {split: {} for split in SPLITS}

    def _target(self, split: str, label: str, stem: str, suffix: str = ".jpg") -> Path:
        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}; use {SPLITS}.")
        name = plain_name(f"{stem}{suffix}", "image file name")
        label_folder = class_folder(label)
        folder = self.folder / split / label_folder
        folder.mkdir(parents=True, exist_ok=True)
        self.counts[split][label_folder] = self.counts[split].get(label_folder, 0) + 1
        return folder / name

    def put(self, split: str, label: str, source: Path, box: Box | None = None, stem: str | None = None) -> None:
        """Copy image ``source`` (a JPEG is copied byte for byte) or its crop ``box = (x1, y1, x2, y2)``."""
        if not source.exists():
            raise PaperDataError(f"{source} is listed by the dataset's annotation files but missing: the files are "
                                 "not in the official layout (a repacked mirror?) or the extraction is stale. Delete "
                                 "raw/<dataset>/extracted and run the script again; if it persists, compare the "
                                 "archive with the layout in the preparer's docstring (eglib/data/prepare.py).")
        target = self._target(split, label, stem or source.stem)
        if box is None and source.suffix.lower() in (".jpg", ".jpeg"):
            shutil.copyfile(source, target)
            return
        with Image.open(source) as image:
            image = image.convert("RGB")
            if box is not None:
                x1, y1, x2, y2 = box
                image = image.crop((max(0, int(x1)), max(0, int(y1)), min(image.width, int(x2)), min(image.height, int(y2))))
            image.save(target, quality=95)

    def put_array(self, split: str, label: str, pixels: np.ndarray, stem: str) -> None:
        """Save a uint8 ``[H, W]`` or ``[H, W, 3]`` image losslessly (PNG)."""
        Image.fromarray(pixels).convert("RGB").save(self._target(split, label, stem, ".png"))


# -- one function per dataset: raw folder (downloads extracted) -> writer ------------------------
def prepare_scenes(raw: Path, out: PreparedWriter) -> None:
    """MIT Indoor 67: ``Images/<class>/<file>``; ``TrainImages.txt`` / ``TestImages.txt`` list ``<class>/<file>``."""
    for split, listing in (("train", "TrainImages.txt"), ("test", "TestImages.txt")):
        for line in (raw / listing).read_text().splitlines():
            if line.strip():
                source = inside(raw / "Images", line.strip(), f"image path in {listing}")
                out.put(split, line.strip().split("/")[0], source)


def prepare_birds(raw: Path, out: PreparedWriter) -> None:
    """CUB-200-2011: ``images.txt`` (id, path), ``train_test_split.txt`` (id, is_train); whole images."""
    base = raw / "CUB_200_2011"
    paths = dict(line.split(" ", 1) for line in (base / "images.txt").read_text().splitlines() if line.strip())
    for line in (base / "train_test_split.txt").read_text().splitlines():
        if line.strip():
            image_id, is_train = line.split()
            path = paths[image_id].strip()
            out.put("train" if is_train == "1" else "test", path.split("/")[0],
                    inside(base / "images", path, "image path in images.txt"))


def prepare_flowers(raw: Path, out: PreparedWriter) -> None:
    """Oxford 102: ``jpg/image_NNNNN.jpg``, labels 1..102 in ``imagelabels.mat``, ids in ``setid.mat``."""
    from scipy.io import loadmat

    labels = loadmat(raw / "imagelabels.mat")["labels"].ravel()
    sets = loadmat(raw / "setid.mat")
    for split, keys in (("train", ("trnid", "valid")), ("test", ("tstid",))):
        for key in keys:
            for index in sets[key].ravel():
                out.put(split, f"class_{labels[index - 1]:03d}", raw / "jpg" / f"image_{index:05d}.jpg")


def _mat_records(path: Path, key: str) -> list[dict]:
    from scipy.io import loadmat

    records = loadmat(path, squeeze_me=True, struct_as_record=False)[key]
    return [{field: getattr(r, field) for field in r._fieldnames} for r in np.atleast_1d(records)]


def prepare_cars(raw: Path, out: PreparedWriter) -> None:
    """Stanford Cars: devkit ``cars_meta.mat`` (class names), ``cars_train_annos.mat`` and
    ``cars_test_annos_withlabels.mat`` (bbox_x1..y2, class 1..196, fname); cropped to the box."""
    from scipy.io import loadmat

    names = [str(n) for n in loadmat(raw / "devkit" / "cars_meta.mat", squeeze_me=True)["class_names"]]
    for split, annotations, folder in (("train", raw / "devkit" / "cars_train_annos.mat", "cars_train"),
                                       ("test", raw / "cars_test_annos_withlabels.mat", "cars_test")):
        for record in _mat_records(annotations, "annotations"):
            # the devkit does not say whether boxes are 0- or 1-based; read as 0-based inclusive (+-1 px)
            box = (int(record["bbox_x1"]), int(record["bbox_y1"]), int(record["bbox_x2"]) + 1, int(record["bbox_y2"]) + 1)
            fname = plain_name(str(record["fname"]), f"file name in {annotations.name}")
            label = int(record["class"])
            if not 1 <= label <= len(names):
                raise PaperDataError(f"{annotations.name}: {fname} has class {label}, outside 1..{len(names)} of "
                                     "cars_meta.mat; the annotation files do not belong together. Fetch the devkit again.")
            out.put(split, names[label - 1], raw / folder / fname, box)


def prepare_aircraft(raw: Path, out: PreparedWriter) -> None:
    """FGVC-Aircraft 2013b: ``images_variant_{trainval,test}.txt`` (id, variant), ``images_box.txt``
    (id, x1, y1, x2, y2); cropped to the box (which also drops the copyright banner)."""
    base = raw / "fgvc-aircraft-2013b" / "data"
    boxes = {}
    for line in (base / "images_box.txt").read_text().splitlines():
        if line.strip():
            image_id, *coords = line.split()
            boxes[image_id] = tuple(float(c) for c in coords)
    for split, listing in (("train", "images_variant_trainval.txt"), ("test", "images_variant_test.txt")):
        for line in (base / listing).read_text().splitlines():
            if line.strip():
                image_id, variant = line.split(" ", 1)
                plain_name(image_id, f"image id in {listing}")
                x1, y1, x2, y2 = boxes[image_id]
                out.put(split, variant, base / "images" / f"{image_id}.jpg", (x1 - 1, y1 - 1, x2, y2))


def prepare_actions(raw: Path, out: PreparedWriter) -> None:
    """VOC2012 Actions: ``ImageSets/Action/{train,val}.txt`` list image ids; every person of
    ``Annotations/<id>.xml`` with exactly one of the 10 actions is cropped to its box."""
    base = raw / "VOCdevkit" / "VOC2012"
    for split, listing in (("train", "train.txt"), ("test", "val.txt")):
        for image_id in (base / "ImageSets" / "Action" / listing).read_text().split():
            plain_name(image_id, f"image id in ImageSets/Action/{listing}")
            root = ElementTree.parse(base / "Annotations" / f"{image_id}.xml").getroot()
            for index, person in enumerate(root.iter("object")):
                actions = person.find("actions")
                if actions is None:
                    continue
                positive = [a for a in VOC_ACTIONS if actions.find(a) is not None and actions.find(a).text.strip() == "1"]
                if len(positive) != 1:
                    continue  # several actions, or only "other": not a single-label sample
                box = person.find("bndbox")
                x1, y1, x2, y2 = (float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))
                # VOC boxes are 1-based and inclusive
                out.put(split, positive[0], base / "JPEGImages" / f"{image_id}.jpg", (x1 - 1, y1 - 1, x2, y2),
                        stem=f"{image_id}_{index}")


def prepare_svhn(raw: Path, out: PreparedWriter) -> None:
    """SVHN: ``X [32, 32, 3, N]`` and ``y [N, 1]`` (10 means the digit 0) per ``.mat`` file."""
    from scipy.io import loadmat

    for split, name in (("train", "train_32x32.mat"), ("test", "test_32x32.mat")):
        data = loadmat(raw / name)
        for index, label in enumerate(data["y"].ravel()):
            out.put_array(split, str(int(label) % 10), np.ascontiguousarray(data["X"][..., index]), f"{index:06d}")


def prepare_letters(raw: Path, out: PreparedWriter, seed: int = 0) -> None:
    """Chars74K GoodImg: ``English/Img/GoodImg/Bmp/SampleNNN/*.png``; 011-036 = A-Z, 037-062 = a-z
    (001-010, the digits, are left out). Seeded 2/3 : 1/3 split per class."""
    base = raw / "English" / "Img" / "GoodImg" / "Bmp"
    for offset, label in enumerate(LETTER_CLASSES):
        files = sorted((base / f"Sample{offset + 11:03d}").glob("*.png"))
        order = np.random.default_rng([seed, offset]).permutation(len(files))
        cut = int(round(len(files) * 2 / 3))
        for rank, index in enumerate(order):
            out.put("train" if rank < cut else "test", label, files[index])


def _idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)


def prepare_mnist(raw: Path, out: PreparedWriter) -> None:
    """MNIST: the four idx files (gzip), 28x28 images and labels."""
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images = _idx(raw / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        labels = _idx(raw / f"{prefix}-labels-idx1-ubyte.gz", 8)
        for index, (image, label) in enumerate(zip(images, labels)):
            out.put_array(split, str(label), image, f"{index:05d}")


PREPARERS: dict[str, Callable[[Path, PreparedWriter], None]] = {
    "scenes": prepare_scenes, "birds": prepare_birds, "flowers": prepare_flowers, "cars": prepare_cars,
    "aircraft": prepare_aircraft, "actions": prepare_actions, "svhn": prepare_svhn, "letters": prepare_letters,
    "mnist": prepare_mnist,
}


def prepare(entry: DatasetEntry, raw: Path, root: Path | None = None) -> dict[str, int]:
    """Build ``<root>/<dataset>`` from the extracted files in ``raw``; return image counts per split.

    Raises:
        PaperDataError: files the annotations list are missing, or the class count is not the
            dataset's (e.g. a partial extraction); nothing is left that looks ready.
    """
    root = root or paper_root()
    final, partial = root / entry.name, root / f"{entry.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    writer = PreparedWriter(partial)
    try:
        try:
            PREPARERS[entry.name](raw, writer)
        except UnsafeNameError as error:
            raise PaperDataError(f"{entry.title}: {error} Delete raw/{entry.name}/extracted and fetch the official "
                                 "files again; nothing was prepared.") from error
        except (OSError, KeyError, ValueError, IndexError, ElementTree.ParseError) as error:
            raise PaperDataError(f"{entry.title}: the files in {raw} are not in the expected layout "
                                 f"({type(error).__name__}: {error}). Delete raw/{entry.name}/extracted and run the "
                                 "script again.") from error
    except PaperDataError:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    classes = sorted(set(writer.counts["train"]) | set(writer.counts["test"]))
    if len(classes) != entry.classes:
        shutil.rmtree(partial, ignore_errors=True)
        raise PaperDataError(f"{entry.title}: found {len(classes)} classes in {raw}, expected {entry.classes}: the "
                             f"extraction is incomplete or not the official release. Delete raw/{entry.name}/extracted "
                             "and run the script again.")
    counts = {split: sum(writer.counts[split].values()) for split in SPLITS}
    (partial / "classes.txt").write_text("\n".join(classes) + "\n")
    (partial / "ready.json").write_text(json.dumps({"dataset": entry.name, "classes": len(classes), **counts}))
    replace_folder(partial, final)
    return counts


def replace_folder(new: Path, final: Path) -> None:
    """Put the complete folder ``new`` at ``final``: the old one is renamed aside first and removed
    only after the swap, so ``final`` is always either the old or the new folder, never a mix."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.replace(old)
    new.replace(final)
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class PreparedDataset:
    """A prepared dataset: class names and ``(path, label)`` lists per split."""

    name: str
    classes: list[str]
    train: list[tuple[Path, int]]
    test: list[tuple[Path, int]]

    def first_classes(self, count: int) -> "PreparedDataset":
        """The same dataset restricted to its first ``count`` classes (labels unchanged)."""
        train, test = ([(path, label) for path, label in items if label < count] for items in (self.train, self.test))
        return PreparedDataset(self.name, self.classes[:count], train, test)


def load_prepared(name: str, root: Path | None = None) -> PreparedDataset:
    """Index a prepared dataset folder, checking it against the manifest.

    Raises:
        PaperDataError: not prepared (or interrupted), or class folders missing / extra compared
            with ``classes.txt`` and the manifest.
    """
    entry = load_manifest()[name]
    folder = (root or paper_root()) / name
    if not (folder / "ready.json").exists():
        raise PaperDataError(f"{entry.title} is not prepared in {folder}. Run `python data_scripts/get_paper_data.py "
                             f"{name}` (see README, 'Paper datasets').")
    classes = [line.strip() for line in (folder / "classes.txt").read_text().splitlines() if line.strip()]
    if len(classes) != entry.classes:
        raise PaperDataError(f"{folder}/classes.txt lists {len(classes)} classes, {entry.title} has {entry.classes}.")
    splits = {}
    for split in SPLITS:
        # hidden folders (.ipynb_checkpoints, .DS_Store-style debris) are not classes
        found = sorted(p.name for p in (folder / split).iterdir() if p.is_dir() and not p.name.startswith("."))
        missing, extra = sorted(set(classes) - set(found)), sorted(set(found) - set(classes))
        if missing or extra:
            raise PaperDataError(f"{folder / split}: missing class folders {missing[:5]}, extra {extra[:5]}. "
                                 f"Prepare it again with `python data_scripts/get_paper_data.py {name}`.")
        splits[split] = [(path, label) for label, cls in enumerate(classes)
                         for path in sorted((folder / split / cls).iterdir())
                         if path.is_file() and not path.name.startswith(".")]
    return PreparedDataset(name, classes, splits["train"], splits["test"])


def read_images(items: list[tuple[Path, int]], size: int) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Read images as uint8 ``[N, size, size, 3]`` with labels ``[N]``; unreadable files are skipped.

    Returns:
        ``(images, labels, skipped)``: the corrupt or unreadable files are listed, never fatal.
    """
    images = np.empty((len(items), size, size, 3), dtype=np.uint8)  # filled in place: no second copy
    labels, skipped = [], []
    for path, label in items:
        try:
            with Image.open(path) as image:
                images[len(labels)] = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
            labels.append(label)
        except (UnidentifiedImageError, OSError, ValueError):
            skipped.append(path)
    if not labels:
        raise PaperDataError(f"None of the {len(items)} images could be read.")
    return images[:len(labels)], np.asarray(labels, dtype=np.int64), skipped
