"""The installed C++ package: cmake --install the runtime, build deploy/cpp against it with find_package(yolocls),
run the example on fixture images (and, when it was built with OpenCV, on JPEG/PNG files and MJPG videos) and compare
its top-5 with the Python OpenVINO backend."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from yolocls import _native
from yolocls.metadata import ModelMetadata
from yolocls.spec.preprocess import PreprocessConfig, preprocess_with

ROOT = Path(__file__).resolve().parents[1]
IMGSZ = 96

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed"),
    pytest.mark.skipif(not (_native.available() and _native.build_info().get("openvino")),
                       reason="yolocls._C not built with OpenVINO (needed for the Python comparison)"),
]


JOBS = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
GEN = ["-GNinja"] if shutil.which("ninja") else []
NO_OPENCV = ("the C++ example was built without OpenCV (its C++ libraries were not found; install "
             "libopencv-{core,imgproc,imgcodecs,videoio}-dev): JPEG/PNG/video cases skipped")


def _run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def _export_model(path: Path, frames: list[np.ndarray]) -> ModelMetadata:
    """yolov5n-cls with BN statistics calibrated on the frames (so logits depend on the image), with metadata."""
    import torch

    from yolocls.export.onnx import export_onnx
    from yolocls.models.registry import create_model
    from yolocls.utils.torch_utils import calibrate_batchnorm

    torch.manual_seed(0)
    model = create_model("yolov5n-cls", names=[f"class{i}" for i in range(10)])
    model.preprocess = PreprocessConfig(imgsz=IMGSZ)
    calibrate_batchnorm(model, preprocess_with(frames, model.preprocess))
    return export_onnx(model, path, imgsz=IMGSZ, simplify=False, verify=False).metadata


def _parse(stdout: str) -> dict[str, list[tuple[int, str, float]]]:
    """{image path: [(class_id, name, prob), ...]} from the example's output."""
    out: dict[str, list[tuple[int, str, float]]] = {}
    current = None
    for line in stdout.splitlines():
        m = re.match(r"^(\S.*) \((\d+)x(\d+)\)$", line)
        if m:
            current = m.group(1)
            out[current] = []
            continue
        m = re.match(r"^\s+(\d+)\s+(\S+)\s+([0-9.]+)$", line)
        if m and current is not None:
            out[current].append((int(m.group(1)), m.group(2), float(m.group(3))))
    return out


def _build_example(prefix: Path, build: Path, *options: str) -> tuple[Path, str]:
    """Configure + build deploy/cpp against the installed runtime; (executable, configure output)."""
    configure = _run(["cmake", "-S", str(ROOT / "deploy" / "cpp"), "-B", str(build), *GEN,
                      f"-DCMAKE_PREFIX_PATH={prefix}", *options])
    _run(["cmake", "--build", str(build), "--parallel", JOBS])
    exe = build / "yolocls_classify"
    assert exe.is_file()
    return exe, configure


def _openvino_libs() -> Path:
    import openvino

    return Path(openvino.__file__).parent / "libs"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install prefix of the runtime (built once per test module), MOVED after `cmake --install`: every test below
    builds and runs against the relocated copy, so the package must not remember where it was installed."""
    import openvino.utils

    root = tmp_path_factory.mktemp("cpp_package")
    prefix, build = root / "prefix", root / "build"
    # The `cpu` preset: this test is about packaging (the CUDA kernel compiles in the Python build).
    _run(["cmake", "-S", str(ROOT), "-B", str(build), "--preset", "cpu", *GEN,
          f"-DOpenVINO_DIR={openvino.utils.get_cmake_path()}", f"-DCMAKE_INSTALL_PREFIX={prefix}"], cwd=ROOT)
    _run(["cmake", "--build", str(build), "--parallel", JOBS])
    _run(["cmake", "--install", str(build)])
    moved = root / "moved" / "elsewhere"
    moved.parent.mkdir()
    shutil.move(str(prefix), str(moved))
    shutil.rmtree(build)  # nothing may lead back to the build tree either
    return moved


@pytest.fixture(autouse=True)
def _openvino_on_library_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C++ user's set-up: OpenVINO's lib folder on LD_LIBRARY_PATH (what OpenVINO's setupvars.sh does)."""
    monkeypatch.setenv("LD_LIBRARY_PATH", str(_openvino_libs()))


def test_installed_package_is_relocatable(installed: Path) -> None:
    """No absolute path into the install prefix, the build tree or a virtualenv; the engine is not linked."""
    lib = installed / "lib"
    runtime = next(lib.glob("libyolocls_runtime.so.*.*"))
    module = lib / "libyolocls_openvino.so"
    assert module.is_file(), sorted(p.name for p in lib.iterdir())

    def dynamic(path: Path) -> str:
        return _run(["readelf", "-d", str(path)])

    rt = dynamic(runtime)
    assert "openvino" not in rt and "nvinfer" not in rt and "cudart" not in rt, rt
    assert re.search(r"RUNPATH.*\[\$ORIGIN\]", rt), rt
    mod = dynamic(module)
    assert "libopenvino.so" in mod, mod
    runpath = re.search(r"RUNPATH.*\[(.*)\]", mod)
    assert runpath and all(entry.startswith("$ORIGIN") for entry in runpath.group(1).split(":")), mod
    for cfg in (lib / "cmake" / "yolocls").iterdir():
        text = cfg.read_text()
        assert "site-packages" not in text and str(installed.parents[1]) not in text, cfg.name
    # find_package works from the moved prefix (the example fixture builds against it) and the example runs there.


def test_missing_engine_library_is_one_clear_error(installed: Path, example: tuple[Path, str],
                                                   model: tuple[Path, ModelMetadata], tmp_path: Path,
                                                   fixture_images: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Without OpenVINO on the library path the example still starts; the OpenVINO backend says what is missing."""
    from PIL import Image

    monkeypatch.delenv("LD_LIBRARY_PATH")
    ppm = tmp_path / "img.ppm"
    Image.open(fixture_images[0]).convert("RGB").save(ppm)
    p = subprocess.run([str(example[0]), str(model[0]), str(ppm)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "the OpenVINO backend needs libopenvino.so." in p.stderr and "LD_LIBRARY_PATH" in p.stderr, p.stderr


@pytest.fixture(scope="module")
def example(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The example built with its defaults (OpenCV when found): (executable, configure output)."""
    return _build_example(installed, tmp_path_factory.mktemp("example") / "build")


@pytest.fixture(scope="module")
def model(fixture_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ModelMetadata]:
    """A yolov5n-cls ONNX export calibrated on three fixture images, with its metadata."""
    from PIL import Image

    frames = [np.ascontiguousarray(np.asarray(Image.open(p).convert("RGB"))[:, :, ::-1]) for p in fixture_images[:3]]
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    return path, _export_model(path, frames)


@pytest.fixture(scope="module")
def opencv_example(example: tuple[Path, str]) -> Path:
    """The example executable when it was built with OpenCV, else a skip that says why."""
    exe, configure = example
    help_text = _run([str(exe), "--help"])
    built_with = re.search(r"^OpenCV: (\S+)", help_text, re.M)
    assert built_with, help_text  # --help always states whether OpenCV is in
    found = re.search(r"yolocls example: OpenCV \S+ support ON", configure) is not None
    assert found == (built_with.group(1) != "no"), configure
    if built_with.group(1) == "no":
        pytest.skip(NO_OPENCV)
    return exe


def _python_topk(model: Path, frames: list[np.ndarray]) -> list[list[tuple[int, str, float]]]:
    """Top-5 of the Python OpenVINO backend on BGR uint8 frames."""
    from yolocls.runtime import load

    with load(model, backend="openvino") as backend:
        return [[(p.class_id, p.name, p.prob) for p in preds] for preds in backend.predict(frames, topk=5)]


def _assert_same_topk(got: list[tuple[int, str, float]], want: list[tuple[int, str, float]], what: str) -> None:
    assert [g[:2] for g in got] == [w[:2] for w in want], what
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], atol=1e-4, err_msg=what)


def test_installed_package_builds_and_classifies(installed: Path, example: tuple[Path, str],
                                                  model: tuple[Path, ModelMetadata], tmp_path: Path,
                                                  fixture_images: list[Path]) -> None:
    from PIL import Image

    prefix, (exe, _) = installed, example
    assert (prefix / "include" / "yolocls" / "runtime.hpp").is_file()
    assert (prefix / "lib" / "cmake" / "yolocls" / "yoloclsConfig.cmake").is_file()
    for header in (prefix / "include" / "yolocls").iterdir():  # the public API names no engine types
        text = header.read_text()
        assert not re.search(r"#include\s*[<\"](cuda|NvInfer|openvino)", text), header.name

    onnx_path, meta = model
    rgb = [np.asarray(Image.open(p).convert("RGB")) for p in fixture_images[:3]]
    frames = [np.ascontiguousarray(a[:, :, ::-1]) for a in rgb]  # BGR, like OpenCV
    files = []
    for i, a in enumerate(rgb):
        ppm, bmp = tmp_path / f"img{i}.ppm", tmp_path / f"img{i}.bmp"
        Image.fromarray(a).save(ppm)
        Image.fromarray(a).save(bmp)
        files += [ppm, bmp]
    bad = tmp_path / "bad.ppm"
    bad.write_bytes(b"P6\n4 4\n255\nxx")  # truncated: skipped with a message, the rest still runs

    p = subprocess.run([str(exe), str(onnx_path), *map(str, files), str(bad), "--topk", "5", "--repeat", "3"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "backend openvino, 10 classes, imgsz 96" in p.stdout
    assert "latency ms (median of 3): preprocess" in p.stdout
    assert f"skipping {bad}: truncated PPM" in p.stderr
    got = _parse(p.stdout)
    assert len(got) == len(files)

    from yolocls.runtime.openvino_backend import OpenVINOBackend

    with OpenVINOBackend(onnx_path, meta) as backend:
        want = backend.predict(frames, topk=5)
    for i, preds in enumerate(want):
        for f in (files[2 * i], files[2 * i + 1]):  # PPM (RGB) and BMP (BGR) give the same answer
            rows = got[str(f)]
            assert [r[0] for r in rows] == [p.class_id for p in preds], f
            assert [r[1] for r in rows] == [p.name for p in preds]
            np.testing.assert_allclose([r[2] for r in rows], [p.prob for p in preds], atol=2e-6)

    p = subprocess.run([str(exe), str(tmp_path / "missing.onnx"), str(files[0])], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("error:")
    p = subprocess.run([str(exe), str(onnx_path), str(files[0]), "--stride", "0"], capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.startswith("error: --stride needs an integer >= 1")


def test_example_without_opencv_reads_ppm_bmp_only(installed: Path, model: tuple[Path, ModelMetadata],
                                                    tmp_path: Path, fixture_images: list[Path]) -> None:
    exe, configure = _build_example(installed, tmp_path / "build", "-DYOLOCLS_EXAMPLE_WITH_OPENCV=OFF")
    assert "OpenCV support OFF (YOLOCLS_EXAMPLE_WITH_OPENCV=OFF)" in configure
    assert "OpenCV: no (built without it: binary PPM/BMP images only, no video)" in _run([str(exe), "--help"])
    jpg = next(p for p in fixture_images if p.suffix == ".jpg")
    p = subprocess.run([str(exe), str(model[0]), str(jpg)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "this build has no OpenCV" in p.stderr and "1 of 1 inputs skipped" in p.stderr


def test_example_reads_jpeg_png_with_opencv(opencv_example: Path, model: tuple[Path, ModelMetadata], tmp_path: Path,
                                            fixture_images: list[Path]) -> None:
    import cv2

    images = [next(p for p in fixture_images if p.suffix == s) for s in (".jpg", ".png")]
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(images[0].read_bytes()[:200])  # a JPEG signature, then nothing decodable
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image\n")
    missing = tmp_path / "missing.png"
    p = subprocess.run([str(opencv_example), str(model[0]), *map(str, images), str(corrupt), str(junk), str(missing)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"skipping {corrupt}: OpenCV cannot decode it" in p.stderr
    assert f"skipping {junk}: not an image or video OpenCV can read" in p.stderr
    assert f"skipping {missing}: cannot open (no such file)" in p.stderr and "3 of 5 inputs skipped" in p.stderr
    got = _parse(p.stdout)
    assert sorted(got) == sorted(map(str, images))
    # cv2.imread in Python decodes the same pixels (EXIF orientation included) as cv::imread in the example
    want = _python_topk(model[0], [cv2.imread(str(f), cv2.IMREAD_COLOR) for f in images])
    for f, w in zip(images, want, strict=True):
        _assert_same_topk(got[str(f)], w, str(f))


@pytest.fixture(scope="module")
def videos(fixture_images: list[Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(an MJPG .avi of 5 distinct 160x120 frames made from a fixture image, a copy cut at 70% of its bytes)."""
    import cv2

    root = tmp_path_factory.mktemp("video")
    img = cv2.imread(str(fixture_images[0]), cv2.IMREAD_COLOR)
    full, cut = root / "clip.avi", root / "clip_truncated.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (160, 120))
    if not writer.isOpened():
        pytest.skip("Python's cv2 cannot write MJPG .avi files here")
    for i in range(5):  # shifted copies so every frame has its own top-5
        writer.write(cv2.resize(np.roll(img, 29 * i, axis=1), (160, 120), interpolation=cv2.INTER_AREA))
    writer.release()
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.7)])
    return full, cut


def _decode_all(path: Path) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


def _frames(got: dict[str, list[tuple[int, str, float]]], video: Path) -> dict[int, list[tuple[int, str, float]]]:
    prefix = f"{video} frame "
    return {int(k[len(prefix):]): v for k, v in got.items() if k.startswith(prefix)}


def test_example_classifies_video_frames(opencv_example: Path, model: tuple[Path, ModelMetadata],
                                         videos: tuple[Path, Path]) -> None:
    full = videos[0]
    decoded = _decode_all(full)
    assert len(decoded) == 5
    want = _python_topk(model[0], decoded)

    p = subprocess.run([str(opencv_example), str(model[0]), str(full)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"video {full}: 160x120, 10.00 fps, 5 frames declared" in p.stdout
    assert "frames read 5, classified 5\n  end of video" in p.stdout
    assert "latency ms (median of 5 frames): preprocess" in p.stdout
    got = _frames(_parse(p.stdout), full)
    assert sorted(got) == [0, 1, 2, 3, 4]
    for i in range(5):
        _assert_same_topk(got[i], want[i], f"frame {i}")
    assert len({tuple(r[0] for r in rows) for rows in got.values()}) > 1  # the frames really differ

    p = subprocess.run([str(opencv_example), str(model[0]), str(full), "--stride", "2", "--max-frames", "2"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "frames read 3, classified 2\n  stopped after --max-frames 2" in p.stdout
    got = _frames(_parse(p.stdout), full)
    assert sorted(got) == [0, 2]
    for i in (0, 2):
        _assert_same_topk(got[i], want[i], f"frame {i} (stride 2)")


def test_example_stops_cleanly_on_truncated_video(opencv_example: Path, model: tuple[Path, ModelMetadata],
                                                  videos: tuple[Path, Path]) -> None:
    full, cut = videos
    want = _python_topk(model[0], _decode_all(full))

    p = subprocess.run([str(opencv_example), str(model[0]), str(cut)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    m = re.search(r"frames read (\d+), classified (\d+)\n  video ended early: (\d+) of 5 declared frames read", p.stdout)
    assert m, p.stdout
    n = int(m.group(1))
    assert 1 <= n < 5 and int(m.group(2)) == n == int(m.group(3))
    got = _frames(_parse(p.stdout), cut)
    assert sorted(got) == list(range(n))
    # frames wholly before the cut decode exactly as in the full file; the last one may be partial (not compared)
    for i in range(n - 1):
        _assert_same_topk(got[i], want[i], f"frame {i} of the truncated copy")
