#!/usr/bin/env bash
# Developer rebuild of the C++ extension in place (editable installs): an incremental CMake build in build/dev that
# writes yolocls/_C*.so and the runtime libraries straight into the package folder. One build at a time (flock).
# Usage: scripts/dev_build.sh [extra cmake -D args]      (env: JOBS=2)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/dev"
exec 9>"${TMPDIR:-/tmp}/yolocls-dev-build.lock"
flock 9
OV_DIR="$(python3 -c 'import openvino.utils; print(openvino.utils.get_cmake_path())' 2>/dev/null || true)"
PB_DIR="$(python3 -c 'import pybind11; print(pybind11.get_cmake_dir())')"
cmake -S "$ROOT" -B "$BUILD" --preset "${YOLOCLS_PRESET:-default}" \
  -DYOLOCLS_BUILD_PYTHON=ON -DYOLOCLS_PYTHON_OUTPUT_DIR="$ROOT/yolocls" \
  -DPython_EXECUTABLE="$(command -v python3)" -Dpybind11_DIR="$PB_DIR" ${OV_DIR:+-DOpenVINO_DIR="$OV_DIR"} "$@" >/dev/null
(cd "$ROOT" && cmake --build "$BUILD" --parallel "${JOBS:-2}")
