// Host frames -> CUDA preprocessing (internal; no CUDA types here so plain C++ units can use it).
#pragma once

#include <cstddef>
#include <memory>

#include "yolocls/preprocess.hpp"

namespace yolocls {
namespace detail {

// Growable buffers for uploading frames. run() packs, on the host, only the region each image's preprocessing reads
// (the centre square for crop=center) into page-locked (pinned) host memory, then either
//   Upload::Pinned: enqueues one DMA copy of the batch to a device buffer on `stream` (asynchronous: a copy from
//                   pageable memory is staged by the driver and blocks the calling thread, 2-5x slower), or
//   Upload::Mapped: lets the kernel read the pinned buffer in place (zero-copy; mapped host memory), the right
//                   choice where the GPU shares the CPU's memory (Jetson: cudaDeviceProp::integrated),
// then the CUDA kernel writing image i at dst + i * 3*imgsz*imgsz elements of `dtype` (device memory).
// Upload::Auto picks Mapped on integrated GPUs that can map host memory, Pinned elsewhere.
// Nothing is synchronised: the buffers stay in use until the caller synchronises `stream`, and must not be given to
// another run() before that. Not thread-safe (one owner at a time). Without CUDA in the build run() throws
// Unavailable; a CUDA failure throws Error.
class CudaFrameStaging {
 public:
  enum class Upload { Auto, Pinned, Mapped };
  explicit CudaFrameStaging(Upload upload = Upload::Auto);
  ~CudaFrameStaging();
  CudaFrameStaging(const CudaFrameStaging&) = delete;
  CudaFrameStaging& operator=(const CudaFrameStaging&) = delete;

  void run(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType dtype, void* stream);
  // Wait for `stream` (cudaStream_t; nullptr = legacy default stream). Throws Error on a CUDA failure.
  static void synchronize(void* stream);
  // The mode run() used last (Auto before the first run()).
  Upload upload() const;
  // The current device can map pinned host memory (Upload::Mapped works; false without CUDA or a device).
  static bool mapped_supported();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace detail
}  // namespace yolocls
