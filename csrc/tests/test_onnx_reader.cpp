// The runtime's ONNX metadata reader (csrc/runtime/onnx_reader.*) on protobufs written by hand here: a ModelProto
// with a graph and metadata_props, fields in any order, unknown fields skipped, and malformed files refused.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

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
