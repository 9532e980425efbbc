// TensorRT backend internals that need no TensorRT or CUDA headers: the engine-sidecar check, the per-thread capture
// of TensorRT's error messages and the I/O tensor format check (graph decisions: tensorrt_graph_cache.hpp).
//
// An engine only loads in the TensorRT version that built it and is tuned for one GPU, so before deserializing
// anything the backend compares the sidecar `<engine>.json` (written by `yolocls build-engine`, see
// yolocls/runtime/sidecar.py) with the running library and device, and throws one clear yolocls::Error with a
// rebuild hint instead of TensorRT's long log. Header-only so it can be unit-tested on machines without TensorRT.
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <utility>

#include "runtime/json.hpp"
#include "yolocls/error.hpp"

namespace yolocls {
namespace trt_detail {

// "10.3.0.26" -> "10.3.0": engines are bound to major.minor.patch (the build number is ignored).
inline std::string version_prefix(const std::string& v, int parts = 3) {
  std::string out;
  int seen = 0;
  for (char c : v) {
    if (c == '.') {
      if (++seen == parts) break;
    } else if (!std::isdigit(static_cast<unsigned char>(c))) {
      break;
    }
    out += c;
  }
  while (seen + 1 < parts) {  // "11" -> "11.0.0"
    out += ".0";
    ++seen;
  }
  return out;
}

// Case-insensitive, whitespace-collapsed, without a leading "NVIDIA " (cudaDeviceProp names differ by driver).
inline std::string normalize_gpu_name(const std::string& name) {
  std::string out;
  bool space = false;
  for (char c : name) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string prefix = "nvidia ";
  if (out.compare(0, prefix.size(), prefix) == 0) out.erase(0, prefix.size());
  return out;
}

inline std::string sidecar_string(const json::Value& root, const char* key, const std::string& path) {
  const json::Value* v = root.find(key);
  if (!v || v->type != json::Value::Type::String || v->string.empty()) {
    throw Error(path + " lacks '" + key + "'; it was not written by yolocls build-engine, rebuild the engine");
  }
  return v->string;
}

// The DLA core a sidecar's {"dla": {"core": N, ...}} names, -1 when the engine is not a DLA engine ("dla" null or
// absent). An engine built for a DLA core only deserializes on a runtime set to that core.
inline int sidecar_dla_core(const json::Value& root, const std::string& sidecar_path) {
  const json::Value* dla = root.is_object() ? root.find("dla") : nullptr;
  if (dla == nullptr || dla->type == json::Value::Type::Null) return -1;
  const json::Value* core = dla->is_object() ? dla->find("core") : nullptr;
  if (core == nullptr || core->type != json::Value::Type::Number || core->number < 0 || core->number > 1023 ||
      core->number != static_cast<double>(static_cast<int>(core->number))) {
    throw Error(sidecar_path + ": 'dla' must be null or {\"core\": N, ...} with an integer N >= 0; rebuild the engine");
  }
  return static_cast<int>(core->number);
}

// Throws Error when the sidecar names another TensorRT version or GPU than the running ones.
inline void check_sidecar(const json::Value& root, const std::string& sidecar_path, const std::string& engine_path,
                          const std::string& trt_version, const std::string& gpu_name,
                          const std::string& compute_capability) {
  if (!root.is_object()) throw Error(sidecar_path + " is not a JSON object; rebuild the engine");
  const std::string hint = "rebuild it on this machine: yolocls build-engine --onnx <model.onnx> --output " + engine_path;
  const std::string built_v = sidecar_string(root, "tensorrt_version", sidecar_path);
  if (version_prefix(built_v) != version_prefix(trt_version)) {
    throw Error("engine " + engine_path + " was built with TensorRT " + built_v + " but TensorRT " + trt_version +
                " is running; engines only load in the TensorRT version that built them, " + hint);
  }
  const std::string built_gpu = sidecar_string(root, "gpu_name", sidecar_path);
  const std::string built_cc = sidecar_string(root, "compute_capability", sidecar_path);
  if (built_cc != compute_capability || normalize_gpu_name(built_gpu) != normalize_gpu_name(gpu_name)) {
    throw Error("engine " + engine_path + " was built for " + built_gpu + " (compute capability " + built_cc +
                ") but this GPU is " + gpu_name + " (" + compute_capability + "); engines are tuned per GPU, " + hint);
  }
}

// TensorRT's errors, per thread and per call. The logger is one object for the process (TensorRT needs it to outlive
// every engine) and is called on the thread that made the failing TensorRT call, so a capture installed for the
// duration of one backend call on one thread collects exactly that call's errors: another thread's error never
// lands in this call's message, and an old error never lands in a later one. Captures nest (the innermost collects).
class ErrorCapture {
 public:
  ErrorCapture() : outer_(current()) { current() = this; }
  ~ErrorCapture() { current() = outer_; }
  ErrorCapture(const ErrorCapture&) = delete;
  ErrorCapture& operator=(const ErrorCapture&) = delete;

  // The logger's hook: keep `msg` in this thread's innermost capture; false when none is active.
  static bool record(const char* msg) {
    ErrorCapture* c = current();
    if (c == nullptr) return false;
    c->last_ = msg;
    return true;
  }
  // The last error recorded in this thread's innermost capture (empty when none), and forget it.
  static std::string take() {
    ErrorCapture* c = current();
    return c == nullptr ? std::string() : std::exchange(c->last_, std::string());
  }

 private:
  static ErrorCapture*& current() {
    static thread_local ErrorCapture* c = nullptr;
    return c;
  }
  ErrorCapture* outer_;
  std::string last_;
};

// nvinfer1::TensorFormat's enumerators (the same values in TensorRT 8.5 through 11.x).
inline std::string tensor_format_name(int32_t format) {
  static const char* const names[] = {"kLINEAR", "kCHW2",   "kHWC8",       "kCHW4",     "kCHW16", "kCHW32", "kDHWC8",
                                      "kCDHW32", "kHWC",    "kDLA_LINEAR", "kDLA_HWC4", "kHWC16", "kDHWC"};
  if (format >= 0 && format < static_cast<int32_t>(sizeof names / sizeof names[0])) return names[format];
  return "TensorFormat " + std::to_string(format);
}

constexpr int32_t kLinearFormat = 0;  // nvinfer1::TensorFormat::kLINEAR

// The runtime reads and writes its I/O as dense row-major NCHW / [N, classes] arrays: an engine whose I/O tensors
// have another layout (vectorised kCHW4/kHWC8/..., DLA's padded rows; trtexec --inputIOFormats/--outputIOFormats or
// a builder's allowed formats) would be fed and read wrongly without any error. Refuse it, naming the tensor.
inline void check_linear_io(const std::string& engine_path, const std::string& tensor, const char* role,
                            int32_t format, const std::string& description) {
  if (format == kLinearFormat) return;
  throw Error("engine " + engine_path + ": " + role + " tensor '" + tensor + "' has format " +
              tensor_format_name(format) + (description.empty() ? "" : " (" + description + ")") +
              ", but yolocls only reads linear (row-major NCHW) I/O; rebuild it without custom I/O formats "
              "(yolocls build-engine, or trtexec without --inputIOFormats/--outputIOFormats)");
}

}  // namespace trt_detail
}  // namespace yolocls
