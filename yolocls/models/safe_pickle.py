"""Read torch checkpoints (zip + pickle) without trusting them: a pure-Python unpickler with an allow-list.

Python's own unpickler runs whatever a pickle names; even with ``find_class`` restricted, its BUILD opcode calls
``__setstate__`` on any object (a numpy dtype's writes raw field offsets: memory corruption from a 250-byte file) and
its opcodes build objects of any depth (hashing a 10^6-deep tuple overflows the C stack, in torch's weights-only
unpickler too). So both readers of checkpoints -- our own format (:func:`read_checkpoint`) and official YOLOv5
whole-object pickles (:mod:`yolocls.models.yolov5_import`) -- go through the interpreter below, which:

* runs only the opcodes ``torch.save`` writes (protocol 2, plus protocol 3/4 framing, bytes and sets), counts them
  (:data:`~yolocls.models.limits.MAX_PICKLE_OPS`) and bounds container nesting
  (:data:`~yolocls.models.limits.MAX_PICKLE_NESTING`); a container may not change after it was stored inside
  another object, so no cycles and no depth grown behind the bound's back; dict keys and set items are strings and
  small ints only (no hash-collision flooding: 40,000 ints of one hash made a dict take 22 s);
* resolves every global through the allow-list below; each allowed callable is our own function that checks its
  arguments' types and sizes before doing anything;
* allows BUILD (``__setstate__``) only on inert :class:`PickledObject` stand-ins (which just keep the state) and on
  numpy dtype specs whose state must be exactly the plain-data tuple numpy writes for a numeric dtype;
* checks every persistent id and every value before any of it is formatted into a message: messages name types and
  short, escaped strings only, never ``str()``/``repr()`` of a value from the file;
* reads tensor storages from a zip whose entries it validated first: no duplicates, no overlaps, declared sizes
  within the file (:data:`~yolocls.models.limits.MAX_DECLARED_BYTES_PER_FILE_BYTE`), stored not compressed; a
  tensor may view at most the elements its storage holds (no stride-0 expansion of a 1-element storage into
  1.5e9 elements).

Allow-list compared with torch's weights-only unpickler (``torch/_weights_only_unpickler.py``, torch 2.13)
-------------------------------------------------------------------------------------------------------------

==========================================================  ==============  ============  ==========================
global                                                      torch default   our format    YOLOv5 import
==========================================================  ==============  ============  ==========================
collections.OrderedDict                                     yes             yes           yes
builtins.set                                                yes             yes           yes (nn.Module's
                                                                                          ``_non_persistent_buffers
                                                                                          _set``)
_codecs.encode (bytes at protocol 2)                        yes             yes, latin1   yes, latin1
torch._utils._rebuild_tensor_v2                             yes             yes, checked  yes, checked
torch._utils._rebuild_parameter(_with_state)                yes             yes           yes
torch.<Float,Half,...>Storage (legacy storage markers)      yes             yes           yes
torch.Size, torch.device, torch dtypes                      yes             yes           yes
torch.Tensor, torch.nn.Parameter, collections.Counter,      yes             no            no  (never in these files)
builtins.bytearray, builtins.complex, _get_layout,
other _rebuild_* (qtensor, sparse, nested, meta, v3, ...)
numpy.dtype, numpy(._)core.multiarray.scalar                no (opt-in)     no            yes: numeric dtypes from a
                                                                                          fixed list of names, the
                                                                                          BUILD state must be numpy's
                                                                                          plain tuple, scalar data
                                                                                          exactly the itemsize
                                                                                          (YOLOv5's train.py saves
                                                                                          ``best_fitness`` as an
                                                                                          np.float64 in some versions)
models.yolo.*, models.common.*, models.experimental.*,     no              no            yes, as inert stand-ins:
utils.augmentations.*, torch.nn.modules.*,                                                YOLOv5 checkpoints pickle
torchvision.models.{resnet,efficientnet}.*,                                               whole modules; a stand-in
torchvision.ops.{misc,stochastic_depth}.*,                                                only records its arguments
torchvision.transforms(.transforms/.functional)                                           and state, nothing of the
.{InterpolationMode,...}, pathlib.*Path                                                   class is imported or run
builtins.frozenset (was allowed before)                     no              no            no  (dropped: unused)
==========================================================  ==============  ============  ==========================

Opcodes: torch's unpickler also takes BUILD on Tensor (``set_``), Parameter and OrderedDict, and NEWOBJ on any
allowed class; ours takes BUILD only on stand-ins and dtype specs, NEWOBJ only on stand-ins, and refuses INST, OBJ,
PERSID, EXT*, STRING and the protocol-5 buffer opcodes (torch.save writes none of them).
"""

from __future__ import annotations

import _compat_pickle
import os
import re
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolocls.errors import CheckpointError, UnsafeCheckpointError
from yolocls.models.limits import (
    MAX_DECLARED_BYTES_PER_FILE_BYTE,
    MAX_PICKLE_BYTES,
    MAX_PICKLE_NESTING,
    MAX_PICKLE_OPS,
    MAX_TENSOR_DIMS,
    MAX_ZIP_DIRECTORY_BYTES,
    MAX_ZIP_ENTRIES,
)

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch < 1.6 serialisation


class PickledObjectsError(CheckpointError):
    """The file is a pickle of Python objects (not our weights-only format), e.g. an official YOLOv5 checkpoint."""


# -- safe text for messages -------------------------------------------------------------------------------------------


def safe_text(s: str, limit: int = 80) -> str:
    """A string from a file, fit for a one-line message: non-ASCII and control characters escaped, cut to ``limit``."""
    t = ascii(s[: limit + 1])[1:-1]
    return t if len(t) <= limit else t[: limit - 3] + "..."


_KINDS = {type(None): "None", bool: "a bool", int: "an int", float: "a float", str: "a string", bytes: "bytes",
          tuple: "a tuple", list: "a list", dict: "a dict", OrderedDict: "an OrderedDict", set: "a set",
          frozenset: "a frozenset"}


def kind(v: Any) -> str:
    """What ``v`` is, in words that never come from the file (``type(v).__name__`` of a stand-in would)."""
    if type(v) in _KINDS:
        return _KINDS[type(v)]
    if isinstance(v, torch.Tensor):
        return "a tensor"
    if isinstance(v, PickledObject):
        return "a pickled object"
    if isinstance(v, type):
        return "a class"
    return "an object"


class _Corrupt(CheckpointError):
    """Raised inside the interpreter with a message that names no file; :func:`load_pickle` adds the path."""


# -- inert stand-ins and the allowed callables ------------------------------------------------------------------------


class PickledObject:
    """Inert stand-in for a pickled instance of an allowed class: records ``qualname``, ``args`` and ``state``.

    Nothing of the original class is imported or run. Made only by the interpreter (NEWOBJ/REDUCE on a stand-in
    class), whose BUILD sets ``state`` once.
    """

    qualname = "?"

    def __init__(self, args: tuple[Any, ...] = ()) -> None:
        self.args = args
        self.state: Any = None
        self._built = False

    def _pickle_build(self, state: Any) -> None:
        if self._built:
            raise _Corrupt("an object is given its state twice (BUILD), which torch.save never writes")
        self._built = True
        self.state = state

    def __repr__(self) -> str:
        return f"<PickledObject {safe_text(self.qualname)}>"

    @property
    def attrs(self) -> dict[str, Any]:
        """The instance ``__dict__`` as pickled (empty if the state was not a dict)."""
        if isinstance(self.state, dict):
            return self.state
        if isinstance(self.state, tuple) and self.state and isinstance(self.state[0], dict):
            return self.state[0]  # (dict_state, slots_state)
        return {}


class _StorageType:
    """``torch.FloatStorage`` & co. in a persistent id: only says the dtype."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _Storage:
    """A storage read from the zip (1-D tensor); only persistent ids make these, so a rebuilt tensor can only view
    memory we allocated for it, never another tensor's view."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


class _Allowed:
    """An allowed global that the pickle may call (REDUCE): ``fn`` checks its arguments first."""

    __slots__ = ("fn", "name")

    def __init__(self, name: str, fn: Callable[..., Any]) -> None:
        self.name = name
        self.fn = fn

    def __call__(self, *args: Any) -> Any:
        return self.fn(*args)


def _is_int(v: Any) -> bool:
    return type(v) is int


_KEY_INT = 2**60  # ints below this hash to themselves: distinct keys, distinct hashes


def _check_keys(keys: Any) -> None:
    """Dict keys and set items: strings, bytes, small ints, bools, None -- what checkpoints key their dicts by.

    Anything else is refused: ints hash to themselves modulo 2**61-1 and tuple hashes can be steered through their
    items, so a file could give 40,000 keys one hash and make building the dict quadratic (22 s of CPU); str and
    bytes hashes are randomised per process.
    """
    for k in keys:
        t = type(k)
        if t is str or t is bytes or t is bool or k is None or (t is int and -_KEY_INT < k < _KEY_INT):
            continue
        raise _Corrupt(f"a dict key or set item is {kind(k)}{' beyond 2**60' if t is int else ''}; checkpoints key "
                       "their dicts by strings and small integers")


def _ints(v: Any, what: str) -> tuple[int, ...]:
    if type(v) not in (tuple, list, torch.Size) or len(v) > MAX_TENSOR_DIMS:
        raise _Corrupt(f"a tensor {what} is {kind(v)}, not a tuple of at most {MAX_TENSOR_DIMS} integers")
    if not all(_is_int(x) and 0 <= x < 2**62 for x in v):
        raise _Corrupt(f"a tensor {what} holds something other than integers from 0 to 2**62")
    return tuple(v)


def _rebuild_tensor_v2(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                       hooks: Any = None, metadata: Any = None, *rest: Any) -> torch.Tensor:
    if rest or not isinstance(storage, _Storage):
        raise _Corrupt("a tensor refers to something that is not a storage of this file")
    if not _is_int(offset) or offset < 0 or type(requires_grad) is not bool:
        raise _Corrupt("a tensor has an invalid offset or requires_grad flag")
    if (hooks is not None and type(hooks) not in (dict, OrderedDict)
            or metadata is not None and type(metadata) is not dict):
        raise _Corrupt("a tensor has invalid hooks/metadata")
    size, stride = _ints(size, "size"), _ints(stride, "stride")
    if len(size) != len(stride):
        raise _Corrupt("a tensor's size and stride differ in length")
    base = storage.tensor
    numel = 1
    for n in size:
        numel *= n
    avail = base.numel()
    if numel > avail:  # also refuses stride-0 expansion: the tensor is never bigger than what the file holds
        raise _Corrupt(f"a tensor of {numel} elements views a storage of {avail} (an expanded or overlapping view)")
    if offset > avail or numel and offset + sum((n - 1) * st for n, st in zip(size, stride, strict=True)) >= avail:
        raise _Corrupt("a tensor reaches past the end of its storage (truncated file?)")
    return base.as_strided(size, stride, offset)


def _rebuild_parameter(data: Any, requires_grad: Any = False, hooks: Any = None, state: Any = None,
                       *rest: Any) -> torch.Tensor:
    if rest or not isinstance(data, torch.Tensor):
        raise _Corrupt("a parameter holds no tensor")
    return data


def _ordered_dict(*args: Any) -> OrderedDict[Any, Any]:
    if not args:
        return OrderedDict()
    if len(args) == 1 and type(args[0]) is list and all(type(p) is tuple and len(p) == 2 for p in args[0]):
        _check_keys(p[0] for p in args[0])
        return OrderedDict(args[0])
    raise _Corrupt("OrderedDict is called with arguments other than a list of pairs")


def _set(*args: Any) -> set[Any]:
    if not args:
        return set()
    if len(args) == 1 and type(args[0]) in (list, tuple, set):
        _check_keys(args[0])
        return set(args[0])
    raise _Corrupt("set is called with arguments other than a list")


def _codecs_encode(text: Any, encoding: Any = None, *rest: Any) -> bytes:
    if rest or type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise _Corrupt("_codecs.encode is called with arguments other than (str, 'latin1')")
    return text.encode("latin-1")


def _torch_size(*args: Any) -> torch.Size:
    if len(args) != 1:
        raise _Corrupt("torch.Size is called with other than one sequence")
    return torch.Size(_ints(args[0], "size"))


def _torch_device(*args: Any) -> torch.device:
    ok = 1 <= len(args) <= 2 and type(args[0]) is str and len(args[0]) <= 32 and args[0].isascii()
    if not ok or len(args) == 2 and not (_is_int(args[1]) and 0 <= args[1] < 1024):
        raise _Corrupt("torch.device is called with arguments other than a short name and an index")
    try:
        return torch.device(*args)
    except (RuntimeError, ValueError):
        raise _Corrupt("torch.device is called with an unknown device name") from None


# numpy: dtypes only by name, from this list; a dtype's BUILD state must be the plain tuple numpy writes for them
_NUMPY_DTYPES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16"})


class _DtypeSpec:
    """What ``numpy.dtype(name, align, copy)`` + BUILD describe; a real dtype is made only from the checked name."""

    __slots__ = ("_built", "byteorder", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.byteorder = "="
        self._built = False

    def _pickle_build(self, state: Any) -> None:
        if (self._built or type(state) is not tuple or len(state) != 8 or state[0] != 3
                or state[1] not in ("<", ">", "|", "=") or state[2:7] != (None, None, None, -1, -1)
                or not (_is_int(state[7]) and 0 <= state[7] < 256)):
            raise _Corrupt("a numpy dtype is given a state other than a plain numeric dtype's (fields, sizes, ...)")
        self._built = True
        self.byteorder = state[1]

    def dtype(self) -> np.dtype[Any]:
        dt = np.dtype(self.name)
        if self.byteorder in ("<", ">") and dt.itemsize > 1:
            return dt.newbyteorder("<" if self.byteorder == "<" else ">")
        return dt


def _numpy_dtype(name: Any, align: Any = False, copy: Any = True, *rest: Any) -> _DtypeSpec:
    if rest or type(name) is not str or name not in _NUMPY_DTYPES or align not in (0, 1) or copy not in (0, 1):
        raise _Corrupt("numpy.dtype is called with something other than a plain numeric type name")
    return _DtypeSpec(name)


def _numpy_scalar(spec: Any, data: Any = None, *rest: Any) -> Any:
    if rest or not isinstance(spec, _DtypeSpec) or type(data) is not bytes:
        raise _Corrupt("numpy scalar is called with arguments other than (numeric dtype, bytes)")
    dt = spec.dtype()
    if len(data) != dt.itemsize or dt.kind == "b" and data not in (b"\x00", b"\x01"):
        raise _Corrupt(f"a numpy scalar has {len(data)} bytes for a {dt.itemsize}-byte dtype (or a bool not 0/1)")
    return np.frombuffer(data, dtype=dt)[0]


_TORCH_DTYPES = (torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.complex64, torch.complex128,
                 torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8, torch.bool)
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

# Modules whose classes become inert stand-ins (any class name in them) in the YOLOv5 import.
STANDIN_MODULES = frozenset({
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
})
STANDIN_PREFIXES = ("torch.nn.modules.",)
STANDIN_NAMES = frozenset({
    ("torchvision.transforms.functional", "InterpolationMode"),
    ("torchvision.transforms", "InterpolationMode"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "PureWindowsPath"),
})

_WEIGHTS_ONLY: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): _Allowed("OrderedDict", _ordered_dict),
    ("builtins", "set"): _Allowed("set", _set),
    ("_codecs", "encode"): _Allowed("encode", _codecs_encode),
    ("torch._utils", "_rebuild_tensor_v2"): _Allowed("_rebuild_tensor_v2", _rebuild_tensor_v2),
    ("torch._utils", "_rebuild_parameter"): _Allowed("_rebuild_parameter", _rebuild_parameter),
    ("torch._utils", "_rebuild_parameter_with_state"): _Allowed("_rebuild_parameter_with_state", _rebuild_parameter),
    ("torch", "Size"): _Allowed("Size", _torch_size),
    ("torch", "device"): _Allowed("device", _torch_device),
    **{("torch", name): _StorageType(dt) for name, dt in _STORAGE_DTYPES.items()},
    **{("torch", str(dt).removeprefix("torch.")): dt for dt in _TORCH_DTYPES},
}
_NUMPY: dict[tuple[str, str], Any] = {
    ("numpy", "dtype"): _Allowed("dtype", _numpy_dtype),
    ("numpy.core.multiarray", "scalar"): _Allowed("scalar", _numpy_scalar),
    ("numpy._core.multiarray", "scalar"): _Allowed("scalar", _numpy_scalar),
}


def _is_standin(module: str, name: str) -> bool:
    return module in STANDIN_MODULES or module.startswith(STANDIN_PREFIXES) or (module, name) in STANDIN_NAMES


class _Refused(Exception):  # noqa: N818 - internal signal, turned into the policy's error by load_pickle
    def __init__(self, module: str, name: str) -> None:
        super().__init__()
        self.qualname = f"{safe_text(module, 60)}.{safe_text(name, 60)}"


class Globals:
    """The allow-list of one load: weights-only (our format) or with YOLOv5 objects (stand-ins, numpy scalars).

    Stand-in classes are made per load, so nothing one file does is seen by the next.
    """

    def __init__(self, objects: bool) -> None:
        self.objects = objects
        self._standins: dict[str, type[PickledObject]] = {}

    def resolve(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _WEIGHTS_ONLY:
            return _WEIGHTS_ONLY[key]
        if self.objects:
            if key in _NUMPY:
                return _NUMPY[key]
            if _is_standin(module, name):
                qualname = f"{module}.{name}"
                cls = self._standins.get(qualname)
                if cls is None:
                    cls = type("PickledStandIn", (PickledObject,), {"qualname": qualname, "__slots__": ()})
                    self._standins[qualname] = cls
                return cls
        raise _Refused(module, name)


# -- the interpreter -------------------------------------------------------------------------------------------------


class _Unpickler:
    """A stack machine for the pickle opcodes torch.save writes; see the module docstring for the rules."""

    def __init__(self, data: bytes, globals_: Globals, persistent_load: Callable[[Any], Any] | None) -> None:
        self.data = data
        self.pos = 0
        self.globals = globals_
        self.persistent_load = persistent_load
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0
        # id -> (container, nesting depth); holding the container keeps its id from being reused during the load
        self.depth: dict[int, tuple[Any, int]] = {}
        self.sealed: set[int] = set()  # ids of containers stored inside another object: no more changes
        self.dispatch = {code[0]: getattr(self, f"op_{name}") for code, name in _OPCODES.items()}

    # -- reading ---------------------------------------------------------------------------------------------------
    def read(self, n: int) -> bytes:
        end = self.pos + n
        if n < 0 or end > len(self.data):
            raise _Corrupt("the pickle ends in the middle of an opcode (truncated file?)")
        b = self.data[self.pos:end]
        self.pos = end
        return b

    def readline(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise _Corrupt("the pickle ends in the middle of an opcode (truncated file?)")
        b = self.data[self.pos:end]
        self.pos = end + 1
        return b

    def load(self) -> Any:
        dispatch = self.dispatch
        data = self.data
        ops = 0
        try:
            while True:
                if self.pos >= len(data):
                    raise _Corrupt("the pickle ends without its STOP opcode (truncated file?)")
                code = data[self.pos]
                self.pos += 1
                ops += 1
                if ops > MAX_PICKLE_OPS:
                    raise _Corrupt(f"the pickle runs more than {MAX_PICKLE_OPS} opcodes (limit)")
                handler = dispatch.get(code)
                if handler is None:
                    raise _Corrupt(f"the pickle uses opcode 0x{code:02x}, which torch.save never writes")
                if handler():
                    return self.stack.pop()
        except (CheckpointError, _Refused, MemoryError):
            raise
        except IndexError:
            raise _Corrupt("the pickle pops from an empty stack or mark (damaged opcodes)") from None
        except KeyError:
            raise _Corrupt("the pickle reads a memo entry it never stored (damaged opcodes)") from None
        except Exception as e:  # noqa: BLE001 - nothing outside the allow-list runs, so any other failure (an
            # unhashable key, an int of 5000 digits, bad UTF-8, a torch error on odd sizes) is a damaged file; the
            # messages of these exceptions may quote file data, so only the type is named
            raise _Corrupt(f"the pickle's opcodes are damaged ({type(e).__name__})") from None

    # -- containers: nesting and sealing ---------------------------------------------------------------------------
    def _level(self, items: Any) -> int:
        """1 + the deepest tracked item; the items are sealed (they now live inside another object)."""
        d = 0
        depth, sealed = self.depth, self.sealed
        for x in items:
            e = depth.get(id(x))
            if e is not None and e[0] is x:
                sealed.add(id(x))
                if e[1] > d:
                    d = e[1]
        return d + 1

    def _track(self, obj: Any, level: int) -> Any:
        if level > MAX_PICKLE_NESTING:
            raise _Corrupt(f"the pickle nests containers deeper than {MAX_PICKLE_NESTING} levels (limit)")
        self.depth[id(obj)] = (obj, level)
        return obj

    def _grow(self, target: Any, items: Any) -> None:
        """``target`` gets ``items``: refuse if it is already stored elsewhere (or among the items), else update its
        depth. Sealing the items first makes ``x.append(x)`` a refusal too."""
        level = self._level(items)
        if id(target) in self.sealed:
            raise _Corrupt("a container is changed after it was stored inside another object (a cycle?), "
                           "which torch.save never writes")
        e = self.depth.get(id(target))
        old = e[1] if e is not None and e[0] is target else 1
        self._track(target, max(old, level))

    def _new(self, obj: Any, items: Any) -> None:
        self.stack.append(self._track(obj, self._level(items)))

    def pop_mark(self) -> list[Any]:
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # -- opcodes ---------------------------------------------------------------------------------------------------
    def op_proto(self) -> None:
        self.proto = self.read(1)[0]
        if self.proto > 4:
            raise _Corrupt(f"pickle protocol {self.proto} (torch.save writes 2)")

    def op_frame(self) -> None:
        self.read(8)  # the whole pickle is in memory: frames need no buffering

    def op_stop(self) -> bool:
        return True

    def op_mark(self) -> None:
        self.metastack.append(self.stack)
        self.stack = []

    def op_pop(self) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self.pop_mark()

    def op_pop_mark(self) -> None:
        self.pop_mark()

    def op_dup(self) -> None:
        self.stack.append(self.stack[-1])

    # scalars
    def op_none(self) -> None:
        self.stack.append(None)

    def op_newtrue(self) -> None:
        self.stack.append(True)

    def op_newfalse(self) -> None:
        self.stack.append(False)

    def op_int(self) -> None:
        line = self.readline()
        self.stack.append(False if line == b"00" else True if line == b"01" else int(line))

    def op_binint(self) -> None:
        self.stack.append(struct.unpack("<i", self.read(4))[0])

    def op_binint1(self) -> None:
        self.stack.append(self.read(1)[0])

    def op_binint2(self) -> None:
        self.stack.append(struct.unpack("<H", self.read(2))[0])

    def op_long(self) -> None:
        line = self.readline()
        self.stack.append(int(line[:-1] if line.endswith(b"L") else line))

    def op_long1(self) -> None:
        n = self.read(1)[0]
        self.stack.append(int.from_bytes(self.read(n), "little", signed=True))

    def op_long4(self) -> None:
        n = struct.unpack("<i", self.read(4))[0]
        self.stack.append(int.from_bytes(self.read(n), "little", signed=True))

    def op_float(self) -> None:
        self.stack.append(float(self.readline()))

    def op_binfloat(self) -> None:
        self.stack.append(struct.unpack(">d", self.read(8))[0])

    # strings and bytes
    def _str(self, n: int) -> None:
        self.stack.append(str(self.read(n), "utf-8", "surrogatepass"))

    def op_binunicode(self) -> None:
        self._str(struct.unpack("<I", self.read(4))[0])

    def op_short_binunicode(self) -> None:
        self._str(self.read(1)[0])

    def op_binunicode8(self) -> None:
        self._str(struct.unpack("<Q", self.read(8))[0])

    def op_unicode(self) -> None:
        self.stack.append(str(self.readline(), "raw-unicode-escape"))

    def op_binstring(self) -> None:  # a Python 2 str, decoded as pickle does by default (ASCII)
        n = struct.unpack("<i", self.read(4))[0]
        self.stack.append(self.read(n).decode("ascii"))

    def op_short_binstring(self) -> None:
        self.stack.append(self.read(self.read(1)[0]).decode("ascii"))

    def op_binbytes(self) -> None:
        self.stack.append(self.read(struct.unpack("<I", self.read(4))[0]))

    def op_short_binbytes(self) -> None:
        self.stack.append(self.read(self.read(1)[0]))

    def op_binbytes8(self) -> None:
        self.stack.append(self.read(struct.unpack("<Q", self.read(8))[0]))

    # containers
    def op_empty_list(self) -> None:
        self._new([], ())

    def op_empty_dict(self) -> None:
        self._new({}, ())

    def op_empty_set(self) -> None:
        self._new(set(), ())

    def op_empty_tuple(self) -> None:
        self._new((), ())

    def op_list(self) -> None:
        items = self.pop_mark()
        self._new(list(items), items)

    def op_tuple(self) -> None:
        items = self.pop_mark()
        self._new(tuple(items), items)

    def op_tuple1(self) -> None:
        items = [self.stack.pop()]
        self._new(tuple(items), items)

    def op_tuple2(self) -> None:
        items = [self.stack.pop(-2), self.stack.pop()]
        self._new(tuple(items), items)

    def op_tuple3(self) -> None:
        items = [self.stack.pop(-3), self.stack.pop(-2), self.stack.pop()]
        self._new(tuple(items), items)

    def op_frozenset(self) -> None:
        items = self.pop_mark()
        _check_keys(items)
        level = self._level(items)
        self.stack.append(self._track(frozenset(items), level))

    def op_dict(self) -> None:
        items = self.pop_mark()
        if len(items) % 2:
            raise _Corrupt("a dict is given an odd number of keys and values")
        _check_keys(items[::2])
        level = self._level(items)
        self.stack.append(self._track(dict(zip(items[::2], items[1::2], strict=True)), level))

    def op_append(self) -> None:
        item = self.stack.pop()
        target = self.stack[-1]
        if type(target) is not list:
            raise _Corrupt(f"APPEND to {kind(target)} (only lists take items)")
        self._grow(target, (item,))
        target.append(item)

    def op_appends(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not list:
            raise _Corrupt(f"APPENDS to {kind(target)} (only lists take items)")
        self._grow(target, items)
        target.extend(items)

    def op_setitem(self) -> None:
        value = self.stack.pop()
        key = self.stack.pop()
        self._setitems([key, value])

    def op_setitems(self) -> None:
        self._setitems(self.pop_mark())

    def _setitems(self, items: list[Any]) -> None:
        target = self.stack[-1]
        if type(target) not in (dict, OrderedDict):
            raise _Corrupt(f"SETITEM on {kind(target)} (only dicts take keys)")
        if len(items) % 2:
            raise _Corrupt("SETITEMS with an odd number of keys and values")
        _check_keys(items[::2])
        self._grow(target, items)
        for i in range(0, len(items), 2):
            target[items[i]] = items[i + 1]

    def op_additems(self) -> None:
        items = self.pop_mark()
        target = self.stack[-1]
        if type(target) is not set:
            raise _Corrupt(f"ADDITEMS to {kind(target)} (only sets take items)")
        _check_keys(items)
        self._grow(target, items)
        target.update(items)

    # memo
    def _put(self, i: int) -> None:
        if i < 0:
            raise _Corrupt("a negative memo index")
        self.memo[i] = self.stack[-1]

    def op_put(self) -> None:
        self._put(int(self.readline()))

    def op_binput(self) -> None:
        self._put(self.read(1)[0])

    def op_long_binput(self) -> None:
        self._put(struct.unpack("<I", self.read(4))[0])

    def op_memoize(self) -> None:
        self._put(len(self.memo))

    def op_get(self) -> None:
        self.stack.append(self.memo[int(self.readline())])

    def op_binget(self) -> None:
        self.stack.append(self.memo[self.read(1)[0]])

    def op_long_binget(self) -> None:
        self.stack.append(self.memo[struct.unpack("<I", self.read(4))[0]])

    # globals, calls, state
    def _global(self, module: str, name: str) -> None:
        if self.proto < 3:  # Python 2 names, mapped as pickle does (fix_imports)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        self.stack.append(self.globals.resolve(module, name))

    def op_global(self) -> None:
        module = self.readline().decode("utf-8")
        name = self.readline().decode("utf-8")
        self._global(module, name)

    def op_stack_global(self) -> None:
        name = self.stack.pop()
        module = self.stack.pop()
        if type(module) is not str or type(name) is not str:
            raise _Corrupt("STACK_GLOBAL with a module or name that is not a string")
        self._global(module, name)

    def op_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if type(args) is not tuple:
            raise _Corrupt(f"a call (REDUCE) with {kind(args)} for its arguments")
        level = self._level((args,))
        if isinstance(func, _Allowed):
            result = func(*args)
        elif isinstance(func, type) and issubclass(func, PickledObject):
            result = func(args)
        else:
            raise _Corrupt(f"a call (REDUCE) of {kind(func)}, which is not an allowed callable")
        self.stack[-1] = result
        if type(result) in (set, OrderedDict, tuple) or isinstance(result, PickledObject):
            self._track(result, level)

    def op_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._newobj(cls, args, {})

    def op_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._newobj(cls, args, kwargs)

    def _newobj(self, cls: Any, args: Any, kwargs: Any) -> None:
        if not (isinstance(cls, type) and issubclass(cls, PickledObject)):
            raise _Corrupt(f"NEWOBJ of {kind(cls)}; only stand-ins of pickled modules are made that way")
        if type(args) is not tuple or type(kwargs) is not dict:
            raise _Corrupt("NEWOBJ with arguments that are not a tuple (and a dict)")
        self._new(cls(args), (args, kwargs))

    def op_build(self) -> None:
        state = self.stack.pop()
        inst = self.stack[-1]
        if not isinstance(inst, (PickledObject, _DtypeSpec)):
            raise _Corrupt(f"BUILD (__setstate__) on {kind(inst)}; only pickled modules and numeric numpy dtypes "
                           "take a state")
        self._grow(inst, (state,))
        inst._pickle_build(state)

    def op_binpersid(self) -> None:
        pid = self.stack.pop()
        if self.persistent_load is None:
            raise _Corrupt("a plain pickle refers to tensor storages (not a torch zip checkpoint)")
        self.stack.append(self.persistent_load(pid))


_OPCODES: dict[bytes, str] = {
    b"\x80": "proto", b"\x95": "frame", b".": "stop", b"(": "mark", b"0": "pop", b"1": "pop_mark", b"2": "dup",
    b"N": "none", b"\x88": "newtrue", b"\x89": "newfalse",
    b"I": "int", b"J": "binint", b"K": "binint1", b"M": "binint2", b"L": "long", b"\x8a": "long1", b"\x8b": "long4",
    b"F": "float", b"G": "binfloat",
    b"X": "binunicode", b"\x8c": "short_binunicode", b"\x8d": "binunicode8", b"V": "unicode",
    b"T": "binstring", b"U": "short_binstring", b"B": "binbytes", b"C": "short_binbytes", b"\x8e": "binbytes8",
    b"]": "empty_list", b"}": "empty_dict", b"\x8f": "empty_set", b")": "empty_tuple",
    b"l": "list", b"t": "tuple", b"\x85": "tuple1", b"\x86": "tuple2", b"\x87": "tuple3", b"\x91": "frozenset",
    b"d": "dict", b"a": "append", b"e": "appends", b"s": "setitem", b"u": "setitems", b"\x90": "additems",
    b"p": "put", b"q": "binput", b"r": "long_binput", b"\x94": "memoize",
    b"g": "get", b"h": "binget", b"j": "long_binget",
    b"c": "global", b"\x93": "stack_global", b"R": "reduce", b"\x81": "newobj", b"\x92": "newobj_ex",
    b"b": "build", b"Q": "binpersid",
}  # fmt: skip


# -- the zip container -----------------------------------------------------------------------------------------------

_STORAGE_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


def _zip_end_record(f: Any) -> list[Any] | None:
    try:
        return zipfile._EndRecData(f)  # type: ignore[attr-defined]  # stable private helper (3.8 .. 3.13)
    except (AttributeError, OSError, struct.error):
        return None


class TorchZip:
    """A torch.save zip whose layout was checked before any entry is read (see :func:`open_torch_zip`)."""

    def __init__(self, zf: zipfile.ZipFile, prefix: str, source: str) -> None:
        self.zf = zf
        self.prefix = prefix
        self.source = source
        self.infos = {i.filename: i for i in zf.infolist()}
        self._storages: dict[str, tuple[torch.dtype, int, _Storage]] = {}

    def read_pickle(self) -> bytes:
        info = self.infos[f"{self.prefix}data.pkl"]
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"{self.source}: data.pkl is compressed, so the file was not written by torch.save")
        if info.file_size > MAX_PICKLE_BYTES:
            raise CheckpointError(f"{self.source}: data.pkl is {info.file_size} bytes, over the limit of "
                                  f"{MAX_PICKLE_BYTES}")
        return self.zf.read(info)

    def byteorder(self) -> bytes:
        info = self.infos.get(f"{self.prefix}byteorder")
        if info is None:
            return b""
        with self.zf.open(info) as f:
            return f.read(16).strip()

    def persistent_load(self, pid: Any) -> _Storage:
        # every field is checked before anything of it is used or shown
        if type(pid) is not tuple or len(pid) != 5:
            raise _Corrupt(f"a persistent id is {kind(pid)}, not ('storage', type, key, location, size)")
        tag, stype, key, location, numel = pid
        if tag != "storage" or not isinstance(stype, _StorageType):
            raise _Corrupt("a persistent id is not ('storage', torch.<type>Storage, ...)")
        if type(key) is not str or not _STORAGE_KEY.fullmatch(key):
            raise _Corrupt(f"a storage key is {kind(key)}, not a short name of letters and digits")
        if type(location) is not str or len(location) > 64 or not _is_int(numel) or numel < 0:
            raise _Corrupt("a persistent id has an invalid location or size")
        cached = self._storages.get(key)
        if cached is not None:
            if cached[:2] != (stype.dtype, numel):
                raise _Corrupt(f"storage {key} is used with two different types or sizes")
            return cached[2]
        info = self.infos.get(f"{self.prefix}data/{key}")
        if info is None:
            raise _Corrupt(f"storage {key} is missing from the archive (truncated file?)")
        if info.compress_type != zipfile.ZIP_STORED:
            raise _Corrupt(f"storage {key} is compressed, so not written by torch.save")
        itemsize = torch.empty((), dtype=stype.dtype).element_size()
        if info.file_size != numel * itemsize:
            raise _Corrupt(f"storage {key} has {info.file_size} bytes, expected {numel * itemsize}")
        raw = self.zf.read(info)
        t = torch.frombuffer(bytearray(raw), dtype=stype.dtype) if raw else torch.empty(0, dtype=stype.dtype)
        storage = _Storage(t)
        self._storages[key] = (stype.dtype, numel, storage)
        return storage


def _check_zip_layout(path: Path, src: str, zf: zipfile.ZipFile, f: Any, end: list[Any]) -> None:
    """Entries: unique names, inside the file, not overlapping, declared sizes within the file size."""
    size = path.stat().st_size
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise CheckpointError(f"{src} has {len(infos)} zip entries, over the limit of {MAX_ZIP_ENTRIES}")
    names = {i.filename for i in infos}
    if len(names) != len(infos):
        raise CheckpointError(f"{src} is not a torch checkpoint: its zip has two entries of the same name")
    directory_at = end[zipfile._ECD_LOCATION] - end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
    spans = []
    declared = 0
    for info in infos:
        f.seek(info.header_offset)
        header = f.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise CheckpointError(f"{src} is truncated or corrupt (a zip entry has no local header)")
        n, m = struct.unpack("<HH", header[26:30])
        start, stop = info.header_offset, info.header_offset + 30 + n + m + info.compress_size
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise CheckpointError(f"{src} is corrupt (a stored zip entry with two different sizes)")
        spans.append((start, stop))
        declared += info.compress_size if info.compress_type != zipfile.ZIP_STORED else info.file_size
    spans.sort()
    prev = 0
    for start, stop in spans:
        if start < prev:
            raise CheckpointError(f"{src} is not a torch checkpoint: zip entries overlap (one payload counted "
                                  "twice), which torch.save never writes")
        prev = stop
    if prev > directory_at:
        raise CheckpointError(f"{src} is truncated or corrupt (zip entries run into the central directory)")
    if declared > size * MAX_DECLARED_BYTES_PER_FILE_BYTE:
        raise CheckpointError(f"{src} is corrupt: its zip entries declare {declared} bytes in a {size}-byte file")


def open_torch_zip(path: Path, src: str) -> TorchZip | None:
    """The checked torch zip at ``path``, or None if the file is not a zip. CheckpointError for a damaged or hostile
    layout (directory or entry count over the limits, duplicate or overlapping entries, no data.pkl)."""
    with open(path, "rb") as f:
        end = _zip_end_record(f)
        if end is None:
            return None
        directory = end[zipfile._ECD_SIZE]  # type: ignore[attr-defined]
        if directory > MAX_ZIP_DIRECTORY_BYTES:
            raise CheckpointError(f"{src}: its zip directory is {directory} bytes, over the limit of "
                                  f"{MAX_ZIP_DIRECTORY_BYTES}")
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, struct.error, NotImplementedError):
            raise CheckpointError(f"{src} is truncated or corrupt (unreadable zip directory)") from None
        try:
            _check_zip_layout(path, src, zf, f, end)
        except BaseException:
            zf.close()
            raise
    pkls = [n for n in zf.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pkls) != 1:
        zf.close()
        what = "no data.pkl" if not pkls else "more than one data.pkl"
        raise CheckpointError(f"{src} is a zip file but not a torch checkpoint ({what})")
    return TorchZip(zf, pkls[0][: -len("data.pkl")], src)


# -- the entry point -------------------------------------------------------------------------------------------------


def load_pickle(path: str | os.PathLike[str], *, objects: bool) -> Any:
    """Unpickle a torch checkpoint (zip) or a plain pickle with the allow-list; tensors on CPU.

    ``objects=False``: the weights-only list (our format); a global outside it raises :class:`PickledObjectsError`.
    ``objects=True``: YOLOv5 whole-object pickles too (stand-ins, numpy scalars); a global outside the list raises
    :class:`~yolocls.errors.UnsafeCheckpointError` -- nothing is imported or run either way.
    Every other problem (damage, a limit, a refused opcode) is one CheckpointError line naming the file.
    """
    path = Path(path)
    src = str(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {src}")
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {src}")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{src} is empty (0 bytes): an interrupted save? use another checkpoint")
    with open(path, "rb") as f:
        head = f.read(4)
    archive = open_torch_zip(path, src)
    try:
        if archive is not None:
            if archive.byteorder() not in (b"little", b""):
                raise CheckpointError(f"{src} was saved on a big-endian machine; not supported")
            data = archive.read_pickle()
            load = archive.persistent_load
        else:
            if head[:2] == b"PK":
                raise CheckpointError(f"{src} is truncated or corrupt (incomplete zip archive); re-download or "
                                      "re-save it")
            if head[:1] != b"\x80":  # a pickle (legacy torch format) starts with the PROTO opcode
                raise CheckpointError(f"{src} is not a PyTorch checkpoint (unrecognised file contents)")
            if size > MAX_PICKLE_BYTES:
                raise CheckpointError(f"{src} is a {size}-byte plain pickle, over the limit of {MAX_PICKLE_BYTES}")
            data = path.read_bytes()
            load = None
        obj = _Unpickler(data, Globals(objects), load).load()
    except _Refused as e:
        if objects:
            raise UnsafeCheckpointError(
                f"{src}: refused to load: the pickle asks for the global {e.qualname}, which is not a tensor, "
                "container or YOLOv5 module (nothing was executed); only load checkpoints you trust"
            ) from None
        raise PickledObjectsError(
            f"{src} is not a yolocls checkpoint: weights-only loading refuses it (it names the global {e.qualname}); "
            "official YOLOv5 *-cls.pt files load with load_model(), which never runs pickled code"
        ) from None
    except _Corrupt as e:
        raise CheckpointError(f"{src} is not a loadable checkpoint: {e}") from None
    except MemoryError:
        raise CheckpointError(f"{src} is corrupt: it asks for more memory than this machine has") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, UnicodeDecodeError, ValueError,
            NotImplementedError, RuntimeError, struct.error) as e:
        # zipfile on damaged local headers: a name that is not UTF-8 or differs from the directory's, an encrypted
        # or unknown compression flag, a bad CRC, a short read
        raise CheckpointError(f"{src} is corrupt or truncated (an unreadable zip entry: {type(e).__name__})") from None
    finally:
        if archive is not None:
            archive.zf.close()
    if archive is None and _is_int(obj) and obj == _LEGACY_MAGIC:
        raise CheckpointError(f"{src} uses the legacy torch<1.6 format; re-save it with a recent torch")
    return obj
