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

[[noreturn]] void bad(const std::string& what) { throw Error("malformed yolocls metadata: " + what); }

double number(const json::Value& v, const char* key) {
  if (v.type != json::Value::Type::Number) bad(std::string(key) + " must be a number");
  return v.number;
}

void three(const json::Value* v, const char* key, float out[3]) {
  if (!v) return;
  if (v->type != json::Value::Type::Array || v->array.size() != 3) bad(std::string(key) + " must be 3 numbers");
  for (int k = 0; k < 3; ++k) out[k] = static_cast<float>(number(v->array[k], key));
}

}  // namespace

ModelMetadata parse_metadata(const std::string& text) {
  const json::Value root = json::parse(text);
  if (!root.is_object()) bad("not a JSON object");
  ModelMetadata md;
  md.json = text;
  if (const json::Value* task = root.find("task")) {
    if (task->type == json::Value::Type::String && task->string != "classify") {
      throw Error("model metadata is for task '" + task->string + "'; yolocls only runs classifiers");
    }
  }
  const json::Value* names = root.find("names");
  if (!names) bad("no 'names'");
  if (names->type == json::Value::Type::Array) {
    for (const auto& n : names->array) {
      if (n.type != json::Value::Type::String) bad("names must be strings");
      md.names.push_back(n.string);
    }
  } else if (names->is_object()) {  // {"0": "cat", ...}
    std::vector<std::pair<long, std::string>> items;
    for (const auto& kv : names->object) {
      if (kv.second.type != json::Value::Type::String) bad("names must be strings");
      items.emplace_back(std::stol(kv.first), kv.second.string);
    }
    std::sort(items.begin(), items.end());
    for (auto& it : items) md.names.push_back(std::move(it.second));
  } else {
    bad("names must be a list");
  }
  const json::Value* imgsz = root.find("imgsz");
  if (!imgsz) bad("no 'imgsz'");
  if (imgsz->type == json::Value::Type::Array) {
    if (imgsz->array.empty()) bad("empty imgsz");
    md.preprocess.imgsz = static_cast<int>(number(imgsz->array[0], "imgsz"));
  } else {
    md.preprocess.imgsz = static_cast<int>(number(*imgsz, "imgsz"));
  }
  if (const json::Value* m = root.find("model"); m && m->type == json::Value::Type::String) md.model = m->string;
  if (const json::Value* pp = root.find("preprocess"); pp && pp->is_object()) {
    PreprocessConfig& c = md.preprocess;
    if (const json::Value* v = pp->find("crop")) {
      if (v->string == "center") c.crop = Crop::Center;
      else if (v->string == "stretch") c.crop = Crop::Stretch;
      else if (v->string == "letterbox") c.crop = Crop::Letterbox;
      else bad("unknown crop '" + v->string + "'");
    }
    three(pp->find("mean"), "mean", c.mean);
    three(pp->find("std"), "std", c.std);
    if (const json::Value* v = pp->find("scale")) c.scale = static_cast<float>(number(*v, "scale"));
    if (const json::Value* v = pp->find("pad_value")) c.pad_value = static_cast<int>(number(*v, "pad_value"));
    if (const json::Value* v = pp->find("channel_order")) {
      if (v->string == "RGB") c.channel_order = ChannelOrder::RGB;
      else if (v->string == "BGR") c.channel_order = ChannelOrder::BGR;
      else bad("unknown channel_order '" + v->string + "'");
    }
  }
  try {
    md.preprocess.validate();
  } catch (const InvalidArgument& e) {
    bad(e.what());
  }
  return md;
}

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
    const std::map<std::string, std::string> props = detail::read_onnx_metadata_props(model_path);
    const auto it = props.find("yolocls");
    if (it == props.end()) {
      throw Error(model_path + " has no yolocls metadata; export it with `yolocls export`");
    }
    return parse_metadata(it->second);
  }
  throw Error("no metadata for " + model_path + ": expected " + model_path +
              ".json (or an .onnx with yolocls metadata)");
}

}  // namespace yolocls
