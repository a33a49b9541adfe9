"""Figures that more than one notebook draws."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def image_grid(images_by_row: dict[str, np.ndarray], per_row: int = 10, size: float = 0.9) -> plt.Figure:
    """One row of up to ``per_row`` images ``[n, H, W, 3]`` per named row, the name on the left
    (a row with fewer images leaves its last cells empty)."""
    rows = len(images_by_row)
    figure, axes = plt.subplots(rows, per_row, figsize=(per_row * size, rows * size), squeeze=False)
    for row, (name, images) in enumerate(images_by_row.items()):
        for column in range(per_row):
            axis = axes[row, column]
            if column < len(images):
                axis.imshow(images[column])
            axis.set_xticks([])
            axis.set_yticks([])
            for spine in axis.spines.values():
                spine.set_visible(False)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    figure.subplots_adjust(wspace=0.05, hspace=0.05)
    return figure


def show_clips(rows: dict[str, np.ndarray], title: str, seen: int = 3) -> plt.Figure:
    """One named row per clip ``[T, H, W]`` (0..255 grey), a frame per column, and a red line
    after the first ``seen`` frames: what a video model saw, then what it predicted (or the truth)."""
    length = len(next(iter(rows.values())))
    figure, axes = plt.subplots(len(rows), length, figsize=(1.6 * length, 1.7 * len(rows)), squeeze=False)
    for r, (label, clip) in enumerate(rows.items()):
        for t in range(length):
            axes[r, t].imshow(clip[t], cmap="gray", vmin=0, vmax=255)
            axes[r, t].set_xticks([]), axes[r, t].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    for t in range(length):
        axes[0, t].set_title(f"t={t + 1}" + (" (seen)" if t < seen else " (to predict)"), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    left, right = axes[0, seen - 1].get_position(), axes[0, seen].get_position()
    x = (left.x1 + right.x0) / 2  # a red line between the seen and the predicted frames
    figure.add_artist(plt.Line2D([x, x], [0.02, axes[0, 0].get_position().y1], color="red", lw=2))
    return figure


def annotated_heatmap(frame: pd.DataFrame, title: str, annotations: pd.DataFrame | None = None,
                      cmap: str = "viridis", fmt: str = ".2f", ax: plt.Axes | None = None,
                      **heatmap_options) -> plt.Axes:
    """Seaborn heatmap of ``frame``; ``annotations`` (same shape, strings) replaces the numbers."""
    if ax is None:
        _, ax = plt.subplots(figsize=(1.1 * len(frame.columns) + 2, 0.8 * len(frame) + 1.5))
    labels = annotations.to_numpy() if annotations is not None else True
    sns.heatmap(frame, annot=labels, fmt="" if annotations is not None else fmt, cmap=cmap, ax=ax,
                cbar=True, square=False, **heatmap_options)
    ax.set_title(title)
    return ax
