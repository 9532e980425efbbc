// Reads an ONNX file's metadata_props without an ONNX library: a bounded scan of the ModelProto's top-level
// protobuf fields that seeks past the graph (weights are never read). Used by read_metadata(), so the runtime
// library needs no inference engine to learn a model's class names and preprocessing.
#pragma once

#include <map>
#include <string>

namespace yolocls {
namespace detail {

// Largest metadata value read (bytes); a larger one is refused as malformed.
constexpr size_t kMaxOnnxPropBytes = 16u << 20;
// Most metadata_props entries read.
constexpr size_t kMaxOnnxProps = 4096;

// key -> value of ModelProto.metadata_props (field 14). Throws yolocls::Error naming the file when it cannot be
// read or is not a well-formed protobuf at the top level.
std::map<std::string, std::string> read_onnx_metadata_props(const std::string& path);

}  // namespace detail
}  // namespace yolocls
