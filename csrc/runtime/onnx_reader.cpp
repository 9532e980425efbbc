#include "runtime/onnx_reader.hpp"

#include <cstdint>
#include <fstream>
#include <set>
#include <utility>

#include "yolocls/error.hpp"

namespace yolocls {
namespace detail {
namespace {

class Reader {
 public:
  Reader(std::istream& in, uint64_t end, const std::string& path) : in_(in), end_(end), path_(path) {}

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

  // A length-delimited field's length, checked against the end of the enclosing message (`limit`).
  uint64_t length(uint64_t limit) {
    const uint64_t n = varint();
    const uint64_t at = pos();
    if (at > limit || n > limit - at) bad("a field runs past the end of its message (truncated file?)");
    return n;
  }

  void skip(uint64_t n, uint64_t limit) {
    const uint64_t at = pos();
    if (at > limit || n > limit - at) bad("truncated");
    in_.seekg(static_cast<std::streamoff>(n), std::ios::cur);
    if (!in_) bad("truncated");
  }

  void skip_value(uint32_t wire, uint64_t limit) {
    switch (wire) {
      case 0: varint(); return;
      case 1: skip(8, limit); return;
      case 2: skip(length(limit), limit); return;
      case 5: skip(4, limit); return;
      default: bad("unknown protobuf wire type " + std::to_string(wire));
    }
  }

  std::string bytes(uint64_t n, uint64_t max, const char* what) {
    if (n > max) bad(std::string(what) + " is larger than " + std::to_string(max) + " bytes");
    std::string s(static_cast<size_t>(n), '\0');
    if (n && !in_.read(&s[0], static_cast<std::streamsize>(n))) bad("truncated");
    return s;
  }

  // Calls f(field, wire, end) for each field of the message that ends at `end`; f consumes the value and returns
  // true, or returns false to have it skipped.
  template <typename F>
  void fields(uint64_t end, F&& f) {
    while (pos() < end) {
      const uint64_t tag = varint();
      const auto field = static_cast<uint32_t>(tag >> 3), wire = static_cast<uint32_t>(tag & 7);
      if (field == 0) bad("field number 0");
      if (!f(field, wire, end)) skip_value(wire, end);
    }
    if (pos() != end) bad("a field runs past the end of its message");
  }

  // The end offset of the length-delimited field whose length comes next.
  uint64_t message_end(uint64_t limit) {
    const uint64_t n = length(limit);
    return pos() + n;
  }

  [[noreturn]] void bad(const std::string& what) {
    throw Error(path_ + " is not a readable ONNX model (" + what + "); re-export it");
  }

  uint64_t end() const { return end_; }

 private:
  std::istream& in_;
  uint64_t end_;
  const std::string& path_;
};

int64_t signed64(uint64_t v) { return static_cast<int64_t>(v); }

// ValueInfoProto { name = 1; type = 2 -> TypeProto { tensor_type = 1 -> { elem_type = 1; shape = 2 -> { dim = 1 ->
// { dim_value = 1 | dim_param = 2 } } } } }
OnnxValueInfo value_info(Reader& r, uint64_t end) {
  OnnxValueInfo v;
  r.fields(end, [&](uint32_t f, uint32_t w, uint64_t lim) {
    if (f == 1 && w == 2) {
      v.name = r.bytes(r.length(lim), kMaxOnnxNameBytes, "a value name");
      return true;
    }
    if (f != 2 || w != 2) return false;
    r.fields(r.message_end(lim), [&](uint32_t f2, uint32_t w2, uint64_t lim2) {
      if (f2 != 1 || w2 != 2) return false;  // sequence/map/optional types: not a tensor, elem_type stays 0
      r.fields(r.message_end(lim2), [&](uint32_t f3, uint32_t w3, uint64_t lim3) {
        if (f3 == 1 && w3 == 0) {
          const uint64_t t = r.varint();
          v.elem_type = t < 1000 ? static_cast<int>(t) : -1;
          return true;
        }
        if (f3 != 2 || w3 != 2) return false;
        v.has_shape = true;
        v.dims.clear();
        r.fields(r.message_end(lim3), [&](uint32_t f4, uint32_t w4, uint64_t lim4) {
          if (f4 != 1 || w4 != 2) return false;
          if (v.dims.size() >= kMaxOnnxRank) r.bad("an input has more than " + std::to_string(kMaxOnnxRank) + " dims");
          int64_t d = -1;
          r.fields(r.message_end(lim4), [&](uint32_t f5, uint32_t w5, uint64_t) {
            if (f5 == 1 && w5 == 0) {
              const int64_t x = signed64(r.varint());
              d = x > 0 ? x : -1;
              return true;
            }
            if (f5 == 2 && w5 == 2) d = -1;  // dim_param: symbolic (skipped by the caller)
            return false;
          });
          v.dims.push_back(d);
          return true;
        });
        return true;
      });
      return true;
    });
    return true;
  });
  return v;
}

}  // namespace

OnnxInfo read_onnx_info(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open " + path);
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  Reader r(in, size, path);
  OnnxInfo info;
  std::set<std::string> initializers;
  bool seen_graph = false;
  r.fields(size, [&](uint32_t field, uint32_t wire, uint64_t lim) {
    if (field == 7 && wire == 2) {  // GraphProto (repeated occurrences merge, as in protobuf)
      seen_graph = true;
      r.fields(r.message_end(lim), [&](uint32_t f, uint32_t w, uint64_t glim) {
        if (f == 11 && w == 2) {
          if (info.inputs.size() >= kMaxOnnxGraphInputs) {
            r.bad("more than " + std::to_string(kMaxOnnxGraphInputs) + " graph inputs");
          }
          info.inputs.push_back(value_info(r, r.message_end(glim)));
          return true;
        }
        if (f == 5 && w == 2) {  // TensorProto: only its name (field 8); the weights' bytes are skipped
          r.fields(r.message_end(glim), [&](uint32_t f2, uint32_t w2, uint64_t tlim) {
            if (f2 != 8 || w2 != 2) return false;
            const uint64_t n = r.length(tlim);
            if (n > kMaxOnnxNameBytes || initializers.size() >= 4 * kMaxOnnxGraphInputs) {
              r.skip(n, tlim);  // not an input's name (those are bounded), or past the bound: not kept
            } else {
              initializers.insert(r.bytes(n, n, "a name"));
            }
            return true;
          });
          return true;
        }
        return false;
      });
      return true;
    }
    if (field != 14 || wire != 2) return false;
    // StringStringEntryProto { string key = 1; string value = 2; }
    std::string key, value;
    r.fields(r.message_end(lim), [&](uint32_t f, uint32_t w, uint64_t elim) {
      if ((f != 1 && f != 2) || w != 2) return false;
      (f == 1 ? key : value) = r.bytes(r.length(elim), kMaxOnnxPropBytes, "a metadata value");
      return true;
    });
    if (info.props.size() >= kMaxOnnxProps && !info.props.count(key)) {
      r.bad("more than " + std::to_string(kMaxOnnxProps) + " metadata entries");
    }
    info.props[key] = std::move(value);
    return true;
  });
  if (!seen_graph) throw Error(path + " is not an ONNX model (no graph); re-export it");
  if (!initializers.empty()) {
    std::vector<OnnxValueInfo> kept;
    for (auto& v : info.inputs) {
      if (!initializers.count(v.name)) kept.push_back(std::move(v));
    }
    info.inputs = std::move(kept);
  }
  return info;
}

namespace {

[[noreturn]] void bad_names(const std::string& what) { throw Error("'names' metadata " + what); }

void append_utf8(std::string& out, uint32_t cp) {
  if (cp >= 0xD800 && cp <= 0xDFFF) bad_names("holds a lone UTF-16 surrogate (invalid Unicode)");
  if (cp > 0x10FFFF) bad_names("has an escape beyond U+10FFFF");
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class NamesScanner {
 public:
  explicit NamesScanner(const std::string& s) : s_(s) {}

  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  char take() {
    if (i_ >= s_.size()) bad_names("is not closed");
    return s_[i_++];
  }
  size_t where() const { return i_; }

  long id() {
    size_t n = 0;
    long v = 0;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
      if (++n > 6) bad_names("has a class id over 999999 at character " + std::to_string(i_));
      v = v * 10 + (s_[i_++] - '0');
    }
    if (n == 0) bad("a class id");
    return v;
  }

  // One Python string literal ('...' or "..."), decoded to UTF-8.
  std::string literal() {
    const size_t start = i_;
    const char quote = take();
    if (quote != '\'' && quote != '"') bad("a string literal");
    std::string out;
    size_t chars = 0;
    for (;;) {
      if (i_ >= s_.size()) bad_names("has an unterminated string at character " + std::to_string(start));
      const char c = s_[i_++];
      if (c == quote) break;
      if (c == '\n') bad_names("has a line break inside a string at character " + std::to_string(i_ - 1));
      if (c == '\0') bad_names("has a NUL character inside a string at character " + std::to_string(i_ - 1));
      if (++chars > kMaxNameChars * 4) bad_names("has a name over " + std::to_string(kMaxNameChars) + " characters");
      if (c != '\\') {
        out += c;
        continue;
      }
      const char e = take();
      switch (e) {
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'x': case 'u': case 'U': {
          const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
          uint32_t cp = 0;
          for (int k = 0; k < digits; ++k) {
            const int h = hex_value(peek());
            if (h < 0) bad_names("has a bad \\" + std::string(1, e) + " escape at character " + std::to_string(i_));
            cp = cp * 16 + static_cast<uint32_t>(h);
            ++i_;
          }
          append_utf8(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            uint32_t cp = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && peek() >= '0' && peek() <= '7'; ++k) cp = cp * 8 + static_cast<uint32_t>(take() - '0');
            if (cp > 0377) bad_names("has an octal escape over \\377 at character " + std::to_string(i_));
            append_utf8(out, cp);
          } else {
            bad_names("has an unknown escape \\" + std::string(1, e) + " at character " + std::to_string(i_ - 1));
          }
      }
    }
    return out;
  }

  [[noreturn]] void bad(const char* want) {
    bad_names("is not a Python dict or list of strings (expected " + std::string(want) + " at character " +
              std::to_string(i_) + ")");
  }

 private:
  const std::string& s_;
  size_t i_ = 0;
};

// Well-formed UTF-8: no overlong forms, no encoded surrogates, nothing past U+10FFFF (Python decodes props so).
bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t k = 0; k < n;) {
    const unsigned c = p[k];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) { ++k; continue; }
    if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return false;
    if (k + len > n) return false;
    for (size_t j = 1; j < len; ++j) {
      if ((p[k + j] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[k + j] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    k += len;
  }
  return true;
}

size_t utf8_chars(const std::string& s) {
  size_t n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::vector<std::string> parse_yolov5_names(const std::string& text) {
  if (text.size() > kMaxMetadataBytes) {
    bad_names("is " + std::to_string(text.size()) + " bytes (limit " + std::to_string(kMaxMetadataBytes) + ")");
  }
  if (!valid_utf8(text)) bad_names("is not valid UTF-8");
  NamesScanner sc(text);
  sc.space();
  const char open = sc.at_end() ? '\0' : sc.take();
  if (open != '{' && open != '[') bad_names("is not a Python dict or list of strings");
  const bool is_dict = open == '{';
  const char close = is_dict ? '}' : ']';
  std::map<long, std::string> items;
  std::vector<std::string> names;
  sc.space();
  if (sc.peek() == close) {
    sc.take();
  } else {
    for (;;) {
      if (names.size() + items.size() >= kMaxClasses) bad_names("holds more than " + std::to_string(kMaxClasses) + " names");
      sc.space();
      long id = -1;
      if (is_dict) {
        id = sc.id();
        sc.space();
        if (sc.take() != ':') sc.bad("':'");
        sc.space();
      }
      std::string name = sc.literal();
      if (utf8_chars(name) > kMaxNameChars) {
        bad_names("has a name over " + std::to_string(kMaxNameChars) + " characters");
      }
      if (is_dict) {
        if (!items.emplace(id, std::move(name)).second) bad_names("has class id " + std::to_string(id) + " twice");
      } else {
        names.push_back(std::move(name));
      }
      sc.space();
      const char sep = sc.take();
      if (sep == close) break;
      if (sep != ',') sc.bad(is_dict ? "',' or '}'" : "',' or ']'");
    }
  }
  sc.space();
  if (!sc.at_end()) bad_names("has trailing characters at " + std::to_string(sc.where()));
  if (is_dict) {
    for (auto& kv : items) names.push_back(std::move(kv.second));
  }
  return names;
}

std::map<std::string, std::string> read_onnx_metadata_props(const std::string& path) {
  return read_onnx_info(path).props;
}

}  // namespace detail
}  // namespace yolocls
