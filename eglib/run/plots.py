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
