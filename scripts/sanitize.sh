#!/usr/bin/env bash
# Build yolocls._C with AddressSanitizer + UndefinedBehaviorSanitizer and run the native tests under it.
#
# The sanitized build goes to a temp dir (or $YOLOCLS_SANITIZE_DIR, reused between runs for speed) together with a
# copy of the Python package; that copy is put first on PYTHONPATH, so `import yolocls` in the tests loads the
# sanitized _C while the editable install in the working tree stays untouched. No CUDA (quicker to build; nvcc
# does not sanitize device code anyway). Any ASan/UBSan report aborts the test process, which fails this script.
#
# Usage: scripts/sanitize.sh [extra pytest args]      (env: JOBS=2, YOLOCLS_SANITIZE_DIR=/path/to/keep/the/build)
# Needs: gcc/g++ with libasan + libubsan, cmake, ninja, pybind11, openvino (pip), pytest.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
JOBS="${JOBS:-2}"
WORK="${YOLOCLS_SANITIZE_DIR:-}"
if [[ -z "$WORK" ]]; then
  WORK="$(mktemp -d -t yolocls-sanitize.XXXXXX)"
  trap 'rm -rf "$WORK"' EXIT
fi
BUILD="$WORK/build"
PKG="$WORK/pkg"
start=$(date +%s)

# A fresh copy of the Python sources (no compiled files of the editable install).
rm -rf "$PKG"
mkdir -p "$PKG"
cp -r "$ROOT/yolocls" "$PKG/yolocls"
find "$PKG/yolocls" \( -name '*.so' -o -name '__pycache__' \) -prune -exec rm -rf {} +

OV_DIR="$(python -c 'import openvino.utils; print(openvino.utils.get_cmake_path())' 2>/dev/null || true)"
PB_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')"
# The `sanitize` preset (CMakePresets.json): ASan+UBSan, -O1 -g, no CUDA/TensorRT.
(cd "$ROOT" && cmake -S "$ROOT" -B "$BUILD" --preset sanitize \
  -DYOLOCLS_BUILD_PYTHON=ON -DYOLOCLS_PYTHON_OUTPUT_DIR="$PKG/yolocls" \
  -DPython_EXECUTABLE="$(command -v python)" -Dpybind11_DIR="$PB_DIR" ${OV_DIR:+-DOpenVINO_DIR="$OV_DIR"} >/dev/null)
cmake --build "$BUILD" --parallel "$JOBS"
built=$(date +%s)

# CPython is not built with ASan: the runtime has to be loaded before anything else.
LIBASAN="$(g++ -print-file-name=libasan.so)"
[[ -f "$LIBASAN" ]] || { echo "sanitize.sh: libasan.so not found (install libasan / gcc)" >&2; exit 1; }
# libstdc++ too: python does not link it, and ASan's __cxa_throw interceptor must resolve the real one at start-up
# (without it the first C++ exception aborts with "CHECK failed ... real___cxa_throw").
LIBSTDCXX="$(g++ -print-file-name=libstdc++.so)"
export LD_PRELOAD="$LIBASAN:$LIBSTDCXX"
# detect_leaks=0: CPython, NumPy and OpenVINO keep allocations alive until exit by design.
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# OpenVINO's TBB dlopens libtbbbind with RTLD_DEEPBIND, which ASan refuses; this makes TBB leave DEEPBIND out.
export TBB_ENABLE_SANITIZERS=1
export PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1

# Run from the work dir: python puts the current directory first on sys.path, and the repo root holds the editable
# package (whose _C is not sanitized).
cd "$WORK"
# The native tests skip themselves when _C is missing: make sure the sanitized module really loads.
python -c "
from yolocls import _native
import yolocls, sys
assert yolocls.__file__.startswith('$PKG'), yolocls.__file__
info = _native.build_info()
assert info['available'], info
print('sanitized _C:', _native.load_extension().__file__, 'openvino:', info['openvino_version'] or info['openvino_error'])
"
# --capture=sys: sanitizer reports are written to fd 2 by C code; fd capture would hide them when the process aborts.
python -m pytest -q -p no:cacheprovider --capture=sys -c "$ROOT/pyproject.toml" --rootdir "$ROOT" \
  "$ROOT/tests/test_native_preprocess.py" "$ROOT/tests/test_native_runtime.py" \
  "$ROOT/tests/test_onnx_metadata.py::test_hostile_metadata_json_is_one_clean_error_in_python_and_cpp" \
  "$ROOT/tests/test_onnx_metadata.py::test_cpp_reader_refuses_invalid_utf8_and_json_number_forms" \
  "$ROOT/tests/test_onnx_metadata.py::test_hostile_onnx_files_give_one_line_everywhere" \
  "$ROOT/tests/test_hostile_checkpoints.py::test_numpy_dtype_state_file_is_live_under_a_plain_restricted_unpickler" \
  "$ROOT/tests/test_hostile_checkpoints.py::test_numpy_dtype_state_is_refused" \
  "$ROOT/tests/test_hostile_checkpoints.py::test_numpy_dtype_state_is_refused_in_a_child" "$@"
end=$(date +%s)
echo "sanitize.sh: OK (build $((built - start)) s, tests $((end - built)) s)"
