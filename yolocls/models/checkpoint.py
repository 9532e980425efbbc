"""Checkpoint I/O: our own safe format, plus loading official YOLOv5 ``*-cls.pt`` files.

Our format is a dict of plain Python types and tensors only, so it loads with ``torch.load(weights_only=True)``
(no pickled code can run) and is written atomically (a crash leaves the old file or the new one, never half):

    {"format": "yolocls-checkpoint", "format_version": 1,
     "config": model.config(),            # {"name", "num_classes", "kwargs"}: enough for create_model()
     "state_dict": ..., "ema_state_dict": ... | None,
     "names": [...], "preprocess": PreprocessConfig.to_dict(),
     "train_args": {...} | None, "epoch": int, "best_fitness": float | None, "updates": int,
     "optimizer": state_dict | None, "scheduler": state_dict | None,
     "date": ISO-8601 UTC, "yolocls_version": str, "extra": {...} | None}

Typical use::

    save_checkpoint("runs/train/exp/weights/last.pt", model, ema=ema.ema, optimizer=opt, scheduler=sched,
                    epoch=epoch, best_fitness=best, updates=ema.updates, train_args=asdict(cfg))
    ckpt = read_checkpoint("last.pt")              # resume: the raw dict (validated)
    model = model_from_checkpoint(ckpt)             # rebuild the module (EMA weights by default)
    model = load_model("best.pt")                   # or an official yolov5s-cls.pt: eval mode, .names, .preprocess
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import os
import pickle
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from torch import nn

from yolocls.data.preprocess import PreprocessConfig
from yolocls.errors import CheckpointError, InputError, YoloclsError
from yolocls.utils.files import atomic_open

FORMAT = "yolocls-checkpoint"
FORMAT_VERSION = 1


class PickledObjectsError(CheckpointError):
    """The file is a pickle of Python objects (not our weights-only format), e.g. an official YOLOv5 checkpoint."""


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)) else model


def _to_plain(obj: Any, where: str) -> Any:
    """Convert ``obj`` to types ``torch.load(weights_only=True)`` accepts; InputError naming ``where`` otherwise."""
    if isinstance(obj, np.generic):  # before float: np.float64 subclasses float but pickles as a numpy global
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor, torch.dtype)):
        return obj
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, enum.Enum):
        return _to_plain(obj.value, where)
    if isinstance(obj, torch.device):
        return str(obj)
    if isinstance(obj, PreprocessConfig):
        return obj.to_dict()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _to_plain(dataclasses.asdict(obj), where)
    if isinstance(obj, Mapping):
        return {(k if isinstance(k, (str, int)) else str(k)): _to_plain(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [_to_plain(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return tuple(items) if isinstance(obj, tuple) else items
    raise InputError(f"cannot store {where} (a {type(obj).__name__}) in a checkpoint: use plain types or tensors")


def _state(obj: Any, where: str) -> Any:
    """A module/optimizer/scheduler (anything with ``state_dict()``) or an existing state dict -> plain state dict."""
    if obj is None:
        return None
    if isinstance(obj, nn.Module):
        return dict(_unwrap(obj).state_dict())
    if callable(getattr(obj, "state_dict", None)):
        return _to_plain(obj.state_dict(), where)
    if isinstance(obj, Mapping):
        return _to_plain(obj, where)
    raise InputError(f"{where} must be a module, an object with state_dict() or a state dict, got {type(obj).__name__}")


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    ema: nn.Module | Mapping[str, Any] | None = None,
    optimizer: Any = None,
    scheduler: Any = None,
    epoch: int = -1,
    best_fitness: float | None = None,
    updates: int = 0,
    train_args: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a yolocls checkpoint atomically to ``path`` (parent folders are created); returns the path.

    Args:
        model: a zoo :class:`ClassifierBase` (a DDP/DataParallel wrapper is unwrapped). Not BN-fused.
        ema: the EMA model (module) or its state dict; stored as ``ema_state_dict``.
        optimizer, scheduler: objects with ``state_dict()`` or their state dicts (None for weights-only files).
        epoch: last completed epoch (0-based; -1 = finished/not training). best_fitness: best val top-1 so far.
        updates: EMA update count (so a resumed EMA continues its decay curve).
        train_args, extra: dicts of plain values (Paths, enums, numpy scalars are converted).
    """
    from yolocls import __version__

    model = _unwrap(model)
    config_fn = getattr(model, "config", None)
    if not callable(config_fn):
        raise InputError(f"save_checkpoint needs a yolocls zoo model (with config()), got {type(model).__name__}")
    if any(getattr(m, "is_fused", False) for m in model.modules()):
        raise InputError(
            "cannot save a BN-fused model (its weights no longer fit the architecture); save before fuse()"
        )
    names = [str(n) for n in getattr(model, "names", [])]
    preprocess = getattr(model, "preprocess", None) or PreprocessConfig()
    ckpt = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": _to_plain(config_fn(), "config"),
        "state_dict": dict(model.state_dict()),
        "ema_state_dict": _state(ema, "ema"),
        "names": names,
        "preprocess": preprocess.to_dict(),
        "train_args": _to_plain(dict(train_args), "train_args") if train_args is not None else None,
        "epoch": int(epoch),
        "best_fitness": None if best_fitness is None else float(best_fitness),
        "optimizer": _state(optimizer, "optimizer"),
        "scheduler": _state(scheduler, "scheduler"),
        "updates": int(updates),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "yolocls_version": __version__,
        "extra": _to_plain(dict(extra), "extra") if extra is not None else None,
    }
    path = Path(path)
    with atomic_open(path, "wb") as f:
        torch.save(ckpt, f)
    return path


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): an interrupted save? use another checkpoint")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"PK":
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f"{path} is truncated or corrupt (incomplete zip archive); re-download or re-save it")
    elif head[:1] != b"\x80":  # a pickle (legacy torch format) starts with the PROTO opcode
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (unrecognised file contents)")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def _weights_only_reason(msg: str) -> str:
    """The specific reason inside torch's long weights-only error (e.g. 'Unsupported global: GLOBAL posix.system')."""
    for line in msg.splitlines():
        line = line.replace("WeightsUnpickler error:", "").strip()
        if "GLOBAL" in line or line.startswith("Unsupported"):
            return line.split(" was not an allowed global")[0].rstrip(".")[:160]
    return "pickled Python objects"


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a yolocls checkpoint with ``torch.load(weights_only=True)`` (tensors on CPU).

    Raises CheckpointError (one line) for a missing, empty, truncated, corrupt, foreign or newer-format file;
    :class:`PickledObjectsError` (a CheckpointError) for pickles of Python objects such as official YOLOv5
    checkpoints, which :func:`load_model` imports safely instead.
    """
    path = Path(path)
    _check_file(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of foreign files; our errors say more
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "weights only load failed" in msg.lower():
            raise PickledObjectsError(
                f"{path} is not a yolocls checkpoint: weights-only loading refuses it ({_weights_only_reason(msg)}); "
                "official YOLOv5 *-cls.pt files load with load_model(), which never runs pickled code"
            ) from e
        raise CheckpointError(f"{path} is corrupt ({_first_line(e)})") from e
    except Exception as e:  # noqa: BLE001 - on damaged bytes torch's weights-only unpickler raises many types
        # (IndexError, AssertionError, TypeError, struct.error, ...); it runs no pickled code, so any failure = corrupt
        raise CheckpointError(f"{path} is corrupt or truncated ({_first_line(e)})") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a yolocls checkpoint (no format={FORMAT!r} entry)")
    version = ckpt.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version!r}; this yolocls reads up to {FORMAT_VERSION} (upgrade yolocls)"
        )
    for key in ("config", "state_dict"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"{path} is incomplete: missing {key!r}")
    return ckpt


def model_from_checkpoint(ckpt: Mapping[str, Any], use_ema: bool = True) -> Any:
    """Rebuild the :class:`ClassifierBase` of a checkpoint dict (from :func:`read_checkpoint`), in train mode on CPU.

    ``use_ema`` picks ``ema_state_dict`` when the checkpoint has one (the better weights for inference).
    """
    from yolocls.models.registry import create_model

    cfg = ckpt.get("config") or {}
    name, nc, kwargs = cfg.get("name"), cfg.get("num_classes"), cfg.get("kwargs") or {}
    if not isinstance(nc, int):
        raise CheckpointError(f"checkpoint config has no valid num_classes ({nc!r})")
    names = ckpt.get("names") or None
    if names is not None and len(names) != nc:
        names = None
    try:
        model = create_model(str(name), num_classes=nc, names=names, **kwargs)
    except YoloclsError as e:
        raise CheckpointError(f"checkpoint's model {name!r} cannot be built: {e}") from e
    sd = ckpt.get("ema_state_dict") if use_ema and ckpt.get("ema_state_dict") else ckpt.get("state_dict")
    try:
        model.load_state_dict(sd, strict=True)
    except (RuntimeError, TypeError) as e:
        first = " ".join(str(e).strip().splitlines()[:2])
        raise CheckpointError(f"checkpoint weights do not fit {name!r}: {first}") from e
    if isinstance(ckpt.get("preprocess"), dict):
        try:
            model.preprocess = PreprocessConfig.from_dict(ckpt["preprocess"])
        except (YoloclsError, TypeError) as e:
            raise CheckpointError(f"checkpoint has invalid preprocess settings: {e}") from e
    return model


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Any:
    """Load a yolocls checkpoint or an official YOLOv5 ``*-cls.pt`` as an eval-mode model on ``device``.

    The model has ``.names`` (list[str]) and ``.preprocess`` (PreprocessConfig). Our files load with
    ``torch.load(weights_only=True)``; YOLOv5 pickles go through the restricted importer
    (:mod:`yolocls.models.yolov5_import`), which refuses any pickle that would run code.
    """
    from yolocls.utils.torch_utils import select_device

    try:
        model = model_from_checkpoint(read_checkpoint(path), use_ema=True)
    except PickledObjectsError:
        from yolocls.models.yolov5_import import import_yolov5_checkpoint

        model = import_yolov5_checkpoint(path)
    return model.to(select_device(device)).eval()
