"""The installed C++ package: cmake --install the runtime, build deploy/cpp against it with find_package(yolocls),
run the example on fixture images and compare its top-5 with the Python OpenVINO backend."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

from yolocls import _native
from yolocls.data.preprocess import PreprocessConfig, preprocess_with
from yolocls.metadata import ModelMetadata

ROOT = Path(__file__).resolve().parents[1]
IMGSZ = 96

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake not installed"),
    pytest.mark.skipif(not (_native.available() and _native.build_info().get("openvino")),
                       reason="yolocls._C not built with OpenVINO (needed for the Python comparison)"),
]


def _run(cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p.stdout


def _export_model(path: Path, frames: list[np.ndarray]) -> ModelMetadata:
    """yolov5n-cls with BN statistics calibrated on the frames (so logits depend on the image), with metadata."""
    import onnx
    import torch

    from yolocls.models.registry import create_model

    torch.manual_seed(0)
    names = [f"class{i}" for i in range(10)]
    model = create_model("yolov5n-cls", names=names)
    cfg = PreprocessConfig(imgsz=IMGSZ)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(torch.from_numpy(preprocess_with(frames, cfg)))
    model.eval()
    meta = ModelMetadata(names=names, preprocess=cfg, model="yolov5n-cls")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 3, IMGSZ, IMGSZ),), str(path), dynamo=False, opset_version=17,
                          input_names=["images"], output_names=["output0"],
                          dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}})
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "yolocls", meta.to_json()
    onnx.save(proto, str(path))
    return meta


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


def test_installed_package_builds_and_classifies(tmp_path: Path, fixture_images: list[Path]) -> None:
    import openvino.utils
    from PIL import Image

    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")
    prefix, build, example = tmp_path / "prefix", tmp_path / "build", tmp_path / "example"
    gen = ["-GNinja"] if shutil.which("ninja") else []
    # CUDA off: this test is about packaging (the CUDA kernel compiles in the Python build).
    _run(["cmake", "-S", str(ROOT), "-B", str(build), *gen, "-DCMAKE_BUILD_TYPE=Release",
          "-DYOLOCLS_WITH_CUDA=OFF", f"-DOpenVINO_DIR={openvino.utils.get_cmake_path()}",
          f"-DCMAKE_INSTALL_PREFIX={prefix}"])
    _run(["cmake", "--build", str(build), "--parallel", jobs])
    _run(["cmake", "--install", str(build)])
    assert (prefix / "include" / "yolocls" / "runtime.hpp").is_file()
    assert (prefix / "lib" / "cmake" / "yolocls" / "yoloclsConfig.cmake").is_file()
    for header in (prefix / "include" / "yolocls").iterdir():  # the public API names no engine types
        text = header.read_text()
        assert not re.search(r"#include\s*[<\"](cuda|NvInfer|openvino)", text), header.name
    _run(["cmake", "-S", str(ROOT / "deploy" / "cpp"), "-B", str(example), *gen, f"-DCMAKE_PREFIX_PATH={prefix}"])
    _run(["cmake", "--build", str(example), "--parallel", jobs])
    exe = example / "yolocls_classify"
    assert exe.is_file()

    rgb = [np.asarray(Image.open(p).convert("RGB")) for p in fixture_images[:3]]
    frames = [np.ascontiguousarray(a[:, :, ::-1]) for a in rgb]  # BGR, like OpenCV
    model = tmp_path / "model.onnx"
    meta = _export_model(model, frames)
    files = []
    for i, a in enumerate(rgb):
        ppm, bmp = tmp_path / f"img{i}.ppm", tmp_path / f"img{i}.bmp"
        Image.fromarray(a).save(ppm)
        Image.fromarray(a).save(bmp)
        files += [ppm, bmp]
    bad = tmp_path / "bad.ppm"
    bad.write_bytes(b"P6\n4 4\n255\nxx")  # truncated: skipped with a message, the rest still runs

    stdout = _run([str(exe), str(model), *map(str, files), str(bad), "--topk", "5", "--repeat", "3"])
    assert "backend openvino, 10 classes, imgsz 96" in stdout
    assert "latency ms (median of 3): preprocess" in stdout
    got = _parse(stdout)
    assert len(got) == len(files)

    from yolocls.runtime.openvino_backend import OpenVINOBackend

    with OpenVINOBackend(model, meta) as backend:
        want = backend.predict(frames, topk_k=5)
    for i, preds in enumerate(want):
        for f in (files[2 * i], files[2 * i + 1]):  # PPM (RGB) and BMP (BGR) give the same answer
            rows = got[str(f)]
            assert [r[0] for r in rows] == [p.class_id for p in preds], f
            assert [r[1] for r in rows] == [p.name for p in preds]
            np.testing.assert_allclose([r[2] for r in rows], [p.prob for p in preds], atol=2e-6)

    p = subprocess.run([str(exe), str(tmp_path / "missing.onnx"), str(files[0])], capture_output=True, text=True)
    assert p.returncode == 1 and p.stderr.startswith("error:")
