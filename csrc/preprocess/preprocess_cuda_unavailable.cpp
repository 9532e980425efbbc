// Built instead of preprocess_cuda.cu when CUDA was not found at build time.
#include <string>

#include "preprocess/cuda_staging.hpp"
#include "preprocess/plan.hpp"
#include "yolocls/error.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {

void preprocess_cuda(const ImageView& image, const PreprocessConfig& cfg, void* dst, DType, void*) {
  // Same argument errors as the CUDA build, so callers see one behaviour whichever build they run.
  cfg.validate();
  detail::check_image(image, 0);
  if (dst == nullptr) throw InvalidArgument("null output buffer");
  throw Unavailable("yolocls was built without CUDA; rebuild where nvcc is installed to use CUDA preprocessing");
}

bool built_with_cuda() { return false; }
int cuda_device_count() { return 0; }

namespace detail {
std::string cuda_runtime_version() { return ""; }

struct CudaFrameStaging::Impl {};
CudaFrameStaging::CudaFrameStaging(Upload) {}
CudaFrameStaging::Upload CudaFrameStaging::upload() const { return Upload::Auto; }
bool CudaFrameStaging::mapped_supported() { return false; }
CudaFrameStaging::~CudaFrameStaging() = default;
void CudaFrameStaging::synchronize(void*) {}
void CudaFrameStaging::run(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType,
                           void*) {
  if (count == 0) return;
  if (images == nullptr || dst == nullptr) throw InvalidArgument("null image list or output buffer");
  cfg.validate();
  for (size_t i = 0; i < count; ++i) check_image(images[i], i);
  throw Unavailable("yolocls was built without CUDA; rebuild where nvcc is installed to use CUDA preprocessing");
}
}  // namespace detail

}  // namespace yolocls
