// OpenVINO backend: ov::Core reads the .onnx (or IR .xml) directly and compiles it for the CPU (or another device)
// with the LATENCY hint (on 2 cores THROUGHPUT was 2-3x slower for one synchronous request). Each InferSlot owns an
// ov::InferRequest and a host input buffer that is wrapped as the request's input tensor, so preprocessing writes
// straight into it. ov::CompiledModel is thread-safe; each request is used by one lease holder at a time.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <openvino/openvino.hpp>

#if defined(__unix__)
#include <signal.h>
#endif

#include "backends/backend.hpp"
#include "backends/plugin.hpp"
#include "yolocls/config.hpp"

namespace yolocls {
namespace {

// OpenVINO's CPU plugin installs its own sigaltstack on the thread that compiles a model and puts back, on the
// thread that destroys it, what it found at compile time; its stack memory is unmapped with the model. A thread can
// thus be left with a dangling alternate stack (model compiled on one thread and freed on another, or two models
// freed out of order), and the next signal handled on it with SA_ONSTACK (Python's handlers, e.g. torch's
// DataLoader SIGCHLD handler when a worker exits) killed the process with SIGSEGV. Every call into OpenVINO that
// can do this runs under this guard, which puts the caller's own alternate stack back afterwards.
class KeepSignalStack {
 public:
#if defined(__unix__)
  KeepSignalStack() { saved_ok_ = sigaltstack(nullptr, &saved_) == 0; }
  ~KeepSignalStack() {
    stack_t now{};
    if (!saved_ok_ || sigaltstack(nullptr, &now) != 0) return;
    const bool same = (now.ss_flags & SS_DISABLE) ? (saved_.ss_flags & SS_DISABLE) != 0
                                                  : now.ss_sp == saved_.ss_sp && now.ss_size == saved_.ss_size;
    if (!same) sigaltstack(&saved_, nullptr);
  }

 private:
  stack_t saved_{};
  bool saved_ok_ = false;
#else
  KeepSignalStack() = default;
#endif
  KeepSignalStack(const KeepSignalStack&) = delete;
  KeepSignalStack& operator=(const KeepSignalStack&) = delete;
};

class OpenVINOSlot final : public InferSlot {
 public:
  OpenVINOSlot(ov::InferRequest request, size_t image_elems, const ov::Shape& chw, int num_classes)
      : request_(std::move(request)), image_elems_f_(image_elems), chw_(chw), num_classes_(num_classes) {}

  void* input_buffer(int batch) override {
    const size_t need = static_cast<size_t>(batch) * image_elems_f_;
    if (buffer_.size() < need) {
      buffer_.resize(need);
      bound_batch_ = -1;  // storage moved: re-wrap
    }
    if (batch != bound_batch_) {
      // A tensor over our own memory: no copy between the preprocessor and OpenVINO.
      ov::Shape shape{static_cast<size_t>(batch), chw_[0], chw_[1], chw_[2]};
      request_.set_input_tensor(ov::Tensor(ov::element::f32, shape, buffer_.data()));
      bound_batch_ = batch;
    }
    return buffer_.data();
  }

  void run(int batch) override {
    if (batch != bound_batch_) throw Error("OpenVINO: run() batch differs from the prepared input batch");
    try {
      request_.infer();
      const ov::Tensor out = request_.get_output_tensor();
      const ov::Shape shape = out.get_shape();  // a copy (see DESIGN.md): keep it before using it
      if (shape.empty() || shape[0] != static_cast<size_t>(batch) || out.get_size() != shape[0] * num_classes_) {
        throw Error("OpenVINO: unexpected output shape " + out.get_shape().to_string());
      }
      output_ = out.data<const float>();
    } catch (const ov::Exception& e) {
      throw Error(std::string("OpenVINO inference failed: ") + e.what());
    }
  }

  const float* output() const override { return output_; }

 private:
  ov::InferRequest request_;
  size_t image_elems_f_;
  ov::Shape chw_;
  size_t num_classes_;
  std::vector<float> buffer_;
  int bound_batch_ = -1;
  const float* output_ = nullptr;
};

class OpenVINOBackend final : public Backend {
 public:
  OpenVINOBackend(const std::string& path, const BackendOptions& o) {
    KeepSignalStack keep;
    try {
      ov::Core core;
      std::shared_ptr<ov::Model> model = core.read_model(path);
      if (model->inputs().size() != 1 || model->outputs().size() != 1) {
        throw Error(path + ": expected one input and one output, got " + std::to_string(model->inputs().size()) +
                    " and " + std::to_string(model->outputs().size()));
      }
      ov::PartialShape in = model->input().get_partial_shape();
      if (in.rank().is_dynamic() || in.rank().get_length() != 4) {
        throw Error(path + ": expected an NCHW input, got " + in.to_string());
      }
      // Fix dynamic H/W to the caller's imgsz and make the batch dynamic so any batch can run without recompiling.
      ov::PartialShape want = in;
      want[0] = ov::Dimension::dynamic();
      for (int d = 2; d < 4; ++d) {
        if (want[d].is_dynamic()) {
          if (o.imgsz <= 0) throw Error(path + ": dynamic input size; pass the preprocessing imgsz");
          want[d] = o.imgsz;
        }
      }
      if (want != in) {
        try {
          model->reshape(want);
        } catch (const ov::Exception&) {
          want[0] = in[0];  // the graph pins its batch: keep it (static batch)
          model->reshape(want);
        }
      }
      // Host I/O in float32 whatever the model's own precision (an FP16 ONNX converts inside the graph).
      ov::preprocess::PrePostProcessor ppp(model);
      ppp.input().tensor().set_element_type(ov::element::f32);
      ppp.output().tensor().set_element_type(ov::element::f32);
      model = ppp.build();

      const ov::PartialShape fixed = model->input().get_partial_shape();
      info_.input_name = model->input().get_any_name();
      info_.output_name = model->output().get_any_name();
      info_.channels = static_cast<int>(fixed[1].get_length());
      info_.height = static_cast<int>(fixed[2].get_length());
      info_.width = static_cast<int>(fixed[3].get_length());
      if (fixed[0].is_static()) {
        info_.min_batch = info_.max_batch = static_cast<int>(fixed[0].get_length());
      } else {
        info_.min_batch = 1;
        info_.max_batch = o.max_batch > 0 ? o.max_batch : 0;
      }
      const ov::PartialShape outp = model->output().get_partial_shape();
      if (outp.rank().is_dynamic() || outp.rank().get_length() != 2 || outp[1].is_dynamic()) {
        throw Error(path + ": expected [N, classes] logits, got " + outp.to_string());
      }
      info_.num_classes = static_cast<int>(outp[1].get_length());
      info_.input_dtype = DType::Float32;
      info_.input_memory = Memory::Host;

      // f32 inference precision by default: on CPUs with AVX512-BF16/AMX OpenVINO would otherwise run in bf16,
      // which moved logits by ~2e-2 against ONNX Runtime here (and away from what validation measured). bf16/f16 are
      // opt-in for speed; "default" leaves the choice to OpenVINO. A device that cannot run the requested precision
      // makes compile_model throw (reported below with OpenVINO's text).
      ov::AnyMap config{ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY)};
      switch (o.precision) {
        case Precision::F32: config.emplace(ov::hint::inference_precision(ov::element::f32)); break;
        case Precision::BF16: config.emplace(ov::hint::inference_precision(ov::element::bf16)); break;
        case Precision::F16: config.emplace(ov::hint::inference_precision(ov::element::f16)); break;
        case Precision::Default: break;
      }
      if (o.threads > 0) config.emplace(ov::inference_num_threads(o.threads));
      // An explicit stream count overrides the LATENCY hint's single stream: n requests then run side by side
      // (the streaming API's workers), each on threads/n cores.
      if (o.streams > 0) config.emplace(ov::num_streams(o.streams));
      compiled_ = core.compile_model(model, o.device.empty() ? "CPU" : o.device, config);

      const int slots = o.num_slots > 0 ? o.num_slots : std::max(2, o.streams);
      const ov::Shape chw{static_cast<size_t>(info_.channels), static_cast<size_t>(info_.height),
                          static_cast<size_t>(info_.width)};
      const size_t elems = chw[0] * chw[1] * chw[2];
      for (int i = 0; i < slots; ++i) {
        add_slot(std::make_unique<OpenVINOSlot>(compiled_.create_infer_request(), elems, chw, info_.num_classes));
      }
    } catch (const ov::Exception& e) {
      throw Error("OpenVINO could not load " + path + ": " + e.what());
    }
  }

  ~OpenVINOBackend() override {
    KeepSignalStack keep;
    release_slots();  // the infer requests hold the compiled model: free both inside the guard
    compiled_ = ov::CompiledModel();
  }

  std::string name() const override { return "openvino"; }

 private:
  ov::CompiledModel compiled_;
};

}  // namespace

}  // namespace yolocls

// The module's entry point (see backends/plugin.hpp).
extern "C" YOLOCLS_PLUGIN_EXPORT const yolocls::BackendPlugin* yolocls_backend_plugin_v1() {
  static const yolocls::BackendPlugin plugin{
      yolocls::kPluginAbi, YOLOCLS_VERSION, "openvino",
      [] { return std::string(ov::get_openvino_version().buildNumber); },
      [](const std::string& path, const yolocls::BackendOptions& options) -> std::unique_ptr<yolocls::Backend> {
        return std::make_unique<yolocls::OpenVINOBackend>(path, options);
      }};
  return &plugin;
}
