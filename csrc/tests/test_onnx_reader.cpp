// The runtime's ONNX metadata reader (csrc/runtime/onnx_reader.*) on protobufs written by hand here: a ModelProto
// with a graph and metadata_props, fields in any order, unknown fields skipped, and malformed files refused.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "check.hpp"
#include "runtime/onnx_reader.hpp"
#include "yolocls/error.hpp"
#include "yolocls/metadata.hpp"

using namespace yolocls;

namespace {

std::string varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  s += static_cast<char>(v);
  return s;
}
std::string tag(uint32_t field, uint32_t wire) { return varint((static_cast<uint64_t>(field) << 3) | wire); }
std::string bytes_field(uint32_t field, const std::string& data) { return tag(field, 2) + varint(data.size()) + data; }
std::string entry(const std::string& key, const std::string& value) {
  return bytes_field(14, bytes_field(1, key) + bytes_field(2, value));
}
// ir_version = 8 (varint), producer_name, a graph with a name, then `tail`.
std::string model(const std::string& tail) {
  return tag(1, 0) + varint(8) + bytes_field(2, "yolocls-test") + bytes_field(7, bytes_field(2, "g")) + tail;
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& data) {
    char tmpl[] = "/tmp/yolocls_onnx_XXXXXX";
    const int fd = mkstemp(tmpl);
    if (fd >= 0) close(fd);
    path = std::string(tmpl) + ".onnx";
    std::rename(tmpl, path.c_str());
    std::ofstream(path, std::ios::binary) << data;
  }
  ~TempFile() { std::remove(path.c_str()); }
};

}  // namespace

TEST(reads_metadata_props_and_skips_other_fields) {
  const std::string json = R"({"names": ["a", "b"], "imgsz": 64})";
  // fixed64 (wire 1) and fixed32 (wire 5) unknown fields, an entry field with an unknown sub-field, entries before
  // and after the graph.
  const std::string data = entry("author", "me") +
                           model(tag(20, 1) + std::string(8, '\x01') + tag(21, 5) + std::string(4, '\x02') +
                                 bytes_field(14, tag(3, 0) + varint(5) + bytes_field(1, "yolocls") +
                                                     bytes_field(2, json)));
  TempFile f(data);
  const auto props = detail::read_onnx_metadata_props(f.path);
  CHECK(props.size() == 2);
  CHECK(props.at("author") == "me");
  CHECK(props.at("yolocls") == json);
  const ModelMetadata md = read_metadata(f.path);
  CHECK(md.names.size() == 2 && md.preprocess.imgsz == 64);
}

TEST(large_value_with_multibyte_length) {
  const std::string json = R"({"names": [")" + std::string(300, 'x') + R"("], "imgsz": 8})";
  TempFile f(model(entry("yolocls", json)));
  CHECK(read_metadata(f.path).names.at(0).size() == 300);
}

TEST(model_without_yolocls_entry) {
  TempFile f(model(entry("other", "1")));
  CHECK(detail::read_onnx_metadata_props(f.path).count("yolocls") == 0);
  CHECK_THROWS(read_metadata(f.path), Error, "has no yolocls metadata");
}

TEST(malformed_files_are_refused_with_the_path) {
  const std::string good = model(entry("yolocls", R"({"names": ["a"], "imgsz": 8})"));
  struct Bad {
    std::string data;
    const char* needle;
  };
  const Bad cases[] = {
      {"", "no graph"},
      {entry("yolocls", "{}"), "no graph"},
      {good.substr(0, good.size() - 3), "is not a readable ONNX model"},  // truncated value
      {model(tag(0, 0) + varint(1)), "field number 0"},
      {model(tag(9, 3)), "unknown protobuf wire type 3"},
      {model(tag(14, 2) + varint(1u << 30)), "runs past the end"},
      {model(bytes_field(14, bytes_field(1, "k") + tag(2, 2) + varint(50) + "v")), "runs past"},
      {model(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11)), "is not a readable ONNX model"},
  };
  for (const Bad& b : cases) {
    TempFile f(b.data);
    CHECK_THROWS(detail::read_onnx_metadata_props(f.path), Error, b.needle);
  }
  CHECK_THROWS(detail::read_onnx_metadata_props("/nonexistent/m.onnx"), Error, "cannot open /nonexistent/m.onnx");
}

namespace {

// A graph input: ValueInfoProto { name, type { tensor_type { elem_type = 1 (float), shape { dim... } } } }, a dim
// being a fixed size (> 0) or a dim_param ("batch") for 0.
std::string graph_input(const std::string& name, const std::vector<int64_t>& dims, int elem_type = 1) {
  std::string shape;
  for (const int64_t d : dims) {
    shape += bytes_field(1, d > 0 ? tag(1, 0) + varint(static_cast<uint64_t>(d)) : bytes_field(2, "batch"));
  }
  const std::string tensor = tag(1, 0) + varint(static_cast<uint64_t>(elem_type)) + bytes_field(2, shape);
  return bytes_field(11, bytes_field(1, name) + bytes_field(2, bytes_field(1, tensor)));
}
// A model whose graph holds `graph` (inputs, initializers), then `tail` (metadata entries).
std::string model_with_graph(const std::string& graph, const std::string& tail) {
  return tag(1, 0) + varint(8) + bytes_field(7, bytes_field(2, "g") + graph) + tail;
}
// An initializer (TensorProto) named `name` with 8 bytes of raw data (field 9) the reader must skip.
std::string initializer(const std::string& name) {
  return bytes_field(5, tag(1, 0) + varint(2) + bytes_field(9, std::string(8, '\x07')) + bytes_field(8, name));
}

}  // namespace

TEST(graph_inputs_are_read_in_the_same_pass_and_initializers_dropped) {
  TempFile f(model_with_graph(initializer("w") + graph_input("images", {0, 3, 64, 64}) + graph_input("w", {2}),
                              entry("k", "v")));
  const detail::OnnxInfo info = detail::read_onnx_info(f.path);
  CHECK(info.props.size() == 1 && info.props.at("k") == "v");
  CHECK(info.inputs.size() == 1);  // "w" is an initializer listed as an input (old exporters)
  CHECK(info.inputs[0].name == "images" && info.inputs[0].elem_type == 1 && info.inputs[0].has_shape);
  CHECK((info.inputs[0].dims == std::vector<int64_t>{-1, 3, 64, 64}));
}

TEST(yolov5_own_onnx_reads_names_stride_and_the_static_shape) {
  // What YOLOv5's export.py writes: metadata_props stride = '32', names = str(dict); a static [1, 3, 96, 96] input.
  TempFile f(model_with_graph(graph_input("images", {1, 3, 96, 96}),
                              entry("stride", "32") + entry("names", "{0: 'cat', 1: \"dog's\", 2: 'caf\\xe9'}")));
  const ModelMetadata md = read_metadata(f.path);
  CHECK(md.names.size() == 3 && md.names[0] == "cat" && md.names[1] == "dog's" && md.names[2] == "caf\xc3\xa9");
  CHECK(md.preprocess.imgsz == 96);
  CHECK(md.preprocess.crop == Crop::Center && md.preprocess.channel_order == ChannelOrder::RGB);  // YOLOv5's
  CHECK_NEAR(md.preprocess.mean[0], 0.485, 1e-6);
  CHECK_NEAR(md.preprocess.std[2], 0.225, 1e-6);
  CHECK(md.model.find("yolocls_onnx_") == 0);  // the file's stem
  // a dynamic H/W takes YOLOv5's default 224
  TempFile dyn(model_with_graph(graph_input("images", {0, 3, 0, 0}), entry("names", "['a', 'b']")));
  CHECK(read_metadata(dyn.path).preprocess.imgsz == 224 && read_metadata(dyn.path).names.size() == 2);
  // our entry wins over YOLOv5's keys (we write both)
  TempFile both(model_with_graph(graph_input("images", {0, 3, 32, 32}),
                                 entry("names", "{0: 'x'}") + entry("yolocls", R"({"names": ["a", "b"], "imgsz": 32})")));
  CHECK(read_metadata(both.path).names.size() == 2);
}

TEST(metadata_that_contradicts_the_graph_is_refused) {
  TempFile side(model_with_graph(graph_input("images", {1, 3, 64, 64}),
                                 entry("yolocls", R"({"names": ["a"], "imgsz": 32})")));
  CHECK_THROWS(read_metadata(side.path), Error, "metadata says imgsz 32 but the model input is [64, 64]");
  TempFile gray(model_with_graph(graph_input("images", {1, 1, 64, 64}), entry("names", "{0: 'a'}")));
  CHECK_THROWS(read_metadata(gray.path), Error, "input has 1 channels");
  TempFile rank(model_with_graph(graph_input("images", {1, 64}), entry("names", "{0: 'a'}")));
  CHECK_THROWS(read_metadata(rank.path), Error, "input has 2 dims");
  TempFile big(model_with_graph(graph_input("images", {1, 3, 5000, 5000}), entry("names", "{0: 'a'}")));
  CHECK_THROWS(read_metadata(big.path), Error, "over the limit of 4096 pixels");
  TempFile badnames(model_with_graph(graph_input("images", {1, 3, 8, 8}), entry("names", "{0: a}")));
  CHECK_THROWS(read_metadata(badnames.path), Error, "pass the class names explicitly");
  std::string deep;
  for (size_t i = 0; i <= detail::kMaxOnnxRank; ++i) deep += bytes_field(1, tag(1, 0) + varint(1));
  TempFile ranked(model_with_graph(
      bytes_field(11, bytes_field(1, "x") + bytes_field(2, bytes_field(1, bytes_field(2, deep)))), ""));
  CHECK_THROWS(detail::read_onnx_info(ranked.path), Error, "more than 16 dims");
}

TEST(yolov5_names_literals) {
  using detail::parse_yolov5_names;
  CHECK((parse_yolov5_names("{0: 'a', 1: 'b'}") == std::vector<std::string>{"a", "b"}));
  CHECK((parse_yolov5_names(" {1: 'b',0:'a'} ") == std::vector<std::string>{"a", "b"}));  // sorted by id
  CHECK((parse_yolov5_names("['x', \"y\"]") == std::vector<std::string>{"x", "y"}));
  CHECK(parse_yolov5_names("{}").empty() && parse_yolov5_names("[]").empty());
  CHECK((parse_yolov5_names(R"({0: 'a\'b', 1: 'c\\d', 2: '\u00e9\U0001F600', 3: '\x41\101\n'})") ==
         std::vector<std::string>{"a'b", "c\\d", "\xc3\xa9\xf0\x9f\x98\x80", "AA\n"}));
  CHECK((parse_yolov5_names("{0: 'caf\xc3\xa9'}") == std::vector<std::string>{"caf\xc3\xa9"}));  // raw UTF-8
  struct Bad {
    std::string text;
    const char* needle;
  };
  const Bad cases[] = {
      {"", "not a Python dict or list"},
      {"cat, dog", "not a Python dict or list"},
      {"{0: 'a',}", "expected a class id"},
      {"{0: 'a', 0: 'b'}", "class id 0 twice"},
      {"{0: 'a'", "not closed"},
      {"{0: 'a'} x", "trailing characters"},
      {"['a', 1]", "expected a string literal"},
      {"{'a': 'b'}", "expected a class id"},
      {"{1234567: 'a'}", "over 999999"},
      {"{0: 'a\\q'}", "unknown escape"},
      {"{0: '\\ud800'}", "lone UTF-16 surrogate"},
      {"{0: 'ab", "unterminated string"},
      {"{0: '" + std::string(1025, 'x') + "'}", "over 1024 characters"},
      {"{0: '\xff'}", "not valid UTF-8"},
      {"{0: '\xed\xa0\x80'}", "not valid UTF-8"},  // an encoded surrogate
      {"{0: '\\410'}", "octal escape over"},
      {std::string("{0: 'a\0b'}", 10), "NUL character"},  // Python refuses it too ('\\x00' escaped is a name)
  };
  for (const Bad& b : cases) CHECK_THROWS(parse_yolov5_names(b.text), Error, b.needle);
  std::string many = "[";
  for (size_t i = 0; i <= detail::kMaxClasses; ++i) many += "'',";
  many.back() = ']';
  CHECK_THROWS(parse_yolov5_names(many), Error, "more than 100000 names");
}
