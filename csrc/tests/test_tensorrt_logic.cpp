// The TensorRT backend's GPU-free logic: when a slot enqueues plainly, captures or replays a CUDA graph
// (backends/tensorrt_graph_cache.hpp), the per-thread capture of TensorRT's error messages, the I/O format check and
// the sidecar's DLA core (backends/tensorrt_backend.hpp). No TensorRT, no CUDA: the decisions are checked as data.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

#include "backends/tensorrt_backend.hpp"
#include "backends/tensorrt_graph_cache.hpp"
#include "runtime/json.hpp"

using yolocls::trt_detail::EnqueueKind;
using yolocls::trt_detail::ErrorCapture;
using yolocls::trt_detail::GraphCache;
using yolocls::trt_detail::TensorShape;

namespace {

// Stands in for the slot's graph owner: an id, 0 = the capture failed.
struct FakeGraph {
  int id = 0;
  explicit operator bool() const { return id != 0; }
};

TensorShape nchw(int64_t n, int64_t s = 224) { return {n, 3, s, s}; }

// Drives a GraphCache the way TensorRTSlot::enqueue does (every step succeeds; captures succeed unless
// `capture_fails`) and records what each run did: "P+" plain after setInputShape, "P" plain, "C" capture, "R" replay.
struct SlotModel {
  GraphCache<FakeGraph> cache;
  bool capture_fails = false;
  int next_id = 1;
  std::vector<std::string> log;

  explicit SlotModel(bool graphs) : cache(graphs) {}

  void run(const TensorShape& shape) {
    const auto plan = cache.plan(shape);
    std::string step;
    if (plan.set_shape) {
      cache.shape_unknown();
      cache.shape_set(shape);
      step = "+";
    }
    switch (plan.kind) {
      case EnqueueKind::Plain:
        step = "P" + step;
        break;
      case EnqueueKind::Capture:
        cache.store(shape, FakeGraph{capture_fails ? 0 : next_id++});
        step = "C" + step;
        break;
      case EnqueueKind::Replay:
        step = "R" + step;
        break;
    }
    cache.enqueued();
    log.push_back(step);
  }

  std::string runs(const std::vector<TensorShape>& shapes) {
    log.clear();
    for (const auto& s : shapes) run(s);
    std::string out;
    for (const auto& s : log) out += (out.empty() ? "" : " ") + s;
    return out;
  }
};

}  // namespace

TEST(alternating_batches_never_capture_or_replay) {
  // The defect: 8, 2, 8, 2 used to capture right after each shape change and replay graphs of another state.
  SlotModel slot(true);
  CHECK(slot.runs({nchw(8), nchw(2), nchw(8), nchw(2), nchw(8), nchw(2)}) == "P+ P+ P+ P+ P+ P+");
  CHECK(slot.cache.size() == 0);
}

TEST(capture_only_after_the_plain_enqueue_a_shape_change_needs) {
  SlotModel slot(true);
  CHECK(slot.runs({nchw(8), nchw(8), nchw(8), nchw(8)}) == "P+ C R R");
  CHECK(slot.cache.size() == 1);
}

TEST(each_shape_gets_its_own_graph_replayed_after_its_plain_enqueue) {
  SlotModel slot(true);
  CHECK(slot.runs({nchw(8), nchw(8), nchw(2), nchw(2), nchw(2), nchw(8), nchw(8), nchw(2), nchw(2)}) ==
        "P+ C P+ C R P+ R P+ R");
  CHECK(slot.cache.size() == 2);
  CHECK(slot.cache.find(nchw(8))->id == 1);
  CHECK(slot.cache.find(nchw(2))->id == 2);
}

TEST(alternating_then_steady_batches) {
  SlotModel slot(true);
  CHECK(slot.runs({nchw(8), nchw(2), nchw(8), nchw(2), nchw(2), nchw(2), nchw(8), nchw(8)}) ==
        "P+ P+ P+ P+ C R P+ C");
}

TEST(graphs_are_keyed_by_the_full_shape_not_the_batch) {
  SlotModel slot(true);
  CHECK(slot.runs({nchw(4, 224), nchw(4, 224), nchw(4, 256), nchw(4, 256), nchw(4, 224)}) == "P+ C P+ C P+");
  CHECK(slot.cache.size() == 2);
  CHECK(slot.cache.find(nchw(4, 224)) != nullptr && slot.cache.find(nchw(4, 256)) != nullptr);
  CHECK(slot.cache.find(nchw(4, 224))->id != slot.cache.find(nchw(4, 256))->id);
  CHECK(slot.cache.find(TensorShape{4, 3, 224}) == nullptr);  // another rank is another shape
}

TEST(graphs_off_always_plain) {
  SlotModel slot(false);
  CHECK(slot.runs({nchw(8), nchw(8), nchw(8), nchw(2), nchw(2)}) == "P+ P P P+ P");
  CHECK(slot.cache.size() == 0);
}

TEST(failed_capture_runs_plainly_from_then_on) {
  SlotModel slot(true);
  slot.capture_fails = true;
  CHECK(slot.runs({nchw(8), nchw(8), nchw(8), nchw(8)}) == "P+ C P P");
  CHECK(slot.cache.find(nchw(8)) != nullptr && !*slot.cache.find(nchw(8)));
}

TEST(a_failed_enqueue_or_set_shape_is_not_warm) {
  GraphCache<FakeGraph> cache(true);
  // setInputShape rejected: the shape stays unknown, the next run sets it again.
  auto p = cache.plan(nchw(8));
  CHECK(p.set_shape && p.kind == EnqueueKind::Plain);
  cache.shape_unknown();
  p = cache.plan(nchw(8));
  CHECK(p.set_shape && p.kind == EnqueueKind::Plain);
  // Shape set, but the plain enqueue threw (enqueued() never called): still a plain enqueue, not a capture.
  cache.shape_set(nchw(8));
  p = cache.plan(nchw(8));
  CHECK(!p.set_shape && p.kind == EnqueueKind::Plain);
  cache.enqueued();
  p = cache.plan(nchw(8));
  CHECK(!p.set_shape && p.kind == EnqueueKind::Capture);
  // plan() changes nothing.
  CHECK(cache.plan(nchw(8)).kind == EnqueueKind::Capture);
  CHECK(cache.size() == 0);
  cache.store(nchw(8), FakeGraph{7});
  CHECK(cache.plan(nchw(8)).kind == EnqueueKind::Replay);
  cache.clear();
  CHECK(cache.size() == 0 && cache.plan(nchw(8)).kind == EnqueueKind::Capture);
}

TEST(graph_owners_are_destroyed_with_the_cache) {
  auto alive = std::make_shared<int>(0);
  {
    GraphCache<std::shared_ptr<int>> cache(true);
    cache.store(nchw(8), alive);
    cache.store(nchw(2), alive);
    CHECK(alive.use_count() == 3);
    cache.store(nchw(8), alive);  // replacing one releases the old owner
    CHECK(alive.use_count() == 3);
  }
  CHECK(alive.use_count() == 1);
}

// ------------------------------------------------------------------------------------------- TensorRT's errors

TEST(errors_land_in_the_calling_threads_capture_only) {
  CHECK(!ErrorCapture::record("nobody listens"));  // no capture on this thread: dropped (the logger still prints)
  CHECK(ErrorCapture::take().empty());
  std::string seen_a, seen_b;
  {
    const ErrorCapture mine;
    CHECK(ErrorCapture::record("main thread error"));
    std::thread a([&] {
      const ErrorCapture theirs;
      ErrorCapture::record("thread A: setInputShape rejected");
      seen_a = ErrorCapture::take();
    });
    std::thread b([&] {
      ErrorCapture::record("thread B without a capture");  // must not reach the main thread's capture
      seen_b = ErrorCapture::take();
    });
    a.join();
    b.join();
    CHECK(ErrorCapture::take() == "main thread error");
    CHECK(ErrorCapture::take().empty());  // taken once
  }
  CHECK(seen_a == "thread A: setInputShape rejected");
  CHECK(seen_b.empty());
  CHECK(!ErrorCapture::record("after the call"));  // the capture ended with the call
}

TEST(nested_captures_keep_the_outer_calls_error) {
  const ErrorCapture call;
  ErrorCapture::record("deserialization failed");
  {
    const ErrorCapture discarded;  // e.g. a CUDA-graph capture attempt whose errors are not the call's
    ErrorCapture::record("capture not supported");
  }
  CHECK(ErrorCapture::take() == "deserialization failed");
}

// ------------------------------------------------------------------------------------------- I/O formats, DLA

TEST(linear_io_is_accepted_and_vectorised_io_refused_with_the_tensor_named) {
  using yolocls::trt_detail::check_linear_io;
  using yolocls::trt_detail::tensor_format_name;
  check_linear_io("m.engine", "images", "input", 0, "Row major linear FP32 format (kLINEAR)");
  CHECK_THROWS(check_linear_io("m.engine", "images", "input", 2, "Eight channel format where C is padded"),
               yolocls::Error, "input tensor 'images' has format kHWC8 (Eight channel format where C is padded)");
  CHECK_THROWS(check_linear_io("m.engine", "output0", "output", 3, ""), yolocls::Error,
               "engine m.engine: output tensor 'output0' has format kCHW4, but yolocls only reads linear");
  CHECK(tensor_format_name(0) == "kLINEAR");
  CHECK(tensor_format_name(9) == "kDLA_LINEAR");
  CHECK(tensor_format_name(12) == "kDHWC");
  CHECK(tensor_format_name(13) == "TensorFormat 13");
  CHECK(tensor_format_name(-1) == "TensorFormat -1");
}

TEST(sidecar_dla_core) {
  using yolocls::json::parse;
  using yolocls::trt_detail::sidecar_dla_core;
  CHECK(sidecar_dla_core(parse(R"({"dla": {"core": 1, "gpu_fallback": true}})"), "s.json") == 1);
  CHECK(sidecar_dla_core(parse(R"({"dla": {"core": 0}})"), "s.json") == 0);
  CHECK(sidecar_dla_core(parse(R"({"dla": null})"), "s.json") == -1);
  CHECK(sidecar_dla_core(parse(R"({"precision": "fp16"})"), "s.json") == -1);
  for (const char* bad : {R"({"dla": {"core": -1}})", R"({"dla": {"core": 0.5}})", R"({"dla": {"core": "0"}})",
                          R"({"dla": {}})", R"({"dla": 0})", R"({"dla": {"core": 1e9}})"}) {
    CHECK_THROWS(sidecar_dla_core(parse(bad), "s.json"), yolocls::Error, "s.json: 'dla' must be null or");
  }
}
