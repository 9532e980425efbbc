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
import math
import os
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from torch import nn

from yolocls.errors import CheckpointError, InputError, MetadataError, UnknownModelError, YoloclsError
from yolocls.models.limits import MAX_MODEL_NAME_CHARS, MAX_NUM_CLASSES, MAX_STATE_NAME_CHARS
from yolocls.models.safe_pickle import PickledObjectsError, kind, load_pickle, safe_text
from yolocls.spec.preprocess import PreprocessConfig
from yolocls.utils.files import atomic_open

FORMAT = "yolocls-checkpoint"
FORMAT_VERSION = 1

__all__ = ["FORMAT", "FORMAT_VERSION", "PickledObjectsError", "load_model", "model_from_checkpoint",
           "read_checkpoint", "save_checkpoint"]


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


# What a checkpoint's config may ask create_model for: option -> (type, low, high) per model family. The highs are
# the largest registered size of the family (yolov5x-cls, resnet101, efficientnet_b3), so a small file cannot make
# the loader build a model much bigger than any real one before its weights are checked.
# (kind, low, high): "(]" floats exclude the low end (multipliers, eps), "[)" the high end (probabilities)
_Rule = tuple[str, float, float]
_YOLOV5_OPTIONS: dict[str, _Rule] = {
    "depth_multiple": ("(]", 0.0, 1.33), "width_multiple": ("(]", 0.0, 1.25), "head_hidden": ("int", 1, 1280),
    "dropout": ("[)", 0.0, 1.0), "width_divisor": ("int", 1, 64), "in_channels": ("int", 1, 4),
}
_MODEL_OPTIONS: dict[str, dict[str, _Rule]] = {
    "yolov5": _YOLOV5_OPTIONS,
    "tiny": _YOLOV5_OPTIONS,
    "resnet": {"dropout": ("[)", 0.0, 1.0), "zero_init_residual": ("bool", 0, 1)},  # + block, layers below
    "efficientnet": {"width_mult": ("(]", 0.0, 1.2), "depth_mult": ("(]", 0.0, 1.4), "dropout": ("[)", 0.0, 1.0),
                     "stochastic_depth_prob": ("[)", 0.0, 1.0), "bn_eps": ("(]", 0.0, 0.1),
                     "bn_momentum": ("[]", 0.0, 1.0)},
}
_RESNET_MAX_LAYERS = (3, 4, 23, 3)  # resnet101
# the classifier weight per family: its rows must equal num_classes BEFORE the model is built
_CLASSIFIER_KEY = {"yolov5": "model.9.linear.weight", "tiny": "model.9.linear.weight", "resnet": "fc.weight",
                   "efficientnet": "classifier.1.weight"}
_TOP_LEVEL_TYPES: dict[str, tuple[type, ...]] = {
    "names": (list, type(None)), "preprocess": (dict, type(None)), "ema_state_dict": (dict, type(None)),
    "train_args": (dict, type(None)), "optimizer": (dict, type(None)), "scheduler": (dict, type(None)),
    "extra": (dict, type(None)), "epoch": (int,), "updates": (int,), "best_fitness": (float, int, type(None)),
    "date": (str,), "yolocls_version": (str,),
}


def _check_state_dict(sd: Any, src: str, key: str) -> dict[str, torch.Tensor]:
    if not isinstance(sd, dict):
        raise CheckpointError(f"{src} is incomplete: {key} is {kind(sd)}, not a dict of tensors")
    for k, v in sd.items():
        if type(k) is not str or not 0 < len(k) <= 16 * MAX_STATE_NAME_CHARS or not k.isascii():
            raise CheckpointError(f"{src}: {key} has a key that is {kind(k)}, not a short ASCII name")
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{src}: {key}[{safe_text(k, 60)!r}] is {kind(v)}, not a tensor")
    return sd


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and validate a yolocls checkpoint (tensors on CPU), with the weights-only allow-list of
    :mod:`yolocls.models.safe_pickle` (the globals ``torch.load(weights_only=True)`` takes, minus unused ones; within
    the limits of :mod:`yolocls.models.limits`).

    Raises CheckpointError (one line) for a missing, empty, truncated, corrupt, foreign, hostile or newer-format file;
    :class:`PickledObjectsError` (a CheckpointError) for pickles of Python objects such as official YOLOv5
    checkpoints, which :func:`load_model` imports safely instead.
    """
    path = Path(path)
    ckpt = load_pickle(path, objects=False)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a yolocls checkpoint (no format={FORMAT!r} entry)")
    version = ckpt.get("format_version")
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{path} has no valid checkpoint format_version ({kind(version)})")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {version}; this yolocls reads up to {FORMAT_VERSION} "
            "(upgrade yolocls)"
        )
    for key in ("config", "state_dict"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"{path} is incomplete: missing {key!r}")
    for key, types in _TOP_LEVEL_TYPES.items():
        if key in ckpt and (type(ckpt[key]) not in types or type(ckpt[key]) is bool):
            raise CheckpointError(f"{path}: {key!r} is {kind(ckpt[key])}, which this format never stores there")
    _check_state_dict(ckpt["state_dict"], str(path), "state_dict")
    if ckpt.get("ema_state_dict") is not None:
        _check_state_dict(ckpt["ema_state_dict"], str(path), "ema_state_dict")
    return ckpt


def _option_ok(rule: _Rule, v: Any) -> bool:
    t, lo, hi = rule
    if t == "bool":
        return type(v) is bool
    if t == "int":
        return type(v) is int and lo <= v <= hi
    if type(v) not in (int, float) or not math.isfinite(v):
        return False
    return (lo < v if t[0] == "(" else lo <= v) and (v < hi if t[1] == ")" else v <= hi)


def _describe(rule: _Rule) -> str:
    t, lo, hi = rule
    if t in ("bool", "int"):
        return "true or false" if t == "bool" else f"an integer from {lo} to {hi}"
    return f"a number in {t[0]}{lo}, {hi}{t[1]}"


def _check_config(cfg: Any, src: str) -> tuple[Any, int, dict[str, Any]]:
    """(registry entry, num_classes, kwargs) of a checkpoint's config, every value checked before create_model."""
    from yolocls.models.registry import get_entry

    if not isinstance(cfg, dict):
        raise CheckpointError(f"{src}: the model config is {kind(cfg)}, not a dict")
    unknown = [k for k in cfg if k not in ("name", "num_classes", "kwargs")]
    if unknown:
        raise CheckpointError(f"{src}: the model config has an unknown entry {safe_text(str(unknown[0]), 40)!r}")
    name, nc, kwargs = cfg.get("name"), cfg.get("num_classes"), cfg.get("kwargs") or {}
    if type(name) is not str or not 0 < len(name) <= MAX_MODEL_NAME_CHARS:
        raise CheckpointError(f"{src}: the model name is {kind(name)}, not a short string")
    try:
        entry = get_entry(name)
    except UnknownModelError:
        raise CheckpointError(f"{src}: checkpoint's model {safe_text(name, 40)!r} is not in this yolocls's zoo "
                              "(see `yolocls info --list`)") from None
    if type(nc) is not int or not 1 <= nc <= MAX_NUM_CLASSES:
        shown = nc if type(nc) is int else kind(nc)
        raise CheckpointError(f"{src}: checkpoint config has no valid num_classes ({shown}); yolocls takes 1 to "
                              f"{MAX_NUM_CLASSES}")
    if not isinstance(kwargs, dict):
        raise CheckpointError(f"{src}: the model options are {kind(kwargs)}, not a dict")
    options = _MODEL_OPTIONS.get(entry.family, {})
    for k, v in kwargs.items():
        if type(k) is not str or k not in options and not (entry.family == "resnet" and k in ("block", "layers")):
            shown = safe_text(k, 40) if type(k) is str else kind(k)
            raise CheckpointError(f"{src}: checkpoint's model option {shown!r} is not one {name} takes (known: "
                                  f"{', '.join(sorted(options))})")
        if k == "block":
            ok = v in ("basic", "bottleneck") and type(v) is str
        elif k == "layers":
            ok = (type(v) in (list, tuple) and len(v) == 4
                  and all(type(n) is int and 1 <= n <= m for n, m in zip(v, _RESNET_MAX_LAYERS, strict=True)))
        else:
            ok = _option_ok(options[k], v)
        if not ok:
            want = _describe(options[k]) if k in options else f"one of the zoo's ResNet {k}"
            raise CheckpointError(f"{src}: checkpoint's model option {k!r} is {kind(v)} of the wrong type or out of "
                                  f"range (want {want})")
    return entry, nc, dict(kwargs)


def check_weights_fit(sd: Mapping[str, torch.Tensor], model: nn.Module, name: str, src: str) -> None:
    """Keys, shapes and kinds (float or not) of a file's state_dict against a model's, before any tensor is
    converted or copied. CheckpointError naming the first differences."""
    want = model.state_dict()
    unexpected = [k for k in sd if k not in want]
    missing = [k for k in want if k not in sd]
    if unexpected or missing:
        parts = []
        for label, keys in (("unexpected", unexpected), ("missing", missing)):
            if keys:
                more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
                parts.append(f"{label} {', '.join(safe_text(k, 60) for k in keys[:3])}{more}")
        raise CheckpointError(f"{src}: weights do not fit {name}: {'; '.join(parts)}")
    for k, v in want.items():
        if sd[k].shape != v.shape:
            raise CheckpointError(f"{src}: weights do not fit {name}: {k} has shape {list(sd[k].shape)}, "
                                  f"the model's is {list(v.shape)}")
        if sd[k].is_floating_point() != v.is_floating_point():
            raise CheckpointError(f"{src}: weights do not fit {name}: {k} has dtype {sd[k].dtype}, the model's is "
                                  f"{v.dtype}")


def _checked_names(v: Any, nc: int, src: str) -> list[str] | None:
    from yolocls.metadata import check_names

    if v is None:
        return None
    try:
        names = check_names(v)
    except MetadataError as e:
        raise CheckpointError(f"{src}: invalid class names ({_metadata_detail(e)})") from None
    return names if len(names) == nc else None


def _metadata_detail(e: MetadataError) -> str:
    return str(e).removeprefix("malformed yolocls metadata: ").removesuffix("; re-export the model")


def _checked_preprocess(pp: dict[str, Any], src: str) -> PreprocessConfig:
    from yolocls.metadata import check_imgsz, check_preprocess

    try:
        return check_preprocess(pp, check_imgsz(pp.get("imgsz", 224), "preprocess.imgsz"))
    except MetadataError as e:
        raise CheckpointError(f"{src}: invalid preprocess settings ({_metadata_detail(e)})") from None


def model_from_checkpoint(ckpt: Mapping[str, Any], use_ema: bool = True, source: str = "checkpoint") -> Any:
    """Rebuild the :class:`ClassifierBase` of a checkpoint dict (from :func:`read_checkpoint`), in train mode on CPU.

    ``use_ema`` picks ``ema_state_dict`` when the checkpoint has one (the better weights for inference). The config
    (model name, num_classes, options), names, preprocess settings and the classifier's shape are all checked before
    the model is built, and every key and shape before a weight is copied (CheckpointError otherwise).
    """
    from yolocls.models.registry import create_model

    src = source
    entry, nc, kwargs = _check_config(ckpt.get("config"), src)
    name = entry.name
    names = _checked_names(ckpt.get("names"), nc, src)
    preprocess = _checked_preprocess(ckpt["preprocess"], src) if isinstance(ckpt.get("preprocess"), dict) else None
    use = "ema_state_dict" if use_ema and ckpt.get("ema_state_dict") else "state_dict"
    sd = _check_state_dict(ckpt.get(use), src, use)
    head = sd.get(_CLASSIFIER_KEY.get(entry.family, ""))
    if head is not None and (head.dim() != 2 or head.shape[0] != nc):
        raise CheckpointError(f"{src}: checkpoint weights do not fit {name!r}: the classifier has shape "
                              f"{list(head.shape)} for {nc} classes")
    try:
        model = create_model(name, num_classes=nc, names=names, **kwargs)
    except YoloclsError as e:
        raise CheckpointError(f"{src}: checkpoint's model {name!r} cannot be built: {e}") from e
    check_weights_fit(sd, model, name, src)
    try:
        model.load_state_dict(sd, strict=True)
    except (RuntimeError, TypeError) as e:
        first = " ".join(str(e).strip().splitlines()[:2])
        raise CheckpointError(f"{src}: checkpoint weights do not fit {name!r}: {first}") from e
    if preprocess is not None:
        model.preprocess = preprocess
    return model


def load_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Any:
    """Load a yolocls checkpoint or an official YOLOv5 ``*-cls.pt`` as an eval-mode model on ``device``.

    The model has ``.names`` (list[str]) and ``.preprocess`` (PreprocessConfig). Our files load with
    ``torch.load(weights_only=True)``; YOLOv5 pickles go through the restricted importer
    (:mod:`yolocls.models.yolov5_import`), which refuses any pickle that would run code.
    """
    from yolocls.utils.torch_utils import select_device

    try:
        model = model_from_checkpoint(read_checkpoint(path), use_ema=True, source=str(path))
    except PickledObjectsError:
        from yolocls.models.yolov5_import import import_yolov5_checkpoint

        model = import_yolov5_checkpoint(path)
    return model.to(select_device(device)).eval()
