// The CPU kernel's two implementations agree: the AVX2+FMA path (x86-64, chosen at run time) against the portable
// path (what aarch64 runs; forced on x86 by YOLOCLS_NO_AVX2=1 / YOLOCLS_NO_F16C=1, read once at load time, hence
// the child process). The same binary dumps its outputs for the fixed case set so scripts/cross_aarch64.sh can
// compare x86's portable path with aarch64 (qemu-user) within 1e-6:
//   test_preprocess_paths --dump FILE                 write every case's output (float32 little-endian) to FILE
//   test_preprocess_paths --compare A B TOL           compare two dumps (exit 1 on a difference above TOL)
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#define CHECK_NO_MAIN
#include "check.hpp"
#include "preprocess_cases.hpp"

extern char** environ;

using namespace yolocls;
using yolocls_test::PreprocessCase;

namespace {

std::string g_self;  // argv[0]

std::vector<std::vector<float>> run_all(const std::vector<PreprocessCase>& cases) {
  std::vector<std::vector<float>> out;
  for (const auto& c : cases) {
    std::vector<uint8_t> buf(c.out_bytes());
    const ImageView v = c.view();
    preprocess(&v, 1, c.cfg, buf.data(), c.dtype);
    out.push_back(yolocls_test::as_floats(c, buf.data()));
  }
  return out;
}

bool dump(const std::string& path) {
  std::ofstream f(path, std::ios::binary);
  for (const auto& v : run_all(yolocls_test::preprocess_cases())) {
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  }
  return static_cast<bool>(f);
}

bool load(const std::string& path, const std::vector<PreprocessCase>& cases, std::vector<std::vector<float>>* out) {
  std::ifstream f(path, std::ios::binary);
  for (const auto& c : cases) {
    std::vector<float> v(c.out_elems());
    if (!f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)))) {
      return false;
    }
    out->push_back(std::move(v));
  }
  return f.peek() == std::char_traits<char>::eof();
}

// Largest difference per case; returns the number of cases over tolerance (printed).
int compare(const std::vector<PreprocessCase>& cases, const std::vector<std::vector<float>>& a,
            const std::vector<std::vector<float>>& b, double tol, double* worst) {
  int bad = 0;
  *worst = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    double m = 0;
    size_t at = 0;
    bool over = false;
    for (size_t j = 0; j < a[i].size(); ++j) {
      const double d = std::fabs(static_cast<double>(a[i][j]) - b[i][j]);
      if (!(d <= yolocls_test::allowed(cases[i], b[i][j], tol))) over = true;
      if (!(d <= m)) {
        m = d;
        at = j;
      }
    }
    if (cases[i].dtype == DType::Float32 && m > *worst) *worst = m;
    if (over) {
      ++bad;
      std::printf("  %s: max diff %.3g at element %zu (%.9g vs %.9g)\n", cases[i].name.c_str(), m, at, a[i][at],
                  b[i][at]);
    }
  }
  return bad;
}

}  // namespace

TEST(avx2_path_matches_portable_path) {
#if !defined(__x86_64__)
  SKIP("no AVX2 path on this architecture (the portable path is the only one)");
#else
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) SKIP("this CPU has no AVX2+FMA");
  if (std::getenv("YOLOCLS_NO_AVX2")) SKIP("YOLOCLS_NO_AVX2 is set: both runs would be the portable path");
  const auto cases = yolocls_test::preprocess_cases();
  const auto here = run_all(cases);
  char tmpl[] = "/tmp/yolocls_portable_XXXXXX";
  const int fd = mkstemp(tmpl);
  CHECK(fd >= 0);
  if (fd < 0) return;
  close(fd);
  std::vector<std::string> env_s = {"YOLOCLS_NO_AVX2=1", "YOLOCLS_NO_F16C=1"};
  for (char** e = environ; *e; ++e) env_s.emplace_back(*e);
  std::vector<char*> env;
  for (auto& s : env_s) env.push_back(&s[0]);
  env.push_back(nullptr);
  std::string a0 = g_self, a1 = "--dump", a2 = tmpl;
  char* argv[] = {&a0[0], &a1[0], &a2[0], nullptr};
  pid_t pid = 0;
  int status = -1;
  CHECK(posix_spawn(&pid, g_self.c_str(), nullptr, nullptr, argv, env.data()) == 0);
  CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  std::vector<std::vector<float>> portable;
  const bool loaded = load(tmpl, cases, &portable);
  std::remove(tmpl);
  CHECK(loaded);
  if (!loaded) return;
  double worst = 0;
  CHECK(compare(cases, here, portable, 2e-6, &worst) == 0);
  std::printf("  %zu cases, largest float32 difference AVX2 vs portable %.3g\n", cases.size(), worst);
#endif
}

TEST(case_set_is_deterministic) {
  // The same bytes every run and on every architecture (the cross-arch comparison depends on it).
  const auto a = yolocls_test::preprocess_cases(), b = yolocls_test::preprocess_cases();
  CHECK(a.size() == b.size() && a.size() >= 50);
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the first case's pixels
  for (uint8_t x : a[3].pixels) h = (h ^ x) * 1099511628211ull;
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i].pixels == b[i].pixels);
  std::printf("  %zu cases, case 3 pixel hash %016llx\n", a.size(), static_cast<unsigned long long>(h));
}

int main(int argc, char** argv) {
  g_self = argv[0];
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "--dump" && argc == 3) return dump(argv[2]) ? 0 : 1;
  if (mode == "--compare" && argc == 5) {
    const auto cases = yolocls_test::preprocess_cases();
    std::vector<std::vector<float>> a, b;
    if (!load(argv[2], cases, &a) || !load(argv[3], cases, &b)) {
      std::printf("cannot read the dumps (missing, short or long): %s %s\n", argv[2], argv[3]);
      return 1;
    }
    double worst = 0;
    const int bad = compare(cases, a, b, std::stod(argv[4]), &worst);
    std::printf("%zu cases compared: %d over tolerance %s, largest float32 difference %.3g\n", cases.size(), bad,
                argv[4], worst);
    return bad ? 1 : 0;
  }
  return check_main(argc, argv);
}
