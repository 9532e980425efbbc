"""The one interface every zoo architecture implements (timm-style)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from yolocls.spec.preprocess import PreprocessConfig


class ClassifierBase(nn.Module):
    """Base of all zoo classifiers: ``forward(x[N,3,H,W] float) -> logits [N, num_classes]``.

    Subclasses implement ``forward_features`` (backbone, returns a feature map) and ``forward_head``
    (pool + classifier, returns raw logits) and ``reset_classifier``. ``create_model`` fills
    ``model_name``, ``model_kwargs``, ``names`` and ``preprocess``.
    """

    model_name: str = "unknown"
    model_kwargs: dict[str, Any]
    names: list[str]
    preprocess: PreprocessConfig

    def __init__(self) -> None:
        super().__init__()
        self.model_kwargs = {}
        self.names = []
        self.preprocess = PreprocessConfig()

    @property
    def num_classes(self) -> int:
        return int(self.get_classifier().out_features)

    def get_classifier(self) -> nn.Linear:
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final Linear layer with a freshly initialised one of ``num_classes`` outputs."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def config(self) -> dict[str, Any]:
        """What ``create_model`` needs to rebuild this model (stored in checkpoints)."""
        return {"name": self.model_name, "num_classes": self.num_classes, "kwargs": dict(self.model_kwargs)}
