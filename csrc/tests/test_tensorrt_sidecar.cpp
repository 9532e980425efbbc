// The TensorRT backend's engine-sidecar check (backends/tensorrt_backend.hpp: header-only, no TensorRT or CUDA
// needed) against the real JSON reader: version prefixes, GPU names, and one clear error per mismatch.
#include <string>

#include "backends/tensorrt_backend.hpp"
#include "check.hpp"

using namespace yolocls;

namespace {
const char* kOk = R"({"names": ["a"], "imgsz": [32, 32], "tensorrt_version": "10.3.0.26",
                      "gpu_name": "NVIDIA Orin", "compute_capability": "8.7"})";
void check_sidecar(const json::Value& v, const char* trt, const char* gpu, const char* cc) {
  trt_detail::check_sidecar(v, "m.engine.json", "m.engine", trt, gpu, cc);
}
}  // namespace

TEST(version_prefix_and_gpu_names) {
  CHECK(trt_detail::version_prefix("10.3.0.26") == "10.3.0");
  CHECK(trt_detail::version_prefix("11") == "11.0.0");
  CHECK(trt_detail::normalize_gpu_name("  NVIDIA  GeForce RTX 3090 ") == "geforce rtx 3090");
}

TEST(matching_sidecar_passes) {
  check_sidecar(json::parse(kOk), "10.3.0", "orin", "8.7");  // must not throw
}

TEST(mismatches_are_one_clear_error) {
  const json::Value ok = json::parse(kOk);
  CHECK_THROWS(check_sidecar(ok, "10.4.0", "Orin", "8.7"), Error, "built with TensorRT 10.3.0.26 but TensorRT 10.4.0");
  CHECK_THROWS(check_sidecar(ok, "10.3.0", "NVIDIA H100 80GB HBM3", "9.0"), Error,
               "built for NVIDIA Orin (compute capability 8.7)");
  CHECK_THROWS(check_sidecar(json::parse(R"({"names": ["a"]})"), "10.3.0", "Orin", "8.7"), Error,
               "lacks 'tensorrt_version'");
}
