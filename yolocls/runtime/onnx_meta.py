"""Read an ONNX file's metadata and graph interface straight from its protobuf bytes: no ``onnx``, no torch.

What it reads (ONNX's ``onnx.proto``; field numbers in brackets):

- ``ModelProto.metadata_props`` [14]: ``StringStringEntryProto`` {key [1], value [2]} -> ``props``;
- ``ModelProto.graph`` [7] -> ``GraphProto.input`` [11] / ``output`` [12] (``ValueInfoProto`` name [1], type [2] ->
  ``TypeProto.tensor_type`` [1] -> elem_type [1], shape [2] -> dim [1] -> dim_value [1] | dim_param [2]), and the
  ``initializer`` [5] names [8] and data types [2] (old exporters list initializers among the inputs).

Everything else (nodes, tensor payloads, doc strings) is skipped by its length without being read: the file is
memory-mapped, so a 500 MB model costs a few page faults. The parser is iterative with a fixed nesting (model ->
graph -> value info -> type -> tensor type -> shape -> dim), checks every length against the bytes that hold it and
refuses anything malformed or over the limits below with :class:`~yolocls.errors.MetadataError` (one line).
"""

from __future__ import annotations

import ast
import functools
import math
import mmap
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolocls.errors import MetadataError

if TYPE_CHECKING:
    from yolocls.metadata import ModelMetadata

#: Limits on what a hostile file may make the reader hold (each refused with MetadataError, naming the limit).
MAX_PROPS = 1024  # metadata_props entries
MAX_PROPS_BYTES = 16 * 2**20  # all metadata keys and values together (yolocls JSON of 100k names is ~3 MB)
MAX_GRAPH_IO = 1024  # graph inputs (initializers included) / outputs
MAX_RANK = 16  # dims of one input or output
MAX_NAME_BYTES = 4096  # a value name or dim_param

# ONNX TensorProto.DataType -> NumPy-style name (the ones a classifier's interface can have; others by number).
ELEM_TYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
              9: "bool", 10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 14: "complex64",
              15: "complex128", 16: "bfloat16"}
FLOAT16 = 10

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

Dim = int | str | None  # a fixed size, a symbolic name (dynamic), or None (unknown)


@dataclass(frozen=True)
class ValueInfo:
    """One graph input or output: its name, ONNX element type (0 = not given) and dims."""

    name: str
    elem_type: int
    dims: tuple[Dim, ...] | None  # None: no shape recorded

    @property
    def dtype(self) -> str:
        """NumPy-style element type name (``float32``), ``elem_type_<n>`` for exotic ones, ``""`` when not given."""
        if self.elem_type == 0:
            return ""
        return ELEM_TYPES.get(self.elem_type, f"elem_type_{self.elem_type}")

    @property
    def shape(self) -> list[Dim]:
        """The dims as a list (``[]`` when no shape is recorded)."""
        return list(self.dims or ())


@dataclass(frozen=True)
class OnnxInfo:
    """An ONNX file's metadata_props and graph interface (initializers removed from the inputs)."""

    props: dict[str, str]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]
    fp16_weights: bool = False  # any float16 initializer (an FP16 export)
    initializer_count: int = 0
    parameter_count: int = 0  # elements of all initializers (the model's parameters, as onnx counts them)
    extra: dict[str, int] = field(default_factory=dict)


class _Malformed(Exception):
    pass


def _varint(buf: mmap.mmap | bytes, i: int, end: int) -> tuple[int, int]:
    """The unsigned varint at ``buf[i:]`` (at most 10 bytes, within ``end``) and the offset after it."""
    result = shift = 0
    for k in range(10):
        if i + k >= end:
            raise _Malformed(f"truncated at byte {i + k}")
        b = buf[i + k]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, i + k + 1
        shift += 7
    raise _Malformed(f"varint longer than 10 bytes at byte {i}")


def _fields(buf: mmap.mmap | bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, a, b) for each field of the message in ``buf[start:end]``.

    Varints and fixed-width values give (value, 0); length-delimited fields give their (start, end) offsets.
    """
    i = start
    while i < end:
        key, i = _varint(buf, i, end)
        fnum, wt = key >> 3, key & 7
        if fnum == 0:
            raise _Malformed(f"field number 0 at byte {i}")
        if wt == _VARINT:
            v, i = _varint(buf, i, end)
            yield fnum, wt, v, 0
        elif wt == _LEN:
            n, i = _varint(buf, i, end)
            if n > end - i:
                raise _Malformed(f"a {n}-byte field at byte {i} runs past its message (truncated file?)")
            yield fnum, wt, i, i + n
            i += n
        elif wt in (_I64, _I32):
            n = 8 if wt == _I64 else 4
            if n > end - i:
                raise _Malformed(f"truncated at byte {i}")
            yield fnum, wt, i, i + n
            i += n
        else:  # 3/4: deprecated groups, 6/7: invalid
            raise _Malformed(f"unsupported wire type {wt} at byte {i}")


def _expect(wt: int, want: int, what: str) -> None:
    if wt != want:
        raise _Malformed(f"{what} has wire type {wt}, expected {want}")


def _text(buf: mmap.mmap | bytes, a: int, b: int, what: str, limit: int) -> str:
    if b - a > limit:
        raise _Malformed(f"{what} is {b - a} bytes (limit {limit})")
    try:
        return bytes(buf[a:b]).decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed(f"{what} is not valid UTF-8") from None


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _dim(buf: mmap.mmap | bytes, a: int, b: int) -> Dim:
    out: Dim = None
    for f, wt, x, y in _fields(buf, a, b):
        if f == 1:
            _expect(wt, _VARINT, "dim_value")
            out = _signed64(x)
        elif f == 2:
            _expect(wt, _LEN, "dim_param")
            out = _text(buf, x, y, "a dim_param", MAX_NAME_BYTES)
    return out


def _value_info(buf: mmap.mmap | bytes, a: int, b: int) -> ValueInfo:
    name, elem, dims = "", 0, None
    for f, wt, x, y in _fields(buf, a, b):
        if f == 1:
            _expect(wt, _LEN, "a value name")
            name = _text(buf, x, y, "a value name", MAX_NAME_BYTES)
        elif f == 2:  # TypeProto
            _expect(wt, _LEN, "a value type")
            for f2, wt2, x2, y2 in _fields(buf, x, y):
                if f2 != 1:  # sequence/map/optional/sparse: not a tensor, leave elem 0
                    continue
                _expect(wt2, _LEN, "tensor_type")
                for f3, wt3, x3, y3 in _fields(buf, x2, y2):
                    if f3 == 1:
                        _expect(wt3, _VARINT, "elem_type")
                        elem = x3
                    elif f3 == 2:
                        _expect(wt3, _LEN, "a shape")
                        found: list[Dim] = []
                        for f4, wt4, x4, y4 in _fields(buf, x3, y3):
                            if f4 == 1:
                                _expect(wt4, _LEN, "a dim")
                                if len(found) >= MAX_RANK:
                                    raise _Malformed(f"value {name!r} has more than {MAX_RANK} dims")
                                found.append(_dim(buf, x4, y4))
                        dims = tuple(found)
    return ValueInfo(name, elem, dims)


def _graph(buf: mmap.mmap | bytes,
           spans: list[tuple[int, int]]) -> tuple[list[ValueInfo], list[ValueInfo], bool, int, int]:
    """Inputs (initializers removed), outputs, float16 weights, initializer count and their elements (parameters)."""
    inputs: list[ValueInfo] = []
    outputs: list[ValueInfo] = []
    for a, b in spans:  # pass 1: the interface (bounded)
        for f, wt, x, y in _fields(buf, a, b):
            if f in (11, 12):
                _expect(wt, _LEN, "a graph input/output")
                dst = inputs if f == 11 else outputs
                if len(dst) >= MAX_GRAPH_IO:
                    raise _Malformed(f"more than {MAX_GRAPH_IO} graph {'inputs' if f == 11 else 'outputs'}")
                dst.append(_value_info(buf, x, y))
    wanted = {v.name for v in inputs}
    init_names: set[str] = set()
    fp16, count, elements = False, 0, 0
    for a, b in spans:  # pass 2: initializer names (only those that are also inputs are kept), types and sizes
        for f, wt, x, y in _fields(buf, a, b):
            if f != 5:
                continue
            _expect(wt, _LEN, "an initializer")
            count += 1
            dims: list[int] = []
            for f2, wt2, x2, y2 in _fields(buf, x, y):
                if f2 == 1:  # dims: repeated int64, unpacked (varints) or packed
                    if wt2 == _VARINT:
                        dims.append(_signed64(x2))
                    else:
                        _expect(wt2, _LEN, "initializer dims")
                        i = x2
                        while i < y2 and len(dims) <= MAX_RANK:
                            v, i = _varint(buf, i, y2)
                            dims.append(_signed64(v))
                    if len(dims) > MAX_RANK:
                        raise _Malformed(f"an initializer of rank > {MAX_RANK}")
                elif f2 == 2 and wt2 == _VARINT and x2 == FLOAT16:
                    fp16 = True
                elif f2 == 8:
                    _expect(wt2, _LEN, "an initializer name")
                    if y2 - x2 <= MAX_NAME_BYTES:
                        nm = bytes(buf[x2:y2]).decode("utf-8", "replace")
                        if nm in wanted:
                            init_names.add(nm)
            elements += math.prod(max(d, 0) for d in dims)
    return [v for v in inputs if v.name not in init_names], outputs, fp16, count, elements


def parse_onnx_bytes(buf: mmap.mmap | bytes, name: str = "<bytes>") -> OnnxInfo:
    """:func:`read_onnx_info` on bytes already in memory (or a memory map); ``name`` is used in errors."""
    end = len(buf)
    if end == 0:
        raise MetadataError(f"{name} is not a readable ONNX model (empty file); re-export it")
    props: dict[str, str] = {}
    graphs: list[tuple[int, int]] = []
    has_ir = False
    prop_bytes = 0
    try:
        for f, wt, x, y in _fields(buf, 0, end):
            if f == 1:
                _expect(wt, _VARINT, "ir_version")
                has_ir = True
            elif f == 7:
                _expect(wt, _LEN, "graph")
                graphs.append((x, y))  # protobuf merges repeated occurrences of a message field
            elif f == 14:
                _expect(wt, _LEN, "a metadata_props entry")
                if len(props) >= MAX_PROPS:
                    raise _Malformed(f"more than {MAX_PROPS} metadata_props entries")
                key = value = ""
                for f2, wt2, x2, y2 in _fields(buf, x, y):
                    if f2 in (1, 2):
                        _expect(wt2, _LEN, "a metadata key/value")
                        prop_bytes += y2 - x2
                        if prop_bytes > MAX_PROPS_BYTES:
                            raise _Malformed(f"metadata_props hold more than {MAX_PROPS_BYTES} bytes")
                        s = _text(buf, x2, y2, "a metadata_props key/value", MAX_PROPS_BYTES)
                        key, value = (s, value) if f2 == 1 else (key, s)
                props[key] = value  # the last entry with a key wins, as in onnx and ONNX Runtime
        if not has_ir or not graphs:
            raise _Malformed("no ir_version" if not has_ir else "no graph")
        inputs, outputs, fp16, count, elements = _graph(buf, graphs)
    except _Malformed as e:
        raise MetadataError(f"{name} is not a readable ONNX model ({e}); re-export it") from None
    return OnnxInfo(props=props, inputs=inputs, outputs=outputs, fp16_weights=fp16, initializer_count=count,
                    parameter_count=elements)


def read_onnx_info(path: str | os.PathLike[str]) -> OnnxInfo:
    """The metadata_props and graph interface of the ONNX file at ``path``, without ``onnx`` or torch.

    Raises:
        FileNotFoundError / IsADirectoryError: no such file / a folder.
        MetadataError: not a readable ONNX model (truncated, garbage, over a limit), one line naming the problem.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file", str(p))
    if p.is_dir():
        raise IsADirectoryError(21, "Is a directory", str(p))
    with open(p, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            return parse_onnx_bytes(b"", p.name)
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # not mappable (a pipe, a special file): read it
            return parse_onnx_bytes(fh.read(), p.name)
        with mm:
            return parse_onnx_bytes(mm, p.name)


# ------------------------------------------------------------------------------------------- ModelMetadata from it
@functools.lru_cache(maxsize=1)
def _names_token() -> re.Pattern[str]:
    """One ``[id:] 'literal'`` entry of YOLOv5's names and the separator after it."""
    from yolocls.metadata import MAX_NAME_CHARS

    n = MAX_NAME_CHARS * 4  # room for escapes
    lit = rf"'(?:[^'\\\n]|\\.){{0,{n}}}'|\"(?:[^\"\\\n]|\\.){{0,{n}}}\""
    return re.compile(r"\s*(?:(\d{1,6})\s*:\s*)?(" + lit + r")\s*([,}\]])")


def parse_yolov5_names(text: str) -> list[str]:
    """YOLOv5's ``names`` metadata: ``str(dict)`` (``{0: 'cat', 1: "dog's"}``) or ``str(list)``.

    A bounded scanner instead of ``ast.literal_eval`` (whose syntax tree costs ~500 bytes per input byte):
    each name is one Python string literal, decoded on its own.

    Raises:
        MetadataError: anything else, over :data:`yolocls.metadata.MAX_CLASSES` names or too long a name.
    """
    from yolocls.metadata import MAX_CLASSES, MAX_METADATA_BYTES, check_names

    token = _names_token()
    if len(text) > MAX_METADATA_BYTES:
        raise MetadataError(f"'names' metadata is {len(text)} characters (limit {MAX_METADATA_BYTES})")
    s = text.strip()
    if len(s) < 2 or (s[0], s[-1]) not in (("{", "}"), ("[", "]")):
        raise MetadataError("'names' metadata is not a Python dict or list of strings")
    is_dict = s[0] == "{"
    closer = s[-1]
    items: dict[int, str] = {}
    names: list[str] = []
    i = 1
    if s[1:].strip() in ("}", "]"):
        return []
    while i < len(s):
        m = token.match(s, i)
        if m is None or (m.group(1) is None) == is_dict or m.group(3) not in (",", closer):
            raise MetadataError(f"'names' metadata is not a Python dict or list of strings (at character {i})")
        if len(names) + len(items) >= MAX_CLASSES:
            raise MetadataError(f"'names' metadata holds more than {MAX_CLASSES} names")
        try:
            name = ast.literal_eval(m.group(2))
        except (ValueError, SyntaxError):
            raise MetadataError(f"'names' metadata has a bad string literal at character {i}") from None
        if is_dict:
            items[int(m.group(1))] = name
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
    source: str | Path,
    input_shape: Sequence[Any] | None = None,
    allow_yolov5: bool = True,
) -> ModelMetadata:
    """Metadata from an ONNX file's metadata_props.

    Our ``yolocls`` entry wins; else (``allow_yolov5``) YOLOv5's ``names`` entry with default preprocessing and
    the image size read from ``input_shape`` (``[N, 3, H, W]``, strings/None for dynamic axes; 224 when dynamic).

    Raises:
        MetadataError: neither entry is there (the message names the flags that supply it instead), or the entry
            is malformed or over a limit.
    """
    from yolocls.data.preprocess import PreprocessConfig
    from yolocls.metadata import MAX_IMGSZ, METADATA_KEY, ModelMetadata

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


def read_onnx_metadata(path: str | os.PathLike[str], allow_yolov5: bool = True,
                       info: OnnxInfo | None = None) -> ModelMetadata:
    """The :class:`ModelMetadata` of an ONNX file, checked against its graph interface; no ``onnx``, no torch.

    Raises:
        FileNotFoundError: no such file. MetadataError: unreadable, no (or malformed) metadata, or metadata that
        contradicts the graph (one input of [N, 3, S, S] float, one [N, C] output).
    """
    p = Path(path)
    info = info if info is not None else read_onnx_info(p)
    if len(info.inputs) != 1:
        raise MetadataError(f"{p.name} has {len(info.inputs)} inputs; a classifier has one image input")
    if not info.outputs:
        raise MetadataError(f"{p.name} has no outputs; a classifier returns [N, num_classes] logits")
    inp = info.inputs[0]
    meta = metadata_from_props(info.props, p, input_shape=inp.shape, allow_yolov5=allow_yolov5)
    check_interface(p.name, meta, inp.shape, info.outputs[0].shape if info.outputs[0].dims is not None else None,
                    inp.dtype)
    return meta
