#include "yolocls/postprocess.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "yolocls/error.hpp"

namespace yolocls {

void softmax(const float* logits, int rows, int classes, float* probs) {
  if (rows < 0 || classes < 1) throw InvalidArgument("softmax needs at least one class");
  for (int r = 0; r < rows; ++r) {
    const float* in = logits + static_cast<size_t>(r) * classes;
    float* out = probs + static_cast<size_t>(r) * classes;
    const float m = *std::max_element(in, in + classes);
    float sum = 0.0f;
    for (int c = 0; c < classes; ++c) {
      out[c] = std::exp(in[c] - m);
      sum += out[c];
    }
    const float inv = 1.0f / sum;
    for (int c = 0; c < classes; ++c) out[c] *= inv;
  }
}

std::vector<Classification> topk(const float* probs, int classes, int k) {
  if (classes < 1) throw InvalidArgument("topk needs at least one class");
  k = std::max(1, std::min(k, classes));
  std::vector<int> idx(classes);
  std::iota(idx.begin(), idx.end(), 0);
  auto better = [probs](int a, int b) { return probs[a] > probs[b] || (probs[a] == probs[b] && a < b); };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), better);
  std::vector<Classification> out(k);
  for (int i = 0; i < k; ++i) out[i] = {idx[i], probs[idx[i]]};
  return out;
}

}  // namespace yolocls
