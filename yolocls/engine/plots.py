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


def _save(fig: Any, path: Path) -> Path:
    """Save through an atomic write (the file gets the umask's mode like every other output)."""
    import io

    from yolocls.utils.files import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, dpi=120, format=path.suffix.lstrip(".") or "png")
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_results(rows: Sequence[dict[str, float]], path: str | Path, best_epoch: int | None = None,
                 num_classes: int | None = None, label_smoothing: float | None = None) -> Path:
    """Loss, accuracy and learning-rate curves from results.csv rows (keys as written by the trainer).

    Args:
        best_epoch: the epoch (as in the rows, from 1) of the best model: marked on every panel.
        num_classes: with 5 classes or fewer top-5 is always 1 and its curve is left out.
        label_smoothing: named in the training loss's legend (the validation loss is plain cross-entropy).
    """
    plt = _pyplot()
    path = Path(path)
    epochs = [r["epoch"] for r in rows]
    acc_keys = ["metrics/accuracy_top1"]
    if num_classes is None or num_classes > 5:
        acc_keys.append("metrics/accuracy_top5")
    train_label = "train/loss (CE" + (f", label smoothing {label_smoothing:g})" if label_smoothing else ")")
    labels = {"train/loss": train_label, "val/loss": "val/loss (CE)"}
    panels = [("loss", ["train/loss", "val/loss"]), ("accuracy", acc_keys), ("learning rate", ["lr"])]
    best_row = next((r for r in rows if best_epoch is not None and int(r["epoch"]) == int(best_epoch)), None)
    fig, axes = plt.subplots(1, len(panels), figsize=(12, 3.5), tight_layout=True)
    for ax, (title, keys) in zip(axes, panels, strict=False):
        for k in keys:
            ax.plot(epochs, [r[k] for r in rows], marker=".", label=labels.get(k, k))
        if best_row is not None:
            ax.axvline(best_row["epoch"], color="tab:green", linestyle="--", linewidth=1,
                       label=f"best: epoch {int(best_row['epoch'])}")
            if title == "accuracy":
                ax.plot([best_row["epoch"]], [best_row["metrics/accuracy_top1"]], marker="*", markersize=12,
                        color="tab:green", linestyle="none")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        if len(epochs) <= 20:
            ax.set_xticks(epochs)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)
    return path


def _text_colour(rgba: Sequence[float]) -> str:
    """Black on light cells, white on dark ones (relative luminance of the cell's colour)."""
    r, g, b = rgba[:3]
    return "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"


def plot_confusion_matrix(matrix: np.ndarray, names: Sequence[str], path: str | Path, normalize: bool = True) -> Path:
    """Confusion matrix (rows: true class, columns: predicted), coloured by the row-normalised rate.

    Up to 12 classes each non-empty cell shows its count and rate; up to 30 the rate; class labels are drawn up to
    30 classes, beyond that the picture is a heat map. The text colour follows the cell's brightness.
    """
    plt = _pyplot()
    path = Path(path)
    counts = np.asarray(matrix).astype(np.int64)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    m = rates if normalize else counts.astype(np.float64)
    n = len(m)
    size = min(max(4.5, 0.45 * n + 2.5), 16)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), tight_layout=True)
    cmap = plt.get_cmap("Blues")
    vmax = 1.0 if normalize else max(float(m.max()), 1.0)
    im = ax.imshow(m, cmap=cmap, vmin=0.0, vmax=vmax)
    fig.colorbar(im, ax=ax, fraction=0.046, label="rate (of the true class)" if normalize else "images")
    if n <= 30:
        ticks = np.arange(n)
        ax.set_xticks(ticks, labels=list(names)[:n], rotation=90, fontsize=8)
        ax.set_yticks(ticks, labels=list(names)[:n], fontsize=8)
        fontsize = 9 if n <= 6 else 7 if n <= 12 else 5
        for i in range(n):
            for j in range(n):
                if counts[i, j] == 0:
                    continue
                text = f"{counts[i, j]}\n{rates[i, j]:.2f}" if n <= 12 else f"{rates[i, j]:.2f}"[1:]
                ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                        color=_text_colour(cmap(m[i, j] / vmax)))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = int(counts.sum())
    ax.set_title(f"confusion matrix ({total} images; " + ("counts and rates)" if n <= 12 else "rates)"))
    _save(fig, path)
    plt.close(fig)
    return path
