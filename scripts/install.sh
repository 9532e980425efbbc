#!/usr/bin/env bash
# All set-up on a fresh machine: torch (CPU wheel, pinned), then yolocls with its C++ extension and dev tools.
# Idempotent: re-running on a set-up machine only rebuilds the extension.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet "torch==2.13.0"
# The extension build (CMake + pybind11 + OpenVINO's CMake config + nvcc when present) runs inside pip.
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} "$PY" -m pip install --quiet -e ".[dev]"
"$PY" -c "import yolocls, yolocls._native as n; print('yolocls', yolocls.__version__, '| extension:', n.available())"
