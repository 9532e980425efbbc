"""Import official YOLOv5 ``*-cls.pt`` checkpoints WITHOUT executing pickled code.

Official checkpoints are pickles of whole Python objects (``models.yolo.ClassificationModel`` and friends), so
``torch.load(weights_only=True)`` refuses them and ``weights_only=False`` would run whatever the file says. Instead a
restricted unpickler resolves every global the pickle names through an allow-list:

* tensors are rebuilt by our own code from the zip's raw storage records (no torch deserialisation code runs);
* containers (OrderedDict, set), torch dtypes/Size/device and numpy scalars map to the real (harmless) types;
* YOLOv5 classes, ``torch.nn`` modules, torchvision ResNet/EfficientNet modules (and classes stored as attributes,
  like ResNet's ``_norm_layer``), torchvision / YOLOv5 transforms and pathlib paths map to inert
  :class:`PickledObject` stand-ins that only record their constructor arguments and state;
* anything else (``os.system``, ``builtins.eval``, ``subprocess.Popen``, ``posix.system``, ...) raises
  :class:`~yolocls.errors.UnsafeCheckpointError` the moment it is named, before it could be called.

The weights are then read out of the recorded module state, the architecture and size are inferred from the
state_dict (YOLOv5-cls n/s/m/l/x, torchvision-layout ResNet18..101 or EfficientNet-B0..B3), and the matching zoo
model is built and loaded strictly (fp16 -> fp32).
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolocls.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig
from yolocls.errors import CheckpointError, UnsafeCheckpointError

# Modules whose classes become inert stand-ins (any class name in them).
_STANDIN_MODULES = (
    "models.yolo",
    "models.common",
    "models.experimental",
    "utils.augmentations",
    "torchvision.transforms.transforms",
    # YOLOv5's classify/train.py pickles whole torchvision ResNet / EfficientNet modules (resnet18.pt, ...)
    "torchvision.models.resnet",
    "torchvision.models.efficientnet",
    "torchvision.ops.misc",
    "torchvision.ops.stochastic_depth",
)
_STANDIN_PREFIXES = ("torch.nn.modules.",)
_STANDIN_NAMES = {
    ("torchvision.transforms.functional", "InterpolationMode"),
    ("torchvision.transforms", "InterpolationMode"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "PureWindowsPath"),
}
_STORAGE_DTYPES = {
    "DoubleStorage": torch.float64,
    "FloatStorage": torch.float32,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
}
_SIZES = {16: "n", 32: "s", 48: "m", 64: "l", 80: "x"}  # layer-0 channels -> size (64 * width rounded to 8)
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch < 1.6 serialisation


class PickledObject:
    """Inert stand-in for a pickled instance of an allowed class: records ``qualname``, ``args`` and ``state``.

    Nothing of the original class is imported or run.
    """

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> PickledObject:
        obj = super().__new__(cls)
        obj.args = args
        obj.state = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<PickledObject {self.qualname}>"

    @property
    def attrs(self) -> dict[str, Any]:
        """The instance ``__dict__`` as pickled (empty if the state was not a dict)."""
        if isinstance(self.state, dict):
            return self.state
        if isinstance(self.state, tuple) and self.state and isinstance(self.state[0], dict):
            return self.state[0]  # (dict_state, slots_state)
        return {}


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


def _rebuild_tensor_v2(
    storage: Any, offset: int, size: Any, stride: Any, requires_grad: Any = False, hooks: Any = None, meta: Any = None
) -> torch.Tensor:
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise CheckpointError("corrupt checkpoint: a tensor refers to something that is not a storage")
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride) or int(offset) < 0:
        raise CheckpointError("corrupt checkpoint: tensor size/stride mismatch")
    if all(s > 0 for s in size) and int(offset) + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) >= (
        storage.numel()
    ):
        raise CheckpointError("corrupt checkpoint: a tensor reaches past the end of its storage (truncated file?)")
    return storage.as_strided(size, stride, int(offset))


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, state: Any = None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise CheckpointError("corrupt checkpoint: a parameter holds no tensor")
    return data


def _numpy_scalar(*args: Any) -> Any:
    import importlib

    for mod in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(mod).scalar(*args)
        except (ImportError, AttributeError):
            continue
    raise CheckpointError("cannot rebuild a numpy scalar with this numpy")


def _safe_global(module: str, name: str, standins: dict[str, type[PickledObject]]) -> Any:
    """The object an allowed global resolves to, or None if it is not allowed.

    Everything mutable handed to the pickle (functions, stand-in classes, storage markers) is created per load, so
    a pickle that BUILDs attributes onto them cannot change how later files load.
    """
    if module == "collections" and name == "OrderedDict":
        return OrderedDict
    if module in ("builtins", "__builtin__") and name in ("set", "frozenset"):
        return {"set": set, "frozenset": frozenset}[name]
    if module == "torch._utils":
        if name == "_rebuild_tensor_v2":
            return lambda *a: _rebuild_tensor_v2(*a)
        if name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return lambda *a: _rebuild_parameter(*a)
    if module == "torch":
        if name in _STORAGE_DTYPES:
            return _StorageType(_STORAGE_DTYPES[name])
        if name == "Size":
            return torch.Size
        if name == "device":
            return torch.device
        if isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "scalar":
        return lambda *a: _numpy_scalar(*a)  # e.g. best_fitness saved as a numpy float
    if module == "numpy" and name == "dtype":
        return np.dtype
    if module in _STANDIN_MODULES or module.startswith(_STANDIN_PREFIXES) or (module, name) in _STANDIN_NAMES:
        qualname = f"{module}.{name}"
        if qualname not in standins:
            standins[qualname] = type(name.rsplit(".", 1)[-1], (PickledObject,), {"qualname": qualname})
        return standins[qualname]
    return None


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves globals only through the allow-list and reads storages from a torch zip."""

    def __init__(self, file: io.BytesIO, zf: zipfile.ZipFile | None = None, prefix: str = "", source: str = "") -> None:
        super().__init__(file)
        self._zf = zf
        self._prefix = prefix
        self._source = source
        self._storages: dict[str, torch.Tensor] = {}
        self._standins: dict[str, type[PickledObject]] = {}

    def find_class(self, module: str, name: str) -> Any:
        obj = _safe_global(module, name, self._standins)
        if obj is None:
            raise UnsafeCheckpointError(
                f"{self._source}: refused to load: the pickle asks for the global {module}.{name}, which is not a "
                "tensor, container or YOLOv5 module (nothing was executed); only load checkpoints you trust"
            )
        return obj

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise CheckpointError(f"{self._source}: corrupt checkpoint: unknown persistent id in the pickle")
        stype, key, _location, numel = pid[1], str(pid[2]), pid[3], pid[4]
        if self._zf is None:
            raise CheckpointError(f"{self._source}: a plain pickle with tensor storages is not a torch checkpoint")
        if key in self._storages:
            return self._storages[key]
        dtype = stype.dtype if isinstance(stype, _StorageType) else None
        if dtype is None:
            raise CheckpointError(f"{self._source}: corrupt checkpoint: unsupported storage type {stype!r}")
        try:
            info = self._zf.getinfo(f"{self._prefix}data/{key}")
            if info.compress_type != zipfile.ZIP_STORED:  # torch.save never compresses; refuse zip bombs
                raise CheckpointError(f"{self._source}: storage {key} is compressed, so not written by torch.save")
            raw = self._zf.read(info)
        except (KeyError, zipfile.BadZipFile, OSError) as e:
            raise CheckpointError(
                f"{self._source}: corrupt or truncated checkpoint: storage {key} unreadable ({e})"
            ) from e
        itemsize = torch.empty((), dtype=dtype).element_size()
        if len(raw) != int(numel) * itemsize:
            raise CheckpointError(
                f"{self._source}: corrupt checkpoint: storage {key} has {len(raw)} bytes, expected {int(numel) * itemsize}"
            )
        t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        self._storages[key] = t
        return t


def restricted_load(path: str | os.PathLike[str]) -> Any:
    """Unpickle a torch checkpoint (zip) or a plain pickle with the allow-list; returns plain objects, tensors and
    :class:`PickledObject` stand-ins. Raises UnsafeCheckpointError for a refused global, CheckpointError otherwise."""
    path = Path(path)
    src = str(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {src}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{src} is empty (0 bytes): an interrupted save? use another checkpoint")
    with open(path, "rb") as f:
        head = f.read(4)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                pkls = [n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
                if not pkls:
                    raise CheckpointError(f"{src} is a zip file but not a torch checkpoint (no data.pkl)")
                prefix = pkls[0][: -len("data.pkl")]
                byteorder = f"{prefix}byteorder"
                if byteorder in zf.namelist() and zf.read(byteorder).strip() not in (b"little", b""):
                    raise CheckpointError(f"{src} was saved on a big-endian machine; not supported")
                info = zf.getinfo(pkls[0])
                if info.compress_type != zipfile.ZIP_STORED:
                    raise CheckpointError(f"{src}: data.pkl is compressed, so the file was not written by torch.save")
                return RestrictedUnpickler(io.BytesIO(zf.read(info)), zf, prefix, src).load()
        if head[:2] == b"PK":
            raise CheckpointError(f"{src} is truncated or corrupt (incomplete zip archive); re-download or re-save it")
        if not head or head[0] != 0x80:
            raise CheckpointError(f"{src} is not a PyTorch checkpoint (unrecognised file contents)")
        with open(path, "rb") as f:
            obj = RestrictedUnpickler(io.BytesIO(f.read()), None, "", src).load()
        if isinstance(obj, int) and obj == _LEGACY_MAGIC:
            raise CheckpointError(f"{src} uses the legacy torch<1.6 format; re-save it with a recent torch")
        return obj
    except CheckpointError:
        raise
    except MemoryError:  # a damaged length field (e.g. BINBYTES8) makes the C unpickler ask for exabytes
        raise CheckpointError(f"{src} is corrupt: its pickle asks for more memory than this machine has (a damaged "
                              "length field?); re-download or re-save it") from None
    except Exception as e:  # noqa: BLE001 - damaged bytes reach the allow-listed rebuilders with arbitrary arguments,
        # which raise many types (AssertionError, NotImplementedError, ...); nothing outside the allow-list ran
        detail = (str(e).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(f"{src} is corrupt or truncated ({type(e).__name__}: {detail})") from e


def _walk_state(obj: PickledObject, prefix: str, out: dict[str, torch.Tensor], mods: dict[str, PickledObject]) -> None:
    mods[prefix.rstrip(".")] = obj
    attrs = obj.attrs
    non_persistent = attrs.get("_non_persistent_buffers_set") or set()
    for kind in ("_parameters", "_buffers"):
        for k, v in (attrs.get(kind) or {}).items():
            if v is None or (kind == "_buffers" and k in non_persistent):
                continue
            if not isinstance(v, torch.Tensor):
                raise CheckpointError(f"corrupt checkpoint: {prefix}{k} is not a tensor")
            out[prefix + k] = v
    for k, child in (attrs.get("_modules") or {}).items():
        if isinstance(child, PickledObject):
            _walk_state(child, f"{prefix}{k}.", out, mods)


def module_state_dict(obj: PickledObject) -> tuple[dict[str, torch.Tensor], dict[str, PickledObject]]:
    """state_dict of a pickled module stand-in (walks ``_modules``/``_parameters``/``_buffers``), plus its submodules."""
    sd: dict[str, torch.Tensor] = {}
    mods: dict[str, PickledObject] = {}
    _walk_state(obj, "", sd, mods)
    return sd, mods


def _infer_size(sd: dict[str, torch.Tensor], src: str) -> tuple[str, int]:
    """``(zoo model name, num_classes)`` for a pickled model's state_dict; CheckpointError if it fits none."""
    from yolocls.models.registry import get_entry
    from yolocls.models.yolov5 import scale_depth

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


def _names(model_obj: PickledObject, nc: int) -> list[str]:
    names = model_obj.attrs.get("names")
    out: list[str] = []
    if isinstance(names, dict):
        try:
            out = [str(names[k]) for k in sorted(names, key=int)]
        except (TypeError, ValueError):
            out = [str(v) for v in names.values()]
    elif isinstance(names, (list, tuple)):
        out = [str(n) for n in names]
    return out if len(out) == nc else [str(i) for i in range(nc)]


def _to_floats(v: Any) -> tuple[float, ...] | None:
    if isinstance(v, torch.Tensor):
        v = v.flatten().tolist()
    if isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v):
        return tuple(float(x) for x in v)
    return None


def _first_int(v: Any) -> int | None:
    if isinstance(v, (list, tuple)) and v:
        v = v[0]
    return int(v) if isinstance(v, int) and v > 0 else None


def preprocess_from_transforms(transforms: Any, default_imgsz: int = 224) -> PreprocessConfig:
    """Crop mode, imgsz and mean/std from a pickled YOLOv5/torchvision ``Compose`` (stand-ins); defaults otherwise.

    YOLOv5's CenterCrop (square centre crop + resize) is our ``center``; LetterBox is ``letterbox``; mean/std come
    from Normalize. The input channel order is RGB (YOLOv5's ToTensor flips BGR to RGB).
    """
    imgsz, crop = default_imgsz, "center"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    items = transforms.attrs.get("transforms") if isinstance(transforms, PickledObject) else None
    for t in items if isinstance(items, (list, tuple)) else []:
        if not isinstance(t, PickledObject):
            continue
        kind, a = t.qualname.rsplit(".", 1)[-1], t.attrs
        if kind in ("CenterCrop", "LetterBox"):
            size = _first_int(a.get("h")) or _first_int(a.get("size"))
            imgsz = size or imgsz
            crop = "letterbox" if kind == "LetterBox" else "center"
        elif kind == "Normalize":
            mean = _to_floats(a.get("mean")) or mean
            std = _to_floats(a.get("std")) or std
    return PreprocessConfig(imgsz=imgsz, crop=crop, mean=mean, std=std)  # type: ignore[arg-type]  # len 3 checked


def import_yolov5_checkpoint(path: str | os.PathLike[str]) -> Any:
    """Build a zoo model (eval mode, fp32, CPU) from an official YOLOv5 classification checkpoint.

    ``yolov5*-cls.pt`` gives a :class:`YOLOv5ClassificationModel`; YOLOv5's ``resnet18..101.pt`` and
    ``efficientnet_b0..b3.pt`` (whole torchvision modules) give our ``resnet*`` / ``efficientnet_b*`` models.

    Reads ``ema`` if present else ``model`` (as YOLOv5 does); keeps ``names`` (list or dict) and the
    crop/normalise settings of ``transforms``; copies each BatchNorm's pickled eps/momentum. Raises
    UnsafeCheckpointError for a pickle that names a disallowed global, CheckpointError for anything else wrong.
    """
    from yolocls.models.registry import create_model

    src = str(path)
    ckpt = restricted_load(path)
    model_obj = ckpt
    if isinstance(ckpt, dict):
        model_obj = ckpt.get("ema") or ckpt.get("model")
    if not isinstance(model_obj, PickledObject):
        raise CheckpointError(f"{src} holds no pickled YOLOv5 model (expected a dict with 'model' or 'ema')")
    sd, pickled_modules = module_state_dict(model_obj)
    name, nc = _infer_size(sd, src)
    model = create_model(name, num_classes=nc, names=_names(model_obj, nc))
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[:2]
        raise CheckpointError(f"{src}: weights do not fit {name}: {' '.join(first)}") from e
    for mod_name, m in model.named_modules():  # keep YOLOv5's BatchNorm settings exactly
        pm = pickled_modules.get(mod_name)
        if isinstance(m, torch.nn.BatchNorm2d) and pm is not None:
            for attr in ("eps", "momentum"):
                if isinstance(pm.attrs.get(attr), float):
                    setattr(m, attr, pm.attrs[attr])
    opt = ckpt.get("opt") if isinstance(ckpt, dict) else None
    default_imgsz = _first_int(opt.get("imgsz")) if isinstance(opt, dict) else None
    model.preprocess = preprocess_from_transforms(model_obj.attrs.get("transforms"), default_imgsz or 224)
    return model.eval()
