"""Classification metrics: top-k accuracy, confusion matrix, per-class accuracy."""

from __future__ import annotations

import numpy as np
import torch


def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """Number of samples whose target is among the top-k logits, for each k (k is clamped to the class count).

    Args:
        logits: ``[N, C]`` float scores.
        targets: ``[N]`` int64 class ids.
    """
    maxk = min(max(ks), logits.shape[1])
    pred = logits.topk(maxk, dim=1).indices  # [N, maxk], best first
    hit = pred == targets[:, None]
    return [int(hit[:, : min(k, maxk)].any(dim=1).sum()) for k in ks]


class ConfusionMatrix:
    """Counts ``matrix[true, pred]`` over ``num_classes`` classes (int64)."""

    def __init__(self, num_classes: int) -> None:
        self.num_classes = int(num_classes)
        self.matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def update(self, preds: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor) -> None:
        """Add a batch of predicted and true class ids (each ``[N]`` ints)."""
        p = np.asarray(preds.cpu() if isinstance(preds, torch.Tensor) else preds, dtype=np.int64).ravel()
        t = np.asarray(targets.cpu() if isinstance(targets, torch.Tensor) else targets, dtype=np.int64).ravel()
        n = self.num_classes
        self.matrix += np.bincount(t * n + p, minlength=n * n).reshape(n, n)

    def per_class_accuracy(self) -> np.ndarray:
        """Recall per class (correct / images of that class), NaN for classes with no images. float64 ``[C]``."""
        support = self.matrix.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(support > 0, np.diag(self.matrix) / np.maximum(support, 1), np.nan)

    def support(self) -> np.ndarray:
        return self.matrix.sum(axis=1)
