// TensorRT backend: deserializes an engine built by `yolocls build-engine` and runs it with the name-based tensor API
// (setTensorAddress / setInputShape / enqueueV3, TensorRT >= 8.5).
//
// One engine is shared; each InferSlot owns an execution context, a CUDA stream, device input/output bindings, pinned
// host staging buffers and (optionally) one CUDA graph per full input shape (tensorrt_graph_cache.hpp says when one is
// captured and replayed), every one of them through an RAII owner so a throw midway through a constructor leaks nothing. Preprocessing writes into the slot's pinned
// input buffer and run() uploads it with one DMA copy; the CUDA preprocessing kernel instead writes straight into the
// device input binding (device_input_buffer(), enqueued on stream()); a caller that already has the batch in device
// memory hands it over with copy_input(..., Memory::Device), a device-to-device copy on the slot's stream.
//
// Version differences handled here (guards on NV_TENSORRT_MAJOR/MINOR):
//   * 8.5/8.6: Dims is Dims32 (int32 extents), getInferLibVersion() = major*1000 + minor*100 + patch;
//   * 10.x/11.x: Dims is Dims64 (int64 extents), version from getInferLib{Major,Minor,Patch}Version();
//   * nothing here uses APIs removed in 10.x (bindings, enqueueV2) or 11.x (weak-typing builder flags, calibrators).
// The logger never aborts; the errors TensorRT logs during a backend call are captured per thread
// (trt_detail::ErrorCapture) and become part of that call's yolocls::Error. Engines whose I/O tensors are not linear
// are refused (trt_detail::check_linear_io).
#include "backends/tensorrt_backend.hpp"
#include "backends/tensorrt_graph_cache.hpp"

#include <NvInferRuntime.h>
#include <NvInferVersion.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "backends/backend.hpp"
#include "backends/plugin.hpp"
#include "yolocls/config.hpp"

#if NV_TENSORRT_MAJOR < 8 || (NV_TENSORRT_MAJOR == 8 && NV_TENSORRT_MINOR < 5)
#error "yolocls needs TensorRT >= 8.5 (name-based tensors and enqueueV3)"
#endif

namespace yolocls {
// Version of the TensorRT library in use (e.g. "10.3.0").
std::string tensorrt_version();

namespace {

// ------------------------------------------------------------------------------------------------ logging, errors

using trt_detail::ErrorCapture;

class Logger final : public nvinfer1::ILogger {
 public:
  void log(Severity severity, const char* msg) noexcept override {
    if (severity > Severity::kWARNING) return;
    try {
      // Errors go to the calling thread's capture (the backend call that caused them), never to a shared string.
      if (severity <= Severity::kERROR) ErrorCapture::record(msg);
      std::lock_guard<std::mutex> lock(mutex_);  // one line at a time on stderr
      std::fprintf(stderr, "[TensorRT] %s: %s\n", severity <= Severity::kERROR ? "error" : "warning", msg);
    } catch (...) {  // never let an exception cross into TensorRT
    }
  }

 private:
  std::mutex mutex_;
};

// TensorRT requires the logger to outlive every runtime/engine created with it: one for the process.
Logger& logger() {
  static Logger* instance = new Logger();  // intentionally leaked: engines may be destroyed during static teardown
  return *instance;
}

// Throws with the TensorRT error logged on this thread during the current call (see ErrorCapture), if any.
[[noreturn]] void fail(const std::string& what) {
  const std::string detail = ErrorCapture::take();
  throw Error("TensorRT: " + what + (detail.empty() ? "" : " (" + detail + ")"));
}

void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(std::string("CUDA ") + what + " failed: " + cudaGetErrorString(status));
  }
}

template <typename T>
struct TrtDelete {
  void operator()(T* p) const noexcept { delete p; }  // `delete` works on TensorRT objects since 8.0
};
template <typename T>
using TrtPtr = std::unique_ptr<T, TrtDelete<T>>;

// Owner of one CUDA runtime handle (device or pinned allocation, stream, event, graph); released on destruction with
// the device that was current when the owning slot made it (the slot sets it in its destructor). Move-only.
template <typename Handle, cudaError_t (*Release)(Handle)>
class CudaOwner {
 public:
  CudaOwner() = default;
  CudaOwner(CudaOwner&& o) noexcept : h_(std::exchange(o.h_, Handle{})) {}
  CudaOwner& operator=(CudaOwner&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, Handle{});
    }
    return *this;
  }
  CudaOwner(const CudaOwner&) = delete;
  CudaOwner& operator=(const CudaOwner&) = delete;
  ~CudaOwner() { reset(); }

  Handle get() const { return h_; }
  explicit operator bool() const { return h_ != Handle{}; }
  // The address a cudaMalloc-style call writes the new handle to (releases the current one first).
  Handle* out() {
    reset();
    return &h_;
  }
  void reset() noexcept {
    if (h_ != Handle{}) Release(h_);  // errors here (a context already torn down) cannot be acted on
    h_ = Handle{};
  }

 private:
  Handle h_{};
};

using DeviceMemory = CudaOwner<void*, cudaFree>;
using PinnedMemory = CudaOwner<void*, cudaFreeHost>;
using Stream = CudaOwner<cudaStream_t, cudaStreamDestroy>;
using Graph = CudaOwner<cudaGraph_t, cudaGraphDestroy>;
using GraphExec = CudaOwner<cudaGraphExec_t, cudaGraphExecDestroy>;

size_t dtype_size(nvinfer1::DataType t) {
  switch (t) {
    case nvinfer1::DataType::kFLOAT:
      return 4;
    case nvinfer1::DataType::kHALF:
      return 2;
    default:
      throw Error("TensorRT: unsupported I/O tensor type (expected float32 or float16 input/output)");
  }
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      bits = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
    }
  } else if (exp == 0x1F) {
    bits = sign | 0x7F800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

nvinfer1::Dims make_dims(const trt_detail::TensorShape& shape) {
  nvinfer1::Dims d{};
  d.nbDims = static_cast<int32_t>(shape.size());
  using Extent = std::remove_reference_t<decltype(d.d[0])>;  // int32_t before TensorRT 10, int64_t since
  for (size_t i = 0; i < shape.size(); ++i) d.d[i] = static_cast<Extent>(shape[i]);
  return d;
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(std::string("cannot open ") + what + " " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct DeviceFacts {
  std::string name;
  std::string compute_capability;
};

DeviceFacts device_facts(int device) {
  cudaDeviceProp prop{};
  check_cuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  return {prop.name, std::to_string(prop.major) + "." + std::to_string(prop.minor)};
}

// -------------------------------------------------------------------------------------------------------- slot

// The runtime and engine, shared by the backend and its slots: contexts must be destroyed before their engine, and
// the base Backend destroys the slots after the derived class's members, so each slot keeps the engine alive.
struct EngineHolder {
  TrtPtr<nvinfer1::IRuntime> runtime;
  TrtPtr<nvinfer1::ICudaEngine> engine;
  ~EngineHolder() {
    engine.reset();  // engine before runtime
    runtime.reset();
  }
};

struct EngineIO {
  std::string input, output;
  int c = 3, h = 0, w = 0, num_classes = 0;
  int min_batch = 1, max_batch = 1;
  nvinfer1::DataType input_type = nvinfer1::DataType::kFLOAT;
  nvinfer1::DataType output_type = nvinfer1::DataType::kFLOAT;
};

class TensorRTSlot final : public InferSlot {
 public:
  // Every resource goes into an owner member as soon as it exists: a throw at any step destroys what was made so far
  // (members in reverse order: the context before the memory it points at, the engine holder last).
  TensorRTSlot(std::shared_ptr<EngineHolder> holder, const EngineIO& io, int device, bool cuda_graph)
      : holder_(std::move(holder)), io_(io), device_(device), graphs_(cuda_graph) {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(stream_.out(), cudaStreamNonBlocking), "cudaStreamCreate");
    in_bytes_ = static_cast<size_t>(io_.c) * io_.h * io_.w * dtype_size(io_.input_type);
    out_bytes_ = static_cast<size_t>(io_.num_classes) * dtype_size(io_.output_type);
    const size_t max_b = static_cast<size_t>(io_.max_batch);
    check_cuda(cudaMalloc(d_in_.out(), in_bytes_ * max_b), "cudaMalloc");
    check_cuda(cudaMalloc(d_out_.out(), out_bytes_ * max_b), "cudaMalloc");
    check_cuda(cudaMallocHost(h_in_.out(), in_bytes_ * max_b), "cudaMallocHost");
    check_cuda(cudaMallocHost(h_out_.out(), out_bytes_ * max_b), "cudaMallocHost");
    logits_.resize(static_cast<size_t>(io_.num_classes) * max_b);
    context_.reset(holder_->engine->createExecutionContext());
    if (!context_) fail("could not create an execution context (out of GPU memory?)");
    // The bindings never move, so their addresses are set once for the context's lifetime.
    if (!context_->setTensorAddress(io_.input.c_str(), d_in_.get()) ||
        !context_->setTensorAddress(io_.output.c_str(), d_out_.get())) {
      fail("setTensorAddress failed");
    }
  }

  ~TensorRTSlot() override {
    cudaSetDevice(device_);  // the owners below release on the slot's device
    graphs_.clear();         // graphs before the context they were captured from
    context_.reset();        // the context before the memory it points at
  }

  void* input_buffer(int batch) override {
    check_batch(batch);
    input_on_device_ = false;
    return h_in_.get();
  }

  void* device_input_buffer(int batch) override {
    check_batch(batch);
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    input_on_device_ = true;  // the caller fills d_in_ on stream_; run() skips the upload
    return d_in_.get();
  }

  void copy_input(const void* src, int batch, Memory src_memory) override {
    check_batch(batch);
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    const size_t bytes = in_bytes_ * static_cast<size_t>(batch);
    if (src_memory == Memory::Device) {
      check_cuda(cudaMemcpyAsync(d_in_.get(), src, bytes, cudaMemcpyDeviceToDevice, stream_.get()), "cudaMemcpyAsync");
      input_on_device_ = true;
    } else {
      std::memcpy(h_in_.get(), src, bytes);  // into pinned memory; run() uploads it with one DMA copy
      input_on_device_ = false;
    }
  }

  void run(int batch) override {
    const ErrorCapture errors;  // this call's TensorRT errors, on this thread only
    check_batch(batch);
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    // A batch below the profile's minimum (a static-batch engine's last chunk) runs padded: the buffers hold
    // max_batch images, the extra rows are stale data and their outputs are not returned.
    const int run_batch = std::max(batch, io_.min_batch);
    if (!input_on_device_) {
      check_cuda(cudaMemcpyAsync(d_in_.get(), h_in_.get(), in_bytes_ * batch, cudaMemcpyHostToDevice, stream_.get()),
                 "cudaMemcpyAsync");
    }
    input_on_device_ = false;  // the next batch comes through input_buffer()/copy_input() again
    enqueue({run_batch, io_.c, io_.h, io_.w});
    check_cuda(cudaMemcpyAsync(h_out_.get(), d_out_.get(), out_bytes_ * batch, cudaMemcpyDeviceToHost, stream_.get()),
               "cudaMemcpyAsync");
    check_cuda(cudaStreamSynchronize(stream_.get()), "cudaStreamSynchronize");
    const size_t n = static_cast<size_t>(batch) * io_.num_classes;
    if (io_.output_type == nvinfer1::DataType::kHALF) {
      const auto* h = static_cast<const uint16_t*>(h_out_.get());
      for (size_t i = 0; i < n; ++i) logits_[i] = half_to_float(h[i]);
    } else {
      std::memcpy(logits_.data(), h_out_.get(), n * sizeof(float));
    }
  }

  const float* output() const override { return logits_.data(); }
  void* stream() const override { return static_cast<void*>(stream_.get()); }

 private:
  void check_batch(int batch) const {
    if (batch < 1 || batch > io_.max_batch) {
      throw InvalidArgument("batch " + std::to_string(batch) + " is outside 1.." + std::to_string(io_.max_batch) +
                            " (the engine's maximum batch; rebuild with a larger --max-batch)");
    }
  }

  // enqueueV3 at `shape`, plainly or through a CUDA graph of it, as graphs_ plans (see tensorrt_graph_cache.hpp).
  void enqueue(const trt_detail::TensorShape& shape) {
    const trt_detail::EnqueuePlan plan = graphs_.plan(shape);
    if (plan.set_shape) {
      graphs_.shape_unknown();  // stays unknown if setInputShape fails
      if (!context_->setInputShape(io_.input.c_str(), make_dims(shape))) {
        fail("setInputShape(" + std::to_string(shape[0]) + ") rejected: outside the engine's batch profile [" +
             std::to_string(io_.min_batch) + ", " + std::to_string(io_.max_batch) + "]");
      }
      graphs_.shape_set(shape);
    }
    switch (plan.kind) {
      case trt_detail::EnqueueKind::Replay:
        check_cuda(cudaGraphLaunch(graphs_.find(shape)->get(), stream_.get()), "cudaGraphLaunch");
        break;
      case trt_detail::EnqueueKind::Capture: {
        GraphExec graph = capture();  // empty when capture is not possible: plain enqueue at this shape from now on
        const bool captured = static_cast<bool>(graph);
        graphs_.store(shape, std::move(graph));
        if (captured) {
          check_cuda(cudaGraphLaunch(graphs_.find(shape)->get(), stream_.get()), "cudaGraphLaunch");
          break;
        }
        if (!context_->enqueueV3(stream_.get())) fail("enqueueV3 failed");
        break;
      }
      case trt_detail::EnqueueKind::Plain:
        if (!context_->enqueueV3(stream_.get())) fail("enqueueV3 failed");
        break;
    }
    graphs_.enqueued();
  }

  GraphExec capture() {
    const ErrorCapture discarded;  // errors of a failed capture are not this call's errors: plain enqueue follows
    Graph graph;
    GraphExec exec;
    if (cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
      cudaGetLastError();
      return exec;
    }
    const bool ok = context_->enqueueV3(stream_.get());
    const cudaError_t end = cudaStreamEndCapture(stream_.get(), graph.out());
    if (ok && end == cudaSuccess && graph) {
#if CUDART_VERSION >= 12000
      const cudaError_t inst = cudaGraphInstantiate(exec.out(), graph.get(), 0);
#else
      const cudaError_t inst = cudaGraphInstantiate(exec.out(), graph.get(), nullptr, nullptr, 0);
#endif
      if (inst != cudaSuccess) exec.reset();
    }
    cudaGetLastError();  // a failed capture leaves a non-sticky error: clear it, plain enqueue still works
    return exec;
  }

  std::shared_ptr<EngineHolder> holder_;  // first member: destroyed last
  EngineIO io_;
  int device_;
  Stream stream_;
  DeviceMemory d_in_, d_out_;
  PinnedMemory h_in_, h_out_;
  size_t in_bytes_ = 0, out_bytes_ = 0;
  std::vector<float> logits_;
  bool input_on_device_ = false;
  TrtPtr<nvinfer1::IExecutionContext> context_;  // after the memory it points at: destroyed before it
  trt_detail::GraphCache<GraphExec> graphs_;     // after the context: destroyed before it
};

// ----------------------------------------------------------------------------------------------------- backend

int device_from_options(const BackendOptions& o) {
  // "cuda:1" / "1" / "GPU" (default device_id); device_id wins when set.
  if (o.device_id > 0) return o.device_id;
  const std::string& d = o.device;
  const size_t colon = d.find(':');
  const std::string idx = colon == std::string::npos ? d : d.substr(colon + 1);
  if (!idx.empty() && std::all_of(idx.begin(), idx.end(), [](unsigned char c) { return std::isdigit(c); })) {
    // Checked by hand (std::stoi would throw std::out_of_range past INT_MAX, outside yolocls's errors).
    if (idx.size() > 4) throw InvalidArgument("device '" + d.substr(0, 40) + "' names no CUDA device ordinal");
    int n = 0;
    for (const char c : idx) n = n * 10 + (c - '0');
    return n;
  }
  return o.device_id;
}

class TensorRTBackendImpl final : public Backend {
 public:
  TensorRTBackendImpl(const std::string& engine_path, const BackendOptions& options) {
    const ErrorCapture errors;  // TensorRT errors of this construction, on this thread only
    device_ = device_from_options(options);
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    const DeviceFacts facts = device_facts(device_);

    // Sidecar first: a clear "rebuild" message instead of a deserialization failure.
    const std::string sidecar_path = engine_path + ".json";
    std::ifstream probe(sidecar_path);
    if (!probe) {
      throw Error("engine metadata " + sidecar_path + " not found (class names and preprocessing live there); "
                  "build engines with yolocls build-engine, which writes it");
    }
    const json::Value sidecar = json::parse(read_file(sidecar_path, "engine metadata"));
    trt_detail::check_sidecar(sidecar, sidecar_path, engine_path, tensorrt_version(), facts.name,
                              facts.compute_capability);

    const std::string blob = read_file(engine_path, "engine");
    holder_ = std::make_shared<EngineHolder>();
    holder_->runtime.reset(nvinfer1::createInferRuntime(logger()));
    if (!holder_->runtime) fail("createInferRuntime failed");
    const int dla_core = trt_detail::sidecar_dla_core(sidecar, sidecar_path);
    if (dla_core >= 0) {  // a DLA engine deserializes only on a runtime set to the core it was built for
      if (dla_core >= holder_->runtime->getNbDLACores()) {
        throw Error("engine " + engine_path + " was built for DLA core " + std::to_string(dla_core) +
                    " but this device has " + std::to_string(holder_->runtime->getNbDLACores()) +
                    " DLA core(s); rebuild it with a --dla-core below that or without --dla-core");
      }
      holder_->runtime->setDLACore(dla_core);
    }
    holder_->engine.reset(holder_->runtime->deserializeCudaEngine(blob.data(), blob.size()));
    if (!holder_->engine) fail("could not deserialize " + engine_path);

    EngineIO io = inspect(engine_path);
    if (options.max_batch > 0) io.max_batch = std::max(io.min_batch, std::min(io.max_batch, options.max_batch));
    info_.input_name = io.input;
    info_.output_name = io.output;
    info_.channels = io.c;
    info_.height = io.h;
    info_.width = io.w;
    info_.min_batch = io.min_batch;
    info_.max_batch = io.max_batch;
    info_.num_classes = io.num_classes;
    info_.input_dtype = io.input_type == nvinfer1::DataType::kHALF ? DType::Float16 : DType::Float32;
    info_.input_memory = Memory::Host;  // pinned staging buffer; device input goes through copy_input

    // Two contexts by default: one can upload/download while the other computes.
    const int slots = options.num_slots > 0 ? options.num_slots : 2;
    for (int i = 0; i < slots; ++i) {
      add_slot(std::make_unique<TensorRTSlot>(holder_, io, device_, options.cuda_graph));
    }
  }

  ~TensorRTBackendImpl() override = default;

  std::string name() const override { return "tensorrt"; }

 private:
  EngineIO inspect(const std::string& path) const {
    const nvinfer1::ICudaEngine* engine = holder_->engine.get();
    EngineIO io;
    int inputs = 0, outputs = 0;
    for (int32_t i = 0; i < engine->getNbIOTensors(); ++i) {
      const char* name = engine->getIOTensorName(i);
      if (engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT) {
        io.input = name;
        ++inputs;
      } else {
        io.output = name;
        ++outputs;
      }
    }
    if (inputs != 1 || outputs != 1) {
      throw Error(path + ": expected a classifier engine with 1 input and 1 output, got " + std::to_string(inputs) +
                  " inputs and " + std::to_string(outputs) + " outputs");
    }
    const auto check_format = [&](const std::string& tensor, const char* role) {
      const char* desc = engine->getTensorFormatDesc(tensor.c_str());
      trt_detail::check_linear_io(path, tensor, role, static_cast<int32_t>(engine->getTensorFormat(tensor.c_str())),
                                  desc != nullptr ? desc : "");
    };
    check_format(io.input, "input");
    check_format(io.output, "output");
    io.input_type = engine->getTensorDataType(io.input.c_str());
    io.output_type = engine->getTensorDataType(io.output.c_str());
    dtype_size(io.input_type);
    dtype_size(io.output_type);
    const nvinfer1::Dims in = engine->getTensorShape(io.input.c_str());
    if (in.nbDims != 4) throw Error(path + ": engine input is not NCHW (rank " + std::to_string(in.nbDims) + ")");
    nvinfer1::Dims hi = in;
    if (in.d[0] < 0) {  // dynamic batch: optimization profile 0 gives the range
      const nvinfer1::Dims lo = engine->getProfileShape(io.input.c_str(), 0, nvinfer1::OptProfileSelector::kMIN);
      hi = engine->getProfileShape(io.input.c_str(), 0, nvinfer1::OptProfileSelector::kMAX);
      io.min_batch = static_cast<int>(lo.d[0]);
      io.max_batch = static_cast<int>(hi.d[0]);
    } else {
      io.min_batch = io.max_batch = static_cast<int>(in.d[0]);
    }
    if (hi.d[1] < 1 || hi.d[2] < 1 || hi.d[3] < 1) throw Error(path + ": engine input has dynamic C/H/W");
    io.c = static_cast<int>(hi.d[1]);
    io.h = static_cast<int>(hi.d[2]);
    io.w = static_cast<int>(hi.d[3]);
    const nvinfer1::Dims out = engine->getTensorShape(io.output.c_str());
    int64_t classes = 1;
    for (int32_t k = 1; k < out.nbDims; ++k) classes *= out.d[k];
    if (out.nbDims < 2 || classes < 1) throw Error(path + ": engine output is not [N, num_classes]");
    io.num_classes = static_cast<int>(classes);
    return io;
  }

  int device_ = 0;
  std::shared_ptr<EngineHolder> holder_;
};

}  // namespace

std::string tensorrt_version() {
#if NV_TENSORRT_MAJOR >= 10
  return std::to_string(getInferLibMajorVersion()) + "." + std::to_string(getInferLibMinorVersion()) + "." +
         std::to_string(getInferLibPatchVersion());
#else
  const int32_t v = getInferLibVersion();  // 8.x: major * 1000 + minor * 100 + patch
  return std::to_string(v / 1000) + "." + std::to_string((v / 100) % 10) + "." + std::to_string(v % 100);
#endif
}

}  // namespace yolocls

// The module's entry point (see backends/plugin.hpp).
extern "C" YOLOCLS_PLUGIN_EXPORT const yolocls::BackendPlugin* yolocls_backend_plugin_v1() {
  static const yolocls::BackendPlugin plugin{
      yolocls::kPluginAbi, YOLOCLS_VERSION, "tensorrt", [] { return yolocls::tensorrt_version(); },
      [](const std::string& path, const yolocls::BackendOptions& options) -> std::unique_ptr<yolocls::Backend> {
        return std::make_unique<yolocls::TensorRTBackendImpl>(path, options);
      }};
  return &plugin;
}
