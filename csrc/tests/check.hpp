// A tiny in-house test harness for the ctest suite (no third-party framework: it cross-compiles and runs under
// qemu-user as it is). One executable per test_*.cpp; each defines TEST(name) blocks and includes this header once.
//
//   TEST(parses_names) { CHECK(x == 1); CHECK_NEAR(a, b, 1e-6); CHECK_THROWS(f(), yolocls::Error, "substring"); }
//   SKIP("no GPU here")   inside a test: reports it skipped (exit code 77 if every test skipped: ctest's SKIPPED)
//
// main() runs every test (or those named on the command line), prints one line per test and a summary, and exits
// non-zero when any CHECK failed or a test threw. A failed CHECK records the failure and the test goes on.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}
inline int& failures() {
  static int n = 0;
  return n;
}
struct Skipped {
  std::string why;
};

struct Register {
  Register(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  ++failures();
  std::printf("  %s:%d: FAILED: %s\n", file, line, what.c_str());
}

inline bool contains(const std::string& haystack, const char* needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST(name)                                                          \
  static void CHECK_CAT(test_, name)();                                     \
  static const ::check::Register CHECK_CAT(reg_, name){#name, &CHECK_CAT(test_, name)}; \
  static void CHECK_CAT(test_, name)()

#define CHECK(cond)                                                       \
  do {                                                                    \
    if (!(cond)) ::check::fail(__FILE__, __LINE__, "CHECK(" #cond ")");   \
  } while (0)

// |a - b| <= tol (NaN fails).
#define CHECK_NEAR(a, b, tol)                                                                              \
  do {                                                                                                     \
    const double check_a_ = static_cast<double>(a), check_b_ = static_cast<double>(b);                     \
    if (!(std::fabs(check_a_ - check_b_) <= static_cast<double>(tol))) {                                   \
      char check_buf_[256];                                                                                \
      std::snprintf(check_buf_, sizeof check_buf_, "CHECK_NEAR(%s, %s): %.9g vs %.9g (tol %g)", #a, #b,     \
                    check_a_, check_b_, static_cast<double>(tol));                                         \
      ::check::fail(__FILE__, __LINE__, check_buf_);                                                       \
    }                                                                                                      \
  } while (0)

// `expr` throws `type` whose what() contains `needle` ("" = any message).
#define CHECK_THROWS(expr, type, needle)                                                                   \
  do {                                                                                                     \
    bool check_thrown_ = false;                                                                            \
    try {                                                                                                  \
      expr;                                                                                                \
    } catch (const type& check_e_) {                                                                       \
      check_thrown_ = true;                                                                                \
      if (!::check::contains(check_e_.what(), needle)) {                                                   \
        ::check::fail(__FILE__, __LINE__, std::string("CHECK_THROWS(" #expr "): message '") + check_e_.what() + \
                                              "' lacks '" + (needle) + "'");                               \
      }                                                                                                    \
    } catch (const std::exception& check_e_) {                                                             \
      check_thrown_ = true;                                                                                \
      ::check::fail(__FILE__, __LINE__, std::string("CHECK_THROWS(" #expr "): wrong exception type: ") +   \
                                            check_e_.what());                                              \
    }                                                                                                      \
    if (!check_thrown_) ::check::fail(__FILE__, __LINE__, "CHECK_THROWS(" #expr "): nothing thrown");      \
  } while (0)

#define SKIP(why) throw ::check::Skipped{why}

// Exit codes: 0 all passed, 1 a failure, 77 every selected test skipped (ctest SKIP_RETURN_CODE).
inline int check_main(int argc, char** argv) {
  int ran = 0, skipped = 0, failed_tests = 0;
  for (const auto& c : ::check::registry()) {
    bool selected = argc < 2;
    for (int i = 1; i < argc; ++i) selected = selected || std::strcmp(argv[i], c.name) == 0;
    if (!selected) continue;
    const int before = ::check::failures();
    std::string note;
    try {
      c.fn();
    } catch (const ::check::Skipped& s) {
      ++skipped;
      std::printf("[ SKIP ] %s: %s\n", c.name, s.why.c_str());
      continue;
    } catch (const std::exception& e) {
      ::check::fail(__FILE__, __LINE__, std::string("unexpected exception: ") + e.what());
    }
    ++ran;
    const bool ok = ::check::failures() == before;
    failed_tests += ok ? 0 : 1;
    std::printf("[ %s ] %s\n", ok ? " OK " : "FAIL", c.name);
  }
  std::printf("%d passed, %d failed, %d skipped\n", ran - failed_tests, failed_tests, skipped);
  std::fflush(stdout);
  if (failed_tests > 0) return 1;
  return ran == 0 && skipped > 0 ? 77 : 0;
}

#ifndef CHECK_NO_MAIN
int main(int argc, char** argv) { return check_main(argc, argv); }
#endif
