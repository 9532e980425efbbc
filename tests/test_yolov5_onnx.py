"""YOLOv5's own ONNX (issue 13, done-when) and the one metadata reader (yolocls.spec.metadata).

The ONNX is made here the way YOLOv5's export.py makes a classifier's: ``torch.onnx.export`` of the module with a
static ``[1, 3, H, W]`` input, then metadata_props ``stride`` = ``'32'`` and ``names`` = ``str(dict)`` (written
for this test, no YOLOv5 code). Every reader accepts it: ``runtime.load`` (ONNX Runtime, OpenVINO), the C++ runtime
reading the metadata itself (``_C.Runtime``/``_C.read_metadata``), ``yolocls info`` and the Triton export.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from yolocls import _native
from yolocls.errors import InputError, MetadataError
from yolocls.spec.metadata import (
    BatchProfile,
    EngineFacts,
    ModelMetadata,
    class_names,
    file_sha256,
    metadata_from_checkpoint,
    parse_trt_version,
    read_model_info,
    sidecar_path,
)
from yolocls.spec.preprocess import IMAGENET_MEAN, IMAGENET_STD, PreprocessConfig, reference

NAMES = {0: "cat", 1: "dog's", 2: "caf\u00e9"}
IMGSZ = 32


def _yolov5_onnx(path: Path, names: dict[int, str] | str = NAMES, imgsz: int = IMGSZ, channels: int = 3) -> Path:
    """A classifier exported as YOLOv5's export.py does: static shape, props stride and names = str(dict)."""
    onnx = pytest.importorskip("onnx")
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(channels, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.SiLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 3)).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, channels, imgsz, imgsz),), str(path), dynamo=False, opset_version=12,
                          input_names=["images"], output_names=["output0"], do_constant_folding=True)
    m = onnx.load(str(path))
    for k, v in {"stride": 32, "names": names}.items():
        m.metadata_props.add(key=k, value=str(v))
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def v5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _yolov5_onnx(tmp_path_factory.mktemp("v5") / "yolov5-tiny-cls.onnx")


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (40 + 8 * i, 48, 3), dtype=np.uint8) for i in range(3)]


def _ort_logits(path: Path, frames: list[np.ndarray]) -> np.ndarray:
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"images": reference([f], PreprocessConfig(imgsz=IMGSZ))})[0]
                           for f in frames])


# ---------------------------------------------------------------------------------------------- the one reader
def test_reader_takes_yolov5s_onnx(v5: Path) -> None:
    info = read_model_info(v5)
    meta = info.metadata
    assert info.source == "yolov5" and meta.names == list(NAMES.values())
    assert info.input_shape == (1, 3, IMGSZ, IMGSZ) and info.static_batch == 1 and info.input_dtype == "float32"
    assert info.output_shape == (1, 3) and info.input_name == "images"
    assert meta.imgsz == IMGSZ and meta.stride == 32 and meta.model == "yolov5-tiny-cls"
    assert not meta.dynamic and meta.batch == 1 and meta.engine is None
    pp = meta.preprocess  # YOLOv5's classify preprocessing
    assert (pp.crop, pp.mean, pp.std, pp.channel_order) == ("center", IMAGENET_MEAN, IMAGENET_STD, "RGB")
    with pytest.raises(MetadataError, match=r"has no yolocls metadata.*--names"):
        read_model_info(v5, allow_yolov5=False)  # export.onnx.read_metadata: ours only


@pytest.mark.parametrize("case", ["names-garbage", "names-too-many", "side-too-big", "gray", "stride-garbage"])
def test_reader_refuses_hostile_yolov5_onnx(case: str, tmp_path: Path) -> None:
    kw: dict = {
        "names-garbage": {"names": "{0: cat}"},
        "names-too-many": {"names": "[" + "'a', " * 100_000 + "'a']"},
        "side-too-big": {"imgsz": 4100},
        "gray": {"channels": 1},
        "stride-garbage": {},
    }[case]
    path = _yolov5_onnx(tmp_path / "m.onnx", **kw)
    if case == "stride-garbage":  # a stride that is not a number is ignored (YOLOv5's default 32), not fatal
        import onnx

        m = onnx.load(str(path))
        next(p for p in m.metadata_props if p.key == "stride").value = "x" * 50
        onnx.save(m, str(path))
        assert read_model_info(path).metadata.stride == 32
        return
    want = {"names-garbage": r"'names' metadata is not a Python dict.*pass the class names explicitly",
            "names-too-many": "more than 100000 names", "side-too-big": "input side 4100 is over the limit of 4096",
            "gray": "input has 1 channels"}[case]
    with pytest.raises(MetadataError, match=want) as e:
        read_model_info(path)
    assert "\n" not in str(e.value)


def test_reader_refuses_other_files(tmp_path: Path) -> None:
    (tmp_path / "w.pt").write_bytes(b"x")
    with pytest.raises(InputError, match=r"w\.pt: metadata is read from \.onnx files and engine sidecars"):
        read_model_info(tmp_path / "w.pt")
    with pytest.raises(FileNotFoundError):
        read_model_info(tmp_path / "none.onnx")


def _engine(tmp_path: Path, profile: BatchProfile, **facts: object) -> Path:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized engine")
    meta = ModelMetadata(names=["a", "b"], preprocess=PreprocessConfig(imgsz=48), model="m",
                         dynamic=profile.min != profile.max, batch=profile.max)
    kw = {"tensorrt_version": "10.3.0.26", "gpu_name": "Orin", "compute_capability": "8.7", "precision": "fp16",
          "profile": profile, "engine_sha256": file_sha256(engine), **facts}
    meta.engine = EngineFacts(**kw)  # type: ignore[arg-type]
    sidecar_path(engine).write_text(meta.to_json())
    return engine


def test_reader_types_the_engine_sidecar(tmp_path: Path) -> None:
    engine = _engine(tmp_path, BatchProfile(1, 2, 8), dla_core=1, gpu_fallback=True, builder_flags=("FP16",))
    info = read_model_info(engine)
    facts = info.engine
    assert info.source == "sidecar" and facts is not None and info.metadata.extra == {}
    assert facts.profile == BatchProfile(1, 2, 8) and facts.profile.max == 8 and facts.precision == "fp16"
    assert facts.trt_version == (10, 3, 0) and facts.dla == {"core": 1, "gpu_fallback": True}
    assert facts.builder_flags == ("FP16",)
    assert info.input_shape == (None, 3, 48, 48) and info.output_shape == (None, 2)
    raw = json.loads(sidecar_path(engine).read_text())  # the file format is unchanged: top-level keys
    assert raw["profile"] == {"min": 1, "opt": 2, "max": 8} and raw["tensorrt_version"] == "10.3.0.26"
    assert ModelMetadata.from_json(sidecar_path(engine).read_text()).to_dict() == info.metadata.to_dict()
    static = _engine(tmp_path, BatchProfile(4, 4, 4))
    assert read_model_info(static).input_shape == (4, 3, 48, 48)


@pytest.mark.parametrize("key,value,want", [
    ("profile", {"min": 4, "opt": 2, "max": 8}, "profile must be"),
    ("profile", {"min": 1, "opt": 1, "max": 10**9}, "profile must be"),
    ("precision", "fp8", "precision 'fp8' is not one of"),
    ("dla", {"core": "0"}, "'dla' must be null"),
    ("gpu_name", "", "gpu_name must be a non-empty string"),
    ("builder_flags", "FP16", "builder_flags must be a list"),
    ("build_seconds", "soon", "build_seconds must be null or a number"),
    ("tensorrt_version", None, "tensorrt_version must be a non-empty string"),
])
def test_reader_refuses_a_malformed_sidecar(tmp_path: Path, key: str, value: object, want: str) -> None:
    engine = _engine(tmp_path, BatchProfile(1, 1, 4))
    d = json.loads(sidecar_path(engine).read_text())
    d[key] = value
    sidecar_path(engine).write_text(json.dumps(d))
    with pytest.raises(MetadataError, match=want) as e:
        read_model_info(engine)
    assert "\n" not in str(e.value)
    del d[key]
    sidecar_path(engine).write_text(json.dumps(d))
    if key in ("profile", "precision", "gpu_name", "tensorrt_version"):  # required
        with pytest.raises(MetadataError, match=f"lacks {key}.*rebuild the engine"):
            read_model_info(engine)
    else:
        assert read_model_info(engine).engine is not None


def test_one_name_normalisation_and_one_version_parser() -> None:
    assert class_names({1: "b", 0: "a"}) == ["a", "b"] == class_names({"1": "b", "0": "a"}) == class_names(("a", "b"))
    assert class_names([], num_classes=3) == ["0", "1", "2"] and class_names(None, num_classes=2) == ["0", "1"]
    assert class_names({0: 7, 1: "x"}, coerce=True) == ["7", "x"]
    for bad, want in [({0: 7}, "each class name"), ({-1: "a"}, "names keys"), ({0: "a", "0": "b"}, "unique"),
                      ("ab", "a list of strings"), (["x" * 1025], "at most 1024 characters"),
                      (["\ud800"], "lone surrogate")]:
        with pytest.raises(MetadataError, match=want):
            class_names(bad)
    assert parse_trt_version("10.3.0.26") == (10, 3, 0)
    assert parse_trt_version("8.6.1") == (8, 6, 1) and parse_trt_version("10") == (10, 0, 0)
    assert parse_trt_version("10.0.1b") == (10, 0, 1) and parse_trt_version((10, 3)) == (10, 3, 0)


def test_checkpoint_metadata() -> None:
    meta = metadata_from_checkpoint({"names": ["a", "b"], "preprocess": {"imgsz": 64, "crop": "letterbox"},
                                     "config": {"model": "yolov5n-cls", "num_classes": 2}})
    assert meta.names == ["a", "b"] and meta.imgsz == 64 and meta.preprocess.crop == "letterbox"
    assert meta.model == "yolov5n-cls"
    v5 = metadata_from_checkpoint({"names": {0: "x", 1: 3}}, source="runs/yolov5s-cls.pt")  # YOLOv5's pickles
    assert v5.names == ["x", "3"] and v5.preprocess == PreprocessConfig() and v5.model == "yolov5s-cls"
    assert metadata_from_checkpoint({"config": {"num_classes": 2}}).names == ["0", "1"]
    with pytest.raises(MetadataError, match="preprocess.imgsz"):
        metadata_from_checkpoint({"names": ["a"], "preprocess": {"imgsz": 10**6}})


# ------------------------------------------------------------------------------------------ every reader of it
def test_runtime_load_onnxruntime(v5: Path, frames: list[np.ndarray]) -> None:
    from yolocls import runtime

    with runtime.load(v5, backend="onnxruntime", threads=1) as be:
        assert be.names == list(NAMES.values()) and be.metadata.imgsz == IMGSZ
        batch = reference(frames, PreprocessConfig(imgsz=IMGSZ))  # 3 images through a batch-1 file
        np.testing.assert_allclose(be.infer(batch), _ort_logits(v5, frames), rtol=1e-5, atol=1e-5)
        top = be.predict(frames, topk=2)
        assert len(top) == 3 and top[0][0].name in NAMES.values()


def _openvino_or_skip() -> None:
    from yolocls.runtime import available_backends

    if "openvino" not in available_backends():
        pytest.skip("the OpenVINO backend is not available here")


def test_runtime_load_openvino(v5: Path, frames: list[np.ndarray]) -> None:
    from yolocls import runtime

    _openvino_or_skip()
    with runtime.load(v5, backend="openvino", threads=1) as be:
        assert be.names == list(NAMES.values())
        batch = reference(frames, PreprocessConfig(imgsz=IMGSZ))
        np.testing.assert_allclose(be.infer(batch), _ort_logits(v5, frames), rtol=1e-4, atol=1e-4)
    from yolocls.runtime.openvino_backend import OpenVINOBackend

    with OpenVINOBackend(v5, threads=1) as be:  # without runtime.load's metadata: the same reader
        assert be.metadata.names == list(NAMES.values())


def test_cpp_runtime_reads_yolov5s_metadata_itself(v5: Path, frames: list[np.ndarray]) -> None:
    _openvino_or_skip()
    C = _native.load_extension()
    md = C.read_metadata(str(v5))
    assert md["names"] == list(NAMES.values()) and md["imgsz"] == IMGSZ and md["model"] == "yolov5-tiny-cls"
    assert str(md["crop"]).lower().endswith("center") and str(md["channel_order"]).upper().endswith("RGB")
    np.testing.assert_allclose(md["mean"], IMAGENET_MEAN, rtol=1e-6)
    rt = C.Runtime(str(v5))  # no preprocessing given: the C++ side reads the ONNX's metadata itself
    assert list(rt.names) == list(NAMES.values()) and rt.num_classes == 3 and rt.imgsz == IMGSZ
    got = np.stack([rt.logits([f], True)[0] for f in frames])
    np.testing.assert_allclose(got, _ort_logits(v5, frames), rtol=1e-4, atol=1e-4)


def test_cli_info(v5: Path) -> None:
    from typer.testing import CliRunner

    from yolocls.cli.app import app

    r = CliRunner().invoke(app, ["info", "--weights", str(v5), "--json"])
    assert r.exit_code == 0, r.output
    row = json.loads(r.output)
    assert row["names"] == list(NAMES.values()) and row["imgsz"] == [IMGSZ, IMGSZ] and row["metadata"] == "yolov5"
    assert row["input_shape"] == [1, 3, IMGSZ, IMGSZ] and row["format"] == "onnx"
    r = CliRunner().invoke(app, ["info", "--weights", str(v5)])
    assert r.exit_code == 0 and "dog's" in r.output and "yolov5-tiny-cls" in r.output, r.output


def test_cli_info_refuses_garbage_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from yolocls.cli.app import app

    bad = _yolov5_onnx(tmp_path / "bad.onnx", names="cat,dog")
    r = CliRunner().invoke(app, ["info", "--weights", str(bad)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "'names' metadata is not a Python dict" in r.output and len(r.output.strip().splitlines()) == 1, r.output


def test_triton_export(v5: Path, tmp_path: Path) -> None:
    from google.protobuf import text_format
    from test_export_interop import _model_config_pb2

    from yolocls.export.triton import export_triton

    out = export_triton(v5, tmp_path / "repo")
    assert out.name == "yolov5-tiny-cls" and out.max_batch_size == 0  # static batch: the full shape
    assert out.labels.read_text(encoding="utf-8").splitlines() == list(NAMES.values())
    cfg = text_format.Parse(out.config.read_text(encoding="utf-8"), _model_config_pb2().ModelConfig())
    assert cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 0
    assert list(cfg.input[0].dims) == [1, 3, IMGSZ, IMGSZ] and list(cfg.output[0].dims) == [1, 3]
    assert ModelMetadata.from_json(cfg.parameters["yolocls"].string_value).names == list(NAMES.values())


# ------------------------------------------------------------------------------- Python and C++ read it the same way
def _bare_onnx(path: Path, names: str) -> Path:
    """A [1, 3, 8, 8] -> [1, 3] graph (GlobalAveragePool, Flatten) with YOLOv5's props, made with onnx.helper."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["p"]), helper.make_node("Flatten", ["p"], ["output0"])],
        "g", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    for k, v in {"stride": "32", "names": names}.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path))
    return path


NAMES_CASES = [
    "{0: 'a', 1: 'b'}", "['x', \"y's\"]", "{1: 'b', 0: 'a'}", "{ 0 : 'a' }", "{0:'a',1:'b'}", "{}", "[]",
    r"{0: 'caf\xe9', 1: '\u00e9\U0001F600', 2: '\101\n', 3: 'a\'b', 4: 'c\\d', 5: '\t\a'}",
    str({0: "it's", 1: 'say "hi"', 2: "tab\there", 3: "\u00e9t\u00e9"}),  # Python's own repr
    "{0: 'a',}", "{0: 'a', 0: 'b'}", "{0: a}", "cat,dog", r"{0: '\ud800'}", "{0: 'a'} x", "{'0': 'a'}", "[1]",
    "{0: 'x' 'y'}", "{0: 'a']", "{1234567: 'a'}", r"{0: 'a\q'}", "{0: 'ab", "['" + "n" * 1025 + "']", "",
    " {0: 'a'}\n", "{0:\x0b'a'}", "{\u0661: 'a'}",  # ASCII whitespace and digits only (found by fuzzing)
    "{0: 'a\x00b'}", r"{0: 'a\x00b'}",  # a raw NUL is refused, an escaped one is a name
    r"{0: '\377\0\07'}", r"{0: '\410'}", r"{0: '\418\1234'}",  # octal up to \377
]


@pytest.mark.parametrize("text", NAMES_CASES, ids=range(len(NAMES_CASES)))
def test_python_and_cpp_parse_yolov5_names_alike(text: str, tmp_path: Path) -> None:
    from yolocls.spec.metadata import parse_yolov5_names

    C = _native.load_extension() if _native.available() else pytest.skip("yolocls._C is not built")
    path = _bare_onnx(tmp_path / "m.onnx", text)
    try:
        py: list[str] | str = parse_yolov5_names(text)
    except MetadataError as e:
        py = f"error: {e}"
    try:
        cpp: list[str] | str = list(C.read_metadata(str(path))["names"])
    except RuntimeError as e:
        cpp = f"error: {e}"
    assert isinstance(py, str) == isinstance(cpp, str), (py, cpp)  # both refuse, or both read ...
    if not isinstance(py, str):
        assert py == cpp  # ... the same names
    else:
        assert "\n" not in cpp and "'names' metadata" in cpp, cpp


def test_python_and_cpp_agree_on_mutated_names(tmp_path: Path) -> None:
    """A seeded batch of mutated names texts (quotes, escapes, ids, separators, non-ASCII, NUL) through both readers:
    both refuse, or both read the same names (the fixes above were found this way, at 8,000 cases)."""
    import random

    from yolocls.spec.metadata import parse_yolov5_names

    C = _native.load_extension() if _native.available() else pytest.skip("yolocls._C is not built")
    rng = random.Random(13)
    pool = [*"{}[]:,'\" \t\n\\xuU0123456789abq", "\\x41", "\\u00e9", "\u00e9", "\x0b", "\u0661", "\x00", "\\'",
            "\U0001F600"]
    seeds = [str(NAMES), str(["a", 'b"c', "d\\e"]), "{0: 'a\\x41\\101', 1: \"\\u00e9\"}"]
    outcomes = {"both read": 0, "both refuse": 0}
    for i in range(300):
        t = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            k = rng.randrange(len(t) + 1)
            op = rng.random()
            if op < 0.4 and t:
                del t[min(k, len(t) - 1)]
            elif op < 0.8:
                t.insert(k, rng.choice(pool))
            elif t:
                t[min(k, len(t) - 1)] = rng.choice(pool)
        text = "".join(t)
        path = _bare_onnx(tmp_path / f"m{i % 2}.onnx", text)
        try:
            py: list[str] | None = parse_yolov5_names(text)
        except MetadataError:
            py = None
        try:
            cpp: list[str] | None = list(C.read_metadata(str(path))["names"])
        except RuntimeError:
            cpp = None
        assert py == cpp, text
        outcomes["both read" if py is not None else "both refuse"] += 1
    assert min(outcomes.values()) >= 30, outcomes  # the batch exercises both outcomes
