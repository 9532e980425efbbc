// CUDA preprocessing: one kernel, one thread per output pixel writing its 3 channels (DESIGN.md spec).
// The host launcher validates, enqueues on the caller's stream and throws yolocls::Error on a CUDA failure.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "preprocess/cuda_staging.hpp"
#include "preprocess/plan.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {
namespace {

struct KernelParams {
  const unsigned char* src;
  long long stride;
  int S, top, left, rh, rw, oy, ox, oh, ow;
  float a[3], b[3], fill[3];
  int src_c[3];
  double ry, rx;  // rh / oh, rw / ow
};

// Taps in double, exactly like the reference (float32 source coordinates would be off by up to 6e-5 px at 1000 px).
__device__ __forceinline__ void tap(int d, double ratio, int n_in, int* i0, int* i1, float* w) {
  double s = (d + 0.5) * ratio - 0.5;
  s = fmin(fmax(s, 0.0), static_cast<double>(n_in - 1));
  const int f = static_cast<int>(floor(s));
  *i0 = f;
  *i1 = min(f + 1, n_in - 1);
  *w = static_cast<float>(s - f);
}

__device__ __forceinline__ void put(float* p, float v) { *p = v; }
__device__ __forceinline__ void put(__half* p, float v) { *p = __float2half_rn(v); }

template <typename Out>
__global__ void preprocess_kernel(KernelParams p, Out* out) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.S || y >= p.S) return;
  const size_t plane = static_cast<size_t>(p.S) * p.S;
  const size_t idx = static_cast<size_t>(y) * p.S + x;
  const int ry = y - p.oy, rx = x - p.ox;
  if (ry < 0 || ry >= p.oh || rx < 0 || rx >= p.ow) {  // letterbox padding
#pragma unroll
    for (int k = 0; k < 3; ++k) put(out + k * plane + idx, p.fill[k]);
    return;
  }
  int y0, y1, x0, x1;
  float wy, wx;
  tap(ry, p.ry, p.rh, &y0, &y1, &wy);
  tap(rx, p.rx, p.rw, &x0, &x1, &wx);
  const unsigned char* r0 = p.src + (p.top + y0) * p.stride + 3LL * p.left;
  const unsigned char* r1 = p.src + (p.top + y1) * p.stride + 3LL * p.left;
#pragma unroll
  for (int k = 0; k < 3; ++k) {
    const int c = p.src_c[k];
    const float top = r0[3 * x0 + c] * (1.0f - wx) + r0[3 * x1 + c] * wx;
    const float bot = r1[3 * x0 + c] * (1.0f - wx) + r1[3 * x1 + c] * wx;
    const float v = top * (1.0f - wy) + bot * wy;
    put(out + k * plane + idx, v * p.a[k] + p.b[k]);
  }
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later calls are not poisoned
    throw Error(std::string("CUDA preprocessing: ") + what + " failed: " + cudaGetErrorString(e));
  }
}

// Throws Unavailable (not a CUDA error code) when there is no driver or no device: the usual case on CPU machines.
void require_cuda_device() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    cudaGetLastError();  // clear the sticky error so later calls report their own
    throw Unavailable(std::string("CUDA preprocessing needs an NVIDIA GPU and driver: ") +
                      (e != cudaSuccess ? cudaGetErrorString(e) : "no CUDA device found"));
  }
}

}  // namespace

void preprocess_cuda(const ImageView& image, const PreprocessConfig& cfg, void* dst, DType dtype, void* stream) {
  cfg.validate();
  detail::check_image(image, 0);
  if (dst == nullptr) throw InvalidArgument("null output buffer");
  require_cuda_device();
  const detail::Plan pl = detail::make_plan(image, cfg);
  KernelParams p;
  p.src = image.data;
  p.stride = pl.stride;
  p.S = pl.S;
  p.top = pl.top;
  p.left = pl.left;
  p.rh = pl.rh;
  p.rw = pl.rw;
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
  p.ry = static_cast<double>(pl.rh) / pl.oh;
  p.rx = static_cast<double>(pl.rw) / pl.ow;
  const dim3 block(32, 8);
  const dim3 grid((pl.S + block.x - 1) / block.x, (pl.S + block.y - 1) / block.y);
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (dtype == DType::Float16) {
    preprocess_kernel<__half><<<grid, block, 0, s>>>(p, static_cast<__half*>(dst));
  } else {
    preprocess_kernel<float><<<grid, block, 0, s>>>(p, static_cast<float*>(dst));
  }
  check(cudaGetLastError(), "kernel launch");
}

bool built_with_cuda() { return true; }

namespace detail {
std::string cuda_runtime_version() {
  return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
}

struct CudaFrameStaging::Impl {
  unsigned char* buf = nullptr;
  size_t cap = 0;
  int device = -1;
  void free_buffer() {
    if (buf == nullptr) return;
    int current = 0;
    const bool restore = cudaGetDevice(&current) == cudaSuccess && current != device;
    if (restore) cudaSetDevice(device);
    cudaFree(buf);  // waits for work still using it
    if (restore) cudaSetDevice(current);
    cudaGetLastError();
    buf = nullptr;
    cap = 0;
  }
  ~Impl() { free_buffer(); }
};

CudaFrameStaging::CudaFrameStaging() : impl_(std::make_unique<Impl>()) {}

void CudaFrameStaging::synchronize(void* stream) {
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}
CudaFrameStaging::~CudaFrameStaging() = default;

void CudaFrameStaging::run(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType dtype,
                           void* stream) {
  if (count == 0) return;
  if (images == nullptr || dst == nullptr) throw InvalidArgument("null image list or output buffer");
  cfg.validate();
  // Only the region each image reads is uploaded (crop=center: the centre square), rows packed, 256-byte aligned.
  std::vector<Plan> plans(count);
  std::vector<size_t> offsets(count);
  size_t total = 0;
  for (size_t i = 0; i < count; ++i) {
    check_image(images[i], i);
    plans[i] = make_plan(images[i], cfg);
    offsets[i] = total;
    total += (static_cast<size_t>(plans[i].rh) * 3 * plans[i].rw + 255) / 256 * 256;
  }
  require_cuda_device();
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  if (impl_->device != device || impl_->cap < total) {
    impl_->free_buffer();
    void* p = nullptr;
    check(cudaMalloc(&p, total), "cudaMalloc (frame staging)");
    impl_->buf = static_cast<unsigned char*>(p);
    impl_->cap = total;
    impl_->device = device;
  }
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const size_t per_image = preprocessed_elems(cfg) * (dtype == DType::Float16 ? 2 : 4);
  for (size_t i = 0; i < count; ++i) {
    const Plan& pl = plans[i];
    const size_t row = static_cast<size_t>(3) * pl.rw;
    const uint8_t* src = images[i].data + pl.top * pl.stride + 3 * static_cast<int64_t>(pl.left);
    unsigned char* d = impl_->buf + offsets[i];
    check(cudaMemcpy2DAsync(d, row, src, static_cast<size_t>(pl.stride), row, pl.rh, cudaMemcpyHostToDevice, s),
          "frame upload (cudaMemcpy2DAsync)");
    // The uploaded region is the whole image the plan reads: for crop=center it is square, so cropping it again
    // selects all of it and the output is the same as for the full frame.
    ImageView region;
    region.data = d;
    region.height = pl.rh;
    region.width = pl.rw;
    region.row_stride = static_cast<int64_t>(row);
    region.order = images[i].order;
    preprocess_cuda(region, cfg, static_cast<unsigned char*>(dst) + i * per_image, dtype, stream);
  }
}
}  // namespace detail

int cuda_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

}  // namespace yolocls
