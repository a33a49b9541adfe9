"""The lifelong learner: tasks arrive one by one into an expert zoo (notebook 05).

``add_task`` follows the method's order of operations (``03_relatedness``):

1. gate features of the new task -> its autoencoder ``A_k`` (no expert needed);
2. ``Er_k`` and every ``Er_a`` on the new task's validation features, the base model included;
3. the most related task is the source; ``Rel > threshold`` -> LwF from it, else fine-tuning;
4. the expert is trained from the source expert, and ``A_k``, the expert and the decision are
   stored in the zoo. Nothing of the task's data is kept -- not even in the feature cache.

``predict`` routes every sample on its own and runs only the experts it routed to.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from eglib import config
from eglib.config import BASE
from eglib.features import extract
from eglib.method import experts, relatedness
from eglib.method.gate import routed_rows
from eglib.method.autoencoder import train_autoencoder
from eglib.method.standardizer import FeatureStandardizer
from eglib.method.zoo import ExpertZoo, check_task_name

LabelledImages = tuple[np.ndarray, np.ndarray]


def check_labels(labels: np.ndarray, what: str) -> np.ndarray:
    """Class labels as a 1-D integer array ``[N]`` of values ``>= 0``; ``ValueError`` naming the fix otherwise."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{what} must be one label per image, shape [N]; got shape {array.shape}. "
                         "Pass class indices, not one-hot rows (labels.argmax(1)).")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be integer class indices 0..C-1; got dtype {array.dtype}. "
                         "Map class names or float labels to integers first (e.g. np.unique(y, return_inverse=True)[1]).")
    if len(array) and array.min() < 0:
        raise ValueError(f"{what} must be class indices 0..C-1; got {int(array.min())}.")
    return array


@dataclass
class Prediction:
    """Per-sample outputs of :meth:`LifelongLearner.predict`: task index ``[N]`` into ``tasks``
    and the label ``[N]`` that the routed expert predicts."""

    tasks: list[str]
    task_index: torch.Tensor
    labels: torch.Tensor


class LifelongLearner:
    """Expert Gate over an :class:`ExpertZoo` folder.

    A new zoo needs ``reference_images`` (the base / ImageNet stand-in): they fix the gate's
    standardisation statistics and, with ``base_candidate=True``, train the base-task autoencoder
    that makes the base model a relatedness candidate. With ``base_candidate=False`` (the paper
    profile without ImageNet images: a stand-in must not pose as ImageNet) the base model is only
    the first task's source, fine-tuned, and never a candidate. A zoo that exists is reopened as it
    is, in this or any later process.
    """

    def __init__(self, zoo_path: Path, profile: str = "mini", reference_images: np.ndarray | None = None,
                 device: str | torch.device = "auto", seed: int = 0, base_candidate: bool = True) -> None:
        self.profile = config.get_profile(profile)
        self.device = config.resolve_device(device)
        self.seed = seed
        self._memo: dict[str, tuple[torch.Tensor, torch.Tensor]] | None = None  # see reusing_test_features
        self.zoo = ExpertZoo(zoo_path, profile=self.profile.name, backbone=self.profile.backbone)
        if self.zoo.manifest["standardizer"] is None:
            if reference_images is None:
                raise ValueError(f"{zoo_path} is a new zoo: pass reference_images (the base set) to fix the "
                                 "gate's statistics and train the base-task autoencoder.")
            reference = self._gate_features(reference_images)
            standardizer = FeatureStandardizer.fit(reference)
            self.zoo.set_standardizer(standardizer)
            if base_candidate:
                base_autoencoder = train_autoencoder(reference, standardizer=standardizer, seed=seed,
                                                     device=self.device, **self.profile.autoencoder_options())
                self.zoo.set_base_autoencoder(base_autoencoder)

    # -- features (never written to the on-disk cache: a learned task's data must not persist; read
    #    from it when the same images are already there, e.g. the benchmark's, which 00 cached) --
    def _gate_features(self, images: np.ndarray) -> torch.Tensor:
        """Gate features ``[N, D]`` of uint8 images ``[N, H, W, 3]`` (a map layer, e.g. ``expert_input``
        ``[N, C, h, w]``, flattened to ``D = C * h * w``)."""
        return self._layers(images, (self.profile.layer,))[self.profile.layer].flatten(1)

    def _layers(self, images: np.ndarray, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """``layers`` of the backbone for ``images``: from the feature cache when it already holds
        them all for these images (the same bits, :func:`eglib.features.extract.stored_layers`),
        else from one backbone pass; nothing is written."""
        return extract.stored_or_extracted_layers(images, backbone=self.profile.backbone, layers=layers,
                                                  device=self.device)

    def _gate_features_and_expert_inputs(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Gate features ``[N, D]`` and expert inputs ``[N, C, h, w]`` (one backbone pass, or the cache)."""
        out = self._layers(images, (self.profile.layer, "expert_input"))
        return out[self.profile.layer].flatten(1), out["expert_input"]

    @contextlib.contextmanager
    def reusing_test_features(self) -> Iterator[None]:
        """Inside this block, :meth:`predict` and :meth:`evaluate` pass each distinct image array
        through the backbone once and reuse its gate features and expert inputs (in memory, keyed
        by the images' bytes) when the same images come again: several evaluations of one test set
        (hard routing, a threshold, another router) cost one backbone pass. The results are the
        ones a fresh pass gives (the same images make the same batches). Everything is dropped
        when the block ends; nothing is written anywhere."""
        outer, self._memo = self._memo, {} if self._memo is None else self._memo
        try:
            yield
        finally:
            if outer is None:
                self._memo = None

    def _query_features(self, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_gate_features_and_expert_inputs` of images to route, from the memo when one is open."""
        if self._memo is None:
            return self._gate_features_and_expert_inputs(images)
        array = np.ascontiguousarray(images)
        key = hashlib.sha256(f"{array.shape}|{array.dtype}|".encode() + array.tobytes()).hexdigest()
        if key not in self._memo:
            self._memo[key] = self._gate_features_and_expert_inputs(images)
        return self._memo[key]

    def _check_task(self, name: str, train: LabelledImages, val: LabelledImages) -> int:
        """Refuse a task before any work is done; return its number of classes.

        Raises:
            ValueError: a name the zoo cannot hold or already holds, or splits that are empty,
                of mismatched lengths, not uint8 RGB images, or labelled with anything but the
                integers ``0 .. C-1`` (the validation labels within the training classes).
        """
        check_task_name(name)
        if name in self.zoo.task_names or name == BASE:
            raise ValueError(f"The zoo already has a task {name!r}; choose another name.")
        splits = {"training": train, "validation": val}
        for split, pair in splits.items():
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"Task {name!r}: pass the {split} split as a pair (images, labels).")
            images, labels = pair
            check_labels(labels, f"Task {name!r}: the {split} labels")
            if len(np.asarray(labels)) == 0:
                raise ValueError(f"Task {name!r} has no {split} data; relatedness needs a validation split too.")
            if len(images) != len(labels):
                raise ValueError(f"Task {name!r}: {len(images)} {split} images but {len(labels)} labels.")
            extract.as_uint8_batch(images)  # shape / dtype / channel checks with clear messages
        train_labels, val_labels = np.asarray(train[1]), np.asarray(val[1])
        if len(np.unique(train_labels)) < 2:
            raise ValueError(f"Task {name!r} has a single class; a classification expert needs at least 2.")
        classes = int(train_labels.max()) + 1
        missing = np.setdiff1d(np.arange(classes), train_labels)
        if len(missing):
            raise ValueError(f"Task {name!r}: classes {missing[:10].tolist()} of 0..{classes - 1} have no training image; "
                             "number the classes 0..C-1 without gaps (np.unique(y, return_inverse=True)[1]).")
        if val_labels.max() >= classes:
            raise ValueError(f"Task {name!r}: validation label {int(val_labels.max())} is not a training class "
                             f"(0..{classes - 1}); use the same label numbering in both splits.")
        return classes

    def add_task(self, name: str, train: LabelledImages, val: LabelledImages) -> dict:
        """Learn task ``name`` from ``train`` and ``val`` (uint8 images ``[N, H, W, 3]``, int labels ``[N]``).

        Returns the manifest entry: source, relatedness to every candidate and to the source
        (``None`` when the base model was no candidate), method, sizes.
        """
        classes = self._check_task(name, train, val)
        options = self.profile.autoencoder_options()
        index = len(self.zoo.task_names)
        train_gate, inputs = self._gate_features_and_expert_inputs(train[0])
        val_gate = self._gate_features(val[0])
        standardizer = self.zoo.standardizer()
        # the task's seed is seed + its arrival index, for its autoencoder as for its expert, as in 01's
        # gate and 03: an autoencoder trained there is read back (eglib.reuse). The first task's
        # autoencoder so shares its seed (initial weights, batch-order generator) with the base task's;
        # they train on different images.
        new_autoencoder = train_autoencoder(train_gate, standardizer=standardizer, seed=self.seed + index,
                                            device=self.device, **options)                       # step 1
        er_k = new_autoencoder.mean_error(val_gate)                                               # step 2
        candidates = {t: self.zoo.autoencoder(t) for t in self.zoo.task_names}
        if self.zoo.manifest.get("base_autoencoder") is not None:
            candidates = {BASE: self.zoo.base_autoencoder(), **candidates}
        rel = {old: relatedness.relatedness_from_errors(er_k, ae.mean_error(val_gate)) for old, ae in candidates.items()}
        source, source_rel, method = relatedness.choose_source(rel, self.profile.relatedness_threshold)  # step 3
        source_expert = experts.base_expert(self.profile.backbone) if source == BASE else self.zoo.expert(source)
        labels = torch.as_tensor(np.asarray(train[1]), dtype=torch.long)
        train_options = {"epochs": self.profile.expert_epochs, "lr": self.profile.expert_lr,
                         "flip": self.profile.expert_flip, "seed": self.seed + index, "device": self.device}
        if method == "lwf":
            expert, _ = experts.learn_without_forgetting(source_expert, name, inputs, labels, classes,
                                                         warmup_epochs=self.profile.lwf_warmup_epochs, **train_options)
        else:
            expert, _ = experts.finetune(source_expert, name, inputs, labels, classes, **train_options)
        expert.heads = torch.nn.ModuleDict({name: expert.heads[name]})  # the new expert answers its own task
        info = {"classes": classes, "source": source, "relatedness": rel,
                "source_relatedness": None if np.isnan(source_rel) else source_rel, "method": method,
                "Er_k": er_k, "train_size": len(labels), "val_size": len(val[1])}
        self.zoo.add_task(name, new_autoencoder, expert, info)                                    # step 4
        return self.zoo.task(name)

    def _known_tasks(self, tasks: list[str] | None) -> list[str]:
        known = self.zoo.task_names
        if not known:
            raise ValueError("The learner has no task yet; call add_task first.")
        if tasks is not None and (isinstance(tasks, str) or len(tasks) == 0):
            raise ValueError(f"tasks={tasks!r}: pass a non-empty list of task names, e.g. {known[:2]} "
                             "(or None for every learned task).")
        unknown = [name for name in tasks or [] if name not in known]
        if unknown:
            raise ValueError(f"No expert for {unknown}; the zoo holds {known}.")
        return list(tasks or known)

    @torch.no_grad()
    def predict(self, images: np.ndarray, threshold: float | None = None, tasks: list[str] | None = None,
                router: Callable[[torch.Tensor], torch.Tensor] | None = None,
                temperature: float | None = None) -> Prediction:
        """Route every image on its own, then run only the experts that received images.

        With ``threshold`` (the paper's multi-expert option, 0.1) every expert whose gate
        probability exceeds it answers; the sample takes the answer that maximises
        ``p_task(x) * max softmax of that expert`` (the gate's belief times the expert's).
        ``tasks`` restricts the gate to those tasks: the system as it stood when they were the
        only ones learned (e.g. the first three, for the paper's Table 1). ``router`` replaces the
        gate by another rule that maps gate features ``[N, D]`` to task indices ``[N]`` into
        ``tasks`` (e.g. the discriminative task classifier baseline). ``temperature`` replaces the
        profile's gate temperature (it matters only with a ``threshold``).
        """
        tasks = self._known_tasks(tasks)
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                      or not 0.0 <= threshold < 1.0):
            raise ValueError(f"threshold={threshold}: a gate probability threshold lies in [0, 1) "
                             "(the paper's multi-expert option uses 0.1; None routes each sample to one expert).")
        gate_features, inputs = self._query_features(images)                    # one backbone pass
        if router is None:
            gate = self.zoo.gate(temperature=self.profile.gate_temperature if temperature is None else temperature,
                                 tasks=tasks)
            probabilities = gate.probabilities(gate_features).cpu()                  # [N, K]
            routes = gate.route_probabilities(probabilities, threshold)              # [N] or [N, K]
        else:
            routes = router(gate_features).cpu()                                     # [N]
            probabilities = torch.nn.functional.one_hot(routes.long(), len(tasks)).float()
        score = torch.full((len(images), len(tasks)), -1.0)
        answer = torch.full((len(images), len(tasks)), -1, dtype=torch.long)
        for index, rows in routed_rows(routes, len(tasks)):
            expert = self.zoo.expert(tasks[index]).to(self.device)
            best = torch.softmax(experts.logits(expert, tasks[index], inputs[rows.to(inputs.device)]), dim=1).max(dim=1)
            score[rows, index] = probabilities[rows, index] * best.values.cpu()
            answer[rows, index] = best.indices.cpu()
        task_index = score.argmax(dim=1)
        return Prediction(tasks=tasks, task_index=task_index, labels=answer[torch.arange(len(images)), task_index])

    def evaluate(self, test_sets: dict[str, LabelledImages], threshold: float | None = None,
                 tasks: list[str] | None = None,
                 router: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 temperature: float | None = None) -> dict:
        """Per-task and mean accuracy of Expert Gate (a misrouted sample is wrong) and of the gate,
        routing among ``tasks`` (default: every learned task; each test set's task must be one);
        ``threshold``, ``router`` and ``temperature`` as in :meth:`predict`."""
        tasks = self._known_tasks(tasks)
        outside = [name for name in test_sets if name not in tasks]
        if outside:
            raise ValueError(f"No expert for {outside} among the tasks routed to, {tasks}.")
        if not test_sets:
            raise ValueError("No test set given: pass {task name: (images, labels)}.")
        for name, pair in test_sets.items():
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise ValueError(f"Test set {name!r}: pass a pair (images, labels).")
            images, labels = pair
            classes = self.zoo.task(name)["classes"]
            if np.asarray(check_labels(labels, f"The test labels of {name!r}")).max(initial=0) >= classes:
                raise ValueError(f"The test labels of {name!r} go up to {int(np.max(labels))}, but the task has "
                                 f"{classes} classes (0..{classes - 1}); use the numbering it was trained with.")
            if len(images) != len(labels):
                raise ValueError(f"Test set {name!r}: {len(images)} images but {len(labels)} labels.")
        per_task, gate_per_task = {}, {}
        for name, (images, labels) in test_sets.items():
            prediction = self.predict(images, threshold=threshold, tasks=tasks, router=router, temperature=temperature)
            own = prediction.tasks.index(name)
            routed_right = prediction.task_index == own
            correct = routed_right & (prediction.labels == torch.as_tensor(np.asarray(labels), dtype=torch.long))
            per_task[name] = float(correct.float().mean())
            gate_per_task[name] = float(routed_right.float().mean())
        return {"expert_gate_accuracy": sum(per_task.values()) / len(per_task), "per_task": per_task,
                "gate_accuracy": sum(gate_per_task.values()) / len(gate_per_task), "gate_per_task": gate_per_task}
