"""TensorRT engine build and runtime.

Without TensorRT (every CPU machine): the pure logic is tested for real - batch profiles, precision routes by
TensorRT version, flag checks, the ONNX input inspection, the sidecar, the INT8 calibration feeder on real images
through the reference preprocessing, and the CLI's one-line errors. Tests marked ``tensorrt`` build and run real
engines; they skip cleanly where ``import tensorrt`` fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from yolocls.errors import BackendUnavailableError, DatasetError, EngineMismatchError, InputError, MetadataError
from yolocls.export.calibration import (
    CalibrationBatches,
    list_calibration_images,
    read_calibration_cache,
    write_calibration_cache,
)
from yolocls.export.tensorrt import (
    BatchProfile,
    build_sidecar,
    inspect_onnx,
    resolve_profile,
    select_precision_route,
    validate_build_flags,
)
from yolocls.metadata import ModelMetadata
from yolocls.runtime.sidecar import (
    check_engine_compatible,
    file_sha256,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)
from yolocls.runtime.tensorrt_python import (
    RunnerSettings,
    check_linear_io,
    runner_settings,
    tensorrt_available,
    trt_version_tuple,
)
from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

# Not pytest.importorskip("tensorrt"): tensorrt-stubs (dev extra) leaves a `tensorrt` namespace folder that imports.
HAS_TRT = tensorrt_available()
needs_tensorrt = pytest.mark.skipif(not HAS_TRT, reason="needs TensorRT (not installed here)")

NAMES = ["cat", "dog", "bird", "fish"]


def tiny_onnx(path: Path, batch: int | None = None, imgsz: int = 32, fp16: bool = False, metadata: bool = True) -> Path:
    """A real (tiny) classifier ONNX: GlobalAveragePool -> Flatten -> Gemm, with yolocls metadata."""
    import onnx
    from onnx import TensorProto, helper

    from yolocls.export.onnx import write_metadata

    rng = np.random.default_rng(0)
    w = rng.standard_normal((len(NAMES), 3)).astype(np.float32)
    b = rng.standard_normal(len(NAMES)).astype(np.float32)
    n: int | str = batch if batch is not None else "batch"
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["images"], ["gap"]),
         helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
         helper.make_node("Gemm", ["flat", "W", "B"], ["output0"], transB=1)],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [n, 3, imgsz, imgsz])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [n, len(NAMES)])],
        [helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.ravel()),
         helper.make_tensor("B", TensorProto.FLOAT, b.shape, b)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if fp16:
        from yolocls.export.fp16 import convert_to_fp16

        model = convert_to_fp16(model)
    if metadata:
        meta = ModelMetadata(names=NAMES, preprocess=PreprocessConfig(imgsz=imgsz), model="tiny",
                             dynamic=batch is None, batch=batch or 1)
        write_metadata(model, meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


# --------------------------------------------------------------------------------------------- batch profile


def test_profile_dynamic_defaults_and_flags() -> None:
    assert resolve_profile((None, 3, 32, 32)) == BatchProfile(1, 1, 8)
    assert resolve_profile((None, 3, 32, 32), 1, 4, 16) == BatchProfile(1, 4, 16)
    assert resolve_profile((None, 3, 32, 32), 2, None, None) == BatchProfile(2, 2, 8)
    assert resolve_profile((None, 3, 32, 32), 1, 32, None) == BatchProfile(1, 32, 32)  # max follows a big opt


def test_profile_static_batch() -> None:
    assert resolve_profile((4, 3, 32, 32)) == BatchProfile(4, 4, 4)
    assert resolve_profile((4, 3, 32, 32), 4, 4, 4) == BatchProfile(4, 4, 4)
    with pytest.raises(InputError, match=r"static batch of 1 .*--max-batch 8.*--dynamic"):
        resolve_profile((1, 3, 32, 32), max_batch=8)
    with pytest.raises(InputError, match="--opt-batch 2"):
        resolve_profile((4, 3, 32, 32), opt_batch=2)


@pytest.mark.parametrize("lo,opt,hi", [(4, 2, 8), (1, 9, 8), (0, None, None), (1, 1, 0)])
def test_profile_rejects_bad_ranges(lo: int, opt: int | None, hi: int | None) -> None:
    with pytest.raises(InputError, match="batch"):
        resolve_profile((None, 3, 32, 32), lo, opt, hi)


def test_profile_dla_is_one_fixed_batch() -> None:
    """DLA needs min = opt = max: a dynamic ONNX gets (B, B, B) from the one batch size the flags name."""
    dyn = (None, 3, 32, 32)
    assert resolve_profile(dyn, dla=True) == BatchProfile(1, 1, 1)
    assert resolve_profile(dyn, opt_batch=4, dla=True) == BatchProfile(4, 4, 4)
    assert resolve_profile(dyn, max_batch=8, dla=True) == BatchProfile(8, 8, 8)
    assert resolve_profile(dyn, min_batch=2, dla=True) == BatchProfile(2, 2, 2)
    assert resolve_profile(dyn, 4, 4, 4, dla=True) == BatchProfile(4, 4, 4)
    assert resolve_profile((2, 3, 32, 32), dla=True) == BatchProfile(2, 2, 2)  # a static ONNX is static anyway
    # without DLA the same flags keep their range meaning
    assert resolve_profile(dyn, max_batch=8) == BatchProfile(1, 1, 8)


@pytest.mark.parametrize("lo,opt,hi", [(1, None, 8), (1, 4, None), (None, 2, 8), (2, 2, 4)])
def test_profile_dla_refuses_a_range(lo: int | None, opt: int | None, hi: int | None) -> None:
    with pytest.raises(InputError, match=r"DLA engines run one fixed batch size \(TensorRT needs min = opt = max "
                                         r"on DLA\) but --.* asks a range; pass one size \(e\.g\. --opt-batch \d+"):
        resolve_profile((None, 3, 32, 32), lo, opt, hi, dla=True)


def test_profile_rejects_dynamic_spatial_axes() -> None:
    with pytest.raises(InputError, match="--imgsz"):
        resolve_profile((None, 3, None, None))


# --------------------------------------------------------------------------------------------- precision route


def test_version_parsing() -> None:
    assert trt_version_tuple("10.13.0.35") == (10, 13, 0)
    assert trt_version_tuple("8.6.1") == (8, 6, 1)
    assert trt_version_tuple("11.0") == (11, 0, 0)
    assert trt_version_tuple("10.3.0.post1") == (10, 3, 0)


@pytest.mark.parametrize("version", ["8.6.1", "10.3.0", "10.13.0.35"])
def test_route_weakly_typed_versions(version: str) -> None:
    r = select_precision_route(version, fp16=True)
    assert (r.precision, r.builder_flags, r.strongly_typed, r.calibrator) == ("fp16", ("FP16",), False, False)
    r = select_precision_route(version, fp16=False)
    assert (r.precision, r.builder_flags) == ("fp32", ())
    r = select_precision_route(version, fp16=True, int8=True)
    assert (r.precision, r.builder_flags, r.calibrator) == ("int8", ("INT8", "FP16"), True)
    assert select_precision_route(version, fp16=False, int8=True).builder_flags == ("INT8",)


def test_route_tensorrt_11_strongly_typed() -> None:
    r = select_precision_route("11.0.0", fp16=True)
    assert (r.precision, r.builder_flags, r.strongly_typed, r.needs_fp16_onnx) == ("fp16", (), True, True)
    r = select_precision_route("11.2", fp16=True, onnx_fp16=True)
    assert (r.precision, r.strongly_typed, r.needs_fp16_onnx) == ("fp16", True, False)
    r = select_precision_route("11.2", fp16=False)
    assert (r.precision, r.strongly_typed, r.needs_fp16_onnx) == ("fp32", True, False)
    with pytest.raises(InputError, match="Q/DQ"):
        select_precision_route("11.0", fp16=True, int8=True)
    with pytest.raises(InputError, match="--no-half"):
        select_precision_route("11.0", fp16=False, onnx_fp16=True)


# --------------------------------------------------------------------------------------------- flag checks


def test_flags_default_output(tmp_path: Path) -> None:
    assert validate_build_flags(tmp_path / "m.onnx") == tmp_path / "m.engine"
    assert validate_build_flags(tmp_path / "m.onnx", tmp_path / "x.plan") == tmp_path / "x.plan"


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"int8": True}, "--calib-data"),
        ({"calib_data": "."}, "only apply to --int8"),
        ({"calib_cache": "c.cache"}, "only apply to --int8"),
        ({"int8": True, "calib_data": "/no/such/dir"}, "not a folder"),
        ({"int8": True, "calib_data": ".", "calib_images": 0}, "--calib-images"),
        ({"gpu_fallback": True}, "--dla-core"),
        ({"dla_core": -1}, "--dla-core"),
        ({"dla_core": 0, "fp16": False}, "FP16 or INT8"),
        ({"builder_level": 6}, "0..5"),
        ({"workspace_gib": 0}, "--workspace"),
        ({"output": "model.onnx"}, "overwrite"),
    ],
)
def test_flags_contradictions(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        validate_build_flags(tmp_path / "m.onnx", **kwargs)


def test_flags_int8_from_existing_cache(tmp_path: Path) -> None:
    cache = tmp_path / "calib.cache"
    with pytest.raises(InputError, match="--calib-cache"):  # not there yet: no way to calibrate
        validate_build_flags(tmp_path / "m.onnx", int8=True, calib_cache=cache)
    cache.write_bytes(b"TRT-8601-EntropyCalibration2\nimages: 3c010a14\n")
    validate_build_flags(tmp_path / "m.onnx", int8=True, calib_cache=cache)
    validate_build_flags(tmp_path / "m.onnx", int8=True, dla_core=0, gpu_fallback=True, calib_cache=cache)


# --------------------------------------------------------------------------------------------- ONNX inspection


def test_inspect_onnx_dynamic_and_static(tmp_path: Path) -> None:
    info = inspect_onnx(tiny_onnx(tmp_path / "d.onnx"))
    assert (info.name, info.shape, info.dynamic_batch, info.fp16) == ("images", (None, 3, 32, 32), True, False)
    assert info.metadata.names == NAMES and info.metadata.imgsz == 32
    info = inspect_onnx(tiny_onnx(tmp_path / "s.onnx", batch=2, imgsz=48))
    assert (info.shape, info.static_batch) == ((2, 3, 48, 48), 2)


def test_inspect_onnx_fp16(tmp_path: Path) -> None:
    info = inspect_onnx(tiny_onnx(tmp_path / "h.onnx", fp16=True))
    assert info.fp16 and info.input_dtype == "float32"  # fp32 I/O around FP16 weights


def test_inspect_onnx_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        inspect_onnx(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(InputError, match="not a readable ONNX"):
        inspect_onnx(bad)
    with pytest.raises(MetadataError, match="yolocls export"):
        inspect_onnx(tiny_onnx(tmp_path / "nometa.onnx", metadata=False))


# --------------------------------------------------------------------------------------------- sidecar


def make_sidecar(engine: Path, trt: str = "10.3.0", gpu: str = "Orin", cc: str = "8.7") -> ModelMetadata:
    onnx_meta = ModelMetadata(names=NAMES, preprocess=PreprocessConfig(imgsz=32), model="tiny")
    return build_sidecar(onnx_meta, engine_sha256=file_sha256(engine), onnx_sha256="ab" * 32, trt_version=trt,
                         gpu_name=gpu, compute_capability=cc, route=select_precision_route(trt, True),
                         profile=BatchProfile(1, 2, 8), dynamic=True, dla_core=0, gpu_fallback=True,
                         build_seconds=12.3456)


def test_sidecar_roundtrip(tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized engine bytes")
    path = write_sidecar(engine, make_sidecar(engine))
    assert path == sidecar_path(engine) == tmp_path / "m.engine.json"
    raw = json.loads(path.read_text())
    assert raw["names"] == NAMES and raw["imgsz"] == [32, 32] and raw["preprocess"]["crop"] == "center"
    assert raw["tensorrt_version"] == "10.3.0" and raw["compute_capability"] == "8.7"
    assert raw["profile"] == {"min": 1, "opt": 2, "max": 8}
    assert raw["precision"] == "fp16" and raw["builder_flags"] == ["FP16"]
    assert raw["dla"] == {"core": 0, "gpu_fallback": True} and raw["build_seconds"] == 12.346
    meta = read_sidecar(engine)
    assert meta.names == NAMES and meta.engine is not None and meta.engine.gpu_name == "Orin"
    assert meta.engine.profile == BatchProfile(1, 2, 8) and meta.engine.dla_core == 0 and meta.extra == {}
    check_engine_compatible(meta, "10.3.0.26", "NVIDIA Orin", "8.7", engine)  # build number and prefix ignored
    check_engine_compatible(meta, "10.3.0", "orin", (8, 7), engine)


def test_sidecar_mismatch(tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    meta = make_sidecar(engine)
    with pytest.raises(EngineMismatchError, match=r"TensorRT 10\.3\.0 but TensorRT 10\.4\.0 .*build-engine"):
        check_engine_compatible(meta, "10.4.0", "Orin", "8.7", engine)
    with pytest.raises(EngineMismatchError, match=r"built for Orin \(compute capability 8\.7\).*H100.*rebuild"):
        check_engine_compatible(meta, "10.3.0", "NVIDIA H100 80GB HBM3", "9.0", engine)
    with pytest.raises(EngineMismatchError, match="GeForce RTX 3090"):  # same architecture, other GPU
        check_engine_compatible(make_sidecar(engine, gpu="NVIDIA GeForce RTX 3080", cc="8.6"), "10.3.0",
                                "NVIDIA GeForce RTX 3090", "8.6", engine)


def test_sidecar_missing_garbage_incomplete_stale(tmp_path: Path) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    with pytest.raises(MetadataError, match=r"engine metadata .*m\.engine\.json not found"):
        read_sidecar(engine)
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(MetadataError, match="not valid JSON"):
        read_sidecar(engine)
    sidecar_path(engine).write_text(json.dumps({"names": NAMES, "imgsz": 32}))  # an ONNX-style metadata only
    with pytest.raises(MetadataError, match=r"lacks tensorrt_version, .*not written by yolocls build-engine"):
        read_sidecar(engine)
    d = make_sidecar(engine).to_dict()
    d["profile"] = {"min": 4, "opt": 2, "max": 8}  # every key there, the profile out of order
    sidecar_path(engine).write_text(json.dumps(d))
    with pytest.raises(MetadataError, match=r"1 <= min <= opt <= max.*got \{'min': 4, 'opt': 2, 'max': 8\}"):
        read_sidecar(engine)
    write_sidecar(engine, make_sidecar(engine))
    engine.write_bytes(b"rebuilt by trtexec")  # the sidecar no longer describes these bytes
    with pytest.raises(MetadataError, match="other engine bytes"):
        read_sidecar(engine)
    assert read_sidecar(engine, check_hash=False).names == NAMES


def test_runner_settings_carry_the_dla_core(tmp_path: Path) -> None:
    """The Python runner's settings come from the sidecar: a DLA engine's core (set before deserialising)."""
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    write_sidecar(engine, make_sidecar(engine))  # built with dla_core=0
    assert runner_settings(read_sidecar(engine)) == RunnerSettings(dla_core=0)
    onnx_meta = ModelMetadata(names=NAMES, preprocess=PreprocessConfig(imgsz=32), model="tiny")
    gpu = build_sidecar(onnx_meta, engine_sha256="cd" * 32, onnx_sha256="ab" * 32, trt_version="10.3.0",
                        gpu_name="Orin", compute_capability="8.7", route=select_precision_route("10.3.0", True),
                        profile=BatchProfile(1, 1, 8), dynamic=True)
    assert runner_settings(gpu) == RunnerSettings(dla_core=None)
    dla1 = build_sidecar(onnx_meta, engine_sha256="cd" * 32, onnx_sha256="ab" * 32, trt_version="10.3.0",
                         gpu_name="Orin", compute_capability="8.7", route=select_precision_route("10.3.0", True),
                         profile=BatchProfile(4, 4, 4), dynamic=False, dla_core=1)
    assert runner_settings(dla1).dla_core == 1


@pytest.mark.parametrize("dla", [{"core": -1}, {"core": "0"}, {"core": True}, {"core": 0.5}, {}, 0, "dla0"])
def test_runner_settings_refuse_a_malformed_dla(tmp_path: Path, dla: object) -> None:
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    d = make_sidecar(engine).to_dict()
    d["dla"] = dla
    sidecar_path(engine).write_text(json.dumps(d))
    with pytest.raises(MetadataError, match=r"'dla' must be null or \{\"core\": N, \.\.\.\}.*rebuild the engine"):
        runner_settings(read_sidecar(engine))


def test_backend_refuses_a_malformed_dla_before_tensorrt(tmp_path: Path) -> None:
    from yolocls.runtime.tensorrt_backend import TensorRTBackend

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    d = make_sidecar(engine).to_dict()
    d["dla"] = {"core": "zero"}
    sidecar_path(engine).write_text(json.dumps(d))
    with pytest.raises(MetadataError, match="'dla' must be null"):
        TensorRTBackend(engine, impl="python")


def test_non_linear_io_is_refused_naming_the_tensor() -> None:
    check_linear_io("m.engine", "images", "input", "LINEAR")
    check_linear_io("m.engine", "images", "input", "TensorFormat.LINEAR", "Row major linear FP32 format")
    with pytest.raises(InputError, match=r"^engine m\.engine: input tensor 'images' has format HWC8 \(Eight channel "
                                         r"format\), but yolocls only reads linear .*--inputIOFormats"):
        check_linear_io("m.engine", "images", "input", "TensorFormat.HWC8", "Eight channel format")
    with pytest.raises(InputError, match=r"output tensor 'output0' has format CHW4, but"):
        check_linear_io("m.engine", "output0", "output", "CHW4")


def test_backend_checks_sidecar_before_tensorrt(tmp_path: Path) -> None:
    from yolocls.runtime.tensorrt_backend import TensorRTBackend

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    with pytest.raises(MetadataError, match="not found"):
        TensorRTBackend(engine, impl="python")
    with pytest.raises(InputError, match="not found"):
        TensorRTBackend(tmp_path / "none.engine")
    if not HAS_TRT:
        write_sidecar(engine, make_sidecar(engine))
        with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
            TensorRTBackend(engine, impl="python")


# --------------------------------------------------------------------------------------------- calibration


def test_calibration_batches_match_reference(fixture_images: list[Path], tmp_path: Path) -> None:
    from yolocls.data.io import imread

    cfg = PreprocessConfig(imgsz=40)
    feeder = CalibrationBatches(fixture_images[0].parent, cfg, batch_size=2, max_images=5)
    batches = list(feeder)
    assert len(batches) == 2 and feeder.images_used == 4 and feeder.skipped == 0  # 5 images -> 2 whole batches
    for b in batches:
        assert b.shape == (2, 3, 40, 40) and b.dtype == np.float32 and b.flags.c_contiguous
    # The first batch is the reference preprocessing of the first two picked images (BGR files), to the 1e-5
    # the C++ kernel (the fast path the feeder uses when built) is held to.
    picked = feeder.files[:2]
    ref = preprocess_with([imread(p) for p in picked], cfg, bgr=True, dtype=np.float32)
    np.testing.assert_allclose(batches[0], ref, rtol=0, atol=1e-5)
    assert float(np.abs(batches[0]).max()) > 0.5  # real pixels, not zeros
    # next_batch/reset: the TensorRT calibrator's access pattern
    assert feeder.next_batch() is not None and feeder.next_batch() is not None and feeder.next_batch() is None
    feeder.reset()
    np.testing.assert_array_equal(feeder.next_batch(), batches[0])


def test_calibration_skips_corrupt_and_limits(fixture_images: list[Path], tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "calib" / "cls"
    folder.mkdir(parents=True)
    for p in fixture_images[:3]:
        shutil.copy(p, folder / p.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("not an image")
    files = list_calibration_images(tmp_path / "calib", limit=100)
    assert len(files) == 4 and all(f.suffix != ".txt" for f in files)
    assert files == list_calibration_images(tmp_path / "calib", limit=100)  # seeded: reproducible
    assert len(list_calibration_images(tmp_path / "calib", limit=2)) == 2
    feeder = CalibrationBatches(tmp_path / "calib", PreprocessConfig(imgsz=32), batch_size=1, max_images=100)
    assert len(list(feeder)) == 3 and feeder.skipped == 1
    big = CalibrationBatches(tmp_path / "calib", PreprocessConfig(imgsz=32), batch_size=64)
    assert big.batch_size == 4  # lowered to the number of images
    with pytest.raises(DatasetError, match="does not exist"):
        CalibrationBatches(tmp_path / "missing", PreprocessConfig())
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        CalibrationBatches(tmp_path / "empty", PreprocessConfig())


def test_calibration_cache_roundtrip(tmp_path: Path) -> None:
    cache = tmp_path / "sub" / "calib.cache"
    assert read_calibration_cache(None) is None and read_calibration_cache(cache) is None
    write_calibration_cache(cache, b"")  # nothing to write: no empty file that would look like a cache
    assert not cache.exists()
    write_calibration_cache(cache, b"TRT-100300-EntropyCalibration2\n")
    assert read_calibration_cache(cache) == b"TRT-100300-EntropyCalibration2\n"
    cache.write_bytes(b"")
    assert read_calibration_cache(cache) is None


# --------------------------------------------------------------------------------------------- CLI


def _cli(args: list[str]):  # noqa: ANN202
    from yolocls.cli.app import app

    return CliRunner().invoke(app, args)


def _one_error_line(result) -> str:  # noqa: ANN001
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.skipif(HAS_TRT, reason="checks the message shown where TensorRT is missing")
def test_cli_without_tensorrt(tmp_path: Path) -> None:
    onnx = tiny_onnx(tmp_path / "m.onnx")
    result = _cli(["build-engine", "--onnx", str(onnx)])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "TensorRT is not installed" in line and "pip install tensorrt" in line and "JetPack" in line
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.parametrize(
    "extra,match",
    [
        (["--gpu-fallback"], "--dla-core"),
        (["--int8"], "--calib-data"),
        (["--max-batch", "8"], "static batch of 1"),
        (["--builder-level", "9"], "0..5"),
    ],
)
def test_cli_contradictory_flags(tmp_path: Path, extra: list[str], match: str) -> None:
    onnx = tiny_onnx(tmp_path / "m.onnx", batch=1)
    result = _cli(["build-engine", "--onnx", str(onnx), *extra])
    assert result.exit_code == 2
    assert match in _one_error_line(result)


def test_cli_dla_with_a_batch_range(tmp_path: Path) -> None:
    onnx = tiny_onnx(tmp_path / "m.onnx")  # dynamic batch
    result = _cli(["build-engine", "--onnx", str(onnx), "--dla-core", "0", "--min-batch", "1", "--max-batch", "8"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "DLA engines run one fixed batch size" in line and "--min-batch 1 --max-batch 8 asks a range" in line
    assert not (tmp_path / "m.engine").exists()


@pytest.mark.slow
def test_cli_entry_point_subprocess(tmp_path: Path) -> None:
    onnx = tiny_onnx(tmp_path / "m.onnx")
    proc = subprocess.run([sys.executable, "-m", "yolocls", "build-engine", "--onnx", str(onnx), "--opt-batch", "9",
                           "--max-batch", "4"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "min <= opt <= max" in proc.stderr


# --------------------------------------------------------------------------------------------- real TensorRT


@pytest.mark.tensorrt
@pytest.mark.cuda
@needs_tensorrt
def test_engine_matches_onnxruntime(tmp_path: Path, fixture_images: list[Path]) -> None:
    import onnxruntime as ort

    from yolocls.data.io import imread
    from yolocls.export.tensorrt import build_engine
    from yolocls.runtime.tensorrt_backend import TensorRTBackend

    onnx = tiny_onnx(tmp_path / "m.onnx")
    result = build_engine(onnx, fp16=False, max_batch=4, timing_cache=tmp_path / "timing.cache", progress=False)
    assert result.engine.is_file() and result.sidecar == sidecar_path(result.engine)
    assert (tmp_path / "timing.cache").stat().st_size > 0
    meta = read_sidecar(result.engine)
    assert meta.engine is not None and meta.engine.profile == BatchProfile(1, 1, 4) and meta.engine.precision == "fp32"
    batch = preprocess_with([imread(p) for p in fixture_images[:3]], PreprocessConfig(imgsz=32))
    ref = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).run(None, {"images": batch})[0]
    with TensorRTBackend(result.engine, impl="python") as be:
        np.testing.assert_allclose(be.infer(batch), ref, rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(be.infer(np.concatenate([batch, batch])), np.concatenate([ref, ref]),
                                   rtol=1e-3, atol=1e-3)  # 6 > max batch 4: split in chunks
        preds = be.predict([imread(p) for p in fixture_images[:2]])
        assert preds[0][0].name in NAMES


@pytest.mark.tensorrt
@pytest.mark.cuda
@needs_tensorrt
def test_fp16_engine_and_mismatch(tmp_path: Path) -> None:
    import onnxruntime as ort

    from yolocls.export.tensorrt import build_engine
    from yolocls.runtime.tensorrt_backend import TensorRTBackend

    onnx = tiny_onnx(tmp_path / "m.onnx")
    result = build_engine(onnx, fp16=True, progress=False)
    assert result.precision == "fp16"
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    ref = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).run(None, {"images": x})[0]
    with TensorRTBackend(result.engine, impl="python") as be:
        np.testing.assert_allclose(be.infer(x), ref, rtol=2e-2, atol=2e-2)
    d = json.loads(result.sidecar.read_text())
    d["tensorrt_version"] = "7.0.0"
    result.sidecar.write_text(json.dumps(d))
    with pytest.raises(EngineMismatchError, match="rebuild"):
        TensorRTBackend(result.engine, impl="python")
