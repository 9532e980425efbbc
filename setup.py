"""Build glue: configures one of CMakePresets.json's presets and builds ``yolocls/_C``, ``libyolocls_runtime`` and the
backend modules (``libyolocls_openvino.so``, ``libyolocls_tensorrt.so``) into the package folder.

All package metadata lives in pyproject.toml; what is built lives in CMakeLists.txt and CMakePresets.json. This file
only adds what pip knows: the Python interpreter, pybind11's and OpenVINO's CMake folders, the output folder.
Environment knobs:
  YOLOCLS_PRESET=cpu          the CMake preset (default: `default`, every component found here; also cpu, cuda,
                              cuda-tensorrt, jetson)
  YOLOCLS_NO_EXTENSION=1      skip the C++ build entirely (the package still works: NumPy, ONNX Runtime, PyTorch)
  YOLOCLS_CMAKE_ARGS="..."    extra CMake arguments, e.g. -DTensorRT_ROOT=/usr/src/tensorrt
  YOLOCLS_BUILD_TYPE=Debug    CMake build type (default: the preset's, Release)
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


def _drop_stale_cache(build_dir: Path) -> None:
    """Forget a CMake cache whose tools are gone: pip's isolated build env (cmake, ninja) is a new temp folder on each
    build, while build_temp persists in the tree, so a second `pip wheel .` would find ninja's old path."""
    cache = build_dir / "CMakeCache.txt"
    if not cache.is_file():
        return
    for line in cache.read_text(errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.split(":")[0] in ("CMAKE_MAKE_PROGRAM", "CMAKE_COMMAND") and value and not Path(value).exists():
            cache.unlink()
            shutil.rmtree(build_dir / "CMakeFiles", ignore_errors=True)
            return


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        out = Path(self.get_ext_fullpath(ext.name)).resolve()
        out_dir = out.parent
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)
        _drop_stale_cache(build_dir)
        import pybind11

        args = [
            f"--preset={os.environ.get('YOLOCLS_PRESET', 'default')}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
            f"-DYOLOCLS_PYTHON_OUTPUT_DIR={out_dir}",
            "-DYOLOCLS_BUILD_PYTHON=ON",
        ]
        if os.environ.get("YOLOCLS_BUILD_TYPE"):
            args.append(f"-DCMAKE_BUILD_TYPE={os.environ['YOLOCLS_BUILD_TYPE']}")
        try:
            # Only to compile the OpenVINO module; the built package loads OpenVINO at run time, when it is used.
            import openvino.utils

            args.append(f"-DOpenVINO_DIR={openvino.utils.get_cmake_path()}")
        except Exception as e:  # noqa: BLE001 - OpenVINO is optional for the build
            print(f"yolocls: OpenVINO CMake config not found ({e}); building without the OpenVINO module")
        args += shlex.split(os.environ.get("YOLOCLS_CMAKE_ARGS", ""))
        subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir), *args], check=True, cwd=ROOT)
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2))
        subprocess.run(["cmake", "--build", str(build_dir), "--parallel", jobs], check=True)


    def copy_extensions_to_source(self) -> None:
        # Editable installs copy only the extension file into the tree; _C links libyolocls_runtime (RPATH $ORIGIN),
        # which loads the backend modules from its own folder: the libraries have to travel with it.
        super().copy_extensions_to_source()
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            inplace_file, regular_file = self._get_inplace_equivalent(build_py, ext)
            for lib in Path(regular_file).parent.glob("libyolocls_*.so*"):
                self.copy_file(str(lib), str(Path(inplace_file).parent / lib.name), level=self.verbose)


ext_modules = [] if os.environ.get("YOLOCLS_NO_EXTENSION") == "1" else [CMakeExtension("yolocls._C")]
setup(ext_modules=ext_modules, cmdclass={"build_ext": CMakeBuild})
