#!/usr/bin/env bash
# aarch64 (Jetson's CPU) in CI: cross-compile the runtime + the C++ test suite with Debian's g++-aarch64-linux-gnu
# (CMake preset `aarch64`, cmake/toolchains/aarch64-linux-gnu.cmake), run the suite under qemu-user through ctest,
# then compare the preprocessing outputs of a fixed input set on aarch64 (qemu) with x86's portable path
# (YOLOCLS_NO_AVX2=1): every value must agree within 1e-6.
# Usage: scripts/cross_aarch64.sh [BUILD_ROOT]      (default build/cross; incremental)   env: JOBS=2
# Exit: 0 passed, 1 failed, 77 skipped (no cross compiler, qemu-aarch64, cmake or ninja here).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/build/cross}"
SYSROOT=/usr/aarch64-linux-gnu
for tool in aarch64-linux-gnu-g++ qemu-aarch64 cmake ninja; do
  if ! command -v "$tool" >/dev/null; then
    echo "cross_aarch64: skipped: $tool not found (apt-get install g++-aarch64-linux-gnu qemu-user cmake ninja-build)"
    exit 77
  fi
done
mkdir -p "$OUT"
t0=$SECONDS
echo "== x86-64 build (portable-path reference)"
cmake -S "$ROOT" -B "$OUT/x86_64" --preset test -DYOLOCLS_WITH_OPENVINO=OFF >/dev/null
cmake --build "$OUT/x86_64" --parallel "${JOBS:-2}" --target test_preprocess_paths >/dev/null
echo "== aarch64 cross build ($(aarch64-linux-gnu-g++ -dumpfullversion))"
cmake -S "$ROOT" -B "$OUT/aarch64" --preset aarch64 >/dev/null
cmake --build "$OUT/aarch64" --parallel "${JOBS:-2}" >/dev/null
file "$OUT/aarch64/csrc/tests/test_preprocess_paths" | grep -q "ARM aarch64" || { echo "cross_aarch64: not an aarch64 binary"; exit 1; }
echo "built in $((SECONDS - t0)) s"
echo "== ctest under $(qemu-aarch64 --version | head -1)"
t1=$SECONDS
(cd "$OUT/aarch64" && ctest --output-on-failure)
echo "ctest under qemu: $((SECONDS - t1)) s"
echo "== aarch64 vs x86-64 portable path (tolerance 1e-6)"
YOLOCLS_NO_AVX2=1 YOLOCLS_NO_F16C=1 "$OUT/x86_64/csrc/tests/test_preprocess_paths" --dump "$OUT/x86_64.bin"
qemu-aarch64 -L "$SYSROOT" "$OUT/aarch64/csrc/tests/test_preprocess_paths" --dump "$OUT/aarch64.bin"
"$OUT/x86_64/csrc/tests/test_preprocess_paths" --compare "$OUT/x86_64.bin" "$OUT/aarch64.bin" 1e-6
echo "cross_aarch64: passed ($((SECONDS - t0)) s)"
