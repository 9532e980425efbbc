"""The model metadata: one reader for ONNX files (ours and YOLOv5's), TensorRT engine sidecars and checkpoints.

:func:`read_model_info` is the one entry point: it returns the :class:`ModelMetadata` (class names, preprocessing,
interface) and the model's input (name, ``[N, C, H, W]`` shape, element type) of

- an ONNX file exported by yolocls: one ``metadata_props`` entry ``yolocls`` holding :meth:`ModelMetadata.to_json`
  (plus the keys YOLOv5 and ultralytics read, :meth:`ModelMetadata.compat_props`);
- an ONNX file exported by YOLOv5 itself: ``names`` (``str(dict)``) and ``stride`` entries, the image size from the
  graph's static input shape, YOLOv5's classify preprocessing (centre crop, ImageNet mean/std, RGB);
- a TensorRT engine: the same JSON in the sidecar ``<engine>.json`` with the engine's facts added, read into the
  typed :class:`EngineFacts` (:attr:`ModelMetadata.engine`);

and :func:`metadata_from_checkpoint` reads a checkpoint's ``names``/``preprocess``/``config`` entries. The ONNX bytes
are parsed once, by :mod:`yolocls.spec.onnx`. The C++ runtime (``csrc/runtime/metadata.cpp``) reads the same
metadata the same way, YOLOv5's ONNX included, with the same limits.

The model's interface is stated, so every reader feeds and reads it right:

- ``input_dtype``: ``float32`` (default) or ``float16`` (an FP16 file with float16 inputs/outputs);
- ``output``: ``logits`` (default) or ``probs`` (softmax inside the graph);
- ``normalized_in_graph``: ``true`` when mean/std normalisation is inside the graph. The ``preprocess`` block then
  holds what a consumer must still do (crop, resize, ``x * scale`` with mean 0 and std 1), so readers that only
  know the ``preprocess`` block (older yolocls, the C++ runtime) feed the file correctly; ``graph_normalization``
  records the mean/std the graph applies.

Files written before these keys existed read as float32 logits normalised outside the graph. This module imports
nothing of yolocls but :mod:`yolocls.errors` and the spec package.
"""

from __future__ import annotations

import ast
import datetime as _dt
import functools
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolocls.errors import InputError, MetadataError
from yolocls.spec.onnx import Dim, OnnxInfo, read_onnx_info
from yolocls.spec.preprocess import PreprocessConfig

__all__ = [
    "ENGINE_KEYS", "MAX_BATCH", "MAX_CLASSES", "MAX_IMGSZ", "MAX_JSON_DEPTH", "MAX_METADATA_BYTES", "MAX_NAME_CHARS",
    "METADATA_KEY", "METADATA_SCHEMA", "PRECISIONS", "SIDECAR_SUFFIX", "BatchProfile", "EngineFacts", "ModelInfo",
    "ModelMetadata", "check_imgsz", "check_interface", "check_names", "check_preprocess", "class_names",
    "file_sha256", "metadata_from_checkpoint", "metadata_from_props", "parse_json", "parse_trt_version",
    "parse_yolov5_names", "read_model_info", "read_onnx_metadata", "read_sidecar", "sidecar_path",
]

METADATA_KEY = "yolocls"
METADATA_SCHEMA = 1

#: Limits on metadata read from files (ONNX metadata_props, engine sidecars); anything beyond is a MetadataError.
MAX_IMGSZ = 4096  # image side in pixels (a 4096x4096 float32 batch of one is 192 MiB)
MAX_CLASSES = 100_000  # class names
MAX_NAME_CHARS = 1024  # characters of one class name
MAX_BATCH = 65_536  # static batch size
MAX_METADATA_BYTES = 16 * 2**20  # the metadata JSON text
MAX_JSON_DEPTH = 64  # nesting of JSON arrays/objects (the C++ reader has the same limit)
INPUT_DTYPES = ("float32", "float16")
OUTPUT_KINDS = ("logits", "probs")
_FLOAT32_MAX = 3.4e38


def _version() -> str:
    from yolocls._version import __version__  # a leaf module (yolocls/__init__.py reaches the models)

    return __version__


@dataclass
class ModelMetadata:
    """What a runtime needs to use a model without its checkpoint.

    ``names`` is indexed by class id; ``preprocess`` holds the spec'd preprocessing settings.
    """

    names: list[str]
    preprocess: PreprocessConfig
    model: str = "unknown"
    task: str = "classify"
    stride: int = 32
    input_name: str = "images"
    output_name: str = "output0"
    dynamic: bool = True
    batch: int = 1  # static batch size when not dynamic
    half: bool = False
    input_dtype: str = "float32"  # of the model's input and output tensors
    output: str = "logits"  # or "probs": softmax inside the graph
    normalized_in_graph: bool = False  # mean/std inside the graph; preprocess then has mean 0, std 1
    graph_normalization: dict[str, list[float]] | None = None  # {"mean": [...], "std": [...]} the graph applies
    version: str = field(default_factory=_version)
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    engine: EngineFacts | None = None  # a TensorRT engine's facts (its sidecar), None for other files
    extra: dict[str, Any] = field(default_factory=dict)  # keys this version does not know, kept for round trips

    def __post_init__(self) -> None:
        """Refuse what would fail later, far from its cause: names that are not strings, a non-config preprocess."""
        if isinstance(self.names, str) or not isinstance(self.names, (list, tuple)) \
                or any(not isinstance(n, str) for n in self.names):
            raise InputError(f"names must be a list of class-name strings, got {_short(self.names)}")
        self.names = list(self.names)
        if not isinstance(self.preprocess, PreprocessConfig):
            raise InputError(f"preprocess must be a PreprocessConfig, got {type(self.preprocess).__name__}")
        if self.input_dtype not in INPUT_DTYPES:
            raise InputError(f"input_dtype must be one of {', '.join(INPUT_DTYPES)}, got {_short(self.input_dtype)}")
        if self.output not in OUTPUT_KINDS:
            raise InputError(f"output must be one of {', '.join(OUTPUT_KINDS)}, got {_short(self.output)}")
        if self.engine is not None and not isinstance(self.engine, EngineFacts):
            raise InputError(f"engine must be EngineFacts or None, got {type(self.engine).__name__}")

    @property
    def imgsz(self) -> int:
        return self.preprocess.imgsz

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def to_dict(self) -> dict[str, Any]:
        pp = self.preprocess.to_dict()
        d: dict[str, Any] = {
            "schema": METADATA_SCHEMA,
            "task": self.task,
            "model": self.model,
            "names": list(self.names),
            "imgsz": [self.imgsz, self.imgsz],
            "preprocess": {
                "crop": pp["crop"],
                "mean": pp["mean"],
                "std": pp["std"],
                "scale": pp["scale"],
                "channel_order": pp["channel_order"],
                "pad_value": pp["pad_value"],
            },
            "stride": self.stride,
            "input_name": self.input_name,
            "output_name": self.output_name,
            "dynamic": self.dynamic,
            "batch": self.batch,
            "half": self.half,
            "input_dtype": self.input_dtype,
            "output": self.output,
            "normalized_in_graph": self.normalized_in_graph,
            "yolocls_version": self.version,
            "created": self.created,
        }
        if self.graph_normalization is not None:
            d["graph_normalization"] = {k: list(v) for k, v in self.graph_normalization.items()}
        d.update(self.extra)
        if self.engine is not None:
            d.update(self.engine.to_dict())
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelMetadata:
        """Metadata from a parsed JSON object, every field checked for type and range before use.

        Raises:
            MetadataError: one line naming the field, what it holds and what is allowed.
        """
        if not isinstance(d, dict):
            raise MetadataError("yolocls metadata must be a JSON object; re-export the model")
        task = d.get("task", "classify")
        if task != "classify":
            raise MetadataError(f"metadata is for task {_short(task)}, yolocls only runs classifiers")
        if "names" not in d or "imgsz" not in d:
            raise MetadataError(f"malformed yolocls metadata (no {'names' if 'names' not in d else 'imgsz'!r}); "
                                "re-export the model")
        names = check_names(d["names"])
        imgsz = check_imgsz(d["imgsz"])
        pp = d.get("preprocess", {})
        if not isinstance(pp, dict):
            raise MetadataError(f"metadata 'preprocess' must be an object, got {_short(pp)}; re-export the model")
        known = {"schema", "task", "model", "names", "imgsz", "preprocess", "stride", "input_name", "output_name",
                 "dynamic", "batch", "half", "input_dtype", "output", "normalized_in_graph", "graph_normalization",
                 "yolocls_version", "created", *ENGINE_KEYS}
        return cls(
            names=names,
            preprocess=check_preprocess(pp, imgsz),
            model=_string(d, "model", "unknown"),
            stride=_integer(d, "stride", 32, 1, MAX_IMGSZ),
            input_name=_string(d, "input_name", "images"),
            output_name=_string(d, "output_name", "output0"),
            dynamic=_boolean(d, "dynamic", True),
            batch=_integer(d, "batch", 1, 1, MAX_BATCH),
            half=_boolean(d, "half", False),
            input_dtype=_choice(d, "input_dtype", "float32", INPUT_DTYPES),
            output=_choice(d, "output", "logits", OUTPUT_KINDS),
            normalized_in_graph=_boolean(d, "normalized_in_graph", False),
            graph_normalization=_graph_normalization(d.get("graph_normalization")),
            version=_string(d, "yolocls_version", "unknown"),
            created=_string(d, "created", ""),
            engine=EngineFacts.from_dict(d) if any(k in d for k in ENGINE_REQUIRED) else None,
            extra={k: v for k, v in d.items() if k not in known},
        )

    @classmethod
    def from_json(cls, text: str) -> ModelMetadata:
        """Metadata from its JSON text (at most :data:`MAX_METADATA_BYTES`, nested at most :data:`MAX_JSON_DEPTH`)."""
        return cls.from_dict(parse_json(text))

    def compat_props(self) -> dict[str, str]:
        """The ONNX metadata entries YOLOv5 and ultralytics read, written the way they write them.

        YOLOv5 writes ``stride`` and ``names`` (``str(dict)``); ultralytics' AutoBackend also needs ``task``,
        ``batch`` (``int(v)``) and ``imgsz`` (a ``[h, w]`` list literal), and uses ``imgsz`` as its input size.
        """
        return {"stride": str(self.stride), "names": str(dict(enumerate(self.names))), "task": self.task,
                "imgsz": str([self.imgsz, self.imgsz]), "batch": str(self.batch)}

    yolov5_props = compat_props  # the former name


def _short(v: Any, limit: int = 40) -> str:
    """``repr(v)`` cut to ``limit`` characters, for messages about hostile values."""
    r = repr(v) if not isinstance(v, (dict, list)) or len(v) < 8 else f"<{type(v).__name__} of {len(v)}>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _bad(field_: str, value: Any, want: str) -> MetadataError:
    return MetadataError(f"malformed yolocls metadata: {field_} must be {want}, got {_short(value)}; "
                         "re-export the model")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _string(d: dict[str, Any], key: str, default: str) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or len(v) > MAX_NAME_CHARS:
        raise _bad(key, v, f"a string of at most {MAX_NAME_CHARS} characters")
    return v


def _boolean(d: dict[str, Any], key: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise _bad(key, v, "true or false")
    return v


def _choice(d: dict[str, Any], key: str, default: str, allowed: tuple[str, ...]) -> str:
    v = d.get(key, default)
    if v not in allowed:
        raise _bad(key, v, f"one of {', '.join(allowed)}")
    return str(v)


def _graph_normalization(v: Any) -> dict[str, list[float]] | None:
    """``{"mean": [3 numbers], "std": [3 numbers]}`` or None (informational: the graph applies it)."""
    if v is None:
        return None
    if not isinstance(v, dict) or set(v) != {"mean", "std"}:
        raise _bad("graph_normalization", v, 'an object {"mean": [3 numbers], "std": [3 numbers]}')
    out = {}
    for key in ("mean", "std"):
        x = v[key]
        if not isinstance(x, list) or len(x) != 3:
            raise _bad(f"graph_normalization.{key}", x, "a list of 3 numbers")
        out[key] = [_number(f"graph_normalization.{key}", n) for n in x]
    return out


def _integer(d: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    v = d.get(key, default)
    if not _is_int(v) or not lo <= v <= hi:
        raise _bad(key, v, f"an integer from {lo} to {hi}")
    return int(v)


def _number(field_: str, v: Any) -> float:
    """A finite number within float32's range (the runtimes compute in float32)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and abs(v) <= _FLOAT32_MAX):
        raise _bad(field_, v, "a finite number within float32's range")
    return float(v)


def check_imgsz(v: Any, field_: str = "imgsz") -> int:
    """``v`` (an int or a list of one or two equal ints) as an image side in 1..:data:`MAX_IMGSZ`."""
    want = f"an integer from 1 to {MAX_IMGSZ} (or a list [h, w] of two equal ones)"
    if isinstance(v, (list, tuple)):
        if not 1 <= len(v) <= 2 or any(not _is_int(x) for x in v) or len(set(v)) != 1:
            raise _bad(field_, v, want)
        v = v[0]
    if not _is_int(v) or not 1 <= v <= MAX_IMGSZ:
        raise _bad(field_, v, want)
    return int(v)


def _name(v: Any) -> str:
    if not isinstance(v, str) or len(v) > MAX_NAME_CHARS:
        raise _bad("each class name", v, f"a string of at most {MAX_NAME_CHARS} characters")
    return v


def check_names(v: Any) -> list[str]:
    """Class names from metadata: a list of strings or an ``{id: name}`` object (ids 0..999999, sorted by id).

    Raises:
        MetadataError: anything else, over :data:`MAX_CLASSES` names or :data:`MAX_NAME_CHARS` characters.
    """
    return class_names(v)


def check_preprocess(pp: dict[str, Any], imgsz: int) -> PreprocessConfig:
    """The preprocess block of the metadata as a :class:`PreprocessConfig`, each value's type checked first."""
    kw: dict[str, Any] = {"imgsz": imgsz}
    for key in ("crop", "channel_order"):
        if key in pp:
            if not isinstance(pp[key], str):
                raise _bad(f"preprocess.{key}", pp[key], "a string")
            kw[key] = pp[key]
    for key in ("mean", "std"):
        if key in pp:
            v = pp[key]
            if not isinstance(v, list) or len(v) != 3:
                raise _bad(f"preprocess.{key}", v, "a list of 3 numbers")
            kw[key] = tuple(_number(f"preprocess.{key}", x) for x in v)
    if "scale" in pp:
        kw["scale"] = _number("preprocess.scale", pp["scale"])
    if "pad_value" in pp:
        pv = pp["pad_value"]
        if not _is_int(pv) or not 0 <= pv <= 255:
            raise _bad("preprocess.pad_value", pv, "an integer from 0 to 255")
        kw["pad_value"] = int(pv)
    try:
        return PreprocessConfig(**kw)
    except InputError as e:
        raise MetadataError(f"malformed yolocls metadata: {e}; re-export the model") from None


def _check_tree(root: Any) -> None:
    """Nesting depth <= MAX_JSON_DEPTH and every string (keys too) encodable as UTF-8 (no lone surrogates)."""
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise MetadataError("malformed yolocls metadata: a string holds a lone UTF-16 surrogate "
                                    "(invalid Unicode); re-export the model") from None
        elif isinstance(v, (list, dict)):
            if depth >= MAX_JSON_DEPTH:
                raise MetadataError(f"malformed yolocls metadata: JSON nested deeper than {MAX_JSON_DEPTH} "
                                    "levels; re-export the model")
            if isinstance(v, dict):
                stack.extend((k, depth + 1) for k in v)
                stack.extend((x, depth + 1) for x in v.values())
            else:
                stack.extend((x, depth + 1) for x in v)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` with the limits of untrusted input: size, nesting depth, NaN/Infinity, lone surrogates.

    Raises:
        MetadataError: one line naming the problem.
    """
    if len(text) > MAX_METADATA_BYTES:
        raise MetadataError(f"yolocls metadata is {len(text)} bytes, over the limit of {MAX_METADATA_BYTES}; "
                            "re-export the model")
    try:
        d = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise MetadataError(f"malformed yolocls metadata: JSON nested deeper than {MAX_JSON_DEPTH} levels; "
                            "re-export the model") from None
    except json.JSONDecodeError as e:
        raise MetadataError(f"yolocls metadata is not valid JSON ({e}); re-export the model") from None
    except (ValueError, UnicodeDecodeError) as e:  # huge integers, invalid UTF-8 bytes, NaN/Infinity
        msg = " ".join(str(e).split())[:120]
        raise MetadataError(f"yolocls metadata is not valid JSON ({msg}); re-export the model") from None
    _check_tree(d)
    return d


# ------------------------------------------------------------------------------------------------- class names
def class_names(v: Any, num_classes: int | None = None, coerce: bool = False) -> list[str]:
    """The one class-name normalisation: a list of names indexed by class id.

    ``v`` is a list/tuple of names or an ``{id: name}`` mapping (YOLOv5 modules and checkpoints; ids are ints or
    digit strings from 0 to 999999, sorted by id). ``coerce`` accepts integer names (YOLOv5 datasets named
    ``0..9``) as their decimal text. An empty ``v`` with ``num_classes`` gives ``["0", "1", ...]``.

    Raises:
        MetadataError: anything else, over :data:`MAX_CLASSES` names, a name over :data:`MAX_NAME_CHARS`
            characters or holding a lone surrogate.
    """
    def name(n: Any) -> str:
        if coerce and _is_int(n) and abs(n) < 10**18:
            return str(n)
        if not isinstance(n, str) or len(n) > MAX_NAME_CHARS:
            raise _bad("each class name", n, f"a string of at most {MAX_NAME_CHARS} characters")
        try:
            n.encode("utf-8")
        except UnicodeEncodeError:
            raise MetadataError("malformed yolocls metadata: a class name holds a lone surrogate (invalid Unicode); "
                                "re-export the model") from None
        return n

    if v is None and num_classes is not None:
        v = []
    if isinstance(v, Mapping):
        if len(v) > MAX_CLASSES:
            raise _bad("names", v, f"at most {MAX_CLASSES} entries")
        items: dict[int, str] = {}
        for k, n in v.items():
            if isinstance(k, str) and k.isascii() and k.isdigit() and len(k) <= 6:
                i = int(k)
            elif _is_int(k) and 0 <= k < 10**6:
                i = int(k)
            else:
                raise _bad("names keys", k, "class ids from 0 to 999999")
            if i in items:
                raise _bad("names keys", k, "unique class ids")
            items[i] = name(n)
        out = [items[i] for i in sorted(items)]
    elif isinstance(v, (list, tuple)):
        if len(v) > MAX_CLASSES:
            raise _bad("names", v, f"at most {MAX_CLASSES} entries")
        out = [name(n) for n in v]
    else:
        raise _bad("names", v, "a list of strings or an {id: name} object")
    if not out and num_classes:
        out = [str(i) for i in range(num_classes)]
    return out


# ------------------------------------------------------------------------------------------- TensorRT engines
PRECISIONS = ("fp32", "fp16", "int8")
SIDECAR_SUFFIX = ".json"
#: Keys every engine sidecar carries besides the ModelMetadata fields (their presence marks a sidecar).
ENGINE_REQUIRED = ("tensorrt_version", "gpu_name", "compute_capability", "precision", "profile", "engine_sha256")
ENGINE_KEYS = (*ENGINE_REQUIRED, "format", "builder_flags", "strongly_typed", "builder_level", "dla", "onnx_sha256",
               "build_seconds", "calibration")
MAX_DLA_CORE = 1023


def parse_trt_version(version: str | Sequence[int]) -> tuple[int, int, int]:
    """The one TensorRT version parser: ``"10.3.0.26"`` -> ``(10, 3, 0)``; missing or non-numeric parts read as 0."""
    if not isinstance(version, str):
        parts = [int(p) for p in list(version)[:3]]
    else:
        parts = [int("".join(c for c in p if c.isdigit())[:9] or 0) for p in version.split(".")[:3]]
    while len(parts) < 3:
        parts.append(0)
    return parts[0], parts[1], parts[2]


@dataclass(frozen=True)
class BatchProfile:
    """An engine's optimization-profile batch sizes (TensorRT tunes kernels for ``opt``; [min, max] runs)."""

    min: int
    opt: int
    max: int

    def shapes(self, chw: tuple[int, int, int]) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
        return (self.min, *chw), (self.opt, *chw), (self.max, *chw)

    def to_dict(self) -> dict[str, int]:
        return {"min": self.min, "opt": self.opt, "max": self.max}

    @classmethod
    def from_value(cls, v: Any, where: str = "engine metadata") -> BatchProfile:
        ok = (isinstance(v, dict) and all(_is_int(v.get(k)) and 1 <= v[k] <= MAX_BATCH for k in ("min", "opt", "max"))
              and v["min"] <= v["opt"] <= v["max"])
        if not ok:
            raise MetadataError(f"{where}: profile must be {{min, opt, max}} batch sizes with 1 <= min <= opt <= max "
                                f"<= {MAX_BATCH}, got {_short(v)}; rebuild the engine")
        return cls(int(v["min"]), int(v["opt"]), int(v["max"]))


def _dla_core(v: Any, where: str) -> int | None:
    if v is None:
        return None
    core: Any = v.get("core") if isinstance(v, dict) else None
    if not _is_int(core) or not 0 <= core <= MAX_DLA_CORE:
        raise MetadataError(f"{where}: 'dla' must be null or {{\"core\": N, ...}} with an integer N >= 0, "
                            f"got {_short(v)}; rebuild the engine")
    return int(core)


@dataclass(frozen=True)
class EngineFacts:
    """What a serialized TensorRT engine is bound to, from its sidecar (written by ``yolocls build-engine``).

    An engine only runs with the TensorRT version and on the GPU (compute capability) it was built with; the runtime
    checks these before TensorRT deserializes it, and ``engine_sha256`` ties the sidecar to the engine's bytes.
    """

    tensorrt_version: str
    gpu_name: str
    compute_capability: str
    precision: str  # fp32 | fp16 | int8
    profile: BatchProfile
    engine_sha256: str
    onnx_sha256: str = ""
    builder_flags: tuple[str, ...] = ()
    strongly_typed: bool = False
    builder_level: int | None = None
    dla_core: int | None = None
    gpu_fallback: bool = False
    build_seconds: float | None = None
    calibration: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        where = "engine metadata"
        for k in ("tensorrt_version", "gpu_name", "compute_capability", "engine_sha256"):
            v = getattr(self, k)
            if not isinstance(v, str) or not v or len(v) > MAX_NAME_CHARS:
                raise MetadataError(f"{where}: {k} must be a non-empty string, got {_short(v)}; rebuild the engine")
        if self.precision not in PRECISIONS:
            raise MetadataError(f"{where}: precision {_short(self.precision)} is not one of {', '.join(PRECISIONS)}")
        if not isinstance(self.profile, BatchProfile):
            raise MetadataError(f"{where}: profile must be a BatchProfile, got {type(self.profile).__name__}")
        if self.dla_core is not None:
            _dla_core({"core": self.dla_core}, where)

    @property
    def trt_version(self) -> tuple[int, int, int]:
        return parse_trt_version(self.tensorrt_version)

    @property
    def dla(self) -> dict[str, Any] | None:
        return None if self.dla_core is None else {"core": self.dla_core, "gpu_fallback": self.gpu_fallback}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "format": "tensorrt", "tensorrt_version": self.tensorrt_version, "gpu_name": self.gpu_name,
            "compute_capability": self.compute_capability, "precision": self.precision,
            "profile": self.profile.to_dict(), "builder_flags": list(self.builder_flags),
            "strongly_typed": self.strongly_typed, "builder_level": self.builder_level, "dla": self.dla,
            "onnx_sha256": self.onnx_sha256, "engine_sha256": self.engine_sha256,
            "build_seconds": None if self.build_seconds is None else round(float(self.build_seconds), 3),
        }
        if self.calibration:
            d["calibration"] = self.calibration
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "engine metadata") -> EngineFacts:
        """The facts in a sidecar's JSON object, each checked.

        Raises:
            MetadataError: a required key is missing or a value has the wrong type or range (one line).
        """
        missing = [k for k in ENGINE_REQUIRED if k not in d]
        if missing:
            raise MetadataError(f"{where} lacks {', '.join(missing)}; it was not written by yolocls build-engine, "
                                "rebuild the engine")
        flags = d.get("builder_flags") or []
        if not isinstance(flags, list) or any(not isinstance(f, str) for f in flags):
            raise MetadataError(f"{where}: builder_flags must be a list of strings, got {_short(flags)}")
        level = d.get("builder_level")
        if level is not None and (not _is_int(level) or not 0 <= level <= 99):
            raise MetadataError(f"{where}: builder_level must be null or an integer from 0 to 99, got {_short(level)}")
        secs = d.get("build_seconds")
        if secs is not None and (isinstance(secs, bool) or not isinstance(secs, (int, float))
                                 or not math.isfinite(secs)):
            raise MetadataError(f"{where}: build_seconds must be null or a number, got {_short(secs)}")
        dla = d.get("dla")
        calibration = d.get("calibration")
        if calibration is not None and not isinstance(calibration, dict):
            raise MetadataError(f"{where}: calibration must be an object, got {_short(calibration)}")
        onnx_sha = d.get("onnx_sha256") or ""
        return cls(
            tensorrt_version=d["tensorrt_version"], gpu_name=d["gpu_name"],
            compute_capability=d["compute_capability"], precision=d["precision"],
            profile=BatchProfile.from_value(d["profile"], where), engine_sha256=d["engine_sha256"],
            onnx_sha256=onnx_sha if isinstance(onnx_sha, str) else "",
            builder_flags=tuple(flags), strongly_typed=bool(d.get("strongly_typed", False)),
            builder_level=level, dla_core=_dla_core(dla, where),
            gpu_fallback=bool(dla.get("gpu_fallback", False)) if isinstance(dla, dict) else False,
            build_seconds=None if secs is None else float(secs), calibration=calibration,
        )


def sidecar_path(engine: str | os.PathLike[str]) -> Path:
    """``model.engine`` -> ``model.engine.json`` (the suffix is appended, so ``.plan`` engines work too)."""
    p = Path(engine)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def rebuild_hint(engine: str | os.PathLike[str]) -> str:
    return f"rebuild it on this machine: yolocls build-engine --onnx <model.onnx> --output {os.fspath(engine)}"


def read_sidecar(engine: str | os.PathLike[str], check_hash: bool = True) -> ModelMetadata:
    """The metadata of a TensorRT engine from its sidecar ``<engine>.json``, with typed :attr:`ModelMetadata.engine`.

    Args:
        engine: path of the serialized engine (``.engine`` / ``.plan``).
        check_hash: also check that the engine file's sha256 is the one the sidecar was written for.
    Raises:
        MetadataError: the sidecar is missing, not JSON, incomplete, or belongs to other engine bytes.
    """
    path = sidecar_path(engine)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_METADATA_BYTES + 1)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise MetadataError(
            f"engine metadata {path} not found (class names and preprocessing live there); "
            f"build engines with yolocls build-engine, which writes it"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise MetadataError(f"cannot read engine metadata {path}: {e}") from None
    where = str(path)
    d = parse_json(text)
    if isinstance(d, dict):
        EngineFacts.from_dict(d, where)  # the TensorRT facts first: their message names the sidecar
    meta = ModelMetadata.from_dict(d)
    if meta.engine is None:  # pragma: no cover - from_dict made it from the same keys
        raise MetadataError(f"{where} holds no TensorRT facts; rebuild the engine")
    if not meta.names:
        raise MetadataError(f"{where} has no class names; rebuild the engine from an ONNX exported by yolocls")
    if check_hash and Path(engine).is_file():
        if file_sha256(engine) != meta.engine.engine_sha256:
            raise MetadataError(f"{path} was written for other engine bytes (sha256 differs from "
                                f"{os.fspath(engine)}); {rebuild_hint(engine)}")
    return meta


# --------------------------------------------------------------------------------------------------- ONNX files
@functools.lru_cache(maxsize=1)
def _names_token() -> re.Pattern[str]:
    """One ``[id:] 'literal'`` entry of YOLOv5's names and the separator after it."""
    n = MAX_NAME_CHARS * 4  # room for escapes
    lit = rf"'(?:[^'\\\n]|\\.){{0,{n}}}'|\"(?:[^\"\\\n]|\\.){{0,{n}}}\""
    ws = r"[ \t\n\r]*"  # ASCII whitespace and digits only (re's \s and \d take Unicode ones; C++ does not)
    return re.compile(ws + r"(?:([0-9]{1,6})" + ws + ":" + ws + ")?(" + lit + ")" + ws + r"([,}\]])")


_WS = " \t\n\r"
#: A string literal's body made only of characters and the escapes the C++ reader decodes too.
#: Octal escapes up to \377 only (Python warns about larger ones and will refuse them).
_ESCAPES = re.compile(r"(?:[^\\]|\\(?:[\\'\"abfnrtv]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}"
                      r"|[0-3][0-7]{2}|[0-7]{1,2}(?![0-7])))*", re.S)


def parse_yolov5_names(text: str) -> list[str]:
    """YOLOv5's ``names`` metadata: ``str(dict)`` (``{0: 'cat', 1: "dog's"}``) or ``str(list)``.

    A bounded scanner instead of ``ast.literal_eval`` (whose syntax tree costs ~500 bytes per input byte):
    each name is one Python string literal, decoded on its own.

    Raises:
        MetadataError: anything else, over :data:`MAX_CLASSES` names or too long a name.
    """
    token = _names_token()
    if len(text) > MAX_METADATA_BYTES:
        raise MetadataError(f"'names' metadata is {len(text)} characters (limit {MAX_METADATA_BYTES})")
    s = text.strip(_WS)
    if len(s) < 2 or (s[0], s[-1]) not in (("{", "}"), ("[", "]")):
        raise MetadataError("'names' metadata is not a Python dict or list of strings")
    is_dict = s[0] == "{"
    closer = s[-1]
    items: dict[int, str] = {}
    names: list[str] = []
    i = 1
    if s[1:].strip(_WS) in ("}", "]"):
        return []
    while i < len(s):
        m = token.match(s, i)
        if m is None or (m.group(1) is None) == is_dict or m.group(3) not in (",", closer):
            raise MetadataError(f"'names' metadata is not a Python dict or list of strings (at character {i})")
        if len(names) + len(items) >= MAX_CLASSES:
            raise MetadataError(f"'names' metadata holds more than {MAX_CLASSES} names")
        if not _ESCAPES.fullmatch(m.group(2), 1, len(m.group(2)) - 1):  # the escapes Python's repr writes, as C++
            raise MetadataError(f"'names' metadata has an unknown escape in the string at character {i}")
        try:
            name = ast.literal_eval(m.group(2))
        except (ValueError, SyntaxError):
            raise MetadataError(f"'names' metadata has a bad string literal at character {i}") from None
        if is_dict:
            key = int(m.group(1))
            if key in items:  # str(dict) never repeats a key: a made-up file (C++ refuses it alike)
                raise MetadataError(f"'names' metadata has class id {key} twice")
            items[key] = name
        else:
            names.append(name)
        i = m.end()
        if m.group(3) != ",":
            if i != len(s):
                raise MetadataError(f"'names' metadata has trailing characters at {i}")
            break
    else:
        raise MetadataError("'names' metadata is not closed")
    return check_names(items if is_dict else names)


def _static(d: Dim) -> int | None:
    return d if isinstance(d, int) and d > 0 else None


def metadata_from_props(
    props: dict[str, str],
    source: str | os.PathLike[str],
    input_shape: Sequence[Any] | None = None,
    allow_yolov5: bool = True,
) -> ModelMetadata:
    """Metadata from an ONNX file's metadata_props.

    Our ``yolocls`` entry wins; else (``allow_yolov5``) YOLOv5's ``names`` entry with YOLOv5's classify
    preprocessing (centre crop, ImageNet mean/std, RGB: :class:`PreprocessConfig`'s defaults) and the image size read
    from ``input_shape`` (``[N, 3, H, W]``, strings/None for dynamic axes; 224 when dynamic).

    Raises:
        MetadataError: neither entry is there (the message names the flags that supply it instead), or the entry
            is malformed or over a limit.
    """
    name = Path(str(source)).name
    if METADATA_KEY in props:
        try:
            return ModelMetadata.from_json(props[METADATA_KEY])
        except MetadataError as e:
            raise MetadataError(f"{name}: {e}") from None
    if allow_yolov5 and "names" in props:
        try:
            names = parse_yolov5_names(props["names"])
        except MetadataError as e:
            raise MetadataError(f"{name}: {e}; pass the class names explicitly") from None
        dims = [_static(d) for d in (input_shape or [])]
        imgsz = dims[2] if len(dims) == 4 and dims[2] else 224
        if imgsz > MAX_IMGSZ:
            raise MetadataError(f"{name}: input side {imgsz} is over the limit of {MAX_IMGSZ} pixels")
        stride_text = props.get("stride", "32").strip()
        stride = int(stride_text) if stride_text.isascii() and stride_text.isdigit() and len(stride_text) < 5 else 32
        return ModelMetadata(names=names, preprocess=PreprocessConfig(imgsz=imgsz), model=Path(name).stem,
                             stride=max(stride, 1), dynamic=not (dims and dims[0]),
                             batch=(dims[0] or 1) if dims else 1)
    raise MetadataError(
        f"{name} has no yolocls metadata (not made by `yolocls export`): re-export it with `yolocls export`, "
        "or give its class names and input size yourself (--names, --imgsz of yolocls infer; "
        "metadata=ModelMetadata(...) in Python)"
    )


def check_interface(name: str, meta: ModelMetadata, in_shape: Sequence[Any], out_shape: Sequence[Any] | None,
                    in_dtype: str = "") -> None:
    """Refuse metadata that contradicts the graph: a wrong imgsz or class count would give silent garbage.

    ``in_shape``/``out_shape`` hold ints for fixed axes and strings/None for dynamic ones. A dynamic H/W takes
    the metadata's (bounded) imgsz; a fixed one must equal it. ``in_dtype`` (``float32``, ``float16``, ... or
    ``""`` when unknown) must be a float type: the runtimes feed normalised float images.

    Raises:
        MetadataError: rank, channels, side, class count or input type disagree with what a classifier takes.
    """
    if len(in_shape) != 4:
        raise MetadataError(f"{name}: input has shape {list(in_shape)}; a classifier takes [N, 3, H, W]")
    c, h, w = (_static(d) for d in in_shape[1:])
    if c is not None and c != 3:
        raise MetadataError(f"{name}: input has {c} channels; a classifier takes 3 (RGB/BGR) images")
    if (h is not None and h != meta.imgsz) or (w is not None and w != meta.imgsz):
        raise MetadataError(f"{name}: metadata says imgsz {meta.imgsz} but the model input is {list(in_shape[2:])}; "
                            "pass the matching --imgsz or re-export the model")
    if in_dtype and in_dtype not in ("float32", "float16", "float64"):
        raise MetadataError(f"{name}: the input is {in_dtype}, but yolocls feeds normalised float images "
                            "(float32/float16); re-export the model with a float input")
    if out_shape is None:
        return
    if len(out_shape) != 2:
        raise MetadataError(f"{name}: output has shape {list(out_shape)}; a classifier returns [N, num_classes] "
                            "logits")
    n_out = _static(out_shape[1])
    if n_out is not None and meta.names and n_out != len(meta.names):
        raise MetadataError(f"{name}: metadata has {len(meta.names)} class names but the model outputs "
                            f"{n_out} classes; pass the matching --names or re-export the model")


@dataclass(frozen=True)
class ModelInfo:
    """What :func:`read_model_info` found: the metadata and the model's input.

    ``input_shape`` is ``[N, C, H, W]`` with None for a dynamic (symbolic or unknown) axis; for an engine it is
    derived from the sidecar (batch fixed when the profile's min equals its max). ``source`` says where the
    metadata came from: ``yolocls`` (our ONNX entry), ``yolov5`` (YOLOv5's ``names``/``stride``), ``sidecar``
    (an engine) or ``given`` (the caller's).
    """

    metadata: ModelMetadata
    input_name: str
    input_shape: tuple[int | None, ...]
    input_dtype: str  # float32 | float16 | ... ("" when the file does not say)
    output_shape: tuple[int | None, ...] | None = None
    source: str = "yolocls"
    onnx: OnnxInfo | None = field(default=None, repr=False)

    @property
    def engine(self) -> EngineFacts | None:
        return self.metadata.engine

    @property
    def imgsz(self) -> int:
        return self.metadata.imgsz

    @property
    def static_batch(self) -> int | None:
        return self.input_shape[0] if self.input_shape else None


def _shape(dims: Sequence[Dim]) -> tuple[int | None, ...]:
    return tuple(_static(d) for d in dims)


def onnx_model_info(info: OnnxInfo, source: str | os.PathLike[str], metadata: ModelMetadata | None = None,
                    allow_yolov5: bool = True) -> ModelInfo:
    """:func:`read_model_info` for an ONNX file's parsed :class:`OnnxInfo` (parse the bytes once, use it twice)."""
    name = Path(source).name
    if len(info.inputs) != 1:
        raise MetadataError(f"{name} has {len(info.inputs)} inputs; a classifier has one image input")
    if not info.outputs:
        raise MetadataError(f"{name} has no outputs; a classifier returns [N, num_classes] logits")
    inp = info.inputs[0]
    if metadata is not None:
        origin = "given"
    elif METADATA_KEY in info.props:
        origin = "yolocls"
    else:
        origin = "yolov5"
    meta = metadata if metadata is not None else metadata_from_props(info.props, source, input_shape=inp.shape,
                                                                      allow_yolov5=allow_yolov5)
    out = info.outputs[0]
    check_interface(name, meta, inp.shape, out.shape if out.dims is not None else None, inp.dtype)
    return ModelInfo(metadata=meta, input_name=inp.name, input_shape=_shape(inp.shape), input_dtype=inp.dtype,
                     output_shape=_shape(out.shape) if out.dims is not None else None, source=origin, onnx=info)


ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan")


def read_model_info(path: str | os.PathLike[str], metadata: ModelMetadata | None = None, allow_yolov5: bool = True,
                    check_hash: bool = True) -> ModelInfo:
    """The one metadata reader: the :class:`ModelMetadata` and the input of an ONNX file or a TensorRT engine.

    Args:
        path: ``.onnx`` (ours or YOLOv5's) or ``.engine``/``.plan`` (its sidecar ``<path>.json``).
        metadata: use this metadata instead of the file's (an ONNX without any); still checked against the graph.
        allow_yolov5: accept YOLOv5's own ``names``/``stride`` entries when the file has no ``yolocls`` entry.
        check_hash: for engines, check that the sidecar was written for these engine bytes.
    Raises:
        FileNotFoundError: no such file. InputError: another file type (checkpoints: :func:`metadata_from_checkpoint`
        on the loaded dict). MetadataError: unreadable, no (or malformed) metadata, or metadata that contradicts the
        graph; one line naming the problem and the fix.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in ENGINE_SUFFIXES:
        meta = read_sidecar(p, check_hash=check_hash)
        assert meta.engine is not None
        prof = meta.engine.profile
        shape = (prof.max if prof.min == prof.max else None, 3, meta.imgsz, meta.imgsz)
        out_shape = (shape[0], meta.num_classes)
        return ModelInfo(metadata=metadata or meta, input_name=meta.input_name, input_shape=shape,
                         input_dtype=meta.input_dtype, output_shape=out_shape,
                         source="given" if metadata is not None else "sidecar")
    if suffix not in ONNX_SUFFIXES:
        raise InputError(f"{p.name}: metadata is read from .onnx files and engine sidecars (.engine/.plan), not "
                         f"{suffix or 'files without a suffix'}; checkpoints carry theirs (yolocls.load_model)")
    return onnx_model_info(read_onnx_info(p), p, metadata=metadata, allow_yolov5=allow_yolov5)


def read_onnx_metadata(path: str | os.PathLike[str], allow_yolov5: bool = True,
                       info: OnnxInfo | None = None) -> ModelMetadata:
    """The :class:`ModelMetadata` of an ONNX file, checked against its graph interface; no ``onnx``, no torch.

    Raises:
        FileNotFoundError: no such file. MetadataError: unreadable, no (or malformed) metadata, or metadata that
        contradicts the graph (one input of [N, 3, S, S] float, one [N, C] output).
    """
    p = Path(path)
    return onnx_model_info(info if info is not None else read_onnx_info(p), p, allow_yolov5=allow_yolov5).metadata


# ---------------------------------------------------------------------------------------------------- checkpoints
def metadata_from_checkpoint(ckpt: Mapping[str, Any], source: str = "checkpoint") -> ModelMetadata:
    """The metadata a loaded checkpoint dict carries: ``names``, ``preprocess`` and ``config`` (model, classes).

    Works on what :func:`yolocls.models.checkpoint.read_checkpoint` returns (ours: ``names`` a list, ``preprocess``
    a dict with ``imgsz``; YOLOv5's: ``names`` on the model, no preprocess, so YOLOv5's defaults).

    Raises:
        MetadataError: names or preprocess settings malformed or over a limit (one line naming the field).
    """
    pp = ckpt.get("preprocess")
    config = ckpt.get("config")
    config = config if isinstance(config, Mapping) else {}
    nc_v: Any = config.get("num_classes")
    nc = int(nc_v) if _is_int(nc_v) and 0 < nc_v <= MAX_CLASSES else None
    names = class_names(ckpt.get("names"), num_classes=nc, coerce=True)
    if isinstance(pp, Mapping):
        preprocess = check_preprocess(dict(pp), check_imgsz(pp.get("imgsz", 224), "preprocess.imgsz"))
    elif pp is None:
        preprocess = PreprocessConfig()
    else:
        raise _bad("preprocess", pp, "an object")
    model = config.get("model") or config.get("name") or Path(source).stem
    if not isinstance(model, str) or len(model) > MAX_NAME_CHARS:
        raise _bad("config.model", model, f"a string of at most {MAX_NAME_CHARS} characters")
    return ModelMetadata(names=names, preprocess=preprocess, model=model)
