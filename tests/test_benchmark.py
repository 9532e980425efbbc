"""`yolocls benchmark`: statistics, backend skipping, export cache, table/JSON/markdown/plot, CLI, baseline script."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from yolocls.benchmark import report as br
from yolocls.benchmark import runner as bm
from yolocls.cli.app import app
from yolocls.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
FAST = {"imgsz": 64, "runs": 3, "warmup": 1, "threads": 1, "time_budget_s": 5.0, "min_runs": 2,
        "frame_hw": (72, 128)}


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-cache")


@pytest.fixture(scope="module")
def report(cache: Path) -> dict[str, Any]:
    settings = bm.BenchmarkSettings(batches=(1, 2), cache_dir=str(cache), **FAST)  # type: ignore[arg-type]
    return bm.run_benchmark(["tiny-cls"], settings=settings)


# ----------------------------------------------------------------------------------------------- statistics
def test_latency_stats_percentiles() -> None:
    s = br.latency_stats([float(i) for i in range(1, 101)])
    assert s["median_ms"] == pytest.approx(50.5)
    assert s["p90_ms"] == pytest.approx(90.1)
    assert s["p99_ms"] == pytest.approx(99.01)
    assert s["min_ms"] == 1.0 and s["mean_ms"] == pytest.approx(50.5)
    assert all(math.isnan(v) for v in br.latency_stats([]).values())
    assert br.images_per_second(4.0, 8) == pytest.approx(2000.0)
    assert math.isnan(br.images_per_second(float("nan"), 1))


def test_settings_and_parsers_reject_bad_values() -> None:
    assert bm.parse_batches("1, 8") == (1, 8)
    assert bm.parse_backends("ort,trt,torch,ort") == ["onnxruntime", "tensorrt", "torch"]
    assert bm.parse_backends("all") == list(bm.BACKEND_ORDER)
    for bad in ("1,x", "0", ""):
        with pytest.raises(InputError):
            bm.parse_batches(bad)
    with pytest.raises(InputError, match="unknown backend"):
        bm.parse_backends("tflite")
    with pytest.raises(InputError):
        bm.BenchmarkSettings(runs=0)
    with pytest.raises(InputError):
        bm.BenchmarkSettings(warmup=-1)


def test_resolve_models_all_is_the_zoo_without_test_models() -> None:
    names = bm.resolve_models(["all"])
    # yolov5n..x-cls, resnet18/34/50/101, efficientnet_b0..b3 (the issue's "ten" counts families' rows loosely)
    want = {f"yolov5{s}-cls" for s in "nsmlx"} | {f"resnet{d}" for d in (18, 34, 50, 101)} | {
        f"efficientnet_b{i}" for i in range(4)}
    assert set(names) == want and len(names) == 13
    assert bm.resolve_models(["yolov5n-cls,resnet18", "yolov5n-cls"]) == ["yolov5n-cls", "resnet18"]


def test_frames_are_distinct_uint8_bgr() -> None:
    f = bm.make_frames(2, 72, 128, seed=3)
    assert len(f) == 2 and f[0].shape == (72, 128, 3) and f[0].dtype == np.uint8
    assert not np.array_equal(f[0], f[1])
    assert np.array_equal(f[0], bm.make_frames(1, 72, 128, seed=3)[0])


# ----------------------------------------------------------------------------------------------- skipping
def test_skip_reasons(monkeypatch: pytest.MonkeyPatch) -> None:
    import yolocls.runtime as rt

    monkeypatch.setattr(rt, "available_backends", lambda: ["torch", "onnxruntime"])
    assert bm.skip_reason("torch") is None
    assert bm.skip_reason("onnxruntime") is None
    assert "not available here" in (bm.skip_reason("openvino") or "")
    assert "not available here" in (bm.skip_reason("tensorrt") or "")
    onnx_src = bm.ModelSource(name="m", digest="0", onnx_path=Path("m.onnx"))
    assert ".pt" in (bm.skip_reason("torch", "cpu", onnx_src) or "")
    monkeypatch.setattr(rt, "available_backends", lambda: list(bm.BACKEND_ORDER))
    assert "CPU only" in (bm.skip_reason("openvino", "0") or "")
    if not _has_cuda():
        assert "not available here" in (bm.skip_reason("tensorrt") or "")
        assert "no CUDA GPU" in (bm.skip_reason("torch", "0") or "")


@pytest.mark.slow
def test_rows_measure_available_backends_and_skip_the_rest(report: dict[str, Any]) -> None:
    from yolocls.runtime import available_backends

    rows = report["rows"]
    assert len(rows) == 4 * 2  # every backend x batch has a row, measured or not
    by = {(r["backend"], r["batch"]): r for r in rows}
    for backend in ("torch", "onnxruntime"):
        for b in (1, 2):
            r = by[(backend, b)]
            assert r["status"] == "ok", r
            assert 2 <= r["runs"] <= 3
            st = r["stages"]
            assert set(st) == {"preprocess", "inference", "postprocess", "end_to_end"}
            assert 0 < st["inference"]["median_ms"] <= st["inference"]["p90_ms"] <= st["inference"]["p99_ms"]
            # end to end covers every stage of the same calls
            assert st["end_to_end"]["median_ms"] >= st["inference"]["median_ms"]
            assert r["images_per_s"] == pytest.approx(b * 1e3 / st["end_to_end"]["median_ms"])
            assert r["params_m"] > 0 and r["gflops_true"] > 0
    trt = by[("tensorrt", 1)]
    if not _has_cuda():
        assert trt["status"] == "skipped" and "not available here" in trt["reason"]
    ov = by[("openvino", 1)]
    assert (ov["status"] == "skipped") == ("openvino" not in available_backends())
    assert report["machine"]["usable_cores"] >= 1 and report["machine"]["versions"]["numpy"]


def test_export_cache_is_reused(report: dict[str, Any], cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(cache.glob("tiny-cls-64-*.onnx"))
    assert len(files) == 1
    import yolocls.export.onnx as exp

    def no_export(*a: Any, **k: Any) -> None:
        raise AssertionError("cached export was rebuilt")

    monkeypatch.setattr(exp, "export_onnx", no_export)
    src = bm.zoo_source("tiny-cls", 64)
    assert bm.onnx_for(src, 64, cache) == files[0]
    other = bm.zoo_source("tiny-cls", 64, seed=1)  # other weights -> other key
    assert other.digest != src.digest


def test_time_budget_stops_early() -> None:
    class Slow:
        timings: dict[str, float] = {}

        def predict(self, frames: Any, topk: int = 5) -> list[Any]:
            import time

            time.sleep(0.01)
            self.timings = {"preprocess": 1.0, "inference": 8.0, "postprocess": 1.0}
            return []

    res = bm.measure(Slow(), [np.zeros((4, 4, 3), np.uint8)], runs=1000, warmup=2, time_budget_s=0.1, min_runs=3)
    assert res["budget_hit"] and 3 <= res["runs"] < 100
    assert res["stages"]["inference"]["median_ms"] == 8.0


# ----------------------------------------------------------------------------------------------- formats
def test_tables_json_markdown(report: dict[str, Any], tmp_path: Path) -> None:
    headers, rows = br.summary_table(report)
    # the YOLOv5-style FLOPs column is at the run's size (64 px here), named so
    assert headers[:6] == ["model", "size", "batch", "params M", "FLOPs@64 B", "GFLOPs true"]
    assert "CPU torch ms" in headers and "CPU onnxruntime ms" in headers and "GPU tensorrt ms" in headers
    assert len(rows) == 2 and all(len(r) == len(headers) for r in rows)  # one line per (model, batch)
    trt_col = headers.index("GPU tensorrt ms")
    if not _has_cuda():
        assert rows[0][trt_col] == "not available here"
    assert float(rows[0][headers.index("CPU onnxruntime ms")]) > 0
    text = br.render_text(report)
    assert "tiny-cls" in text and "Machine:" in text and "e2e p99" in text
    if not _has_cuda():
        assert "Skipped tensorrt: not available here" in text
    md = br.render_markdown(report)
    assert md.count("| tiny-cls |") == 2 + 8  # summary lines + stage lines
    path = br.save_json(report, tmp_path / "r.json")
    back = br.load_json(path)
    assert back["schema"] == br.SCHEMA and len(back["rows"]) == len(report["rows"])
    assert "NaN" not in path.read_text()  # strict JSON: NaN became null
    assert br.render_text(back).splitlines()[0] == text.splitlines()[0]


def test_load_json_rejects_other_files(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text(json.dumps({"rows": []}))
    (tmp_path / "y.json").write_text("{nope")
    for name in ("x.json", "y.json"):
        with pytest.raises(InputError, match="benchmark"):
            br.load_json(tmp_path / name)


@pytest.mark.slow
def test_plot_png(report: dict[str, Any], tmp_path: Path) -> None:
    out = br.plot_latency(report, tmp_path / "p.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty = {**report, "rows": [r for r in report["rows"] if r["status"] != "ok"]}
    with pytest.raises(InputError, match="no measured rows"):
        br.plot_latency(empty, tmp_path / "q.png")


# ----------------------------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_benchmark_and_from_json(cache: Path, tmp_path: Path) -> None:
    j, md, png = tmp_path / "b.json", tmp_path / "b.md", tmp_path / "b.png"
    r = CliRunner().invoke(app, ["benchmark", "--model", "tiny-cls", "--imgsz", "64", "--runs", "2", "--warmup", "0",
                                 "--threads", "1", "--backend", "onnxruntime", "--backend", "tensorrt", "--cache-dir",
                                 str(cache), "--save-json", str(j), "--markdown", str(md), "--plot", str(png)])
    assert r.exit_code == 0, r.output
    assert "tiny-cls" in r.output and "CPU onnxruntime ms" in r.output
    assert j.is_file() and md.read_text().startswith("## Latency") and png.stat().st_size > 1000
    r2 = CliRunner().invoke(app, ["benchmark", "--from-json", str(j)])
    assert r2.exit_code == 0 and "tiny-cls" in r2.output
    # --json: the report, alone, on stdout (the same JSON --save-json writes)
    r3 = CliRunner().invoke(app, ["benchmark", "--from-json", str(j), "--json"])
    assert r3.exit_code == 0 and json.loads(r3.stdout) == json.loads(j.read_text())


@pytest.mark.parametrize("args, msg", [
    (["--model", "tiny-cls", "--backend", "tflite"],
     "invalid value 'tflite' for --backend: must be one of torch, onnxruntime, openvino, tensorrt"),
    (["--model", "tiny-cls", "--backends", "tflite"], "unknown backend"),  # the old comma-list spelling
    (["--model", "nosuchnet"], "unknown model"),
    (["--model", "tiny-cls", "--batch-size", "1,a"], "batch sizes"),
    (["--model", "tiny-cls", "--precision", "fp8"], "must be one of fp32, fp16, bf16, int8"),
    (["--model", "tiny-cls", "--precision", "int8"], "int8 is the precision of a model file"),
    (["--model", "tiny-cls", "--json", "b.json"], "--json takes no value (it prints the JSON on stdout): write "
                                                  "--save-json b.json"),  # the old meaning of --json
])
def test_cli_user_errors_are_one_line(args: list[str], msg: str) -> None:
    r = CliRunner().invoke(app, ["benchmark", *args])
    assert r.exit_code == 2
    assert msg in r.output and "Traceback" not in r.output


# ----------------------------------------------------------------------------------------------- baseline script
def _script() -> Any:
    spec = importlib.util.spec_from_file_location("bench_vs_baselines", ROOT / "scripts" / "bench_vs_baselines.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_baseline_preprocessing_matches_the_reference() -> None:
    from yolocls.spec.preprocess import preprocess

    s = _script()
    frame = bm.make_frames(1, 90, 160, seed=5)[0]
    ref = preprocess(frame, 64)
    # OpenCV's fixed-point bilinear weights: within 1/255 of a pixel, divided by the smallest std
    tol = 1.0 / 255 / 0.224 + 1e-4
    assert np.abs(s.yolov5_preprocess(frame, 64).numpy() - ref).max() <= tol
    assert np.abs(s.usual_preprocess(frame, 64) - ref).max() <= tol
    buf = np.empty((1, 3, 64, 64), np.float32)
    assert np.abs(s.fast_preprocess_into(buf, frame) - ref).max() <= tol


@pytest.mark.slow
def test_baseline_script_runs(cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "vs.json"
    assert _script().main(["--models", "tiny-cls", "--imgsz", "64", "--rounds", "2", "--iters", "2", "--warmup", "1",
                           "--frames", "2", "--threads", "1", "--ours", "onnxruntime", "--cache-dir", str(cache),
                           "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "yolov5 (a)" in text and "ort (b)" in text and "machine:" in text
    res = json.loads(out.read_text())["models"][0]
    assert res["ours"] == "ours (onnxruntime)"
    sp = res["paths"]["yolov5 (a)"]["speedup_of_ours"]
    assert sp["rounds"] == 2 and sp["min"] <= sp["median"] <= sp["max"]


def test_onnx_weights_skip_torch_with_reason(report: dict[str, Any], cache: Path) -> None:
    onnx_file = sorted(cache.glob("tiny-cls-64-*.onnx"))[0]
    settings = bm.BenchmarkSettings(backends=("torch", "onnxruntime"), cache_dir=str(cache), **FAST)  # type: ignore[arg-type]
    rows = list(bm.iter_benchmark(weights=[onnx_file], settings=settings))
    by = {r["backend"]: r for r in rows}
    assert by["torch"]["status"] == "skipped" and ".pt" in by["torch"]["reason"]
    assert by["onnxruntime"]["status"] == "ok" and by["onnxruntime"]["params_m"] > 0
    with pytest.raises(InputError, match="nothing to benchmark"):
        list(bm.iter_benchmark(settings=settings))


@pytest.mark.slow
def test_installed_entry_point_renders_a_saved_report(report: dict[str, Any], tmp_path: Path) -> None:
    import shutil
    import subprocess

    exe = shutil.which("yolocls")
    if exe is None:
        pytest.skip("the yolocls entry point is not installed (pip install -e .)")
    path = br.save_json(report, tmp_path / "r.json")
    p = subprocess.run([exe, "benchmark", "--from-json", str(path), "--markdown", str(tmp_path / "r.md")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "CPU onnxruntime ms" in p.stdout and (tmp_path / "r.md").is_file()
    bad = subprocess.run([exe, "benchmark", "--from-json", str(tmp_path / "missing.json")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_a_failing_backend_becomes_a_failed_row(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = bm.open_backend

    def flaky(backend: str, *a: Any, **k: Any) -> Any:
        if backend == "onnxruntime":
            raise RuntimeError("boom\nsecond line")
        return real_open(backend, *a, **k)

    monkeypatch.setattr(bm, "open_backend", flaky)
    settings = bm.BenchmarkSettings(backends=("onnxruntime", "torch"), cache_dir=str(cache), **FAST)  # type: ignore[arg-type]
    rows = {r["backend"]: r for r in bm.iter_benchmark(["tiny-cls"], settings=settings)}
    assert rows["onnxruntime"]["status"] == "failed" and rows["onnxruntime"]["reason"] == "RuntimeError: boom second line"
    assert rows["torch"]["status"] == "ok"
    headers, table = br.summary_table(br.new_report(settings.to_dict(), list(rows.values()), machine={}))
    assert table[0][headers.index("CPU onnxruntime ms")] == "failed"


def test_interleaved_measurement_alternates_and_isolates_failures() -> None:
    calls: list[str] = []

    class Fake:
        def __init__(self, name: str, fail_after: int | None = None) -> None:
            self.name, self.fail_after, self.n = name, fail_after, 0
            self.timings: dict[str, float] = {}

        def predict(self, frames: Any, topk: int = 5) -> list[Any]:
            self.n += 1
            if self.fail_after is not None and self.n > self.fail_after:
                raise RuntimeError("device lost")
            calls.append(self.name)
            self.timings = {"preprocess": 0.1, "inference": 1.0, "postprocess": 0.1}
            return []

    res = bm.measure_interleaved({"a": Fake("a"), "b": Fake("b"), "c": Fake("c", fail_after=7)},
                                 [np.zeros((2, 2, 3), np.uint8)], runs=20, warmup=1, time_budget_s=60, chunk=5)
    assert res["a"]["runs"] == res["b"]["runs"] == 20 and not res["a"]["budget_hit"]
    assert isinstance(res["c"], RuntimeError)  # failed after its warmup and first chunk; the others went on
    timed = calls[3:]  # after one warmup call each
    first_b = timed.index("b")
    assert timed[:5] == ["a"] * 5 and "a" in timed[first_b:]  # chunks of 5, a and b take turns
    assert res["a"]["stages"]["inference"]["median_ms"] == 1.0


# ----------------------------------------------------------------------------------------------- precision rows
def _qdq_twin(tmp_path: Path) -> tuple[Path, Path]:
    """tiny.onnx (ours, FP32) and tiny.int8.onnx quantized to Q/DQ by ONNX Runtime's quantizer (no `quantization`
    metadata: found by its DequantizeLinear nodes)."""
    pytest.importorskip("onnxruntime.quantization")
    from conftest import export_tiny_onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    src = export_tiny_onnx(tmp_path / "tiny.onnx")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(0)
            self.it = iter([{"images": rng.normal(size=(1, 3, 32, 32)).astype(np.float32)} for _ in range(4)])

        def get_next(self) -> Any:
            return next(self.it, None)

    dst = tmp_path / "tiny.int8.onnx"
    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8)
    return src, dst


def test_file_precision_and_fp32_twin_names(tmp_path: Path) -> None:
    src, dst = _qdq_twin(tmp_path)
    assert bm.onnx_precision(src) == "fp32" and bm.onnx_precision(dst) == "int8"
    assert (bm.base_name("best.int8"), bm.base_name("best.fp16-io.norm"), bm.base_name("best")) == \
        ("best", "best.norm", "best")
    # the metadata alone says int8 too (yolocls export --int8 writes a `quantization` object)
    tagged = tmp_path / "tagged.onnx"
    tagged.write_bytes(src.read_bytes())
    import onnx

    m = onnx.load(str(tagged))
    meta = json.loads(next(p.value for p in m.metadata_props if p.key == "yolocls"))
    meta["quantization"] = {"scheme": "test"}
    next(p for p in m.metadata_props if p.key == "yolocls").value = json.dumps(meta)
    onnx.save(m, str(tagged))
    assert bm.onnx_precision(tagged) == "int8"


@pytest.mark.slow
def test_int8_file_is_an_int8_row_with_agreement_vs_its_fp32_file(tmp_path: Path) -> None:
    src, dst = _qdq_twin(tmp_path)
    fast32: dict[str, Any] = {**FAST, "imgsz": 32}
    settings = bm.BenchmarkSettings(backends=("onnxruntime",), cache_dir=str(tmp_path / "c"), **fast32)
    rows = list(bm.iter_benchmark(weights=[dst, src], settings=settings))  # INT8 first: filled in at the end
    by = {r["precision"]: r for r in rows}
    assert set(by) == {"fp32", "int8"} and all(r["status"] == "ok" for r in rows), rows
    assert by["int8"]["base"] == by["fp32"]["base"] == "tiny" and by["fp32"]["vs_fp32"] is None
    v = by["int8"]["vs_fp32"]
    assert v["images"] == bm.AGREEMENT_IMAGES and 0.0 <= v["top1_agreement"] <= 1.0
    assert v["reference"] == "tiny fp32 on onnxruntime" and v["speedup_e2e"] > 0
    report = br.new_report(settings.to_dict(), rows, machine={})
    headers, table = br.summary_table(report)
    assert "CPU onnxruntime int8 ms" in headers and "CPU onnxruntime ms" in headers and len(table) == 1
    text = br.render_text(report)
    assert "vs fp32" in text and f"of {bm.AGREEMENT_IMAGES}" in text


def test_agreement_counts_disagreements() -> None:
    rows: list[dict[str, Any]] = [{"base": "m", "backend": "onnxruntime", "precision": p, "batch": 1, "status": "ok",
             "stages": {"end_to_end": {"median_ms": ms}}} for p, ms in (("fp32", 4.0), ("int8", 2.0))]
    top1 = {("m", "onnxruntime", "fp32"): np.array([0, 1, 2, 3]), ("m", "onnxruntime", "int8"): np.array([0, 1, 2, 0])}
    bm.add_vs_fp32(rows, top1, "4 test images")
    v = rows[1]["vs_fp32"]
    assert v["top1_agreement"] == 0.75 and v["speedup_e2e"] == 2.0 and v["fp32_classes"] == 4
    assert "vs_fp32" not in rows[0]  # fp32 rows are the reference


def test_bf16_rows_are_measured_or_skipped_with_the_reason(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    src = bm.ModelSource(name="m", digest="0", onnx_path=Path("m.onnx"))
    monkeypatch.setattr(bm, "hint_supported", lambda p: False)
    assert "no bf16 units" in (bm.hint_skip_reason("bf16", "openvino", src) or "")
    monkeypatch.setattr(bm, "hint_supported", lambda p: True)
    assert bm.hint_skip_reason("bf16", "openvino", src) is None
    assert "OpenVINO inference hint" in (bm.hint_skip_reason("bf16", "onnxruntime", src) or "")
    assert "already int8" in (bm.hint_skip_reason("bf16", "openvino",
                                                  bm.ModelSource(name="q", digest="0", precision="int8")) or "")
    settings = bm.BenchmarkSettings(backends=("onnxruntime", "openvino"), precisions=("fp32", "bf16"))
    assert bm._row_kinds(settings) == [("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")]
    assert bm._row_kinds(settings, "int8") == [("onnxruntime", "fp32"), ("openvino", "fp32")]
    with pytest.raises(InputError, match="int8 is the precision of a model file"):
        bm.BenchmarkSettings(precisions=("int8",))
