"""Exponential moving average of model weights (YOLOv5's ModelEMA semantics).

decay(updates) = 0.9999 * (1 - exp(-updates / 2000)): the average follows the model closely early on
(small decay) and becomes slow once training settles. ``updates`` is saved in checkpoints so a resumed
run continues the same decay curve.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The bare model inside a DistributedDataParallel / DataParallel wrapper."""
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


class ModelEMA:
    """Keeps ``ema``, a frozen eval-mode copy of a model whose float tensors (weights and BN buffers) are
    ``ema = d * ema + (1 - d) * model`` after every optimizer step, with ``d = decay * (1 - exp(-updates / tau))``.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: float = 2000.0, updates: int = 0) -> None:
        self.ema = copy.deepcopy(unwrap(model)).eval()
        self.updates = int(updates)
        self.decay_max = float(decay)
        self.tau = float(tau)
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def decay(self, updates: int) -> float:
        return self.decay_max * (1.0 - math.exp(-updates / self.tau))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` (optionally DDP-wrapped) into the average."""
        self.updates += 1
        d = self.decay(self.updates)
        msd = unwrap(model).state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:  # integer buffers (BN num_batches_tracked) are left alone
                v.mul_(d).add_(msd[k].detach(), alpha=1.0 - d)

    def update_attr(self, model: nn.Module) -> None:
        """Copy the non-tensor attributes that describe the model (names, preprocess, config)."""
        src = unwrap(model)
        for attr in ("names", "preprocess", "model_name", "model_kwargs"):
            if hasattr(src, attr):
                setattr(self.ema, attr, copy.copy(getattr(src, attr)))
