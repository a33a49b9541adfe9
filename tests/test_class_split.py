"""Two tasks cut from one domain by its classes (eglib.data.class_split, notebook 04)."""

import numpy as np
import pytest

from eglib.data import Domain, Split, split_classes


def _domain(classes: int, labels_of: dict[str, list[int]]) -> Domain:
    splits = {s: Split(images=np.full((len(y), 4, 4, 3), 7, np.uint8) + np.arange(len(y), dtype=np.uint8)[:, None, None, None],
                       labels=np.array(y, dtype=np.int64)) for s, y in labels_of.items()}
    return Domain(name="toy", classes=[f"c{i}" for i in range(classes)], **splits)


def test_halves_hold_disjoint_classes_renumbered_from_zero():
    domain = _domain(5, {"train": [0, 4, 1, 2, 3, 3], "val": [1, 2, 4], "test": [0, 3, 4, 1]})
    first, second = split_classes(domain)
    assert (first.name, second.name) == ("toy-a", "toy-b") and first.domain == second.domain == "toy"
    assert first.classes == ["c0", "c1"] and second.classes == ["c2", "c3", "c4"]   # an odd count: b is larger
    np.testing.assert_array_equal(first.rows["train"], [0, 2])
    np.testing.assert_array_equal(second.rows["train"], [1, 3, 4, 5])
    np.testing.assert_array_equal(second.labels["train"], [2, 0, 1, 1])            # 4, 2, 3, 3 renumbered
    for split in ("train", "val", "test"):
        original = domain.split(split).labels
        together = np.sort(np.concatenate([first.rows[split], second.rows[split]]))
        np.testing.assert_array_equal(together, np.arange(len(original)))          # every sample, once
        np.testing.assert_array_equal(original[first.rows[split]], first.labels[split])
        np.testing.assert_array_equal(original[second.rows[split]] - 2, second.labels[split])


def test_too_few_classes_or_an_empty_part_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="at least 4"):
        split_classes(_domain(3, {"train": [0, 1, 2], "val": [0, 1, 2], "test": [0, 1, 2]}))
    with pytest.raises(ValueError, match="no test sample"):
        split_classes(_domain(4, {"train": [0, 1, 2, 3], "val": [0, 1, 2, 3], "test": [2, 3]}))
