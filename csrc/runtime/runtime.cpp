#include "yolocls/runtime.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>
#include <vector>

#include "backends/backend.hpp"
#include "backends/plugin.hpp"
#include "preprocess/cuda_staging.hpp"
#include "preprocess/plan.hpp"
#include "yolocls/config.hpp"

namespace yolocls {

namespace detail {
std::string cuda_runtime_version();  // preprocess_cuda.cu or preprocess_cuda_unavailable.cpp
}

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

bool ends_with(const std::string& s, const std::string& suffix) {
  if (s.size() < suffix.size()) return false;
  std::string tail = s.substr(s.size() - suffix.size());
  std::transform(tail.begin(), tail.end(), tail.begin(), [](unsigned char c) { return std::tolower(c); });
  return tail == suffix;
}

std::string quoted(const std::string& s) { return "'" + (s.size() > 40 ? s.substr(0, 40) + "..." : s) + "'"; }

std::unique_ptr<Backend> make_backend(const std::string& path, const RuntimeOptions& o, int imgsz) {
  BackendKind kind = o.backend;
  if (kind == BackendKind::Auto) {
    if (ends_with(path, ".onnx") || ends_with(path, ".xml")) {
      kind = BackendKind::OpenVINO;
    } else if (ends_with(path, ".engine") || ends_with(path, ".plan") || ends_with(path, ".trt")) {
      kind = BackendKind::TensorRT;
    } else {
      throw InvalidArgument("cannot tell the backend from the file name " + path +
                            " (expected .onnx, .xml, .engine or .plan)");
    }
  }
  BackendOptions bo;
  bo.device = o.device;
  bo.device_id = o.device_id;
  bo.threads = o.threads;
  bo.num_slots = o.num_requests;
  if (o.streams < 0) throw InvalidArgument("streams must be >= 0 (0 = the engine's default)");
  bo.streams = o.streams;
  bo.max_batch = o.max_batch;
  bo.cuda_graph = o.cuda_graph;
  bo.imgsz = imgsz;
  bo.precision = o.precision;
  return plugins::get(to_string(kind)).create(path, bo);
}

}  // namespace

struct Runtime::Impl {
  std::unique_ptr<Backend> backend;
  PreprocessConfig pp;
  std::vector<std::string> names;
  Preprocessor preprocessor;
  int chunk = 0;  // images per inference call
  bool output_probs = false;  // the graph ends in softmax (metadata "output": "probs"): classify() skips its own
  bool cuda_preprocess = false;
  // Device staging buffers for CUDA preprocessing, one per call in flight (a call holds one until its run() has
  // synchronised the slot's stream).
  mutable std::mutex staging_mutex;
  mutable std::vector<std::unique_ptr<detail::CudaFrameStaging>> staging_free;

  Impl(const std::string& path, const PreprocessConfig& cfg, const RuntimeOptions& o)
      : pp(cfg), preprocessor(std::max(1, o.preprocess_threads)), cuda_preprocess(o.cuda_preprocess && built_with_cuda()) {
    pp.validate();
    backend = make_backend(path, o, pp.imgsz);
    const ModelInfo& info = backend->info();
    if (info.channels != 3) {
      throw Error(path + ": model input has " + std::to_string(info.channels) + " channels, expected 3");
    }
    if ((info.height > 0 && info.height != pp.imgsz) || (info.width > 0 && info.width != pp.imgsz)) {
      throw Error(path + ": model input is " + std::to_string(info.height) + "x" + std::to_string(info.width) +
                  " but the preprocessing imgsz is " + std::to_string(pp.imgsz));
    }
    chunk = info.max_batch > 0 ? info.max_batch : 64;
    if (o.max_batch > 0) chunk = std::min(chunk, o.max_batch);
  }

  // A staging buffer for the duration of one call, back to the pool afterwards. After an error the stream may still
  // be using it, so it is destroyed instead (cudaFree waits for the device).
  struct StagingHolder {
    const Impl* impl;
    std::unique_ptr<detail::CudaFrameStaging> staging;
    ~StagingHolder() {
      if (!staging || std::uncaught_exceptions() > 0) return;
      std::lock_guard<std::mutex> lock(impl->staging_mutex);
      impl->staging_free.push_back(std::move(staging));
    }
  };
  std::unique_ptr<detail::CudaFrameStaging> take_staging() const {
    {
      std::lock_guard<std::mutex> lock(staging_mutex);
      if (!staging_free.empty()) {
        std::unique_ptr<detail::CudaFrameStaging> s = std::move(staging_free.back());
        staging_free.pop_back();
        return s;
      }
    }
    return std::make_unique<detail::CudaFrameStaging>();
  }

  // Preprocess + infer `count` images (<= chunk) on one slot; logits to `out`.
  void run_chunk(const ImageView* images, int count, float* out, Timings* t) const {
    const ModelInfo& info = backend->info();
    // Declared before the lease: destroyed after it, i.e. after the slot's run() has finished with the frames.
    StagingHolder staging{this, nullptr};
    Backend::Lease lease = backend->acquire();
    auto t0 = Clock::now();
    void* device_input = cuda_preprocess ? lease->device_input_buffer(count) : nullptr;
    if (device_input != nullptr) {
      // Device backend + CUDA build: upload the uint8 frames and preprocess into the engine's input binding on the
      // slot's stream; run() (same stream) follows without a host->device copy of the float tensor.
      staging.staging = take_staging();
      staging.staging->run(images, static_cast<size_t>(count), pp, device_input, info.input_dtype, lease->stream());
    } else if (info.input_memory == Memory::Host) {
      // Preprocess straight into the request's input tensor: no intermediate copy.
      preprocessor.run(images, count, pp, lease->input_buffer(count), info.input_dtype);
    } else {
      // Device-input backend: preprocess on the host, then one upload.
      std::vector<uint8_t> host(static_cast<size_t>(count) * preprocessed_elems(pp) *
                                (info.input_dtype == DType::Float16 ? 2 : 4));
      preprocessor.run(images, count, pp, host.data(), info.input_dtype);
      lease->copy_input(host.data(), count, Memory::Host);
    }
    auto t1 = Clock::now();
    lease->run(count);
    std::memcpy(out, lease->output(), sizeof(float) * count * info.num_classes);
    if (t) {
      t->preprocess_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
      t->inference_ms += ms_since(t1);
    }
  }
};

Runtime::Runtime(const std::string& model_path, const PreprocessConfig& preprocess, const RuntimeOptions& options)
    : impl_(std::make_unique<Impl>(model_path, preprocess, options)) {}

Runtime::Runtime(const std::string& model_path, const RuntimeOptions& options) {
  ModelMetadata md = read_metadata(model_path);
  impl_ = std::make_unique<Impl>(model_path, md.preprocess, options);
  impl_->names = std::move(md.names);
  impl_->output_probs = md.output_probs;
  if (!impl_->names.empty() && static_cast<int>(impl_->names.size()) != num_classes()) {
    throw Error(model_path + ": metadata names " + std::to_string(impl_->names.size()) + " classes, the model outputs " +
                std::to_string(num_classes()));
  }
}

Runtime::~Runtime() = default;
Runtime::Runtime(Runtime&&) noexcept = default;
Runtime& Runtime::operator=(Runtime&&) noexcept = default;

void Runtime::logits(const ImageView* images, size_t count, float* out, Timings* timings) const {
  if (count == 0) throw InvalidArgument("no images given");
  for (size_t i = 0; i < count; ++i) detail::check_image(images[i], i);
  const int nc = num_classes();
  Timings local;
  for (size_t i = 0; i < count; i += impl_->chunk) {
    const int n = static_cast<int>(std::min<size_t>(impl_->chunk, count - i));
    impl_->run_chunk(images + i, n, out + i * nc, &local);
  }
  if (timings) *timings = local;
}

std::vector<std::vector<Classification>> Runtime::classify(const ImageView* images, size_t count, int k,
                                                           Timings* timings) const {
  const int nc = num_classes();
  std::vector<float> buf(count * nc);
  Timings local;
  logits(images, count, buf.data(), &local);
  auto t0 = Clock::now();
  if (!impl_->output_probs) softmax(buf.data(), static_cast<int>(count), nc, buf.data());
  std::vector<std::vector<Classification>> out(count);
  for (size_t i = 0; i < count; ++i) out[i] = topk(buf.data() + i * nc, nc, k);
  local.postprocess_ms = ms_since(t0);
  if (timings) *timings = local;
  return out;
}

void Runtime::infer(const float* input, int batch, float* out, Timings* timings) const {
  if (input == nullptr || out == nullptr) throw InvalidArgument("null input or output buffer");
  if (batch < 1) throw InvalidArgument("batch must be >= 1");
  const ModelInfo& info = impl_->backend->info();
  const size_t per = preprocessed_elems(impl_->pp);
  const int nc = num_classes();
  auto t0 = Clock::now();
  for (int i = 0; i < batch; i += impl_->chunk) {
    const int n = std::min(impl_->chunk, batch - i);
    const float* src = input + static_cast<size_t>(i) * per;
    Backend::Lease lease = impl_->backend->acquire();
    if (info.input_dtype == DType::Float16) {  // an FP16-input engine: convert once on the host
      std::vector<uint16_t> half(static_cast<size_t>(n) * per);
      for (size_t j = 0; j < half.size(); ++j) half[j] = detail::float_to_half(src[j]);
      lease->copy_input(half.data(), n, Memory::Host);
    } else {
      lease->copy_input(src, n, Memory::Host);
    }
    lease->run(n);
    std::memcpy(out + static_cast<size_t>(i) * nc, lease->output(), sizeof(float) * n * nc);
  }
  if (timings) {
    *timings = Timings{};
    timings->inference_ms = ms_since(t0);
  }
}

int Runtime::num_classes() const { return impl_->backend->info().num_classes; }
int Runtime::imgsz() const { return impl_->pp.imgsz; }
int Runtime::max_batch() const { return impl_->backend->info().max_batch; }
std::string Runtime::backend_name() const { return impl_->backend->name(); }
const PreprocessConfig& Runtime::preprocess_config() const { return impl_->pp; }
const std::vector<std::string>& Runtime::names() const { return impl_->names; }

BackendKind parse_backend(const std::string& name) {
  if (name == "auto") return BackendKind::Auto;
  if (name == "openvino") return BackendKind::OpenVINO;
  if (name == "tensorrt") return BackendKind::TensorRT;
  throw InvalidArgument("unknown backend " + quoted(name) + " (expected auto, openvino or tensorrt)");
}

Precision parse_precision(const std::string& name) {
  if (name == "f32") return Precision::F32;
  if (name == "bf16") return Precision::BF16;
  if (name == "f16") return Precision::F16;
  if (name == "default") return Precision::Default;
  throw InvalidArgument("unknown precision " + quoted(name) + " (expected f32, bf16, f16 or default)");
}

const char* to_string(BackendKind backend) {
  switch (backend) {
    case BackendKind::Auto: return "auto";
    case BackendKind::OpenVINO: return "openvino";
    case BackendKind::TensorRT: return "tensorrt";
  }
  return "?";
}

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::F32: return "f32";
    case Precision::BF16: return "bf16";
    case Precision::F16: return "f16";
    case Precision::Default: return "default";
  }
  return "?";
}

BuildInfo build_info() {
  BuildInfo b;
  b.version = YOLOCLS_VERSION;
  b.cuda = YOLOCLS_WITH_CUDA;
  b.openvino = YOLOCLS_WITH_OPENVINO;
  b.tensorrt = YOLOCLS_WITH_TENSORRT;
  b.plugin_dir = plugin_dir();
  b.cuda_version = detail::cuda_runtime_version();
  // Backends are modules loaded at run time: report whether each loads here, its engine version, or why not.
  const BackendStatus ov = backend_status("openvino");
  b.openvino_version = ov.version;
  b.openvino_error = ov.error;
  const BackendStatus trt = backend_status("tensorrt");
  b.tensorrt_version = trt.version;
  b.tensorrt_error = trt.error;
#if defined(__clang__)
  b.compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  b.compiler = "gcc " __VERSION__;
#endif
  return b;
}

}  // namespace yolocls
