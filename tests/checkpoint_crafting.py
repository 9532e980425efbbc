"""Build hostile checkpoints by hand: a pickle assembler, torch-zip layouts and the crafted files of issue 10.

Used by tests/test_hostile_checkpoints.py, tests/test_fuzz.py and scripts/fuzz_checkpoints.py (which puts this
folder on sys.path). No yolocls import here: the files are made from bytes, the way an attacker would make them.
"""

from __future__ import annotations

import io
import os
import random
import resource
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# -- a pickle assembler (protocol 2, the opcodes torch.save writes, plus the others the fuzzer needs) ------------------


class Pickle:
    """A pickle program written opcode by opcode; every method returns ``self`` (``Pickle().dict().stop()``)."""

    def __init__(self, proto: int = 2) -> None:
        self.b = bytearray(b"\x80" + bytes([proto]))

    def raw(self, data: bytes) -> Pickle:
        self.b += data
        return self

    def glob(self, module: str, name: str) -> Pickle:
        return self.raw(b"c" + module.encode() + b"\n" + name.encode() + b"\n")

    def str(self, s: str) -> Pickle:
        data = s.encode("utf-8", "surrogatepass")
        return self.raw(b"X" + struct.pack("<I", len(data)) + data)

    def bytes(self, data: bytes) -> Pickle:  # protocol 3 opcodes (SHORT_BINBYTES / BINBYTES)
        if len(data) < 256:
            return self.raw(b"C" + bytes([len(data)]) + data)
        return self.raw(b"B" + struct.pack("<I", len(data)) + data)

    def latin1(self, data: bytes) -> Pickle:
        """bytes the protocol-2 way: _codecs.encode(str, 'latin1'), as torch.save writes them."""
        return self.glob("_codecs", "encode").str(data.decode("latin-1")).str("latin1").tuple2().reduce()

    def int(self, i: int) -> Pickle:
        if 0 <= i < 256:
            return self.raw(b"K" + bytes([i]))
        if 0 <= i < 65536:
            return self.raw(b"M" + struct.pack("<H", i))
        if -(2**31) <= i < 2**31:
            return self.raw(b"J" + struct.pack("<i", i))
        n = (i.bit_length() + 8) // 8
        return self.raw(b"\x8a" + bytes([n]) + i.to_bytes(n, "little", signed=True))

    def float(self, f: float) -> Pickle:
        return self.raw(b"G" + struct.pack(">d", f))

    def none(self) -> Pickle:
        return self.raw(b"N")

    def true(self) -> Pickle:
        return self.raw(b"\x88")

    def false(self) -> Pickle:
        return self.raw(b"\x89")

    def mark(self) -> Pickle:
        return self.raw(b"(")

    def tuple(self) -> Pickle:
        return self.raw(b"t")

    def tuple0(self) -> Pickle:
        return self.raw(b")")

    def tuple1(self) -> Pickle:
        return self.raw(b"\x85")

    def tuple2(self) -> Pickle:
        return self.raw(b"\x86")

    def tuple3(self) -> Pickle:
        return self.raw(b"\x87")

    def list(self) -> Pickle:
        return self.raw(b"]")

    def dict(self) -> Pickle:
        return self.raw(b"}")

    def append(self) -> Pickle:
        return self.raw(b"a")

    def appends(self) -> Pickle:
        return self.raw(b"e")

    def setitem(self) -> Pickle:
        return self.raw(b"s")

    def setitems(self) -> Pickle:
        return self.raw(b"u")

    def reduce(self) -> Pickle:
        return self.raw(b"R")

    def build(self) -> Pickle:
        return self.raw(b"b")

    def newobj(self) -> Pickle:
        return self.raw(b"\x81")

    def persid(self) -> Pickle:
        return self.raw(b"Q")

    def put(self, i: int) -> Pickle:
        return self.raw(b"q" + bytes([i]) if i < 256 else b"r" + struct.pack("<I", i))

    def get(self, i: int) -> Pickle:
        return self.raw(b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i))

    def pop(self) -> Pickle:
        return self.raw(b"0")

    def dup(self) -> Pickle:
        return self.raw(b"2")

    def stop(self) -> bytes:
        return bytes(self.b + b".")

    # -- composite pieces ------------------------------------------------------------------------------------------
    def key(self, k: str) -> Pickle:
        return self.str(k)

    def ordered_dict(self) -> Pickle:
        return self.glob("collections", "OrderedDict").tuple0().reduce()

    def storage(self, key: str, numel: int, stype: str = "FloatStorage") -> Pickle:
        """A persistent id ('storage', torch.<stype>, key, 'cpu', numel) -> the storage."""
        return (self.mark().str("storage").glob("torch", stype).str(key).str("cpu").int(numel).tuple().persid())

    def tensor(self, key: str, numel: int, size: tuple[int, ...], stride: tuple[int, ...], offset: int = 0,
               stype: str = "FloatStorage") -> Pickle:
        """torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())."""
        self.glob("torch._utils", "_rebuild_tensor_v2").mark().storage(key, numel, stype).int(offset)
        self.mark()
        for s in size:
            self.int(s)
        self.tuple().mark()
        for s in stride:
            self.int(s)
        return self.tuple().false().ordered_dict().tuple().reduce()

    def standin(self, module: str, name: str) -> Pickle:
        """NEWOBJ of a (stand-in) class with no args; follow with a state dict and build()."""
        return self.glob(module, name).tuple0().newobj()

    def np_dtype(self, base: str, state: tuple | None = None) -> Pickle:
        """numpy.dtype(base, False, True) [+ BUILD(state)], as numpy pickles a dtype."""
        self.glob("numpy", "dtype").str(base).false().true().tuple3().reduce()
        if state is not None:
            self.py(state).build()
        return self

    def py(self, v: object) -> Pickle:
        """A plain value (None/bool/int/float/str/bytes/tuple/list/dict) by its opcodes."""
        if v is None:
            return self.none()
        if v is True:
            return self.true()
        if v is False:
            return self.false()
        if isinstance(v, int):
            return self.int(v)
        if isinstance(v, float):
            return self.float(v)
        if isinstance(v, str):
            return self.str(v)
        if isinstance(v, bytes):
            return self.bytes(v)
        if isinstance(v, tuple):
            self.mark()
            for x in v:
                self.py(x)
            return self.tuple()
        if isinstance(v, list):
            self.list().mark()
            for x in v:
                self.py(x)
            return self.appends()
        if isinstance(v, dict):
            self.dict().mark()
            for k, x in v.items():
                self.py(k).py(x)
            return self.setitems()
        if isinstance(v, _Op):
            return self.raw(v.code)
        raise TypeError(type(v))


@dataclass(frozen=True)
class _Op:
    """Raw opcode bytes inside a value given to :meth:`Pickle.py` (e.g. a nested dtype)."""

    code: bytes


# -- torch zip archives ----------------------------------------------------------------------------------------------


def torch_zip(pkl: bytes, storages: dict[str, bytes] | None = None, prefix: str = "archive",
              compress: bool = False) -> bytes:
    """A torch.save-layout zip: <prefix>/data.pkl, <prefix>/byteorder, <prefix>/data/<key> (stored, or deflated)."""
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", method) as zf:
        zf.writestr(f"{prefix}/data.pkl", pkl)
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, blob in (storages or {}).items():
            zf.writestr(f"{prefix}/data/{key}", blob)
        zf.writestr(f"{prefix}/version", "3\n")
    return out.getvalue()


def zip_raw(entries: list[tuple[str, bytes, int]], shared: list[tuple[list[str], bytes]] = (),
            duplicate: list[tuple[str, bytes]] = ()) -> bytes:
    """A hand-written zip (stored entries) for layouts zipfile will not write.

    ``entries``: (name, data, extra_len) written normally. ``shared``: (names, blob): one local header per name,
    each with an extra field long enough that ALL of them point at the one blob that follows (overlapping entries).
    ``duplicate``: (name, data) written again under a name already used.
    """
    body = bytearray()
    cd = bytearray()
    count = 0

    def local(name: bytes, crc: int, size: int, extra: int) -> bytes:
        return struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, size, size, len(name), extra) + name

    def central(name: bytes, crc: int, size: int, offset: int) -> bytes:
        return struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, size, size, len(name),
                           0, 0, 0, 0, 0, offset) + name

    for name, data, extra in [*entries, *[(n, d, 0) for n, d in duplicate]]:
        nb = name.encode()
        crc = zlib.crc32(data)
        off = len(body)
        body += local(nb, crc, len(data), extra) + b"\0" * extra + data
        cd += central(nb, crc, len(data), off)
        count += 1
    for names, blob in shared:
        crc = zlib.crc32(blob)
        headers_len = sum(30 + len(n.encode()) for n in names)
        start = len(body)
        blob_at = start + headers_len + 4 * len(names)  # each header gets >= 4 bytes of extra
        pos = start
        for n in names:
            nb = n.encode()
            extra = blob_at - (pos + 30 + len(nb))
            assert 0 <= extra < 65536, "too many shared entries for one blob"
            body += local(nb, crc, len(blob), extra)
            cd += central(nb, crc, len(blob), pos)
            count += 1
            pos += 30 + len(nb)
        body += b"\0" * (blob_at - len(body))  # the extra fields of all headers end here
        body += blob
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, count, count, len(cd), len(body), 0)
    return bytes(body + cd + eocd)


# -- the crafted files of issue 10 ----------------------------------------------------------------------------------


def numpy_dtype_overflow(*, via_persistent_id: bool = False, offset: int = 1 << 28) -> bytes:
    """Finding 1: numpy.dtype('V8') BUILT with a field far past its 8 bytes, then numpy scalar(dtype, 8 bytes).

    Under the old allow-list this ~250-byte file reads memory at an attacker-chosen offset (SIGSEGV, or glibc's
    heap-corruption abort); with ``via_persistent_id`` the scalar is the storage key of a persistent id, which the
    old loader formatted with str() into its error line (heap bytes in the message, or the same crash).
    """
    inner = Pickle()
    inner.b.clear()
    inner.np_dtype("f8", (3, "<", None, None, None, -1, -1, 0))
    state = (3, "|", None, ("a",), {"a": (_Op(bytes(inner.b)), offset)}, 8, 1, 16)
    scalar = Pickle()
    scalar.b.clear()
    scalar.glob("numpy._core.multiarray", "scalar").np_dtype("V8").py(state).build()
    scalar.bytes(b"\x01" * 8).tuple2().reduce()
    p = Pickle(3).dict().str("best_fitness")
    if via_persistent_id:  # ('storage', torch.FloatStorage, <scalar>, 'cpu', 1)
        p.mark().str("storage").glob("torch", "FloatStorage").raw(bytes(scalar.b)).str("cpu").int(1).tuple().persid()
    else:
        p.raw(bytes(scalar.b))
    return torch_zip(p.setitem().stop(), {})


def numpy_float_scalar(value: float = 0.5) -> bytes:
    """A benign numpy float64 scalar as torch.save (protocol 2) writes one: dtype + BUILD + _codecs bytes."""
    p = Pickle().dict().str("best_fitness").glob("numpy._core.multiarray", "scalar")
    p.np_dtype("f8", (3, "<", None, None, None, -1, -1, 0)).latin1(struct.pack("<d", value)).tuple2().reduce()
    return torch_zip(p.setitem().stop(), {})


def module_dag(n: int = 60, *, cycle: bool = False) -> bytes:
    """Finding 2: a YOLOv5-style module graph where module i has two children, both module i+1 (2**n paths), or a
    cycle (the last module's child is the first)."""
    p = Pickle()
    # modules are created first (NEWOBJ + memo), then given states that refer to each other
    p.dict().str("model")
    for i in range(n):
        p.standin("torch.nn.modules.container", "Sequential").put(i).pop()
    # state of module i: {'_modules': {'a': m[i+1], 'b': m[i+1]}, '_parameters': {}, '_buffers': {}}
    for i in range(n - 1, -1, -1):
        p.get(i)
        p.dict().mark().str("_modules").dict().mark()
        if i + 1 < n:
            p.str("a").get(i + 1).str("b").get(i + 1)
        elif cycle:
            p.str("a").get(0)
        p.setitems().str("_parameters").dict().str("_buffers").dict().setitems().build().pop()
    return torch_zip(p.get(0).setitem().stop(), {})


def overlapping_entries(n: int = 1000, blob_mb: int = 4) -> bytes:
    """Finding 3: n stored zip entries (storages data/0..n-1) whose local headers all point at one blob."""
    numel = blob_mb * 2**20 // 4
    p = Pickle().dict()
    for i in range(n):
        p.str(f"w{i}").tensor(str(i), numel, (numel,), (1,)).setitem()
    pkl = p.stop()
    return zip_raw([("archive/data.pkl", pkl, 0), ("archive/byteorder", b"little", 0), ("archive/version", b"3\n", 0)],
                   shared=[([f"archive/data/{i}" for i in range(n)], b"\0" * (numel * 4))])


def split_zip(data: bytes) -> tuple[list[tuple[str, bytes]], str]:
    """The (name, bytes) entries of a zip and the name of its data.pkl."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = [(i.filename, zf.read(i)) for i in zf.infolist()]
    return entries, next(n for n, _ in entries if n.endswith("data.pkl"))


def join_zip(entries: list[tuple[str, bytes]]) -> bytes:
    import warnings

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are one of the layouts under test
        for name, blob in entries:
            zf.writestr(name, blob)
    return out.getvalue()


def with_extra_parameter(checkpoint: bytes, tensor_ops: bytes, storages: dict[str, bytes], name: str = "x") -> bytes:
    """A copy of a YOLOv5 checkpoint whose top-level module gets one more entry in its ``_parameters``.

    ``tensor_ops`` are the opcodes that push the tensor (e.g. ``Pickle().tensor(...)`` without PROTO); they are
    spliced in right after the first ``_parameters`` OrderedDict is built, as ``SETITEM name tensor``.
    """
    import pickletools

    entries, pkl_name = split_zip(checkpoint)
    pkl = dict(entries)[pkl_name]
    ops = list(pickletools.genops(pkl))
    at = next(i for i, (op, arg, _) in enumerate(ops) if op.name.endswith("UNICODE") and arg == "_parameters")
    i = at + 1
    while ops[i][0].name not in ("EMPTY_DICT", "REDUCE"):  # the value: {} or OrderedDict()
        i += 1
    i += 1
    if ops[i][0].name in ("BINPUT", "LONG_BINPUT"):  # keep the memo store right after it
        i += 1
    pos = ops[i][2]
    name_b = name.encode()
    splice = b"X" + struct.pack("<I", len(name_b)) + name_b + tensor_ops + b"s"
    new = pkl[:pos] + splice + pkl[pos:]
    prefix = pkl_name[: -len("data.pkl")]
    out = [(n, new if n == pkl_name else b) for n, b in entries]
    out += [(f"{prefix}data/{k}", v) for k, v in storages.items()]
    return join_zip(out)


def replace_list_value(checkpoint: bytes, key: str, value_ops: bytes) -> bytes:
    """A copy of a checkpoint where the first ``key`` of a state dict, whose value is a list, gets ``value_ops``
    (opcodes pushing one value, without PROTO) instead (e.g. the model's ``names``)."""
    import pickletools

    entries, pkl_name = split_zip(checkpoint)
    pkl = dict(entries)[pkl_name]
    ops = list(pickletools.genops(pkl))
    at = next(i for i, (op, arg, _) in enumerate(ops) if op.name.endswith("UNICODE") and arg == key)
    start = next(i for i in range(at, len(ops)) if ops[i][0].name == "EMPTY_LIST")
    end = next(i for i in range(start, len(ops)) if ops[i][0].name == "APPENDS") + 1
    new = pkl[: ops[start][2]] + value_ops + pkl[ops[end][2]:]
    return join_zip([(n, new if n == pkl_name else b) for n, b in entries])


def set_declared_size(zip_bytes: bytes, name: str, size: int) -> bytes:
    """Patch the sizes a zip declares for entry ``name`` (local header and central directory) to ``size``."""
    b = bytearray(zip_bytes)
    nb = name.encode()
    for sig, size_at, name_len_at, name_at in ((b"PK\x03\x04", 18, 26, 30), (b"PK\x01\x02", 20, 28, 46)):
        i = 0
        while (i := b.find(sig, i)) >= 0:
            n = struct.unpack_from("<H", b, i + name_len_at)[0]
            if bytes(b[i + name_at: i + name_at + n]) == nb:
                struct.pack_into("<II", b, i + size_at, size, size)
            i += 4
    return bytes(b)


def deep_tuple_key(depth: int = 1_000_000) -> bytes:
    """A dict whose key is a tuple nested ``depth`` deep: hashing it overflows the C stack (SIGSEGV) in every
    unpickler that builds it (the C one, torch's weights-only one). 1 byte per level."""
    p = Pickle().dict().tuple0().raw(b"\x85" * depth).none().setitem()
    return torch_zip(p.stop(), {})


def dtype_state_build_variants() -> dict[str, bytes]:
    """Other BUILDs on allow-listed globals that must be refused (a dtype, a tensor, a function, OrderedDict)."""
    out = {}
    p = Pickle().np_dtype("f8", (3, "<", None, ("a",), {"a": ("x", 0)}, 8, 1, 16))
    out["dtype-fields"] = torch_zip(p.stop(), {})
    p = Pickle().np_dtype("V8", (3, "|", None, None, None, 8, 1, 0))
    out["dtype-void"] = torch_zip(p.stop(), {})
    p = Pickle().tensor("0", 4, (4,), (1,)).mark().none().int(0).py((4,)).py((1,)).tuple().build()
    out["tensor-set_"] = torch_zip(p.stop(), {"0": b"\0" * 16})
    p = Pickle().ordered_dict().py({"x": 1}).build()
    out["ordereddict-dict"] = torch_zip(p.stop(), {})
    p = Pickle().glob("torch._utils", "_rebuild_tensor_v2").none().py({"__defaults__": (1,)}).tuple2().build()
    out["function-slots"] = torch_zip(p.stop(), {})
    return out


# -- running a load in a child process under a memory cap -----------------------------------------------------------

MEMORY_CAP = 1536 * 2**20  # RLIMIT_AS of the child: a load that wants more fails its allocation instead

# A child's peak RSS: VmHWM of its own (post-exec) address space, written at exit. (ru_maxrss of a child is no use:
# Linux starts it at the parent's RSS at fork and keeps that across exec.)
_HWM = """
def _hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return -1.0
"""
_MEASURED = _HWM + """
import atexit, os, runpy, sys
_out = sys.argv.pop(1)
atexit.register(lambda: open(_out, "w").write(str(_hwm())))
if sys.argv[1] == "-m":
    mod = sys.argv.pop(2)
    sys.argv.pop(1)
    runpy.run_module(mod, run_name="__main__", alter_sys=True)
else:
    code = sys.argv.pop(2)
    sys.argv.pop(1)
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
"""


def _under_asan() -> bool:
    return "asan" in os.environ.get("LD_PRELOAD", "")


def _limit_memory(cap: int) -> Callable[[], None]:
    def apply() -> None:
        if not _under_asan():  # ASan reserves terabytes of address space for its shadow memory
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float
    cpu_s: float = 0.0

    @property
    def signal(self) -> int | None:
        return -self.returncode if self.returncode < 0 else None


def run_capped(argv: list[str], *, timeout: float = 60, cap: int = MEMORY_CAP, env: dict[str, str] | None = None,
               cwd: str | Path | None = None, stdin: str | None = None) -> Outcome:
    """Run ``argv`` with RLIMIT_AS = ``cap``; its output, wall and CPU time (wait4) and, for ``python -m/-c``
    commands, its own peak RSS (VmHWM at exit; NaN if it died) come back. A child still running after ``timeout``
    seconds is killed (returncode -9)."""
    import tempfile
    import threading

    hwm_fd, hwm_path = tempfile.mkstemp(prefix="yolocls-hwm-")
    os.close(hwm_fd)
    if argv[0] == sys.executable and len(argv) > 2 and argv[1] in ("-m", "-c"):  # measure the child's own peak
        argv = [sys.executable, "-c", _MEASURED, hwm_path, *argv[1:]]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=out, stderr=err, text=True, preexec_fn=_limit_memory(cap),
                                env={**os.environ, **(env or {})}, cwd=cwd)
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        try:
            if stdin is not None:
                assert proc.stdin is not None
                try:
                    proc.stdin.write(stdin)
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        dt = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        try:
            rss = float(Path(hwm_path).read_text() or "nan")
        except ValueError:
            rss = float("nan")
        finally:
            os.unlink(hwm_path)
        return Outcome(proc.returncode, out.read(), err.read(), dt, rss, usage.ru_utime + usage.ru_stime)


def python_argv(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def random_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


# -- a worker that loads many files in one capped child ----------------------------------------------------------------

WORKER = _HWM + r"""
import json, sys, time, traceback
import torch
torch.set_num_threads(1)
from yolocls.errors import CheckpointError
from yolocls.models.checkpoint import load_model, read_checkpoint
from yolocls.models.yolov5_import import restricted_load
fns = {"load_model": load_model, "read_checkpoint": read_checkpoint, "restricted_load": restricted_load}
for line in sys.stdin:
    fn, path = line.rstrip("\n").split("\t", 1)
    rec = {"path": path, "fn": fn}
    print(json.dumps({"start": path}), flush=True)
    t0 = time.process_time()
    try:
        fns[fn](path)
        rec["outcome"] = "loaded"
    except CheckpointError as e:
        rec.update(outcome=type(e).__name__, message=str(e))
    except BaseException as e:  # noqa: BLE001 - what the tests look for
        rec.update(outcome="escaped", message=type(e).__name__, tb=traceback.format_exc()[-3000:])
    rec["cpu_s"] = time.process_time() - t0
    rec["maxrss_mb"] = _hwm()
    print(json.dumps(rec), flush=True)
"""


@dataclass
class WorkerRun:
    records: list[dict]
    crashed_on: str | None  # the file in flight when the worker died (signal, abort, os._exit)
    outcome: Outcome


def run_worker(jobs: list[tuple[str, str | Path]], *, timeout: float = 300, cap: int = MEMORY_CAP,
               env: dict[str, str] | None = None) -> WorkerRun:
    """Load each (function, path) in one child under the memory cap; one JSON record per file.

    function: load_model, read_checkpoint or restricted_load. If the child dies, ``crashed_on`` names the file."""
    import json

    stdin = "".join(f"{fn}\t{path}\n" for fn, path in jobs)
    out = run_capped([sys.executable, "-c", WORKER], timeout=timeout, cap=cap, env=env, stdin=stdin)
    records, started = [], None
    for line in out.stdout.splitlines():
        rec = json.loads(line)
        if "start" in rec:
            started = rec["start"]
        else:
            records.append(rec)
            started = None
    return WorkerRun(records, started, out)


# -- structure-aware fuzzing ------------------------------------------------------------------------------------------
# Pickles built from the allow-listed globals (and a few refused ones) with the opcodes that matter: BUILD, SETITEMS,
# APPENDS, nested REDUCE, NEWOBJ, memo PUT/GET (sharing, would-be cycles), persistent ids, tensors with random
# geometry, numpy dtypes with random states, module trees (DAGs, cycles, depth), deep nesting; then zip layouts
# (stored/deflated, duplicate and overlapping entries, wrong declared sizes, truncation) and byte-level damage.

STANDINS = [("models.yolo", "ClassificationModel"), ("models.common", "Conv"), ("models.common", "Classify"),
            ("torch.nn.modules.conv", "Conv2d"), ("torch.nn.modules.container", "Sequential"),
            ("torch.nn.modules.batchnorm", "BatchNorm2d"), ("torch.nn.modules.activation", "SiLU"),
            ("utils.augmentations", "CenterCrop"), ("torchvision.transforms.transforms", "Normalize"),
            ("torchvision.transforms.transforms", "Compose"), ("pathlib", "PosixPath")]
CALLABLES = [("collections", "OrderedDict"), ("builtins", "set"), ("__builtin__", "set"), ("_codecs", "encode"),
             ("torch", "Size"), ("torch", "device"), ("torch._utils", "_rebuild_parameter"),
             ("torch._utils", "_rebuild_tensor_v2"), ("numpy", "dtype"), ("numpy._core.multiarray", "scalar"),
             ("numpy.core.multiarray", "scalar")]
VALUES = [("torch", "float32"), ("torch", "HalfStorage"), ("torch", "FloatStorage"), ("torch", "LongStorage")]
REFUSED = [("posix", "system"), ("builtins", "eval"), ("builtins", "getattr"), ("builtins", "frozenset"),
           ("numpy.core.multiarray", "_reconstruct"), ("torch", "load"), ("torch", "Tensor"),
           ("copyreg", "_reconstructor")]
NP_NAMES = ["f8", "f4", "f2", "i8", "u1", "b1", "c16", "V8", "O", "U4", "S3", "<f8", "M8[s]", "f8,i4"]
STYPES = ["FloatStorage", "HalfStorage", "LongStorage", "ByteStorage", "BoolStorage", "DoubleStorage"]
_ITEMSIZE = {"FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "ByteStorage": 1, "BoolStorage": 1,
             "DoubleStorage": 8}
_MODEL_NAMES = ["tiny-cls", "yolov5n-cls", "resnet18", "efficientnet_b0", "nosuch-cls", ""]


class _Gen:
    """One random pickle program; ``value()`` pushes exactly one value (when no damage is applied later)."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng
        self.p = Pickle()
        self.memo = 0
        self.storages: dict[str, tuple[str, int]] = {}  # key -> (storage type, numel)
        self.budget = rng.choice([20, 60, 200, 800])

    def maybe_put(self) -> None:
        if self.r.random() < 0.3 and self.memo < 250:
            self.p.put(self.memo)
            self.memo += 1

    def int_(self) -> int:
        return self.r.choice([0, 1, 2, 3, 4, 7, 16, 255, 256, 65535, 2**31 - 1, -1, 2**40, 2**63, 10**30,
                              self.r.randrange(-1000, 1000)])

    def scalar(self) -> None:
        k = self.r.randrange(8)
        if k == 0:
            self.p.int(self.int_())
        elif k == 1:
            self.p.float(self.r.choice([0.0, 1.5, -2.0, float("nan"), float("inf"), 1e308]))
        elif k == 2:
            self.p.str(self.r.choice(["", "a", "weight", "_modules", "_parameters", "names", "storage", "cpu",
                                      "\ud800", "x" * self.r.choice([10, 1000, 100_000]), "a.b", "\u00b2"]))
        elif k == 3:
            self.p.bytes(random_bytes(self.r, self.r.choice([0, 1, 2, 4, 8, 16, 300])))
        elif k == 4:
            self.p.none()
        elif k == 5:
            self.p.true() if self.r.random() < 0.5 else self.p.false()
        elif k == 6 and self.memo:
            self.p.get(self.r.randrange(self.memo))
        else:
            self.p.int(self.r.randrange(0, 10))

    def value(self, depth: int = 0) -> None:
        self.budget -= 1
        if depth > 12 or self.budget <= 0:
            return self.scalar()
        k = self.r.choices(range(12), weights=[6, 3, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1])[0]
        if k == 0:
            self.scalar()
        elif k == 1:  # list by APPENDS or APPEND
            self.p.list()
            self.maybe_put()
            if self.r.random() < 0.5:
                self.p.mark()
                for _ in range(self.r.randrange(4)):
                    self.value(depth + 1)
                self.p.appends()
            else:
                for _ in range(self.r.randrange(3)):
                    self.value(depth + 1)
                    self.p.append()
        elif k == 2:  # dict by SETITEMS
            self.p.dict() if self.r.random() < 0.8 else self.p.ordered_dict()
            self.maybe_put()
            self.p.mark()
            for _ in range(self.r.randrange(4)):
                self.scalar() if self.r.random() < 0.8 else self.value(depth + 1)  # keys: mostly hashable
                self.value(depth + 1)
            self.p.setitems()
        elif k == 3:  # tuples
            n = self.r.randrange(5)
            if n == 0:
                self.p.tuple0()
            else:
                if n > 3:
                    self.p.mark()
                for _ in range(n):
                    self.value(depth + 1)
                self.p.raw({1: b"\x85", 2: b"\x86", 3: b"\x87"}.get(n, b"t"))
        elif k == 4:  # a call: nested REDUCE
            self.p.glob(*self.r.choice(CALLABLES if self.r.random() < 0.95 else REFUSED))
            self.p.mark()
            for _ in range(self.r.randrange(4)):
                self.value(depth + 1)
            self.p.tuple().reduce()
        elif k == 5:  # NEWOBJ of a stand-in (+ BUILD)
            self.module(depth)
        elif k == 6:
            self.tensor()
        elif k == 7:
            self.numpy_scalar()
        elif k == 8:  # BUILD on something random
            self.value(depth + 1)
            self.value(depth + 1)
            self.p.build()
        elif k == 9:  # a persistent id of random shape
            self.p.mark().str(self.r.choice(["storage", "storage", "other"]))
            for _ in range(self.r.randrange(5)):
                self.value(depth + 1) if self.r.random() < 0.3 else self.scalar()
            self.p.tuple().persid()
        elif k == 10:  # deep nesting
            n = self.r.choice([50, 99, 101, 1000, 20_000])
            self.p.tuple0().raw(b"\x85" * n) if self.r.random() < 0.5 else self.p.raw(b"]" * (n + 1) + b"a" * n)
        else:  # a global as a value
            self.p.glob(*self.r.choice(VALUES + STANDINS[:2] + REFUSED[:1]))
        self.maybe_put()

    def module(self, depth: int) -> None:
        self.p.glob(*self.r.choice(STANDINS)).tuple0().newobj()
        self.maybe_put()
        if self.r.random() < 0.9:
            self.p.dict().mark()
            self.p.str("_modules").dict().mark()
            for i in range(self.r.randrange(4)):
                self.p.str(self.r.choice([str(i), "act", "conv", "m", "\u00b2", ""]))
                if self.memo and self.r.random() < 0.2:
                    self.p.get(self.r.randrange(self.memo))  # sharing: a DAG, or a cycle if it is an ancestor
                elif depth < 10 and self.budget > 0:
                    self.module(depth + 1)
                else:
                    self.p.none()
            self.p.setitems()
            self.p.str("_parameters").dict().mark()
            for name in self.r.sample(["weight", "bias", "running_mean", "x"], self.r.randrange(3)):
                self.p.str(name)
                self.tensor() if self.r.random() < 0.9 else self.scalar()
            self.p.setitems()
            self.p.str("_buffers").dict()
            if self.r.random() < 0.2:
                self.p.str("names")
                self.value(depth + 1)
            self.p.setitems().build()
            if self.r.random() < 0.05:
                self.p.dict().build()  # a second BUILD

    def tensor(self) -> None:
        key = str(self.r.randrange(6))
        stype, numel = self.storages.get(key, (self.r.choice(STYPES), self.r.choice([0, 1, 4, 16, 100, 1000])))
        if key not in self.storages and self.r.random() < 0.05:
            numel = self.r.choice([2**31, 2**40, 10**9])
        self.storages.setdefault(key, (stype, numel))
        if self.r.random() < 0.7 and numel < 2**20:  # a valid view: contiguous, within the storage
            n = self.r.randrange(0, numel + 1)
            shape = self.r.choice([(n,), (1, n), (n, 1)])
            size, stride, offset = shape, (1,) if len(shape) == 1 else (n, 1), self.r.randrange(0, numel - n + 1)
        else:
            ndim = self.r.choice([0, 1, 2, 4, 17])
            size = tuple(self.r.choice([0, 1, 2, 4, 10, 1000, 10**9]) for _ in range(ndim))
            stride = tuple(self.r.choice([0, 1, 2, 4, 100, -1]) for _ in range(ndim if self.r.random() < 0.9 else 1))
            offset = self.r.choice([0, 0, 1, 3, numel, -1])
        self.p.glob("torch._utils", "_rebuild_tensor_v2").mark().storage(key, numel, stype)
        self.p.int(offset).py(size).py(stride).false().ordered_dict().tuple().reduce()

    def numpy_scalar(self) -> None:
        name = self.r.choice(NP_NAMES)
        state = self.r.choice([None, (3, "<", None, None, None, -1, -1, 0), (3, "|", None, None, None, 8, 1, 0),
                               (3, "|", None, ("a",), {"a": ("x", 0)}, 8, 1, 16),
                               (3, "<", None, None, None, -1, -1, 0, 1),
                               (4, ">", None, None, None, -1, -1, 0)])
        self.p.glob(self.r.choice(["numpy._core.multiarray", "numpy.core.multiarray"]), "scalar").np_dtype(name, state)
        data = random_bytes(self.r, self.r.choice([1, 2, 4, 8, 16, 9]))
        self.p.latin1(data) if self.r.random() < 0.5 else self.p.bytes(data)
        self.p.tuple2().reduce()

    def top(self) -> bytes:
        kind = self.r.random()
        if kind < 0.4:  # a YOLOv5-like checkpoint
            self.p.dict().mark().str("model")
            self.module(0)
            self.p.str("epoch").int(self.int_()).str("opt").dict().mark().str("imgsz")
            self.value(3)
            self.p.setitems().setitems()
        elif kind < 0.7:  # our format, with random config values
            self.p.dict().mark().str("format").str("yolocls-checkpoint").str("format_version")
            self.p.int(self.r.choice([1, 1, 2, 0]))
            self.p.str("config").dict().mark().str("name").str(self.r.choice(_MODEL_NAMES))
            self.p.str("num_classes").int(self.r.choice([3, 10, 0, 10**6, 2**40]))
            self.p.str("kwargs").dict().mark()
            for k in self.r.sample(["dropout", "width_multiple", "evil", "depth_multiple", "head_hidden"],
                                   self.r.randrange(3)):
                self.p.str(k)
                self.value(4) if self.r.random() < 0.5 else self.p.float(self.r.choice([0.1, 100.0, float("nan")]))
            self.p.setitems().setitems()
            self.p.str("state_dict").dict().mark()
            for name in self.r.sample(["model.0.conv.weight", "model.9.linear.weight", "x"], self.r.randrange(3)):
                self.p.str(name)
                self.tensor()
            self.p.setitems()
            for extra in self.r.sample(["names", "preprocess", "optimizer", "epoch"], self.r.randrange(3)):
                self.p.str(extra)
                self.value(2)
            self.p.setitems()
        else:
            self.value()
        return self.p.stop()

    def storage_blobs(self) -> dict[str, bytes]:
        out = {}
        for key, (stype, numel) in self.storages.items():
            n = numel * _ITEMSIZE[stype] if isinstance(numel, int) and 0 <= numel < 2**20 else 16
            if self.r.random() < 0.1:
                n = max(0, n + self.r.choice([-1, 1, 8]))
            out[key] = random_bytes(self.r, min(n, 65536)) + b"\0" * max(0, n - 65536)
        return out


def _damage(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if not b:
            break
        k = rng.randrange(4)
        i = rng.randrange(len(b))
        if k == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif k == 1:
            b[i:i] = bytes([rng.choice(b"().NKJXhqRbsuaet\x81\x85\x86\x87\x88\x89\x8a\x8e\x93\x94Q0")])
        elif k == 2:
            del b[i:i + rng.randrange(1, 8)]
        else:
            b = b[:i]
    return bytes(b)


ZIP_LAYOUTS = ["stored"] * 10 + ["deflated", "duplicate", "overlap", "declared", "truncated", "plain", "garbage-tail"]


def _ops(build: Callable[[Pickle], object]) -> bytes:
    p = Pickle()
    p.b.clear()
    build(p)
    return bytes(p.b)


def _seed_case(rng: random.Random, name: str, data: bytes) -> tuple[str, bytes]:
    entries, pkl_name = split_zip(data)
    pkl = dict(entries)[pkl_name]
    how = rng.choice(["damage-pickle", "damage-file", "drop-entry", "duplicate", "declared", "splice-param", "names"])
    desc = f"{name}:{how}"
    if how == "damage-file":  # anywhere: local headers, the central directory, storages
        b = bytearray(data)
        for _ in range(rng.randrange(1, 9)):
            b[rng.randrange(len(b))] ^= rng.randrange(1, 256)
        return desc, bytes(b)
    if how == "damage-pickle":
        return desc, join_zip([(n, _damage(rng, b) if n == pkl_name else b) for n, b in entries])
    if how == "drop-entry":
        drop = rng.randrange(len(entries))
        return desc, join_zip([e for i, e in enumerate(entries) if i != drop])
    if how == "duplicate":
        return desc, zip_raw([(n, b, 0) for n, b in entries], duplicate=[rng.choice(entries)])
    if how == "declared":
        return desc, set_declared_size(data, rng.choice([n for n, _ in entries]), rng.choice([0, 2**31, 2**32 - 1]))
    g = _Gen(rng)
    g.storages = {"f0": ("HalfStorage", rng.choice([1, 16, 1000])), "f1": ("FloatStorage", 4)}
    if how == "splice-param" and b"_parameters" in pkl:  # a generated tensor (or value) as an extra parameter
        ops = _ops(lambda p: (setattr(g, "p", p), g.tensor() if rng.random() < 0.8 else g.value(2)))
        ops = ops.replace(b"X\x01\x00\x00\x000", b"X\x02\x00\x00\x00f0") if rng.random() < 0.5 else ops
        return desc, with_extra_parameter(data, ops, g.storage_blobs())  # (sizes capped at 1 MB)
    if how == "names" and b"names" in pkl and b"]" in pkl:  # a generated value as the class names
        choices = [lambda p: p.py([f"c{i}" for i in range(rng.choice([0, 10, 11]))]),
                   lambda p: p.py({i: f"c{i}" for i in range(10)}),
                   lambda p: p.py({str(i): f"c{i}" for i in range(10)}),
                   lambda p: p.str("n" * rng.choice([10, 10**6])),
                   lambda p: (setattr(g, "p", p), g.value(1))]
        try:
            return desc, replace_list_value(data, "names", _ops(rng.choice(choices)))
        except StopIteration:
            pass
    return f"{name}:damage-pickle", join_zip([(n, _damage(rng, b) if n == pkl_name else b) for n, b in entries])


def random_case(rng: random.Random, seeds: dict[str, bytes] | None = None, seed_rate: float = 0.1
                ) -> tuple[str, bytes]:
    """One fuzz case: (a short description, the file's bytes). ``seeds``: real checkpoints to mutate (a
    ``seed_rate`` share of the cases), else the case is generated."""
    if seeds and rng.random() < seed_rate:
        name = rng.choice(sorted(seeds))
        return _seed_case(rng, name, seeds[name])
    g = _Gen(rng)
    pkl = g.top()
    damaged = rng.random() < 0.2
    if damaged:
        pkl = _damage(rng, pkl)
    blobs = g.storage_blobs()
    layout = rng.choice(ZIP_LAYOUTS)
    desc = f"gen:{layout}{':damaged' if damaged else ''}"
    if layout == "plain":
        return desc, pkl
    if layout == "deflated":
        if rng.random() < 0.5:
            return desc, torch_zip(pkl, blobs, compress=True)
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            zf.writestr("archive/data.pkl", pkl)
            for k, v in blobs.items():
                method = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
                zf.writestr(f"archive/data/{k}", v, compress_type=method)
        return desc, out.getvalue()
    if layout == "duplicate" and blobs:
        key = rng.choice(sorted(blobs))
        entries = [("archive/data.pkl", pkl, 0), *[(f"archive/data/{k}", v, 0) for k, v in blobs.items()]]
        return desc, zip_raw(entries, duplicate=[(f"archive/data/{key}", blobs[key])])
    if layout == "overlap" and blobs:
        key = rng.choice(sorted(blobs))
        names = [f"archive/data/{k}" for k in blobs]
        return desc, zip_raw([("archive/data.pkl", pkl, 0)], shared=[(names, blobs[key])])
    data = torch_zip(pkl, blobs)
    if layout == "declared":
        return desc, set_declared_size(data, "archive/data.pkl", rng.choice([0, 1, 2**31]))
    if layout == "truncated":
        return desc, data[: rng.randrange(1, len(data))]
    if layout == "garbage-tail":
        return desc, data + random_bytes(rng, rng.randrange(1, 64))
    return desc, data
