// TensorRT backend internals that need no TensorRT or CUDA headers: the engine-sidecar check.
//
// An engine only loads in the TensorRT version that built it and is tuned for one GPU, so before deserializing
// anything the backend compares the sidecar `<engine>.json` (written by `yolocls build-engine`, see
// yolocls/runtime/sidecar.py) with the running library and device, and throws one clear yolocls::Error with a
// rebuild hint instead of TensorRT's long log. Header-only so it can be unit-tested on machines without TensorRT.
#pragma once

#include <cctype>
#include <string>

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

}  // namespace trt_detail
}  // namespace yolocls
