// Host frames -> CUDA preprocessing (internal; no CUDA types here so plain C++ units can use it).
#pragma once

#include <cstddef>
#include <memory>

#include "yolocls/preprocess.hpp"

namespace yolocls {
namespace detail {

// A growable device buffer for uploaded frames. run() enqueues, on `stream`, one 2-D copy per image of only the
// region the preprocessing reads (the centre square for crop=center), then the CUDA kernel writing image i at
// dst + i * 3*imgsz*imgsz elements of `dtype` (device memory). Nothing is synchronised: the buffer stays in use until
// the caller synchronises `stream`, and must not be given to another run() before that. Not thread-safe (one owner
// at a time). Without CUDA in the build run() throws Unavailable; a CUDA failure throws Error.
class CudaFrameStaging {
 public:
  CudaFrameStaging();
  ~CudaFrameStaging();
  CudaFrameStaging(const CudaFrameStaging&) = delete;
  CudaFrameStaging& operator=(const CudaFrameStaging&) = delete;

  void run(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType dtype, void* stream);
  // Wait for `stream` (cudaStream_t; nullptr = legacy default stream). Throws Error on a CUDA failure.
  static void synchronize(void* stream);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace detail
}  // namespace yolocls
