"""The metadata that travels with every exported model (ONNX ``metadata_props``, engine sidecar).

ONNX files carry one ``metadata_props`` entry ``yolocls`` holding :meth:`ModelMetadata.to_json`, plus the keys
YOLOv5 and ultralytics read (:meth:`ModelMetadata.compat_props`: ``names`` as a Python-dict string, ``stride``,
``task``, ``imgsz``, ``batch``). TensorRT engines carry the same JSON, with TensorRT fields added, in the sidecar
``<engine>.json``.

The model's interface is stated, so every reader feeds and reads it right:

- ``input_dtype``: ``float32`` (default) or ``float16`` (an FP16 file with float16 inputs/outputs);
- ``output``: ``logits`` (default) or ``probs`` (softmax inside the graph);
- ``normalized_in_graph``: ``true`` when mean/std normalisation is inside the graph. The ``preprocess`` block then
  holds what a consumer must still do (crop, resize, ``x * scale`` with mean 0 and std 1), so readers that only
  know the ``preprocess`` block (older yolocls, the C++ runtime) feed the file correctly; ``graph_normalization``
  records the mean/std the graph applies.

Files written before these keys existed read as float32 logits normalised outside the graph.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass, field
from typing import Any

from yolocls.data.preprocess import PreprocessConfig
from yolocls.errors import InputError, MetadataError

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
    from yolocls import __version__

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
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. TensorRT facts in a sidecar

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
                 "yolocls_version", "created"}
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
    """Class names from a list of strings or a ``{id: name}`` object with non-negative integer ids (sorted by id)."""
    if isinstance(v, dict):
        if len(v) > MAX_CLASSES:
            raise _bad("names", v, f"at most {MAX_CLASSES} entries")
        items: dict[int, str] = {}
        for k, name in v.items():
            if isinstance(k, str) and k.isascii() and k.isdigit() and len(k) <= 6:
                i = int(k)
            elif _is_int(k) and 0 <= k < 10**6:
                i = int(k)
            else:
                raise _bad("names keys", k, "class ids from 0 to 999999")
            if i in items:
                raise _bad("names keys", k, "unique class ids")
            items[i] = _name(name)
        return [items[i] for i in sorted(items)]
    if not isinstance(v, list):
        raise _bad("names", v, "a list of strings or an {id: name} object")
    if len(v) > MAX_CLASSES:
        raise _bad("names", v, f"at most {MAX_CLASSES} entries")
    return [_name(n) for n in v]


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
