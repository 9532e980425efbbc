// The CUDA kernel's per-pixel arithmetic, shared by the kernel (nvcc) and plain C++ (the ctest suite checks it
// against the CPU kernel on machines without a GPU): interpolation taps precomputed per output row and column (float32
// weights, integer offsets) and the sample/normalise step one thread does. No CUDA types here.
#pragma once

#include <vector>

#include "preprocess/plan.hpp"

#if defined(__CUDACC__)
#define YOLOCLS_HD __host__ __device__ __forceinline__
#else
#define YOLOCLS_HD inline
#endif

namespace yolocls {
namespace detail {

// One axis tap: out = src[i0] * w0 + src[i1] * w1. Rows: i0/i1 are row indices; columns: byte offsets (3 * x).
struct alignas(16) Tap {
  int i0, i1;
  float w0, w1;
};

// The n_out taps of one axis, from the CPU kernel's own arithmetic (linear_tap, double precision); `unit` multiplies
// the indices (3 for the columns of interleaved pixels, 1 for rows).
inline std::vector<Tap> make_taps(int n_in, int n_out, int unit) {
  std::vector<Tap> taps(n_out);
  for (int d = 0; d < n_out; ++d) {
    int i0, i1;
    float w;
    linear_tap(d, n_in, n_out, &i0, &i1, &w);
    taps[d] = Tap{unit * i0, unit * i1, 1.0f - w, w};
  }
  return taps;
}

struct TapParams {
  const unsigned char* src;  // first byte of the region read (crop applied)
  long long stride;          // region row stride in bytes
  int S, oy, ox, oh, ow;
  float a[3], b[3], fill[3];
  int src_c[3];
  const Tap* ty;  // oh row taps
  const Tap* tx;  // ow column taps
};

inline TapParams make_tap_params(const Plan& pl, const unsigned char* region, long long stride) {
  TapParams p{};
  p.src = region;
  p.stride = stride;
  p.S = pl.S;
  p.oy = pl.oy;
  p.ox = pl.ox;
  p.oh = pl.oh;
  p.ow = pl.ow;
  for (int k = 0; k < 3; ++k) {
    p.a[k] = pl.a[k];
    p.b[k] = pl.b[k];
    p.fill[k] = pl.fill[k];
    p.src_c[k] = pl.src_c[k];
  }
  return p;
}

// The 3 model-channel values of output pixel (x, y) of the S x S canvas.
YOLOCLS_HD void tap_pixel(const TapParams& p, int x, int y, float out[3]) {
  const int ry = y - p.oy, rx = x - p.ox;
  if (ry < 0 || ry >= p.oh || rx < 0 || rx >= p.ow) {  // letterbox padding
    for (int k = 0; k < 3; ++k) out[k] = p.fill[k];
    return;
  }
  const Tap ty = p.ty[ry], tx = p.tx[rx];  // 16-byte loads; a warp shares ty (one row)
  const unsigned char* r0 = p.src + ty.i0 * p.stride;
  const unsigned char* r1 = p.src + ty.i1 * p.stride;
  for (int k = 0; k < 3; ++k) {
    const int c = p.src_c[k];
    const float top = r0[tx.i0 + c] * tx.w0 + r0[tx.i1 + c] * tx.w1;
    const float bot = r1[tx.i0 + c] * tx.w0 + r1[tx.i1 + c] * tx.w1;
    out[k] = (top * ty.w0 + bot * ty.w1) * p.a[k] + p.b[k];
  }
}

}  // namespace detail
}  // namespace yolocls
