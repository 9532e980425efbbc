// Backends as run-time plugins: libyolocls_runtime links no inference engine. Each engine's backend is a separate
// module (libyolocls_openvino.so, libyolocls_tensorrt.so) beside the runtime library, opened with dlopen() the first
// time that backend is asked for, the way ONNX Runtime loads its execution providers and OpenCV its video plugins.
// One build thus serves every machine: a module whose engine library is missing (no libopenvino, no libnvinfer) only
// makes that backend unavailable, with one error naming the library and how to get it.
//
// A module exports one C symbol, YOLOCLS_PLUGIN_ENTRY, returning a static BackendPlugin. Modules are built in the
// same CMake project as the runtime (same compiler, same headers), so the table may carry C++ types; `abi` and
// `runtime_version` refuse a module left over from another build.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.hpp"
#include "yolocls/runtime.hpp"

namespace yolocls {

// Bump when BackendPlugin, BackendOptions, ModelInfo, InferSlot or Backend change layout.
// 2: BackendOptions::precision is the Precision enum; Backend lost infer()/version()/num_slots().
// 3: BackendOptions::streams.
constexpr int kPluginAbi = 3;

struct BackendPlugin {
  int abi;                      // kPluginAbi of the module's build
  const char* runtime_version;  // YOLOCLS_VERSION of the module's build
  const char* name;             // "openvino" | "tensorrt"
  // Version of the engine library actually loaded, e.g. "2026.4.1-..." or "10.3.0".
  std::string (*engine_version)();
  // Throws yolocls::Error (InvalidArgument, Unavailable) on failure.
  std::unique_ptr<Backend> (*create)(const std::string& model_path, const BackendOptions& options);
};

#define YOLOCLS_PLUGIN_EXPORT __attribute__((visibility("default")))
// The module's entry point: extern "C" const yolocls::BackendPlugin* yolocls_backend_plugin_v1();
#define YOLOCLS_PLUGIN_ENTRY_NAME "yolocls_backend_plugin_v1"
using PluginEntryFn = const BackendPlugin* (*)();

namespace plugins {

// The loaded plugin `name`, loading it on first use (thread-safe; a module stays loaded for the process's life).
// Throws Unavailable with the reason and the fix when it cannot be loaded, InvalidArgument for an unknown name.
const BackendPlugin& get(const std::string& name);

}  // namespace plugins
// The public side (yolocls/runtime.hpp) is implemented in plugin.cpp: backend_status(), add_library_dir() (extra
// folders searched for a module's missing engine libraries, e.g. the openvino wheel's libs/ when the Python package
// is an editable install, where the module's RUNPATH $ORIGIN/../openvino/libs does not reach site-packages) and
// plugin_dir().
}  // namespace yolocls
