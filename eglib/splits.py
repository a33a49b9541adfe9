"""Data splits shared by every kind of task (image domains and video domains).

A *split* here is always a part of a dataset (``train``, ``val``, ``test``); the point where an
expert's network begins is called its *cut point* (:attr:`eglib.features.backbones.BackboneSpec.expert_cut`).
"""

from __future__ import annotations

SPLITS = ("train", "val", "test")


class HasSplits:
    """Mixin of a domain with ``train``, ``val`` and ``test`` attributes (images or video clips)."""

    def split(self, which: str):
        """Return the ``train``, ``val`` or ``test`` split."""
        if which not in SPLITS:
            raise ValueError(f"Unknown split {which!r}; use one of {SPLITS}.")
        return getattr(self, which)
