// The yolocls model metadata (JSON in ONNX metadata_props "yolocls", or the engine sidecar <engine>.json).
#pragma once

#include <string>
#include <vector>

#include "yolocls/export.hpp"
#include "yolocls/preprocess.hpp"

namespace yolocls {

struct ModelMetadata {
  std::vector<std::string> names;  // indexed by class id
  PreprocessConfig preprocess;
  std::string model;               // e.g. "yolov5n-cls"
  bool output_probs = false;       // "output": "probs": softmax is inside the graph (else logits)
  std::string json;                // the raw JSON text
};

// Parse the metadata JSON (names as a list or {"0": ...} object, imgsz as an int or [h, w], the preprocess block).
// Throws Error naming the problem.
YOLOCLS_API ModelMetadata parse_metadata(const std::string& json);

// Read a model's metadata: "<model>.json" beside the model when it exists (TensorRT engines), else for .onnx the
// "yolocls" metadata_props entry (read by the runtime itself, no ONNX library). Throws Error when none.
YOLOCLS_API ModelMetadata read_metadata(const std::string& model_path);

}  // namespace yolocls
