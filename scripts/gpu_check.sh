#!/usr/bin/env bash
# The GPU check: configure + build yolocls_gpu_check (one self-contained executable: static CUDA runtime and C++
# library, no Python, no engine) in build/gpu_check, then run it when `nvidia-smi -L` finds a GPU. Offline: needs
# nvcc (CUDA 12/13), CMake >= 3.24 and ninja only. One CUDA architecture: the first GPU's compute capability
# (nvidia-smi --query-gpu=compute_cap), else CUDA_ARCH, else 90.
# Usage: scripts/gpu_check.sh [--build-only] [-- yolocls_gpu_check args, e.g. --iters 500 | --no-bench]
#   env: BUILD_DIR (default build/gpu_check), CUDA_ARCH, JOBS (default: all cores)
# The run's output is also written to $BUILD_DIR/gpu_check.txt (paste the numbers into README "GPU check").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD_DIR:-$ROOT/build/gpu_check}"
build_only=0
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --) shift; args=("$@"); break ;;
    *) echo "gpu_check: error: unknown argument $1 (usage: scripts/gpu_check.sh [--build-only] [-- ARGS])" >&2; exit 2 ;;
  esac
  shift
done
NVCC="$(command -v nvcc || true)"
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
if [ -z "$NVCC" ]; then echo "gpu_check: error: nvcc not found (install the CUDA toolkit or put it on PATH)" >&2; exit 2; fi
gpu=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then gpu=1; fi
arch="${CUDA_ARCH:-}"
if [ -z "$arch" ] && [ $gpu = 1 ]; then
  arch="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
fi
arch="${arch:-90}"
t0=$SECONDS
cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$NVCC" \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DYOLOCLS_WITH_CUDA=ON -DYOLOCLS_WITH_OPENVINO=OFF -DYOLOCLS_WITH_TENSORRT=AUTO \
  -DYOLOCLS_BUILD_GPU_CHECK=ON >/dev/null
cmake --build "$BUILD" --parallel "${JOBS:-$(nproc)}" --target yolocls_gpu_check
exe="$BUILD/yolocls_gpu_check"
echo "gpu_check: built $exe (sm_$arch, $(du -h "$exe" | cut -f1)) in $((SECONDS - t0)) s"
if [ $build_only = 1 ]; then exit 0; fi
if [ $gpu = 0 ]; then
  echo "gpu_check: no GPU found by nvidia-smi -L: built only (copy $exe to a GPU machine and run it there)"
  exit 0
fi
"$exe" "${args[@]}" | tee "$BUILD/gpu_check.txt"
exit "${PIPESTATUS[0]}"
