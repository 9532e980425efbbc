"""The C++ Runtime with the OpenVINO backend (yolocls._C.Runtime / OpenVINOBackend) against ONNX Runtime."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from yolocls import _native
from yolocls.errors import InputError, MetadataError
from yolocls.metadata import ModelMetadata
from yolocls.spec.preprocess import PreprocessConfig, preprocess_with
from yolocls.utils.torch_utils import calibrate_batchnorm

pytestmark = pytest.mark.skipif(
    not (_native.available() and _native.build_info().get("openvino")), reason="yolocls._C not built with OpenVINO"
)

IMGSZ = 96


def _load_bgr(path: Path) -> np.ndarray:
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB"))
    return np.ascontiguousarray(rgb[:, :, ::-1])


@pytest.fixture(scope="module")
def frames(fixture_images: list[Path]) -> list[np.ndarray]:
    return [_load_bgr(p) for p in fixture_images]


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory, frames: list[np.ndarray]) -> tuple[Path, ModelMetadata]:
    """yolov5n-cls (10 classes) with BatchNorm statistics calibrated on real images, exported with metadata.

    Random-init YOLOv5-cls nets output almost exactly the head bias (DESIGN.md), which would make any two runtimes
    agree; calibrated BN statistics make the logits depend on the image.
    """
    import torch

    from yolocls.models.registry import create_model

    torch.manual_seed(0)
    torch.set_num_threads(1)
    names = [f"class{i}" for i in range(10)]
    model = create_model("yolov5n-cls", names=names)
    cfg = PreprocessConfig(imgsz=IMGSZ)
    rng = np.random.default_rng(0)
    crops = []
    for f in frames:  # real images and random crops of them
        crops.append(f)
        for _ in range(3):
            h, w = f.shape[:2]
            top, left = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
            crops.append(f[top : top + h // 2, left : left + w // 2])
    calibrate_batchnorm(model, preprocess_with(crops, cfg), passes=2)
    model.preprocess = cfg
    from yolocls.export.onnx import export_onnx

    path = tmp_path_factory.mktemp("ov") / "yolov5n-cls.onnx"
    result = export_onnx(model, path, imgsz=IMGSZ, simplify=False, verify=False)
    return path, result.metadata


@pytest.fixture(scope="module")
def ort_session(onnx_model):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(onnx_model[0]), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def backend(onnx_model):
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    path, meta = onnx_model
    b = OpenVINOBackend(path, meta, threads=1)
    yield b
    b.close()


@pytest.mark.slow
def test_openvino_matches_onnxruntime(backend, ort_session, frames) -> None:
    batch = preprocess_with(frames, backend.metadata.preprocess)
    want = ort_session.run(None, {"images": batch})[0]
    # The comparison only proves something if the logits depend on the image.
    assert np.ptp(want, axis=0).max() > 0.05, "calibration failed: logits do not depend on the image"
    got = backend.infer(batch)
    assert got.shape == want.shape == (len(frames), 10) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
    top5 = np.argsort(-want, axis=1, kind="stable")[:, :5]
    assert (np.argsort(-got, axis=1, kind="stable")[:, :5] == top5).all()
    # preprocessing + inference in one C++ call gives the same logits (C++ preprocessing matches to 1e-5)
    np.testing.assert_allclose(backend.logits(frames), want, rtol=1e-3, atol=1e-3)
    # batch 1 and batch N agree
    np.testing.assert_allclose(backend.infer(batch[:1]), want[:1], rtol=1e-3, atol=1e-3)


def test_predict_top5_and_timings(backend, ort_session, frames) -> None:
    from yolocls.runtime.base import softmax, topk

    preds = backend.predict(frames, topk=5)
    want = softmax(ort_session.run(None, {"images": preprocess_with(frames, backend.metadata.preprocess)})[0])
    idx, val = topk(want, 5)
    assert len(preds) == len(frames)
    for row, i, v in zip(preds, idx, val, strict=True):
        assert [p.class_id for p in row] == i.tolist()
        assert [p.name for p in row] == [f"class{j}" for j in i]
        np.testing.assert_allclose([p.prob for p in row], v, rtol=1e-3, atol=1e-4)
    assert set(backend.timings) == {"preprocess", "inference", "postprocess"}
    assert all(t >= 0 for t in backend.timings.values()) and backend.timings["inference"] > 0
    assert len(backend.predict(frames[0])) == 1  # one array -> one result list


@pytest.mark.slow
def test_device_options_are_ignored_by_openvino(onnx_model, frames) -> None:
    """cuda_graph / cuda_preprocess reach the C++ RuntimeOptions; a host backend preprocesses on the CPU regardless."""
    C = _native.load_extension()
    path, meta = onnx_model
    cfg = _native.native_config(meta.preprocess)
    plain = C.Runtime(str(path), cfg, C.RuntimeOptions(backend=C.Backend.OPENVINO, threads=1))
    tuned = C.Runtime(str(path), cfg, C.RuntimeOptions(backend=C.Backend.OPENVINO, threads=1, cuda_graph=True,
                                                       cuda_preprocess=True))
    np.testing.assert_array_equal(tuned.logits(frames[:2]), plain.logits(frames[:2]))


def test_rgb_input_flag(backend, frames) -> None:
    rgb = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames[:2]]
    np.testing.assert_allclose(backend.logits(rgb, bgr=False), backend.logits(frames[:2]), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_threads_share_one_runtime(backend, frames) -> None:
    expected = [backend.logits([f]) for f in frames]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            results[k] = [backend.logits([frames[(k + j) % len(frames)]]) for j in range(2 * len(frames))]
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for k, outs in results.items():
        for j, out in enumerate(outs):
            np.testing.assert_array_equal(out, expected[(k + j) % len(frames)])


@pytest.mark.slow
def test_runtime_reads_onnx_metadata_in_cpp(onnx_model, frames) -> None:
    C = _native.load_extension()
    rt = C.Runtime(str(onnx_model[0]))  # no preprocess dict: the C++ side reads metadata_props itself
    assert rt.names == onnx_model[1].names and rt.imgsz == IMGSZ and rt.num_classes == 10
    assert rt.backend == "openvino"
    res = rt.classify(frames, k=3)
    assert len(res) == len(frames) and all(len(r) == 3 for r in res)
    assert all(r[0][1] >= r[1][1] >= r[2][1] for r in res)
    assert set(rt.last_timings) == {"preprocess", "inference", "postprocess"}


@pytest.mark.slow
def test_static_batch_export_runs_any_batch(tmp_path: Path, backend, frames) -> None:
    """A file exported with a fixed batch of 1 is reshaped to a dynamic batch, so a batch of N runs in one call."""
    import onnx
    import onnx.helper

    from yolocls.runtime.openvino_backend import OpenVINOBackend

    proto = onnx.load(str(backend.path))
    for vi in (proto.graph.input[0], proto.graph.output[0]):
        vi.type.tensor_type.shape.dim[0].dim_value = 1  # pin the batch axis
    static = tmp_path / "static.onnx"
    onnx.save(proto, str(static))
    assert onnx.load(str(static)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    with OpenVINOBackend(static, backend.metadata) as b:
        np.testing.assert_allclose(b.logits(frames), backend.logits(frames), rtol=1e-5, atol=1e-5)


def test_bad_inputs(backend) -> None:
    with pytest.raises(InputError):
        backend.infer(np.zeros((1, 3, IMGSZ + 1, IMGSZ), np.float32))
    with pytest.raises(InputError):
        backend.infer(np.zeros((0, 3, IMGSZ, IMGSZ), np.float32))
    with pytest.raises(ValueError):
        backend.predict(np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError):
        backend.runtime.infer(np.zeros((1, 3, IMGSZ, IMGSZ), np.float64))
    with pytest.raises(ValueError):
        backend.runtime.classify([])


def test_bad_files(tmp_path: Path, onnx_model) -> None:
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    C = _native.load_extension()
    with pytest.raises(FileNotFoundError):
        OpenVINOBackend(tmp_path / "missing.onnx", onnx_model[1])
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(MetadataError):
        OpenVINOBackend(junk, onnx_model[1])
    with pytest.raises(RuntimeError):
        C.Runtime(str(junk), C.PreprocessConfig(imgsz=IMGSZ))
    with pytest.raises(ValueError, match="backend"):
        C.Runtime(str(tmp_path / "model.bin"), C.PreprocessConfig(imgsz=IMGSZ))
    with pytest.raises(RuntimeError, match="without TensorRT|TensorRT"):
        C.Runtime(str(tmp_path / "model.engine"), C.PreprocessConfig(imgsz=IMGSZ))
    with pytest.raises(RuntimeError, match="imgsz"):  # metadata that contradicts the graph
        C.Runtime(str(onnx_model[0]), C.PreprocessConfig(imgsz=128, crop=C.Crop.CENTER), C.RuntimeOptions(max_batch=1))


@pytest.mark.slow
def test_openvino_backend_after_close_is_input_error(tmp_path: Path) -> None:
    """A closed backend says so (InputError), not AttributeError on None."""
    pytest.importorskip("yolocls._C")
    import torch

    from yolocls.export.onnx import export_onnx
    from yolocls.models import create_model
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    torch.manual_seed(0)
    m = create_model("tiny-cls", num_classes=3).eval()
    path = export_onnx(m, tmp_path / "t.onnx", imgsz=32, verify=False).path
    be = OpenVINOBackend(path)
    be.close()
    with pytest.raises(InputError, match="closed"):
        be.predict(np.zeros((40, 40, 3), np.uint8))


def _signal_stack() -> tuple[int, int, bool]:
    """(ss_sp, ss_size, disabled) of the calling thread's alternate signal stack (Linux)."""
    import ctypes

    class StackT(ctypes.Structure):
        _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]

    st = StackT()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(st)) == 0
    return int(st.ss_sp or 0), int(st.ss_size), bool(st.ss_flags & 2)  # SS_DISABLE


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="Linux only (reads /proc/self/maps)")
@pytest.mark.slow
def test_openvino_leaves_no_dangling_signal_stack(tmp_path: Path) -> None:
    """OpenVINO's CPU plugin swaps the thread's sigaltstack and unmaps its own: the runtime must put ours back.

    A dangling alternate stack crashed the whole test suite with SIGSEGV when torch's DataLoader SIGCHLD handler
    (installed with SA_ONSTACK by Python) ran after a model was compiled on one thread and freed on another.
    """
    pytest.importorskip("yolocls._C")
    import torch

    from yolocls.export.onnx import export_onnx
    from yolocls.models import create_model
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    torch.manual_seed(0)
    path = export_onnx(create_model("tiny-cls", num_classes=3).eval(), tmp_path / "t.onnx", imgsz=32,
                       verify=False).path
    before = _signal_stack()
    a = OpenVINOBackend(path)
    b = OpenVINOBackend(path)
    assert _signal_stack() == before  # compiling left the caller's alternate stack alone
    a.close()
    del a
    t = threading.Thread(target=b.close)  # freed on another thread than the one that compiled it
    t.start()
    t.join()
    import gc

    gc.collect()
    sp, size, disabled = _signal_stack()
    assert (sp, size, disabled) == before
    if not disabled:  # whatever stack we have must still be mapped
        maps = Path("/proc/self/maps").read_text().splitlines()
        assert any(int(r.split()[0].split("-")[0], 16) <= sp < int(r.split()[0].split("-")[1], 16) for r in maps)


def _cpu_has_bf16() -> bool:
    try:
        import openvino as ov
    except ImportError:
        return False
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.mark.slow
def test_precision_values(tmp_path: Path, onnx_model, frames) -> None:
    """Each precision compiles on the CPU; anything else is a one-line error naming the choices, on every layer."""
    from yolocls import runtime
    from yolocls.runtime.openvino_backend import PRECISIONS, OpenVINOBackend

    C = _native.load_extension()
    path, meta = onnx_model
    for p in PRECISIONS:
        options = C.RuntimeOptions(backend=C.Backend.OPENVINO, threads=1, precision=C.Precision(p))
        rt = C.Runtime(str(path), _native.native_config(meta.preprocess), options)
        assert rt.logits(frames[:1]).shape == (1, 10)
        assert str(options.precision) == p
    with pytest.raises(ValueError, match="unknown precision 'fp32' \\(expected f32, bf16, f16 or default\\)"):
        C.Precision("fp32")  # parsed by the C++ library, before any backend: TensorRT builds agree
    with pytest.raises(ValueError, match="unknown backend 'onnx'"):
        C.Backend("onnx")
    with pytest.raises(InputError, match="f32, bf16, f16, default"):
        OpenVINOBackend(path, meta, precision="half")
    with runtime.load(path, precision="bf16", threads=1) as b:  # an .onnx with a precision goes to OpenVINO
        assert b.name == "openvino" and b.precision == "bf16"
    with pytest.raises(InputError, match="OpenVINO option"):
        runtime.load(path, backend="onnxruntime", precision="bf16")
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"")
    with pytest.raises(InputError, match="OpenVINO option"):
        runtime.load(pt, precision="f32")


@pytest.mark.skipif(not _cpu_has_bf16(), reason="this CPU has no bf16 support (OpenVINO OPTIMIZATION_CAPABILITIES "
                                                  "lacks BF16), so bf16 would silently run in f32")
def test_bf16_logits_close_to_f32(onnx_model, frames) -> None:
    """bf16 really runs (logits move) but stays close to f32: same top-1, |diff| within 5% of the logit range."""
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    path, meta = onnx_model
    with OpenVINOBackend(path, meta, threads=1) as f32, OpenVINOBackend(path, meta, threads=1, precision="bf16") as bf:
        want = f32.logits(frames)
        got = bf.logits(frames)
    span = float(np.ptp(want))
    assert span > 0.05, "calibration failed: logits do not depend on the image"
    assert not np.array_equal(got, want), "bf16 gave bit-identical logits: the precision hint did not take effect"
    assert float(np.abs(got - want).max()) <= 5e-2 * span
    assert (got.argmax(1) == want.argmax(1)).all()


@pytest.mark.slow
def test_cli_precision(onnx_model, fixture_images: list[Path]) -> None:
    """`yolocls infer --precision` runs OpenVINO in bf16/f32; other backends or values are a one-line exit 2."""
    from typer.testing import CliRunner

    from yolocls.cli.app import app

    runner = CliRunner()
    path = str(onnx_model[0])
    src = str(fixture_images[0])
    res = runner.invoke(app, ["infer", "--model", path, "--source", src, "--precision", "bf16", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert "class" in res.output
    for bad in (["--precision", "fp8"], ["--precision", "bf16", "--backend", "onnxruntime"]):
        res = runner.invoke(app, ["infer", "--model", path, "--source", src, *bad])
        assert res.exit_code == 2 and "precision" in res.output, res.output


def test_streams_run_requests_side_by_side(onnx_model, frames) -> None:
    """streams=n (OpenVINO NUM_STREAMS, what the streaming API sets per worker) gives the same logits from threads
    sharing one backend; a bad count is one line, from Python and from the C++ options."""
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    path, meta = onnx_model
    with OpenVINOBackend(path, meta, threads=2) as one, OpenVINOBackend(path, meta, threads=2, streams=2) as two:
        want = one.logits(frames)
        outs: dict[int, np.ndarray] = {}
        ts = [threading.Thread(target=lambda k=k: outs.__setitem__(k, two.logits([frames[k]])))
              for k in range(len(frames))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        got = np.concatenate([outs[k] for k in range(len(frames))])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    with pytest.raises(InputError, match="streams must be a positive integer"):
        OpenVINOBackend(path, meta, streams=0)
    C = _native.load_extension()
    with pytest.raises(C.InvalidArgument, match="streams must be >= 0"):
        C.Runtime(str(path), _native.native_config(meta.preprocess),
                  C.RuntimeOptions(backend=C.Backend.OPENVINO, streams=-1))
