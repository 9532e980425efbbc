// yolocls_classify: classify images with the yolocls C++ runtime and print top-k plus per-stage latency.
//
//   yolocls_classify MODEL IMAGE... [--topk K] [--threads N] [--repeat R]
//
// MODEL is an .onnx (OpenVINO; metadata read from the file) or a TensorRT .engine with its .json sidecar.
// IMAGES are binary PPM (P6) or 24/32-bit BMP files (no image library needed). Latency is the median of R runs.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <yolocls/runtime.hpp>

#include "image_io.hpp"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

int usage() {
  std::fprintf(stderr, "usage: yolocls_classify MODEL IMAGE... [--topk K] [--threads N] [--repeat R]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string model;
  std::vector<std::string> images;
  int topk = 5, repeat = 1;
  yolocls::RuntimeOptions options;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> int {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return std::stoi(args[++i]);
    };
    try {
      if (a == "--topk") topk = value();
      else if (a == "--threads") options.threads = value();
      else if (a == "--repeat") repeat = std::max(1, value());
      else if (a == "-h" || a == "--help") return usage();
      else if (model.empty()) model = a;
      else images.push_back(a);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return usage();
    }
  }
  if (model.empty() || images.empty()) return usage();

  try {
    const yolocls::Runtime runtime(model, options);
    const auto& names = runtime.names();
    std::printf("model %s: backend %s, %d classes, imgsz %d\n", model.c_str(), runtime.backend_name().c_str(),
                runtime.num_classes(), runtime.imgsz());
    for (const auto& path : images) {
      Image img;
      try {
        img = read_image(path);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "skipping %s\n", e.what());
        continue;
      }
      const yolocls::ImageView view = img.view();
      std::vector<double> pre, inf, post;
      std::vector<std::vector<yolocls::Classification>> result;
      for (int r = 0; r < repeat; ++r) {
        yolocls::Timings t;
        result = runtime.classify(&view, 1, topk, &t);
        pre.push_back(t.preprocess_ms);
        inf.push_back(t.inference_ms);
        post.push_back(t.postprocess_ms);
      }
      std::printf("%s (%dx%d)\n", path.c_str(), img.width, img.height);
      for (const auto& c : result[0]) {
        const std::string name = c.class_id < static_cast<int>(names.size()) ? names[c.class_id] : "?";
        std::printf("  %4d %-24s %.6f\n", c.class_id, name.c_str(), c.prob);
      }
      std::printf("  latency ms (median of %d): preprocess %.3f  inference %.3f  postprocess %.3f\n", repeat,
                  median(pre), median(inf), median(post));
    }
  } catch (const yolocls::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
