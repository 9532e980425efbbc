"""Read an ONNX file's metadata_props and graph interface straight from its protobuf bytes: no ``onnx``, no torch.

The one ONNX parser of the Python side (:func:`yolocls.spec.metadata.read_model_info` turns its result into the
model's metadata and input shape); the C++ runtime's ``csrc/runtime/onnx_reader.cpp`` reads the same fields.

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

import math
import mmap
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from yolocls.errors import MetadataError

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
