"""The expert zoo on disk: per task an autoencoder, an expert and a manifest entry (notebook 05).

Layout of a zoo folder::

    manifest.json             written last, atomically; the zoo's single source of truth
    standardizer.pt           the gate's fixed statistics (shared by every autoencoder)
    <task>/autoencoder.pt     tensors only
    <task>/expert.pt          tensors only

Every file's sha256 is in the manifest and is checked before ``torch.load(weights_only=True)``.
Every path the manifest names (task folders and file names) must stay inside the zoo folder
(:func:`eglib.safe_paths.inside`): a manifest naming ``../x.pt`` or ``/x.pt`` is refused with
:class:`ZooError` when the zoo is opened, before any file is read.
A task's files are written into a staging folder and renamed into place before the manifest
names them, so a process killed in the middle of :meth:`ExpertZoo.add_task` leaves a zoo that
loads with the tasks learned before; adding the task again completes it. Experts are loaded
lazily and by default at most one is resident.
"""

from __future__ import annotations

import copy
import errno
import functools
import json
import re
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import torch

from eglib.config import BASE
from eglib.features import backbones
from eglib.method.autoencoder import TaskAutoencoder
from eglib.method.experts import Expert
from eglib.method.gate import ExpertGate
from eglib.method.standardizer import FeatureStandardizer
from eglib.safe_paths import UnsafeNameError, inside, plain_name
from eglib.storage import atomic_writer, file_sha256, rebuild_module, save_tensors

ZOO_FORMAT = 1
# no '.': a task names a folder and an expert's head, and torch's ModuleDict keys cannot hold one
TASK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
TASK_NAME_RULE = "1-64 letters, digits, '_' or '-', starting with a letter or digit"


class ZooError(RuntimeError):
    """The zoo folder is inconsistent, tampered with, or of another profile; the message names the fix."""


def check_task_name(name: str) -> str:
    """Return ``name`` when it can name a task (and its folder); ``ValueError`` naming the rule otherwise."""
    if not isinstance(name, str) or not TASK_NAME.fullmatch(name):  # fullmatch: no trailing newline either
        raise ValueError(f"Task name {name!r} must be {TASK_NAME_RULE} (it names a folder).")
    return name


@functools.lru_cache(maxsize=None)
def _body_skeleton(backbone: str) -> torch.nn.Module:
    """The expert body of ``backbone`` on the meta device: shapes and layouts, no memory, no values.

    Building the whole torchvision model to cut the body out of it costs about 33 ms even on the
    meta device (its initialisers still run there); a copy of this skeleton costs about 1 ms, and
    notebook 05 loads experts from the zoo some hundred times (at most one stays resident).
    """
    with torch.device("meta"):
        body, _ = backbones.expert_parts(backbones.get_backbone_spec(backbone).builder(weights=None), backbone)
        return body.to(memory_format=torch.channels_last)


def build_expert(state: dict[str, torch.Tensor], backbone: str) -> Expert:
    """Rebuild an :class:`Expert` of ``backbone`` from its state dict (heads sized from the tensors)."""
    head_weights = {key.split(".")[1]: tensor for key, tensor in state.items()
                    if key.startswith("heads.") and key.endswith(".weight")}  # [classes, feature_dim] each
    if not head_weights:
        raise ValueError("The expert's state holds no head ('heads.<task>.weight'); it cannot be rebuilt.")
    heads = {name: weight.shape[0] for name, weight in head_weights.items()}
    feature_dim = next(iter(head_weights.values())).shape[1]

    def architecture() -> Expert:  # the shapes only: nothing is initialised, nothing seeded
        return Expert(copy.deepcopy(_body_skeleton(backbone)), feature_dim, heads)

    return rebuild_module(architecture, state).eval()  # every weight comes from the verified file


class ExpertZoo:
    """A folder of per-task autoencoders and experts.

    Args:
        path: the zoo folder (created when missing).
        profile, backbone: what the zoo was made with; reopening it with others is refused.
        max_resident: experts kept in memory at once (least recently used ones are dropped).
    """

    def __init__(self, path: Path, profile: str = "mini", backbone: str = "mobilenet_v2",
                 max_resident: int = 1) -> None:
        self.path = Path(path)
        self.max_resident = max_resident
        self._resident: OrderedDict[str, Expert] = OrderedDict()
        self._verified: dict[Path, tuple[str, tuple[int, ...]]] = {}  # path -> (sha256, its stat), see _load
        manifest_path = self.path / "manifest.json"
        if self.path.exists() and not self.path.is_dir():
            raise ZooError(f"{self.path} is a file, not a zoo folder; give a folder path (it is created when missing).")
        if manifest_path.exists():
            try:
                self.manifest = json.loads(manifest_path.read_text())
            except json.JSONDecodeError as error:
                raise ZooError(f"{manifest_path} is not valid JSON ({error}); restore it from a backup.") from error
            self._check_manifest()
            made_with = (self.manifest.get("profile"), self.manifest.get("backbone"))
            if made_with != (profile, backbone):
                raise ZooError(f"{self.path} was made with profile/backbone {made_with}, not {(profile, backbone)}. "
                               "Open it with the same profile, or use another folder for this one.")
            for relative in self._manifest_files():
                self._zoo_path(relative)  # every path is checked now, before any file is read
        else:
            self.manifest = {"format": ZOO_FORMAT, "profile": profile, "backbone": backbone,
                             "standardizer": None, "base_autoencoder": None, "tasks": []}

    # -- reading -----------------------------------------------------------------------------
    @property
    def task_names(self) -> list[str]:
        return [task["name"] for task in self.manifest["tasks"]]

    def task(self, name: str) -> dict[str, Any]:
        """The manifest entry of task ``name``."""
        for task in self.manifest["tasks"]:
            if task["name"] == name:
                return task
        raise KeyError(f"No task {name!r} in the zoo at {self.path}; it holds {self.task_names}.")

    @property
    def _manifest_fix(self) -> str:
        """What to do about a manifest that is damaged or crafted."""
        return f"{self.path / 'manifest.json'} is damaged or crafted: restore it from a backup, or use a new zoo folder."

    def _from_manifest(self, check: Callable[..., Any], *args: Any) -> Any:
        """``check(*args)`` (:func:`plain_name` or :func:`inside`) on a name read from the manifest,
        its :class:`UnsafeNameError` raised as :class:`ZooError`."""
        try:
            return check(*args, fix=self._manifest_fix)
        except UnsafeNameError as error:
            raise ZooError(str(error)) from error

    def _check_manifest(self) -> None:
        """The manifest's shape: a ``ZOO_FORMAT`` object whose tasks have unique, valid names and
        file records with ``file``, ``bytes`` and ``sha256``; :class:`ZooError` otherwise."""
        manifest = self.manifest
        problem = None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("tasks"), list):
            problem = "it is not an object with a list of tasks"
        elif manifest.get("format") != ZOO_FORMAT:
            problem = f"its format is {manifest.get('format')!r}; this eglib reads format {ZOO_FORMAT}"
        else:
            names = [task.get("name") if isinstance(task, dict) else None for task in manifest["tasks"]]
            records = [manifest[key] for key in ("standardizer", "base_autoencoder") if manifest.get(key)]
            records += [task.get(part) for task in manifest["tasks"] if isinstance(task, dict)
                        for part in ("autoencoder", "expert")]
            if len(set(map(str, names))) != len(names) or BASE in names:
                problem = f"its task names {names} repeat or use the base task's name {BASE!r}"
            elif not all(isinstance(name, str) and TASK_NAME.fullmatch(name) for name in names):
                problem = f"a task name in {names} breaks the rule ({TASK_NAME_RULE})"
            elif not all(isinstance(r, dict) and {"file", "bytes", "sha256"} <= set(r) for r in records):
                problem = "a file record lacks its 'file', 'bytes' or 'sha256'"
        if problem:
            raise ZooError(f"The zoo's manifest is not one this code wrote: {problem}. {self._manifest_fix}")

    def _manifest_files(self) -> list[str]:
        """Every relative path the manifest names: the shared files, then per task its two files
        (``<task>/<file>``); each task name and file name must be a plain name."""
        def file_name(record: dict[str, Any]) -> str:
            return self._from_manifest(plain_name, record["file"], "file name in the zoo's manifest")

        try:
            files = [file_name(self.manifest[key]) for key in ("standardizer", "base_autoencoder") if self.manifest.get(key)]
            for task in self.manifest["tasks"]:
                folder = self._from_manifest(plain_name, task["name"], "task name in the zoo's manifest")
                files += [f"{folder}/{file_name(task[part])}" for part in ("autoencoder", "expert")]
        except (KeyError, TypeError) as error:
            raise ZooError(f"The zoo's manifest lacks an entry ({type(error).__name__}: {error}). "
                           f"{self._manifest_fix}") from error
        return files

    def _zoo_path(self, relative: str) -> Path:
        """``self.path / relative``, refused with :class:`ZooError` when the manifest's path leaves the zoo."""
        return self._from_manifest(inside, self.path, relative, "file path in the zoo's manifest")

    def _load(self, relative: str, record: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The tensors of a zoo file, after checking its size and sha256 against ``record``.

        A file is hashed once while it stays the same file: this zoo remembers each file it has
        verified with its device, inode, size, and modification and status-change times, and hashes
        it again when any of them changed (an expert is loaded again for every evaluation it answers
        in; a paper-profile expert file is about 230 MB). Any write, rename over it or ``utime`` moves
        the status-change time, which no user can set back.
        """
        path = self._zoo_path(relative)
        try:
            stat = path.stat()
        except OSError as error:  # what Path.exists() counts as missing; anything else is raised
            if error.errno not in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
                raise
            stat = None
        damaged = ZooError(f"{path} is missing, truncated or altered (checksum mismatch). Remove the task with "
                           "its folder and add it again, or restore the file.")
        if stat is None or stat.st_size != record["bytes"]:
            raise damaged
        seen = (record["sha256"], (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
        if self._verified.get(path) != seen and file_sha256(path) != record["sha256"]:
            raise damaged
        self._verified[path] = seen
        return torch.load(path, map_location="cpu", weights_only=True)

    def standardizer(self) -> FeatureStandardizer:
        record = self.manifest["standardizer"]
        if record is None:
            raise ZooError(f"The zoo at {self.path} has no standardizer yet; set it with set_standardizer().")
        return FeatureStandardizer.from_state_dict(self._load(record["file"], record))

    def autoencoder(self, name: str) -> TaskAutoencoder:
        task = self.task(name)
        return TaskAutoencoder.from_state_dict(self._load(f"{name}/{task['autoencoder']['file']}", task["autoencoder"]))

    def base_autoencoder(self) -> TaskAutoencoder:
        """The base task's autoencoder (trained on the reference images), a relatedness candidate."""
        record = self.manifest.get("base_autoencoder")
        if record is None:
            raise ZooError(f"The zoo at {self.path} has no base-task autoencoder.")
        return TaskAutoencoder.from_state_dict(self._load(record["file"], record))

    def gate(self, temperature: float = 2.0, tasks: list[str] | None = None) -> ExpertGate:
        """An :class:`ExpertGate` over every stored task, or over ``tasks`` only (autoencoders share
        the zoo's statistics)."""
        standardizer = self.standardizer()
        gate = ExpertGate(temperature=temperature)
        for name in tasks or self.task_names:
            autoencoder = self.autoencoder(name)
            autoencoder.standardizer = standardizer
            gate.add(name, autoencoder)
        return gate

    def expert(self, name: str) -> Expert:
        """Task ``name``'s expert, loaded on first use; at most ``max_resident`` stay in memory."""
        if name in self._resident:
            self._resident.move_to_end(name)
            return self._resident[name]
        task = self.task(name)
        expert = build_expert(self._load(f"{name}/{task['expert']['file']}", task["expert"]), self.manifest["backbone"])
        self._resident[name] = expert
        while len(self._resident) > self.max_resident:
            self._resident.popitem(last=False)
        return expert

    @property
    def resident(self) -> list[str]:
        """Names of the experts currently in memory."""
        return list(self._resident)

    # -- writing -----------------------------------------------------------------------------
    def _write_manifest(self) -> None:
        # temporary manifests of a process killed while writing one (atomic_writer could not clean up)
        for stale in self.path.glob(".manifest.json.*.tmp"):
            stale.unlink(missing_ok=True)
        with atomic_writer(self.path / "manifest.json", "w") as out:
            json.dump(self.manifest, out, indent=1)

    def set_standardizer(self, standardizer: FeatureStandardizer) -> None:
        """Store the gate's statistics once; a zoo with tasks refuses other statistics."""
        if self.manifest["standardizer"] is not None:
            if not self.standardizer().same_as(standardizer):
                raise ZooError("This zoo already has other standardisation statistics; its autoencoders' errors "
                               "would no longer be comparable. Use a new zoo folder.")
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self.manifest["standardizer"] = save_tensors(standardizer.state_dict(), self.path / "standardizer.pt")
        self._write_manifest()

    def set_base_autoencoder(self, autoencoder: TaskAutoencoder) -> None:
        """Store the base task's autoencoder (once)."""
        if self.manifest.get("base_autoencoder") is not None:
            raise ZooError("This zoo already has a base-task autoencoder.")
        if not autoencoder.standardizer.same_as(self.standardizer()):
            raise ZooError("The base autoencoder was trained with other statistics than the zoo's.")
        self.manifest["base_autoencoder"] = save_tensors(autoencoder.state_dict(), self.path / "base_autoencoder.pt")
        self._write_manifest()

    def add_task(self, name: str, autoencoder: TaskAutoencoder, expert: Expert, info: dict[str, Any]) -> None:
        """Store a task's autoencoder and expert, then its manifest entry (the commit point).

        Raises:
            ValueError: a task of that name exists, or the name is not a safe folder name.
            ZooError: the autoencoder's statistics are not the zoo's.
        """
        check_task_name(name)
        if name in self.task_names:
            raise ValueError(f"The zoo already has a task {name!r}; choose another name.")
        if not autoencoder.standardizer.same_as(self.standardizer()):
            raise ZooError(f"The autoencoder of {name!r} was trained with other statistics than the zoo's.")
        staging = inside(self.path, f".{name}.staging", "staging folder")
        shutil.rmtree(staging, ignore_errors=True)  # leftovers of an interrupted add
        staging.mkdir(parents=True)
        entry = {"name": name, **info,
                 "autoencoder": save_tensors(autoencoder.state_dict(), staging / "autoencoder.pt"),
                 "expert": save_tensors({k: v.cpu() for k, v in expert.state_dict().items()}, staging / "expert.pt")}
        target = inside(self.path, name, "task folder")
        shutil.rmtree(target, ignore_errors=True)  # files of an add that never reached the manifest
        staging.replace(target)
        self.manifest["tasks"].append(entry)
        self._write_manifest()
