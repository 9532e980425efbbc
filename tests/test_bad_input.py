"""Bad-input battery: every way a user can hand yolocls a broken file, image, array, dataset or flag combination.

Two tables drive it:

- ``CLI_CASES``: each runs a real command through ``typer.testing.CliRunner`` and must end with exit code 2, ONE stderr
  line starting ``yolocls: error:`` that contains the expected words, and no traceback.
- ``API_CASES``: each calls the Python API and must raise a specific :class:`~yolocls.errors.YoloclsError` subclass
  with a matching message.

``GOOD_CASES`` are inputs that look odd but are valid (grayscale, RGBA, 16-bit, 1x1, non-contiguous views): they must
give the same answer as the equivalent plain image. A few cases also run the installed ``yolocls`` entry point in a
real subprocess, to prove no traceback reaches a terminal and no signal kills it.
"""

from __future__ import annotations

import os
import resource
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from yolocls.errors import (
    BackendUnavailableError,
    CheckpointError,
    DatasetError,
    ImageError,
    InputError,
    MetadataError,
    YoloclsError,
)
from yolocls.utils.torch_utils import calibrate_batchnorm

torch.set_num_threads(1)
IMGSZ = 32
NAMES = ["ant", "bee", "cat"]


# -- assets: one small model in every format plus broken copies, made once per module ---------------------------------

def _png_header_only(path: Path, w: int, h: int) -> None:
    """A PNG whose IHDR claims ``w x h`` RGB but holds one tiny IDAT: a decompression-bomb stand-in in 60 bytes."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def _jpeg_with_size(path: Path, w: int, h: int) -> None:
    """A real 16x16 JPEG whose SOF0 header is patched to claim ``w x h`` (the entropy data ends far too early)."""
    ok, buf = cv2.imencode(".jpg", np.full((16, 16, 3), 128, np.uint8))
    assert ok
    data = bytearray(buf.tobytes())
    i = data.find(b"\xff\xc0")
    assert i > 0
    data[i + 5:i + 7] = struct.pack(">H", h)
    data[i + 7:i + 9] = struct.pack(">H", w)
    path.write_bytes(bytes(data))


def _write_video(path: Path, n: int = 10) -> None:
    # noisy frames: each compresses to a sizeable chunk, so cutting the file at 60% lands mid-stream, not mid-header
    rng = np.random.default_rng(3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    for _ in range(n):
        writer.write(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    writer.release()


def _calibrated_tiny() -> torch.nn.Module:
    """tiny-cls with BatchNorm statistics from varied inputs, so its output depends on the image."""
    import yolocls
    from yolocls.data.preprocess import PreprocessConfig, preprocess_with

    torch.manual_seed(0)
    m = yolocls.create_model("tiny-cls", num_classes=len(NAMES))
    m.names = list(NAMES)
    m.preprocess = PreprocessConfig(imgsz=IMGSZ)
    rng = np.random.default_rng(0)
    x = preprocess_with([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(8)], m.preprocess)
    return calibrate_batchnorm(m, x)


@pytest.fixture(scope="module")
def A(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every file the cases refer to, by name."""
    import onnx

    from yolocls.export.onnx import export_onnx
    from yolocls.models.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("bad")
    a: dict[str, Path] = {"dir": d}
    model = _calibrated_tiny()
    a["pt"] = save_checkpoint(d / "good.pt", model)
    a["onnx"] = d / "good.onnx"
    export_onnx(model, a["onnx"], imgsz=IMGSZ, simplify=False, verify=False)
    a["static_onnx"] = d / "static.onnx"
    export_onnx(model, a["static_onnx"], imgsz=IMGSZ, dynamic=False, simplify=False, verify=False)
    proto = onnx.load(str(a["onnx"]))
    del proto.metadata_props[:]
    a["nometa_onnx"] = d / "nometa.onnx"
    onnx.save(proto, str(a["nometa_onnx"]))

    rng = np.random.default_rng(1)
    for ext in ("pt", "onnx"):
        data = a[ext].read_bytes()
        (d / f"empty.{ext}").write_bytes(b"")
        (d / f"trunc.{ext}").write_bytes(data[: len(data) // 2])
        (d / f"garbage.{ext}").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
        a[f"empty_{ext}"], a[f"trunc_{ext}"], a[f"garbage_{ext}"] = (d / f"empty.{ext}", d / f"trunc.{ext}",
                                                                      d / f"garbage.{ext}")
    a["text_pt"] = d / "text.pt"
    a["text_pt"].write_text("this is not a checkpoint\n")
    # a valid PyTorch file that is not a yolocls checkpoint
    a["foreign_pt"] = d / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, a["foreign_pt"])
    # engines: garbage bytes, with and without sidecars of several kinds of wrong
    for name in ("nosidecar", "badjson", "emptyjson", "partialjson"):
        (d / f"{name}.engine").write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    (d / "badjson.engine.json").write_text("{not json")
    (d / "emptyjson.engine.json").write_text("")
    (d / "partialjson.engine.json").write_text('{"names": ["a"], "imgsz": 32}')
    for name in ("nosidecar", "badjson", "emptyjson", "partialjson"):
        a[f"engine_{name}"] = d / f"{name}.engine"

    # images
    img = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    cv2.imwrite(str(d / "ok.png"), img)
    cv2.imwrite(str(d / "ok.jpg"), img)
    a["ok_png"], a["ok_jpg"] = d / "ok.png", d / "ok.jpg"
    (d / "text.jpg").write_text("hello, I am not a JPEG")
    (d / "zero.png").write_bytes(b"")
    png, jpg = (d / "ok.png").read_bytes(), (d / "ok.jpg").read_bytes()
    (d / "trunc.png").write_bytes(png[: len(png) // 2])
    (d / "trunc.jpg").write_bytes(jpg[: len(jpg) // 2])
    (d / "header.png").write_bytes(png[:8])
    _png_header_only(d / "huge.png", 20000, 20000)
    _jpeg_with_size(d / "huge.jpg", 20000, 20000)
    for n in ("text_jpg", "zero_png", "trunc_png", "trunc_jpg", "header_png", "huge_png", "huge_jpg"):
        stem, ext = n.rsplit("_", 1)
        a[n] = d / f"{stem}.{ext}"
    (d / "folder.jpg").mkdir()
    a["folder_jpg"] = d / "folder.jpg"
    os.symlink(d / "missing-target.png", d / "dangling.png")
    a["dangling_png"] = d / "dangling.png"

    # a folder of bad images only, a folder with a non-image
    bad = d / "badimgs"
    bad.mkdir()
    for n in ("text_jpg", "zero_png", "trunc_jpg"):
        shutil.copy(a[n], bad / a[n].name)
    a["bad_images_dir"] = bad
    (d / "noimgs").mkdir()
    (d / "noimgs" / "notes.txt").write_text("x")
    a["noimgs_dir"] = d / "noimgs"

    # videos: whole, truncated mid-stream, garbage
    _write_video(d / "v.avi")
    vid = (d / "v.avi").read_bytes()
    (d / "cut.avi").write_bytes(vid[: int(len(vid) * 0.6)])
    (d / "junk.mp4").write_bytes(b"garbage" * 200)
    a["video"], a["cut_video"], a["junk_video"] = d / "v.avi", d / "cut.avi", d / "junk.mp4"

    # datasets
    ds = d / "ds"
    (ds / "noclasses" / "train").mkdir(parents=True)
    (ds / "noclasses" / "val").mkdir(parents=True)
    cv2.imwrite(str(ds / "noclasses" / "train" / "loose.png"), img)
    for split in ("train", "val"):
        for c in ("a", "b"):
            (ds / "emptyclasses" / split / c).mkdir(parents=True)
            (ds / "loop" / split / c).mkdir(parents=True)
            os.symlink(ds / "loop" / split / c, ds / "loop" / split / c / "again")  # a symlink loop, no images
            (ds / "unreadable" / split / c).mkdir(parents=True)
            os.symlink(d / "missing-target.png", ds / "unreadable" / split / c / "gone.png")
            (ds / "corrupt" / split / c).mkdir(parents=True)
            shutil.copy(a["text_jpg"], ds / "corrupt" / split / c / "x.jpg")
    (ds / "nosplits" / "a").mkdir(parents=True)
    (ds / "file.txt").write_text("x")
    for n in ("noclasses", "emptyclasses", "loop", "unreadable", "corrupt", "nosplits"):
        a[f"ds_{n}"] = ds / n
    a["ds_file"] = ds / "file.txt"
    return a


# -- CLI cases ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CliCase:
    id: str
    args: list[str]  # {name} is replaced by the asset path; {tmp} by the test's tmp_path
    expect: str  # words the error line must contain (case-insensitive)


def _p(*args: str) -> list[str]:
    return list(args)


CLI_CASES = [
    # missing / empty / truncated / garbage model files, every command that reads one
    CliCase("predict-missing-pt", _p("predict", "--weights", "{tmp}/nope.pt", "--source", "{ok_png}"), "not found"),
    CliCase("predict-empty-pt", _p("predict", "--weights", "{empty_pt}", "--source", "{ok_png}"), "empty"),
    CliCase("predict-trunc-pt", _p("predict", "--weights", "{trunc_pt}", "--source", "{ok_png}"), "truncated"),
    CliCase("predict-garbage-pt", _p("predict", "--weights", "{garbage_pt}", "--source", "{ok_png}"),
            "not a pytorch checkpoint"),
    CliCase("predict-text-pt", _p("predict", "--weights", "{text_pt}", "--source", "{ok_png}"),
            "not a pytorch checkpoint"),
    CliCase("predict-foreign-pt", _p("predict", "--weights", "{foreign_pt}", "--source", "{ok_png}"),
            "not a yolocls checkpoint"),
    CliCase("val-empty-pt", _p("val", "--weights", "{empty_pt}", "--data", "{ds_emptyclasses}"), "empty"),
    CliCase("export-trunc-pt", _p("export", "--weights", "{trunc_pt}", "--output", "{tmp}/x.onnx"), "truncated"),
    CliCase("export-garbage-pt", _p("export", "--weights", "{garbage_pt}", "--output", "{tmp}/x.onnx"),
            "not a pytorch checkpoint"),
    CliCase("export-folder", _p("export", "--weights", "{dir}", "--output", "{tmp}/x.onnx"), "folder"),
    CliCase("predict-empty-onnx", _p("predict", "--weights", "{empty_onnx}", "--source", "{ok_png}"), "onnx"),
    CliCase("predict-trunc-onnx", _p("predict", "--weights", "{trunc_onnx}", "--source", "{ok_png}"), "onnx"),
    CliCase("predict-garbage-onnx", _p("predict", "--weights", "{garbage_onnx}", "--source", "{ok_png}"), "onnx"),
    CliCase("infer-trunc-onnx-ort", _p("infer", "--model", "{trunc_onnx}", "--source", "{ok_png}",
                                       "--backend", "onnxruntime"), "onnx"),
    CliCase("infer-garbage-onnx-openvino", _p("infer", "--model", "{garbage_onnx}", "--source", "{ok_png}",
                                              "--backend", "openvino"), "onnx"),
    CliCase("val-garbage-onnx", _p("val", "--weights", "{garbage_onnx}", "--data", "{ds_emptyclasses}"), "onnx"),
    CliCase("predict-nometa-onnx", _p("predict", "--weights", "{nometa_onnx}", "--source", "{ok_png}"),
            "--names"),
    CliCase("infer-nometa-onnx-ort", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                        "--backend", "onnxruntime"), "--imgsz"),
    CliCase("infer-nometa-onnx-imgsz-only", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                               "--imgsz", "32"), "--names"),
    CliCase("infer-nometa-onnx-wrong-imgsz", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                                "--backend", "onnxruntime", "--names", "a,b,c", "--imgsz", "64"),
            "--imgsz"),
    CliCase("infer-nometa-onnx-wrong-names", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                                "--backend", "onnxruntime", "--names", "a,b"), "--names"),
    CliCase("infer-names-on-pt", _p("infer", "--model", "{pt}", "--source", "{ok_png}", "--names", "a,b,c"),
            "--names"),
    CliCase("predict-unknown-suffix", _p("predict", "--weights", "{ok_png}", "--source", "{ok_png}"),
            "cannot tell the model type"),
    CliCase("infer-engine-garbage", _p("infer", "--engine", "{engine_nosidecar}", "--source", "{ok_png}"),
            "tensorrt"),
    CliCase("infer-engine-badjson", _p("infer", "--engine", "{engine_badjson}", "--source", "{ok_png}"),
            "tensorrt"),
    CliCase("infer-backend-mismatch", _p("infer", "--model", "{pt}", "--source", "{ok_png}",
                                         "--backend", "onnxruntime"), "cannot run .pt"),
    CliCase("build-engine-missing-onnx", _p("build-engine", "--onnx", "{tmp}/nope.onnx"), "not found"),
    CliCase("build-engine-garbage-onnx", _p("build-engine", "--onnx", "{garbage_onnx}"), "onnx"),
    CliCase("build-engine-not-onnx", _p("build-engine", "--onnx", "{pt}"), ".onnx"),
    # contradictory flags
    CliCase("build-engine-int8-no-calib", _p("build-engine", "--onnx", "{onnx}", "--int8"), "calib"),
    CliCase("build-engine-calib-without-int8", _p("build-engine", "--onnx", "{onnx}", "--calib-data", "{dir}"),
            "--int8"),
    CliCase("build-engine-static-batch", _p("build-engine", "--onnx", "{static_onnx}", "--max-batch", "8"), "batch"),
    CliCase("predict-imgsz-vs-static-onnx", _p("predict", "--weights", "{static_onnx}", "--source", "{ok_png}",
                                               "--imgsz", "64"), "--imgsz"),
    CliCase("val-imgsz-vs-onnx", _p("val", "--weights", "{onnx}", "--data", "{ds_corrupt}", "--imgsz", "64"),
            "--imgsz"),
    CliCase("export-half-cpu-verify", _p("export", "--weights", "{pt}", "--output", "{tmp}/x.onnx",
                                         "--opset", "5"), "opset"),
    # images and sources
    CliCase("predict-only-bad-images", _p("predict", "--weights", "{pt}", "--source", "{bad_images_dir}"),
            "no"),
    CliCase("infer-only-bad-images", _p("infer", "--model", "{onnx}", "--source", "{bad_images_dir}"),
            "could be read"),
    CliCase("predict-missing-source", _p("predict", "--weights", "{pt}", "--source", "{tmp}/nowhere"),
            "not found"),
    CliCase("predict-folder-without-images", _p("predict", "--weights", "{pt}", "--source", "{noimgs_dir}"),
            "no images or videos"),
    CliCase("infer-garbage-video", _p("infer", "--model", "{onnx}", "--source", "{junk_video}"), "could be read"),
    # datasets
    CliCase("val-dataset-no-classes", _p("val", "--weights", "{pt}", "--data", "{ds_noclasses}"), "class folders"),
    CliCase("val-dataset-empty-classes", _p("val", "--weights", "{pt}", "--data", "{ds_emptyclasses}"),
            "no images"),
    CliCase("val-dataset-symlink-loop", _p("val", "--weights", "{pt}", "--data", "{ds_loop}"), "no images"),
    CliCase("val-dataset-no-splits", _p("val", "--weights", "{pt}", "--data", "{ds_nosplits}"), "val"),
    CliCase("val-dataset-is-file", _p("val", "--weights", "{pt}", "--data", "{ds_file}"), "not a folder"),
    CliCase("train-dataset-empty-classes", _p("train", "--model", "tiny-cls", "--data", "{ds_emptyclasses}",
                                              "--epochs", "1", "--project", "{tmp}/runs"), "no images"),
    CliCase("train-dataset-only-corrupt", _p("train", "--model", "tiny-cls", "--data", "{ds_corrupt}",
                                             "--epochs", "1", "--imgsz", "32", "--project", "{tmp}/runs"),
            "image"),
]


def _fill(args: list[str], a: dict[str, Path], tmp: Path) -> list[str]:
    out = []
    for s in args:
        if s.startswith("{"):
            key, _, rest = s[1:].partition("}")
            base = tmp if key == "tmp" else a[key]
            s = str(base) + rest
        out.append(s)
    return out


def _app() -> Any:
    from yolocls.cli.app import app

    return app


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_bad_input(case: CliCase, A: dict[str, Path], tmp_path: Path) -> None:
    args = _fill(case.args, A, tmp_path)
    r = CliRunner().invoke(_app(), args)
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output and "Traceback" not in r.stderr
    err = [ln for ln in r.stderr.splitlines() if ln.strip() and not ln.startswith("skipped ")]
    assert len(err) == 1, r.stderr
    assert err[0].startswith("yolocls: error:"), err
    assert case.expect.lower() in err[0].lower(), err[0]


# -- Python API cases -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ApiCase:
    id: str
    call: Callable[[dict[str, Path]], Any]
    exc: type[YoloclsError]
    match: str


def _load(key: str, **kw: Any) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls import runtime

        return runtime.load(a[key], **kw)
    return f


def _load_model(key: str) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls.models.checkpoint import load_model

        return load_model(a[key])
    return f


def _imread(key: str) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls.data.io import imread

        return imread(a[key])
    return f


def _sidecar(key: str) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls.runtime.sidecar import read_sidecar

        return read_sidecar(a[key])
    return f


def _ref(arr: Callable[[], Any]) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls.data.preprocess import PreprocessConfig, preprocess_with

        return preprocess_with([arr()], PreprocessConfig(imgsz=IMGSZ))
    return f


def _native(arr: Callable[[], Any]) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls import _native as nat
        from yolocls.data.preprocess import PreprocessConfig

        if not nat.available():
            pytest.skip("the C++ extension is not built")
        return nat.preprocess([arr()], PreprocessConfig(imgsz=IMGSZ))
    return f


def _ort_predict(arr: Callable[[], Any]) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls import runtime

        with runtime.load(a["onnx"], backend="onnxruntime") as be:
            return be.predict(arr())
    return f


def _closed_ort(a: dict[str, Path]) -> Any:
    from yolocls import runtime

    be = runtime.load(a["onnx"], backend="onnxruntime")
    be.close()
    return be.predict(np.zeros((8, 8, 3), np.uint8))


def _scan(key: str) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls.data.dataset import scan_image_folder

        return scan_image_folder(a[key] / "train")
    return f


def _dataset(key: str) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls.data.dataset import resolve_dataset

        return resolve_dataset(a[key])
    return f


def _ov_metadata_flag(a: dict[str, Path]) -> Any:
    from yolocls.export.onnx import read_metadata

    return read_metadata(a["nometa_onnx"])


def _trt_flags(**kw: Any) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls.export.tensorrt import validate_build_flags

        return validate_build_flags(a["onnx"], **kw)
    return f


def _static_profile(a: dict[str, Path]) -> Any:
    from yolocls.export.tensorrt import inspect_onnx, resolve_profile

    return resolve_profile(inspect_onnx(a["static_onnx"]).shape, 1, None, 8)


def _u8(*shape: int) -> Callable[[], np.ndarray]:
    return lambda: np.zeros(shape, np.uint8)


API_CASES = [
    ApiCase("load_model-empty", _load_model("empty_pt"), CheckpointError, "empty"),
    ApiCase("load_model-truncated", _load_model("trunc_pt"), CheckpointError, "truncated"),
    ApiCase("load_model-garbage", _load_model("garbage_pt"), CheckpointError, "not a PyTorch checkpoint"),
    ApiCase("load_model-foreign", _load_model("foreign_pt"), CheckpointError, "not a yolocls checkpoint"),
    ApiCase("load_model-folder", _load_model("dir"), CheckpointError, "not a file"),
    ApiCase("runtime-torch-truncated", _load("trunc_pt"), CheckpointError, "truncated"),
    ApiCase("runtime-ort-empty-onnx", _load("empty_onnx", backend="onnxruntime"), MetadataError, "ONNX"),
    ApiCase("runtime-ort-trunc-onnx", _load("trunc_onnx", backend="onnxruntime"), MetadataError, "ONNX"),
    ApiCase("runtime-ov-garbage-onnx", _load("garbage_onnx", backend="openvino"), YoloclsError, "ONNX"),
    ApiCase("runtime-ov-trunc-onnx", _load("trunc_onnx", backend="openvino"), YoloclsError, "ONNX"),
    ApiCase("runtime-ort-nometa", _load("nometa_onnx", backend="onnxruntime"), MetadataError, "metadata="),
    ApiCase("runtime-ov-nometa", _load("nometa_onnx", backend="openvino"), YoloclsError, "metadata"),
    ApiCase("read_metadata-nometa", _ov_metadata_flag, MetadataError, "--names"),
    ApiCase("runtime-unknown-suffix", _load("ok_png"), InputError, "cannot tell the model type"),
    ApiCase("runtime-unknown-backend", _load("onnx", backend="caffe"), InputError, "unknown backend"),
    ApiCase("runtime-engine-no-trt", _load("engine_nosidecar"), BackendUnavailableError, "tensorrt"),
    ApiCase("sidecar-missing", _sidecar("engine_nosidecar"), MetadataError, "json"),
    ApiCase("sidecar-bad-json", _sidecar("engine_badjson"), MetadataError, "json"),
    ApiCase("sidecar-empty", _sidecar("engine_emptyjson"), MetadataError, "json"),
    ApiCase("sidecar-partial", _sidecar("engine_partialjson"), MetadataError, "rebuild"),
    ApiCase("imread-text", _imread("text_jpg"), ImageError, "not an image"),
    ApiCase("imread-zero-bytes", _imread("zero_png"), ImageError, "empty"),
    ApiCase("imread-truncated-png", _imread("trunc_png"), ImageError, "truncated|corrupt"),
    ApiCase("imread-truncated-jpg", _imread("trunc_jpg"), ImageError, "truncated|corrupt"),
    ApiCase("imread-png-signature-only", _imread("header_png"), ImageError, "not an image|corrupt|truncated"),
    ApiCase("imread-20000x20000-png", _imread("huge_png"), ImageError, "too large"),
    ApiCase("imread-folder", _imread("folder_jpg"), ImageError, "folder"),
    ApiCase("imread-dangling-symlink", _imread("dangling_png"), ImageError, "not found"),
    ApiCase("ref-float-array", _ref(lambda: np.zeros((8, 8, 3), np.float32)), InputError, "uint8"),
    ApiCase("ref-2d-array", _ref(_u8(8, 8)), InputError, "HxWx3"),
    ApiCase("ref-4-channels", _ref(_u8(8, 8, 4)), InputError, "HxWx3"),
    ApiCase("ref-zero-size", _ref(_u8(0, 8, 3)), InputError, "empty"),
    ApiCase("ref-not-array", _ref(lambda: [[1, 2, 3]]), InputError, "numpy array"),
    ApiCase("native-float-array", _native(lambda: np.zeros((8, 8, 3), np.float32)), InputError, "uint8"),
    ApiCase("native-int16-array", _native(lambda: np.zeros((8, 8, 3), np.int16)), InputError, "uint8"),
    ApiCase("native-2d-array", _native(_u8(8, 8)), InputError, "3"),
    ApiCase("native-4-channels", _native(_u8(8, 8, 4)), InputError, "3"),
    ApiCase("native-1-channel", _native(_u8(8, 8, 1)), InputError, "3"),
    ApiCase("native-zero-size", _native(_u8(0, 8, 3)), InputError, "empty|zero|0"),
    ApiCase("native-4d-array", _native(_u8(1, 8, 8, 3)), InputError, "3"),
    ApiCase("predict-float-array", _ort_predict(lambda: np.zeros((8, 8, 3), np.float64)), InputError, "uint8"),
    ApiCase("predict-empty-list", _ort_predict(lambda: []), InputError, "no images"),
    ApiCase("predict-wrong-type", _ort_predict(lambda: [42]), InputError, "expected a uint8"),
    ApiCase("predict-after-close-ort", _closed_ort, InputError, "closed"),
    ApiCase("predict-bad-path", _ort_predict(lambda: ["/nonexistent/x.png"]), ImageError, "not found"),
    ApiCase("dataset-no-classes", _scan("ds_noclasses"), DatasetError, "no class folders"),
    ApiCase("dataset-empty-classes", _scan("ds_emptyclasses"), DatasetError, "no images"),
    ApiCase("dataset-symlink-loop", _scan("ds_loop"), DatasetError, "no images"),
    ApiCase("dataset-dangling-links", _scan("ds_unreadable"), DatasetError, "no images"),
    ApiCase("dataset-missing", lambda a: _dataset("dir")({"dir": a["dir"] / "nope"}), DatasetError, "not found"),
    ApiCase("dataset-no-splits", _dataset("ds_nosplits"), DatasetError, "val"),
    ApiCase("trt-int8-no-calib", _trt_flags(int8=True), InputError, "calib"),
    ApiCase("trt-calib-without-int8", _trt_flags(calib_cache="x.cache"), InputError, "--int8"),
    ApiCase("trt-output-overwrites-onnx", _trt_flags(output="x.onnx"), InputError, "overwrite"),
    ApiCase("trt-static-onnx-batch-8", _static_profile, InputError, "batch"),
]


@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_api_bad_input(case: ApiCase, A: dict[str, Path]) -> None:
    with pytest.raises(case.exc, match=f"(?i){case.match}") as ei:
        case.call(A)
    msg = str(ei.value)
    assert msg and "\n" not in msg, repr(msg)


# -- inputs that look odd but must work ------------------------------------------------------------------------------

def _base_image() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)


def _write_and_read(kind: str, d: Path) -> tuple[np.ndarray, np.ndarray]:
    """(what imread returned, the BGR image it must equal)."""
    from PIL import Image

    from yolocls.data.io import imread

    im = _base_image()
    if kind == "grayscale":
        g = im[:, :, 0]
        Image.fromarray(g, "L").save(d / "g.png")
        return imread(d / "g.png"), np.repeat(g[:, :, None], 3, axis=2)
    if kind == "rgba":
        rgba = np.dstack([im[:, :, ::-1], np.full(im.shape[:2], 77, np.uint8)])
        Image.fromarray(rgba, "RGBA").save(d / "a.png")
        return imread(d / "a.png"), im
    if kind == "16-bit":
        g16 = (im[:, :, 1].astype(np.uint16) << 8) | 0xAB
        cv2.imwrite(str(d / "g16.png"), g16)
        return imread(d / "g16.png"), np.repeat(im[:, :, 1:2], 3, axis=2)
    if kind == "16-bit-rgb":
        c16 = (im.astype(np.uint16) << 8) | 0x3C
        cv2.imwrite(str(d / "c16.png"), c16)  # PIL reads 48-bit PNG as 8-bit RGB (high bytes)
        return imread(d / "c16.png"), im
    if kind == "1x1":
        px = im[:1, :1]
        cv2.imwrite(str(d / "px.png"), px)
        return imread(d / "px.png"), px
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["grayscale", "rgba", "16-bit", "16-bit-rgb", "1x1"])
def test_odd_images_decode_and_predict(kind: str, A: dict[str, Path], tmp_path: Path) -> None:
    from yolocls import runtime

    got, want = _write_and_read(kind, tmp_path)
    assert got.dtype == np.uint8 and got.ndim == 3 and got.shape[2] == 3 and got.flags.c_contiguous
    np.testing.assert_array_equal(got, want)
    with runtime.load(A["onnx"], backend="onnxruntime") as be:
        (by_path,), (by_array,) = be.predict(list(tmp_path.glob("*.png"))), be.predict(want)
    assert [p.class_id for p in by_path] == [p.class_id for p in by_array]
    assert [p.prob for p in by_path] == pytest.approx([p.prob for p in by_array], abs=1e-6)


def test_huge_jpeg_header_bounded_memory(A: dict[str, Path]) -> None:
    """A 20000x20000 JPEG header is decoded at reduced scale (DCT draft) or refused; no crash either way.

    The bound: a full decode would hold 400 MP (PIL's 4-byte RGBX, its bytes copy, the BGR array: ~4 GB);
    at 1/4 scale (25 MP, under io.MAX_PIXELS = 50 MP) the same three buffers peak at ~0.35 GB.
    """
    from yolocls.data.io import MAX_PIXELS, imread

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    try:
        out = imread(A["huge_jpg"])
    except ImageError as e:
        assert "\n" not in str(e)
    else:
        assert out.shape[0] * out.shape[1] <= MAX_PIXELS and out.shape[2] == 3
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    print(f"20000x20000 JPEG header: peak RSS grew by {grown_mb:.0f} MB")
    assert grown_mb < 700, f"peak RSS grew by {grown_mb:.0f} MB"


def _views() -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "padded-rows": lambda im: np.pad(im, ((0, 0), (0, 13), (0, 0)))[:, : im.shape[1]],
        "column-slice": lambda im: np.ascontiguousarray(np.pad(im, ((0, 0), (5, 0), (0, 0))))[:, 5:],
        "row-step-2": lambda im: np.repeat(im, 2, axis=0)[::2],
        "fortran-order": lambda im: np.asfortranarray(im),
        "flipped-rows": lambda im: np.ascontiguousarray(im[::-1])[::-1],
        "flipped-cols": lambda im: np.ascontiguousarray(im[:, ::-1])[:, ::-1],
        "flipped-channels": lambda im: np.ascontiguousarray(im[:, :, ::-1])[:, :, ::-1],
        "pixel-stride-2": lambda im: np.repeat(im, 2, axis=2)[:, :, ::2],
        "read-only": lambda im: _readonly(im),
    }


def _readonly(im: np.ndarray) -> np.ndarray:
    v = im.copy()
    v.setflags(write=False)
    return v


@pytest.mark.parametrize("view", list(_views()), ids=list(_views()))
def test_non_contiguous_arrays_give_the_plain_result(view: str, A: dict[str, Path]) -> None:
    """Views (padded rows, slices, negative strides, Fortran order) equal the contiguous image, or fail clearly."""
    from yolocls import _native as nat
    from yolocls import runtime
    from yolocls.data.preprocess import PreprocessConfig, preprocess_with

    im = _base_image()
    v = _views()[view](im)
    np.testing.assert_array_equal(v, im)
    cfg = PreprocessConfig(imgsz=IMGSZ)
    want = preprocess_with([im], cfg)
    np.testing.assert_allclose(preprocess_with([v], cfg), want, atol=1e-6)
    if nat.available():
        try:
            got = nat.preprocess([v], cfg)
        except InputError as e:  # a layout the kernel refuses must say so (stride) rather than compute garbage
            assert "stride" in str(e).lower() or "contiguous" in str(e).lower(), str(e)
        else:
            np.testing.assert_allclose(got, want, atol=1e-5)
    with runtime.load(A["onnx"], backend="onnxruntime") as be:
        a, b = be.predict(v)[0], be.predict(im)[0]
    assert [p.class_id for p in a] == [p.class_id for p in b]


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_onnx_without_metadata_falls_back_to_flags(backend: str, A: dict[str, Path], tmp_path: Path) -> None:
    """`yolocls infer --names ... ` runs an ONNX that has no metadata (imgsz from its static input), with the same
    answer as the ONNX that has it; --names also reads a file with one name per line."""
    from yolocls import runtime

    if backend not in runtime.available_backends():
        pytest.skip(f"{backend} is not available here")
    names_file = tmp_path / "names.txt"
    names_file.write_text("\n".join(NAMES) + "\n")
    outs = []
    for model, extra in ((A["onnx"], []), (A["nometa_onnx"], ["--names", ",".join(NAMES)]),
                         (A["nometa_onnx"], ["--names", str(names_file), "--imgsz", str(IMGSZ)])):
        r = CliRunner().invoke(_app(), ["infer", "--model", str(model), "--source", str(A["ok_png"]), "--backend",
                                        backend, "--warmup", "0", "--topk", "3", *extra])
        assert r.exit_code == 0, r.output
        outs.append(r.stdout.splitlines()[0].split("  [")[0])
    assert outs[0] == outs[1] == outs[2] and any(n in outs[0] for n in NAMES), outs


def test_truncated_video_stops_with_a_count(A: dict[str, Path]) -> None:
    r = CliRunner().invoke(_app(), ["infer", "--model", str(A["onnx"]), "--source", str(A["cut_video"]),
                                    "--warmup", "0", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "Traceback" not in r.output
    n = int(r.stdout.split(" frame(s)")[0].rsplit(" ", 1)[-1])
    assert 0 < n < 10
    assert "ended early (truncated)" in r.stderr
    r = CliRunner().invoke(_app(), ["predict", "--weights", str(A["pt"]), "--source", str(A["cut_video"]),
                                    "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert f"{n} frame(s)" in r.stdout


def test_corrupt_images_skipped_and_counted(A: dict[str, Path], tmp_path: Path) -> None:
    src = tmp_path / "mix"
    src.mkdir()
    shutil.copy(A["ok_png"], src / "a.png")
    for n in ("text_jpg", "zero_png", "trunc_jpg"):
        shutil.copy(A[n], src / A[n].name)
    r = CliRunner().invoke(_app(), ["predict", "--weights", str(A["pt"]), "--source", str(src), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "1 frame(s)" in r.stdout
    assert sum(ln.startswith("skipped ") for ln in r.stderr.splitlines()) == 3


# -- the real entry point: no traceback on a terminal, no signal --------------------------------------------------

REAL = [
    ("garbage-pt", ["predict", "--weights", "{garbage_pt}", "--source", "{ok_png}"], "not a PyTorch checkpoint"),
    ("garbage-onnx-openvino", ["infer", "--model", "{garbage_onnx}", "--source", "{ok_png}", "--backend", "openvino"],
     "onnx"),
    ("int8-no-calib", ["build-engine", "--onnx", "{onnx}", "--int8"], "calib"),
    ("truncated-image", ["infer", "--model", "{onnx}", "--source", "{trunc_jpg}"], "could be read"),
]


def _entry_point() -> list[str]:
    exe = shutil.which("yolocls")
    return [exe] if exe else [sys.executable, "-m", "yolocls"]


@pytest.mark.parametrize("case", REAL, ids=[c[0] for c in REAL])
def test_real_process_one_line_no_signal(case: tuple[str, list[str], str], A: dict[str, Path], tmp_path: Path
                                         ) -> None:
    _, args, expect = case
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(_entry_point() + _fill(args, A, tmp_path), env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])  # negative = killed by a signal
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    err = [ln for ln in lines if not ln.startswith("skipped ")]
    assert len(err) == 1 and err[0].startswith("yolocls: error:"), p.stderr
    assert expect.lower() in err[0].lower()
    # a skipped file is reported once (the command's line), not again by the logging module
    assert len(lines) - len(err) == sum("{trunc_" in a for a in args), p.stderr


def test_battery_size() -> None:
    """The issue asks for at least 40 failing-input cases across the CLI and the API."""
    assert len(CLI_CASES) + len(API_CASES) >= 40
