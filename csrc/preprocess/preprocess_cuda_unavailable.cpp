// Built instead of preprocess_cuda.cu when CUDA was not found at build time.
#include <string>

#include "yolocls/error.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {

void preprocess_cuda(const ImageView&, const PreprocessConfig&, void*, DType, void*) {
  throw Unavailable("yolocls was built without CUDA; rebuild where nvcc is installed to use CUDA preprocessing");
}

bool built_with_cuda() { return false; }
int cuda_device_count() { return 0; }

namespace detail {
std::string cuda_runtime_version() { return ""; }
}  // namespace detail

}  // namespace yolocls
