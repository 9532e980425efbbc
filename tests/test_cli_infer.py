"""`yolocls infer`: a real exported model through the deployment runtimes, and its error paths."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import export_tiny_onnx
from typer.testing import CliRunner

from yolocls.cli.app import app

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_tiny_onnx(tmp_path_factory.mktemp("infer") / "tiny.onnx")


@pytest.mark.parametrize("backend", ["onnxruntime", None])
@pytest.mark.slow
def test_infer_prints_topk_and_latency(tiny_onnx: Path, fixture_images: list[Path], backend: str | None) -> None:
    args = ["infer", "--model", str(tiny_onnx), "--source", str(fixture_images[0].parent), "--topk", "2"]
    if backend:
        args += ["--backend", backend]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith(str(fixture_images[0].parent))]
    assert len(lines) == len(fixture_images)  # one line per image, grayscale camera.png included
    for ln in lines:  # "path: id name prob, id name prob  [x ms]"
        tops = ln.split(": ", 1)[1].rsplit("  [", 1)[0].split(", ")
        assert len(tops) == 2 and all(t.split()[1] in ("a", "b", "c") for t in tops)
    for stage in ("preprocess", "inference", "postprocess", "end-to-end"):
        assert stage in res.output


def test_infer_skips_unreadable_files(tiny_onnx: Path, tmp_path: Path, fixture_images: list[Path]) -> None:
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    (tmp_path / "good.png").write_bytes(fixture_images[0].read_bytes())
    res = runner.invoke(app, ["infer", "--model", str(tiny_onnx), "--source", str(tmp_path), "-q"])
    assert res.exit_code == 0, res.output
    assert "1 frame(s)" in res.output and "1 skipped" in res.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "MISSING", "--source", "IMAGES"], "not found"),
        (["--source", "IMAGES"], "exactly one of --weights and --engine"),
        (["--model", "TINY", "--engine", "x.engine", "--source", "IMAGES"], "exactly one"),
        (["--model", "TINY", "--source", "IMAGES", "--backend", "nope"],
         "invalid value 'nope' for --backend: must be one of torch, onnxruntime, openvino, tensorrt"),
        (["--weights", "TINY", "--model", "TINY", "--source", "IMAGES"], "old name of --weights"),
        (["--weights", "TINY", "--source", "IMAGES", "--precision", "int8"], "export --int8"),
        (["--engine", "TINY", "--source", "IMAGES", "--backend", "onnxruntime"], "tensorrt backend"),
        (["--model", "TINY", "--source", "MISSING"], "not found"),
        (["--model", "TINY", "--source", "EMPTY"], "no images or videos in folder"),
        (["--model", "TEXT", "--source", "IMAGES"], "model type"),
        (["--model", "TINY"], "source is required"),
    ],
)
def test_infer_user_errors_exit_2(tiny_onnx: Path, tmp_path: Path, fixture_images: list[Path], args: list[str],
                                  needle: str) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "model.txt").write_text("x")
    subst = {"TINY": str(tiny_onnx), "MISSING": str(tmp_path / "missing.onnx"), "EMPTY": str(tmp_path / "empty"),
             "IMAGES": str(fixture_images[0].parent), "TEXT": str(tmp_path / "model.txt")}
    res = runner.invoke(app, ["infer", *[subst.get(a, a) for a in args]])
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    assert needle in res.output
