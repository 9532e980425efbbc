# FindTensorRT
# ------------
# Finds the TensorRT runtime (headers + libnvinfer). The ONNX parser is not needed at runtime (engines are built by
# `yolocls build-engine` with TensorRT's Python API), so it is only reported when present.
#
# Search order: TensorRT_ROOT (CMake variable or environment), TENSORRT_ROOT / TRT_ROOT environment, then the
# system paths used by NVIDIA's packages (/usr/include/<arch>-linux-gnu and /usr/lib/<arch>-linux-gnu on Debian,
# Ubuntu and JetPack; /usr/local/tensorrt and /opt/tensorrt for the tar/zip packages).
#
# Result variables:
#   TensorRT_FOUND, TensorRT_VERSION (e.g. 10.3.0), TensorRT_VERSION_MAJOR/MINOR/PATCH,
#   TensorRT_INCLUDE_DIRS, TensorRT_LIBRARIES, TensorRT_nvonnxparser_LIBRARY (optional)
# Imported targets:
#   TensorRT::nvinfer   - libnvinfer with its include directory
#   TensorRT::TensorRT  - what the yolocls runtime links (nvinfer + headers)
#   TensorRT::nvonnxparser - when the parser library exists

include(FindPackageHandleStandardArgs)

set(_trt_hints)
foreach(_v TensorRT_ROOT TENSORRT_ROOT TRT_ROOT)
  if(DEFINED ${_v} AND NOT "${${_v}}" STREQUAL "")
    list(APPEND _trt_hints "${${_v}}")
  endif()
  if(DEFINED ENV{${_v}} AND NOT "$ENV{${_v}}" STREQUAL "")
    list(APPEND _trt_hints "$ENV{${_v}}")
  endif()
endforeach()
list(APPEND _trt_hints /usr/local/tensorrt /opt/tensorrt)

find_path(TensorRT_INCLUDE_DIR
  NAMES NvInfer.h NvInferVersion.h
  HINTS ${_trt_hints}
  PATH_SUFFIXES include include/${CMAKE_LIBRARY_ARCHITECTURE} include/x86_64-linux-gnu include/aarch64-linux-gnu
  DOC "Folder holding NvInfer.h and NvInferVersion.h")

find_library(TensorRT_nvinfer_LIBRARY
  NAMES nvinfer nvinfer_10 nvinfer_11
  HINTS ${_trt_hints}
  PATH_SUFFIXES lib lib64 lib/${CMAKE_LIBRARY_ARCHITECTURE} lib/x86_64-linux-gnu lib/aarch64-linux-gnu
                targets/x86_64-linux/lib targets/aarch64-linux/lib
  DOC "libnvinfer")

find_library(TensorRT_nvonnxparser_LIBRARY
  NAMES nvonnxparser nvonnxparser_10 nvonnxparser_11
  HINTS ${_trt_hints}
  PATH_SUFFIXES lib lib64 lib/${CMAKE_LIBRARY_ARCHITECTURE} lib/x86_64-linux-gnu lib/aarch64-linux-gnu
                targets/x86_64-linux/lib targets/aarch64-linux/lib
  DOC "libnvonnxparser (optional: not used by the runtime)")

# Version from NvInferVersion.h. Two layouts exist: `#define NV_TENSORRT_MAJOR 10` (8.x, early 10.x) and, from
# 10.x on, `#define NV_TENSORRT_MAJOR TRT_MAJOR_ENTERPRISE` with `#define TRT_MAJOR_ENTERPRISE 10` on another line.
function(_tensorrt_version_part header part out)
  file(STRINGS "${header}" _line REGEX "^#define[ \t]+NV_TENSORRT_${part}[ \t]+")
  string(REGEX REPLACE "^#define[ \t]+NV_TENSORRT_${part}[ \t]+([A-Za-z0-9_]+).*$" "\\1" _tok "${_line}")
  if(NOT _tok MATCHES "^[0-9]+$" AND NOT "${_tok}" STREQUAL "")
    file(STRINGS "${header}" _ind REGEX "^#define[ \t]+${_tok}[ \t]+[0-9]+")
    string(REGEX REPLACE "^#define[ \t]+${_tok}[ \t]+([0-9]+).*$" "\\1" _tok "${_ind}")
  endif()
  set(${out} "${_tok}" PARENT_SCOPE)
endfunction()

if(TensorRT_INCLUDE_DIR AND EXISTS "${TensorRT_INCLUDE_DIR}/NvInferVersion.h")
  _tensorrt_version_part("${TensorRT_INCLUDE_DIR}/NvInferVersion.h" MAJOR TensorRT_VERSION_MAJOR)
  _tensorrt_version_part("${TensorRT_INCLUDE_DIR}/NvInferVersion.h" MINOR TensorRT_VERSION_MINOR)
  _tensorrt_version_part("${TensorRT_INCLUDE_DIR}/NvInferVersion.h" PATCH TensorRT_VERSION_PATCH)
  if(TensorRT_VERSION_MAJOR MATCHES "^[0-9]+$" AND TensorRT_VERSION_MINOR MATCHES "^[0-9]+$")
    set(TensorRT_VERSION "${TensorRT_VERSION_MAJOR}.${TensorRT_VERSION_MINOR}.${TensorRT_VERSION_PATCH}")
  endif()
endif()

find_package_handle_standard_args(TensorRT
  REQUIRED_VARS TensorRT_nvinfer_LIBRARY TensorRT_INCLUDE_DIR TensorRT_VERSION
  VERSION_VAR TensorRT_VERSION)

if(TensorRT_FOUND AND TensorRT_VERSION VERSION_LESS 8.5)
  message(STATUS "TensorRT ${TensorRT_VERSION} at ${TensorRT_INCLUDE_DIR} is older than 8.5 (no enqueueV3): ignored")
  set(TensorRT_FOUND FALSE)
endif()

if(TensorRT_FOUND)
  set(TensorRT_INCLUDE_DIRS "${TensorRT_INCLUDE_DIR}")
  set(TensorRT_LIBRARIES "${TensorRT_nvinfer_LIBRARY}")
  if(NOT TARGET TensorRT::nvinfer)
    add_library(TensorRT::nvinfer UNKNOWN IMPORTED)
    set_target_properties(TensorRT::nvinfer PROPERTIES
      IMPORTED_LOCATION "${TensorRT_nvinfer_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${TensorRT_INCLUDE_DIR}")
  endif()
  if(NOT TARGET TensorRT::TensorRT)
    add_library(TensorRT::TensorRT INTERFACE IMPORTED)
    set_target_properties(TensorRT::TensorRT PROPERTIES INTERFACE_LINK_LIBRARIES TensorRT::nvinfer)
  endif()
  if(TensorRT_nvonnxparser_LIBRARY AND NOT TARGET TensorRT::nvonnxparser)
    add_library(TensorRT::nvonnxparser UNKNOWN IMPORTED)
    set_target_properties(TensorRT::nvonnxparser PROPERTIES
      IMPORTED_LOCATION "${TensorRT_nvonnxparser_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${TensorRT_INCLUDE_DIR}")
  endif()
endif()

mark_as_advanced(TensorRT_INCLUDE_DIR TensorRT_nvinfer_LIBRARY TensorRT_nvonnxparser_LIBRARY)
