// Per-image geometry and colour arithmetic shared by the CPU and CUDA kernels (host code only).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "yolocls/error.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {
namespace detail {

// Everything the per-pixel math needs, computed once per image.
struct Plan {
  int S = 0;                        // output side
  int top = 0, left = 0, rh = 0, rw = 0;  // source region read (crop)
  int oy = 0, ox = 0, oh = 0, ow = 0;     // where the resized region lands in the S x S canvas (letterbox)
  int64_t stride = 0;               // source row stride in bytes
  float a[3] = {0, 0, 0};           // model channel k: out = pixel * a[k] + b[k]  (mean/std and scale folded)
  float b[3] = {0, 0, 0};
  float fill[3] = {0, 0, 0};        // normalised letterbox fill per model channel
  int src_c[3] = {0, 1, 2};         // input channel feeding model channel k
};

inline void check_image(const ImageView& im, size_t index) {
  const std::string where = "image " + std::to_string(index);
  if (im.data == nullptr) throw InvalidArgument(where + " has no data");
  if (im.height < 1 || im.width < 1) {
    throw InvalidArgument(where + " is empty (" + std::to_string(im.height) + "x" + std::to_string(im.width) + ")");
  }
  const int64_t min_stride = 3 * static_cast<int64_t>(im.width);
  if (im.row_stride != 0 && im.row_stride < min_stride) {
    throw InvalidArgument(where + ": row stride " + std::to_string(im.row_stride) + " bytes is below 3*width = " +
                          std::to_string(min_stride));
  }
}

// Same arithmetic as yolocls.data.preprocess.letterbox_size (double precision, floor(x + 0.5)).
inline void letterbox_size(int h, int w, int s, int* nh, int* nw, int* top, int* left) {
  const double r = std::min(static_cast<double>(s) / h, static_cast<double>(s) / w);
  *nh = std::min(std::max(static_cast<int>(std::floor(h * r + 0.5)), 1), s);
  *nw = std::min(std::max(static_cast<int>(std::floor(w * r + 0.5)), 1), s);
  *top = (s - *nh) / 2;
  *left = (s - *nw) / 2;
}

inline Plan make_plan(const ImageView& im, const PreprocessConfig& cfg) {
  Plan p;
  p.S = cfg.imgsz;
  p.stride = im.row_stride ? im.row_stride : 3 * static_cast<int64_t>(im.width);
  if (cfg.crop == Crop::Center) {
    const int s = std::min(im.height, im.width);
    p.top = (im.height - s) / 2;
    p.left = (im.width - s) / 2;
    p.rh = p.rw = s;
  } else {
    p.rh = im.height;
    p.rw = im.width;
  }
  if (cfg.crop == Crop::Letterbox) {
    letterbox_size(im.height, im.width, p.S, &p.oh, &p.ow, &p.oy, &p.ox);
  } else {
    p.oh = p.ow = p.S;
  }
  const bool swap = (im.order == ChannelOrder::BGR) != (cfg.channel_order == ChannelOrder::BGR);
  for (int k = 0; k < 3; ++k) {
    p.src_c[k] = swap ? 2 - k : k;
    p.a[k] = static_cast<float>(static_cast<double>(cfg.scale) / cfg.std[k]);
    p.b[k] = static_cast<float>(-static_cast<double>(cfg.mean[k]) / cfg.std[k]);
    p.fill[k] = static_cast<float>((cfg.pad_value * static_cast<double>(cfg.scale) - cfg.mean[k]) / cfg.std[k]);
  }
  return p;
}

// Half-pixel bilinear taps of one axis, exactly as the reference computes them (double):
// src = clamp((d + 0.5) * n_in / n_out - 0.5, 0, n_in - 1); i0 = floor(src); i1 = min(i0 + 1, n_in - 1); w = src - i0.
inline void linear_tap(int d, int n_in, int n_out, int* i0, int* i1, float* w) {
  double src = (d + 0.5) * (static_cast<double>(n_in) / n_out) - 0.5;
  src = std::min(std::max(src, 0.0), static_cast<double>(n_in - 1));
  const int f = static_cast<int>(std::floor(src));
  *i0 = f;
  *i1 = std::min(f + 1, n_in - 1);
  *w = static_cast<float>(src - f);
}

// IEEE binary16 from float, round to nearest even (what numpy's astype(float16) does); no F16C needed.
inline uint16_t float_to_half(float f) {
  uint32_t u;
  static_assert(sizeof(u) == sizeof(f), "float must be 32-bit");
  __builtin_memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  u &= 0x7fffffffu;
  if (u >= 0x47800000u) {                       // |f| >= 65536 (or inf/nan): inf or nan
    return static_cast<uint16_t>(sign | (u > 0x7f800000u ? 0x7e00u : 0x7c00u));
  }
  if (u < 0x38800000u) {                        // |f| < 2^-14: subnormal half (or zero)
    float m;
    __builtin_memcpy(&m, &u, 4);
    // Adding 0.5 shifts the value so that the FPU's own round-to-nearest-even produces the subnormal mantissa.
    m += 0.5f;
    uint32_t mu;
    __builtin_memcpy(&mu, &m, 4);
    return static_cast<uint16_t>(sign | (mu - 0x3f000000u));
  }
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xc8000fffu + odd;                       // rebias exponent (-112 << 23) and round to nearest even
  return static_cast<uint16_t>(sign | (u >> 13));
}

}  // namespace detail
}  // namespace yolocls
