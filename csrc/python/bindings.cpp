// yolocls._C: thin pybind11 bindings over libyolocls_runtime. They check dtype/shape/strides, take contiguous-row
// uint8 arrays without copying (any row padding), copy only when the pixel layout is not (3, 1) bytes or a stride is
// negative, and release the GIL for all preprocessing and inference. Errors: yolocls::InvalidArgument -> ValueError
// (_C.InvalidArgument), yolocls::Error -> RuntimeError (_C.Error, _C.Unavailable).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "backends/plugin.hpp"
#include "preprocess/cuda_staging.hpp"
#include "yolocls/config.hpp"
#include "yolocls/metadata.hpp"
#include "yolocls/postprocess.hpp"
#include "yolocls/preprocess.hpp"
#include "yolocls/runtime.hpp"

namespace py = pybind11;
using namespace yolocls;

namespace {

// Images borrowed from Python arrays; `keep` holds the arrays (or the copies we made) alive without the GIL.
struct Images {
  std::vector<ImageView> views;
  std::vector<py::array> keep;
};

ImageView view_of(py::array arr, size_t index, ChannelOrder order, std::vector<py::array>* keep) {
  const std::string where = "image " + std::to_string(index);
  if (!py::isinstance<py::array_t<uint8_t>>(arr) || arr.dtype().kind() != 'u' || arr.itemsize() != 1) {
    throw InvalidArgument(where + " must be uint8, got " + std::string(py::str(arr.dtype())));
  }
  if (arr.ndim() != 3) throw InvalidArgument(where + " must be HxWx3, got " + std::to_string(arr.ndim()) + " dims");
  if (arr.shape(2) != 3) {
    throw InvalidArgument(where + " must have 3 channels, got " + std::to_string(arr.shape(2)));
  }
  if (arr.shape(0) < 1 || arr.shape(1) < 1) throw InvalidArgument(where + " is empty");
  const int64_t h = arr.shape(0), w = arr.shape(1);
  if (h > (1 << 30) || w > (1 << 28)) throw InvalidArgument(where + " is too large");
  int64_t rs = arr.strides(0);
  if (h == 1) rs = 3 * w;  // a single row's stride is meaningless
  const bool rows_ok = (w == 1 || arr.strides(1) == 3) && arr.strides(2) == 1 && rs >= 3 * w;
  if (!rows_ok) {
    // Non-contiguous pixels (e.g. img[:, ::2]), negative strides or overlapping rows: one compact copy.
    // Bound it first: a broadcast view (zero strides) can claim far more pixels than any memory holds.
    if (h * w > (int64_t{1} << 31)) {
      throw InvalidArgument(where + " is a non-contiguous view of " + std::to_string(h) + "x" + std::to_string(w) +
                            " pixels, too large to copy; pass a contiguous array");
    }
    arr = py::array::ensure(arr, py::array::c_style | py::array::forcecast);
    if (!arr) {
      if (PyErr_Occurred()) throw py::error_already_set();
      throw InvalidArgument(where + " could not be copied into a contiguous array");
    }
    rs = 3 * w;
  }
  keep->push_back(arr);
  ImageView v;
  v.data = static_cast<const uint8_t*>(arr.data());
  v.height = static_cast<int>(h);
  v.width = static_cast<int>(w);
  v.row_stride = rs;
  v.order = order;
  return v;
}

// Any buffer-protocol object (memoryview, PIL-free byte views, ...) as an ndarray over the same memory (no copy).
py::array as_array(py::handle obj) {
  if (py::isinstance<py::array>(obj)) return py::reinterpret_borrow<py::array>(obj);
  py::array a = py::array::ensure(obj);
  if (!a) {
    if (PyErr_Occurred()) throw py::error_already_set();
    throw InvalidArgument("expected a uint8 HxWx3 array or buffer");
  }
  return a;
}

Images gather(py::handle images, bool bgr) {
  Images out;
  const ChannelOrder order = bgr ? ChannelOrder::BGR : ChannelOrder::RGB;
  if (py::isinstance<py::array>(images) || py::isinstance<py::buffer>(images)) {
    out.views.push_back(view_of(as_array(images), 0, order, &out.keep));
    return out;
  }
  if (!py::isinstance<py::sequence>(images) || py::isinstance<py::str>(images)) {
    throw InvalidArgument("images must be a uint8 HxWx3 numpy array or a list of them");
  }
  py::sequence seq = py::reinterpret_borrow<py::sequence>(images);
  if (seq.size() == 0) throw InvalidArgument("no images given");
  for (size_t i = 0; i < seq.size(); ++i) {
    py::object item = seq[i];
    if (!py::isinstance<py::array>(item) && !py::isinstance<py::buffer>(item)) {
      throw InvalidArgument("image " + std::to_string(i) + " must be a numpy array, got " +
                            std::string(py::str(py::type::handle_of(item).attr("__name__"))));
    }
    out.views.push_back(view_of(as_array(item), i, order, &out.keep));
  }
  return out;
}

Crop parse_crop(const std::string& s) {
  if (s == "center") return Crop::Center;
  if (s == "stretch") return Crop::Stretch;
  if (s == "letterbox") return Crop::Letterbox;
  throw InvalidArgument("crop must be one of center, stretch, letterbox, got '" + s + "'");
}

ChannelOrder parse_order(const std::string& s) {
  if (s == "RGB") return ChannelOrder::RGB;
  if (s == "BGR") return ChannelOrder::BGR;
  throw InvalidArgument("channel_order must be RGB or BGR, got '" + s + "'");
}

std::array<float, 3> three(const std::vector<double>& v, const char* name) {
  if (v.size() != 3) throw InvalidArgument(std::string(name) + " needs 3 values (one per channel)");
  return {static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2])};
}

PreprocessConfig make_config(int imgsz, const std::string& crop, const std::vector<double>& mean,
                             const std::vector<double>& std_, double scale, int pad_value,
                             const std::string& channel_order) {
  PreprocessConfig c;
  c.imgsz = imgsz;
  c.crop = parse_crop(crop);
  const auto m = three(mean, "mean"), s = three(std_, "std");
  for (int k = 0; k < 3; ++k) {
    c.mean[k] = m[k];
    c.std[k] = s[k];
  }
  c.scale = static_cast<float>(scale);
  c.pad_value = pad_value;
  c.channel_order = parse_order(channel_order);
  c.validate();
  return c;
}

PreprocessConfig config_from_dict(const py::dict& d) {
  auto get = [&](const char* k, py::object dflt) { return d.contains(k) ? py::object(d[k]) : dflt; };
  py::object imgsz = get("imgsz", py::int_(224));
  if (py::isinstance<py::sequence>(imgsz)) imgsz = py::sequence(imgsz)[0];
  return make_config(imgsz.cast<int>(), get("crop", py::str("center")).cast<std::string>(),
                     get("mean", py::cast(std::vector<double>{0.485, 0.456, 0.406})).cast<std::vector<double>>(),
                     get("std", py::cast(std::vector<double>{0.229, 0.224, 0.225})).cast<std::vector<double>>(),
                     get("scale", py::float_(1.0 / 255.0)).cast<double>(), get("pad_value", py::int_(114)).cast<int>(),
                     get("channel_order", py::str("RGB")).cast<std::string>());
}

DType parse_dtype(py::object dtype) {
  const py::dtype dt = py::dtype::from_args(dtype);
  if (dt.is(py::dtype::of<float>()) || (dt.kind() == 'f' && dt.itemsize() == 4)) return DType::Float32;
  if (dt.kind() == 'f' && dt.itemsize() == 2) return DType::Float16;
  throw InvalidArgument("dtype must be float32 or float16, got " + std::string(py::str(dt)));
}

py::array output_array(py::object out, size_t n, int S, DType dtype) {
  const py::dtype dt = dtype == DType::Float16 ? py::dtype("float16") : py::dtype::of<float>();
  const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(n), 3, S, S};
  if (out.is_none()) return py::array(dt, shape);
  if (!py::isinstance<py::array>(out)) throw InvalidArgument("out must be a numpy array");
  py::array a = py::reinterpret_borrow<py::array>(out);
  if (!a.dtype().equal(dt)) {
    throw InvalidArgument("out has dtype " + std::string(py::str(a.dtype())) + ", expected " +
                          std::string(py::str(dt)));
  }
  bool same = a.ndim() == 4;
  for (int i = 0; same && i < 4; ++i) same = a.shape(i) == shape[i];
  if (!same) {
    throw InvalidArgument("out must have shape (" + std::to_string(n) + ", 3, " + std::to_string(S) + ", " +
                          std::to_string(S) + ")");
  }
  if (!(a.flags() & py::array::c_style) || !a.writeable()) {
    throw InvalidArgument("out must be a writeable C-contiguous array");
  }
  return a;
}

py::array run_preprocess(const Preprocessor* pre, py::handle images, int imgsz, const std::string& crop,
                         const std::vector<double>& mean, const std::vector<double>& std_, bool bgr,
                         py::object dtype, double scale, int pad_value, const std::string& channel_order,
                         py::object out) {
  const PreprocessConfig cfg = make_config(imgsz, crop, mean, std_, scale, pad_value, channel_order);
  const DType dt = parse_dtype(dtype);
  Images im = gather(images, bgr);
  py::array result = output_array(out, im.views.size(), cfg.imgsz, dt);
  void* dst = result.mutable_data();
  {
    py::gil_scoped_release nogil;
    if (pre) {
      pre->run(im.views.data(), im.views.size(), cfg, dst, dt);
    } else {
      preprocess(im.views.data(), im.views.size(), cfg, dst, dt);
    }
  }
  return result;
}

py::dict timings_dict(const Timings& t) {
  py::dict d;
  d["preprocess"] = t.preprocess_ms;
  d["inference"] = t.inference_ms;
  d["postprocess"] = t.postprocess_ms;
  return d;
}

// Runtime plus the last call's timings (shared by threads: the last finished call wins).
struct PyRuntime {
  std::unique_ptr<Runtime> rt;
  mutable std::mutex mu;
  Timings last;
  void set(const Timings& t) {
    std::lock_guard<std::mutex> lock(mu);
    last = t;
  }
};

const std::vector<double> kMean{0.485, 0.456, 0.406}, kStd{0.229, 0.224, 0.225};

py::dict metadata_dict(const ModelMetadata& md) {
  const PreprocessConfig& c = md.preprocess;
  static const char* crops[] = {"center", "stretch", "letterbox"};
  py::dict d;
  d["names"] = md.names;
  d["model"] = md.model;
  d["imgsz"] = c.imgsz;
  d["crop"] = crops[static_cast<int>(c.crop)];
  d["mean"] = std::vector<float>(c.mean, c.mean + 3);
  d["std"] = std::vector<float>(c.std, c.std + 3);
  d["scale"] = c.scale;
  d["pad_value"] = c.pad_value;
  d["channel_order"] = c.channel_order == ChannelOrder::RGB ? "RGB" : "BGR";
  return d;
}

// Engine libraries that pip wheels carry, located without importing their packages: the openvino wheel's libs/
// (which the module's RUNPATH $ORIGIN/../openvino/libs reaches from a wheel install but not from an editable one) and
// NVIDIA's tensorrt_libs. So `from yolocls import _C` works alone, in any order and install mode.
void register_wheel_library_dirs() {
  try {
    py::object find_spec = py::module_::import("importlib.util").attr("find_spec");
    const std::pair<const char*, const char*> wheels[] = {{"openvino", "/libs"}, {"tensorrt_libs", ""}};
    for (const auto& [package, sub] : wheels) {
      py::object spec = find_spec(package);
      if (spec.is_none()) continue;
      py::object where = spec.attr("submodule_search_locations");
      if (where.is_none()) continue;
      for (py::handle dir : where) plugins::add_library_dir(py::str(dir).cast<std::string>() + sub);
    }
  } catch (const py::error_already_set&) {
    // Best effort: without these folders a backend may still load from the loader's own search path.
  }
}

// Raise `type` with `what` as its message. Messages may carry bytes from hostile files (an op name in an OpenVINO
// error): invalid UTF-8 is replaced, never turned into a UnicodeDecodeError instead of the error itself.
void set_error_lossy(const py::handle& type, const char* what) {
  PyObject* msg = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "replace");
  if (msg == nullptr) {
    PyErr_Clear();
    PyErr_SetString(type.ptr(), "(unprintable error message)");
    return;
  }
  PyErr_SetObject(type.ptr(), msg);
  Py_DECREF(msg);
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "yolocls C++ runtime (preprocessing, OpenVINO/TensorRT inference). Use it through yolocls._native.";

  static py::exception<Error> error(m, "Error", PyExc_RuntimeError);
  static py::exception<InvalidArgument> invalid(m, "InvalidArgument", PyExc_ValueError);
  static py::exception<Unavailable> unavailable(m, "Unavailable", error.ptr());
  // Translators run newest first: derived classes after the base so they win.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      set_error_lossy(error, e.what());
    }
  });
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidArgument& e) {
      set_error_lossy(invalid, e.what());
    } catch (const Unavailable& e) {
      set_error_lossy(unavailable, e.what());
    }
  });

  m.def("build_info", [] {
    const BuildInfo b = build_info();
    py::dict d;
    d["version"] = b.version;
    d["cuda"] = b.cuda;
    d["openvino"] = b.openvino;
    d["tensorrt"] = b.tensorrt;
    d["cuda_version"] = b.cuda_version.empty() ? py::object(py::none()) : py::object(py::str(b.cuda_version));
    d["openvino_version"] =
        b.openvino_version.empty() ? py::object(py::none()) : py::object(py::str(b.openvino_version));
    d["tensorrt_version"] =
        b.tensorrt_version.empty() ? py::object(py::none()) : py::object(py::str(b.tensorrt_version));
    d["openvino_error"] = b.openvino_error.empty() ? py::object(py::none()) : py::object(py::str(b.openvino_error));
    d["tensorrt_error"] = b.tensorrt_error.empty() ? py::object(py::none()) : py::object(py::str(b.tensorrt_error));
    d["compiler"] = b.compiler;
    d["cuda_devices"] = cuda_device_count();
    d["plugin_dir"] = plugins::plugin_dir();
    return d;
  }, "Components of this build: a backend's flag says its module was built, its version is the engine library "
     "loaded here (None with *_error saying why when the module cannot load).");

  m.def("backend_status", [](const std::string& name) {
    const plugins::Status st = plugins::status(name);
    py::dict d;
    d["name"] = st.name;
    d["built"] = st.built;
    d["loadable"] = st.loadable;
    d["version"] = st.version.empty() ? py::object(py::none()) : py::object(py::str(st.version));
    d["error"] = st.error.empty() ? py::object(py::none()) : py::object(py::str(st.error));
    d["path"] = st.path;
    return d;
  }, py::arg("name"),
     "Whether backend `name` (openvino, tensorrt) was built and loads here; loads its module on first call.");

  m.def("add_library_dir", &plugins::add_library_dir, py::arg("dir"),
        "Add a folder searched for a backend module's engine libraries (e.g. OpenVINO's lib folder).");
  register_wheel_library_dirs();

  m.def(
      "preprocess",
      [](py::handle images, int imgsz, const std::string& crop, const std::vector<double>& mean,
         const std::vector<double>& std_, bool bgr, py::object dtype, double scale, int pad_value,
         const std::string& channel_order, py::object out) {
        return run_preprocess(nullptr, images, imgsz, crop, mean, std_, bgr, dtype, scale, pad_value, channel_order,
                              out);
      },
      py::arg("images"), py::arg("imgsz") = 224, py::arg("crop") = "center", py::arg("mean") = kMean,
      py::arg("std") = kStd, py::arg("bgr") = true, py::arg("dtype") = py::dtype::of<float>(),
      py::arg("scale") = 1.0 / 255.0, py::arg("pad_value") = 114, py::arg("channel_order") = "RGB",
      py::arg("out") = py::none(),
      "Spec'd preprocessing (same arguments and result as yolocls.data.preprocess.preprocess), single-threaded.\n"
      "images: uint8 HxWx3 array or list; returns [N, 3, imgsz, imgsz] float32/float16 (or fills `out`).");

  py::class_<Preprocessor>(m, "Preprocessor", "Preprocessing with a persistent pool of `threads` (incl. caller).")
      .def(py::init<int>(), py::arg("threads") = 1)
      .def_property_readonly("threads", &Preprocessor::threads)
      .def(
          "__call__",
          [](const Preprocessor& self, py::handle images, int imgsz, const std::string& crop,
             const std::vector<double>& mean, const std::vector<double>& std_, bool bgr, py::object dtype,
             double scale, int pad_value, const std::string& channel_order, py::object out) {
            return run_preprocess(&self, images, imgsz, crop, mean, std_, bgr, dtype, scale, pad_value,
                                  channel_order, out);
          },
          py::arg("images"), py::arg("imgsz") = 224, py::arg("crop") = "center", py::arg("mean") = kMean,
          py::arg("std") = kStd, py::arg("bgr") = true, py::arg("dtype") = py::dtype::of<float>(),
          py::arg("scale") = 1.0 / 255.0, py::arg("pad_value") = 114, py::arg("channel_order") = "RGB",
          py::arg("out") = py::none());

  m.def(
      "preprocess_cuda",
      [](uintptr_t src, int height, int width, int64_t row_stride, uintptr_t dst, int imgsz, const std::string& crop,
         const std::vector<double>& mean, const std::vector<double>& std_, bool bgr, py::object dtype, double scale,
         int pad_value, const std::string& channel_order, uintptr_t stream) {
        const PreprocessConfig cfg = make_config(imgsz, crop, mean, std_, scale, pad_value, channel_order);
        const DType dt = parse_dtype(dtype);
        ImageView v;
        v.data = reinterpret_cast<const uint8_t*>(src);
        v.height = height;
        v.width = width;
        v.row_stride = row_stride;
        v.order = bgr ? ChannelOrder::BGR : ChannelOrder::RGB;
        py::gil_scoped_release nogil;
        preprocess_cuda(v, cfg, reinterpret_cast<void*>(dst), dt, reinterpret_cast<void*>(stream));
      },
      py::arg("src_ptr"), py::arg("height"), py::arg("width"), py::arg("row_stride"), py::arg("dst_ptr"),
      py::arg("imgsz") = 224, py::arg("crop") = "center", py::arg("mean") = kMean, py::arg("std") = kStd,
      py::arg("bgr") = true, py::arg("dtype") = py::dtype::of<float>(), py::arg("scale") = 1.0 / 255.0,
      py::arg("pad_value") = 114, py::arg("channel_order") = "RGB", py::arg("stream") = 0,
      "CUDA preprocessing of one device uint8 image (pointer, rows `row_stride` bytes apart) into a device buffer of\n"
      "3*imgsz*imgsz float32/float16 at dst_ptr, enqueued on `stream` (cudaStream_t as int; 0 = default stream).\n"
      "Not synchronised. Raises _C.Unavailable without CUDA/GPU.");

  m.def(
      "preprocess_cuda_frames",
      [](py::handle images, uintptr_t dst, int imgsz, const std::string& crop, const std::vector<double>& mean,
         const std::vector<double>& std_, bool bgr, py::object dtype, double scale, int pad_value,
         const std::string& channel_order, uintptr_t stream) {
        const PreprocessConfig cfg = make_config(imgsz, crop, mean, std_, scale, pad_value, channel_order);
        const DType dt = parse_dtype(dtype);
        Images im = gather(images, bgr);
        py::gil_scoped_release nogil;
        detail::CudaFrameStaging staging;  // freed on return, after the stream is synchronised
        staging.run(im.views.data(), im.views.size(), cfg, reinterpret_cast<void*>(dst), dt,
                    reinterpret_cast<void*>(stream));
        detail::CudaFrameStaging::synchronize(reinterpret_cast<void*>(stream));
      },
      py::arg("images"), py::arg("dst_ptr"), py::arg("imgsz") = 224, py::arg("crop") = "center",
      py::arg("mean") = kMean, py::arg("std") = kStd, py::arg("bgr") = true,
      py::arg("dtype") = py::dtype::of<float>(), py::arg("scale") = 1.0 / 255.0, py::arg("pad_value") = 114,
      py::arg("channel_order") = "RGB", py::arg("stream") = 0,
      "CUDA preprocessing of host uint8 HxWx3 image(s) (what Runtime does for TensorRT): uploads the region each\n"
      "image reads, runs the kernel into the device buffer at dst_ptr (N*3*imgsz*imgsz float32/float16) on\n"
      "`stream` and synchronises it. Raises _C.Unavailable without CUDA/GPU.");

  m.def("parse_metadata", [](const std::string& text) { return metadata_dict(parse_metadata(text)); },
        py::arg("json"), "The C++ reader of the yolocls metadata JSON (what C++ apps see); raises RuntimeError.");

  m.def("read_metadata", [](const std::string& path) {
    ModelMetadata md;
    {
      py::gil_scoped_release release;
      md = read_metadata(path);
    }
    return metadata_dict(md);
  }, py::arg("path"),
     "The C++ runtime's metadata of a model file (the .onnx's metadata_props, read without an ONNX library, or "
     "<path>.json); raises RuntimeError.");


  m.def("softmax", [](py::array_t<float, py::array::c_style | py::array::forcecast> logits) {
    if (logits.ndim() != 2 || logits.shape(1) < 1) throw InvalidArgument("logits must be [N, C] with C >= 1");
    py::array_t<float> out({logits.shape(0), logits.shape(1)});
    softmax(logits.data(), static_cast<int>(logits.shape(0)), static_cast<int>(logits.shape(1)),
            out.mutable_data());
    return out;
  }, py::arg("logits"), "Row-wise softmax of [N, C] logits (float32).");

  m.def("topk", [](py::array_t<float, py::array::c_style | py::array::forcecast> probs, int k) {
    if (probs.ndim() != 2 || probs.shape(1) < 1) throw InvalidArgument("probs must be [N, C] with C >= 1");
    if (k < 1) throw InvalidArgument("k must be >= 1, got " + std::to_string(k));
    py::list rows;
    for (py::ssize_t r = 0; r < probs.shape(0); ++r) {
      py::list row;
      for (const auto& c : topk(probs.data() + r * probs.shape(1), static_cast<int>(probs.shape(1)), k)) {
        row.append(py::make_tuple(c.class_id, c.prob));
      }
      rows.append(row);
    }
    return rows;
  }, py::arg("probs"), py::arg("k") = 5, "Top-k (class_id, prob) per row, most probable first.");

  py::class_<PyRuntime>(m, "Runtime",
                        "Classifier runtime over the C++ backends. Methods release the GIL and may be called from "
                        "several threads at once (num_requests concurrent inferences).")
      .def(py::init([](const std::string& path, py::object preprocess, const std::string& backend,
                       const std::string& device, int threads, int preprocess_threads, int num_requests,
                       int max_batch, bool cuda_graph, bool cuda_preprocess, const std::string& precision) {
             RuntimeOptions o;
             o.backend = backend;
             o.device = device;
             o.threads = threads;
             o.preprocess_threads = preprocess_threads;
             o.num_requests = num_requests;
             o.max_batch = max_batch;
             o.cuda_graph = cuda_graph;
             o.cuda_preprocess = cuda_preprocess;
             o.precision = precision;
             auto p = std::make_unique<PyRuntime>();
             if (preprocess.is_none()) {
               py::gil_scoped_release nogil;
               p->rt = std::make_unique<Runtime>(path, o);
             } else {
               const PreprocessConfig cfg = config_from_dict(preprocess.cast<py::dict>());
               py::gil_scoped_release nogil;
               p->rt = std::make_unique<Runtime>(path, cfg, o);
             }
             return p;
           }),
           py::arg("model_path"), py::arg("preprocess") = py::none(), py::arg("backend") = "auto",
           py::arg("device") = "CPU", py::arg("threads") = 0, py::arg("preprocess_threads") = 1,
           py::arg("num_requests") = 0, py::arg("max_batch") = 0, py::arg("cuda_graph") = false,
           py::arg("cuda_preprocess") = true, py::arg("precision") = "f32",
           "preprocess: dict like PreprocessConfig.to_dict() (imgsz, crop, mean, std, scale, pad_value,\n"
           "channel_order); None reads the model's metadata (<model>.json sidecar or ONNX metadata_props).\n"
           "cuda_graph: TensorRT replays one CUDA graph per batch size. cuda_preprocess: TensorRT preprocesses\n"
           "on the GPU (CUDA kernel into the engine input) when the build has CUDA; False = CPU + upload.\n"
           "Both are ignored by OpenVINO.\n"
           "precision: OpenVINO inference precision, 'f32' (default), 'bf16', 'f16' or 'default' (OpenVINO's\n"
           "choice); reduced precision is faster where the hardware has it and moves logits ~1e-2. TensorRT ignores it.")
      .def(
          "classify",
          [](PyRuntime& self, py::handle images, int k, bool bgr, bool return_timings) -> py::object {
            Images im = gather(images, bgr);
            std::vector<std::vector<Classification>> res;
            Timings t;
            {
              py::gil_scoped_release nogil;
              res = self.rt->classify(im.views.data(), im.views.size(), k, &t);
            }
            self.set(t);
            py::list out;
            for (const auto& row : res) {
              py::list r;
              for (const auto& c : row) r.append(py::make_tuple(c.class_id, c.prob));
              out.append(r);
            }
            if (return_timings) return py::make_tuple(out, timings_dict(t));
            return std::move(out);
          },
          py::arg("images"), py::arg("k") = 5, py::arg("bgr") = true, py::arg("return_timings") = false,
          "Top-k [(class_id, prob), ...] per image (uint8 HxWx3 array or list); with return_timings, a tuple\n"
          "(results, {preprocess, inference, postprocess} ms of this call).")
      .def(
          "logits",
          [](PyRuntime& self, py::handle images, bool bgr) {
            Images im = gather(images, bgr);
            py::array_t<float> out({static_cast<py::ssize_t>(im.views.size()),
                                    static_cast<py::ssize_t>(self.rt->num_classes())});
            float* dst = out.mutable_data();
            Timings t;
            {
              py::gil_scoped_release nogil;
              self.rt->logits(im.views.data(), im.views.size(), dst, &t);
            }
            self.set(t);
            return out;
          },
          py::arg("images"), py::arg("bgr") = true, "Logits [N, num_classes] float32 of uint8 HxWx3 images.")
      .def(
          "infer",
          [](PyRuntime& self, py::array batch) {
            if (!py::isinstance<py::array_t<float>>(batch) || batch.dtype().kind() != 'f' || batch.itemsize() != 4) {
              throw InvalidArgument("batch must be float32, got " + std::string(py::str(batch.dtype())));
            }
            const int S = self.rt->imgsz();
            if (batch.ndim() != 4 || batch.shape(1) != 3 || batch.shape(2) != S || batch.shape(3) != S ||
                batch.shape(0) < 1) {
              throw InvalidArgument("batch must have shape [N, 3, " + std::to_string(S) + ", " + std::to_string(S) +
                                    "] with N >= 1");
            }
            py::array_t<float, py::array::c_style> in = py::array_t<float, py::array::c_style>::ensure(batch);
            const int n = static_cast<int>(in.shape(0));
            py::array_t<float> out({static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(self.rt->num_classes())});
            float* dst = out.mutable_data();
            const float* src = in.data();
            Timings t;
            {
              py::gil_scoped_release nogil;
              self.rt->infer(src, n, dst, &t);
            }
            self.set(t);
            return out;
          },
          py::arg("batch"), "Logits [N, num_classes] of a preprocessed float32 [N, 3, S, S] batch.")
      .def_property_readonly("last_timings", [](const PyRuntime& self) {
        std::lock_guard<std::mutex> lock(self.mu);
        return timings_dict(self.last);
      }, "Milliseconds per stage of the last finished call (preprocess, inference, postprocess).")
      .def_property_readonly("num_classes", [](const PyRuntime& s) { return s.rt->num_classes(); })
      .def_property_readonly("imgsz", [](const PyRuntime& s) { return s.rt->imgsz(); })
      .def_property_readonly("max_batch", [](const PyRuntime& s) { return s.rt->max_batch(); })
      .def_property_readonly("backend", [](const PyRuntime& s) { return s.rt->backend_name(); })
      .def_property_readonly("names", [](const PyRuntime& s) { return s.rt->names(); });
}
