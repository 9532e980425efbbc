#include "runtime/onnx_reader.hpp"

#include <cstdint>
#include <fstream>

#include "yolocls/error.hpp"

namespace yolocls {
namespace detail {
namespace {

class Reader {
 public:
  Reader(std::istream& in, uint64_t end, const std::string& path) : in_(in), end_(end), path_(path) {}

  bool done() { return pos() >= end_; }
  uint64_t pos() { return static_cast<uint64_t>(in_.tellg()); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const int c = in_.get();
      if (c == EOF) bad("truncated");
      v |= static_cast<uint64_t>(c & 0x7f) << shift;
      if (!(c & 0x80)) return v;
    }
    bad("overlong varint");
  }

  // A length-delimited field's length, checked against what is left of the enclosing message.
  uint64_t length() {
    const uint64_t n = varint();
    if (n > end_ - pos()) bad("a field runs past the end of the file");
    return n;
  }

  void skip(uint64_t n) {
    in_.seekg(static_cast<std::streamoff>(n), std::ios::cur);
    if (!in_) bad("truncated");
  }

  void skip_value(uint32_t wire) {
    switch (wire) {
      case 0: varint(); return;
      case 1: skip(8); return;
      case 2: skip(length()); return;
      case 5: skip(4); return;
      default: bad("unknown protobuf wire type " + std::to_string(wire));
    }
  }

  std::string bytes(uint64_t n) {
    if (n > kMaxOnnxPropBytes) bad("a metadata value is larger than " + std::to_string(kMaxOnnxPropBytes) + " bytes");
    std::string s(static_cast<size_t>(n), '\0');
    if (n && !in_.read(&s[0], static_cast<std::streamsize>(n))) bad("truncated");
    return s;
  }

  [[noreturn]] void bad(const std::string& what) {
    throw Error(path_ + " is not a readable ONNX model (" + what + "); re-export it");
  }

 private:
  std::istream& in_;
  uint64_t end_;
  const std::string& path_;
};

}  // namespace

std::map<std::string, std::string> read_onnx_metadata_props(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  Reader r(in, size, path);
  std::map<std::string, std::string> props;
  bool seen_graph = false;
  while (!r.done()) {
    const uint64_t tag = r.varint();
    const auto field = static_cast<uint32_t>(tag >> 3), wire = static_cast<uint32_t>(tag & 7);
    if (field == 0) r.bad("field number 0");
    if (field == 7 && wire == 2) seen_graph = true;
    if (field != 14 || wire != 2) {
      r.skip_value(wire);
      continue;
    }
    // StringStringEntryProto { string key = 1; string value = 2; }
    const uint64_t entry_len = r.length();
    const uint64_t entry_end = r.pos() + entry_len;
    std::string key, value;
    while (r.pos() < entry_end) {
      const uint64_t t = r.varint();
      const auto f = static_cast<uint32_t>(t >> 3), w = static_cast<uint32_t>(t & 7);
      if ((f == 1 || f == 2) && w == 2) {
        const uint64_t n = r.length();
        if (r.pos() + n > entry_end) r.bad("a metadata entry runs past its end");
        (f == 1 ? key : value) = r.bytes(n);
      } else {
        r.skip_value(w);
      }
    }
    if (r.pos() != entry_end) r.bad("a metadata entry runs past its end");
    if (props.size() >= kMaxOnnxProps) r.bad("more than " + std::to_string(kMaxOnnxProps) + " metadata entries");
    props[key] = std::move(value);
  }
  if (!seen_graph) throw Error(path + " is not an ONNX model (no graph); re-export it");
  return props;
}

}  // namespace detail
}  // namespace yolocls
