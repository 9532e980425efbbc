"""ONNX export (metadata, onnxsim, fp16, verification), the format table, Triton repositories and `yolocls export`.

Random-init YOLOv5-cls models output almost exactly their head bias, so every model compared here first gets
BatchNorm statistics calibrated on the fixture photographs (train-mode passes, cumulative average).
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from yolocls.data.io import imread
from yolocls.errors import ExportError, InputError, MetadataError, VerificationError
from yolocls.export.formats import FORMATS, get_format, parse_include
from yolocls.export.onnx import MAX_OPSET, MIN_OPSET, export_onnx, read_metadata
from yolocls.export.triton import export_triton
from yolocls.export.verify import compare_logits, synthetic_images, verify_onnx
from yolocls.metadata import METADATA_KEY
from yolocls.models import create_model
from yolocls.spec.metadata import BatchProfile, EngineFacts, ModelMetadata, file_sha256
from yolocls.spec.preprocess import PreprocessConfig, preprocess_with
from yolocls.utils.torch_utils import calibrate_batchnorm

torch.set_num_threads(1)
NAMES10 = [f"class{i}" for i in range(10)]


calibrate_bn = calibrate_batchnorm


@pytest.fixture(scope="module")
def frames(fixture_images: list[Path]) -> list[np.ndarray]:
    return [imread(p) for p in fixture_images]


def _calibrated(name: str, frames: list[np.ndarray], imgsz: int) -> nn.Module:
    torch.manual_seed(0)
    m = create_model(name, names=NAMES10)
    return calibrate_bn(m, preprocess_with(frames, m.preprocess.replace(imgsz=imgsz)))


@pytest.fixture(scope="module")
def tiny(frames: list[np.ndarray]) -> nn.Module:
    return _calibrated("tiny-cls", frames, 96)


@pytest.fixture(scope="module")
def tiny_onnx(tiny: nn.Module, fixture_images: list[Path], tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("tiny") / "tiny.onnx"
    return export_onnx(tiny, path, imgsz=96, images=fixture_images)


def _ort_logits(path: Path | str, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"images": x})[0]


def _torch_logits(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(x)).numpy()


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / (b.max() - b.min()))


# --- format table ---------------------------------------------------------------------------------------------------

def test_format_table_lists_every_format() -> None:
    assert list(FORMATS) == ["onnx", "triton", "engine"]
    assert get_format("ONNX").name == "onnx" and not get_format("onnx").needs_gpu
    assert get_format("engine").needs_gpu and "half" in get_format("engine").options
    assert [f.name for f in parse_include("triton, onnx,onnx")] == ["onnx", "triton"]
    with pytest.raises(InputError, match="unknown export format 'tflite'"):
        parse_include("onnx,tflite")
    with pytest.raises(InputError, match="no export format"):
        parse_include(" , ")


# --- ONNX export ----------------------------------------------------------------------------------------------------

def test_tiny_export_is_valid_and_carries_metadata(tiny_onnx, tiny: nn.Module) -> None:
    res = tiny_onnx
    proto = onnx.load(str(res.path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17 and res.opset == 17
    assert [i.name for i in proto.graph.input] == ["images"] and [o.name for o in proto.graph.output] == ["output0"]
    for vi in (proto.graph.input[0], proto.graph.output[0]):  # dynamic batch on both ends
        dim0 = vi.type.tensor_type.shape.dim[0]
        assert dim0.dim_param and not dim0.HasField("dim_value")
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim[1:]] == [3, 96, 96]
    props = {p.key: p.value for p in proto.metadata_props}
    assert set(props) >= {METADATA_KEY, "names", "stride"}
    assert props["stride"] == "32" and eval(props["names"], {}) == dict(enumerate(NAMES10))  # YOLOv5's format
    meta = read_metadata(res.path)
    assert meta.names == NAMES10 and meta.imgsz == 96 and meta.model == "tiny-cls"
    assert meta.preprocess == tiny.preprocess.replace(imgsz=96)
    assert meta.dynamic and not meta.half and meta.input_name == "images" and meta.output_name == "output0"
    assert res.metadata.to_dict() == meta.to_dict()
    assert res.nodes_after <= res.nodes_before and res.size_bytes == res.path.stat().st_size > 0
    v = res.verification
    assert v.images == "given" and v.batch_sizes == [1, 3] and v.passed
    assert v.max_rel_diff <= 1e-4 and v.top1_agreement == 1.0


def test_ort_matches_torch_at_batch_1_and_3(tiny_onnx, tiny: nn.Module, frames: list[np.ndarray]) -> None:
    x = preprocess_with(frames[:3], tiny.preprocess.replace(imgsz=96))
    ref = _torch_logits(tiny, x)
    assert ref.max() - ref.min() > 0.05 and np.ptp(ref, axis=0).max() > 1e-3  # outputs depend on the image
    for batch in (x[:1], x):
        got = _ort_logits(tiny_onnx.path, batch)
        assert got.shape == (len(batch), 10)
        assert _rel(got, ref[: len(batch)]) < 1e-4


def test_export_does_not_modify_the_model(tiny: nn.Module, tmp_path: Path) -> None:
    before = {k: v.clone() for k, v in tiny.state_dict().items()}
    tiny.train()
    export_onnx(tiny, tmp_path / "m.onnx", imgsz=64, verify=False)
    assert tiny.training  # still in train mode, not fused
    after = tiny.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    tiny.eval()


@pytest.mark.slow
def test_static_batch_and_no_simplify(tiny: nn.Module, tmp_path: Path) -> None:
    res = export_onnx(tiny, tmp_path / "static.onnx", imgsz=64, dynamic=False, batch_size=2, simplify=False)
    proto = onnx.load(str(res.path))
    assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [2, 3, 64, 64]
    assert res.nodes_before == res.nodes_after == len(proto.graph.node) and not res.simplified
    assert res.verification.batch_sizes == [2]
    meta = read_metadata(res.path)
    assert not meta.dynamic and meta.batch == 2


@pytest.mark.slow
def test_simplify_never_grows_the_graph_and_falls_back_on_failure(tiny: nn.Module, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    plain = export_onnx(tiny, tmp_path / "plain.onnx", imgsz=64, simplify=False, verify=False)
    simp = export_onnx(tiny, tmp_path / "simp.onnx", imgsz=64, simplify=True, verify=False)
    assert simp.simplified and simp.nodes_before == plain.nodes_after
    assert simp.nodes_after <= simp.nodes_before == len(onnx.load(str(plain.path)).graph.node)
    assert simp.nodes_after == len(onnx.load(str(simp.path)).graph.node)

    import onnxsim

    def broken(*a, **k):
        raise RuntimeError("simulated onnxsim crash")

    monkeypatch.setattr(onnxsim, "simplify", broken)
    with pytest.warns(UserWarning, match="onnxsim failed .*simulated onnxsim crash"):
        res = export_onnx(tiny, tmp_path / "fallback.onnx", imgsz=64, simplify=True)
    assert not res.simplified and res.nodes_after == res.nodes_before and res.verification.passed
    onnx.checker.check_model(onnx.load(str(res.path)))


@pytest.mark.slow
def test_half_export_runs_in_ort_with_same_top1(tiny: nn.Module, fixture_images: list[Path],
                                                frames: list[np.ndarray], tmp_path: Path) -> None:
    res = export_onnx(tiny, tmp_path / "half.onnx", imgsz=96, half=True, images=fixture_images)
    proto = onnx.load(str(res.path))
    onnx.checker.check_model(proto)
    f32, f16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    assert proto.graph.input[0].type.tensor_type.elem_type == f32  # fp32 I/O (keep_io_types)
    assert proto.graph.output[0].type.tensor_type.elem_type == f32
    weights = [i for i in proto.graph.initializer if len(i.dims) >= 2]
    assert weights and all(i.data_type == f16 for i in weights)
    assert read_metadata(res.path).half
    x = preprocess_with(frames, tiny.preprocess.replace(imgsz=96))
    ref, got = _torch_logits(tiny, x), _ort_logits(res.path, x)
    assert (ref.argmax(1) == got.argmax(1)).all()
    assert 0 < _rel(got, ref) < 5e-2  # really fp16 arithmetic, still close
    assert res.verification.top1_agreement == 1.0 and res.verification.half


@pytest.mark.parametrize("opset", [MIN_OPSET, MAX_OPSET])
@pytest.mark.slow
def test_opset_range_edges_export(tiny: nn.Module, tmp_path: Path, opset: int) -> None:
    res = export_onnx(tiny, tmp_path / f"o{opset}.onnx", imgsz=64, opset=opset)
    assert onnx.load(str(res.path)).opset_import[0].version == opset and res.verification.passed


@pytest.mark.parametrize("opset", [MIN_OPSET - 1, MAX_OPSET + 1, "17", 17.0, True])
def test_opset_out_of_range_is_input_error(tiny: nn.Module, tmp_path: Path, opset: object) -> None:
    with pytest.raises(InputError, match=f"opset must be an integer from {MIN_OPSET} to {MAX_OPSET}"):
        export_onnx(tiny, tmp_path / "x.onnx", opset=opset)  # type: ignore[arg-type]
    assert not (tmp_path / "x.onnx").exists()


def test_bad_options(tiny: nn.Module, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="must end in .onnx"):
        export_onnx(tiny, tmp_path / "x.pt")
    with pytest.raises(InputError, match="batch_size"):
        export_onnx(tiny, tmp_path / "x.onnx", batch_size=0)
    with pytest.raises(InputError, match="3 class names given but the model outputs 10"):
        export_onnx(tiny, tmp_path / "x.onnx", imgsz=64, names=["a", "b", "c"])
    assert not list(tmp_path.iterdir())


class _TinyResNet(nn.Module):
    """A torchvision-style module: no names/preprocess attributes, ``fc`` head, residual block."""

    def __init__(self, num_classes: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(x + self.block(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def test_foreign_module_exports_with_defaults_and_arguments(frames: list[np.ndarray], tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = calibrate_bn(_TinyResNet(), preprocess_with(frames, PreprocessConfig(imgsz=64)))
    res = export_onnx(model, tmp_path / "foreign.onnx", imgsz=64)
    meta = read_metadata(res.path)
    assert meta.names == [str(i) for i in range(7)] and meta.model == "_TinyResNet"
    assert meta.preprocess == PreprocessConfig(imgsz=64) and res.verification.images == "synthetic"
    assert res.verification.max_rel_diff < 1e-4

    pp = {"imgsz": 48, "crop": "stretch", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}
    res = export_onnx(model, tmp_path / "foreign2.onnx", names=list("abcdefg"), preprocess=pp, model_name="mine")
    meta = read_metadata(res.path)
    assert meta.names == list("abcdefg") and meta.model == "mine" and meta.imgsz == 48
    assert meta.preprocess.crop == "stretch" and meta.preprocess.mean == (0.5, 0.5, 0.5)


class _FeatureMap(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2  # [N,3,H,W]: not logits


class _TupleOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.fc(x.mean((2, 3)))
        return y, y


class _OneChannel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).mean((2, 3))


@pytest.mark.parametrize(("module", "match"), [
    (_FeatureMap(), r"returned shape \[2, 3, 64, 64\].*\[N, num_classes\] logits"),
    (_TupleOut(), r"returned tuple, not a tensor"),
    (_OneChannel(), r"failed on a \[2,3,64,64\] input"),
])
def test_non_classifier_module_is_export_error(module: nn.Module, match: str, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=match):
        export_onnx(module, tmp_path / "x.onnx", imgsz=64)
    assert not (tmp_path / "x.onnx").exists()


def test_non_module_is_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="expected a torch.nn.Module"):
        export_onnx(lambda x: x, tmp_path / "x.onnx")  # type: ignore[arg-type]


class _Drifting(nn.Module):
    """Eager output depends on Python state the tracer freezes: the export cannot match PyTorch."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 5)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.fc(x.mean((2, 3))) + float(self.calls)


def test_verification_failure_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "drift.onnx"
    out.write_bytes(b"previous good export")
    with pytest.raises(VerificationError, match="does not match PyTorch at batch 1: relative diff"):
        export_onnx(_Drifting(), out, imgsz=32)
    assert out.read_bytes() == b"previous good export"  # the old file survives
    res = export_onnx(_Drifting(), out, imgsz=32, verify=False)  # the documented escape hatch
    assert res.verification is None and onnx.load(str(out)).graph.node


def test_verify_detects_wrong_model(tiny_onnx, frames: list[np.ndarray]) -> None:
    torch.manual_seed(1)
    other = calibrate_bn(create_model("tiny-cls", names=NAMES10),
                         preprocess_with(frames, PreprocessConfig(imgsz=96)))
    with pytest.raises(VerificationError):
        verify_onnx(tiny_onnx.path, other, tiny_onnx.metadata.preprocess, images=frames)


def test_compare_logits_rules() -> None:
    ref = np.array([[0.0, 1.0, 2.0], [5.0, 0.0, 4.9999]], np.float32)
    assert compare_logits(ref, ref + 1e-6, half=False)["ok"]
    assert not compare_logits(ref, ref + 1e-2, half=False)["ok"]
    flip = ref.copy()
    flip[0, 1] = 2.5  # a real top-1 change
    assert not compare_logits(ref, flip, half=True)["ok"]
    tie = ref.copy()
    tie[1, 2] = 5.0001  # classes 0 and 2 tie within 1e-3 of the range in fp32: not a real change
    assert compare_logits(ref, tie, half=True)["ok"]
    assert not compare_logits(ref, ref[:1], half=False)["ok"]


def test_synthetic_images_are_deterministic_and_varied() -> None:
    a, b = synthetic_images(3), synthetic_images(3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len({x.shape for x in a}) == 3 and all(x.dtype == np.uint8 and x.std() > 20 for x in a)


def test_read_metadata_errors(tiny_onnx, tmp_path: Path) -> None:
    proto = onnx.load(str(tiny_onnx.path))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    with pytest.raises(MetadataError, match=r"no yolocls metadata.*--names, --imgsz"):
        read_metadata(bare)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not a protobuf at all" * 10)
    with pytest.raises(MetadataError, match="not a readable ONNX model"):
        read_metadata(junk)
    with pytest.raises(FileNotFoundError):
        read_metadata(tmp_path / "missing.onnx")


@pytest.mark.slow
def test_yolov5n_export_matches_torch(frames: list[np.ndarray], fixture_images: list[Path], tmp_path: Path) -> None:
    model = _calibrated("yolov5n-cls", frames, 224)
    res = export_onnx(model, tmp_path / "yolov5n-cls.onnx", images=fixture_images)
    v = res.verification
    print(f"\nyolov5n-cls export {res.seconds:.2f}s, nodes {res.nodes_before}->{res.nodes_after}, "
          f"max abs diff {v.max_abs_diff:.2e}, rel {v.max_rel_diff:.2e}, range {v.logit_range:.3f}")
    assert v.passed and v.max_rel_diff < 1e-4 and v.top1_agreement == 1.0 and v.logit_range > 0.1
    meta = read_metadata(res.path)
    assert meta.model == "yolov5n-cls" and meta.imgsz == 224 and meta.names == NAMES10
    x = preprocess_with(frames[:3], model.preprocess)
    assert _rel(_ort_logits(res.path, x), _torch_logits(model, x)) < 1e-4
    assert 2.0e6 < res.size_bytes < 7e6  # ~1.6M params at nc=10, fp32


@pytest.mark.parametrize("name", ["resnet18", "efficientnet_b0"])
@pytest.mark.slow
def test_baseline_exports_match_torch(name: str, frames: list[np.ndarray], tmp_path: Path) -> None:
    model = _calibrated(name, frames, 64)
    res = export_onnx(model, tmp_path / f"{name}.onnx", imgsz=64, images=frames)
    assert res.verification.max_rel_diff < 1e-4 and res.verification.top1_agreement == 1.0
    assert read_metadata(res.path).model == name


# --- Triton ---------------------------------------------------------------------------------------------------------

def triton_config(path: Path) -> Any:
    """config.pbtxt read with Triton's own schema (tritonclient's ModelConfig; unknown fields raise)."""
    from google.protobuf import text_format
    from test_export_interop import _model_config_pb2

    return text_format.Parse(path.read_text(encoding="utf-8"), _model_config_pb2().ModelConfig())


def _io(values: Any) -> list[dict[str, Any]]:
    from google.protobuf.json_format import MessageToDict

    return [{**MessageToDict(v, preserving_proto_field_name=True), "dims": list(v.dims)} for v in values]


def test_triton_repository_for_dynamic_onnx(tiny_onnx, tmp_path: Path) -> None:
    out = export_triton(tiny_onnx.path, tmp_path / "repo", max_batch=16, instance_count=2)
    assert out.model_dir == tmp_path / "repo" / "tiny-cls" and out.platform == "onnxruntime_onnx"
    assert out.model_file == out.model_dir / "1" / "model.onnx"
    assert out.model_file.read_bytes() == tiny_onnx.path.read_bytes()
    assert out.labels.read_text().splitlines() == NAMES10
    cfg = triton_config(out.config)
    assert cfg.name == "tiny-cls" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 16
    assert _io(cfg.input) == [{"name": "images", "data_type": "TYPE_FP32", "dims": [3, 96, 96]}]
    assert _io(cfg.output) == [{"name": "output0", "data_type": "TYPE_FP32", "dims": [10],
                                "label_filename": "labels.txt"}]
    assert cfg.HasField("dynamic_batching")
    assert [(g.count, g.kind) for g in cfg.instance_group] == [(2, cfg.instance_group[0].KIND_AUTO)]
    assert ModelMetadata.from_json(cfg.parameters["yolocls"].string_value).to_dict() == tiny_onnx.metadata.to_dict()
    # the config's names/shapes agree with the model file itself
    sess = ort.InferenceSession(str(out.model_file), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape[1:] == list(cfg.input[0].dims)
    assert sess.get_outputs()[0].shape[1:] == list(cfg.output[0].dims)


def test_triton_static_batch_and_engine(tiny: nn.Module, tmp_path: Path) -> None:
    res = export_onnx(tiny, tmp_path / "s.onnx", imgsz=64, dynamic=False, batch_size=1, verify=False)
    out = export_triton(res.path, tmp_path / "repo", model_name="static_model")
    cfg = triton_config(out.config)
    assert cfg.max_batch_size == 0 and not cfg.HasField("dynamic_batching")
    assert list(cfg.input[0].dims) == [1, 3, 64, 64] and list(cfg.output[0].dims) == [1, 10]

    engine = tmp_path / "m.engine"  # stand-in bytes: the repository layout does not parse the plan
    engine.write_bytes(b"serialized-plan")
    meta = res.metadata
    meta.dynamic = True
    meta.engine = EngineFacts(tensorrt_version="10.3.0", gpu_name="Orin", compute_capability="8.7",
                              precision="fp16", profile=BatchProfile(1, 4, 4), engine_sha256=file_sha256(engine))
    Path(f"{engine}.json").write_text(meta.to_json())
    out = export_triton(engine, tmp_path / "repo", max_batch=32)
    cfg = triton_config(out.config)
    assert out.model_file.name == "model.plan" and out.model_file.read_bytes() == b"serialized-plan"
    assert cfg.platform == "tensorrt_plan" and cfg.max_batch_size == 4  # capped by the engine profile
    assert [(g.count, g.kind) for g in cfg.instance_group] == [(1, cfg.instance_group[0].KIND_GPU)]
    assert (tmp_path / "repo" / "static_model" / "config.pbtxt").is_file()  # other models untouched


def test_triton_bad_input(tiny_onnx, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown Triton platform"):
        export_triton(tiny_onnx.path, tmp_path, platform="pytorch_libtorch")
    with pytest.raises(InputError, match=r"tensorrt_plan needs a \.engine/\.plan file"):
        export_triton(tiny_onnx.path, tmp_path, platform="tensorrt_plan")
    with pytest.raises(InputError, match="may only use letters"):
        export_triton(tiny_onnx.path, tmp_path, model_name="a b/c")
    with pytest.raises(InputError, match="max_batch"):
        export_triton(tiny_onnx.path, tmp_path, max_batch=0)
    with pytest.raises(FileNotFoundError):
        export_triton(tmp_path / "none.onnx", tmp_path)
    engine = tmp_path / "x.engine"
    engine.write_bytes(b"x")
    with pytest.raises(MetadataError, match=r"engine metadata .*x\.engine\.json not found.*build-engine"):
        export_triton(engine, tmp_path / "r")


# --- CLI ------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_cli_export_onnx_and_triton(tmp_path: Path) -> None:
    from yolocls.cli.app import app

    out = tmp_path / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = CliRunner().invoke(app, ["export", "--weights", "tiny-cls", "--include", "onnx,triton", "--imgsz", "64",
                                     "--output", str(out), "--max-batch", "4", "--half"])
    assert r.exit_code == 0, r.output
    assert "RANDOM weights" in r.output and "tiny.onnx" in r.output and "top-1" in r.output
    assert not out.exists()  # --half writes its own file name
    meta = read_metadata(tmp_path / "tiny.fp16.onnx")
    assert meta.imgsz == 64 and meta.half and meta.model == "tiny-cls"
    cfg = triton_config(tmp_path / "triton" / "tiny-cls" / "config.pbtxt")
    assert cfg.max_batch_size == 4


@pytest.mark.slow
def test_cli_export_checkpoint(tiny: nn.Module, tmp_path: Path, photos_dir: Path) -> None:
    from yolocls.cli.app import app
    from yolocls.models import save_checkpoint

    ckpt = tmp_path / "w" / "best.pt"
    save_checkpoint(ckpt, tiny)
    r = CliRunner().invoke(app, ["export", "--weights", str(ckpt), "--no-dynamic", "--batch-size", "2",
                                 "--no-simplify", "--verify-images", str(photos_dir)])
    assert r.exit_code == 0, r.output
    meta = read_metadata(ckpt.with_suffix(".onnx"))
    assert meta.names == NAMES10 and not meta.dynamic and meta.batch == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--weights", "missing.pt"], "file not found: missing.pt"),
    (["--weights", "tiny-cl"], "did you mean 'tiny-cls'"),
    (["--weights", "tiny-cls", "--include", "onnx,coreml"], "unknown export format 'coreml'"),
    (["--weights", "tiny-cls", "--opset", "99"], "opset must be an integer from"),
    (["--weights", "tiny-cls", "--output", "x.pt"], "--output must end in .onnx"),
    (["--weights", "tiny-cls", "--verify-images", "no_such_dir"], "file not found: no_such_dir"),
    (["--weights", "tiny-cls", "--device", "7"], "device '7' requested"),
    (["--weights", "tiny-cls", "--include", "onnx,engine"], "TensorRT is not installed"),
])
def test_cli_export_user_errors_exit_2(args: list[str], message: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from yolocls.cli.app import app
    from yolocls.runtime.tensorrt_python import tensorrt_available

    if "engine" in args[-1] and tensorrt_available():
        pytest.skip("TensorRT is installed here")
    monkeypatch.chdir(tmp_path)

    r = CliRunner().invoke(app, ["export", *args])
    assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output
    assert not list(tmp_path.iterdir())  # nothing half-written


@pytest.mark.slow
def test_installed_entry_point_exports(tmp_path: Path) -> None:
    out = tmp_path / "e.onnx"
    r = subprocess.run([sys.executable, "-m", "yolocls", "export", "--weights", "tiny-cls", "--imgsz", "32",
                        "--output", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert read_metadata(out).imgsz == 32
