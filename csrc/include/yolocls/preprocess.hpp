// The spec'd preprocessing (DESIGN.md "Preprocessing spec"): uint8 HxWx3 -> NCHW float32/float16.
//   crop (center | stretch | letterbox with pad value) -> half-pixel bilinear resize to imgsz x imgsz (no antialias)
//   -> channel reorder -> x * scale -> (x - mean) / std -> CHW.
// The NumPy reference yolocls.data.preprocess is the definition; this kernel matches it to 1e-5 (float32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "yolocls/export.hpp"

namespace yolocls {

enum class Crop { Center, Stretch, Letterbox };
enum class DType { Float32, Float16 };
enum class ChannelOrder { RGB, BGR };

// The spec's names of these values, as the metadata JSON, the Python package (yolocls.spec) and the CLI spell them:
// the one table per enum. parse_*, to_string and the Python enums (_C.Crop ...) are all made from it, so a new crop
// mode is one enum member plus one row here (and its kernel code and tests).
template <typename E>
struct SpecName {
  E value;
  const char* name;
};
inline constexpr SpecName<Crop> kCropNames[] = {
    {Crop::Center, "center"}, {Crop::Stretch, "stretch"}, {Crop::Letterbox, "letterbox"}};
inline constexpr SpecName<ChannelOrder> kChannelOrderNames[] = {{ChannelOrder::RGB, "RGB"}, {ChannelOrder::BGR, "BGR"}};
inline constexpr SpecName<DType> kDTypeNames[] = {{DType::Float32, "float32"}, {DType::Float16, "float16"}};

// parse_* is the one string -> enum conversion (the metadata reader and the Python bindings call it); it throws
// InvalidArgument naming the value and the choices.
YOLOCLS_API Crop parse_crop(const std::string& name);
YOLOCLS_API ChannelOrder parse_channel_order(const std::string& name);
YOLOCLS_API DType parse_dtype(const std::string& name);
YOLOCLS_API const char* to_string(Crop crop);
YOLOCLS_API const char* to_string(ChannelOrder order);
YOLOCLS_API const char* to_string(DType dtype);

// Model preprocessing settings (the `preprocess` block of the model metadata).
struct YOLOCLS_API PreprocessConfig {
  int imgsz = 224;
  Crop crop = Crop::Center;
  float mean[3] = {0.485f, 0.456f, 0.406f};  // per model-input channel
  float std[3] = {0.229f, 0.224f, 0.225f};
  float scale = 1.0f / 255.0f;
  ChannelOrder channel_order = ChannelOrder::RGB;  // channel order the model expects
  int pad_value = 114;                             // letterbox fill, in pixel units (0..255)

  // Throws InvalidArgument when a value is out of range (imgsz < 1, std == 0, pad outside 0..255).
  void validate() const;
};

// A borrowed uint8 image: `height` rows of `width` pixels of 3 interleaved channels, rows `row_stride` bytes apart
// (>= 3 * width; padded rows allowed). The caller keeps the memory alive during the call.
struct ImageView {
  const uint8_t* data = nullptr;
  int height = 0;
  int width = 0;
  int64_t row_stride = 0;                     // bytes; 0 means 3 * width
  ChannelOrder order = ChannelOrder::BGR;     // order of the 3 channels in memory (OpenCV frames are BGR)
};

// Number of elements one preprocessed image occupies: 3 * imgsz * imgsz.
inline size_t preprocessed_elems(const PreprocessConfig& cfg) {
  return static_cast<size_t>(3) * cfg.imgsz * cfg.imgsz;
}

// CPU preprocessing with a small persistent thread pool (std::thread) owned by this object.
// run() may be called from several threads at once: a call that finds the pool busy runs single-threaded instead of
// waiting. Moving or destroying a Preprocessor while run() is in progress is undefined.
class YOLOCLS_API Preprocessor {
 public:
  // threads: worker count including the caller (1 = run inline, no threads started; 0 = hardware concurrency).
  explicit Preprocessor(int threads = 1);
  ~Preprocessor();
  Preprocessor(Preprocessor&&) noexcept;
  Preprocessor& operator=(Preprocessor&&) noexcept;
  Preprocessor(const Preprocessor&) = delete;
  Preprocessor& operator=(const Preprocessor&) = delete;

  int threads() const;

  // Preprocess `count` images into `dst`: count * 3 * imgsz * imgsz elements of `dtype` (float or IEEE half as
  // uint16), NCHW, contiguous. Throws InvalidArgument on a bad image or config.
  void run(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType dtype) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One-shot single-threaded convenience wrapper around the same kernel.
YOLOCLS_API void preprocess(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst, DType dtype);

// CUDA preprocessing (compiled when YOLOCLS_WITH_CUDA; otherwise throws Unavailable). `image.data` is device memory
// (or mapped pinned host memory); `dst` is device memory for 3*imgsz*imgsz elements of `dtype`. The kernel is
// enqueued on `stream` (a cudaStream_t, nullptr = legacy default stream) and NOT synchronised. Throws Error on a
// CUDA failure (no device, no driver, launch error).
YOLOCLS_API void preprocess_cuda(const ImageView& image, const PreprocessConfig& cfg, void* dst, DType dtype,
                                 void* stream);

// CUDA preprocessing of `count` host uint8 frames (what Runtime does for TensorRT): uploads the region each frame reads
// (pinned DMA, or zero-copy on integrated GPUs), runs the kernel into `dst` (device memory for
// count * 3*imgsz*imgsz elements of `dtype`) on `stream` and synchronises it. Throws InvalidArgument on a bad image,
// config or null `dst` (before touching the device), Unavailable without CUDA in the build or a GPU, Error on a CUDA
// failure.
YOLOCLS_API void preprocess_cuda_frames(const ImageView* images, size_t count, const PreprocessConfig& cfg, void* dst,
                                        DType dtype, void* stream);

// True when this build contains the CUDA kernel (says nothing about a GPU being present).
YOLOCLS_API bool built_with_cuda();
// Number of usable CUDA devices (0 without a driver or a GPU, or when built without CUDA). Never throws.
YOLOCLS_API int cuda_device_count();

}  // namespace yolocls
