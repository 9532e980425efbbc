"""Import official YOLOv5 ``*-cls.pt`` checkpoints WITHOUT executing pickled code.

Official checkpoints are pickles of whole Python objects (``models.yolo.ClassificationModel`` and friends), so
``torch.load(weights_only=True)`` refuses them and ``weights_only=False`` would run whatever the file says. Instead
the pure-Python unpickler of :mod:`yolocls.models.safe_pickle` resolves every global the pickle names through an
allow-list (its docstring compares it with torch's weights-only list) and bounds what the file can make it build:

* tensors are rebuilt by our own code from the zip's raw storage records (no torch deserialisation code runs), each
  within the storage it views;
* containers (OrderedDict, set), torch dtypes/Size/device map to the real (harmless) types; numpy scalars only of
  numeric dtypes named from a fixed list, never a dtype rebuilt from the file's state;
* YOLOv5 classes, ``torch.nn`` modules, torchvision ResNet/EfficientNet modules (and classes stored as attributes,
  like ResNet's ``_norm_layer``), torchvision / YOLOv5 transforms and pathlib paths map to inert
  :class:`PickledObject` stand-ins that only record their constructor arguments and state;
* anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ``posix.system``, ...) raises
  :class:`~yolocls.errors.UnsafeCheckpointError` the moment it is named, before it could be called.

The weights are then read out of the recorded module state (each module once, within the module count and depth
limits of :mod:`yolocls.models.limits`), the architecture and size are inferred from the state_dict (YOLOv5-cls
n/s/m/l/x, torchvision-layout ResNet18..101 or EfficientNet-B0..B3), the keys and shapes are compared with the
matching zoo model's, and only then are the weights converted (fp16 -> fp32) and loaded strictly.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any

import torch

from yolocls.errors import CheckpointError
from yolocls.models.limits import (
    MAX_CLASSES,
    MAX_IMGSZ,
    MAX_MODULE_DEPTH,
    MAX_MODULES,
    MAX_NAME_CHARS,
    MAX_NUM_CLASSES,
    MAX_STATE_NAME_CHARS,
)
from yolocls.models.safe_pickle import PickledObject, kind, load_pickle, safe_text
from yolocls.spec.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig

__all__ = ["PickledObject", "import_yolov5_checkpoint", "module_state_dict", "preprocess_from_transforms",
           "restricted_load"]

_SIZES = {16: "n", 32: "s", 48: "m", 64: "l", 80: "x"}  # layer-0 channels -> size (64 * width rounded to 8)
_STATE_NAME = re.compile(rf"[A-Za-z0-9_]{{1,{MAX_STATE_NAME_CHARS}}}")


def restricted_load(path: str | os.PathLike[str]) -> Any:
    """Unpickle a torch checkpoint (zip) or a plain pickle with the YOLOv5 allow-list; returns plain objects,
    tensors and :class:`PickledObject` stand-ins. Raises UnsafeCheckpointError for a refused global,
    CheckpointError otherwise (see :mod:`yolocls.models.safe_pickle` for the rules and limits)."""
    return load_pickle(path, objects=True)


def _state_name(k: Any, where: str, src: str) -> str:
    if type(k) is not str or not _STATE_NAME.fullmatch(k):
        shown = safe_text(k, 40) if type(k) is str else kind(k)
        raise CheckpointError(f"{src}: corrupt checkpoint: {where} has a member named {shown!r}, not a short ASCII "
                              "name")
    return k


def _walk_state(root: PickledObject, src: str) -> tuple[dict[str, torch.Tensor], dict[str, PickledObject]]:
    """Iterative walk of ``_modules``: a visited set, the module count and depth limits, no recursion.

    A module reached a second time is fine only if it holds nothing (YOLOv5 shares one ``SiLU`` among all its
    convs); one with parameters, buffers or children there makes a DAG or a cycle, which would multiply the walk.
    """
    out: dict[str, torch.Tensor] = {}
    mods: dict[str, PickledObject] = {}
    seen: set[int] = set()
    visits = 0
    todo: list[tuple[PickledObject, str, int]] = [(root, "", 0)]
    while todo:
        obj, prefix, depth = todo.pop()
        where = safe_text(prefix.rstrip("."), 80) or "the model"
        visits += 1
        if visits > MAX_MODULES:
            raise CheckpointError(f"{src}: corrupt checkpoint: the model has more than {MAX_MODULES} modules (limit)")
        if depth > MAX_MODULE_DEPTH:
            raise CheckpointError(f"{src}: corrupt checkpoint: modules nested deeper than {MAX_MODULE_DEPTH} levels "
                                  "(limit)")
        attrs = obj.attrs
        if id(obj) in seen:
            if any(attrs.get(g) for g in ("_parameters", "_buffers", "_modules")):
                raise CheckpointError(f"{src}: corrupt checkpoint: module {where} appears twice in the model with "
                                      "state (a shared or cyclic module graph)")
            mods[prefix.rstrip(".")] = obj
            continue
        seen.add(id(obj))
        mods[prefix.rstrip(".")] = obj
        skip = attrs.get("_non_persistent_buffers_set") or set()
        if type(skip) not in (set, frozenset, list, tuple):
            raise CheckpointError(f"{src}: corrupt checkpoint: {where}'s non-persistent buffers are {kind(skip)}")
        for group in ("_parameters", "_buffers"):
            members = attrs.get(group) or {}
            if not isinstance(members, dict):
                raise CheckpointError(f"{src}: corrupt checkpoint: {where}.{group} is {kind(members)}")
            for k, v in members.items():
                k = _state_name(k, f"{where}.{group}", src)
                if v is None or (group == "_buffers" and k in skip):
                    continue
                if not isinstance(v, torch.Tensor):
                    raise CheckpointError(f"{src}: corrupt checkpoint: {safe_text(prefix + k, 80)} is {kind(v)}, "
                                          "not a tensor")
                out[prefix + k] = v
        children = attrs.get("_modules") or {}
        if not isinstance(children, dict):
            raise CheckpointError(f"{src}: corrupt checkpoint: {where}._modules is {kind(children)}")
        for k, child in reversed(list(children.items())):  # a stack: reversed keeps state_dict order
            k = _state_name(k, f"{where}._modules", src)
            if isinstance(child, PickledObject):
                todo.append((child, f"{prefix}{k}.", depth + 1))
    return out, mods


def module_state_dict(obj: PickledObject, source: str = "checkpoint") -> tuple[dict[str, torch.Tensor],
                                                                                dict[str, PickledObject]]:
    """state_dict of a pickled module stand-in (walks ``_modules``/``_parameters``/``_buffers``), plus its submodules.

    The walk is iterative, visits each module once (a module reached twice is a CheckpointError) and stops at
    :data:`~yolocls.models.limits.MAX_MODULES` modules / :data:`~yolocls.models.limits.MAX_MODULE_DEPTH` levels.
    """
    return _walk_state(obj, source)


def _infer_size(sd: dict[str, torch.Tensor], src: str) -> tuple[str, int]:
    """``(zoo model name, num_classes)`` for a pickled model's state_dict; CheckpointError if it fits none."""
    from yolocls.models.registry import get_entry
    from yolocls.models.yolov5 import scale_depth

    for k in _SHAPE_KEYS:  # the identification below reads shape[0] / shape[1] of these
        if k in sd and sd[k].dim() < 2:
            raise CheckpointError(f"{src}: {k} is a {sd[k].dim()}-D tensor, not a weight matrix")
    name, nc = _identify(sd, src, get_entry, scale_depth)
    if not 1 <= nc <= MAX_NUM_CLASSES:
        raise CheckpointError(f"{src}: the classifier has {nc} outputs; yolocls takes 1 to {MAX_NUM_CLASSES} classes")
    return name, nc


_SHAPE_KEYS = ("conv1.weight", "fc.weight", "features.0.0.weight", "features.8.0.weight", "classifier.1.weight",
               "model.0.conv.weight", "model.9.linear.weight")


def _identify(sd: dict[str, torch.Tensor], src: str, get_entry: Any, scale_depth: Any) -> tuple[str, int]:
    if "conv1.weight" in sd and "fc.weight" in sd:  # torchvision ResNet (YOLOv5 classify/train.py --model resnet50)
        from yolocls.models.resnet import identify_state_dict as identify_resnet

        found = identify_resnet(sd)
        if found is None:
            raise CheckpointError(f"{src}: a torchvision ResNet whose depth is not resnet18/34/50/101")
        return found
    if "features.0.0.weight" in sd:  # torchvision EfficientNet (--model efficientnet_b0)
        from yolocls.models.efficientnet import identify_state_dict as identify_efficientnet

        found = identify_efficientnet(sd)
        if found is None:
            raise CheckpointError(f"{src}: a torchvision EfficientNet whose size is not efficientnet_b0..b3")
        return found
    w0, lin = sd.get("model.0.conv.weight"), sd.get("model.9.linear.weight")
    if w0 is None or lin is None or "model.10.conv.weight" in sd:
        raise CheckpointError(
            f"{src} is not a YOLOv5 classification checkpoint (neither YOLOv5-cls model.0 ... model.9.linear "
            "layers nor a torchvision ResNet/EfficientNet)"
        )
    if "model.0.bn.weight" not in sd:
        raise CheckpointError(f"{src} holds a BN-fused YOLOv5 model; import an unfused training checkpoint")
    size = _SIZES.get(int(w0.shape[0]))
    if size is None or w0.shape[1] != 3 or lin.shape[1] != 1280:
        raise CheckpointError(
            f"{src}: unrecognised YOLOv5-cls width (layer 0 has {int(w0.shape[0])} channels); only the official "
            "n/s/m/l/x multiples are supported"
        )
    depth = get_entry(f"yolov5{size}-cls").kwargs["depth_multiple"]
    n2 = len({k.split(".")[3] for k in sd if k.startswith("model.2.m.")})
    if n2 != scale_depth(3, depth):
        raise CheckpointError(f"{src}: layer 2 has {n2} bottlenecks, not yolov5{size}-cls's {scale_depth(3, depth)}")
    return f"yolov5{size}-cls", int(lin.shape[0])


def _names(model_obj: PickledObject, nc: int, src: str) -> list[str]:
    """Class names from the pickled ``names`` (a list, or a dict by class id), checked before anything is sorted or
    converted: at most MAX_CLASSES entries of strings (or ints) of at most MAX_NAME_CHARS characters. Names that do
    not match the classifier size give "0".."n-1", as before."""
    names = model_obj.attrs.get("names")
    if names is None:
        return [str(i) for i in range(nc)]
    if type(names) not in (list, tuple, dict):
        raise CheckpointError(f"{src}: the model's names are {kind(names)}, not a list or a dict")
    if len(names) > MAX_CLASSES:
        raise CheckpointError(f"{src}: the model has {len(names)} class names, over the limit of {MAX_CLASSES}")

    def name(v: Any) -> str:
        if type(v) is int and abs(v) < 10**18:
            return str(v)
        if type(v) is not str or len(v) > MAX_NAME_CHARS:
            raise CheckpointError(f"{src}: a class name is {kind(v)}, not a string of at most {MAX_NAME_CHARS} "
                                  "characters")
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise CheckpointError(f"{src}: a class name holds a lone surrogate (invalid Unicode)") from None
        return v

    if type(names) is dict:
        if not all(type(k) is int and 0 <= k < MAX_CLASSES for k in names):
            raise CheckpointError(f"{src}: the names dict has keys other than class ids 0..{MAX_CLASSES - 1}")
        out = [name(names[k]) for k in sorted(names)]
    else:
        out = [name(v) for v in names]
    return out if len(out) == nc else [str(i) for i in range(nc)]


def _to_floats(v: Any, src: str, what: str) -> tuple[float, ...] | None:
    if isinstance(v, torch.Tensor):
        if v.numel() != 3:
            return None
        v = v.flatten().tolist()
    if type(v) not in (list, tuple) or len(v) != 3 or not all(type(x) in (int, float) for x in v):
        return None
    out = tuple(float(x) for x in v)
    if not all(math.isfinite(x) for x in out) or what == "std" and any(x == 0 for x in out):
        raise CheckpointError(f"{src}: the transforms' Normalize {what} is not finite (or a std is 0)")
    return out


def _first_int(v: Any, src: str, what: str) -> int | None:
    """An image size (int, or the first of a list/tuple) in 1..MAX_IMGSZ; None if absent. A float, string or bool
    size is a CheckpointError, not silently replaced by the default."""
    if type(v) in (list, tuple) and v:
        v = v[0]
    if v is None:
        return None
    if type(v) is not int or not 1 <= v <= MAX_IMGSZ:
        shown = v if type(v) is int else kind(v)
        raise CheckpointError(f"{src}: {what} is {shown}; yolocls takes image sizes from 1 to {MAX_IMGSZ} pixels")
    return v


def preprocess_from_transforms(transforms: Any, default_imgsz: int = 224, src: str = "checkpoint") -> PreprocessConfig:
    """Crop mode, imgsz and mean/std from a pickled YOLOv5/torchvision ``Compose`` (stand-ins); defaults otherwise.

    YOLOv5's CenterCrop (square centre crop + resize) is our ``center``; LetterBox is ``letterbox``; mean/std come
    from Normalize. The input channel order is RGB (YOLOv5's ToTensor flips BGR to RGB). A size over
    :data:`~yolocls.models.limits.MAX_IMGSZ` or a non-finite mean/std is a CheckpointError.
    """
    imgsz, crop = default_imgsz, "center"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    items = transforms.attrs.get("transforms") if isinstance(transforms, PickledObject) else None
    for t in items[:64] if isinstance(items, (list, tuple)) else []:
        if not isinstance(t, PickledObject):
            continue
        kind_, a = t.qualname.rsplit(".", 1)[-1], t.attrs
        if kind_ in ("CenterCrop", "LetterBox"):
            size = _first_int(a.get("h"), src, "the crop size") or _first_int(a.get("size"), src, "the crop size")
            imgsz = size or imgsz
            crop = "letterbox" if kind_ == "LetterBox" else "center"
        elif kind_ == "Normalize":
            mean = _to_floats(a.get("mean"), src, "mean") or mean
            std = _to_floats(a.get("std"), src, "std") or std
    return PreprocessConfig(imgsz=imgsz, crop=crop, mean=mean, std=std)  # type: ignore[arg-type]  # len 3 checked


def import_yolov5_checkpoint(path: str | os.PathLike[str]) -> Any:
    """Build a zoo model (eval mode, fp32, CPU) from an official YOLOv5 classification checkpoint.

    ``yolov5*-cls.pt`` gives a :class:`YOLOv5ClassificationModel`; YOLOv5's ``resnet18..101.pt`` and
    ``efficientnet_b0..b3.pt`` (whole torchvision modules) give our ``resnet*`` / ``efficientnet_b*`` models.

    Reads ``ema`` if present else ``model`` (as YOLOv5 does); keeps ``names`` (list or dict) and the
    crop/normalise settings of ``transforms``; copies each BatchNorm's pickled eps/momentum. Raises
    UnsafeCheckpointError for a pickle that names a disallowed global, CheckpointError for anything else wrong.
    """
    from yolocls.models.checkpoint import check_weights_fit
    from yolocls.models.registry import create_model

    src = str(path)
    ckpt = restricted_load(path)
    model_obj = ckpt
    if isinstance(ckpt, dict):
        model_obj = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model_obj, PickledObject):
        raise CheckpointError(f"{src} holds no pickled YOLOv5 model (expected a dict with 'model' or 'ema')")
    sd, pickled_modules = module_state_dict(model_obj, src)
    name, nc = _infer_size(sd, src)
    names = _names(model_obj, nc, src)
    opt = ckpt.get("opt") if isinstance(ckpt, dict) else None
    default_imgsz = _first_int(opt.get("imgsz"), src, "opt.imgsz") if isinstance(opt, dict) else None
    preprocess = preprocess_from_transforms(model_obj.attrs.get("transforms"), default_imgsz or 224, src)
    model = create_model(name, num_classes=nc, names=names)
    check_weights_fit(sd, model, name, src)
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[:2]
        raise CheckpointError(f"{src}: weights do not fit {name}: {' '.join(first)}") from e
    for mod_name, m in model.named_modules():  # keep YOLOv5's BatchNorm settings exactly
        pm = pickled_modules.get(mod_name)
        if isinstance(m, torch.nn.BatchNorm2d) and pm is not None:
            eps, momentum = pm.attrs.get("eps"), pm.attrs.get("momentum")
            if type(eps) is float and math.isfinite(eps) and 0 < eps < 1:
                m.eps = eps
            if type(momentum) is float and 0 <= momentum <= 1 or momentum is None and "momentum" in pm.attrs:
                m.momentum = momentum
    model.preprocess = preprocess
    return model.eval()
