// yolocls_classify: classify images (and, with OpenCV, video files) with the yolocls C++ runtime and print top-k plus
// per-stage latency.
//
//   yolocls_classify MODEL INPUT... [--topk K] [--threads N] [--repeat R] [--stride S] [--max-frames F]
//
// MODEL is an .onnx (OpenVINO; metadata read from the file) or a TensorRT .engine with its .json sidecar.
// Binary PPM (P6) and 24/32-bit BMP images are always read (no image library needed). Built with OpenCV, any image
// OpenCV decodes and any video cv::VideoCapture opens are read too. Image latency is the median of R runs; video
// latency is the median over the classified frames.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <yolocls/runtime.hpp>

#include "image_io.hpp"
#if YOLOCLS_EXAMPLE_HAVE_OPENCV
#include "opencv_io.hpp"
#endif

namespace {

struct Options {
  int topk = 5;
  int repeat = 1;      // runs per image (latency = median)
  int stride = 1;      // classify every stride-th video frame
  long max_frames = 0; // stop a video after this many classified frames; 0 = all
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Per-stage latencies (ms) of several runs.
struct Latency {
  std::vector<double> pre, inf, post;
  void add(const yolocls::Timings& t) {
    pre.push_back(t.preprocess_ms);
    inf.push_back(t.inference_ms);
    post.push_back(t.postprocess_ms);
  }
  void print(const std::string& what) const {
    std::printf("  latency ms (median of %s): preprocess %.3f  inference %.3f  postprocess %.3f\n", what.c_str(),
                median(pre), median(inf), median(post));
  }
};

void print_usage(std::FILE* out) {
  std::fprintf(out,
               "usage: yolocls_classify MODEL INPUT... [--topk K] [--threads N] [--repeat R] [--stride S] "
               "[--max-frames F]\n"
               "  MODEL         .onnx (OpenVINO) or TensorRT .engine with its .json sidecar\n"
               "  INPUT         image files%s\n"
               "  --topk K      classes printed per input (default 5)\n"
               "  --threads N   CPU threads (default: the runtime's choice)\n"
               "  --repeat R    runs per image; latency is the median (default 1)\n"
               "  --stride S    video: classify every S-th frame (default 1)\n"
               "  --max-frames F  video: stop after F classified frames (default 0 = all)\n",
#if YOLOCLS_EXAMPLE_HAVE_OPENCV
               " or video files");
  std::fprintf(out, "OpenCV: %s (images: PPM, BMP and every format OpenCV decodes; video: yes)\n",
               opencv_version().c_str());
#else
               "");
  std::fprintf(out, "OpenCV: no (built without it: binary PPM/BMP images only, no video)\n");
#endif
}

int usage_error(const std::string& why) {
  std::fprintf(stderr, "error: %s\n", why.c_str());
  print_usage(stderr);
  return 2;
}

void print_topk(const std::string& label, int width, int height, const std::vector<yolocls::Classification>& top,
                const std::vector<std::string>& names) {
  std::printf("%s (%dx%d)\n", label.c_str(), width, height);
  for (const auto& c : top) {
    const std::string name = c.class_id < static_cast<int>(names.size()) ? names[c.class_id] : "?";
    std::printf("  %4d %-24s %.6f\n", c.class_id, name.c_str(), c.prob);
  }
}

void classify_image(const yolocls::Runtime& runtime, const std::string& label, const yolocls::ImageView& view,
                    const Options& opt) {
  Latency lat;
  std::vector<std::vector<yolocls::Classification>> result;
  for (int r = 0; r < opt.repeat; ++r) {
    yolocls::Timings t;
    result = runtime.classify(&view, 1, opt.topk, &t);
    lat.add(t);
  }
  print_topk(label, view.width, view.height, result[0], runtime.names());
  lat.print(std::to_string(opt.repeat));
}

#if YOLOCLS_EXAMPLE_HAVE_OPENCV
// Every stride-th frame until the end, --max-frames, or the first frame that cannot be read (a truncated file stops
// cleanly there). Frames are classified in place: the runtime reads the decoder's buffer through an ImageView.
void classify_video(const yolocls::Runtime& runtime, const std::string& path, cv::VideoCapture& cap,
                    const Options& opt) {
  const double declared = cap.get(cv::CAP_PROP_FRAME_COUNT);  // from the container; <= 0 when unknown
  std::printf("video %s: %.0fx%.0f, %.2f fps, %.0f frames declared\n", path.c_str(),
              cap.get(cv::CAP_PROP_FRAME_WIDTH), cap.get(cv::CAP_PROP_FRAME_HEIGHT), cap.get(cv::CAP_PROP_FPS),
              declared > 0 ? declared : 0.0);
  Latency lat;
  std::vector<double> decode;
  cv::Mat frame, scratch;
  long read = 0, classified = 0;
  bool hit_limit = false;
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    if (opt.max_frames > 0 && classified >= opt.max_frames) {
      hit_limit = true;
      break;
    }
    const bool wanted = read % opt.stride == 0;
    const auto t0 = std::chrono::steady_clock::now();
    // grab() skips a frame without converting it to BGR; read() = grab() + retrieve().
    const bool ok = wanted ? cap.read(frame) : cap.grab();
    if (!ok || (wanted && frame.empty())) break;
    const long index = read++;
    if (!wanted) continue;
    decode.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    const cv::Mat& bgr = as_bgr(frame, &scratch);
    const yolocls::ImageView view = view_of(bgr);
    yolocls::Timings t;
    const auto result = runtime.classify(&view, 1, opt.topk, &t);
    lat.add(t);
    ++classified;
    print_topk(path + " frame " + std::to_string(index), view.width, view.height, result[0], runtime.names());
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  frames read %ld, classified %ld\n", read, classified);
  if (hit_limit) {
    std::printf("  stopped after --max-frames %ld\n", opt.max_frames);
  } else if (declared > 0 && read < static_cast<long>(declared)) {
    std::printf("  video ended early: %ld of %.0f declared frames read (file truncated or corrupt); stopped\n", read,
                declared);
  } else {
    std::printf("  end of video\n");
  }
  if (classified > 0) {
    lat.print(std::to_string(classified) + " frames");
    std::printf("  decode ms (median): %.3f  throughput %.1f classified frames/s (wall clock, printing included)\n",
                median(decode), wall_s > 0 ? classified / wall_s : 0.0);
  }
}
#endif

// One input: a PPM/BMP (built-in reader), else (with OpenCV) an image OpenCV decodes, else a video.
// Throws std::runtime_error for an unreadable input (the caller skips it).
void classify_input(const yolocls::Runtime& runtime, const std::string& path, const Options& opt) {
#if YOLOCLS_EXAMPLE_HAVE_OPENCV
  // URLs (rtsp://...) and image-sequence patterns (frame%04d.png) are not files but VideoCapture opens them.
  if (!std::filesystem::exists(path) && path.find("://") == std::string::npos && path.find('%') == std::string::npos) {
    throw std::runtime_error(path + ": cannot open (no such file)");
  }
  if (!has_builtin_reader(path)) {
    if (opencv_reads_image(path)) {
      const cv::Mat img = opencv_read_image(path);
      classify_image(runtime, path, view_of(img), opt);
    } else {
      cv::VideoCapture cap = opencv_open_video(path);
      classify_video(runtime, path, cap, opt);
    }
    return;
  }
#endif
  const Image img = read_image(path);
  classify_image(runtime, path, img.view(), opt);
}

// Parses a whole decimal integer >= lo, or throws std::invalid_argument naming the option.
long parse_int(const std::string& option, const std::string& text, long lo) {
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < lo) {
    throw std::invalid_argument(option + " needs an integer >= " + std::to_string(lo) + ", got '" + text + "'");
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  std::string model;
  std::vector<std::string> inputs;
  Options opt;
  yolocls::RuntimeOptions options;
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      const std::string& a = args[i];
      auto value = [&](long lo) -> long {
        if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
        return parse_int(a, args[++i], lo);
      };
      if (a == "--topk") opt.topk = static_cast<int>(value(1));
      else if (a == "--threads") options.threads = static_cast<int>(value(0));
      else if (a == "--repeat") opt.repeat = static_cast<int>(value(1));
      else if (a == "--stride") opt.stride = static_cast<int>(value(1));
      else if (a == "--max-frames") opt.max_frames = value(0);
      else if (a == "-h" || a == "--help") {
        print_usage(stdout);
        return 0;
      } else if (a.size() > 1 && a[0] == '-') throw std::invalid_argument("unknown option " + a);
      else if (model.empty()) model = a;
      else inputs.push_back(a);
    }
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
  if (model.empty() || inputs.empty()) return usage_error("need a MODEL and at least one INPUT");

  try {
    const yolocls::Runtime runtime(model, options);
    std::printf("model %s: backend %s, %d classes, imgsz %d\n", model.c_str(), runtime.backend_name().c_str(),
                runtime.num_classes(), runtime.imgsz());
    int skipped = 0;
    for (const auto& path : inputs) {
      try {
        classify_input(runtime, path, opt);
      } catch (const yolocls::InvalidArgument& e) {  // e.g. an image the runtime refuses: skip it like a bad file
        std::fprintf(stderr, "skipping %s: %s\n", path.c_str(), e.what());
        ++skipped;
      } catch (const yolocls::Error&) {
        throw;  // a runtime/backend failure, not a bad input
      } catch (const std::exception& e) {
        std::fprintf(stderr, "skipping %s\n", e.what());
        ++skipped;
      }
    }
    if (skipped > 0) std::fprintf(stderr, "%d of %zu inputs skipped (unreadable)\n", skipped, inputs.size());
  } catch (const yolocls::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
