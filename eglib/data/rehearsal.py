"""The rehearsal profile's data: the paper's nine datasets, generated in their real raw layouts.

``PROFILE=rehearsal`` runs every notebook on the paper profile's code path (AlexNet at 227 px,
relu5 gate features, whole-network experts, the paper's tasks in the paper's order, an ImageNet
base task) where neither the datasets nor AlexNet's ImageNet weights can be had. :func:`build`
writes, for every dataset of ``eglib/data/paper_datasets.json``, the files its official archive
extracts to (split lists, ``.mat`` annotations, VOC XML, idx files ...), with the dataset's full
class count and a few small generated images per class, then prepares them with the same
:func:`eglib.data.prepare.prepare` a real download goes through. It also writes a folder of
``ILSVRC2012_val_*.JPEG`` files that stands in for ``EGLIB_IMAGENET_DIR``, and a folder of
frame sequences (``video/<domain>/<sequence>/<frame>.png`` with ``order.txt``, the mini video
domains written out) that stands in for ``EGLIB_VIDEO_DIR``.

Every task has its own colour cast and every class its own stripe pattern, so even an untrained
network separates the tasks a little; that makes the routing code do real work, but the
numbers of a rehearsal measure nothing about Expert Gate.
"""

from __future__ import annotations

import gzip
import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image

from eglib import config
from eglib.data import prepare
from eglib.data.downloads import load_manifest
from eglib.video import clips

try:
    import fcntl  # POSIX: the lock that lets concurrent callers of ensure_built build once
except ImportError:  # pragma: no cover - Windows: no lock; build the data once before parallel runs
    fcntl = None

REHEARSAL_VERSION = 2
IMAGE_SIDE = 64         # generated images are small; the loader resizes them to 227 px
IMAGENET_IMAGES = 120   # the stand-in ImageNet validation folder
VIDEO_SEQUENCES = {"train": 40, "val": 6, "test": 14}  # per video domain, one 6-frame clip each
# images per class in the raw "train" and "test" lists; the loader holds out one of the two
# training images per class as validation
PER_CLASS = {"train": 2, "test": 1}

Sample = tuple[str, int, int]  # (split, class index, image index within the class and split)


def rehearsal_root() -> Path:
    """``<data_root>/rehearsal``: prepared datasets beside ``imagenet/`` and ``ready.json``."""
    return config.data_root() / "rehearsal"


def generated_image(task: int, label: int, index: int, side: int = IMAGE_SIDE) -> np.ndarray:
    """A uint8 ``[side, side, 3]`` image: the task's colour cast, the class's stripes, seeded noise."""
    rng = np.random.default_rng([task, label, index])
    grid = np.linspace(0.0, 1.0, side)
    angle = 0.7 * label
    frequency = 2 + label % 7
    stripes = np.sin(2 * np.pi * frequency * (np.cos(angle) * grid[None, :] + np.sin(angle) * grid[:, None]))
    cast = np.array([np.sin(1.3 * task), np.cos(1.3 * task), np.sin(2.1 * task + 1)])
    pixels = 128 + 60 * stripes[..., None] + 50 * cast + 25 * rng.standard_normal((side, side, 3))
    return np.clip(pixels, 0, 255).astype(np.uint8)


def _samples(classes: int) -> list[Sample]:
    return [(split, label, index) for label in range(classes) for split, count in PER_CLASS.items()
            for index in range(count)]


def _save(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=92)


# -- one writer per dataset: the raw files its official archive extracts to --------------------
def write_scenes(raw: Path, task: int, classes: int) -> None:
    lists = {"train": [], "test": []}
    for split, label, index in _samples(classes):
        name = f"scene{label:02d}/{split}_{index}.jpg"
        _save(raw / "Images" / name, generated_image(task, label, index + 10 * (split == "test")))
        lists[split].append(name)
    (raw / "TrainImages.txt").write_text("\n".join(lists["train"]) + "\n")
    (raw / "TestImages.txt").write_text("\n".join(lists["test"]) + "\n")


def write_birds(raw: Path, task: int, classes: int) -> None:
    base = raw / "CUB_200_2011"
    images, splits = [], []
    for number, (split, label, index) in enumerate(_samples(classes), 1):
        name = f"{label + 1:03d}.Bird_{label}/Bird_{label}_{split}_{index}.jpg"
        _save(base / "images" / name, generated_image(task, label, number))
        images.append(f"{number} {name}")
        splits.append(f"{number} {int(split == 'train')}")
    (base / "images.txt").write_text("\n".join(images) + "\n")
    (base / "train_test_split.txt").write_text("\n".join(splits) + "\n")


def write_flowers(raw: Path, task: int, classes: int) -> None:
    from scipy.io import savemat

    labels, ids = [], {"trnid": [], "valid": [], "tstid": []}
    for number, (split, label, index) in enumerate(_samples(classes), 1):
        _save(raw / "jpg" / f"image_{number:05d}.jpg", generated_image(task, label, number))
        labels.append(label + 1)
        ids["tstid" if split == "test" else ("trnid", "valid")[index % 2]].append(number)
    savemat(raw / "imagelabels.mat", {"labels": np.array([labels])})
    savemat(raw / "setid.mat", {key: np.array([value]) for key, value in ids.items()})


def write_cars(raw: Path, task: int, classes: int) -> None:
    from scipy.io import savemat

    dtype = [(key, "O") for key in ("bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "fname")]
    records = {"train": [], "test": []}
    for number, (split, label, index) in enumerate(_samples(classes), 1):
        name = f"{number:05d}.jpg"
        _save(raw / f"cars_{split}" / name, np.pad(generated_image(task, label, number), ((4, 4), (8, 8), (0, 0))))
        records[split].append((8, 4, 8 + IMAGE_SIDE - 1, 4 + IMAGE_SIDE - 1, label + 1, name))  # the box around the car
    (raw / "devkit").mkdir(parents=True, exist_ok=True)
    savemat(raw / "devkit" / "cars_meta.mat",
            {"class_names": np.array([[f"Maker{label} Model {2000 + label}" for label in range(classes)]], dtype=object)})
    savemat(raw / "devkit" / "cars_train_annos.mat", {"annotations": np.array(records["train"], dtype=dtype)})
    savemat(raw / "cars_test_annos_withlabels.mat", {"annotations": np.array(records["test"], dtype=dtype)})


def write_aircraft(raw: Path, task: int, classes: int) -> None:
    base = raw / "fgvc-aircraft-2013b" / "data"
    boxes, lists = [], {"train": [], "test": []}
    for number, (split, label, index) in enumerate(_samples(classes), 1):
        image_id = f"{1000000 + number:07d}"
        banner = np.zeros((20, IMAGE_SIDE, 3), dtype=np.uint8)  # the copyright banner the box leaves out
        _save(base / "images" / f"{image_id}.jpg", np.concatenate([generated_image(task, label, number), banner]))
        boxes.append(f"{image_id} 1 1 {IMAGE_SIDE} {IMAGE_SIDE}")
        lists[split].append(f"{image_id} Variant-{label}")
    (base / "images_box.txt").write_text("\n".join(boxes) + "\n")
    (base / "images_variant_trainval.txt").write_text("\n".join(lists["train"]) + "\n")
    (base / "images_variant_test.txt").write_text("\n".join(lists["test"]) + "\n")


def write_actions(raw: Path, task: int, classes: int) -> None:
    base = raw / "VOCdevkit" / "VOC2012"
    actions = prepare.VOC_ACTIONS[:classes]
    lists = {"train": [], "test": []}
    (base / "Annotations").mkdir(parents=True, exist_ok=True)
    for number, (split, label, index) in enumerate(_samples(classes), 1):
        image_id = f"2011_{number:06d}"
        _save(base / "JPEGImages" / f"{image_id}.jpg", generated_image(task, label, number))
        flags = "".join(f"<{a}>{int(a == actions[label])}</{a}>" for a in (*prepare.VOC_ACTIONS, "other"))
        person = (f"<object><name>person</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>{IMAGE_SIDE}</xmax>"
                  f"<ymax>{IMAGE_SIDE}</ymax></bndbox><actions>{flags}</actions></object>")
        (base / "Annotations" / f"{image_id}.xml").write_text(
            f"<annotation><filename>{escape(image_id)}.jpg</filename>{person}</annotation>")
        lists[split].append(image_id)
    (base / "ImageSets" / "Action").mkdir(parents=True, exist_ok=True)
    (base / "ImageSets" / "Action" / "train.txt").write_text("\n".join(lists["train"]) + "\n")
    (base / "ImageSets" / "Action" / "val.txt").write_text("\n".join(lists["test"]) + "\n")


def write_svhn(raw: Path, task: int, classes: int) -> None:
    from scipy.io import savemat

    raw.mkdir(parents=True, exist_ok=True)
    for split, name in (("train", "train_32x32.mat"), ("test", "test_32x32.mat")):
        rows = [(label, index) for s, label, index in _samples(classes) if s == split]
        pixels = np.stack([generated_image(task, label, index, side=32) for label, index in rows], axis=-1)
        digits = [label if label else 10 for label, _ in rows]  # SVHN writes the digit 0 as 10
        savemat(raw / name, {"X": pixels, "y": np.array(digits, dtype=np.uint8)[:, None]})


def write_letters(raw: Path, task: int, classes: int) -> None:
    base = raw / "English" / "Img" / "GoodImg" / "Bmp"
    files = sum(PER_CLASS.values())
    for sample in range(1, 11 + classes):  # Sample001-010 are the digits the preparer leaves out
        for index in range(files):
            image = generated_image(task, sample, index, side=32)
            _save(base / f"Sample{sample:03d}" / f"img{sample:03d}-{index:05d}.png", image)


def write_mnist(raw: Path, task: int, classes: int) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        rows = [(label, index) for s, label, index in _samples(classes) if s == split]
        images = np.stack([generated_image(task, label, index, side=28)[..., 0] for label, index in rows])
        with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as out:
            out.write(b"\0" * 16 + images.tobytes())
        with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as out:
            out.write(b"\0" * 8 + bytes(label for label, _ in rows))


WRITERS: dict[str, Callable[[Path, int, int], None]] = {
    "scenes": write_scenes, "birds": write_birds, "flowers": write_flowers, "cars": write_cars,
    "aircraft": write_aircraft, "actions": write_actions, "svhn": write_svhn, "letters": write_letters,
    "mnist": write_mnist,
}


def write_imagenet(folder: Path, count: int = IMAGENET_IMAGES) -> None:
    """A stand-in ImageNet validation folder: ``ILSVRC2012_val_00000001.JPEG`` ... (task index 99)."""
    for number in range(1, count + 1):
        _save(folder / f"ILSVRC2012_val_{number:08d}.JPEG", generated_image(99, number % 50, number))


def write_video(folder: Path) -> None:
    """The mini video domains as frame folders (:func:`eglib.video.clips.write_frame_folders`)."""
    clips.write_frame_folders(clips.make_mini_video(splits=VIDEO_SEQUENCES), folder)


def build(root: Path | None = None) -> Path:
    """Generate and prepare every dataset into ``root`` (default :func:`rehearsal_root`).

    Each dataset goes through :func:`eglib.data.prepare.prepare`, so its layout is checked the way a
    real download's is; ``ready.json`` is written last, so an interrupted build is rebuilt.
    """
    root = Path(root) if root is not None else rehearsal_root()
    (root / "ready.json").unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest()
    counts = {}
    with tempfile.TemporaryDirectory(prefix=".raw-", dir=root) as scratch:
        for task, (name, writer) in enumerate(WRITERS.items()):
            raw = Path(scratch) / name
            writer(raw, task, manifest[name].classes)
            counts[name] = prepare.prepare(manifest[name], raw, root)
    for folder, writer in (("imagenet", write_imagenet), ("video", write_video)):
        shutil.rmtree(root / folder, ignore_errors=True)
        writer(root / folder)
    (root / "ready.json").write_text(json.dumps({"version": REHEARSAL_VERSION, "counts": counts}, indent=1))
    return root


def _is_ready(root: Path) -> bool:
    try:
        return json.loads((root / "ready.json").read_text()).get("version") == REHEARSAL_VERSION
    except (OSError, json.JSONDecodeError, AttributeError):
        return False


def ensure_built(root: Path | None = None) -> Path:
    """The rehearsal root, built first when it is absent, incomplete or from another version.

    Processes that call this at once (two rehearsals started side by side) build it once: the
    first holds a lock file beside ``root`` while it builds, the others wait and then find it ready.
    """
    root = Path(root) if root is not None else rehearsal_root()
    if _is_ready(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "a") as lock:
        if fcntl is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if the build fails
        return root if _is_ready(root) else build(root)
