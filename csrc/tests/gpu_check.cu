// yolocls_gpu_check: the GPU-side check and benchmark, one self-contained executable (scripts/gpu_check.sh builds it;
// static CUDA runtime and C++ library, no Python, no engine). On a machine with a GPU it prints
//   1. the CUDA kernel against the CPU kernel (max |diff| <= 1e-5 float32, one half ulp more for float16) over
//      sizes up to 1080p, every crop, both channel orders and both dtypes, through preprocess_cuda (device image) and
//      CudaFrameStaging (pinned DMA and mapped zero-copy);
//   2. kernel-only and upload+kernel times for 1920x1080 BGR -> 1x3x224x224 (CUDA events, medians over --iters runs)
//      from pageable, pinned and mapped (zero-copy) host memory, plus CudaFrameStaging's wall time;
//   3. [hook] the TensorRT checks when built with TensorRT (csrc/tests/gpu_check_tensorrt.cpp, see below).
// Exit status: 0 when every check passed, 1 when one failed, 2 on bad arguments, 3 without a usable GPU.
// Usage: yolocls_gpu_check [--iters N] [--no-bench]
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "cuda_compare.hpp"
#include "preprocess_cases.hpp"
#include "yolocls/preprocess.hpp"

#ifdef YOLOCLS_GPU_CHECK_TENSORRT
// ----------------------------------------------------------------------------------------------- TensorRT hook
// Defined in csrc/tests/gpu_check_tensorrt.cpp (compiled in when CMake finds TensorRT and that file exists): the
// CUDA-graph test with alternating input shapes (8, 2, 8, 2 ...) against plain enqueue, and any other TensorRT check.
// Returns the number of failed checks; prints its own lines.
int run_tensorrt_checks(int argc, char** argv);
#endif

using yolocls_test::cuda_ok;

namespace {

struct Stats {
  double median_us = 0, min_us = 0, p90_us = 0;
};

Stats stats(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  Stats s;
  s.min_us = us.front();
  s.median_us = us[us.size() / 2];
  s.p90_us = us[us.size() * 9 / 10];
  return s;
}

// Holds the stream for `ns` nanoseconds, so that what is enqueued after it (the start event, the work, the end event)
// is queued before the GPU reaches it: the events then time the work, not the host's launch latency.
__global__ void gate_kernel(unsigned long long ns) {
  unsigned long long t0, t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
  do {
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  } while (t - t0 < ns);
}

// Times `body` (enqueued on `stream`) with CUDA events behind a 100 us gate: `iters` runs after 10 warm-ups.
Stats time_events(cudaStream_t stream, int iters, const std::function<void()>& body) {
  cudaEvent_t a, b;
  cuda_ok(cudaEventCreate(&a), "cudaEventCreate");
  cuda_ok(cudaEventCreate(&b), "cudaEventCreate");
  std::vector<double> us;
  for (int i = 0; i < iters + 10; ++i) {
    gate_kernel<<<1, 1, 0, stream>>>(100000ull);
    cuda_ok(cudaEventRecord(a, stream), "cudaEventRecord");
    body();
    cuda_ok(cudaEventRecord(b, stream), "cudaEventRecord");
    cuda_ok(cudaEventSynchronize(b), "cudaEventSynchronize");
    float ms = 0;
    cuda_ok(cudaEventElapsedTime(&ms, a, b), "cudaEventElapsedTime");
    if (i >= 10) us.push_back(ms * 1000.0);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return stats(us);
}

void print(const char* what, const Stats& s, double goal_us = 0) {
  std::printf("  %-58s median %8.1f us  (min %8.1f, p90 %8.1f)", what, s.median_us, s.min_us, s.p90_us);
  if (goal_us > 0) std::printf("  goal <= %.0f us: %s", goal_us, s.median_us <= goal_us ? "met" : "NOT met");
  std::printf("\n");
}

void benchmark(int iters) {
  using yolocls::DType;
  const int H = 1080, W = 1920;
  const size_t frame_bytes = static_cast<size_t>(H) * W * 3;
  yolocls::PreprocessConfig cfg;  // 224, centre crop, ImageNet mean/std, RGB model
  std::printf("\n== 1920x1080 BGR -> 1x3x224x224, crop=center (%d runs each; CUDA events unless noted)\n", iters);
  std::vector<uint8_t> pageable(frame_bytes);
  yolocls_test::fill_lcg(&pageable, 7);
  void *pinned = nullptr, *mapped = nullptr, *mapped_dev = nullptr, *d_frame = nullptr, *d_out = nullptr;
  cuda_ok(cudaMallocHost(&pinned, frame_bytes), "cudaMallocHost");
  cuda_ok(cudaHostAlloc(&mapped, frame_bytes, cudaHostAllocMapped), "cudaHostAlloc (mapped)");
  cuda_ok(cudaHostGetDevicePointer(&mapped_dev, mapped, 0), "cudaHostGetDevicePointer");
  std::memcpy(pinned, pageable.data(), frame_bytes);
  std::memcpy(mapped, pageable.data(), frame_bytes);
  cuda_ok(cudaMalloc(&d_frame, frame_bytes), "cudaMalloc");
  cuda_ok(cudaMalloc(&d_out, yolocls::preprocessed_elems(cfg) * 4), "cudaMalloc");
  cuda_ok(cudaMemcpy(d_frame, pageable.data(), frame_bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
  cudaStream_t s;
  cuda_ok(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate");

  auto view = [&](const void* data) {
    yolocls::ImageView v;
    v.data = static_cast<const uint8_t*>(data);
    v.height = H;
    v.width = W;
    v.order = yolocls::ChannelOrder::BGR;
    return v;
  };
  // The region the kernel reads: the centre 1080x1080 square (what CudaFrameStaging uploads too).
  const size_t left = (W - H) / 2 * 3, row = static_cast<size_t>(H) * 3;
  auto kernel = [&](const void* frame, DType dt) { yolocls::preprocess_cuda(view(frame), cfg, d_out, dt, s); };
  auto upload_square = [&](const void* host) {
    cuda_ok(cudaMemcpy2DAsync(d_frame, row, static_cast<const uint8_t*>(host) + left, W * 3, row, H,
                              cudaMemcpyHostToDevice, s),
            "cudaMemcpy2DAsync");
  };
  yolocls::ImageView square_dev = view(d_frame);  // after upload_square: packed 1080x1080
  square_dev.width = H;
  auto kernel_square = [&]() { yolocls::preprocess_cuda(square_dev, cfg, d_out, DType::Float32, s); };

  print("kernel only, float32 (frame already in device memory)", time_events(s, iters, [&] { kernel(d_frame, DType::Float32); }), 20);
  print("kernel only, float16", time_events(s, iters, [&] { kernel(d_frame, DType::Float16); }));
  print("upload centre square + kernel, pageable host frame", time_events(s, iters, [&] { upload_square(pageable.data()); kernel_square(); }));
  print("upload centre square + kernel, pinned host frame", time_events(s, iters, [&] { upload_square(pinned); kernel_square(); }), 150);
  print("upload whole frame + kernel, pinned host frame", time_events(s, iters, [&] {
          cuda_ok(cudaMemcpyAsync(d_frame, pinned, frame_bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync");
          kernel(d_frame, DType::Float32);
        }));
  print("kernel reading mapped host frame (zero-copy)", time_events(s, iters, [&] { kernel(mapped_dev, DType::Float32); }));
  for (auto mode : {yolocls::detail::CudaFrameStaging::Upload::Pinned, yolocls::detail::CudaFrameStaging::Upload::Mapped}) {
    yolocls::detail::CudaFrameStaging staging(mode);
    const yolocls::ImageView host = view(pageable.data());
    std::vector<double> wall;
    auto once = [&] {
      staging.run(&host, 1, cfg, d_out, DType::Float32, s);
      yolocls::detail::CudaFrameStaging::synchronize(s);
    };
    for (int i = 0; i < 10; ++i) once();
    for (int i = 0; i < iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      once();
      wall.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
    print(mode == yolocls::detail::CudaFrameStaging::Upload::Pinned
              ? "CudaFrameStaging pinned: pack + DMA + kernel (wall clock)"
              : "CudaFrameStaging mapped: pack + zero-copy kernel (wall clock)",
          stats(wall));
  }
  cudaStreamDestroy(s);
  cudaFree(d_frame);
  cudaFree(d_out);
  cudaFreeHost(pinned);
  cudaFreeHost(mapped);
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 200;
  bool bench = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
      iters = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--no-bench") == 0) {
      bench = false;
    } else {
      std::fprintf(stderr, "yolocls_gpu_check: error: unknown argument %s (usage: [--iters N] [--no-bench])\n",
                   argv[i]);
      return 2;
    }
  }
  if (iters < 1) iters = 1;
  int n = 0, driver = 0, runtime = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("yolocls_gpu_check: no usable CUDA device (%s)\n", cudaGetErrorString(cudaGetLastError()));
    return 3;
  }
  cudaDeviceProp prop{};
  cudaGetDeviceProperties(&prop, 0);
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  std::printf("yolocls_gpu_check: %s, compute capability %d.%d, %s, can map host memory: %s\n", prop.name, prop.major,
              prop.minor, prop.integrated ? "integrated (shares CPU memory)" : "discrete", prop.canMapHostMemory ? "yes" : "no");
  std::printf("CUDA driver %d.%d, runtime %d.%d (static)\n", driver / 1000, driver % 1000 / 10, runtime / 1000,
              runtime % 1000 / 10);
  int failed = 0;
  try {
    std::printf("\n== CUDA kernel vs CPU kernel (tolerance 1e-5 float32, + one half ulp float16)\n");
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = yolocls_test::compare_cuda_with_cpu(yolocls_test::preprocess_cases(true), 1e-5, true);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("RESULT kernel vs cpu: %d comparisons, %d over tolerance, max |diff| float32 %.3g, float16 %.3g "
                "(%.1f s): %s\n", r.cases, r.failed, r.worst_f32, r.worst_f16, sec, r.failed ? "FAIL" : "PASS");
    failed += r.failed ? 1 : 0;
    if (bench) benchmark(iters);
#ifdef YOLOCLS_GPU_CHECK_TENSORRT
    std::printf("\n== TensorRT\n");
    failed += run_tensorrt_checks(argc, argv);
#else
    std::printf("\n== TensorRT: not in this build (CUDA-graph alternating-shape test: csrc/tests/gpu_check_tensorrt.cpp)\n");
#endif
  } catch (const std::exception& e) {
    std::printf("yolocls_gpu_check: FAILED: %s\n", e.what());
    return 1;
  }
  std::printf("\n%s\n", failed ? "yolocls_gpu_check: FAILED" : "yolocls_gpu_check: all checks passed");
  return failed ? 1 : 0;
}
