// The CUDA preprocessing kernel against the CPU kernel (1e-5 float32, + one half ulp float16) when a GPU exists;
// skipped with a message otherwise (built only when CUDA is part of the build).
#include "check.hpp"
#include "cuda_compare.hpp"

TEST(cuda_kernel_matches_cpu_kernel) {
  if (yolocls::cuda_device_count() == 0) SKIP("no CUDA device here (the CUDA kernel is compiled, not run)");
  const auto r = yolocls_test::compare_cuda_with_cpu(yolocls_test::preprocess_cases(), 1e-5, false);
  std::printf("  %d comparisons, %d over tolerance; largest difference f32 %.3g, f16 %.3g\n", r.cases, r.failed,
              r.worst_f32, r.worst_f16);
  CHECK(r.failed == 0);
  CHECK(r.worst_f32 <= 1e-5);
}
