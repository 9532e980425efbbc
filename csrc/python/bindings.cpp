// yolocls._C: thin pybind11 bindings over libyolocls_runtime's public API (csrc/include/yolocls only). The C++ types
// are Python classes: PreprocessConfig, RuntimeOptions and their enums (Crop, ChannelOrder, DType, Backend,
// Precision; each also constructible from its spec name, e.g. Crop("letterbox"), through the C++ parse_* functions).
// Defaults come from the C++ structs themselves. yolocls._native.native_config() is the one conversion from the Python
// spec's PreprocessConfig. Images: dtype/shape/strides checked, contiguous-row uint8 arrays taken without copying
// (any row padding), copied only when the pixel layout is not (3, 1) bytes or a stride is negative; the GIL is
// released for all preprocessing and inference. Errors: yolocls::InvalidArgument -> ValueError (_C.InvalidArgument),
// yolocls::Error -> RuntimeError (_C.Error, _C.Unavailable). yolocls/_C.pyi is generated from this module
// (scripts/gen_stubs.sh).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cctype>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

py::array run_preprocess(const Preprocessor* pre, py::handle images, const PreprocessConfig& cfg, bool bgr, DType dt,
                         py::object out) {
  cfg.validate();
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

py::dict metadata_dict(const ModelMetadata& md) {
  const PreprocessConfig& c = md.preprocess;
  py::dict d;
  d["names"] = md.names;
  d["model"] = md.model;
  d["imgsz"] = c.imgsz;
  d["crop"] = to_string(c.crop);
  d["mean"] = std::vector<float>(c.mean, c.mean + 3);
  d["std"] = std::vector<float>(c.std, c.std + 3);
  d["scale"] = c.scale;
  d["pad_value"] = c.pad_value;
  d["channel_order"] = to_string(c.channel_order);
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
      for (py::handle dir : where) add_library_dir(py::str(dir).cast<std::string>() + sub);
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

py::object str_or_none(const std::string& s) { return s.empty() ? py::object(py::none()) : py::object(py::str(s)); }

using Three = std::array<float, 3>;
Three three_of(const float (&v)[3]) { return {v[0], v[1], v[2]}; }
// mean/std from any sequence of 3 numbers (a wrong count is a ValueError naming the field, not a TypeError).
void set_three(float (&dst)[3], const std::vector<double>& v, const char* name) {
  if (v.size() != 3) {
    throw InvalidArgument(std::string(name) + " needs 3 values (one per channel), got " + std::to_string(v.size()));
  }
  for (int k = 0; k < 3; ++k) dst[k] = static_cast<float>(v[k]);
}

// The values of a preprocessing enum from its one table in yolocls/preprocess.hpp (Python name: the spec name in
// upper case, e.g. Crop.LETTERBOX, DType.FLOAT16); the other enums list theirs.
template <typename E>
void add_spec_values(py::enum_<E>&, E (*)(const std::string&)) {}
template <typename E, size_t N>
void add_table_values(py::enum_<E>& e, const SpecName<E> (&table)[N]) {
  for (const auto& row : table) {
    std::string upper(row.name);
    for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    e.value(upper.c_str(), row.value);
  }
}
template <>
void add_spec_values<Crop>(py::enum_<Crop>& e, Crop (*)(const std::string&)) { add_table_values(e, kCropNames); }
template <>
void add_spec_values<ChannelOrder>(py::enum_<ChannelOrder>& e, ChannelOrder (*)(const std::string&)) {
  add_table_values(e, kChannelOrderNames);
}
template <>
void add_spec_values<DType>(py::enum_<DType>& e, DType (*)(const std::string&)) { add_table_values(e, kDTypeNames); }

// An enum bound with its spec names: E("name") parses through the C++ parse function (InvalidArgument -> ValueError
// naming the choices), str(E.X) is the spec name, and a str converts implicitly where an E is expected.
template <typename E>
py::enum_<E> spec_enum(py::module_& m, const char* name, const char* doc, E (*parse)(const std::string&)) {
  py::enum_<E> e(m, name, doc);
  add_spec_values(e, parse);
  e.def(py::init([parse](const std::string& spec) { return parse(spec); }), py::arg("name"),
        "The value from its spec name (as the metadata, the Python package and the CLI spell it).");
  // Replaces pybind11's __str__ ("Crop.CENTER"), not an overload of it.
  e.attr("__str__") = py::cpp_function([](E v) { return std::string(to_string(v)); }, py::name("__str__"),
                                       py::is_method(e));
  return e;
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

  // ------------------------------------------------------------------------------------------------ types
  spec_enum<Crop>(m, "Crop", "How the image is fitted to the square input (str(value) is its spec name).",
                  &parse_crop);
  spec_enum<ChannelOrder>(m, "ChannelOrder", "Order of the 3 channels (str(value) is its spec name).", &parse_channel_order);
  spec_enum<DType>(m, "DType", "Element type of the preprocessed tensor (str(value) is its spec name).", &parse_dtype);
  spec_enum<BackendKind>(m, "Backend", "Inference engine (spec names auto, openvino, tensorrt).", &parse_backend)
      .value("AUTO", BackendKind::Auto)
      .value("OPENVINO", BackendKind::OpenVINO)
      .value("TENSORRT", BackendKind::TensorRT);
  spec_enum<Precision>(m, "Precision", "OpenVINO inference precision (spec names f32, bf16, f16, default).",
                       &parse_precision)
      .value("F32", Precision::F32)
      .value("BF16", Precision::BF16)
      .value("F16", Precision::F16)
      .value("DEFAULT", Precision::Default);
  py::implicitly_convertible<py::str, Crop>();
  py::implicitly_convertible<py::str, ChannelOrder>();
  py::implicitly_convertible<py::str, DType>();
  py::implicitly_convertible<py::str, BackendKind>();
  py::implicitly_convertible<py::str, Precision>();

  const PreprocessConfig pp_defaults;
  py::class_<PreprocessConfig>(m, "PreprocessConfig",
                               "The spec'd preprocessing settings (the metadata's preprocess block), validated on "
                               "construction; defaults are the C++ struct's.")
      .def(py::init([](int imgsz, Crop crop, const std::vector<double>& mean, const std::vector<double>& std_,
                       float scale, ChannelOrder channel_order, int pad_value) {
             PreprocessConfig c;
             c.imgsz = imgsz;
             c.crop = crop;
             set_three(c.mean, mean, "mean");
             set_three(c.std, std_, "std");
             c.scale = scale;
             c.channel_order = channel_order;
             c.pad_value = pad_value;
             c.validate();
             return c;
           }),
           py::kw_only(), py::arg("imgsz") = pp_defaults.imgsz, py::arg_v("crop", pp_defaults.crop, "Crop.CENTER"),
           py::arg("mean") = std::vector<double>(pp_defaults.mean, pp_defaults.mean + 3),
           py::arg("std") = std::vector<double>(pp_defaults.std, pp_defaults.std + 3),
           py::arg("scale") = pp_defaults.scale,
           py::arg_v("channel_order", pp_defaults.channel_order, "ChannelOrder.RGB"),
           py::arg("pad_value") = pp_defaults.pad_value)
      .def_readwrite("imgsz", &PreprocessConfig::imgsz)
      .def_readwrite("crop", &PreprocessConfig::crop)
      .def_property(
          "mean", [](const PreprocessConfig& c) { return three_of(c.mean); },
          [](PreprocessConfig& c, const std::vector<double>& v) { set_three(c.mean, v, "mean"); })
      .def_property(
          "std", [](const PreprocessConfig& c) { return three_of(c.std); },
          [](PreprocessConfig& c, const std::vector<double>& v) { set_three(c.std, v, "std"); })
      .def_readwrite("scale", &PreprocessConfig::scale)
      .def_readwrite("channel_order", &PreprocessConfig::channel_order)
      .def_readwrite("pad_value", &PreprocessConfig::pad_value)
      .def("validate", &PreprocessConfig::validate, "Raise ValueError naming the first out-of-range value.")
      .def("__repr__", [](const PreprocessConfig& c) {
        auto f3 = [](const float (&v)[3]) {
          return "(" + std::string(py::repr(py::float_(v[0]))) + ", " + std::string(py::repr(py::float_(v[1]))) +
                 ", " + std::string(py::repr(py::float_(v[2]))) + ")";
        };
        return "PreprocessConfig(imgsz=" + std::to_string(c.imgsz) + ", crop='" + to_string(c.crop) +
               "', mean=" + f3(c.mean) + ", std=" + f3(c.std) + ", scale=" +
               std::string(py::repr(py::float_(c.scale))) + ", channel_order='" + to_string(c.channel_order) +
               "', pad_value=" + std::to_string(c.pad_value) + ")";
      });

  const RuntimeOptions ro_defaults;
  py::class_<RuntimeOptions>(m, "RuntimeOptions",
                             "Options of a Runtime; defaults are the C++ struct's (yolocls/runtime.hpp documents "
                             "each). cuda_graph and cuda_preprocess apply to TensorRT, precision and device to "
                             "OpenVINO.")
      .def(py::init([](BackendKind backend, const std::string& device, int device_id, int threads,
                       int preprocess_threads, int num_requests, int streams, int max_batch, bool cuda_graph, bool cuda_preprocess,
                       Precision precision) {
             RuntimeOptions o;
             o.backend = backend;
             o.device = device;
             o.device_id = device_id;
             o.threads = threads;
             o.preprocess_threads = preprocess_threads;
             o.num_requests = num_requests;
             o.streams = streams;
             o.max_batch = max_batch;
             o.cuda_graph = cuda_graph;
             o.cuda_preprocess = cuda_preprocess;
             o.precision = precision;
             return o;
           }),
           py::kw_only(), py::arg_v("backend", ro_defaults.backend, "Backend.AUTO"),
           py::arg("device") = ro_defaults.device,
           py::arg("device_id") = ro_defaults.device_id, py::arg("threads") = ro_defaults.threads,
           py::arg("preprocess_threads") = ro_defaults.preprocess_threads,
           py::arg("num_requests") = ro_defaults.num_requests, py::arg("streams") = ro_defaults.streams,
           py::arg("max_batch") = ro_defaults.max_batch,
           py::arg("cuda_graph") = ro_defaults.cuda_graph, py::arg("cuda_preprocess") = ro_defaults.cuda_preprocess,
           py::arg_v("precision", ro_defaults.precision, "Precision.F32"))
      .def_readwrite("backend", &RuntimeOptions::backend)
      .def_readwrite("device", &RuntimeOptions::device)
      .def_readwrite("device_id", &RuntimeOptions::device_id)
      .def_readwrite("threads", &RuntimeOptions::threads)
      .def_readwrite("preprocess_threads", &RuntimeOptions::preprocess_threads)
      .def_readwrite("num_requests", &RuntimeOptions::num_requests)
      .def_readwrite("streams", &RuntimeOptions::streams)
      .def_readwrite("max_batch", &RuntimeOptions::max_batch)
      .def_readwrite("cuda_graph", &RuntimeOptions::cuda_graph)
      .def_readwrite("cuda_preprocess", &RuntimeOptions::cuda_preprocess)
      .def_readwrite("precision", &RuntimeOptions::precision);

  // ------------------------------------------------------------------------------------------------ build
  m.def("build_info", [] {
    const BuildInfo b = build_info();
    py::dict d;
    d["version"] = b.version;
    d["cuda"] = b.cuda;
    d["openvino"] = b.openvino;
    d["tensorrt"] = b.tensorrt;
    d["cuda_version"] = str_or_none(b.cuda_version);
    d["openvino_version"] = str_or_none(b.openvino_version);
    d["tensorrt_version"] = str_or_none(b.tensorrt_version);
    d["openvino_error"] = str_or_none(b.openvino_error);
    d["tensorrt_error"] = str_or_none(b.tensorrt_error);
    d["compiler"] = b.compiler;
    d["cuda_devices"] = cuda_device_count();
    d["plugin_dir"] = b.plugin_dir;
    return d;
  }, "Components of this build: a backend's flag says its module was built, its version is the engine library "
     "loaded here (None with *_error saying why when the module cannot load).");

  m.def("backend_status", [](const std::string& name) {
    const BackendStatus st = backend_status(name);
    py::dict d;
    d["name"] = st.name;
    d["built"] = st.built;
    d["loadable"] = st.loadable;
    d["version"] = str_or_none(st.version);
    d["error"] = str_or_none(st.error);
    d["path"] = st.path;
    return d;
  }, py::arg("name"),
     "Whether backend `name` (openvino, tensorrt) was built and loads here; loads its module on first call.");

  m.def("add_library_dir", &add_library_dir, py::arg("dir"),
        "Add a folder searched for a backend module's engine libraries (e.g. OpenVINO's lib folder).");
  register_wheel_library_dirs();

  // ------------------------------------------------------------------------------------------------ preprocessing
  m.def(
      "preprocess",
      [](py::handle images, const PreprocessConfig& config, bool bgr, DType dtype, py::object out) {
        return run_preprocess(nullptr, images, config, bgr, dtype, out);
      },
      py::arg("images"), py::arg("config"), py::arg("bgr") = true, py::arg_v("dtype", DType::Float32, "DType.FLOAT32"),
      py::arg("out") = py::none(),
      "Spec'd preprocessing (the result of yolocls' NumPy reference to 1e-5), single-threaded.\n"
      "images: uint8 HxWx3 array or list (BGR when bgr); returns [N, 3, imgsz, imgsz] of dtype (or fills `out`).");

  py::class_<Preprocessor>(m, "Preprocessor", "Preprocessing with a persistent pool of `threads` (incl. caller).")
      .def(py::init<int>(), py::arg("threads") = 1)
      .def_property_readonly("threads", &Preprocessor::threads)
      .def(
          "__call__",
          [](const Preprocessor& self, py::handle images, const PreprocessConfig& config, bool bgr, DType dtype,
             py::object out) { return run_preprocess(&self, images, config, bgr, dtype, out); },
          py::arg("images"), py::arg("config"), py::arg("bgr") = true,
          py::arg_v("dtype", DType::Float32, "DType.FLOAT32"),
          py::arg("out") = py::none());

  m.def(
      "preprocess_cuda",
      [](uintptr_t src, int height, int width, int64_t row_stride, uintptr_t dst, const PreprocessConfig& config,
         bool bgr, DType dtype, uintptr_t stream) {
        ImageView v;
        v.data = reinterpret_cast<const uint8_t*>(src);
        v.height = height;
        v.width = width;
        v.row_stride = row_stride;
        v.order = bgr ? ChannelOrder::BGR : ChannelOrder::RGB;
        py::gil_scoped_release nogil;
        preprocess_cuda(v, config, reinterpret_cast<void*>(dst), dtype, reinterpret_cast<void*>(stream));
      },
      py::arg("src_ptr"), py::arg("height"), py::arg("width"), py::arg("row_stride"), py::arg("dst_ptr"),
      py::arg_v("config", PreprocessConfig{}, "PreprocessConfig()"), py::arg("bgr") = true,
      py::arg_v("dtype", DType::Float32, "DType.FLOAT32"),
      py::arg("stream") = 0,
      "CUDA preprocessing of one device uint8 image (pointer, rows `row_stride` bytes apart) into a device buffer of\n"
      "3*imgsz*imgsz float32/float16 at dst_ptr, enqueued on `stream` (cudaStream_t as int; 0 = default stream).\n"
      "Not synchronised. Raises _C.Unavailable without CUDA/GPU.");

  m.def(
      "preprocess_cuda_frames",
      [](py::handle images, uintptr_t dst, const PreprocessConfig& config, bool bgr, DType dtype, uintptr_t stream) {
        Images im = gather(images, bgr);
        py::gil_scoped_release nogil;
        preprocess_cuda_frames(im.views.data(), im.views.size(), config, reinterpret_cast<void*>(dst), dtype,
                               reinterpret_cast<void*>(stream));
      },
      py::arg("images"), py::arg("dst_ptr"), py::arg_v("config", PreprocessConfig{}, "PreprocessConfig()"),
      py::arg("bgr") = true,
      py::arg_v("dtype", DType::Float32, "DType.FLOAT32"), py::arg("stream") = 0,
      "CUDA preprocessing of host uint8 HxWx3 image(s) (what Runtime does for TensorRT): uploads the region each\n"
      "image reads, runs the kernel into the device buffer at dst_ptr (N*3*imgsz*imgsz float32/float16) on\n"
      "`stream` and synchronises it. Raises _C.Unavailable without CUDA/GPU.");

  // ------------------------------------------------------------------------------------------------ metadata
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

  // ------------------------------------------------------------------------------------------------ postprocessing
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
                        "several threads at once (options.num_requests concurrent inferences).")
      .def(py::init([](const std::string& path, std::optional<PreprocessConfig> preprocess,
                       const RuntimeOptions& options) {
             auto p = std::make_unique<PyRuntime>();
             py::gil_scoped_release nogil;
             p->rt = preprocess ? std::make_unique<Runtime>(path, *preprocess, options)
                                : std::make_unique<Runtime>(path, options);
             return p;
           }),
           py::arg("model_path"), py::arg("preprocess") = py::none(),
           py::arg_v("options", RuntimeOptions{}, "RuntimeOptions()"),
           "preprocess: the PreprocessConfig to use; None reads the model's metadata (<model>.json sidecar or ONNX\n"
           "metadata_props), class names included.")
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
