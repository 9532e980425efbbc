#!/usr/bin/env bash
# All set-up on a fresh machine: torch (CPU wheel, pinned), then yolocls with its C++ extension, every extra
# (train, export, openvino, onnxruntime) and the dev tools. A robot needs only `pip install yolocls[onnxruntime]`
# or `[openvino]` (README "Installing on the device").
# Idempotent: re-running on a set-up machine only rebuilds the extension.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet "torch==2.13.0"
# The extension build (CMake + pybind11 + OpenVINO's CMake config + nvcc when present) runs inside pip.
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} "$PY" -m pip install --quiet -e ".[all,dev]"
"$PY" -c "import yolocls, yolocls._native as n; print('yolocls', yolocls.__version__, '| extension:', n.available())"
