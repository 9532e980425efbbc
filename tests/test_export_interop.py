"""Export variants and what other software reads from them (issue 14 items 11, 15, 16, 17).

- Variants get their own file names: ``--half`` never replaces the FP32 ``best.onnx``.
- ``normalize_in_graph``/``softmax``: ultralytics' predictor (rebuilt in ``ultralytics_reference``) gets our top-1
  on real photos; without the option it does not. Our own runtimes read the variant's metadata and agree.
- No ``onnxsim.*`` clutter in metadata_props; the producer is yolocls.
- ``half_io``: float16 inputs/outputs, stated in the metadata, run by our ONNX runtimes, refused by engine builds.
- Triton's config.pbtxt parses with Triton's own protobuf schema (tritonclient's ``model_config_pb2``).
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import ultralytics_reference as ul
from torch import nn
from typer.testing import CliRunner

import yolocls
from yolocls import runtime
from yolocls.data.io import imread
from yolocls.errors import InputError, MetadataError
from yolocls.export.onnx import export_onnx, read_metadata, variant_path
from yolocls.export.triton import export_triton
from yolocls.metadata import METADATA_KEY, ModelMetadata
from yolocls.models import create_model
from yolocls.runtime.base import softmax
from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

torch.set_num_threads(1)
IMGSZ = 64


class PooledLinear(nn.Module):
    """A classifier on 4x4-pooled normalised pixels: robust to the resize differences between consumers (antialias
    or not), yet its answer depends on the mean/std normalisation, which is what these tests are about."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.linear = nn.Linear(48, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.pool(x).flatten(1))


@pytest.fixture(scope="module")
def photos(fixture_images: list[Path]) -> tuple[list[np.ndarray], list[str]]:
    return [imread(p) for p in fixture_images], [p.stem for p in fixture_images]


@pytest.fixture(scope="module")
def photo_model(photos: tuple[list[np.ndarray], list[str]]) -> PooledLinear:
    """Each fixture photo is its own class: ridge regression on pooled features of random crops (our preprocessing)."""
    frames, names = photos
    cfg = PreprocessConfig(imgsz=IMGSZ)
    rng = np.random.default_rng(0)
    crops, labels = [], []
    for i, f in enumerate(frames):
        h, w = f.shape[:2]
        for _ in range(16):
            s = int(min(h, w) * rng.uniform(0.9, 1.0))
            top, left = rng.integers(0, h - s + 1), rng.integers(0, w - s + 1)
            crops.append(f[top:top + s, left:left + s])
            labels.append(i)
    m = PooledLinear(len(names)).eval()
    with torch.no_grad():
        feats = m.pool(torch.from_numpy(preprocess_with(crops, cfg))).flatten(1)
    a = torch.cat([feats, torch.ones(len(labels), 1)], 1).double()
    t = torch.full((len(labels), len(names)), -3.0, dtype=torch.float64)
    t[torch.arange(len(labels)), torch.tensor(labels)] = 3.0
    lam = 1e-2 * float((a * a).sum()) / a.shape[1]
    sol = torch.linalg.solve(a.T @ a + lam * torch.eye(a.shape[1], dtype=a.dtype), a.T @ t)
    with torch.no_grad():
        m.linear.weight.copy_(sol[:-1].T.float())
        m.linear.bias.copy_(sol[-1].float())
    return m


def _export(model: nn.Module, path: Path, names: list[str], frames: list[np.ndarray], **kw: Any) -> Any:
    return export_onnx(model, path, imgsz=IMGSZ, names=names, preprocess=PreprocessConfig(imgsz=IMGSZ),
                       images=frames, **kw)


def _torch_probs(model: nn.Module, frames: list[np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        logits = model(torch.from_numpy(preprocess_with(frames, PreprocessConfig(imgsz=IMGSZ)))).numpy()
    return softmax(logits)


# --- item 15: ultralytics ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ultralytics_gets_our_top1_only_with_normalisation_in_graph(photo_model: PooledLinear, photos: Any,
                                                                    tmp_path: Path) -> None:
    frames, names = photos
    ours = _torch_probs(photo_model, frames)
    assert ours.argmax(1).tolist() == list(range(len(names)))  # the model knows the photos

    plain = _export(photo_model, tmp_path / "best.onnx", names, frames, dynamic=False)
    got_plain = [t for t, _, _ in ul.predict(plain.path, frames)]
    assert got_plain != ours.argmax(1).tolist()  # the bug of issue 14 item 15: 0-1 input into a mean/std model

    for kw in ({}, {"half": True}, {"half": True, "half_io": True}):
        res = _export(photo_model, tmp_path / "best.onnx", names, frames, dynamic=False, normalize_in_graph=True,
                      softmax=True, **kw)
        got = ul.predict(res.path, frames)
        assert [t for t, _, _ in got] == ours.argmax(1).tolist(), (res.path.name, got)
        assert [n for _, _, n in got] == names
        conf = np.array([c for _, c, _ in got])
        assert np.abs(conf - ours.max(1)).max() < (5e-3 if kw else 1e-3), res.path.name  # output0 = probabilities
    # the metadata keys AutoBackend requires, parsed its way
    import onnxruntime as ort

    meta = ul.read_metadata(ort.InferenceSession(str(res.path), providers=["CPUExecutionProvider"]))
    assert meta == {"stride": 32, "task": "classify", "batch": 1, "imgsz": [IMGSZ, IMGSZ],
                    "names": dict(enumerate(names))}


def test_our_runtimes_read_the_variant_metadata(photo_model: PooledLinear, photos: Any, tmp_path: Path) -> None:
    """Python backends preprocess with scale 1/255 and no mean/std and do not apply softmax twice; the C++ runtime
    reads the same from the metadata JSON by itself."""
    frames, names = photos
    ours = _torch_probs(photo_model, frames)
    res = _export(photo_model, tmp_path / "m.onnx", names, frames, normalize_in_graph=True, softmax=True)
    meta = read_metadata(res.path)
    assert meta.normalized_in_graph and meta.output == "probs" and meta.input_dtype == "float32"
    assert meta.preprocess.mean == (0.0, 0.0, 0.0) and meta.preprocess.std == (1.0, 1.0, 1.0)
    assert meta.graph_normalization == {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    backends = [b for b in ("onnxruntime", "openvino") if b in runtime.available_backends()]
    for b in backends:
        with runtime.load(res.path, backend=b) as rt:
            top = rt.predict(frames, topk=2)
            assert [r[0].class_id for r in top] == list(range(len(names))), b
            np.testing.assert_allclose([r[0].prob for r in top], ours.max(1), atol=1e-4, err_msg=b)
            probs = softmax(rt.infer(rt.preprocess(frames)))  # infer gives log-probabilities: softmax undoes them
            np.testing.assert_allclose(probs, ours, atol=1e-4, err_msg=b)
    from yolocls import _native

    if _native.available() and "openvino" in backends:
        C = _native.load_extension()
        rt_c = C.Runtime(str(res.path), options=C.RuntimeOptions(backend=C.Backend.OPENVINO))  # metadata read in C++
        out = np.asarray(rt_c.logits(frames, True))
        np.testing.assert_allclose(out, ours, atol=1e-4)  # the graph's own probabilities: preprocessing matched
        top_c = rt_c.classify(frames, 2)  # the C++ runtime does not apply softmax a second time
        np.testing.assert_allclose([r[0][1] for r in top_c], ours.max(1), atol=1e-4)


def test_metadata_states_the_interface_and_stays_backward_compatible() -> None:
    meta = ModelMetadata(names=["a", "b"], preprocess=PreprocessConfig(imgsz=32))
    d = meta.to_dict()
    assert (d["input_dtype"], d["output"], d["normalized_in_graph"]) == ("float32", "logits", False)
    assert "graph_normalization" not in d
    old = {k: v for k, v in d.items() if k not in ("input_dtype", "output", "normalized_in_graph")}
    back = ModelMetadata.from_dict(old)  # a file from before these keys
    assert (back.input_dtype, back.output, back.normalized_in_graph, back.extra) == ("float32", "logits", False, {})
    new = ModelMetadata.from_dict({**d, "input_dtype": "float16", "output": "probs", "normalized_in_graph": True,
                                   "graph_normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}})
    assert ModelMetadata.from_json(new.to_json()).to_dict() == new.to_dict()
    for key, bad in (("input_dtype", "int8"), ("output", "softmax"), ("output", 1), ("normalized_in_graph", "yes"),
                     ("graph_normalization", {"mean": [0.5] * 3}), ("graph_normalization", [1, 2])):
        with pytest.raises(MetadataError, match=key):
            ModelMetadata.from_dict({**d, key: bad})
    with pytest.raises(InputError, match="input_dtype"):
        ModelMetadata(names=["a"], preprocess=PreprocessConfig(), input_dtype="float64")
    props = meta.compat_props()
    assert props == {"stride": "32", "names": "{0: 'a', 1: 'b'}", "task": "classify", "imgsz": "[32, 32]",
                     "batch": "1"}


# --- item 11: variant file names --------------------------------------------------------------------------------------
def test_variant_path_names() -> None:
    assert variant_path("w/best.onnx") == Path("w/best.onnx")
    assert variant_path("w/best.onnx", half=True) == Path("w/best.fp16.onnx")
    assert variant_path("w/best.onnx", half=True, half_io=True) == Path("w/best.fp16-io.onnx")
    assert variant_path("best.onnx", normalize_in_graph=True, softmax=True) == Path("best.norm.probs.onnx")
    assert variant_path("best.fp16.onnx", half=True) == Path("best.fp16.onnx")  # already named: kept
    assert variant_path("best.fp16-io.norm.probs.onnx", True, True, True, True) == \
        Path("best.fp16-io.norm.probs.onnx")


@pytest.fixture(scope="module")
def tiny() -> nn.Module:
    torch.manual_seed(0)
    return create_model("tiny-cls", num_classes=3)


@pytest.mark.slow
def test_half_export_keeps_the_fp32_file(tiny: nn.Module, tmp_path: Path) -> None:
    fp32 = export_onnx(tiny, tmp_path / "best.onnx", imgsz=32, verify=False)
    before = fp32.path.read_bytes()
    half = export_onnx(tiny, tmp_path / "best.onnx", imgsz=32, half=True)
    io16 = export_onnx(tiny, tmp_path / "best.onnx", imgsz=32, half_io=True)  # implies half
    assert fp32.path == tmp_path / "best.onnx" and fp32.path.read_bytes() == before
    assert half.path == tmp_path / "best.fp16.onnx" and io16.path == tmp_path / "best.fp16-io.onnx"
    assert not read_metadata(fp32.path).half and read_metadata(half.path).half
    assert read_metadata(half.path).input_dtype == "float32" and read_metadata(io16.path).input_dtype == "float16"
    with pytest.raises(InputError, match="half_io must be True or False"):
        export_onnx(tiny, tmp_path / "x.onnx", imgsz=32, half_io="yes")  # type: ignore[arg-type]


@pytest.mark.slow
def test_cli_half_writes_its_own_file_and_says_so(tiny: nn.Module, tmp_path: Path) -> None:
    from yolocls.cli.app import app
    from yolocls.models import save_checkpoint

    ckpt = tmp_path / "best.pt"
    save_checkpoint(ckpt, tiny)
    runner = CliRunner()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = runner.invoke(app, ["export", "--weights", str(ckpt), "--imgsz", "32", "--no-verify"])
        assert r.exit_code == 0, r.output
        before = (tmp_path / "best.onnx").read_bytes()
        r = runner.invoke(app, ["export", "--weights", str(ckpt), "--imgsz", "32", "--half"])
    assert r.exit_code == 0, r.output
    assert "wrote " in r.output and "best.fp16.onnx" in r.output and "best.onnx (if any) is left" in r.output
    assert (tmp_path / "best.onnx").read_bytes() == before and (tmp_path / "best.fp16.onnx").is_file()
    r = runner.invoke(app, ["export", "--weights", str(ckpt), "--half-io", "--include", "onnx,engine"])
    assert r.exit_code == 2 and "yolocls: error: --half-io" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


# --- item 16: metadata clutter, producer ------------------------------------------------------------------------------
@pytest.mark.parametrize("half", [False, True])
def test_no_onnxsim_keys_and_producer_is_yolocls(tiny: nn.Module, tmp_path: Path, half: bool) -> None:
    res = export_onnx(tiny, tmp_path / "m.onnx", imgsz=32, simplify=True, half=half, verify=False)
    assert res.simplified
    proto = onnx.load(str(res.path))
    assert sorted(p.key for p in proto.metadata_props) == sorted([METADATA_KEY, "names", "stride", "task", "imgsz",
                                                                  "batch"])
    assert (proto.producer_name, proto.producer_version) == ("yolocls", yolocls.__version__)


# --- item 17: float16 inputs/outputs ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_half_io_file_takes_and_returns_float16(tiny: nn.Module, tmp_path: Path) -> None:
    from yolocls.export.tensorrt import inspect_onnx

    res = export_onnx(tiny, tmp_path / "m.onnx", imgsz=32, half_io=True)  # verified in ONNX Runtime (fed float16)
    proto = onnx.load(str(res.path))
    f16 = onnx.TensorProto.FLOAT16
    assert proto.graph.input[0].type.tensor_type.elem_type == f16
    assert proto.graph.output[0].type.tensor_type.elem_type == f16
    assert res.verification is not None and res.verification.top1_agreement == 1.0
    frame = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    ref = export_onnx(tiny, tmp_path / "m.onnx", imgsz=32, half=True, verify=False)
    for b in [b for b in ("onnxruntime", "openvino") if b in runtime.available_backends()]:
        with runtime.load(res.path, backend=b) as rt, runtime.load(ref.path, backend=b) as rt_ref:
            got, want = rt.predict([frame], topk=3)[0], rt_ref.predict([frame], topk=3)[0]
            assert [p.class_id for p in got] == [p.class_id for p in want], b
            assert abs(got[0].prob - want[0].prob) < 1e-2, b
    with pytest.raises(InputError, match="takes float16 inputs.*--half"):
        inspect_onnx(res.path)  # an engine build refuses it in one line


# --- Triton's own schema ----------------------------------------------------------------------------------------------
def _model_config_pb2() -> Any:
    """tritonclient's ModelConfig protobuf, loaded from its file (``tritonclient.grpc`` itself needs grpcio)."""
    spec = importlib.util.find_spec("tritonclient")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("tritonclient is not installed (pip install tritonclient; it is in the [dev] extra)")
    path = Path(next(iter(spec.submodule_search_locations))) / "grpc" / "model_config_pb2.py"
    if not path.is_file():
        pytest.skip(f"this tritonclient has no {path.name}")
    mod_spec = importlib.util.spec_from_file_location("_triton_model_config_pb2", path)
    assert mod_spec is not None and mod_spec.loader is not None
    mod = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(mod)
    except Exception as e:  # noqa: BLE001 - a protobuf runtime too old/new for its generated code
        pytest.skip(f"tritonclient's model_config_pb2 does not load here ({type(e).__name__}: {e})")
    return mod


@pytest.mark.parametrize("kw", [{}, {"dynamic": False, "batch_size": 2},
                                {"half_io": True, "normalize_in_graph": True, "softmax": True}])
@pytest.mark.slow
def test_triton_config_parses_with_tritons_schema(tiny: nn.Module, tmp_path: Path, kw: dict[str, Any]) -> None:
    from google.protobuf import text_format

    pb2 = _model_config_pb2()
    res = export_onnx(tiny, tmp_path / "m.onnx", imgsz=32, verify=False, **kw)
    tr = export_triton(res.path, tmp_path / "repo", max_batch=4)
    cfg = text_format.Parse(tr.config.read_text(encoding="utf-8"), pb2.ModelConfig())  # unknown fields raise
    meta = read_metadata(res.path)
    dtype = pb2.TYPE_FP16 if kw.get("half_io") else pb2.TYPE_FP32
    assert cfg.name == "tiny-cls" and cfg.platform == "onnxruntime_onnx"
    assert [(i.name, i.data_type) for i in cfg.input] == [("images", dtype)]
    assert [(o.name, o.data_type, o.label_filename) for o in cfg.output] == [("output0", dtype, "labels.txt")]
    if kw.get("dynamic", True):
        assert cfg.max_batch_size == 4 and list(cfg.input[0].dims) == [3, 32, 32] and list(cfg.output[0].dims) == [3]
        assert cfg.HasField("dynamic_batching")
    else:
        assert cfg.max_batch_size == 0 and list(cfg.input[0].dims) == [2, 3, 32, 32]
        assert list(cfg.output[0].dims) == [2, 3] and not cfg.HasField("dynamic_batching")
    assert cfg.instance_group[0].kind == pb2.ModelInstanceGroup.KIND_AUTO and cfg.instance_group[0].count == 1
    assert cfg.parameters["output"].string_value == ("probs" if kw.get("softmax") else "logits")
    assert cfg.parameters["normalized_in_graph"].string_value == ("true" if kw.get("normalize_in_graph") else "false")
    assert ModelMetadata.from_json(cfg.parameters["yolocls"].string_value).to_dict() == meta.to_dict()
    assert tr.labels.read_text(encoding="utf-8").splitlines() == meta.names
