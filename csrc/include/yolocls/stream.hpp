// yolocls::Stream: streaming classification for robotics loops. Submit frames as they arrive; results come back in
// submission order, each with its frame id, the caller's tag, and either the top-k or that frame's own error.
//
//   yolocls::Runtime rt("model.onnx");                        // OpenVINO: 2 request slots by default
//   yolocls::StreamOptions so;  so.workers = 2;  so.policy = yolocls::QueuePolicy::DropOldest;
//   yolocls::Stream stream(rt, so);
//   while (camera.read(frame)) {                                // cv::Mat, BGR
//     stream.submit(yolocls::StreamFrame::copy_of({frame.data, frame.rows, frame.cols, (int64_t)frame.step}),
//                   /*tag=*/timestamp_us);
//     yolocls::StreamResult r;
//     while (stream.try_get(r)) r.ok() ? act(r.tag, r.top) : log(r.error);
//   }
//   stream.close();                                             // drains (or close(false): cancels what is queued)
//   while (auto r = stream.get()) ...;                          // the rest, in order; nullopt at the end
//
// `workers` threads each take the oldest queued frame and run the stage (Runtime::classify on one frame: CPU
// preprocessing straight into a request's input, inference, softmax, top-k), so the next frames are preprocessed
// while the current one is inferred, across the Runtime's request slots (RuntimeOptions::num_requests: give it at
// least `workers`). A reorder buffer hands results out in submission order whatever order the workers finish in.
//
// Queueing is bounded: at most `queue_size` frames wait for a worker, plus one running per worker. When the queue is
// full, QueuePolicy::Block (default: no frame is lost, the producer slows to the model's pace) makes submit() wait
// (a timeout throws StreamFull); QueuePolicy::DropOldest (a control loop that wants the freshest frame) removes the
// oldest waiting frame, whose result comes back in its place with FrameStatus::Dropped. Every submitted frame gets
// exactly one result. A frame that throws (a bad image, an engine error) yields FrameStatus::Error with a one-line
// message and the exception_ptr; the stream goes on.
//
// close(drain) stops intake; drain=true processes what is queued, drain=false cancels it (FrameStatus::Cancelled).
// Frames already inside an inference call finish in both cases (an engine call cannot be interrupted), then every
// worker is joined. The destructor closes with StreamOptions::drain_on_close. Results not yet read stay readable.
//
// Thread safety: submit(), try_get(), get(), close() and the accessors may be called from any threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "yolocls/error.hpp"
#include "yolocls/export.hpp"
#include "yolocls/postprocess.hpp"
#include "yolocls/preprocess.hpp"
#include "yolocls/runtime.hpp"

namespace yolocls {

// What submit() does when `queue_size` frames are already waiting.
enum class QueuePolicy {
  Block,       // wait for a free place (default); a timeout throws StreamFull
  DropOldest,  // remove the oldest waiting frame (its result: FrameStatus::Dropped) and queue the new one
};

enum class FrameStatus { Ok, Error, Dropped, Cancelled };
YOLOCLS_API const char* to_string(FrameStatus status);
YOLOCLS_API const char* to_string(QueuePolicy policy);

// submit() under QueuePolicy::Block found the queue still full when its timeout ran out.
class YOLOCLS_API StreamFull : public Error {
 public:
  explicit StreamFull(const std::string& what) : Error(what) {}
};
// submit() after close().
class YOLOCLS_API StreamClosed : public Error {
 public:
  explicit StreamClosed(const std::string& what) : Error(what) {}
};
// get(timeout) found no result ready in time.
class YOLOCLS_API StreamTimeout : public Error {
 public:
  explicit StreamTimeout(const std::string& what) : Error(what) {}
};

struct StreamOptions {
  int workers = 2;                          // frames processed at once (>= 1); match the Runtime's request slots
  int queue_size = 0;                       // frames that may wait for a worker (0 = `workers`)
  QueuePolicy policy = QueuePolicy::Block;
  int topk = 5;                             // classes per frame (Runtime stage)
  bool drain_on_close = true;               // what the destructor does with queued frames
};

// One frame: a view of uint8 HxWx3 pixels and whatever keeps them alive until the frame has been processed (the
// stream holds `keep_alive` until then). A caller that reuses its buffer for the next frame uses copy_of().
struct YOLOCLS_API StreamFrame {
  ImageView image;
  std::shared_ptr<const void> keep_alive;

  // A frame that owns a packed copy of `view`'s pixels (rows copied, padding dropped). A view with no data, a
  // non-positive size or a row stride below 3 * width is kept as it is: its result reports the problem.
  static StreamFrame copy_of(const ImageView& view);
};

struct StreamResult {
  uint64_t id = 0;                       // submission number: 0, 1, 2, ... (results come back in this order)
  int64_t tag = 0;                       // the caller's tag (timestamp, camera frame number, ...)
  FrameStatus status = FrameStatus::Ok;
  std::vector<Classification> top;       // top-k, most probable first (empty unless Ok)
  std::string error;                     // one line naming the problem ("frame 7: ...") unless Ok
  std::exception_ptr exception;          // what the stage threw (Error status only)
  Timings timings;                       // the stage's own (Runtime: preprocess, inference, postprocess)
  double queue_ms = 0.0;                 // submit -> a worker took it
  double latency_ms = 0.0;               // submit -> result ready
  bool ok() const { return status == FrameStatus::Ok; }
};

class YOLOCLS_API Stream {
 public:
  // One frame's work: top-k of the image (fill `timings` if useful). May be called from several threads at once.
  using Stage = std::function<std::vector<Classification>(const ImageView& image, Timings* timings)>;

  // Classification by `runtime` (Runtime::classify on one frame, StreamOptions::topk classes). The Runtime must
  // outlive the Stream; its const methods are thread-safe, with `num_requests` inferences at once.
  explicit Stream(const Runtime& runtime, const StreamOptions& options = {});
  // Any per-frame stage (a custom pipeline, a test double).
  explicit Stream(Stage stage, const StreamOptions& options = {});
  ~Stream();  // close(options.drain_on_close)
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Queue a frame; returns its id. Never throws for a bad frame (its result carries the error). Block policy: waits
  // while the queue is full, at most `timeout_ms` (< 0: as long as it takes; workers free the queue whether or not
  // results are read), then throws StreamFull. Throws StreamClosed after close().
  uint64_t submit(StreamFrame frame, int64_t tag = 0, int timeout_ms = -1);

  // The next result in order if it is ready (true), else false at once.
  bool try_get(StreamResult& out);
  // The next result in order, waiting for it; nullopt once the stream is closed and every result was read. A
  // `timeout_ms` >= 0 that runs out throws StreamTimeout (< 0 waits: with nothing in flight and the stream open,
  // until another thread submits or closes).
  std::optional<StreamResult> get(int timeout_ms = -1);

  // Stop intake; drain (process) or cancel what is queued; join the workers. Idempotent.
  void close(bool drain);
  void close();  // close(options.drain_on_close)

  bool closed() const;
  size_t pending() const;   // submitted, result not yet read (queued + running + ready)
  size_t queued() const;    // waiting for a worker (<= queue_size)
  uint64_t dropped() const; // frames removed by QueuePolicy::DropOldest
  const StreamOptions& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace yolocls
