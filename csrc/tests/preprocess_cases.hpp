// A fixed, deterministic set of preprocessing inputs (images + configs) shared by the ctest suite
// (test_preprocess_paths: AVX2 vs portable, x86 vs aarch64 dumps) and scripts/gpu_check.sh (CUDA vs CPU).
// The pixels come from a 64-bit LCG, so every machine and architecture builds exactly the same inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "yolocls/preprocess.hpp"

namespace yolocls_test {

// A view on packed or strided uint8 HxWx3 pixels (row_stride 0 = packed).
inline yolocls::ImageView make_view(const std::vector<uint8_t>& px, int h, int w,
                                    yolocls::ChannelOrder order = yolocls::ChannelOrder::BGR, int64_t row_stride = 0) {
  yolocls::ImageView v;
  v.data = px.data();
  v.height = h;
  v.width = w;
  v.row_stride = row_stride;
  v.order = order;
  return v;
}

struct PreprocessCase {
  std::string name;
  int height = 0, width = 0;
  int64_t row_stride = 0;  // 0 = packed
  yolocls::ChannelOrder order = yolocls::ChannelOrder::BGR;
  yolocls::PreprocessConfig cfg;
  yolocls::DType dtype = yolocls::DType::Float32;
  std::vector<uint8_t> pixels;  // height * stride bytes

  yolocls::ImageView view() const { return make_view(pixels, height, width, order, row_stride); }
  size_t out_elems() const { return yolocls::preprocessed_elems(cfg); }
  size_t out_bytes() const { return out_elems() * (dtype == yolocls::DType::Float16 ? 2 : 4); }
};

// Deterministic bytes (Knuth's MMIX LCG, high byte).
inline void fill_lcg(std::vector<uint8_t>* v, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (auto& b : *v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    b = static_cast<uint8_t>(s >> 56);
  }
}

inline PreprocessCase make_case(int h, int w, int pad, yolocls::Crop crop, int imgsz, yolocls::ChannelOrder order,
                                yolocls::DType dtype, uint64_t seed) {
  static const char* crops[] = {"center", "stretch", "letterbox"};
  PreprocessCase c;
  c.height = h;
  c.width = w;
  c.row_stride = pad ? 3 * static_cast<int64_t>(w) + pad : 0;
  c.order = order;
  c.cfg.imgsz = imgsz;
  c.cfg.crop = crop;
  c.dtype = dtype;
  c.name = std::to_string(h) + "x" + std::to_string(w) + (pad ? "+pad" + std::to_string(pad) : "") + " " +
           crops[static_cast<int>(crop)] + " " + std::to_string(imgsz) +
           (order == yolocls::ChannelOrder::BGR ? " bgr" : " rgb") +
           (dtype == yolocls::DType::Float16 ? " f16" : " f32");
  c.pixels.resize(static_cast<size_t>(h) * (c.row_stride ? c.row_stride : 3 * static_cast<int64_t>(w)));
  fill_lcg(&c.pixels, seed);
  return c;
}

// Sizes from 1x1 to 1080p, up- and downscales, odd sides, padded rows; every crop, both channel orders, both dtypes.
// `large` adds the 1920x1080 frames (slower on the CPU; the GPU check uses them).
inline std::vector<PreprocessCase> preprocess_cases(bool large = false) {
  using yolocls::ChannelOrder;
  using yolocls::Crop;
  using yolocls::DType;
  struct Size {
    int h, w, pad;
  };
  std::vector<Size> sizes = {{1, 1, 0}, {2, 3, 1}, {7, 5, 0}, {31, 33, 5}, {64, 64, 0},
                             {100, 37, 3}, {217, 480, 0}, {480, 640, 16}, {720, 1280, 0}};
  if (large) sizes.push_back({1080, 1920, 0});
  const int imgszs[] = {224, 32, 97};
  std::vector<PreprocessCase> out;
  uint64_t seed = 1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    for (int crop = 0; crop < 3; ++crop) {
      const int imgsz = imgszs[(i + crop) % 3];
      const ChannelOrder order = (i + crop) % 2 ? ChannelOrder::RGB : ChannelOrder::BGR;
      for (DType dt : {DType::Float32, DType::Float16}) {
        out.push_back(make_case(sizes[i].h, sizes[i].w, sizes[i].pad, static_cast<Crop>(crop), imgsz, order, dt,
                                seed++));
      }
    }
  }
  // A non-default normalisation (model expects BGR, other mean/std/scale, other letterbox fill).
  PreprocessCase c = make_case(123, 77, 2, Crop::Letterbox, 64, ChannelOrder::RGB, DType::Float32, seed++);
  c.cfg.channel_order = ChannelOrder::BGR;
  c.cfg.mean[0] = 0.1f;
  c.cfg.mean[1] = 0.2f;
  c.cfg.mean[2] = 0.3f;
  c.cfg.std[0] = 0.5f;
  c.cfg.std[1] = 0.25f;
  c.cfg.std[2] = 2.0f;
  c.cfg.pad_value = 0;
  c.name += " custom-norm";
  out.push_back(std::move(c));
  return out;
}

// IEEE half -> float (exact), for comparing float16 outputs.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        man <<= 1;
        ++e;
      } while ((man & 0x400u) == 0);
      bits = sign | (static_cast<uint32_t>(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// A case's output (raw bytes of out_bytes()) as floats.
inline std::vector<float> as_floats(const PreprocessCase& c, const void* data) {
  std::vector<float> v(c.out_elems());
  if (c.dtype == yolocls::DType::Float16) {
    const uint16_t* h = static_cast<const uint16_t*>(data);
    for (size_t i = 0; i < v.size(); ++i) v[i] = half_to_float(h[i]);
  } else {
    std::memcpy(v.data(), data, v.size() * 4);
  }
  return v;
}

// Allowed difference between two outputs of one case: `tol` for float32; for float16 one half ulp of the value
// more (two kernels that differ by 1e-7 before rounding can round to neighbouring halves).
inline double allowed(const PreprocessCase& c, float ref, double tol) {
  if (c.dtype != yolocls::DType::Float16) return tol;
  const double a = ref < 0 ? -static_cast<double>(ref) : static_cast<double>(ref);
  double ulp = 1.0 / (1 << 24);  // subnormal spacing
  while (ulp * 2048 <= a) ulp *= 2;
  return tol + ulp;
}

}  // namespace yolocls_test
