"""Build glue: compiles csrc/ through CMake into ``yolocls/_C`` (plus ``libyolocls_runtime``).

All package metadata lives in pyproject.toml. Components (CUDA, TensorRT, OpenVINO) are found by CMake and
skipped with a message when missing. Environment knobs:
  YOLOCLS_NO_EXTENSION=1      skip the C++ build entirely (the package still works: NumPy, ONNX Runtime, PyTorch)
  YOLOCLS_CMAKE_ARGS="..."    extra CMake arguments, e.g. -DYOLOCLS_WITH_CUDA=OFF -DTensorRT_ROOT=/usr/src/tensorrt
  YOLOCLS_BUILD_TYPE=Debug    CMake build type (default Release)
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        out = Path(self.get_ext_fullpath(ext.name)).resolve()
        out_dir = out.parent
        build_type = os.environ.get("YOLOCLS_BUILD_TYPE", "Release")
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        import pybind11

        args = [
            f"-DCMAKE_BUILD_TYPE={build_type}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DYOLOCLS_PYTHON_OUTPUT_DIR={out_dir}",
            "-DYOLOCLS_BUILD_PYTHON=ON",
        ]
        try:
            import openvino.utils

            args.append(f"-DOpenVINO_DIR={openvino.utils.get_cmake_path()}")
        except Exception as e:  # noqa: BLE001 - OpenVINO is optional for the build
            print(f"yolocls: OpenVINO CMake config not found ({e}); building without OpenVINO")
        try:
            import ninja  # noqa: F401

            args.append("-GNinja")
        except ImportError:
            pass
        args += shlex.split(os.environ.get("YOLOCLS_CMAKE_ARGS", ""))
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *args], check=True)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        subprocess.run(["cmake", "--build", str(build_dir), "--parallel", jobs], check=True)


    def copy_extensions_to_source(self) -> None:
        # Editable installs copy only the extension file into the tree; _C links libyolocls_runtime (RPATH $ORIGIN),
        # so the library has to travel with it.
        super().copy_extensions_to_source()
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            inplace_file, regular_file = self._get_inplace_equivalent(build_py, ext)
            for lib in Path(regular_file).parent.glob("libyolocls_runtime*"):
                self.copy_file(str(lib), str(Path(inplace_file).parent / lib.name), level=self.verbose)


ext_modules = [] if os.environ.get("YOLOCLS_NO_EXTENSION") == "1" else [CMakeExtension("yolocls._C")]
setup(ext_modules=ext_modules, cmdclass={"build_ext": CMakeBuild})
