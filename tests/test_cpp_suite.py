"""The C++ test suite (csrc/tests, ctest) run from pytest: natively, cross-compiled for aarch64 under qemu-user, and
the GPU check's build.

- test_ctest_native: configures the `cpu` preset with YOLOCLS_BUILD_TESTS=ON in a temp dir, builds, runs ctest.
- test_cross_aarch64: scripts/cross_aarch64.sh (g++-aarch64-linux-gnu + qemu-aarch64; skips without them): the suite
  under qemu, and aarch64's preprocessing outputs equal to x86's portable path within 1e-6.
- test_gpu_check_builds: scripts/gpu_check.sh --build-only (nvcc; skips without it): one self-contained executable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("ninja") is None, reason="needs cmake + ninja"),
]


def _run(cmd: list[str], timeout: int = 1200, cwd: Path = ROOT, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, **kw)  # type: ignore[call-overload]


def _ok(p: subprocess.CompletedProcess[str]) -> str:
    assert p.returncode == 0, f"{' '.join(map(str, p.args))} failed ({p.returncode}):\n{p.stdout[-6000:]}\n{p.stderr[-4000:]}"
    return p.stdout


def _openvino_dir() -> list[str]:
    try:
        import openvino.utils  # type: ignore[import-untyped]
    except ImportError:
        return []
    return [f"-DOpenVINO_DIR={openvino.utils.get_cmake_path()}"]


def test_ctest_native(tmp_path: Path) -> None:
    build = tmp_path / "build"
    _ok(_run(["cmake", "-S", str(ROOT), "-B", str(build), "--preset", "cpu", "-DYOLOCLS_BUILD_TESTS=ON",
              *_openvino_dir()]))
    _ok(_run(["cmake", "--build", str(build), "--parallel", os.environ.get("JOBS", "2")]))
    out = _ok(_run(["ctest", "--output-on-failure"], cwd=build))
    assert "100% tests passed" in out, out
    for name in ("test_preprocess_golden", "test_preprocess_paths", "test_metadata", "test_onnx_reader",
                 "test_runtime_errors", "test_tensorrt_sidecar", "test_cuda_taps"):
        assert name in out, out


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-g++") is None or shutil.which("qemu-aarch64") is None,
                    reason="needs g++-aarch64-linux-gnu and qemu-user (apt-get install g++-aarch64-linux-gnu qemu-user)")
def test_cross_aarch64(tmp_path: Path) -> None:
    p = _run(["bash", "scripts/cross_aarch64.sh", str(tmp_path / "cross")])
    if p.returncode == 77:
        pytest.skip(p.stdout.strip())
    out = _ok(p)
    assert "100% tests passed" in out and "0 over tolerance 1e-6" in out, out


@pytest.mark.skipif(shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").is_file(),
                    reason="needs nvcc")
def test_gpu_check_builds(tmp_path: Path) -> None:
    out = _ok(_run(["bash", "scripts/gpu_check.sh", "--build-only"], env={**os.environ, "BUILD_DIR": str(tmp_path)}))
    exe = tmp_path / "yolocls_gpu_check"
    assert "built" in out and exe.is_file()
    # Self-contained: no CUDA runtime, C++ library, Python or engine library to find on the GPU machine.
    needed = _ok(_run(["readelf", "-d", str(exe)])) if shutil.which("readelf") else ""
    for lib in ("libcudart", "libstdc++", "libpython", "libopenvino", "libnvinfer", "libyolocls"):
        assert lib not in needed, needed
    p = _run([str(exe), "--bogus"])
    assert p.returncode == 2 and "unknown argument --bogus" in p.stderr
    if shutil.which("nvidia-smi") is None:  # no GPU: the check says so and exits 3
        p = _run([str(exe), "--no-bench"])
        assert p.returncode == 3 and "no usable CUDA device" in p.stdout, p.stdout + p.stderr


def test_gpu_check_script_rejects_bad_arguments() -> None:
    p = _run(["bash", "scripts/gpu_check.sh", "--bogus"])
    assert p.returncode == 2 and p.stderr.startswith("gpu_check: error: unknown argument --bogus"), p.stderr
