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
    from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

    torch.manual_seed(0)
    m = yolocls.create_model("tiny-cls", num_classes=len(NAMES))
    m.names = list(NAMES)
    m.preprocess = PreprocessConfig(imgsz=IMGSZ)
    rng = np.random.default_rng(0)
    x = preprocess_with([rng.integers(0, 256, (40, 48, 3), dtype=np.uint8) for _ in range(8)], m.preprocess)
    return calibrate_batchnorm(m, x)


@pytest.fixture(scope="module")
def A(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every file the cases refer to, by key. File and folder names are neutral (f1.pt, i3.png, d2, ...): a message
    check must pass because of what the message says, never because the path holds the word (empty.pt, corrupt/)."""
    import onnx

    from yolocls.export.onnx import export_onnx
    from yolocls.models.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("assets")
    a: dict[str, Path] = {"dir": d}
    model = _calibrated_tiny()
    a["pt"] = save_checkpoint(d / "f0.pt", model)
    a["onnx"] = d / "f0.onnx"
    export_onnx(model, a["onnx"], imgsz=IMGSZ, simplify=False, verify=False)
    a["static_onnx"] = d / "f1.onnx"
    export_onnx(model, a["static_onnx"], imgsz=IMGSZ, dynamic=False, simplify=False, verify=False)
    proto = onnx.load(str(a["onnx"]))
    del proto.metadata_props[:]
    a["nometa_onnx"] = d / "f2.onnx"
    onnx.save(proto, str(a["nometa_onnx"]))

    rng = np.random.default_rng(1)
    for ext in ("pt", "onnx"):
        data = a[ext].read_bytes()
        a[f"empty_{ext}"], a[f"trunc_{ext}"], a[f"garbage_{ext}"] = d / f"f3.{ext}", d / f"f4.{ext}", d / f"f5.{ext}"
        a[f"empty_{ext}"].write_bytes(b"")
        a[f"trunc_{ext}"].write_bytes(data[: len(data) // 2])
        a[f"garbage_{ext}"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    a["text_pt"] = d / "f6.pt"
    a["text_pt"].write_text("this is not a checkpoint\n")
    # a valid PyTorch file that is not a yolocls checkpoint
    a["foreign_pt"] = d / "f7.pt"
    torch.save({"weights": torch.zeros(3)}, a["foreign_pt"])
    # engines: garbage bytes, with and without sidecars of several kinds of wrong
    for i, name in enumerate(("nosidecar", "badjson", "emptyjson", "partialjson")):
        a[f"engine_{name}"] = d / f"e{i}.engine"
        a[f"engine_{name}"].write_bytes(rng.integers(0, 256, 2048, dtype=np.uint8).tobytes())
    Path(f"{a['engine_badjson']}.json").write_text("{not json")
    Path(f"{a['engine_emptyjson']}.json").write_text("")
    Path(f"{a['engine_partialjson']}.json").write_text('{"names": ["a"], "imgsz": 32}')

    # images
    img = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    cv2.imwrite(str(d / "ok.png"), img)
    cv2.imwrite(str(d / "ok.jpg"), img)
    a["ok_png"], a["ok_jpg"] = d / "ok.png", d / "ok.jpg"
    for i, n in enumerate(("text_jpg", "zero_png", "trunc_png", "trunc_jpg", "header_png", "huge_png", "huge_jpg",
                           "folder_jpg", "dangling_png")):
        a[n] = d / f"i{i}.{n.rsplit('_', 1)[1]}"
    a["text_jpg"].write_text("hello, I am not a JPEG")
    a["zero_png"].write_bytes(b"")
    png, jpg = (d / "ok.png").read_bytes(), (d / "ok.jpg").read_bytes()
    a["trunc_png"].write_bytes(png[: len(png) // 2])
    a["trunc_jpg"].write_bytes(jpg[: len(jpg) // 2])
    a["header_png"].write_bytes(png[:8])
    _png_header_only(a["huge_png"], 20000, 20000)
    _jpeg_with_size(a["huge_jpg"], 20000, 20000)
    a["folder_jpg"].mkdir()
    os.symlink(d / "t0.png", a["dangling_png"])  # t0.png does not exist

    # a folder of bad images only, a folder with a non-image
    bad = d / "s0"
    bad.mkdir()
    for n in ("text_jpg", "zero_png", "trunc_jpg"):
        shutil.copy(a[n], bad / a[n].name)
    a["bad_images_dir"] = bad
    (d / "s1").mkdir()
    (d / "s1" / "notes.txt").write_text("x")
    a["noimgs_dir"] = d / "s1"

    # videos: whole, truncated mid-stream, garbage
    _write_video(d / "v.avi")
    vid = (d / "v.avi").read_bytes()
    (d / "v1.avi").write_bytes(vid[: int(len(vid) * 0.6)])
    (d / "v2.mp4").write_bytes(b"garbage" * 200)
    a["video"], a["cut_video"], a["junk_video"] = d / "v.avi", d / "v1.avi", d / "v2.mp4"

    # datasets
    ds = d / "ds"
    for i, n in enumerate(("noclasses", "emptyclasses", "loop", "unreadable", "corrupt", "nosplits")):
        a[f"ds_{n}"] = ds / f"d{i}"
    (a["ds_noclasses"] / "train").mkdir(parents=True)
    (a["ds_noclasses"] / "val").mkdir(parents=True)
    cv2.imwrite(str(a["ds_noclasses"] / "train" / "loose.png"), img)
    for split in ("train", "val"):
        for c in ("a", "b"):
            (a["ds_emptyclasses"] / split / c).mkdir(parents=True)
            (a["ds_loop"] / split / c).mkdir(parents=True)
            os.symlink(a["ds_loop"] / split / c, a["ds_loop"] / split / c / "x")  # a symlink loop, no images
            (a["ds_unreadable"] / split / c).mkdir(parents=True)
            os.symlink(d / "t0.png", a["ds_unreadable"] / split / c / "x.png")  # dangling
            (a["ds_corrupt"] / split / c).mkdir(parents=True)
            shutil.copy(a["text_jpg"], a["ds_corrupt"] / split / c / "x.jpg")
    (a["ds_nosplits"] / "a").mkdir(parents=True)
    (ds / "file.txt").write_text("x")
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
    CliCase("predict-empty-pt", _p("predict", "--weights", "{empty_pt}", "--source", "{ok_png}"), "is empty (0 bytes)"),
    CliCase("predict-trunc-pt", _p("predict", "--weights", "{trunc_pt}", "--source", "{ok_png}"),
            "is truncated or corrupt (incomplete zip archive)"),
    CliCase("predict-garbage-pt", _p("predict", "--weights", "{garbage_pt}", "--source", "{ok_png}"),
            "not a pytorch checkpoint"),
    CliCase("predict-text-pt", _p("predict", "--weights", "{text_pt}", "--source", "{ok_png}"),
            "not a pytorch checkpoint"),
    CliCase("predict-foreign-pt", _p("predict", "--weights", "{foreign_pt}", "--source", "{ok_png}"),
            "not a yolocls checkpoint"),
    CliCase("val-empty-pt", _p("val", "--weights", "{empty_pt}", "--data", "{ds_emptyclasses}"),
            "is empty (0 bytes)"),
    CliCase("export-trunc-pt", _p("export", "--weights", "{trunc_pt}", "--output", "{tmp}/x.onnx"),
            "is truncated or corrupt (incomplete zip archive)"),
    CliCase("export-garbage-pt", _p("export", "--weights", "{garbage_pt}", "--output", "{tmp}/x.onnx"),
            "not a pytorch checkpoint"),
    CliCase("export-folder", _p("export", "--weights", "{dir}", "--output", "{tmp}/x.onnx"),
            "expected a file but got a folder"),
    CliCase("predict-empty-onnx", _p("predict", "--weights", "{empty_onnx}", "--source", "{ok_png}"),
            "is not a readable ONNX model (empty file)"),
    CliCase("predict-trunc-onnx", _p("predict", "--weights", "{trunc_onnx}", "--source", "{ok_png}"),
            "is not a readable ONNX model (a "),
    CliCase("predict-garbage-onnx", _p("predict", "--weights", "{garbage_onnx}", "--source", "{ok_png}"),
            "is not a readable ONNX model"),
    CliCase("infer-trunc-onnx-ort", _p("infer", "--model", "{trunc_onnx}", "--source", "{ok_png}",
                                       "--backend", "onnxruntime"), "is not a readable ONNX model"),
    CliCase("infer-garbage-onnx-openvino", _p("infer", "--model", "{garbage_onnx}", "--source", "{ok_png}",
                                              "--backend", "openvino"), "is not a readable ONNX model"),
    CliCase("val-garbage-onnx", _p("val", "--weights", "{garbage_onnx}", "--data", "{ds_emptyclasses}"),
            "is not a readable ONNX model"),
    CliCase("predict-nometa-onnx", _p("predict", "--weights", "{nometa_onnx}", "--source", "{ok_png}"),
            "has no yolocls metadata"),
    CliCase("infer-nometa-onnx-ort", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                        "--backend", "onnxruntime"), "has no yolocls metadata"),
    CliCase("infer-nometa-onnx-imgsz-only", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                               "--imgsz", "32"), "--imgsz alone is not enough"),
    CliCase("infer-nometa-onnx-wrong-imgsz", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                                "--backend", "onnxruntime", "--names", "a,b,c", "--imgsz", "64"),
            "metadata says imgsz 64 but the model input is [32, 32]"),
    CliCase("infer-nometa-onnx-wrong-names", _p("infer", "--model", "{nometa_onnx}", "--source", "{ok_png}",
                                                "--backend", "onnxruntime", "--names", "a,b"),
            "2 class names but the model outputs 3 classes"),
    CliCase("infer-names-on-pt", _p("infer", "--model", "{pt}", "--source", "{ok_png}", "--names", "a,b,c"),
            "only apply to .onnx/.xml models without yolocls metadata"),
    CliCase("predict-unknown-suffix", _p("predict", "--weights", "{ok_png}", "--source", "{ok_png}"),
            "cannot tell the model type"),
    # the sidecar through `info` (infer --engine refuses first where TensorRT is missing, whatever the sidecar says)
    CliCase("info-engine-no-sidecar", _p("info", "--weights", "{engine_nosidecar}"), ".engine.json not found"),
    CliCase("info-engine-badjson", _p("info", "--weights", "{engine_badjson}"), "is not valid JSON"),
    CliCase("infer-backend-mismatch", _p("infer", "--model", "{pt}", "--source", "{ok_png}",
                                         "--backend", "onnxruntime"), "cannot run .pt"),
    CliCase("build-engine-missing-onnx", _p("build-engine", "--onnx", "{tmp}/nope.onnx"), "nope.onnx not found"),
    CliCase("build-engine-garbage-onnx", _p("build-engine", "--onnx", "{garbage_onnx}"), "is not a readable ONNX model"),
    CliCase("build-engine-not-onnx", _p("build-engine", "--onnx", "{pt}"), "--onnx expects an .onnx file, got"),
    # contradictory flags
    CliCase("build-engine-int8-no-calib", _p("build-engine", "--onnx", "{onnx}", "--int8"),
            "--int8 needs calibration images"),
    CliCase("build-engine-calib-without-int8", _p("build-engine", "--onnx", "{onnx}", "--calib-data", "{dir}"),
            "only apply to --int8"),
    CliCase("build-engine-static-batch", _p("build-engine", "--onnx", "{static_onnx}", "--max-batch", "8"),
            "static batch of 1 but --max-batch 8"),
    CliCase("predict-imgsz-vs-static-onnx", _p("predict", "--weights", "{static_onnx}", "--source", "{ok_png}",
                                               "--imgsz", "64"), "takes 32 px images; drop --imgsz 64"),
    CliCase("val-imgsz-vs-onnx", _p("val", "--weights", "{onnx}", "--data", "{ds_corrupt}", "--imgsz", "64"),
            "takes 32 px images; drop --imgsz 64"),
    CliCase("export-half-cpu-verify", _p("export", "--weights", "{pt}", "--output", "{tmp}/x.onnx",
                                         "--opset", "5"), "opset must be an integer from 11 to 20, got 5"),
    # images and sources
    CliCase("predict-only-bad-images", _p("predict", "--weights", "{pt}", "--source", "{bad_images_dir}"),
            "not an image (unrecognised or corrupt header)"),
    CliCase("infer-only-bad-images", _p("infer", "--model", "{onnx}", "--source", "{bad_images_dir}"),
            "could be read (3 skipped)"),
    CliCase("predict-missing-source", _p("predict", "--weights", "{pt}", "--source", "{tmp}/nowhere"),
            "nowhere not found: pass an image"),
    CliCase("predict-folder-without-images", _p("predict", "--weights", "{pt}", "--source", "{noimgs_dir}"),
            "no images or videos"),
    CliCase("infer-garbage-video", _p("infer", "--model", "{onnx}", "--source", "{junk_video}"),
            "could be read (1 skipped)"),
    # datasets
    CliCase("val-dataset-no-classes", _p("val", "--weights", "{pt}", "--data", "{ds_noclasses}"), "no class folders in"),
    CliCase("val-dataset-empty-classes", _p("val", "--weights", "{pt}", "--data", "{ds_emptyclasses}"),
            "no images found under"),
    CliCase("val-dataset-symlink-loop", _p("val", "--weights", "{pt}", "--data", "{ds_loop}"), "no images found under"),
    CliCase("val-dataset-no-splits", _p("val", "--weights", "{pt}", "--data", "{ds_nosplits}"),
            "has no val/ or test/ folder"),
    CliCase("val-dataset-is-file", _p("val", "--weights", "{pt}", "--data", "{ds_file}"), "is a file, not a folder"),
    CliCase("train-dataset-empty-classes", _p("train", "--model", "tiny-cls", "--data", "{ds_emptyclasses}",
                                              "--epochs", "1", "--project", "{tmp}/runs"), "no images found under"),
    CliCase("train-dataset-only-corrupt", _p("train", "--model", "tiny-cls", "--data", "{ds_corrupt}",
                                             "--epochs", "1", "--imgsz", "32", "--project", "{tmp}/runs"),
            "is corrupt (2 files; first: cannot read image"),
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
        from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

        return preprocess_with([arr()], PreprocessConfig(imgsz=IMGSZ))
    return f


def _native(arr: Callable[[], Any]) -> Callable[[dict[str, Path]], Any]:
    def f(a: dict[str, Path]) -> Any:
        from yolocls import _native as nat
        from yolocls.spec.preprocess import PreprocessConfig

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
    ApiCase("load_model-empty", _load_model("empty_pt"), CheckpointError, r"is empty \(0 bytes\)"),
    ApiCase("load_model-truncated", _load_model("trunc_pt"), CheckpointError, r"truncated or corrupt \(incomplete zip"),
    ApiCase("load_model-garbage", _load_model("garbage_pt"), CheckpointError, "not a PyTorch checkpoint"),
    ApiCase("load_model-foreign", _load_model("foreign_pt"), CheckpointError, "not a yolocls checkpoint"),
    ApiCase("load_model-folder", _load_model("dir"), CheckpointError, "not a file"),
    ApiCase("runtime-torch-truncated", _load("trunc_pt"), CheckpointError, r"truncated or corrupt \(incomplete zip"),
    ApiCase("runtime-ort-empty-onnx", _load("empty_onnx", backend="onnxruntime"), MetadataError, "is not a readable ONNX model"),
    ApiCase("runtime-ort-trunc-onnx", _load("trunc_onnx", backend="onnxruntime"), MetadataError, "is not a readable ONNX model"),
    ApiCase("runtime-ov-garbage-onnx", _load("garbage_onnx", backend="openvino"), YoloclsError, "is not a readable ONNX model"),
    ApiCase("runtime-ov-trunc-onnx", _load("trunc_onnx", backend="openvino"), YoloclsError, "is not a readable ONNX model"),
    ApiCase("runtime-ort-nometa", _load("nometa_onnx", backend="onnxruntime"), MetadataError, "has no yolocls metadata"),
    ApiCase("runtime-ov-nometa", _load("nometa_onnx", backend="openvino"), YoloclsError, "has no yolocls metadata"),
    ApiCase("read_metadata-nometa", _ov_metadata_flag, MetadataError, "has no yolocls metadata.*--names"),
    ApiCase("runtime-unknown-suffix", _load("ok_png"), InputError, "cannot tell the model type"),
    ApiCase("runtime-unknown-backend", _load("onnx", backend="caffe"), InputError, "unknown backend"),
    ApiCase("runtime-engine-no-trt", _load("engine_nosidecar"), BackendUnavailableError,
            "backend .tensorrt. is not available"),
    ApiCase("sidecar-missing", _sidecar("engine_nosidecar"), MetadataError, r"engine metadata .*\.engine\.json not found"),
    ApiCase("sidecar-bad-json", _sidecar("engine_badjson"), MetadataError, "is not valid JSON"),
    ApiCase("sidecar-empty", _sidecar("engine_emptyjson"), MetadataError, "is not valid JSON"),
    ApiCase("sidecar-partial", _sidecar("engine_partialjson"), MetadataError, "lacks tensorrt_version.*rebuild"),
    ApiCase("imread-text", _imread("text_jpg"), ImageError, "not an image"),
    ApiCase("imread-zero-bytes", _imread("zero_png"), ImageError, r"empty file \(0 bytes\)"),
    ApiCase("imread-truncated-png", _imread("trunc_png"), ImageError, "file is truncated"),
    ApiCase("imread-truncated-jpg", _imread("trunc_jpg"), ImageError, "file is truncated"),
    ApiCase("imread-png-signature-only", _imread("header_png"), ImageError, "not an image|file is truncated"),
    ApiCase("imread-20000x20000-png", _imread("huge_png"), ImageError, "too large"),
    ApiCase("imread-folder", _imread("folder_jpg"), ImageError, "it is a folder, not a file"),
    ApiCase("imread-dangling-symlink", _imread("dangling_png"), ImageError, "file not found"),
    ApiCase("ref-float-array", _ref(lambda: np.zeros((8, 8, 3), np.float32)), InputError, "uint8"),
    ApiCase("ref-2d-array", _ref(_u8(8, 8)), InputError, "HxWx3"),
    ApiCase("ref-4-channels", _ref(_u8(8, 8, 4)), InputError, "HxWx3"),
    ApiCase("ref-zero-size", _ref(_u8(0, 8, 3)), InputError, "empty"),
    ApiCase("ref-not-array", _ref(lambda: [[1, 2, 3]]), InputError, "numpy array"),
    ApiCase("native-float-array", _native(lambda: np.zeros((8, 8, 3), np.float32)), InputError, "uint8"),
    ApiCase("native-int16-array", _native(lambda: np.zeros((8, 8, 3), np.int16)), InputError, "uint8"),
    ApiCase("native-2d-array", _native(_u8(8, 8)), InputError, "must be HxWx3, got 2 dims"),
    ApiCase("native-4-channels", _native(_u8(8, 8, 4)), InputError, "must have 3 channels, got 4"),
    ApiCase("native-1-channel", _native(_u8(8, 8, 1)), InputError, "must have 3 channels, got 1"),
    ApiCase("native-zero-size", _native(_u8(0, 8, 3)), InputError, "image 0 is empty"),
    ApiCase("native-4d-array", _native(_u8(1, 8, 8, 3)), InputError, "must be HxWx3, got 4 dims"),
    ApiCase("predict-float-array", _ort_predict(lambda: np.zeros((8, 8, 3), np.float64)), InputError, "uint8"),
    ApiCase("predict-empty-list", _ort_predict(lambda: []), InputError, "no images"),
    ApiCase("predict-wrong-type", _ort_predict(lambda: [42]), InputError, "expected a uint8"),
    ApiCase("predict-after-close-ort", _closed_ort, InputError, "this backend was closed"),
    ApiCase("predict-bad-path", _ort_predict(lambda: ["/nonexistent/x.png"]), ImageError, "x.png: file not found"),
    ApiCase("dataset-no-classes", _scan("ds_noclasses"), DatasetError, "no class folders"),
    ApiCase("dataset-empty-classes", _scan("ds_emptyclasses"), DatasetError, "no images found under"),
    ApiCase("dataset-symlink-loop", _scan("ds_loop"), DatasetError, "no images found under"),
    ApiCase("dataset-dangling-links", _scan("ds_unreadable"), DatasetError, "no images found under"),
    ApiCase("dataset-missing", lambda a: _dataset("dir")({"dir": a["dir"] / "nope"}), DatasetError,
            "dataset .*nope. not found"),
    ApiCase("dataset-no-splits", _dataset("ds_nosplits"), DatasetError, "has no train/ folder"),
    ApiCase("trt-int8-no-calib", _trt_flags(int8=True), InputError, "--int8 needs calibration images"),
    ApiCase("trt-calib-without-int8", _trt_flags(calib_cache="x.cache"), InputError, "only apply to --int8"),
    ApiCase("trt-output-overwrites-onnx", _trt_flags(output="x.onnx"), InputError, "would overwrite a model"),
    ApiCase("trt-static-onnx-batch-8", _static_profile, InputError, "static batch of 1 but --max-batch 8"),
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


@pytest.mark.slow
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
    from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

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
     "is not a readable ONNX model"),
    ("int8-no-calib", ["build-engine", "--onnx", "{onnx}", "--int8"], "--int8 needs calibration images"),
    ("truncated-image", ["infer", "--model", "{onnx}", "--source", "{trunc_jpg}"], "could be read (1 skipped)"),
]


def _entry_point() -> list[str]:
    exe = shutil.which("yolocls")
    return [exe] if exe else [sys.executable, "-m", "yolocls"]


@pytest.mark.parametrize("case", REAL, ids=[c[0] for c in REAL])
@pytest.mark.slow
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
