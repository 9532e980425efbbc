"""`yolocls.runtime.load` and the Python backends (ONNX Runtime, PyTorch): same answers, clear errors.

The main model is the official-format YOLOv5n-cls fixture (random weights with BatchNorm statistics
calibrated on real images, so its logits depend on the image), exported once per module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import yolocls
from yolocls.errors import BackendUnavailableError, InputError, MetadataError
from yolocls.export.onnx import export_onnx
from yolocls.metadata import ModelMetadata
from yolocls.runtime import BACKENDS, Backend, available_backends, load
from yolocls.runtime.onnxruntime_backend import OnnxRuntimeBackend
from yolocls.runtime.torch_backend import TorchBackend
from yolocls.spec.preprocess import PreprocessConfig, preprocess_with
from yolocls.utils.torch_utils import calibrate_batchnorm

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def official_pt(fixtures_dir: Path) -> Path:
    return fixtures_dir / "yolov5n-cls-official-format.pt"


@pytest.fixture(scope="module")
def official_onnx(official_pt: Path, fixture_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rt") / "yolov5n-cls.onnx"
    export_onnx(yolocls.load_model(str(official_pt)), path, images=fixture_images)
    return path


@pytest.fixture(scope="module")
def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    m = yolocls.create_model("tiny-cls", num_classes=4)
    x = preprocess_with([np.full((40, 40, 3), v, np.uint8) for v in (10, 90, 170, 250)], PreprocessConfig(imgsz=64))
    return calibrate_batchnorm(m, x)  # so outputs vary with the input


def test_available_backends() -> None:
    names = available_backends()
    assert {"torch", "onnxruntime"} <= set(names) and set(names) <= set(BACKENDS)
    assert list(names) == [b for b in BACKENDS if b in names]  # table order


def test_load_picks_backend_by_file_type(official_pt: Path, official_onnx: Path) -> None:
    with load(official_pt) as pt:
        assert isinstance(pt, TorchBackend) and pt.name == "torch"
        assert pt.names == [f"class_{i}" for i in range(10)]
    auto = load(official_onnx)
    expected = "openvino" if "openvino" in available_backends() else "onnxruntime"
    assert auto.name == expected and isinstance(auto, Backend)
    ort_b = load(official_onnx, backend="onnxruntime", threads=1)
    assert isinstance(ort_b, OnnxRuntimeBackend) and ort_b.metadata.model == "yolov5n-cls"
    assert ort_b.metadata.names == auto.metadata.names == pt.names


def test_ort_predict_matches_torch_predict(official_pt: Path, official_onnx: Path,
                                           fixture_images: list[Path]) -> None:
    ort_b = load(official_onnx, backend="onnxruntime")
    pt_b = load(official_pt, backend="torch")
    got, ref = ort_b.predict(fixture_images, topk=5), pt_b.predict(fixture_images, topk=5)
    assert len(got) == len(ref) == len(fixture_images)
    for g, r in zip(got, ref, strict=True):
        assert [p.class_id for p in g] == [p.class_id for p in r]
        assert [p.name for p in g] == [p.name for p in r]
        np.testing.assert_allclose([p.prob for p in g], [p.prob for p in r], atol=1e-5)
    assert len({p[0].class_id for p in ref}) > 1  # images get different answers: a real comparison
    assert set(ort_b.timings) == {"preprocess", "inference", "postprocess"}


def test_onnx_reproduces_yolov5_reference_logits(fixtures_dir: Path, official_onnx: Path) -> None:
    ref = torch.load(fixtures_dir / "yolov5n-cls-reference-io.pt", weights_only=True)
    got = load(official_onnx, backend="onnxruntime").infer(ref["input"].numpy())
    want = ref["logits"].numpy()
    assert np.abs(got - want).max() / (want.max() - want.min()) < 1e-4
    assert (got.argmax(1) == want.argmax(1)).all()


def test_torch_backend_from_foreign_module() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    b = TorchBackend(model, metadata=None)
    assert b.metadata.preprocess.imgsz == 224 and b.names == []
    preds = b.predict(np.zeros((50, 70, 3), np.uint8), topk=2)
    assert len(preds) == 1 and len(preds[0]) == 2 and b.names == ["0", "1", "2"]
    assert abs(sum(p.prob for p in b.predict(np.ones((30, 30, 3), np.uint8), topk=3)[0]) - 1) < 1e-5
    with pytest.raises(InputError, match="half precision needs a CUDA device"):
        TorchBackend(model, half=True)
    with pytest.raises(InputError, match=r"expected a \[N, 3, H, W\] batch"):
        b.infer(np.zeros((3, 32, 32), np.float32))


@pytest.mark.slow
def test_fixed_batch_file_runs_any_batch(tiny_model: nn.Module, tmp_path: Path) -> None:
    dyn = export_onnx(tiny_model, tmp_path / "dyn.onnx", imgsz=64).path
    fixed = export_onnx(tiny_model, tmp_path / "fixed.onnx", imgsz=64, dynamic=False, batch_size=2).path
    x = np.random.default_rng(0).normal(size=(5, 3, 64, 64)).astype(np.float32)
    a = OnnxRuntimeBackend(dyn).infer(x)
    b = OnnxRuntimeBackend(fixed).infer(x)  # chunks of 2, last one padded
    assert a.shape == b.shape == (5, 4)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(InputError, match=r"expected a \[N, 3, 64, 64\] batch"):
        OnnxRuntimeBackend(dyn).infer(np.zeros((1, 3, 32, 32), np.float32))


def test_metadata_fallbacks(tiny_model: nn.Module, tmp_path: Path) -> None:
    src = export_onnx(tiny_model, tmp_path / "m.onnx", imgsz=64, names=["a", "b", "c", "d"], verify=False).path
    proto = onnx.load(str(src))
    yolov5_style = tmp_path / "yolov5.onnx"  # only YOLOv5's keys, as YOLOv5's export.py writes them
    keep = [(p.key, p.value) for p in proto.metadata_props if p.key in ("names", "stride")]
    del proto.metadata_props[:]
    for k, v in keep:
        proto.metadata_props.add(key=k, value=v)
    onnx.save(proto, str(yolov5_style))
    b = load(yolov5_style, backend="onnxruntime")
    assert b.names == ["a", "b", "c", "d"] and b.metadata.imgsz == 64 and b.metadata.dynamic
    assert b.metadata.preprocess == PreprocessConfig(imgsz=64)
    assert load(yolov5_style).names == ["a", "b", "c", "d"]  # the default backend (OpenVINO when built) too

    bare = tmp_path / "bare.onnx"
    del proto.metadata_props[:]
    onnx.save(proto, str(bare))
    with pytest.raises(MetadataError, match=r"bare.onnx has no yolocls metadata.*--names, --imgsz"):
        load(bare, backend="onnxruntime")
    meta = ModelMetadata(names=list("wxyz"), preprocess=PreprocessConfig(imgsz=64))
    b = load(bare, backend="onnxruntime", metadata=meta)
    assert b.predict(np.zeros((64, 64, 3), np.uint8), topk=1)[0][0].name in list("wxyz")
    # metadata that contradicts the graph is refused instead of giving silent garbage
    with pytest.raises(MetadataError, match="imgsz 224 but the model input is"):
        load(bare, backend="onnxruntime", metadata=ModelMetadata(names=list("wxyz"), preprocess=PreprocessConfig()))
    with pytest.raises(MetadataError, match="3 class names but the model outputs 4"):
        load(bare, backend="onnxruntime", metadata=ModelMetadata(names=list("abc"), preprocess=meta.preprocess))


def test_openvino_backend_matches_torch(official_pt: Path, official_onnx: Path, fixture_images: list[Path]) -> None:
    if "openvino" not in available_backends():
        pytest.skip("the extension is not built with OpenVINO here")
    ov = load(official_onnx, backend="openvino", threads=1)
    got, ref = ov.predict(fixture_images, topk=5), load(official_pt).predict(fixture_images, topk=5)
    assert ov.name == "openvino" and ov.metadata.names == load(official_pt).names
    for g, r in zip(got, ref, strict=True):
        assert [p.class_id for p in g] == [p.class_id for p in r]
        np.testing.assert_allclose([p.prob for p in g], [p.prob for p in r], atol=1e-4)


@pytest.mark.parametrize(("name", "backend", "error", "match"), [
    ("model.tflite", None, InputError, r"cannot tell the model type of 'model.tflite'"),
    ("model.onnx", "tvm", InputError, r"unknown backend 'tvm'; choose from torch, onnxruntime"),
    ("model.onnx", "torch", InputError, r"backend 'torch' cannot run .onnx files"),
    ("model.pt", "onnxruntime", InputError, r"backend 'onnxruntime' cannot run .pt files"),
    ("missing.onnx", None, FileNotFoundError, r"missing.onnx"),
])
def test_load_bad_input(tmp_path: Path, name: str, backend: str | None, error: type, match: str) -> None:
    if name != "missing.onnx":
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(error, match=match):
        load(tmp_path / name, backend=backend)


def test_load_corrupt_and_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 20)
    with pytest.raises(MetadataError, match="bad.onnx is not a (readable|loadable) ONNX model"):
        load(bad, backend="onnxruntime")
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(IsADirectoryError):
        load(tmp_path / "dir.onnx")


def test_unavailable_backends_say_how_to_get_them(official_onnx: Path, tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"plan")
    if "tensorrt" not in available_backends():
        with pytest.raises(BackendUnavailableError, match="backend 'tensorrt' is not available here; to get it"):
            load(engine)
    if "openvino" not in available_backends():
        with pytest.raises(BackendUnavailableError, match="backend 'openvino'.*build the extension with OpenVINO"):
            load(official_onnx, backend="openvino")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(BackendUnavailableError, match="onnxruntime-gpu"):
            load(official_onnx, backend="onnxruntime", device="0")
        with pytest.raises(BackendUnavailableError, match="CUDAExecutionProvider not available"):
            OnnxRuntimeBackend(official_onnx, providers=["CUDAExecutionProvider"])
    with pytest.raises(InputError, match="threads must be a positive integer"):
        OnnxRuntimeBackend(official_onnx, threads=0)
