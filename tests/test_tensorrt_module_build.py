"""Compile and link check of the TensorRT backend module against NVIDIA's real headers (8.6, 10.3, 11.1).

TensorRT cannot be installed here (no GPU), so this is the honest check that is possible: the `cuda-tensorrt`
preset configures through cmake/FindTensorRT.cmake on a TensorRT root made of NVIDIA's public headers
(../shared/trt-headers/<version>/include, unmodified) and a stub libnvinfer that only exports the factory symbols
the headers declare; libyolocls_tensorrt.so is compiled with nvcc's CUDA and linked with --no-undefined, so every
TensorRT symbol the module uses must be declared by that version's headers and exported by its library. Then the
module's dynamic section is checked (libnvinfer.so.<major> needed, no libcudart.so, the runtime library free of
both) and loading it without libnvinfer fails naming that library. Nothing here runs TensorRT. Skips without the
headers or nvcc.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADERS = Path(os.environ.get("YOLOCLS_TRT_HEADERS", ROOT.parent / "shared" / "trt-headers"))
VERSIONS = ["8.6", "10.3", "11.1"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("ninja") is None, reason="needs cmake + ninja"),
    pytest.mark.skipif(shutil.which("nvcc") is None and not Path("/usr/local/cuda/bin/nvcc").is_file(),
                       reason="needs nvcc (the TensorRT module builds only with CUDA)"),
]

# The C entry points TensorRT's headers declare (8.x: one packed version number; 10.x/11.x: one per part).
STUB = r"""
#include <stdint.h>
void* createInferRuntime_INTERNAL(void* logger, int32_t version) { (void)logger; (void)version; return 0; }
void* createInferBuilder_INTERNAL(void* logger, int32_t version) { (void)logger; (void)version; return 0; }
int32_t getInferLibVersion(void) { return 0; }
int32_t getInferLibMajorVersion(void) { return 0; }
int32_t getInferLibMinorVersion(void) { return 0; }
int32_t getInferLibPatchVersion(void) { return 0; }
int32_t getInferLibBuildVersion(void) { return 0; }
"""


def _nvcc() -> str:
    return shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, **kw)  # type: ignore[call-overload]
    assert p.returncode == 0, f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}"
    return p


def _tensorrt_root(version: str, where: Path) -> Path:
    """A TensorRT root: NVIDIA's headers (linked, not copied) + a stub libnvinfer.so.<major>."""
    include = HEADERS / version / "include"
    if not (include / "NvInferVersion.h").is_file():
        pytest.skip(f"TensorRT {version} headers not found at {include} (../shared/trt-headers beside the clone)")
    root = where / f"tensorrt-{version}"
    (root / "lib").mkdir(parents=True)
    (root / "include").symlink_to(include)
    major = version.split(".")[0]
    src = root / "stub.c"
    src.write_text(STUB)
    lib = root / "lib" / f"libnvinfer.so.{major}"
    _run(["cc", "-shared", "-fPIC", f"-Wl,-soname,libnvinfer.so.{major}", "-o", str(lib), str(src)])
    (root / "lib" / "libnvinfer.so").symlink_to(lib.name)
    return root


@pytest.mark.parametrize("version", VERSIONS)
def test_tensorrt_module_compiles_and_links(version: str, tmp_path: Path) -> None:
    trt = _tensorrt_root(version, tmp_path)
    build = tmp_path / "build"
    configure = _run(["cmake", "-S", str(ROOT), "-B", str(build), "--preset", "cuda-tensorrt",
                      f"-DTensorRT_ROOT={trt}", f"-DCMAKE_CUDA_COMPILER={_nvcc()}", "-DYOLOCLS_WITH_OPENVINO=OFF",
                      "-DCMAKE_CUDA_ARCHITECTURES=87", "-DCMAKE_MODULE_LINKER_FLAGS=-Wl,--no-undefined"], cwd=ROOT)
    assert "TensorRT=ON" in configure.stdout, configure.stdout
    config = (build / "generated" / "yolocls" / "config.hpp").read_text()
    assert f'YOLOCLS_TENSORRT_BUILD_MAJOR "{version.split(".")[0]}"' in config, config
    _run(["cmake", "--build", str(build), "--target", "yolocls_tensorrt", "--parallel",
          os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", "2")])
    module = build / "libyolocls_tensorrt.so"
    assert module.is_file()
    dyn = _run(["readelf", "-d", str(module)]).stdout
    assert f"[libnvinfer.so.{version.split('.')[0]}]" in dyn, dyn
    assert "libcudart.so" not in dyn, dyn  # static cudart: the module needs the driver only when it runs
    runtime = _run(["readelf", "-d", str(build / "libyolocls_runtime.so")]).stdout
    assert "nvinfer" not in runtime and "cudart" not in runtime, runtime

    # The runtime library loads on its own; the module, without libnvinfer on the library path, fails naming it.
    probe = (
        "import ctypes, sys\n"
        f"rt = ctypes.CDLL({str(build / 'libyolocls_runtime.so')!r})\n"
        f"m = ctypes.CDLL({str(module)!r})\n"
    )
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"})
    assert p.returncode != 0 and f"libnvinfer.so.{version.split('.')[0]}" in p.stderr, p.stderr
