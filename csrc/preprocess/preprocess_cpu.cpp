// CPU preprocessing: one fused pass per output row (DESIGN.md "Preprocessing spec").
//
// x86-64 with AVX2+FMA (chosen at run time; the library is built without -march): for each group of 8 output
// columns, one 8-byte load per column and source row fetches both horizontal taps (adjacent pixels, 6 bytes);
// byte shuffles turn them into planar int32 lanes per channel and tap, then float FMAs do the horizontal blend of
// each row, the vertical blend and the folded mean/std, storing 8 floats per plane (rowwise_avx2).
// Portable path (other CPUs, or YOLOCLS_NO_AVX2=1): blend the two source rows over the bytes the row reads (or over
// compacted tap pairs when downscaling strongly) in contiguous loops that -O3 vectorises, then gather the taps.
// Only sampled source rows are read. Work is split into (image, row block) tasks over the Preprocessor's pool.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

#include "preprocess/cuda_staging.hpp"
#include "preprocess/plan.hpp"
#include "preprocess/thread_pool.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {

namespace {
// A user's value quoted in an error message, cut short (it may come from a hostile file).
std::string quoted(const std::string& s) { return "'" + (s.size() > 40 ? s.substr(0, 40) + "..." : s) + "'"; }
}  // namespace

namespace {
template <typename E, size_t N>
E parse_spec_name(const SpecName<E> (&table)[N], const char* what, const std::string& name) {
  std::string choices;
  for (size_t i = 0; i < N; ++i) {
    if (name == table[i].name) return table[i].value;
    choices += (i == 0 ? "" : (i + 1 == N ? " or " : ", "));
    choices += table[i].name;
  }
  throw InvalidArgument(std::string("unknown ") + what + " " + quoted(name) + " (expected " + choices + ")");
}

template <typename E, size_t N>
const char* spec_name(const SpecName<E> (&table)[N], E value) {
  for (const auto& row : table) {
    if (row.value == value) return row.name;
  }
  return "?";
}
}  // namespace

Crop parse_crop(const std::string& name) { return parse_spec_name(kCropNames, "crop", name); }
ChannelOrder parse_channel_order(const std::string& name) {
  return parse_spec_name(kChannelOrderNames, "channel_order", name);
}
DType parse_dtype(const std::string& name) { return parse_spec_name(kDTypeNames, "dtype", name); }
const char* to_string(Crop crop) { return spec_name(kCropNames, crop); }
const char* to_string(ChannelOrder order) { return spec_name(kChannelOrderNames, order); }
const char* to_string(DType dtype) { return spec_name(kDTypeNames, dtype); }

void preprocess_cuda_frames(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType dtype,
                            void* stream) {
  detail::CudaFrameStaging staging;  // freed on return, after the stream is synchronised
  staging.run(images, count, cfg, dst, dtype, stream);
  detail::CudaFrameStaging::synchronize(stream);
}

void PreprocessConfig::validate() const {
  if (imgsz < 1 || imgsz > 16384) throw InvalidArgument("imgsz must be in 1..16384, got " + std::to_string(imgsz));
  for (int k = 0; k < 3; ++k) {
    if (std[k] == 0.0f || !std::isfinite(std[k]) || !std::isfinite(mean[k])) {
      throw InvalidArgument("std values must be finite and non-zero, mean values finite");
    }
  }
  if (!std::isfinite(scale) || scale <= 0) throw InvalidArgument("scale must be finite and > 0");
  if (pad_value < 0 || pad_value > 255) {
    throw InvalidArgument("pad_value must be in 0..255, got " + std::to_string(pad_value));
  }
}

namespace {

using detail::Plan;

// Horizontal taps of one image: byte offsets of the two source pixels (relative to the region's row start) and
// their weights, for each output column of the resized region.
struct XTaps {
  std::vector<int32_t> o0, o1;
  std::vector<float> w0, w1;
  int lo = 0, hi = 0;  // byte range [lo, hi) of a region row that the taps read
  // Pair mode (strong horizontal downscale): each output column's two source pixels are copied into compact rows
  // first, so the vertical blend touches only sampled bytes. Columns [0, nfast) have adjacent pixels and an 8-byte
  // load at o0 that stays inside the region row (x86/ARM little-endian); the rest are copied byte by byte.
  bool pairs = false;
  int nfast = 0;
  std::vector<float> w0x3, w1x3;  // w0/w1 repeated for the 3 channels of each column
  // AVX2 path: columns [0, nvec) (a multiple of 8) have o1 == o0 + 3 and an 8-byte load at o0 inside the region row.
  int nvec = 0;
};

struct ImageJob {
  const ImageView* image;
  Plan plan;
  XTaps xt;
  void* dst;  // first element of this image's output
};

void make_xtaps(const Plan& p, XTaps* t) {
  t->o0.resize(p.ow);
  t->o1.resize(p.ow);
  t->w0.resize(p.ow);
  t->w1.resize(p.ow);
  for (int x = 0; x < p.ow; ++x) {
    int i0, i1;
    float w;
    detail::linear_tap(x, p.rw, p.ow, &i0, &i1, &w);
    if (i0 == i1 && i0 > 0) {
      // Right edge (src clamped to n-1, w == 0): use the pair (n-2, n-1) with weight 1 on n-1 instead. Exactly the
      // same value (p*0 + q*1 == q), and every column then reads two adjacent pixels.
      i0 -= 1;
      w = 1.0f;
    }
    t->o0[x] = 3 * i0;
    t->o1[x] = 3 * i1;
    t->w0[x] = 1.0f - w;
    t->w1[x] = w;
  }
  t->lo = t->o0[0];
  t->hi = t->o1[p.ow - 1] + 3;
  t->pairs = 2 * 3 * p.ow < t->hi - t->lo;
  t->nfast = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  while (t->nfast < p.ow && t->o1[t->nfast] == t->o0[t->nfast] + 3 && t->o0[t->nfast] + 8 <= 3 * p.rw) ++t->nfast;
#endif
  int nadj = 0;
  while (nadj < p.ow && t->o1[nadj] == t->o0[nadj] + 3 && t->o0[nadj] + 8 <= 3 * p.rw) ++nadj;
  t->nvec = nadj / 8 * 8;
  t->w0x3.resize(3 * p.ow);
  t->w1x3.resize(3 * p.ow);
  for (int x = 0; x < p.ow; ++x) {
    for (int c = 0; c < 3; ++c) {
      t->w0x3[3 * x + c] = t->w0[x];
      t->w1x3[3 * x + c] = t->w1[x];
    }
  }
}

// x86-64: also compile an AVX2+FMA clone chosen at load time (ifunc), so the library stays portable (no -march).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define YOLOCLS_CLONES __attribute__((target_clones("avx2,fma", "default")))
#else
#define YOLOCLS_CLONES
#endif

// One output row of the resized region, for the 3 model channels: row[k * ow + x].
// r0/r1: the two source rows (region-relative), wy: weight of r1.
YOLOCLS_CLONES
void compute_row(const uint8_t* __restrict r0, const uint8_t* __restrict r1, float wy, const Plan& p,
                 const XTaps& t, float* __restrict bl, float* __restrict row) {
  const int32_t* __restrict o0 = t.o0.data();
  const int32_t* __restrict o1 = t.o1.data();
  const float* __restrict w0 = t.w0.data();
  const float* __restrict w1 = t.w1.data();
  const int ow = p.ow;
  if (t.pairs) {
    // Strong horizontal downscale: copy each column's two source pixels of both rows into four compact byte rows
    // (a 4-byte copy per pixel), so every later step is a contiguous, vectorised loop over 3*ow values and only
    // sampled bytes are converted.
    const int n = 3 * ow;
    uint8_t* __restrict c0a = reinterpret_cast<uint8_t*>(bl + n);
    uint8_t* __restrict c0b = c0a + n + 4;
    uint8_t* __restrict c1a = c0b + n + 4;
    uint8_t* __restrict c1b = c1a + n + 4;
    // Both pixels of a column are usually adjacent (o1 == o0 + 3): one 8-byte load per row feeds both 4-byte stores
    // (the 4th byte of each store is overwritten by the next column).
    const int nfast = t.nfast;
    for (int x = 0; x < nfast; ++x) {
      uint64_t v0, v1;
      std::memcpy(&v0, r0 + o0[x], 8);
      std::memcpy(&v1, r1 + o0[x], 8);
      const uint32_t a0 = static_cast<uint32_t>(v0), b0 = static_cast<uint32_t>(v0 >> 24);
      const uint32_t a1 = static_cast<uint32_t>(v1), b1 = static_cast<uint32_t>(v1 >> 24);
      std::memcpy(c0a + 3 * x, &a0, 4);
      std::memcpy(c0b + 3 * x, &b0, 4);
      std::memcpy(c1a + 3 * x, &a1, 4);
      std::memcpy(c1b + 3 * x, &b1, 4);
    }
    for (int x = nfast; x < ow; ++x) {
      for (int c = 0; c < 3; ++c) {
        c0a[3 * x + c] = r0[o0[x] + c];
        c0b[3 * x + c] = r0[o1[x] + c];
        c1a[3 * x + c] = r1[o0[x] + c];
        c1b[3 * x + c] = r1[o1[x] + c];
      }
    }
    const float* __restrict W0 = t.w0x3.data();
    const float* __restrict W1 = t.w1x3.data();
    const float wy0 = 1.0f - wy;
    for (int i = 0; i < n; ++i) {
      const float left = static_cast<float>(c0a[i]) * wy0 + static_cast<float>(c1a[i]) * wy;
      const float right = static_cast<float>(c0b[i]) * wy0 + static_cast<float>(c1b[i]) * wy;
      bl[i] = left * W0[i] + right * W1[i];
    }
    // De-interleave (group of 3, which the vectoriser handles) with the folded mean/std.
    const int s0 = p.src_c[0], s2 = p.src_c[2];
    const float a0 = p.a[0], a1 = p.a[1], a2 = p.a[2], b0 = p.b[0], b1 = p.b[1], b2 = p.b[2];
    float* __restrict q0 = row;
    float* __restrict q1 = row + ow;
    float* __restrict q2 = row + 2 * ow;
    for (int x = 0; x < ow; ++x) {
      const float v0 = bl[3 * x], v1 = bl[3 * x + 1], v2 = bl[3 * x + 2];
      q0[x] = (s0 == 0 ? v0 : v2) * a0 + b0;
      q1[x] = v1 * a1 + b1;
      q2[x] = (s2 == 2 ? v2 : v0) * a2 + b2;
    }
    return;
  }
  const int lo = t.lo, hi = t.hi;
  // Vertical blend over the bytes the horizontal taps read; contiguous, so it vectorises.
  if (wy == 0.0f) {
    for (int i = lo; i < hi; ++i) bl[i] = static_cast<float>(r0[i]);
  } else {
    const float wy0 = 1.0f - wy;
    for (int i = lo; i < hi; ++i) bl[i] = static_cast<float>(r0[i]) * wy0 + static_cast<float>(r1[i]) * wy;
  }
  // Horizontal taps + normalisation, one model channel at a time so each write is a contiguous plane row.
  for (int k = 0; k < 3; ++k) {
    const float* __restrict bc = bl + p.src_c[k];
    const float a = p.a[k], b = p.b[k];
    float* __restrict rk = row + k * ow;
    for (int x = 0; x < ow; ++x) rk[x] = (bc[o0[x]] * w0[x] + bc[o1[x]] * w1[x]) * a + b;
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define YOLOCLS_HAVE_AVX2_PATH 1
// 8 output columns from one source row: for source channel c, tap0 and tap1 values as int32 lanes (column order).
// x01/x45/x23/x67: 16 bytes holding the 8-byte loads of two columns each (bytes 0-5 and 8-13: R G B R' G' B').
__attribute__((target("avx2,fma,f16c"))) inline void load8(const uint8_t* r, const int32_t* o, __m256i* X, __m256i* Y) {
  auto pair = [r](int32_t a, int32_t b) {
    const __m128i lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(r + a));
    return _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(lo), reinterpret_cast<const double*>(r + b)));
  };
  // X = columns (0,1 | 4,5), Y = (2,3 | 6,7): after the per-lane shuffle, 64-bit unpacks give columns 0..7 in order.
  *X = _mm256_inserti128_si256(_mm256_castsi128_si256(pair(o[0], o[1])), pair(o[4], o[5]), 1);
  *Y = _mm256_inserti128_si256(_mm256_castsi128_si256(pair(o[2], o[3])), pair(o[6], o[7]), 1);
}

// Horizontal blend of one source row for source channel c: shuffle mask picks (colA.c, colB.c, colA.c', colB.c').
__attribute__((target("avx2,fma,f16c"))) inline __m256 hblend(__m256i X, __m256i Y, __m256i mask, __m256 w0, __m256 w1) {
  const __m256i xs = _mm256_shuffle_epi8(X, mask), ys = _mm256_shuffle_epi8(Y, mask);
  const __m256 t0 = _mm256_cvtepi32_ps(_mm256_unpacklo_epi64(xs, ys));
  const __m256 t1 = _mm256_cvtepi32_ps(_mm256_unpackhi_epi64(xs, ys));
  return _mm256_fmadd_ps(t1, w1, _mm256_mul_ps(t0, w0));
}

__attribute__((target("avx2,fma,f16c"))) inline void store8(float* d, __m256 v) { _mm256_storeu_ps(d, v); }
// Half output: F16C rounds to nearest even, like detail::float_to_half (used for the tail).
__attribute__((target("avx2,fma,f16c"))) inline void store8(uint16_t* d, __m256 v) {
  _mm_storeu_si128(reinterpret_cast<__m128i*>(d), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
inline void store1(float* d, float v) { *d = v; }
inline void store1(uint16_t* d, float v) { *d = detail::float_to_half(v); }

// One output row of the region into the planes q[k] (ow elements each, model channel k). Needs t.nvec > 0; half
// output (Out = uint16_t) needs F16C.
template <typename Out>
__attribute__((target("avx2,fma,f16c"))) void rowwise_avx2(const uint8_t* __restrict r0, const uint8_t* __restrict r1,
                                                           float wy, const Plan& p, const XTaps& t, Out* const q[3]) {
  const int32_t* o0 = t.o0.data();
  const int32_t* o1 = t.o1.data();
  const float* w0 = t.w0.data();
  const float* w1 = t.w1.data();
  __m256i mask[3];
  for (int c = 0; c < 3; ++c) {
    const int8_t z = -1;  // zero byte
    mask[c] = _mm256_setr_epi8(c, z, z, z, 8 + c, z, z, z, 3 + c, z, z, z, 11 + c, z, z, z,
                               c, z, z, z, 8 + c, z, z, z, 3 + c, z, z, z, 11 + c, z, z, z);
  }
  // out = h0 * (1 - wy) * a + h1 * wy * a + b (model channel k from source channel src_c[k]).
  Out* dst[3];
  __m256 A0[3], A1[3], Bk[3];
  for (int k = 0; k < 3; ++k) {
    const int c = p.src_c[k];
    dst[c] = q[k];
    A0[c] = _mm256_set1_ps((1.0f - wy) * p.a[k]);
    A1[c] = _mm256_set1_ps(wy * p.a[k]);
    Bk[c] = _mm256_set1_ps(p.b[k]);
  }
  const int nvec = t.nvec;
  for (int x = 0; x < nvec; x += 8) {
    __m256i X0, Y0, X1, Y1;
    load8(r0, o0 + x, &X0, &Y0);
    load8(r1, o0 + x, &X1, &Y1);
    const __m256 W0 = _mm256_loadu_ps(w0 + x), W1 = _mm256_loadu_ps(w1 + x);
    for (int c = 0; c < 3; ++c) {
      const __m256 h0 = hblend(X0, Y0, mask[c], W0, W1);
      const __m256 h1 = hblend(X1, Y1, mask[c], W0, W1);
      store8(dst[c] + x, _mm256_fmadd_ps(h0, A0[c], _mm256_fmadd_ps(h1, A1[c], Bk[c])));
    }
  }
  for (int x = nvec; x < p.ow; ++x) {  // the last few columns, whose 8-byte load would leave the region row
    for (int c = 0; c < 3; ++c) {
      const float h0 = static_cast<float>(r0[o0[x] + c]) * w0[x] + static_cast<float>(r0[o1[x] + c]) * w1[x];
      const float h1 = static_cast<float>(r1[o0[x] + c]) * w0[x] + static_cast<float>(r1[o1[x] + c]) * w1[x];
      const int k = p.src_c[c];  // src_c is its own inverse (identity or the swap 2 - k)
      store1(dst[c] + x, h0 * ((1.0f - wy) * p.a[k]) + (h1 * (wy * p.a[k]) + p.b[k]));
    }
  }
}

// YOLOCLS_NO_AVX2=1 forces the portable path (what ARM and old x86 run), so tests can compare both here.
// (__builtin_cpu_init: these run as static initialisers, possibly before libgcc's own CPU detection.)
const bool kUseAvx2 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c") &&
         std::getenv("YOLOCLS_NO_AVX2") == nullptr;
}();
#endif

inline void store(float* dst, const float* src, int n) { std::memcpy(dst, src, sizeof(float) * n); }
#if defined(__x86_64__) && defined(__GNUC__)
// F16C converts 8 floats per instruction (round to nearest even, like float_to_half); chosen at run time.
__attribute__((target("avx,f16c"))) void store_half_f16c(uint16_t* dst, const float* src, int n) {
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = detail::float_to_half(src[i]);
}
// YOLOCLS_NO_F16C=1 forces the portable conversion (what ARM and old x86 run), so tests can cover it here.
const bool kHasF16C = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx") && __builtin_cpu_supports("f16c") && std::getenv("YOLOCLS_NO_F16C") == nullptr;
}();
#endif

inline void store(uint16_t* dst, const float* src, int n) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (kHasF16C) {
    store_half_f16c(dst, src, n);
    return;
  }
#endif
  for (int i = 0; i < n; ++i) dst[i] = detail::float_to_half(src[i]);
}
inline void fill(float* dst, float v, int n) { std::fill(dst, dst + n, v); }
inline void fill(uint16_t* dst, float v, int n) { std::fill(dst, dst + n, detail::float_to_half(v)); }

// Rows [y_begin, y_end) of one image's S x S output (canvas coordinates).
template <typename Out>
void run_rows(const ImageJob& job, int y_begin, int y_end) {
  const Plan& p = job.plan;
  const XTaps& t = job.xt;
  const int S = p.S;
  const size_t plane = static_cast<size_t>(S) * S;
  Out* out = static_cast<Out*>(job.dst);
  const uint8_t* base = job.image->data + p.top * p.stride + 3 * static_cast<int64_t>(p.left);

  // Per-thread scratch: the vertically blended row (floats) and one output row per channel before storing.
  thread_local std::vector<float> blend;
  thread_local std::vector<float> row;
  // Blend row: t.hi floats, or in pair mode 6*ow floats followed by two compact byte rows.
  const size_t need = std::max<size_t>(t.hi, 3 * static_cast<size_t>(p.ow) + (12 * static_cast<size_t>(p.ow) + 16) / 4 + 1);
  if (blend.size() < need) blend.resize(need);
  if (row.size() < static_cast<size_t>(3 * p.ow)) row.resize(3 * p.ow);
  float* const bl = blend.data();

  for (int y = y_begin; y < y_end; ++y) {
    Out* o[3] = {out + 0 * plane + static_cast<size_t>(y) * S, out + 1 * plane + static_cast<size_t>(y) * S,
                 out + 2 * plane + static_cast<size_t>(y) * S};
    if (y < p.oy || y >= p.oy + p.oh) {  // letterbox band above/below the image
      for (int k = 0; k < 3; ++k) fill(o[k], p.fill[k], S);
      continue;
    }
    int y0, y1;
    float wy;
    detail::linear_tap(y - p.oy, p.rh, p.oh, &y0, &y1, &wy);
    const uint8_t* r0 = base + y0 * p.stride;
    const uint8_t* r1 = base + y1 * p.stride;
    if (y0 == y1) wy = 0.0f;
    bool direct = false;  // the row went straight into the float output planes
#ifdef YOLOCLS_HAVE_AVX2_PATH
    if (kUseAvx2 && t.nvec > 0) {
      if (std::is_same<Out, float>::value || kHasF16C) {  // straight into the output planes
        Out* q[3] = {o[0] + p.ox, o[1] + p.ox, o[2] + p.ox};
        rowwise_avx2<Out>(r0, r1, wy, p, t, q);
        direct = true;
      } else {  // YOLOCLS_NO_F16C: floats first, then the portable half conversion in store()
        float* q[3] = {row.data(), row.data() + p.ow, row.data() + 2 * p.ow};
        rowwise_avx2<float>(r0, r1, wy, p, t, q);
      }
    } else {
      compute_row(r0, r1, wy, p, t, bl, row.data());
    }
#else
    compute_row(r0, r1, wy, p, t, bl, row.data());
#endif
    for (int k = 0; k < 3; ++k) {
      if (p.ox > 0) fill(o[k], p.fill[k], p.ox);
      if (!direct) store(o[k] + p.ox, row.data() + k * p.ow, p.ow);
      const int right = S - p.ox - p.ow;
      if (right > 0) fill(o[k] + p.ox + p.ow, p.fill[k], right);
    }
  }
}

}  // namespace

struct Preprocessor::Impl {
  explicit Impl(int threads) : pool(threads) {}
  detail::ThreadPool pool;
};

Preprocessor::Preprocessor(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  impl_ = std::make_unique<Impl>(std::min(threads, 256));
}
Preprocessor::~Preprocessor() = default;
Preprocessor::Preprocessor(Preprocessor&&) noexcept = default;
Preprocessor& Preprocessor::operator=(Preprocessor&&) noexcept = default;

int Preprocessor::threads() const { return impl_->pool.threads(); }

static void run_impl(detail::ThreadPool* pool, const ImageView* images, size_t count, const PreprocessConfig& cfg,
                     void* dst, DType dtype) {
  if (count == 0) return;
  if (images == nullptr || dst == nullptr) throw InvalidArgument("null image list or output buffer");
  cfg.validate();
  const size_t elem = dtype == DType::Float16 ? 2 : 4;
  const size_t per_image = preprocessed_elems(cfg) * elem;
  std::vector<ImageJob> jobs(count);
  for (size_t i = 0; i < count; ++i) {
    detail::check_image(images[i], i);
    jobs[i].image = &images[i];
    jobs[i].plan = detail::make_plan(images[i], cfg);
    make_xtaps(jobs[i].plan, &jobs[i].xt);
    jobs[i].dst = static_cast<uint8_t*>(dst) + i * per_image;
  }
  auto rows = [&](const ImageJob& job, int y0, int y1) {
    if (dtype == DType::Float16) {
      run_rows<uint16_t>(job, y0, y1);
    } else {
      run_rows<float>(job, y0, y1);
    }
  };
  const int S = cfg.imgsz;
  const int threads = pool ? pool->threads() : 1;
  if (threads <= 1) {
    for (const auto& job : jobs) rows(job, 0, S);
    return;
  }
  // Enough blocks per image to balance the threads, few enough that a block amortises the task overhead.
  const int blocks = count >= static_cast<size_t>(threads) ? 1 : std::min(S, 2 * threads);
  const int rows_per_block = (S + blocks - 1) / blocks;
  pool->parallel_for(static_cast<int>(count) * blocks, [&](int task) {
    const ImageJob& job = jobs[task / blocks];
    const int y0 = (task % blocks) * rows_per_block;
    const int y1 = std::min(S, y0 + rows_per_block);
    if (y0 < y1) rows(job, y0, y1);
  });
}

void Preprocessor::run(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst,
                       DType dtype) const {
  detail::ThreadPool* pool = &impl_->pool;
  if (pool->threads() > 1 && pool->try_acquire()) {
    struct Release {
      detail::ThreadPool* p;
      ~Release() { p->release(); }
    } guard{pool};
    run_impl(pool, images, count, cfg, dst, dtype);
  } else {
    run_impl(nullptr, images, count, cfg, dst, dtype);  // single-threaded, or the pool is busy with another caller
  }
}

void preprocess(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType dtype) {
  run_impl(nullptr, images, count, cfg, dst, dtype);
}

}  // namespace yolocls
