"""Device selection and small torch helpers."""

from __future__ import annotations

import os

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
