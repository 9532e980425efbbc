// CUDA preprocessing: one kernel, one thread per output pixel writing its 3 channels (DESIGN.md spec).
// The interpolation taps are per output row and per output column, so they are computed once per geometry on the
// host, with the CPU kernel's own double-precision arithmetic (detail::linear_tap), stored as float32 weights and
// integer offsets, and uploaded to a process-wide table cache: threads only read them (no FP64 in the kernel, which
// Jetson's and consumer GPUs run at 1/32-1/64 rate). The host launcher validates, enqueues on the caller's stream and
// throws yolocls::Error on a CUDA failure. Frames from host memory go through CudaFrameStaging (pinned or mapped).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "preprocess/cuda_staging.hpp"
#include "preprocess/cuda_taps.hpp"
#include "preprocess/plan.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {
namespace {

using detail::Tap;
using detail::TapParams;

__device__ __forceinline__ void put(float* p, float v) { *p = v; }
__device__ __forceinline__ void put(__half* p, float v) { *p = __float2half_rn(v); }

template <typename Out>
__global__ void preprocess_kernel(TapParams p, Out* __restrict__ out) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.S || y >= p.S) return;
  const size_t plane = static_cast<size_t>(p.S) * p.S;
  const size_t idx = static_cast<size_t>(y) * p.S + x;
  float v[3];
  detail::tap_pixel(p, x, y, v);
#pragma unroll
  for (int k = 0; k < 3; ++k) put(out + k * plane + idx, v[k]);
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

// Device tap tables keyed by (device, axis kind, n_in, n_out), uploaded once and kept (a video stream has one
// geometry; a photo collection a few hundred). Uploads go through a private non-blocking stream that is synchronised
// before the table is used, so any stream may read a table at once, and no capture in progress on another stream is
// disturbed. with_taps() runs the caller's kernel launch under the cache's lock: no table pointer outlives the lock
// unenqueued, so when the tables pass kMaxBytes (thousands of distinct geometries) the cache can start over after
// waiting for each device's enqueued work.
class TapCache {
 public:
  template <typename Launch>
  void with_taps(int device, const detail::Plan& pl, Launch&& launch) {
    std::lock_guard<std::mutex> lock(mutex_);
    const size_t need = (find(device, false, pl.rh, pl.oh) ? 0 : pl.oh) +  // taps still to upload
                        (find(device, true, pl.rw, pl.ow) ? 0 : pl.ow);
    if (need > 0 && bytes_ + need * sizeof(Tap) > kMaxBytes) clear();
    const Tap* ty = get(device, false, pl.rh, pl.oh);
    const Tap* tx = get(device, true, pl.rw, pl.ow);
    launch(ty, tx);
  }

 private:
  static constexpr size_t kMaxBytes = 32u << 20;
  using Key = std::tuple<int, bool, int, int>;

  const Tap* find(int device, bool columns, int n_in, int n_out) const {
    const auto it = tables_.find(Key(device, columns, n_in, n_out));
    return it == tables_.end() ? nullptr : it->second;
  }

  const Tap* get(int device, bool columns, int n_in, int n_out) {
    if (const Tap* t = find(device, columns, n_in, n_out)) return t;
    const std::vector<Tap> host = detail::make_taps(n_in, n_out, columns ? 3 : 1);
    const size_t bytes = host.size() * sizeof(Tap);
    cudaStream_t& s = streams_[device];
    if (s == nullptr) check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate (tap upload)");
    void* d = nullptr;
    check(cudaMalloc(&d, bytes), "cudaMalloc (tap table)");
    const cudaError_t e = cudaMemcpyAsync(d, host.data(), bytes, cudaMemcpyHostToDevice, s);
    const cudaError_t e2 = e == cudaSuccess ? cudaStreamSynchronize(s) : e;
    if (e2 != cudaSuccess) {
      cudaFree(d);
      check(e2, "tap table upload");
    }
    bytes_ += bytes;
    return tables_[Key(device, columns, n_in, n_out)] = static_cast<const Tap*>(d);
  }

  void clear() {
    int current = -1;
    cudaGetDevice(&current);
    int synced = -1;
    for (auto& kv : tables_) {  // ordered by device first
      const int device = std::get<0>(kv.first);
      cudaSetDevice(device);
      if (device != synced) cudaDeviceSynchronize();  // kernels enqueued with these tables have finished
      synced = device;
      cudaFree(const_cast<Tap*>(kv.second));
    }
    if (current >= 0) cudaSetDevice(current);
    cudaGetLastError();
    tables_.clear();
    bytes_ = 0;
  }

  std::mutex mutex_;
  std::map<Key, const Tap*> tables_;
  std::map<int, cudaStream_t> streams_;
  size_t bytes_ = 0;
};

TapCache& tap_cache() {
  static TapCache* cache = new TapCache;  // never destroyed: CUDA may be torn down before static destructors run
  return *cache;
}

// Enqueue the kernel for one image whose region (the plan's crop) starts at `region` (device or mapped memory) with
// rows `stride` bytes apart.
void launch(const detail::Plan& pl, const unsigned char* region, long long stride, void* dst, DType dtype,
            cudaStream_t s) {
  int device = 0;
  check(cudaGetDevice(&device), "cudaGetDevice");
  TapParams p = detail::make_tap_params(pl, region, stride);
  const dim3 block(32, 8);
  const dim3 grid((pl.S + block.x - 1) / block.x, (pl.S + block.y - 1) / block.y);
  tap_cache().with_taps(device, pl, [&](const Tap* ty, const Tap* tx) {
    p.ty = ty;
    p.tx = tx;
    if (dtype == DType::Float16) {
      preprocess_kernel<__half><<<grid, block, 0, s>>>(p, static_cast<__half*>(dst));
    } else {
      preprocess_kernel<float><<<grid, block, 0, s>>>(p, static_cast<float*>(dst));
    }
    check(cudaGetLastError(), "kernel launch");
  });
}

}  // namespace

void preprocess_cuda(const ImageView& image, const PreprocessConfig& cfg, void* dst, DType dtype, void* stream) {
  cfg.validate();
  detail::check_image(image, 0);
  if (dst == nullptr) throw InvalidArgument("null output buffer");
  require_cuda_device();
  const detail::Plan pl = detail::make_plan(image, cfg);
  launch(pl, image.data + pl.top * pl.stride + 3LL * pl.left, pl.stride, dst, dtype, static_cast<cudaStream_t>(stream));
}

bool built_with_cuda() { return true; }

namespace detail {
std::string cuda_runtime_version() {
  return std::to_string(CUDART_VERSION / 1000) + "." + std::to_string((CUDART_VERSION % 1000) / 10);
}

struct CudaFrameStaging::Impl {
  Upload requested = Upload::Auto, used = Upload::Auto;
  unsigned char* host = nullptr;    // pinned (mapped in Mapped mode)
  unsigned char* device = nullptr;  // Pinned mode: the DMA target; Mapped mode: the device view of `host`
  size_t cap = 0;
  int dev = -1;
  Upload host_kind = Upload::Auto;  // how `host` was allocated
  void free_buffers() {
    if (host == nullptr && device == nullptr) return;
    int current = 0;
    const bool restore = cudaGetDevice(&current) == cudaSuccess && current != dev;
    if (restore) cudaSetDevice(dev);
    if (host_kind == Upload::Pinned && device != nullptr) cudaFree(device);  // waits for work still using it
    if (host != nullptr) cudaFreeHost(host);
    if (restore) cudaSetDevice(current);
    cudaGetLastError();
    host = device = nullptr;
    cap = 0;
  }
  ~Impl() { free_buffers(); }
};

CudaFrameStaging::CudaFrameStaging(Upload upload) : impl_(std::make_unique<Impl>()) { impl_->requested = upload; }
CudaFrameStaging::~CudaFrameStaging() = default;
CudaFrameStaging::Upload CudaFrameStaging::upload() const { return impl_->used; }

void CudaFrameStaging::synchronize(void* stream) {
  check(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "cudaStreamSynchronize");
}

bool CudaFrameStaging::mapped_supported() {
  int n = 0, device = 0, can_map = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0 || cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return can_map != 0;
}

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
  Upload mode = impl_->requested;
  if (mode == Upload::Auto) {
    int integrated = 0, can_map = 0;
    check(cudaDeviceGetAttribute(&integrated, cudaDevAttrIntegrated, device), "cudaDeviceGetAttribute");
    check(cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, device), "cudaDeviceGetAttribute");
    mode = integrated && can_map ? Upload::Mapped : Upload::Pinned;
  }
  if (impl_->dev != device || impl_->cap < total || impl_->host_kind != mode) {
    impl_->free_buffers();
    impl_->dev = device;
    impl_->host_kind = mode;
    void* h = nullptr;
    check(cudaHostAlloc(&h, total, mode == Upload::Mapped ? cudaHostAllocMapped : cudaHostAllocDefault),
          mode == Upload::Mapped ? "cudaHostAlloc (mapped frame staging)" : "cudaHostAlloc (pinned frame staging)");
    impl_->host = static_cast<unsigned char*>(h);
    void* d = nullptr;
    const cudaError_t e = mode == Upload::Mapped ? cudaHostGetDevicePointer(&d, h, 0) : cudaMalloc(&d, total);
    if (e != cudaSuccess) {
      impl_->free_buffers();
      check(e, mode == Upload::Mapped ? "cudaHostGetDevicePointer" : "cudaMalloc (frame staging)");
    }
    impl_->device = static_cast<unsigned char*>(d);
    impl_->cap = total;
  }
  impl_->used = mode;
  // Pack each region's rows into the pinned buffer (the only pass over the frame on the CPU).
  for (size_t i = 0; i < count; ++i) {
    const Plan& pl = plans[i];
    const size_t row = static_cast<size_t>(3) * pl.rw;
    const uint8_t* src = images[i].data + pl.top * pl.stride + 3 * static_cast<int64_t>(pl.left);
    unsigned char* h = impl_->host + offsets[i];
    if (static_cast<size_t>(pl.stride) == row) {
      std::memcpy(h, src, row * pl.rh);
    } else {
      for (int y = 0; y < pl.rh; ++y) std::memcpy(h + y * row, src + y * pl.stride, row);
    }
  }
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (mode == Upload::Pinned) {
    check(cudaMemcpyAsync(impl_->device, impl_->host, total, cudaMemcpyHostToDevice, s),
          "frame upload (cudaMemcpyAsync)");
  }
  const size_t per_image = preprocessed_elems(cfg) * (dtype == DType::Float16 ? 2 : 4);
  for (size_t i = 0; i < count; ++i) {
    const Plan& pl = plans[i];
    // The packed region is what the plan reads: its rows start at offsets[i], 3 * rw bytes apart.
    launch(pl, impl_->device + offsets[i], 3LL * pl.rw, static_cast<unsigned char*>(dst) + i * per_image, dtype, s);
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
