// The runtime's errors before any engine runs: missing model files, unknown backends and precisions, a backend
// module that is not where YOLOCLS_PLUGIN_DIR points. Each is one yolocls::Error naming the problem.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "check.hpp"
#include "yolocls/runtime.hpp"

using namespace yolocls;

namespace {
// An empty folder for YOLOCLS_PLUGIN_DIR, set before anything loads a module (modules load once per process).
const std::string& empty_plugin_dir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/yolocls_plugins_XXXXXX";
    std::string d = mkdtemp(tmpl) ? tmpl : "/nonexistent";
    setenv("YOLOCLS_PLUGIN_DIR", d.c_str(), 1);
    return d;
  }();
  return dir;
}
const std::string kDirReady = empty_plugin_dir();
}  // namespace

TEST(missing_model_file) {
  CHECK_THROWS(Runtime("/nonexistent/model.onnx"), Error, "/nonexistent/model.onnx");
  CHECK_THROWS(Runtime("/nonexistent/model.engine"), Error, "no metadata for /nonexistent/model.engine");
}

TEST(bad_backend_and_precision_names) {
  PreprocessConfig cfg;
  RuntimeOptions o;
  CHECK_THROWS(parse_backend("onnxruntime"), InvalidArgument, "unknown backend 'onnxruntime'");
  CHECK(parse_backend("tensorrt") == BackendKind::TensorRT && std::string(to_string(BackendKind::OpenVINO)) == "openvino");
  CHECK_THROWS(Runtime("model.bin", cfg, o), InvalidArgument, "cannot tell the backend from the file name model.bin");
  CHECK_THROWS(parse_precision("int4"), InvalidArgument, "unknown precision 'int4'");
  CHECK(parse_precision("bf16") == Precision::BF16 && std::string(to_string(Precision::Default)) == "default");
  cfg.imgsz = 0;
  CHECK_THROWS(Runtime("m.onnx", cfg, o), InvalidArgument, "imgsz");
}

TEST(missing_module_via_plugin_dir) {
  CHECK(plugin_dir() == kDirReady);
  PreprocessConfig cfg;
  for (const char* name : {"openvino", "tensorrt"}) {
    const BackendStatus s = backend_status(name);
    CHECK(!s.loadable);
    const std::string file = std::string(name) == "openvino" ? "m.onnx" : "m.engine";
    if (s.built) {  // the module exists in the build, but not in the folder YOLOCLS_PLUGIN_DIR names
      CHECK(s.path == kDirReady + "/libyolocls_" + name + ".so");
      CHECK_THROWS(Runtime(file, cfg), Unavailable, "is missing (reinstall yolocls, or set YOLOCLS_PLUGIN_DIR");
      CHECK_THROWS(Runtime(file, cfg), Unavailable, kDirReady.c_str());
    } else {
      CHECK_THROWS(Runtime(file, cfg), Unavailable, "this yolocls build has no");
    }
  }
  CHECK_THROWS(backend_status("onnxruntime"), InvalidArgument, "unknown backend 'onnxruntime'");
}

TEST(build_info_reports_the_modules_errors) {
  const BuildInfo b = build_info();
  CHECK(!b.version.empty());
  if (b.openvino) CHECK(b.openvino_version.empty() && !b.openvino_error.empty());
  if (b.tensorrt) CHECK(b.tensorrt_version.empty() && !b.tensorrt_error.empty());
}
