// When a TensorRT slot enqueues plainly, captures a CUDA graph or replays one: pure logic, no TensorRT or CUDA
// headers, so it is unit-tested on machines without a GPU (csrc/tests/test_tensorrt_logic.cpp).
//
// Facts it encodes (TensorRT developer guide, "CUDA Graphs"):
//   * a graph records the kernels of one enqueueV3 with the input shape that setInputShape set: it is only valid for
//     that full shape (not just that batch size: H/W or any other axis matter as much);
//   * after setInputShape changed the shape, the next enqueueV3 may allocate or update the context's state, which is
//     not capturable: that enqueue must be a plain one, and a graph may be captured (or replayed) only from the next
//     enqueue at the same shape on.
// So alternating shapes (8, 2, 8, 2) never capture or replay: every call changes the shape and runs plainly. A graph
// captured at a shape is replayed when the context is back at that shape and has had its plain enqueue there.
// A capture that failed is remembered as an empty graph: that shape runs plainly from then on.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace yolocls {
namespace trt_detail {

// The full input shape (every axis), as setInputShape receives it.
using TensorShape = std::vector<int64_t>;

enum class EnqueueKind { Plain, Capture, Replay };

// What the next run at a shape must do.
struct EnqueuePlan {
  bool set_shape = false;  // call setInputShape first (the context is at another shape, or at an unknown one)
  EnqueueKind kind = EnqueueKind::Plain;
};

// Graph: a movable owner of an instantiated graph (the slot's RAII handle; any type in tests), contextually
// convertible to bool (false = capture failed). One GraphCache per execution context; not thread-safe (a slot is
// used by one thread at a time).
template <typename Graph>
class GraphCache {
 public:
  explicit GraphCache(bool enabled) : enabled_(enabled) {}

  bool enabled() const { return enabled_; }

  // The plan for the next enqueue at `shape`; changes nothing.
  EnqueuePlan plan(const TensorShape& shape) const {
    EnqueuePlan p;
    if (!bound_ || *bound_ != shape) {
      p.set_shape = true;
      return p;  // a shape change: one plain enqueue first
    }
    if (!enabled_ || !warm_) return p;  // graphs off, or no successful plain enqueue at this shape yet
    const auto it = graphs_.find(shape);
    if (it == graphs_.end()) {
      p.kind = EnqueueKind::Capture;
    } else if (it->second) {
      p.kind = EnqueueKind::Replay;
    }  // else: capture failed at this shape before, plain
    return p;
  }

  // Before setInputShape: until shape_set() the context's shape is unknown (a failed setInputShape leaves it so).
  void shape_unknown() {
    bound_.reset();
    warm_ = false;
  }
  // setInputShape(shape) succeeded.
  void shape_set(const TensorShape& shape) {
    bound_ = shape;
    warm_ = false;
  }
  // An enqueue (plain, captured or replayed) at the bound shape completed without error.
  void enqueued() { warm_ = bound_.has_value(); }
  // Keep the result of a capture at `shape` (an empty Graph: capture is not possible there).
  void store(const TensorShape& shape, Graph graph) { graphs_[shape] = std::move(graph); }
  // The graph for `shape` (nullptr when none was stored).
  const Graph* find(const TensorShape& shape) const {
    const auto it = graphs_.find(shape);
    return it == graphs_.end() ? nullptr : &it->second;
  }
  size_t size() const { return graphs_.size(); }
  // Destroy every graph (before the context they were captured from).
  void clear() { graphs_.clear(); }

 private:
  bool enabled_;
  std::optional<TensorShape> bound_;  // the shape setInputShape last set (none: unknown)
  bool warm_ = false;
  std::map<TensorShape, Graph> graphs_;
};

}  // namespace trt_detail
}  // namespace yolocls
