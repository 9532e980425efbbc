"""Training plots (matplotlib, Agg backend so they work headless): results curves and confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # never needs a display
    import matplotlib.pyplot as plt

    return plt


def plot_results(rows: Sequence[dict[str, float]], path: str | Path) -> Path:
    """Loss, accuracy and learning-rate curves from results.csv rows (keys as written by the trainer)."""
    plt = _pyplot()
    path = Path(path)
    epochs = [r["epoch"] for r in rows]
    panels = [
        ("loss", ["train/loss", "val/loss"]),
        ("accuracy", ["metrics/accuracy_top1", "metrics/accuracy_top5"]),
        ("learning rate", ["lr"]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.5), tight_layout=True)
    for ax, (title, keys) in zip(axes, panels, strict=False):
        for k in keys:
            ax.plot(epochs, [r[k] for r in rows], marker=".", label=k)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path: str | Path, normalize: bool = True) -> Path:
    """Confusion matrix (rows: true class, columns: predicted), row-normalised by default.

    Class labels are drawn only up to 30 classes; beyond that the picture is a heat map.
    """
    plt = _pyplot()
    path = Path(path)
    m = matrix.astype(np.float64)
    if normalize:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    n = len(m)
    size = min(max(4.0, 0.35 * n + 2), 16)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), tight_layout=True)
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    fig.colorbar(im, ax=ax, fraction=0.046)
    if n <= 30:
        ticks = np.arange(n)
        ax.set_xticks(ticks, labels=list(names)[:n], rotation=90, fontsize=7)
        ax.set_yticks(ticks, labels=list(names)[:n], fontsize=7)
        if n <= 12:
            for i in range(n):
                for j in range(n):
                    if m[i, j] > 0:
                        ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=6,
                                color="white" if m[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (normalised)" if normalize else ""))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
