// Exceptions thrown by the yolocls C++ runtime. Nothing in the library calls exit() or abort().
#pragma once

#include <stdexcept>
#include <string>

#include "yolocls/export.hpp"

namespace yolocls {

// Any runtime failure (model file, engine, device, library). Python sees RuntimeError.
class YOLOCLS_API Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// A bad argument from the caller (image shape, dtype, batch, config value). Python sees ValueError.
class YOLOCLS_API InvalidArgument : public Error {
 public:
  explicit InvalidArgument(const std::string& what) : Error(what) {}
};

// A component (CUDA, TensorRT, OpenVINO) that this build does not contain or this machine cannot run.
class YOLOCLS_API Unavailable : public Error {
 public:
  explicit Unavailable(const std::string& what) : Error(what) {}
};

}  // namespace yolocls
