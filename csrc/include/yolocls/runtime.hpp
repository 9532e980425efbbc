// yolocls::Runtime: a classifier from a model file (OpenVINO for .onnx/.xml, TensorRT for .engine/.plan), with the
// spec'd preprocessing, softmax and top-k. No engine types appear here (pImpl).
//
// Thread safety: every const method may be called from several threads at once on one Runtime. Inference runs on a
// pool of `num_requests` slots (requests/execution contexts); preprocessing uses the Runtime's own pool when free.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "yolocls/error.hpp"
#include "yolocls/export.hpp"
#include "yolocls/metadata.hpp"
#include "yolocls/postprocess.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {

// The inference engine: Auto picks it from the file name (.onnx/.xml -> OpenVINO, .engine/.plan/.trt -> TensorRT).
enum class BackendKind { Auto, OpenVINO, TensorRT };
// OpenVINO inference precision (RuntimeOptions::precision).
enum class Precision { F32, BF16, F16, Default };

// The names the CLI and Python use ("auto", "openvino", "tensorrt"; "f32", "bf16", "f16", "default"). parse_* throws
// InvalidArgument naming the value and the choices.
YOLOCLS_API BackendKind parse_backend(const std::string& name);
YOLOCLS_API Precision parse_precision(const std::string& name);
YOLOCLS_API const char* to_string(BackendKind backend);
YOLOCLS_API const char* to_string(Precision precision);

struct RuntimeOptions {
  BackendKind backend = BackendKind::Auto;
  std::string device = "CPU";    // OpenVINO device; TensorRT uses device_id
  int device_id = 0;
  int threads = 0;               // inference threads (0 = the engine's default)
  int preprocess_threads = 1;    // CPU preprocessing threads (including the caller)
  int num_requests = 0;          // concurrent inference slots (0 = backend default)
  // OpenVINO CPU streams: 0 = what the LATENCY hint picks (one stream: concurrent requests take turns); n > 0 runs
  // up to n requests truly in parallel, `threads` shared between them (streaming: one stream per worker).
  int streams = 0;
  int max_batch = 0;             // largest batch per inference call (0 = the model's limit)
  bool cuda_graph = false;       // TensorRT: replay one CUDA graph per batch size (captured on its second use)
  // TensorRT (device input): run the CUDA preprocessing kernel into the engine's input binding (the region each
  // frame reads is uploaded as uint8) when this build has the kernel; false, or a build without CUDA, preprocesses
  // on the CPU and uploads the float tensor. Host backends (OpenVINO) always preprocess on the CPU.
  bool cuda_preprocess = true;
  // OpenVINO inference precision: F32 (default; bit-comparable with ONNX Runtime), BF16 or F16 (faster on hardware
  // that has them, logits move ~1e-2: measure accuracy with `yolocls val --precision`), or Default (OpenVINO's own
  // choice, bf16 on CPUs with AVX512-BF16/AMX). TensorRT ignores it (an engine's precision is fixed when it is built).
  Precision precision = Precision::F32;
};

// Milliseconds spent per stage by one call. With CUDA preprocessing, preprocess_ms is the time to upload the frames and
// enqueue the kernel; the kernel itself runs in inference_ms (same stream, before the engine).
struct Timings {
  double preprocess_ms = 0.0;
  double inference_ms = 0.0;
  double postprocess_ms = 0.0;
};

class YOLOCLS_API Runtime {
 public:
  // Model + preprocessing settings given by the caller (Python reads them from the metadata itself).
  Runtime(const std::string& model_path, const PreprocessConfig& preprocess, const RuntimeOptions& options = {});
  // Model whose settings and class names come from its metadata (see read_metadata).
  explicit Runtime(const std::string& model_path, const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(Runtime&&) noexcept;
  Runtime& operator=(Runtime&&) noexcept;

  // Top-k per image (most probable first). Images: uint8 HxWx3, see ImageView. Probabilities are the softmax of the
  // logits, or the model's own output when its metadata says "output": "probs" (softmax exported inside the graph).
  std::vector<std::vector<Classification>> classify(const ImageView* images, size_t count, int k = 5,
                                                    Timings* timings = nullptr) const;
  std::vector<std::vector<Classification>> classify(const std::vector<ImageView>& images, int k = 5,
                                                    Timings* timings = nullptr) const {
    return classify(images.data(), images.size(), k, timings);
  }

  // Logits [count, num_classes] of images (preprocess + inference) into `logits`.
  void logits(const ImageView* images, size_t count, float* logits, Timings* timings = nullptr) const;

  // Logits [batch, num_classes] of a preprocessed host NCHW float32 batch [batch, 3, imgsz, imgsz].
  void infer(const float* input, int batch, float* logits, Timings* timings = nullptr) const;

  int num_classes() const;
  int imgsz() const;
  int max_batch() const;  // 0 = unbounded
  std::string backend_name() const;
  const PreprocessConfig& preprocess_config() const;
  const std::vector<std::string>& names() const;  // empty unless built from metadata

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What this build contains. OpenVINO and TensorRT backends are modules beside the library, loaded on first use
// (libyolocls_openvino.so, libyolocls_tensorrt.so): `openvino`/`tensorrt` say the module was built; the version is
// that of the engine library loaded here, empty with `*_error` saying why when the module cannot load (engine
// library missing, ...). build_info() tries to load each built module.
struct BuildInfo {
  std::string version;
  bool cuda = false, openvino = false, tensorrt = false;
  std::string cuda_version;      // CUDA runtime the library was built with, e.g. "13.0"
  std::string openvino_version;  // e.g. "2026.4.1-..." (empty: not loadable here)
  std::string tensorrt_version;
  std::string openvino_error;    // why the OpenVINO module does not load (empty when it does)
  std::string tensorrt_error;
  std::string compiler;
  std::string plugin_dir;        // folder the backend modules are loaded from (see plugin_dir())
};
YOLOCLS_API BuildInfo build_info();

// Load state of one backend module ("openvino" or "tensorrt"); tries to load it when it was built. Never throws
// except InvalidArgument for an unknown name.
struct BackendStatus {
  std::string name;
  bool built = false;     // this build made the module
  bool loadable = false;  // the module and its engine library load here
  std::string version;    // engine library version (when loadable)
  std::string error;      // why it does not load (when built but not loadable)
  std::string path;       // the module file
};
YOLOCLS_API BackendStatus backend_status(const std::string& name);

// Add a folder searched for a backend module's engine libraries when the dynamic loader's own search fails (e.g. the
// openvino pip wheel's libs/ folder). Thread-safe; folders are searched in the order added.
YOLOCLS_API void add_library_dir(const std::string& dir);

// Folder the backend modules are loaded from: $YOLOCLS_PLUGIN_DIR when set, else the folder of libyolocls_runtime.
YOLOCLS_API std::string plugin_dir();

}  // namespace yolocls
