// A tiny JSON reader (RFC 8259 subset sufficient for our own metadata: objects, arrays, strings with escapes incl.
// \uXXXX, numbers, true/false/null). Internal; throws yolocls::Error with the byte offset on malformed input,
// invalid UTF-8, lone surrogates, non-JSON numbers (hex, inf, nan) or nesting deeper than kMaxDepth.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace yolocls {
namespace json {

struct Value {
  enum class Type { Null, Bool, Number, String, Array, Object };
  Type type = Type::Null;
  bool boolean = false;
  double number = 0.0;
  std::string string;
  std::vector<Value> array;
  std::map<std::string, Value> object;

  bool is_object() const { return type == Type::Object; }
  // Member lookup; nullptr when this is not an object or the key is absent.
  const Value* find(const std::string& key) const;
};

// Arrays/objects nested deeper than this are refused (yolocls.metadata.MAX_JSON_DEPTH in Python).
constexpr int kMaxDepth = 64;

Value parse(const std::string& text);

}  // namespace json
}  // namespace yolocls
