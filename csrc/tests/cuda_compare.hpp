// The CUDA kernel against the CPU kernel over the fixed case set (preprocess_cases.hpp), through both entry points:
// preprocess_cuda on a device copy of each image, and CudaFrameStaging from host frames (each upload mode the
// device offers). Shared by test_cuda_kernel (ctest) and yolocls_gpu_check (scripts/gpu_check.sh). CUDA builds only.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "preprocess/cuda_staging.hpp"
#include "yolocls/error.hpp"
#include "preprocess_cases.hpp"

namespace yolocls_test {

struct CudaComparison {
  int cases = 0, failed = 0;
  double worst_f32 = 0, worst_f16 = 0;  // largest |cuda - cpu| per dtype
  std::string first_failure;
};

inline void cuda_ok(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw yolocls::Error(std::string(what) + ": " + cudaGetErrorString(e));
}

// Compares every case (and every upload mode of CudaFrameStaging); `tol` for float32, plus one half ulp for float16.
inline CudaComparison compare_cuda_with_cpu(const std::vector<PreprocessCase>& cases, double tol, bool verbose) {
  using yolocls::DType;
  using yolocls::detail::CudaFrameStaging;
  CudaComparison r;
  cudaStream_t stream = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  std::vector<CudaFrameStaging::Upload> modes = {CudaFrameStaging::Upload::Pinned};
  if (CudaFrameStaging::mapped_supported()) modes.push_back(CudaFrameStaging::Upload::Mapped);
  for (const auto& c : cases) {
    std::vector<uint8_t> cpu(c.out_bytes()), gpu(c.out_bytes());
    const yolocls::ImageView host = c.view();
    yolocls::preprocess(&host, 1, c.cfg, cpu.data(), c.dtype);
    const std::vector<float> want = as_floats(c, cpu.data());
    void* d_img = nullptr;
    void* d_out = nullptr;
    cuda_ok(cudaMalloc(&d_img, c.pixels.size()), "cudaMalloc");
    cuda_ok(cudaMalloc(&d_out, c.out_bytes()), "cudaMalloc");
    cuda_ok(cudaMemcpy(d_img, c.pixels.data(), c.pixels.size(), cudaMemcpyHostToDevice), "cudaMemcpy");
    struct Run {
      std::string how;
      std::vector<float> got;
    };
    std::vector<Run> runs;
    yolocls::ImageView dev = host;
    dev.data = static_cast<const uint8_t*>(d_img);
    cuda_ok(cudaMemset(d_out, 0xff, c.out_bytes()), "cudaMemset");
    yolocls::preprocess_cuda(dev, c.cfg, d_out, c.dtype, stream);
    cuda_ok(cudaStreamSynchronize(stream), "kernel");
    cuda_ok(cudaMemcpy(gpu.data(), d_out, c.out_bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy");
    runs.push_back({"device image", as_floats(c, gpu.data())});
    for (auto mode : modes) {
      CudaFrameStaging staging(mode);
      cuda_ok(cudaMemset(d_out, 0xff, c.out_bytes()), "cudaMemset");
      staging.run(&host, 1, c.cfg, d_out, c.dtype, stream);
      CudaFrameStaging::synchronize(stream);
      cuda_ok(cudaMemcpy(gpu.data(), d_out, c.out_bytes(), cudaMemcpyDeviceToHost), "cudaMemcpy");
      runs.push_back({mode == CudaFrameStaging::Upload::Mapped ? "staged (mapped)" : "staged (pinned)",
                      as_floats(c, gpu.data())});
    }
    cudaFree(d_img);
    cudaFree(d_out);
    for (const Run& run : runs) {
      ++r.cases;
      double m = 0;
      bool over = false;
      for (size_t i = 0; i < want.size(); ++i) {
        const double d = std::fabs(static_cast<double>(run.got[i]) - want[i]);
        if (!(d <= allowed(c, want[i], tol))) over = true;
        if (!(d <= m)) m = d;
      }
      double& worst = c.dtype == DType::Float16 ? r.worst_f16 : r.worst_f32;
      if (m > worst) worst = m;
      if (over) {
        ++r.failed;
        if (r.first_failure.empty()) r.first_failure = c.name + " " + run.how;
      }
      if (verbose || over) {
        std::printf("  %-44s %-16s max |cuda - cpu| %.3g%s\n", c.name.c_str(), run.how.c_str(), m,
                    over ? "  OVER TOLERANCE" : "");
      }
    }
  }
  cudaStreamDestroy(stream);
  return r;
}

}  // namespace yolocls_test
