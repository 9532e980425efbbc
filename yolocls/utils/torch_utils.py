"""Device selection and small torch helpers."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch

from yolocls.errors import InputError


def select_device(device: str | int | torch.device | None = "") -> torch.device:
    """YOLOv5-style device strings: '' (cuda:0 if available else cpu), 'cpu', '0', '0,1', 'cuda:1'."""
    if isinstance(device, torch.device):
        return device
    spec = str(device if device is not None else "").strip().lower().replace("cuda:", "")
    if spec == "cpu":
        return torch.device("cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", "-1"))
    if spec in ("", "cuda"):
        if not torch.cuda.is_available():
            return torch.device("cpu")
        # under torchrun each process takes its own GPU
        return torch.device(f"cuda:{max(local_rank, 0) % torch.cuda.device_count()}")
    ids = [s for s in spec.split(",") if s != ""]
    if not all(s.isdigit() for s in ids):
        raise InputError(f"invalid device {device!r}: use 'cpu', a GPU index like '0', or a list like '0,1'")
    if not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available; use --device cpu")
    n = torch.cuda.device_count()
    bad = [i for i in ids if int(i) >= n]
    if bad:
        raise InputError(f"device {device!r} requested but only {n} GPU(s) are visible")
    if local_rank >= 0:  # under torchrun each process takes its own GPU
        return torch.device(f"cuda:{ids[local_rank % len(ids)]}")
    return torch.device(f"cuda:{ids[0]}")


def recompute_batchnorm(model: torch.nn.Module, batches: Iterable[Any], device: torch.device | None = None) -> int:
    """Replace every BatchNorm's running statistics by their average over ``batches`` ("precise BN").

    Train-mode forward passes without gradients, momentum None (a cumulative average); each BatchNorm's momentum
    and the model's train/eval mode are restored afterwards. ``batches`` yields image tensors/arrays or
    ``(images, labels)`` pairs. Returns the number of images seen (0: nothing was changed).
    """
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return 0
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    momenta = [m.momentum for m in bns]
    was_training = model.training
    n = 0
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches
        model.train()
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                x = torch.as_tensor(x, dtype=torch.float32).to(device, non_blocking=True)
                model(x)
                n += int(x.shape[0])
    finally:
        for m, mom in zip(bns, momenta, strict=True):
            m.momentum = mom
        model.train(was_training)
    return n


def calibrate_batchnorm(model: torch.nn.Module, batch: Any, passes: int = 1) -> torch.nn.Module:
    """Set every BatchNorm's running statistics to those of ``batch`` (train-mode passes, cumulative average).

    Random-init YOLOv5-cls models output almost exactly the head's bias, so comparing two runtimes on them proves
    nothing; calibrating BN on real images makes the logits depend on every layer.

    Args:
        model: any module; it is left in eval mode.
        batch: preprocessed images, ``[N, 3, H, W]`` float32 (NumPy array or tensor).
        passes: forward passes over ``batch``.
    """
    x = torch.as_tensor(batch, dtype=torch.float32)
    recompute_batchnorm(model, [x] * passes)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = None  # as before: the model keeps the cumulative average
    return model.eval()
