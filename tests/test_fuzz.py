"""Property-based fuzzing (hypothesis).

1. ``_C.preprocess`` against the NumPy reference over random shapes, memory layouts (padded rows, column slices,
   row steps, negative row/column strides, pixel strides), crops, channel orders, mean/std and dtypes.
2. The checkpoint loader (``checkpoint.load_model``: the weights-only allow-list, then the restricted YOLOv5
   importer) over mutated files: bytes flipped, truncated, pickle opcodes swapped, globals replaced, code-running
   payloads injected. Every outcome is a model or a :class:`CheckpointError`; nothing else escapes and nothing runs
   (a marker file that every injected payload would create never appears).
3. Structure-aware checkpoint fuzzing (``checkpoint_crafting.random_case``): pickles built from the allow-listed
   globals with BUILD, SETITEMS, nested REDUCE, NEWOBJ, memo sharing, persistent ids, tensor geometries, numpy
   dtype states, module DAGs/cycles and deep nesting, in zip layouts (stored/deflated, duplicate and overlapping
   entries, wrong sizes, truncation), plus splices into real checkpoints. All cases load in one child process under a
   1.5 GB address-space cap; each must end as a model or one CheckpointError line within 10 s of CPU and 1 GB, never
   a signal or a traceback. ``scripts/fuzz_checkpoints.py`` runs the same generator for a longer hunt.

Settings keep each test well under a minute on 2 shared cores (examples counted in the module constants).
"""

from __future__ import annotations

import functools
import io
import os
import pickle
import pickletools
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yolocls import _native
from yolocls.errors import CheckpointError
from yolocls.spec.preprocess import preprocess

# the same place tests/conftest.py looks (../shared/fixtures beside the clone, or $YOLOCLS_FIXTURES)
FIXTURES = Path(os.environ.get("YOLOCLS_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures"))
OFFICIAL = FIXTURES / "yolov5n-cls-official-format.pt"
# the seed checkpoints: ours always; YOLOv5's official-format pickle where ../shared/fixtures holds it
SEEDS = ["yolocls", "yolov5"] if OFFICIAL.is_file() else ["yolocls"]

pytestmark = pytest.mark.slow  # fuzz hunts: hundreds of hypothesis examples per test

torch.set_num_threads(1)
# YOLOCLS_FUZZ_SCALE=10 runs ten times as many examples (a longer local hunt; CI uses the defaults)
_SCALE = max(1, int(os.environ.get("YOLOCLS_FUZZ_SCALE", "1")))
PREPROCESS_EXAMPLES = 300 * _SCALE
CHECKPOINT_EXAMPLES = 250 * _SCALE
PAYLOAD_EXAMPLES = 60
STRUCTURED_CASES = 300 * _SCALE

CROPS = ("center", "stretch", "letterbox")
LAYOUTS = ("contiguous", "padded-rows", "column-slice", "row-step", "neg-rows", "neg-cols", "neg-both",
           "pixel-stride", "fortran")


def _layout(img: np.ndarray, layout: str, pad: int) -> np.ndarray:
    """A view of ``img`` with the given memory layout (equal values, different strides)."""
    h, w, _ = img.shape
    if layout == "contiguous":
        return img
    if layout == "padded-rows":  # rows padded to a larger stride (camera buffers)
        buf = np.zeros((h, w + pad, 3), np.uint8)
        buf[:, :w] = img
        return buf[:, :w]
    if layout == "column-slice":  # a region of interest starting mid-row
        buf = np.zeros((h, w + pad, 3), np.uint8)
        buf[:, pad:] = img
        return buf[:, pad:]
    if layout == "row-step":
        buf = np.zeros((h * 2, w, 3), np.uint8)
        buf[::2] = img
        return buf[::2]
    if layout == "neg-rows":
        return np.ascontiguousarray(img[::-1])[::-1]
    if layout == "neg-cols":
        return np.ascontiguousarray(img[:, ::-1])[:, ::-1]
    if layout == "neg-both":
        return np.ascontiguousarray(img[::-1, ::-1])[::-1, ::-1]
    if layout == "pixel-stride":  # RGBX-like buffers: 4 bytes per pixel, 3 used
        buf = np.zeros((h, w, 4), np.uint8)
        buf[:, :, :3] = img
        return buf[:, :, :3]
    if layout == "fortran":
        return np.asfortranarray(img)
    raise AssertionError(layout)


@pytest.mark.skipif(not _native.available(), reason="yolocls._C is not built")
@settings(max_examples=PREPROCESS_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(1, 160), w=st.integers(1, 160), imgsz=st.sampled_from([1, 3, 8, 17, 32, 64]),
    crop=st.sampled_from(CROPS), bgr=st.booleans(), order=st.sampled_from(["RGB", "BGR"]),
    dtype=st.sampled_from([np.float32, np.float16]), layout=st.sampled_from(LAYOUTS), pad=st.integers(1, 17),
    mean=st.tuples(*[st.floats(0, 1)] * 3), std=st.tuples(*[st.floats(0.05, 2)] * 3),
    batch=st.integers(1, 3), seed=st.integers(0, 2**32 - 1),
)
def test_native_preprocess_matches_reference(h: int, w: int, imgsz: int, crop: str, bgr: bool, order: str,
                                             dtype: type, layout: str, pad: int, mean: tuple, std: tuple,
                                             batch: int, seed: int) -> None:
    C = _native.load_extension()
    rng = np.random.default_rng(seed)
    imgs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(batch)]
    views = [_layout(im, layout, pad) for im in imgs]
    for v, im in zip(views, imgs, strict=True):
        assert np.array_equal(v, im)
    kw = dict(imgsz=imgsz, crop=crop, mean=mean, std=std, bgr=bgr, channel_order=order, dtype=dtype)
    want = preprocess(imgs, **kw)
    config = C.PreprocessConfig(imgsz=imgsz, crop=C.Crop(crop), mean=mean, std=std, channel_order=C.ChannelOrder(order))
    got = C.preprocess(views, config, bgr=bgr, dtype=C.DType(np.dtype(dtype).name))
    assert got.shape == want.shape == (batch, 3, imgsz, imgsz) and got.dtype == np.dtype(dtype)
    if dtype is np.float32:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    else:  # at most one half-precision ulp apart (the C++ rounds through float32)
        tol = np.maximum(np.spacing(np.abs(want)).astype(np.float32), 1e-5)
        assert np.all(np.abs(got.astype(np.float32) - want.astype(np.float32)) <= tol)


# -- checkpoint fuzzing ---------------------------------------------------------------------------------------------

MARKER_NAME = "PWNED_MARKER"


@functools.cache
def _seed_files() -> dict[str, bytes]:
    """The files the mutations start from: a yolocls checkpoint and an official-format YOLOv5 pickle.

    Cached at module level rather than a fixture, so hypothesis does not print megabytes of seed bytes on failure.
    """
    import tempfile

    import yolocls
    from yolocls.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        ours = save_checkpoint(Path(d) / "tiny.pt", yolocls.create_model("tiny-cls", num_classes=3)).read_bytes()
    return {"yolocls": ours, **({"yolov5": OFFICIAL.read_bytes()} if "yolov5" in SEEDS else {})}


def _split_zip(data: bytes) -> tuple[list[tuple[zipfile.ZipInfo, bytes]], str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = [(i, zf.read(i)) for i in zf.infolist()]
    pkl = next(i.filename for i, _ in entries if i.filename.endswith("data.pkl"))
    return entries, pkl


def _join_zip(entries: list[tuple[zipfile.ZipInfo, bytes]], pkl: str, new_pkl: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for info, blob in entries:
            zf.writestr(info.filename, new_pkl if info.filename == pkl else blob)
    return out.getvalue()


def _opcode_offsets(p: bytes) -> list[tuple[int, str, object]]:
    try:
        return [(pos, op.name, arg) for op, arg, pos in pickletools.genops(p)]
    except Exception:  # noqa: BLE001 - a half-mutated pickle: use what parsed
        return []


def _payload(marker: Path, kind: int) -> bytes:
    """Protocol-0/2 opcodes that would create ``marker`` if a loader ran them; left on the stack and POPped."""
    m = str(marker).encode()
    calls = [
        b"cposix\nsystem\n(Vtouch " + m + b"\ntR0",
        b"cos\nsystem\n(Vtouch " + m + b"\ntR0",
        b"cbuiltins\nexec\n(Vopen(" + repr(str(marker)).encode() + b", 'w').close()\ntR0",
        b"cbuiltins\neval\n(V__import__('pathlib').Path(" + repr(str(marker)).encode() + b").touch()\ntR0",
        b"csubprocess\ncall\n((Vtouch\nV" + m + b"\nltR0",
        b"ctorch._utils\n_rebuild_tensor_v2\n(cbuiltins\nexec\n(Vopen(" + repr(str(marker)).encode()
        + b", 'w').close()\ntRtR0",
        b"cpathlib\nPath\n(V" + m + b"\ntR(}tb0",  # BUILD on a Path: only a __setstate__ would run
    ]
    return calls[kind % len(calls)]


def _mutate(data: bytes, kind: str, draw: st.DataObject, marker: Path) -> bytes:
    if kind == "flip":  # flip bytes anywhere in the file
        b = bytearray(data)
        for _ in range(draw.draw(st.integers(1, 8))):
            i = draw.draw(st.integers(0, len(b) - 1))
            b[i] ^= draw.draw(st.integers(1, 255))
        return bytes(b)
    if kind == "truncate":
        return data[: draw.draw(st.integers(0, len(data) - 1))]
    entries, pkl_name = _split_zip(data)
    pkl = dict((i.filename, blob) for i, blob in entries)[pkl_name]
    ops = _opcode_offsets(pkl)
    if kind == "pickle-flip":  # flip bytes of the pickle program only (the zip stays valid)
        b = bytearray(pkl)
        for _ in range(draw.draw(st.integers(1, 4))):
            b[draw.draw(st.integers(0, len(b) - 1))] ^= draw.draw(st.integers(1, 255))
        new = bytes(b)
    elif kind == "pickle-truncate":
        new = pkl[: draw.draw(st.integers(0, len(pkl) - 1))]
    elif kind == "opcode-swap":  # replace one opcode byte by another opcode
        pos = draw.draw(st.sampled_from([p for p, _, _ in ops]))
        code = draw.draw(st.sampled_from([o.code.encode("latin-1") for o in pickletools.opcodes]))
        new = pkl[:pos] + code + pkl[pos + 1:]
    elif kind == "global-replace":  # point one GLOBAL at a dangerous or a nonexistent callable
        globs = [(p, a) for p, name, a in ops if name == "GLOBAL"]
        pos, arg = draw.draw(st.sampled_from(globs))
        old = b"c" + str(arg).replace(" ", "\n").encode() + b"\n"
        assert pkl[pos:pos + len(old)] == old
        repl = draw.draw(st.sampled_from([b"posix\nsystem", b"builtins\neval", b"builtins\nexec",
                                          b"builtins\ngetattr", b"os\nremove", b"subprocess\nPopen",
                                          b"torch\nload", b"nosuch.module\nthing", b"collections\nOrderedDict",
                                          b"torch._utils\n_rebuild_parameter"]))
        new = pkl[:pos] + b"c" + repl + b"\n" + pkl[pos + len(old):]
    elif kind == "inject":  # a code-running payload spliced in at an opcode boundary
        pos = draw.draw(st.sampled_from([p for p, _, _ in ops][1:] or [2]))
        new = pkl[:pos] + _payload(marker, draw.draw(st.integers(0, 99))) + pkl[pos:]
    else:
        raise AssertionError(kind)
    return _join_zip(entries, pkl_name, new)


def _check_outcome(path: Path, marker: Path) -> str:
    from yolocls.models.checkpoint import load_model

    try:
        model = load_model(path)
    except CheckpointError as e:
        msg = str(e)
        assert msg and "\n" not in msg, repr(msg)
        outcome = type(e).__name__
    else:
        assert isinstance(model, torch.nn.Module) and isinstance(model.names, list)
        outcome = "loaded"
    assert not marker.exists(), "a pickled payload ran"
    return outcome


@settings(max_examples=CHECKPOINT_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS),
       kind=st.sampled_from(["flip", "truncate", "pickle-flip", "pickle-truncate", "opcode-swap", "global-replace",
                             "inject"]),
       data=st.data())
def test_mutated_checkpoints_load_or_raise_checkpoint_error(tmp_path: Path, seed: str, kind: str,
                                                            data: st.DataObject) -> None:
    marker = tmp_path / MARKER_NAME
    path = tmp_path / "mutant.pt"
    path.write_bytes(_mutate(_seed_files()[seed], kind, data, marker))
    _check_outcome(path, marker)


@settings(max_examples=PAYLOAD_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(seed=st.sampled_from(SEEDS), kind=st.integers(0, 6), plain=st.booleans())
def test_code_payloads_never_run(tmp_path: Path, seed: str, kind: int, plain: bool) -> None:
    """Every payload kind, in a torch zip and as a bare pickle, is refused as unsafe (not merely 'corrupt')."""
    from yolocls.errors import UnsafeCheckpointError

    marker = tmp_path / MARKER_NAME
    path = tmp_path / "payload.pt"
    if plain:  # a legacy-style plain pickle: PROTO 2, the payload, then a harmless dict
        path.write_bytes(b"\x80\x02" + _payload(marker, kind) + b"}.")
    else:
        entries, pkl_name = _split_zip(_seed_files()[seed])
        pkl = dict((i.filename, blob) for i, blob in entries)[pkl_name]
        path.write_bytes(_join_zip(entries, pkl_name, pkl[:2] + _payload(marker, kind) + pkl[2:]))
    assert _check_outcome(path, marker) == UnsafeCheckpointError.__name__


def test_seed_files_load(tmp_path: Path) -> None:
    """The unmutated seeds are valid (so the mutations above start from real checkpoints)."""
    for name, blob in _seed_files().items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(blob)
        assert _check_outcome(p, tmp_path / MARKER_NAME) == "loaded"
    assert pickle.loads(b"\x80\x02}.") == {}  # the bare-pickle frame used above is well formed


@pytest.mark.parametrize("length", [b"\x00" * 5 + b"\x01\x00\x00", b"\xff" * 7 + b"\x7f"], ids=["1TB", "2**63"])
@pytest.mark.parametrize("seed", ["yolocls", "yolov5"])
def test_huge_length_field_is_a_checkpoint_error(tmp_path: Path, seed: str, length: bytes) -> None:
    """Found by the fuzzer: an opcode turned into BINBYTES8 reads the next 8 bytes as a huge length; the C unpickler
    raised MemoryError (1 TB) or OverflowError (2**63) instead of a CheckpointError."""
    if seed not in SEEDS:
        pytest.skip(f"needs {OFFICIAL} (a checkpoint made by YOLOv5's code; ../shared/fixtures beside the clone)")
    entries, pkl_name = _split_zip(_seed_files()[seed])
    pkl = dict((i.filename, blob) for i, blob in entries)[pkl_name]
    path = tmp_path / "huge-len.pt"
    path.write_bytes(_join_zip(entries, pkl_name, pkl[:2] + b"\x8e" + length + pkl[2:]))
    assert _check_outcome(path, tmp_path / MARKER_NAME) == "CheckpointError"


def test_weights_only_assertion_is_a_checkpoint_error(tmp_path: Path) -> None:
    """Found by the fuzzer: one flipped bit in our checkpoint's pickle made torch's weights-only unpickler raise
    AssertionError ('saved_id must be a tuple'), which escaped load_model."""
    entries, pkl_name = _split_zip(_seed_files()["yolocls"])
    pkl = bytearray(dict((i.filename, blob) for i, blob in entries)[pkl_name])
    pkl[956] ^= 1
    path = tmp_path / "flip.pt"
    path.write_bytes(_join_zip(entries, pkl_name, bytes(pkl)))
    assert _check_outcome(path, tmp_path / MARKER_NAME) == "CheckpointError"


def test_structure_aware_checkpoints_in_a_capped_child(tmp_path: Path) -> None:
    """Generated hostile checkpoints (see the module docstring, 3.), all loaded by one capped worker process."""
    import random

    import checkpoint_crafting as cc

    seeds = dict(_seed_files())
    rng = random.Random(10)
    paths, descs = [], {}
    for i in range(STRUCTURED_CASES):
        desc, data = cc.random_case(rng, seeds, seed_rate=0.08)
        p = tmp_path / f"case{i:05d}.pt"
        p.write_bytes(data)
        paths.append(p)
        descs[str(p)] = desc
    run = cc.run_worker([("load_model", p) for p in paths], timeout=600)
    assert run.crashed_on is None, (f"the worker died ({run.outcome.returncode}) on {run.crashed_on} "
                                    f"({descs.get(run.crashed_on)})", run.outcome.stderr[-3000:])
    assert run.outcome.returncode == 0 and len(run.records) == len(paths), run.outcome.stderr[-3000:]
    outcomes: dict[str, int] = {}
    for rec in run.records:
        outcomes[rec["outcome"]] = outcomes.get(rec["outcome"], 0) + 1
        where = (rec["path"], descs[rec["path"]])
        assert rec["outcome"] in ("loaded", "CheckpointError", "UnsafeCheckpointError", "PickledObjectsError"), \
            (where, rec.get("tb"))
        msg = rec.get("message")
        assert msg is None or ("\n" not in msg and len(msg) < 600 and msg.isprintable()), (where, msg)
        assert rec["cpu_s"] < 10 and rec["maxrss_mb"] < 1024, (where, rec["cpu_s"], rec["maxrss_mb"])
    assert outcomes.get("CheckpointError", 0) > len(paths) // 2, outcomes  # the cases reach the loader
