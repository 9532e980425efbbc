// Run-time loading of the backend modules (see plugin.hpp).
#include "backends/plugin.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "yolocls/config.hpp"
#include "yolocls/error.hpp"

namespace yolocls {
namespace plugins {
namespace {

struct Known {
  const char* name;
  const char* title;
  const char* file;
  bool built;
  const char* how_to_get;
};

const Known kKnown[] = {
    {"openvino", "OpenVINO", "libyolocls_openvino.so", YOLOCLS_WITH_OPENVINO != 0,
     "pip install 'yolocls[openvino]' (OpenVINO " YOLOCLS_OPENVINO_BUILD_VERSION
     "), or put the lib folder of that OpenVINO release on LD_LIBRARY_PATH"},
    {"tensorrt", "TensorRT", "libyolocls_tensorrt.so", YOLOCLS_WITH_TENSORRT != 0,
     "install TensorRT " YOLOCLS_TENSORRT_BUILD_MAJOR ".x (JetPack ships it; on x86 NVIDIA's TensorRT packages or "
     "`pip install tensorrt-cu12`) with a CUDA driver, and put its lib folder on LD_LIBRARY_PATH"},
};

const Known& known(const std::string& name) {
  for (const Known& k : kKnown) {
    if (name == k.name) return k;
  }
  throw InvalidArgument("unknown backend '" + name + "' (expected openvino or tensorrt)");
}

struct Loaded {
  const BackendPlugin* plugin = nullptr;
  std::string error;
  std::string path;
};

std::mutex& mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, Loaded>& cache() {
  static std::map<std::string, Loaded> c;
  return c;
}
std::vector<std::string>& extra_dirs() {
  static std::vector<std::string> d;
  return d;
}

bool is_file(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string last_dlerror() {
  const char* e = dlerror();
  return e ? e : "unknown dlopen error";
}

// "libopenvino.so.2641: cannot open shared object file: ..." -> "libopenvino.so.2641" (empty when not that error).
std::string missing_library(const std::string& err, const std::string& module_path) {
  const std::string marker = ": cannot open shared object file";
  const size_t end = err.find(marker);
  if (end == std::string::npos) return "";
  size_t begin = err.rfind(": ", end == 0 ? 0 : end - 1);
  begin = begin == std::string::npos ? 0 : begin + 2;
  std::string lib = err.substr(begin, end - begin);
  if (lib == module_path || lib.find('/') != std::string::npos) return "";
  return lib;
}

// dlopen the module; when the loader cannot find one of its engine libraries, look for that library in the extra
// folders, load it from there (its soname then satisfies the module's dependency) and try again.
void* open_module(const std::string& path, std::string* missing, std::string* error) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    *error = last_dlerror();
    const std::string lib = missing_library(*error, path);
    if (lib.empty()) return nullptr;
    *missing = lib;
    bool preloaded = false;
    for (const std::string& dir : extra_dirs()) {
      const std::string candidate = dir + "/" + lib;
      if (!is_file(candidate)) continue;
      if (dlopen(candidate.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
        preloaded = true;
        break;
      }
      // The engine library itself misses something: report that one.
      *error = last_dlerror();
      const std::string deeper = missing_library(*error, candidate);
      if (!deeper.empty()) *missing = deeper;
      return nullptr;
    }
    if (!preloaded) return nullptr;
  }
  return nullptr;
}

Loaded load(const Known& k) {
  Loaded out;
  out.path = plugin_dir() + "/" + k.file;
  if (!k.built) {
    out.error = std::string("this yolocls build has no ") + k.title + " backend (rebuild yolocls where " + k.title +
                " is installed)";
    return out;
  }
  if (!is_file(out.path)) {
    out.error = std::string("the ") + k.title + " backend module " + out.path +
                " is missing (reinstall yolocls, or set YOLOCLS_PLUGIN_DIR to the folder that holds it)";
    return out;
  }
  std::string missing, error;
  void* h = open_module(out.path, &missing, &error);
  if (!h) {
    if (!missing.empty()) {
      out.error = std::string("the ") + k.title + " backend needs " + missing + ", which was not found: " +
                  k.how_to_get;
    } else {
      out.error = std::string("cannot load the ") + k.title + " backend module: " + error;
    }
    return out;
  }
  auto entry = reinterpret_cast<PluginEntryFn>(dlsym(h, YOLOCLS_PLUGIN_ENTRY_NAME));
  const BackendPlugin* p = entry ? entry() : nullptr;
  if (!p) {
    out.error = out.path + " is not a yolocls backend module (no " YOLOCLS_PLUGIN_ENTRY_NAME ")";
  } else if (p->abi != kPluginAbi || std::strcmp(p->runtime_version, YOLOCLS_VERSION) != 0 ||
             std::strcmp(p->name, k.name) != 0) {
    out.error = out.path + " comes from another yolocls build (" + p->runtime_version + ", abi " +
                std::to_string(p->abi) + "; this runtime is " YOLOCLS_VERSION ", abi " + std::to_string(kPluginAbi) +
                "): reinstall yolocls";
  } else {
    out.plugin = p;
    return out;
  }
  // Never dlclose: a module may have registered things with its engine (and it is cheap to keep).
  return out;
}

Loaded load_cached(const Known& k) {
  std::lock_guard<std::mutex> lock(mutex());
  auto it = cache().find(k.name);
  if (it == cache().end()) it = cache().emplace(k.name, load(k)).first;
  return it->second;
}

}  // namespace

const BackendPlugin& get(const std::string& name) {
  const Loaded l = load_cached(known(name));
  if (!l.plugin) throw Unavailable(l.error);
  return *l.plugin;
}

}  // namespace plugins

std::string plugin_dir() {
  if (const char* env = std::getenv("YOLOCLS_PLUGIN_DIR"); env && *env) return env;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&plugin_dir), &info) && info.dli_fname) {
    std::string self = info.dli_fname;
    const size_t slash = self.rfind('/');
    if (slash != std::string::npos) return self.substr(0, slash);
  }
  return ".";
}

BackendStatus backend_status(const std::string& name) {
  using namespace plugins;
  const Known& k = known(name);
  BackendStatus s;
  s.name = k.name;
  s.built = k.built;
  const Loaded l = load_cached(k);
  s.path = l.path;
  s.loadable = l.plugin != nullptr;
  s.error = l.error;
  if (l.plugin) {
    try {
      s.version = l.plugin->engine_version();
    } catch (const std::exception& e) {
      s.version = std::string("unknown (") + e.what() + ")";
    }
  }
  return s;
}

void add_library_dir(const std::string& dir) {
  using namespace plugins;
  if (dir.empty()) return;
  std::lock_guard<std::mutex> lock(mutex());
  for (const std::string& d : extra_dirs()) {
    if (d == dir) return;
  }
  extra_dirs().push_back(dir);
  // A backend that failed for want of a library may load now.
  for (auto it = cache().begin(); it != cache().end();) {
    it = it->second.plugin ? std::next(it) : cache().erase(it);
  }
}

}  // namespace yolocls
