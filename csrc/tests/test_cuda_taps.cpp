// The CUDA kernel's arithmetic without a GPU: the precomputed tap tables (detail::make_taps) and the per-pixel step
// every thread runs (detail::tap_pixel, the same inline code nvcc compiles into the kernel), evaluated on the host for
// every output pixel of the fixed case set and compared with the CPU kernel (1e-5 float32, + one half ulp float16).
// What this cannot check (the launch, the uploads, the device's FMA contraction) is test_cuda_kernel's part.
#include <cstdio>
#include <vector>

#include "check.hpp"
#include "preprocess/cuda_taps.hpp"
#include "preprocess_cases.hpp"

using namespace yolocls;

namespace {

// What the kernel writes for case `c`, computed on the host.
std::vector<uint8_t> emulate_kernel(const yolocls_test::PreprocessCase& c) {
  const ImageView v = c.view();
  const detail::Plan pl = detail::make_plan(v, c.cfg);
  const std::vector<detail::Tap> ty = detail::make_taps(pl.rh, pl.oh, 1), tx = detail::make_taps(pl.rw, pl.ow, 3);
  detail::TapParams p = detail::make_tap_params(pl, v.data + pl.top * pl.stride + 3LL * pl.left, pl.stride);
  p.ty = ty.data();
  p.tx = tx.data();
  std::vector<uint8_t> out(c.out_bytes());
  const size_t plane = static_cast<size_t>(pl.S) * pl.S;
  for (int y = 0; y < pl.S; ++y) {
    for (int x = 0; x < pl.S; ++x) {
      float px[3];
      detail::tap_pixel(p, x, y, px);
      for (int k = 0; k < 3; ++k) {
        const size_t i = k * plane + static_cast<size_t>(y) * pl.S + x;
        if (c.dtype == DType::Float16) {
          reinterpret_cast<uint16_t*>(out.data())[i] = detail::float_to_half(px[k]);
        } else {
          reinterpret_cast<float*>(out.data())[i] = px[k];
        }
      }
    }
  }
  return out;
}

}  // namespace

TEST(tap_tables_follow_the_spec) {
  // 2 -> 4 (upscale): src = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
  const auto up = detail::make_taps(2, 4, 3);
  CHECK(up[0].i0 == 0 && up[0].i1 == 3 && up[0].w0 == 1.0f && up[0].w1 == 0.0f);
  CHECK(up[1].i0 == 0 && up[1].i1 == 3 && up[1].w0 == 0.75f && up[1].w1 == 0.25f);
  CHECK(up[2].i0 == 0 && up[2].i1 == 3 && up[2].w0 == 0.25f && up[2].w1 == 0.75f);
  CHECK(up[3].i0 == 3 && up[3].i1 == 3 && up[3].w1 == 0.0f);  // right edge: both taps on the last pixel
  // 4 -> 2 (downscale), rows: src = 0.5, 2.5.
  const auto down = detail::make_taps(4, 2, 1);
  CHECK(down[0].i0 == 0 && down[0].i1 == 1 && down[0].w1 == 0.5f);
  CHECK(down[1].i0 == 2 && down[1].i1 == 3 && down[1].w1 == 0.5f);
  CHECK(sizeof(detail::Tap) == 16);  // one 16-byte load per tap in the kernel
}

TEST(kernel_arithmetic_matches_cpu_kernel) {
  const auto cases = yolocls_test::preprocess_cases();
  double worst = 0;
  int bad = 0;
  for (const auto& c : cases) {
    std::vector<uint8_t> cpu(c.out_bytes());
    const ImageView v = c.view();
    preprocess(&v, 1, c.cfg, cpu.data(), c.dtype);
    const auto want = yolocls_test::as_floats(c, cpu.data());
    const auto got = yolocls_test::as_floats(c, emulate_kernel(c).data());
    double m = 0;
    bool over = false;
    for (size_t i = 0; i < want.size(); ++i) {
      const double d = std::fabs(static_cast<double>(got[i]) - want[i]);
      over = over || !(d <= yolocls_test::allowed(c, want[i], 1e-5));
      m = d > m ? d : m;
    }
    if (c.dtype == DType::Float32 && m > worst) worst = m;
    if (over) {
      ++bad;
      std::printf("  %s: max diff %.3g\n", c.name.c_str(), m);
    }
  }
  std::printf("  %zu cases, largest float32 difference kernel arithmetic vs CPU kernel %.3g\n", cases.size(), worst);
  CHECK(bad == 0);
}
