// softmax + top-k over classifier logits.
#pragma once

#include <vector>

#include "yolocls/export.hpp"

namespace yolocls {

struct Classification {
  int class_id = 0;
  float prob = 0.0f;
};

// Row-wise numerically stable softmax of `rows` x `classes` logits into `probs` (may alias `logits`).
YOLOCLS_API void softmax(const float* logits, int rows, int classes, float* probs);

// The k largest entries of one row of `classes` values, most probable first; ties keep the lower class id first
// (like the NumPy path's stable argsort). k is clamped to 1..classes.
YOLOCLS_API std::vector<Classification> topk(const float* probs, int classes, int k);

}  // namespace yolocls
