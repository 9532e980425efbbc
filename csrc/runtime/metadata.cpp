#include "yolocls/metadata.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <fstream>
#include <sstream>
#include <utility>

#include "runtime/json.hpp"
#include "runtime/onnx_reader.hpp"
#include "yolocls/error.hpp"


namespace yolocls {

namespace {

// Limits shared with the Python reader (yolocls/spec/metadata.py), defined once in runtime/onnx_reader.hpp.
using detail::kMaxClasses;
using detail::kMaxImgsz;
using detail::kMaxMetadataBytes;
using detail::kMaxNameChars;

[[noreturn]] void bad(const std::string& what) { throw Error("malformed yolocls metadata: " + what); }

double number(const json::Value& v, const char* key) {
  if (v.type != json::Value::Type::Number) bad(std::string(key) + " must be a number");
  if (!((v.number - v.number) == 0.0)) bad(std::string(key) + " must be a finite number");
  return v.number;
}

// A float field: finite and within float's range (casting a larger double to float is undefined behaviour).
float real(const json::Value& v, const char* key) {
  const double d = number(v, key);
  if (d > 3.4e38 || d < -3.4e38) bad(std::string(key) + " is out of range");
  return static_cast<float>(d);
}

// An integer field in [lo, hi], range-checked before the cast.
int integer(const json::Value& v, const char* key, int lo, int hi) {
  if (v.type != json::Value::Type::Number || !(v.number >= lo && v.number <= hi) ||
      static_cast<double>(static_cast<int>(v.number)) != v.number) {
    bad(std::string(key) + " must be an integer from " + std::to_string(lo) + " to " + std::to_string(hi));
  }
  return static_cast<int>(v.number);
}

const std::string& text(const json::Value& v, const char* key) {
  if (v.type != json::Value::Type::String) bad(std::string(key) + " must be a string");
  return v.string;
}

void three(const json::Value* v, const char* key, float out[3]) {
  if (!v) return;
  if (v->type != json::Value::Type::Array || v->array.size() != 3) bad(std::string(key) + " must be 3 numbers");
  for (int k = 0; k < 3; ++k) out[k] = real(v->array[k], key);
}

size_t code_points(const std::string& s) {  // the JSON reader guarantees valid UTF-8
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

const std::string& class_name(const json::Value& v) {
  if (v.type != json::Value::Type::String || code_points(v.string) > kMaxNameChars) {
    bad("each class name must be a string of at most " + std::to_string(kMaxNameChars) + " characters");
  }
  return v.string;
}

// A names key: a class id of at most 6 decimal digits (no sign, no spaces), so no conversion can throw.
long class_id(const std::string& key) {
  if (key.empty() || key.size() > 6) bad("names keys must be class ids from 0 to 999999");
  long id = 0;
  for (const char c : key) {
    if (c < '0' || c > '9') bad("names keys must be class ids from 0 to 999999");
    id = id * 10 + (c - '0');
  }
  return id;
}

int image_side(const json::Value& v) {
  const std::string what = "imgsz must be an integer from 1 to " + std::to_string(kMaxImgsz) +
                           " (or a list [h, w] of two equal ones)";
  if (v.type == json::Value::Type::Array) {
    if (v.array.empty() || v.array.size() > 2) bad(what);
    const int h = integer(v.array[0], "imgsz", 1, kMaxImgsz);
    if (v.array.size() == 2 && integer(v.array[1], "imgsz", 1, kMaxImgsz) != h) bad(what);
    return h;
  }
  if (v.type != json::Value::Type::Number) bad(what);
  return integer(v, "imgsz", 1, kMaxImgsz);
}

}  // namespace

ModelMetadata parse_metadata(const std::string& text_) {
  if (text_.size() > kMaxMetadataBytes) {
    bad("the JSON is " + std::to_string(text_.size()) + " bytes, over the limit of " +
        std::to_string(kMaxMetadataBytes));
  }
  const json::Value root = json::parse(text_);
  if (!root.is_object()) bad("not a JSON object");
  ModelMetadata md;
  md.json = text_;
  if (const json::Value* task = root.find("task")) {
    if (task->type != json::Value::Type::String || task->string != "classify") {
      throw Error("model metadata is for task '" +
                  (task->type == json::Value::Type::String ? task->string.substr(0, 40) : std::string("?")) +
                  "'; yolocls only runs classifiers");
    }
  }
  const json::Value* names = root.find("names");
  if (!names) bad("no 'names'");
  if (names->type == json::Value::Type::Array) {
    if (names->array.size() > kMaxClasses) bad("more than " + std::to_string(kMaxClasses) + " names");
    for (const auto& n : names->array) md.names.push_back(class_name(n));
  } else if (names->is_object()) {  // {"0": "cat", ...}
    if (names->object.size() > kMaxClasses) bad("more than " + std::to_string(kMaxClasses) + " names");
    std::map<long, std::string> items;
    for (const auto& kv : names->object) {
      if (!items.emplace(class_id(kv.first), class_name(kv.second)).second) bad("names keys must be unique ids");
    }
    for (auto& it : items) md.names.push_back(std::move(it.second));
  } else {
    bad("names must be a list of strings or an {id: name} object");
  }
  const json::Value* imgsz = root.find("imgsz");
  if (!imgsz) bad("no 'imgsz'");
  md.preprocess.imgsz = image_side(*imgsz);
  if (const json::Value* s = root.find("stride")) integer(*s, "stride", 1, kMaxImgsz);
  if (const json::Value* m = root.find("model")) md.model = text(*m, "model");
  if (const json::Value* o = root.find("output")) {
    const std::string& kind = text(*o, "output");
    if (kind != "logits" && kind != "probs") bad("output must be \"logits\" or \"probs\"");
    md.output_probs = kind == "probs";
  }
  if (const json::Value* pp = root.find("preprocess")) {
    if (!pp->is_object()) bad("preprocess must be an object");
    PreprocessConfig& c = md.preprocess;
    try {  // the one string -> enum parser (yolocls/preprocess.hpp); its message names the value and the choices
      if (const json::Value* v = pp->find("crop")) c.crop = parse_crop(text(*v, "crop"));
      if (const json::Value* v = pp->find("channel_order")) {
        c.channel_order = parse_channel_order(text(*v, "channel_order"));
      }
    } catch (const InvalidArgument& e) {
      bad(e.what());
    }
    three(pp->find("mean"), "mean", c.mean);
    three(pp->find("std"), "std", c.std);
    if (const json::Value* v = pp->find("scale")) c.scale = real(*v, "scale");
    if (const json::Value* v = pp->find("pad_value")) c.pad_value = integer(*v, "pad_value", 0, 255);
  }
  try {
    md.preprocess.validate();
  } catch (const InvalidArgument& e) {
    bad(e.what());
  }
  return md;
}

namespace {

std::string file_stem(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = name.rfind('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

// Metadata from an ONNX file's props and graph input, read in one pass: our "yolocls" entry, else YOLOv5's own
// ("names" as str(dict), image size from the static input shape, YOLOv5's classify preprocessing: centre crop,
// ImageNet mean/std, RGB = PreprocessConfig's defaults). Either way checked against the input: [N, 3, S, S].
ModelMetadata onnx_metadata(const detail::OnnxInfo& info, const std::string& path) {
  const detail::OnnxValueInfo* input = info.inputs.size() == 1 ? &info.inputs[0] : nullptr;
  if (input && input->has_shape && input->dims.size() != 4) {
    throw Error(path + ": input has " + std::to_string(input->dims.size()) + " dims; a classifier takes [N, 3, H, W]");
  }
  const bool shaped = input && input->has_shape;
  const int64_t c = shaped ? input->dims[1] : -1, h = shaped ? input->dims[2] : -1, w = shaped ? input->dims[3] : -1;
  if (c > 0 && c != 3) {
    throw Error(path + ": input has " + std::to_string(c) + " channels; a classifier takes 3 (RGB/BGR) images");
  }
  ModelMetadata md;
  const auto ours = info.props.find("yolocls");
  const auto names = info.props.find("names");
  if (ours != info.props.end()) {
    try {
      md = parse_metadata(ours->second);
    } catch (const Error& e) {
      throw Error(path + ": " + e.what() + "; re-export the model");
    }
  } else if (names != info.props.end()) {
    try {
      md.names = detail::parse_yolov5_names(names->second);
    } catch (const Error& e) {
      throw Error(path + ": " + e.what() + "; pass the class names explicitly");
    }
    const int64_t side = h > 0 ? h : 224;  // as the Python reader: a dynamic height takes YOLOv5's default
    if (side > kMaxImgsz) {
      throw Error(path + ": input side " + std::to_string(side) + " is over the limit of " +
                  std::to_string(kMaxImgsz) + " pixels");
    }
    md.preprocess.imgsz = static_cast<int>(side);
    md.model = file_stem(path);
  } else {
    throw Error(path + " has no yolocls metadata (not made by `yolocls export`, and no YOLOv5 'names' entry); "
                "re-export it with `yolocls export`, or pass the preprocessing and names yourself");
  }
  if ((h > 0 && h != md.preprocess.imgsz) || (w > 0 && w != md.preprocess.imgsz)) {
    throw Error(path + ": metadata says imgsz " + std::to_string(md.preprocess.imgsz) + " but the model input is [" +
                std::to_string(h) + ", " + std::to_string(w) + "]; re-export the model");
  }
  return md;
}

}  // namespace

ModelMetadata read_metadata(const std::string& model_path) {
  std::ifstream sidecar(model_path + ".json");
  if (sidecar) {
    std::stringstream ss;
    ss << sidecar.rdbuf();
    return parse_metadata(ss.str());
  }
  std::string ext = model_path.size() >= 5 ? model_path.substr(model_path.size() - 5) : "";
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (ext == ".onnx") {
    return onnx_metadata(detail::read_onnx_info(model_path), model_path);  // one pass over the file
  }
  throw Error("no metadata for " + model_path + ": expected " + model_path +
              ".json (or an .onnx with yolocls metadata)");
}

}  // namespace yolocls
