// Reads what the runtime needs of an ONNX file without an ONNX library, in one pass over the file: the
// ModelProto's metadata_props and the graph's inputs (name, element type, dims). A bounded scan of the protobuf that
// seeks past everything else (nodes, weights' bytes), so a 500 MB model costs a few reads. read_metadata() uses it
// for both our "yolocls" metadata and YOLOv5's own ("names"/"stride" entries, image size from the static input
// shape). The Python reader (yolocls/spec/onnx.py) reads the same fields with the same limits.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace yolocls {
namespace detail {

// Largest metadata value read (bytes); a larger one is refused as malformed.
constexpr size_t kMaxOnnxPropBytes = 16u << 20;
// Most metadata_props entries read.
constexpr size_t kMaxOnnxProps = 4096;
// Most graph inputs (initializers listed as inputs included) and dims of one input.
constexpr size_t kMaxOnnxGraphInputs = 1024;
constexpr size_t kMaxOnnxRank = 16;
// Longest value name or dim_param read.
constexpr size_t kMaxOnnxNameBytes = 4096;

// One graph input. dims: a fixed size (> 0), or -1 for a symbolic/unknown axis; empty when no shape is recorded.
struct OnnxValueInfo {
  std::string name;
  int elem_type = 0;  // ONNX TensorProto.DataType (1 = float, 10 = float16); 0 = not given
  std::vector<int64_t> dims;
  bool has_shape = false;
};

struct OnnxInfo {
  std::map<std::string, std::string> props;  // ModelProto.metadata_props (field 14), the last entry of a key wins
  std::vector<OnnxValueInfo> inputs;         // GraphProto.input (field 11) minus initializers (old exporters)
};

// Limits on metadata read from files (the same as the Python reader's, yolocls/spec/metadata.py).
constexpr int kMaxImgsz = 4096;                 // image side in pixels
constexpr size_t kMaxClasses = 100000;          // class names
constexpr size_t kMaxNameChars = 1024;          // characters (code points) of one class name
constexpr size_t kMaxMetadataBytes = 16u << 20; // metadata JSON text, or YOLOv5's names text

// YOLOv5's "names" metadata entry: str(dict) ({0: 'cat', 1: "dog's"}, ids sorted) or str(list) of Python string
// literals (escapes \\ \' \" \n \r \t \xHH \uHHHH \UHHHHHHHH and octal decoded to UTF-8). Throws Error
// ("'names' metadata ...") on anything else or over the limits above; mirrors Python's parse_yolov5_names.
std::vector<std::string> parse_yolov5_names(const std::string& text);

// The metadata_props and graph inputs of the ONNX file at `path`, read in one pass. Throws yolocls::Error naming the
// file when it cannot be read, is not a well-formed protobuf where read, or goes over a limit above.
OnnxInfo read_onnx_info(const std::string& path);

// read_onnx_info(path).props.
std::map<std::string, std::string> read_onnx_metadata_props(const std::string& path);

}  // namespace detail
}  // namespace yolocls
