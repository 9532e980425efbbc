// CPU preprocessing: one fused pass per output row (DESIGN.md "Preprocessing spec").
//
// For each output row: blend the two source rows it samples (vertical tap) over the columns the row reads, as one
// contiguous float loop that -O3 vectorises; then gather the horizontal taps (precomputed byte offsets + weights),
// apply the folded mean/std multiply-add and write the three CHW planes. Only source rows that are sampled are read.
// Work is split into (image, row block) tasks over the Preprocessor's persistent pool.
#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "preprocess/plan.hpp"
#include "preprocess/thread_pool.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {

void PreprocessConfig::validate() const {
  if (imgsz < 1 || imgsz > 16384) throw InvalidArgument("imgsz must be in 1..16384, got " + std::to_string(imgsz));
  for (int k = 0; k < 3; ++k) {
    if (std[k] == 0.0f || !std::isfinite(std[k]) || !std::isfinite(mean[k])) {
      throw InvalidArgument("std values must be finite and non-zero, mean values finite");
    }
  }
  if (!std::isfinite(scale)) throw InvalidArgument("scale must be finite");
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
};

struct ImageJob {
  const ImageView* image;
  Plan plan;
  XTaps xt;
  void* dst;  // first element of this image's output
  bool direct;  // gather taps straight from the source rows (no vertical-blend row)
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
    t->o0[x] = 3 * i0;
    t->o1[x] = 3 * i1;
    t->w0[x] = 1.0f - w;
    t->w1[x] = w;
  }
  t->lo = t->o0[0];
  t->hi = t->o1[p.ow - 1] + 3;
}

inline void store(float* dst, const float* src, int n) { std::memcpy(dst, src, sizeof(float) * n); }
inline void store(uint16_t* dst, const float* src, int n) {
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
  if (blend.size() < static_cast<size_t>(t.hi)) blend.resize(t.hi);
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
    const uint8_t* __restrict r0 = base + y0 * p.stride;
    const uint8_t* __restrict r1 = base + y1 * p.stride;
    const int32_t* __restrict o0 = t.o0.data();
    const int32_t* __restrict o1 = t.o1.data();
    const float* __restrict w0 = t.w0.data();
    const float* __restrict w1 = t.w1.data();
    const float wy1 = wy, wy0 = 1.0f - wy;
    if (job.direct) {
      // Strong horizontal downscale: most columns are never sampled, so read the 4 taps straight from the rows.
      for (int k = 0; k < 3; ++k) {
        const uint8_t* __restrict a0p = r0 + p.src_c[k];
        const uint8_t* __restrict a1p = r1 + p.src_c[k];
        const float a0 = p.a[k], b0 = p.b[k];
        float* __restrict rk = row.data() + k * p.ow;
        for (int x = 0; x < p.ow; ++x) {
          const float top = static_cast<float>(a0p[o0[x]]) * w0[x] + static_cast<float>(a0p[o1[x]]) * w1[x];
          const float bot = static_cast<float>(a1p[o0[x]]) * w0[x] + static_cast<float>(a1p[o1[x]]) * w1[x];
          rk[x] = (top * wy0 + bot * wy1) * a0 + b0;
        }
      }
    } else {
      // Vertical blend over the bytes the horizontal taps read; contiguous, so it vectorises.
      float* __restrict bw = bl;
      if (wy == 0.0f || y0 == y1) {
        for (int i = t.lo; i < t.hi; ++i) bw[i] = static_cast<float>(r0[i]);
      } else {
        for (int i = t.lo; i < t.hi; ++i) bw[i] = static_cast<float>(r0[i]) * wy0 + static_cast<float>(r1[i]) * wy1;
      }
      // Horizontal taps + normalisation, one model channel at a time so each write is a contiguous plane row.
      for (int k = 0; k < 3; ++k) {
        const float* __restrict bc = bl + p.src_c[k];
        const float a0 = p.a[k], b0 = p.b[k];
        float* __restrict rk = row.data() + k * p.ow;
        for (int x = 0; x < p.ow; ++x) rk[x] = (bc[o0[x]] * w0[x] + bc[o1[x]] * w1[x]) * a0 + b0;
      }
    }
    for (int k = 0; k < 3; ++k) {
      if (p.ox > 0) fill(o[k], p.fill[k], p.ox);
      store(o[k] + p.ox, row.data() + k * p.ow, p.ow);
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
    jobs[i].direct = false;
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
