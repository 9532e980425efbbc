// parse_metadata (good and bad JSON), the JSON reader's refusals, and read_metadata's sidecar lookup.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "check.hpp"
#include "runtime/json.hpp"
#include "yolocls/error.hpp"
#include "yolocls/metadata.hpp"

using namespace yolocls;

TEST(full_metadata) {
  const ModelMetadata md = parse_metadata(
      R"({"names": ["cat", "dog", "caf\u00e9"], "imgsz": [96, 96], "stride": 32, "model": "yolov5n-cls",
          "task": "classify", "preprocess": {"crop": "letterbox", "mean": [0.5, 0.25, 0], "std": [1, 2, 4],
          "scale": 0.5, "pad_value": 0, "channel_order": "BGR"}, "extra": {"ignored": [1, null, true]}})");
  CHECK(md.names.size() == 3 && md.names[0] == "cat" && md.names[2] == "caf\xc3\xa9");
  CHECK(md.model == "yolov5n-cls");
  CHECK(md.preprocess.imgsz == 96);
  CHECK(md.preprocess.crop == Crop::Letterbox);
  CHECK(md.preprocess.channel_order == ChannelOrder::BGR);
  CHECK_NEAR(md.preprocess.mean[1], 0.25, 0);
  CHECK_NEAR(md.preprocess.std[2], 4, 0);
  CHECK_NEAR(md.preprocess.scale, 0.5, 0);
  CHECK(md.preprocess.pad_value == 0);
  CHECK(md.json.find("yolov5n-cls") != std::string::npos);
}

TEST(output_kind) {
  CHECK(!parse_metadata(R"({"names": ["a"], "imgsz": 32})").output_probs);
  CHECK(!parse_metadata(R"({"names": ["a"], "imgsz": 32, "output": "logits"})").output_probs);
  CHECK(parse_metadata(R"({"names": ["a"], "imgsz": 32, "output": "probs"})").output_probs);
  CHECK_THROWS(parse_metadata(R"({"names": ["a"], "imgsz": 32, "output": "softmax"})"), Error, "output must be");
  CHECK_THROWS(parse_metadata(R"({"names": ["a"], "imgsz": 32, "output": 1})"), Error, "output must be a string");
}

TEST(defaults_and_names_object) {
  const ModelMetadata md = parse_metadata(R"({"names": {"1": "b", "0": "a", "10": "k"}, "imgsz": 224})");
  CHECK(md.names.size() == 3 && md.names[0] == "a" && md.names[1] == "b" && md.names[2] == "k");
  CHECK(md.preprocess.imgsz == 224 && md.preprocess.crop == Crop::Center);
  CHECK(md.preprocess.channel_order == ChannelOrder::RGB);
  CHECK_NEAR(md.preprocess.mean[0], 0.485f, 0);
  CHECK_NEAR(md.preprocess.scale, 1.0f / 255.0f, 0);
}

TEST(bad_metadata_names_the_problem) {
  struct Bad {
    const char* json;
    const char* needle;
  };
  const Bad cases[] = {
      {"[1, 2]", "not a JSON object"},
      {R"({"imgsz": 224})", "no 'names'"},
      {R"({"names": ["a"]})", "no 'imgsz'"},
      {R"({"names": "a", "imgsz": 224})", "names must be a list"},
      {R"({"names": [1], "imgsz": 224})", "each class name must be a string"},
      {R"({"names": {"-1": "a"}, "imgsz": 224})", "class ids from 0 to 999999"},
      {R"({"names": {"1234567": "a"}, "imgsz": 224})", "class ids from 0 to 999999"},
      {R"({"names": ["a"], "imgsz": 0})", "imgsz must be an integer from 1 to 4096"},
      {R"({"names": ["a"], "imgsz": 22.5})", "imgsz must be an integer"},
      {R"({"names": ["a"], "imgsz": [224, 160]})", "two equal ones"},
      {R"({"names": ["a"], "imgsz": [1, 2, 3]})", "imgsz must be"},
      {R"({"names": ["a"], "imgsz": 224, "task": "detect"})", "task 'detect'"},
      {R"({"names": ["a"], "imgsz": 224, "preprocess": []})", "preprocess must be an object"},
      {R"({"names": ["a"], "imgsz": 224, "preprocess": {"crop": "zoom"}})", "unknown crop 'zoom'"},
      {R"({"names": ["a"], "imgsz": 224, "preprocess": {"mean": [0, 0]}})", "mean must be 3 numbers"},
      {R"({"names": ["a"], "imgsz": 224, "preprocess": {"std": [1, 0, 1]}})", "std"},
      {R"({"names": ["a"], "imgsz": 224, "preprocess": {"scale": 1e39}})", "scale is out of range"},
      {R"({"names": ["a"], "imgsz": 224, "preprocess": {"pad_value": 300}})", "pad_value must be an integer"},
      {R"({"names": ["a"], "imgsz": 224, "preprocess": {"channel_order": "GBR"}})", "unknown channel_order"},
      {R"({"names": ["a"], "imgsz": 224, "model": 5})", "model must be a string"},
  };
  for (const Bad& b : cases) CHECK_THROWS(parse_metadata(b.json), Error, b.needle);
}

TEST(malformed_json_is_refused) {
  const char* cases[] = {"", "{", R"({"a": })", R"({"a": 0x10})", R"({"a": NaN})", R"({"a": "\ud800"})",
                         "{\"a\": \"\xff\"}", R"({"a": 1} trailing)", R"({"a": 01})"};
  for (const char* c : cases) CHECK_THROWS(json::parse(c), Error, "");
  std::string deep(json::kMaxDepth + 1, '[');
  deep += std::string(json::kMaxDepth + 1, ']');
  CHECK_THROWS(json::parse(deep), Error, "");
  std::string ok(json::kMaxDepth, '[');
  ok += std::string(json::kMaxDepth, ']');
  CHECK(json::parse(ok).type == json::Value::Type::Array);
  const json::Value v = json::parse(R"({"s": "a\"b\\c\n\u00e9\ud83d\ude00", "n": -1.5e2, "t": true, "z": null})");
  CHECK(v.find("s")->string == "a\"b\\c\n\xc3\xa9\xf0\x9f\x98\x80");
  CHECK_NEAR(v.find("n")->number, -150, 0);
  CHECK(v.find("t")->boolean && v.find("z")->type == json::Value::Type::Null && v.find("missing") == nullptr);
}

TEST(read_metadata_uses_the_sidecar_and_names_missing_files) {
  char dir[] = "/tmp/yolocls_md_XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  const std::string engine = std::string(dir) + "/m.engine";
  std::ofstream(engine + ".json") << R"({"names": ["x", "y"], "imgsz": 32})";
  const ModelMetadata md = read_metadata(engine);
  CHECK(md.names.size() == 2 && md.preprocess.imgsz == 32);
  CHECK_THROWS(read_metadata(std::string(dir) + "/other.engine"), Error, "no metadata for");
  CHECK_THROWS(read_metadata(std::string(dir) + "/missing.onnx"), Error, "cannot open");
  std::remove((engine + ".json").c_str());
  rmdir(dir);
}
