"""One entry point per profile: readiness checks, then the right loader (images, or video clips)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eglib import config
from eglib.data import paper, prepare, rehearsal
from eglib.data.mini import load_mini
from eglib.data.types import Benchmark, DataError
from eglib.features import backbones
from eglib.video import clips


def check_profile_ready(profile: str, tasks: tuple[str, ...] | None = None) -> None:
    """Raise :class:`DataError` (before any work starts) when a profile's data cannot be had.

    ``mini`` and ``rehearsal`` are always ready (their data are generated on demand). ``paper``
    needs the prepared datasets ``tasks`` (default: the six of Tables 1 and 2; notebook 04 also
    needs SVHN, letters and MNIST) from ``data_scripts/get_paper_data.py``, AlexNet's ImageNet
    weights, and, when ``EGLIB_IMAGENET_DIR`` is set, a folder that looks like ImageNet.
    """
    settings = config.get_profile(profile)
    if not settings.paper_tasks or settings.rehearsal:
        return
    missing = paper.missing_tasks(tasks or paper.PAPER_TASKS)
    if missing:
        raise DataError(f"Profile {profile!r} needs the paper's datasets; not prepared yet: {missing}. Run "
                        f"`.venv/bin/python data_scripts/get_paper_data.py {' '.join(missing)}` on a machine with "
                        "network access (README, 'Paper datasets').")
    try:
        backbones.find_weights(backbones.get_backbone_spec(settings.backbone), download=False)
    except backbones.WeightsError as error:
        raise DataError(str(error)) from error
    folder = paper.imagenet_dir()
    if folder is not None:
        try:
            paper.imagenet_files(folder)
        except prepare.PaperDataError as error:
            raise DataError(str(error)) from error


def load_benchmark(profile: str = "mini", tasks: tuple[str, ...] | None = None) -> Benchmark:
    """Load the benchmark of a profile: the embedded mini one, the prepared paper datasets, or the
    rehearsal's generated ones (built on first use, about 10 s).

    Args:
        tasks: paper-task profiles only: which datasets, in arrival order (default: the six of
            Tables 1 and 2, :data:`eglib.data.paper.PAPER_TASKS`).
    """
    check_profile_ready(profile, tasks)
    settings = config.get_profile(profile)
    if not settings.paper_tasks:
        if tasks is not None:
            raise ValueError(f"Profile {profile!r} has the fixed mini domains; `tasks` is for the paper profiles.")
        return load_mini()
    tasks = tuple(tasks or paper.PAPER_TASKS)
    if settings.rehearsal:
        root = rehearsal.ensure_built()
        return paper.load_paper(tasks, root=root, imagenet=_rehearsal_imagenet(settings, root),
                                max_classes=settings.max_classes, imagenet_from_env=False)
    return paper.load_paper(tasks, max_classes=settings.max_classes)


def _rehearsal_imagenet(settings: config.Profile, root: Path) -> Path | None:
    """The rehearsal's stand-in ImageNet folder, or ``None`` for a profile that rehearses without it."""
    return root / "imagenet" if settings.rehearsal_imagenet else None


@dataclass
class VideoBenchmark:
    """The video domains of a profile (notebook 06) and the base images that fix the gate's statistics.

    Attributes:
        domains: ``{name: VideoDomain}`` in arrival order, uint8 clips ``[N, 6, H, W]``.
        base: uint8 ``[N, S, S, 3]`` base images (the mini base set, or ImageNet / its stand-in).
        source: where the clips come from, in words.
    """

    domains: dict[str, clips.VideoDomain]
    base: np.ndarray
    source: str


def load_video_benchmark(profile: str = "mini", frames_dir: str | Path | None = None, frame_size: int = 64,
                         split_by: str = "sequence", seed: int = 0) -> VideoBenchmark:
    """The video domains of a profile.

    * ``mini``: the three embedded domains (:func:`eglib.video.make_mini_video`), generated from ``seed``;
    * ``paper``: the user's frame folders ``<frames_dir>/<domain>/<sequence>/<frames>`` (default
      ``$EGLIB_VIDEO_DIR``), centre-cropped to ``frame_size`` px, held out by ``split_by``;
    * ``rehearsal``: the paper branch on the mini domains written out as frame folders (32 px),
      unless ``frames_dir`` names other folders.

    The base images (the gate's statistics) are the rehearsal's stand-in ImageNet when it wrote
    the frame folders, else ``EGLIB_IMAGENET_DIR``'s images, else the mini base set; the rehearsal
    without ImageNet (``rehearsal_imagenet=False``) never reads ``EGLIB_IMAGENET_DIR``.

    Raises:
        DataError: the paper profile without frame folders (the message says how to lay them out).
        ValueError: a ``frame_size`` that is not a positive multiple of 4 (the networks halve
            the frames twice). ``frames_dir`` is ignored on the mini profile (06 passes
            ``EGLIB_VIDEO_DIR`` on every profile).
    """
    settings = config.get_profile(profile)
    if not isinstance(frame_size, int) or frame_size < 4 or frame_size % 4:
        raise ValueError(f"frame_size={frame_size!r}: use a positive multiple of 4 (e.g. 64).")
    frames_dir = frames_dir or os.environ.get("EGLIB_VIDEO_DIR", "")
    if not settings.paper_tasks:
        return VideoBenchmark(clips.make_mini_video(seed=seed), load_mini().base, "embedded mini video domains")
    imagenet = None
    if settings.rehearsal and not frames_dir:
        root = rehearsal.ensure_built()
        frames_dir, frame_size, imagenet = root / "video", 32, _rehearsal_imagenet(settings, root)
    if not frames_dir:
        raise DataError(f"PROFILE={profile} reads your own driving sequences: set EGLIB_VIDEO_DIR to a folder laid "
                        "out as <dir>/<domain>/<sequence>/<frames>.png (see README, 'Video data').")
    domains = clips.load_frame_folders(Path(frames_dir), size=frame_size, split_by=split_by)
    base = paper.base_images(folder=imagenet, from_env=settings.rehearsal_imagenet)[0]
    return VideoBenchmark(domains, base, f"frame folders in {frames_dir}")
