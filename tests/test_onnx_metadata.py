"""The ONNX metadata reader without onnx/torch (yolocls.spec.onnx + yolocls.spec.metadata) and hostile metadata (issue 10, 7-8, 11).

Every bad case is a real crafted file (or JSON text) read through the same entry points users hit: ``yolocls info``,
``runtime.load`` with ONNX Runtime / OpenVINO, the C++ ``parse_metadata``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from yolocls.errors import InputError, MetadataError, YoloclsError
from yolocls.spec.metadata import MAX_IMGSZ, MAX_JSON_DEPTH, ModelMetadata, parse_yolov5_names, read_onnx_metadata
from yolocls.spec.onnx import read_onnx_info

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

NAMES = ["cat", "dog", "bird"]
IMGSZ = 32


def _meta(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"schema": 1, "task": "classify", "model": "t", "names": list(NAMES), "imgsz": [IMGSZ, IMGSZ],
                         "preprocess": {"crop": "center", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                                        "scale": 1 / 255, "channel_order": "RGB", "pad_value": 114},
                         "stride": 32, "dynamic": True, "batch": 1, "half": False}
    d.update(over)
    return d


def make_onnx(path: Path, props: dict[str, str] | None = None, in_dims: list[Any] | None = None,
              in_type: int = TensorProto.FLOAT, out_dims: list[Any] | None = None) -> Path:
    """A real (tiny) classifier graph: GlobalAveragePool -> Flatten -> Gemm, with the given interface and props."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((len(NAMES), 3)).astype(np.float32)
    b = rng.standard_normal(len(NAMES)).astype(np.float32)
    in_dims = ["batch", 3, IMGSZ, IMGSZ] if in_dims is None else in_dims
    out_dims = ["batch", len(NAMES)] if out_dims is None else out_dims
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["gap"]),
         helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "W", "B"], ["output0"], transB=1)],
        "t", [helper.make_tensor_value_info("images", in_type, in_dims)],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_dims)],
        [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
         helper.make_tensor("B", TensorProto.FLOAT, b.shape, b)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (props if props is not None else {"yolocls": json.dumps(_meta())}).items():
        model.metadata_props.add(key=k, value=v)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real `export_onnx` outputs (dynamic, static, fp16-free) of a tiny zoo model."""
    torch = pytest.importorskip("torch")
    import yolocls
    from yolocls.export.onnx import export_onnx
    from yolocls.spec.preprocess import PreprocessConfig

    d = tmp_path_factory.mktemp("exp")
    torch.manual_seed(0)
    m = yolocls.create_model("tiny-cls", num_classes=len(NAMES))
    m.names = list(NAMES)
    m.preprocess = PreprocessConfig(imgsz=IMGSZ)
    out = {"dynamic": d / "dyn.onnx", "static": d / "static.onnx"}
    export_onnx(m, out["dynamic"], imgsz=IMGSZ, simplify=False, verify=False)
    export_onnx(m, out["static"], imgsz=IMGSZ, dynamic=False, batch_size=2, simplify=False, verify=False)
    return out


def _onnx_view(path: Path) -> tuple[dict[str, str], list[Any], list[Any], int]:
    proto = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in proto.graph.initializer}

    def vi(v: Any) -> tuple[str, int, tuple[Any, ...]]:
        tt = v.type.tensor_type
        return v.name, tt.elem_type, tuple(d.dim_value if d.HasField("dim_value") else d.dim_param
                                           for d in tt.shape.dim)

    return ({p.key: p.value for p in proto.metadata_props}, [vi(v) for v in proto.graph.input if v.name not in inits],
            [vi(v) for v in proto.graph.output], len(proto.graph.initializer))


@pytest.mark.slow
def test_reader_matches_onnx_load_on_real_exports(exported: dict[str, Path]) -> None:
    for path in exported.values():
        props, ins, outs, n_init = _onnx_view(path)
        info = read_onnx_info(path)
        assert info.props == props
        assert [(v.name, v.elem_type, v.dims) for v in info.inputs] == ins
        assert [(v.name, v.elem_type, v.dims) for v in info.outputs] == outs
        assert info.initializer_count == n_init and not info.fp16_weights
        proto = onnx.load(str(path), load_external_data=False)
        assert info.parameter_count == sum(int(np.prod(t.dims)) for t in proto.graph.initializer) > 0
        meta = read_onnx_metadata(path)
        assert meta.names == NAMES and meta.imgsz == IMGSZ
    assert read_onnx_info(exported["static"]).inputs[0].dims == (2, 3, IMGSZ, IMGSZ)
    assert read_onnx_info(exported["dynamic"]).inputs[0].dims == ("batch", 3, IMGSZ, IMGSZ)


@pytest.mark.slow
def test_reader_matches_onnx_on_onnx_test_models() -> None:
    """Every model shipped with onnx's backend tests: the same props/inputs/outputs as onnx.load."""
    root = Path(onnx.__file__).parent / "backend" / "test" / "data"
    files = sorted(root.rglob("*.onnx"))[:400]
    if not files:
        pytest.skip("onnx ships no test models here")
    for f in files:
        props, ins, outs, _ = _onnx_view(f)
        info = read_onnx_info(f)
        assert info.props == props, f
        # onnx gives "" for a dim with neither value nor param; the reader gives None
        got = [(v.name, v.elem_type, tuple("" if d is None else d for d in (v.dims or ()))) for v in info.inputs]
        assert got == ins, f


@pytest.mark.slow
def test_metadata_path_imports_neither_onnx_nor_torch(exported: dict[str, Path]) -> None:
    code = ("import sys, yolocls.runtime as r; from yolocls.spec.metadata import read_model_info;"
            f"m = read_model_info({str(exported['dynamic'])!r}).metadata; r._onnx_metadata(__import__('pathlib').Path("
            f"{str(exported['dynamic'])!r})); print(sorted(k for k in sys.modules if k.startswith('yolocls.export')));"
            "from yolocls.export.onnx import read_metadata;"
            "print(m.names, 'onnx' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # the runtime reads metadata without the export package ...
    assert out.stdout.splitlines()[0] == "[]", out.stdout
    # ... and yolocls.export.onnx is the export side (it may import onnx lazily, not at import time)
    assert out.stdout.split()[-2:] == ["False", "False"], out.stdout


@pytest.mark.parametrize("kind", ["empty", "truncated", "garbage", "group", "huge_len", "varint", "no_graph"])
def test_reader_refuses_malformed_protobuf(kind: str, tmp_path: Path, exported: dict[str, Path]) -> None:
    data = exported["dynamic"].read_bytes()
    bad = {
        "empty": b"",
        "truncated": data[: len(data) // 2],
        "garbage": np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "group": b"\x0b\x08\x01\x0c",  # field 1, wire type 3 (a deprecated group)
        "huge_len": b"\x08\x08\x3a\xff\xff\xff\xff\x0f",  # graph claims 4 GB
        "varint": b"\x08" + b"\xff" * 11,
        "no_graph": b"\x08\x08",
    }[kind]
    p = tmp_path / f"{kind}.onnx"
    p.write_bytes(bad)
    with pytest.raises(MetadataError, match="not a readable ONNX model") as e:
        read_onnx_info(p)
    assert "\n" not in str(e.value)


def test_reader_limits(tmp_path: Path) -> None:
    import yolocls.spec.onnx as om

    many = {f"k{i}": "v" for i in range(om.MAX_PROPS + 1)}
    with pytest.raises(MetadataError, match="metadata_props entries"):
        read_onnx_info(make_onnx(tmp_path / "many.onnx", props=many))
    big = {"a": "x" * (om.MAX_PROPS_BYTES // 2 + 10), "b": "y" * (om.MAX_PROPS_BYTES // 2 + 10)}
    with pytest.raises(MetadataError, match="bytes"):
        read_onnx_info(make_onnx(tmp_path / "big.onnx", props=big))
    with pytest.raises(MetadataError, match="dims"):
        read_onnx_info(make_onnx(tmp_path / "rank.onnx", in_dims=[1] * (om.MAX_RANK + 1)))


# --------------------------------------------------------------------------------------- finding 7: hostile JSON
HOSTILE_JSON = {
    "deep-100k": "[" * 100_000 + "]" * 100_000,
    "deep-in-names": json.dumps(_meta(names="@")).replace('"@"', "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)),
    "imgsz-empty": json.dumps(_meta(imgsz=[])),
    "imgsz-1e400": json.dumps(_meta(imgsz="@")).replace('"@"', "1e400"),
    "stride-1e400": json.dumps(_meta(stride="@")).replace('"@"', "1e400"),
    "imgsz-str": json.dumps(_meta(imgsz="16")),
    "imgsz-float": json.dumps(_meta(imgsz=16.7)),
    "imgsz-list-str": json.dumps(_meta(imgsz=["16", "16"])),
    "imgsz-16384": json.dumps(_meta(imgsz=16384)),
    "imgsz-nan": json.dumps(_meta(imgsz="@")).replace('"@"', "NaN"),
    "names-str": json.dumps(_meta(names="cat")),
    "names-nested": json.dumps(_meta(names=[["cat"], ["dog"]])),
    "names-key-word": json.dumps(_meta(names={"x": "a"})),
    "names-key-20-digits": json.dumps(_meta(names={"99999999999999999999": "a"})),
    "names-key-dup": json.dumps(_meta(names={"0": "a", "00": "b"})),
    "names-too-many": json.dumps(_meta(names=["n"] * 100_001)),
    "names-lone-surrogate": json.dumps(_meta(names=["\ud800", "b", "c"])),
    "pad-float": json.dumps(_meta(preprocess={"pad_value": 1.5})),
    "pad-str": json.dumps(_meta(preprocess={"pad_value": "114"})),
    "mean-str": json.dumps(_meta(preprocess={"mean": ["a", 0, 0]})),
    "scale-1e300": json.dumps(_meta(preprocess={"scale": 1e300})),
    "crop-number": json.dumps(_meta(preprocess={"crop": 3})),
    "task-list": json.dumps(_meta(task=["classify"])),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_JSON))
def test_hostile_metadata_json_is_one_clean_error_in_python_and_cpp(case: str) -> None:
    text = HOSTILE_JSON[case]
    with pytest.raises(MetadataError) as e:
        ModelMetadata.from_json(text)
    assert "\n" not in str(e.value) and len(str(e.value)) < 400
    C = pytest.importorskip("yolocls._C")
    with pytest.raises(RuntimeError) as ce:  # _C.Error: one line, never ValueError/IndexError/UnicodeDecodeError
        C.parse_metadata(text)
    assert type(ce.value).__name__ in ("Error", "RuntimeError") and "\n" not in str(ce.value)


def test_cpp_reader_refuses_invalid_utf8_and_json_number_forms() -> None:
    C = pytest.importorskip("yolocls._C")
    ok = json.dumps(_meta())
    for bad in (ok.replace('"cat"', '"\\udc00"'), ok.replace("32", "0x20", 1), ok.replace("32", "-inf", 1),
                ok.replace('"cat"', '"a\tb"')):
        with pytest.raises(RuntimeError):
            C.parse_metadata(bad)
    with pytest.raises(RuntimeError, match="UTF-8"):
        C.parse_metadata(ok.encode().replace(b'"cat"', b'"\xff"'))
    d = C.parse_metadata(ok.replace('"cat"', '"\\ud83d\\ude00"'))  # a proper surrogate pair is fine
    assert d["names"][0] == "😀"


def test_valid_metadata_still_reads_the_same_in_python_and_cpp() -> None:
    for d in (_meta(), _meta(names={"1": "b", "0": "a", "2": "c"}, imgsz=32), _meta(imgsz=[MAX_IMGSZ]),
              _meta(names=[])):
        m = ModelMetadata.from_json(json.dumps(d))
        assert m.imgsz in (IMGSZ, MAX_IMGSZ)
        C = pytest.importorskip("yolocls._C")
        assert C.parse_metadata(json.dumps(d))["names"] == m.names


def test_yolov5_names_scanner() -> None:
    assert parse_yolov5_names(str({0: "cat", 1: "dog's", 2: 'say "hi"'})) == ["cat", "dog's", 'say "hi"']
    assert parse_yolov5_names(str(["a", "b"])) == ["a", "b"]
    for bad in ("cat", "{0: [1]}", "{0: 'a'", "[" * 100_000, "__import__('os').system('true')", "{0: 'a' * 10**9}"):
        with pytest.raises(MetadataError):
            parse_yolov5_names(bad)


# ------------------------------------------------------------------------- through the commands and the backends
def _app() -> Any:
    from yolocls.cli.app import app

    return app


def _one_line_error(args: list[str]) -> str:
    r = CliRunner().invoke(_app(), args)
    err = r.stderr.strip()
    assert r.exit_code == 2, (r.exit_code, r.stdout[-500:], err[-2000:], r.exception)
    assert err.startswith("yolocls: error:") and "\n" not in err, err
    return err


FILE_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "deep-json": ({"props": {"yolocls": HOSTILE_JSON["deep-100k"]}}, "nested deeper"),
    "imgsz-empty": ({"props": {"yolocls": HOSTILE_JSON["imgsz-empty"]}}, "imgsz"),
    "imgsz-1e400": ({"props": {"yolocls": HOSTILE_JSON["imgsz-1e400"]}}, "imgsz"),
    "stride-1e400": ({"props": {"yolocls": HOSTILE_JSON["stride-1e400"]}}, "stride"),
    "imgsz-16384-dynamic-hw": ({"props": {"yolocls": HOSTILE_JSON["imgsz-16384"]},
                                "in_dims": ["batch", 3, "h", "w"]}, "4096"),
    "static-hw-disagrees": ({"in_dims": ["batch", 3, 64, 64]}, "imgsz 32"),
    "output-4d": ({"out_dims": ["batch", 3, 1, 1]}, "output has shape"),
    "input-int8": ({"in_type": TensorProto.INT8}, "int8"),
    "input-uint8": ({"in_type": TensorProto.UINT8}, "uint8"),
    "input-1-channel": ({"in_dims": ["batch", 1, IMGSZ, IMGSZ]}, "channels"),
    "pad-float": ({"props": {"yolocls": json.dumps(_meta(preprocess={"pad_value": 1.5}))}}, "pad_value"),
    "pad-str": ({"props": {"yolocls": json.dumps(_meta(preprocess={"pad_value": "x"}))}}, "pad_value"),
    "names-str": ({"props": {"yolocls": HOSTILE_JSON["names-str"]}}, "names"),
    "names-nested": ({"props": {"yolocls": HOSTILE_JSON["names-nested"]}}, "class name"),
    "imgsz-str": ({"props": {"yolocls": HOSTILE_JSON["imgsz-str"]}}, "imgsz"),
    "imgsz-float": ({"props": {"yolocls": HOSTILE_JSON["imgsz-float"]}}, "imgsz"),
    "yolov5-names-bomb": ({"props": {"names": "{0: " + "[" * 200_000}}, "names"),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
@pytest.mark.slow
def test_hostile_onnx_files_give_one_line_everywhere(case: str, tmp_path: Path) -> None:
    kw, match = FILE_CASES[case]
    path = make_onnx(tmp_path / f"{case}.onnx", **kw)
    if "props" in kw and "names" in kw["props"]:  # YOLOv5 metadata is not yolocls metadata for `info`
        err = _one_line_error(["info", "--weights", str(path)])
    else:
        err = _one_line_error(["info", "--weights", str(path)])
        assert match in err, err
    from yolocls import runtime

    for backend in [b for b in ("onnxruntime", "openvino") if b in runtime.available_backends()]:
        with pytest.raises(YoloclsError) as e:
            runtime.load(path, backend=backend)
        assert "\n" not in str(e.value)
        if "names" not in kw.get("props", {}):
            assert match in str(e.value), (backend, str(e.value))


def test_ort_backend_refuses_a_non_2d_output_at_run_time(tmp_path: Path) -> None:
    """A graph that declares [N, 3] but returns [N, 3, 1, 1] (no Flatten): MetadataError, not a TypeError."""
    pytest.importorskip("onnxruntime")
    from yolocls import runtime

    path = make_onnx(tmp_path / "liar.onnx")
    proto = onnx.load(str(path))
    del proto.graph.node[1:]
    proto.graph.node[0].output[0] = "output0"
    onnx.save(proto, str(path))
    with runtime.load(path, backend="onnxruntime") as be, pytest.raises(MetadataError, match="returned shape"):
        be.predict(np.zeros((40, 48, 3), np.uint8))


def test_infer_imgsz_flag_is_bounded(tmp_path: Path) -> None:
    from yolocls.cli.infer import _flag_metadata

    path = make_onnx(tmp_path / "nometa.onnx", props={}, in_dims=["batch", 3, "h", "w"])
    with pytest.raises(InputError, match="4096"):
        _flag_metadata(path, "a,b,c", 16384)
    assert _flag_metadata(path, "a,b,c", 64).imgsz == 64


# ------------------------------------------------------------------------------------------------- finding 11
def test_torch_backend_after_close_raises_the_closed_error() -> None:
    torch = pytest.importorskip("torch")
    from yolocls.runtime.torch_backend import TorchBackend

    be = TorchBackend(torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(3, 2)),
                      metadata=ModelMetadata(names=["a", "b"], preprocess=__import__(
                          "yolocls.spec.preprocess", fromlist=["PreprocessConfig"]).PreprocessConfig(imgsz=16)))
    assert len(be.predict(np.zeros((20, 20, 3), np.uint8))[0]) == 2
    be.close()
    with pytest.raises(InputError, match="closed"):
        be.predict(np.zeros((20, 20, 3), np.uint8))


def test_predict_takes_memoryview_like_the_extension(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from yolocls import runtime

    path = make_onnx(tmp_path / "m.onnx")
    img = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    with runtime.load(path, backend="onnxruntime") as be:
        ref = be.predict(img)
        assert be.predict(memoryview(img)) == ref
        assert be.predict([memoryview(img), img]) == ref * 2
        assert be.predict(memoryview(np.stack([img, img]))) == ref * 2
        with pytest.raises(InputError):
            be.predict(memoryview(b"not an image"))


def test_api_metadata_refuses_string_or_nested_names_and_non_integer_imgsz() -> None:
    from yolocls.spec.preprocess import PreprocessConfig

    for names in ("cat", [["cat"]], [1, 2]):
        with pytest.raises(InputError, match="names must be a list"):
            ModelMetadata(names=names, preprocess=PreprocessConfig())  # type: ignore[arg-type]
    for side in ("16", 16.7):
        with pytest.raises(InputError, match="imgsz"):
            PreprocessConfig(imgsz=side)  # type: ignore[arg-type]
