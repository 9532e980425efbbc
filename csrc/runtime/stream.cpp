// yolocls::Stream: a bounded queue, `workers` std::threads and a reorder buffer (see yolocls/stream.hpp).
#include "yolocls/stream.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace yolocls {

namespace {

using Clock = std::chrono::steady_clock;
double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// An exception's message on one line (newlines and runs of spaces folded), or its kind when it has none.
std::string one_line(const std::string& s, const char* fallback) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out.empty() ? fallback : out;
}

int positive(int v, const char* name) {
  if (v < 1) throw InvalidArgument(std::string("stream ") + name + " must be >= 1, got " + std::to_string(v));
  return v;
}

}  // namespace

const char* to_string(FrameStatus s) {
  switch (s) {
    case FrameStatus::Ok: return "ok";
    case FrameStatus::Error: return "error";
    case FrameStatus::Dropped: return "dropped";
    case FrameStatus::Cancelled: return "cancelled";
  }
  return "?";
}

const char* to_string(QueuePolicy p) { return p == QueuePolicy::Block ? "block" : "drop_oldest"; }

StreamFrame StreamFrame::copy_of(const ImageView& view) {
  const int64_t row = 3 * static_cast<int64_t>(view.width);
  const int64_t stride = view.row_stride == 0 ? row : view.row_stride;
  if (view.data == nullptr || view.height < 1 || view.width < 1 || stride < row) return StreamFrame{view, nullptr};
  auto pixels = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(row) * view.height);
  for (int y = 0; y < view.height; ++y) {
    std::memcpy(pixels->data() + static_cast<size_t>(y) * row, view.data + static_cast<size_t>(y) * stride,
                static_cast<size_t>(row));
  }
  StreamFrame f;
  f.image = view;
  f.image.data = pixels->data();
  f.image.row_stride = row;
  f.keep_alive = std::move(pixels);
  return f;
}

struct Stream::Impl {
  struct Item {
    uint64_t id;
    int64_t tag;
    StreamFrame frame;
    Clock::time_point submitted;
  };

  Stage stage;
  StreamOptions o;
  mutable std::mutex m;
  std::condition_variable cv;
  std::deque<Item> queue;
  std::map<uint64_t, StreamResult> done;  // reorder buffer: finished, not yet read
  uint64_t next_in = 0;
  uint64_t next_out = 0;
  uint64_t dropped = 0;
  bool closed = false;
  std::mutex join_mutex;  // one close() joins at a time
  std::vector<std::thread> threads;

  Impl(Stage s, const StreamOptions& opts) : stage(std::move(s)), o(opts) {
    if (!stage) throw InvalidArgument("stream stage is empty");
    positive(o.workers, "workers");
    if (o.queue_size == 0) o.queue_size = o.workers;
    positive(o.queue_size, "queue_size");
    positive(o.topk, "topk");
    if (o.policy != QueuePolicy::Block && o.policy != QueuePolicy::DropOldest) {
      throw InvalidArgument("unknown stream queue policy (expected Block or DropOldest)");
    }
    threads.reserve(o.workers);
    try {
      for (int i = 0; i < o.workers; ++i) threads.emplace_back([this] { work(); });
    } catch (...) {
      shutdown(false);
      throw;
    }
  }

  // Caller holds `m`.
  void finish(Item& item, FrameStatus status, std::string error, StreamResult&& r = StreamResult{}) {
    r.id = item.id;
    r.tag = item.tag;
    r.status = status;
    r.error = std::move(error);
    r.latency_ms = ms_between(item.submitted, Clock::now());
    done.emplace(item.id, std::move(r));
    cv.notify_all();
  }

  void work() {
    for (;;) {
      Item item;
      {
        std::unique_lock<std::mutex> lock(m);
        cv.wait(lock, [this] { return !queue.empty() || closed; });
        if (queue.empty()) return;  // closed, nothing left
        item = std::move(queue.front());
        queue.pop_front();
        cv.notify_all();  // a blocked submit may go on
      }
      const auto t0 = Clock::now();
      StreamResult r;
      r.queue_ms = ms_between(item.submitted, t0);
      FrameStatus status = FrameStatus::Ok;
      std::string error;
      try {
        r.top = stage(item.frame.image, &r.timings);
      } catch (const std::exception& e) {
        status = FrameStatus::Error;
        error = "frame " + std::to_string(item.id) + ": " + one_line(e.what(), "std::exception");
        r.exception = std::current_exception();
        r.top.clear();
      } catch (...) {
        status = FrameStatus::Error;
        error = "frame " + std::to_string(item.id) + ": unknown exception";
        r.exception = std::current_exception();
        r.top.clear();
      }
      item.frame = StreamFrame{};  // release the pixels now, not when the result is read
      std::lock_guard<std::mutex> lock(m);
      finish(item, status, std::move(error), std::move(r));
    }
  }

  void shutdown(bool drain) {
    {
      std::lock_guard<std::mutex> lock(m);
      closed = true;
      if (!drain) {
        while (!queue.empty()) {
          Item item = std::move(queue.front());
          queue.pop_front();
          finish(item, FrameStatus::Cancelled,
                 "frame " + std::to_string(item.id) + ": cancelled unprocessed, the stream was closed without draining");
        }
      }
      cv.notify_all();
    }
    std::lock_guard<std::mutex> join_lock(join_mutex);
    for (std::thread& t : threads) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
  }

  StreamResult pop() {  // caller holds `m`; done contains next_out
    auto it = done.find(next_out);
    StreamResult r = std::move(it->second);
    done.erase(it);
    ++next_out;
    return r;
  }
};

namespace {
Stream::Stage runtime_stage(const Runtime& rt, int k) {
  return [&rt, k](const ImageView& image, Timings* t) {
    std::vector<std::vector<Classification>> rows = rt.classify(&image, 1, k, t);
    return std::move(rows.at(0));
  };
}
}  // namespace

Stream::Stream(const Runtime& runtime, const StreamOptions& options)
    : impl_(std::make_unique<Impl>(runtime_stage(runtime, positive(options.topk, "topk")), options)) {}

Stream::Stream(Stage stage, const StreamOptions& options) : impl_(std::make_unique<Impl>(std::move(stage), options)) {}

Stream::~Stream() {
  if (impl_) impl_->shutdown(impl_->o.drain_on_close);
}

uint64_t Stream::submit(StreamFrame frame, int64_t tag, int timeout_ms) {
  Impl& s = *impl_;
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  std::unique_lock<std::mutex> lock(s.m);
  auto check_open = [&s] {
    if (s.closed) throw StreamClosed("the stream is closed; create a new one to submit more frames");
  };
  check_open();
  while (s.queue.size() >= static_cast<size_t>(s.o.queue_size)) {
    if (s.o.policy == QueuePolicy::DropOldest) {
      Impl::Item old = std::move(s.queue.front());
      s.queue.pop_front();
      ++s.dropped;
      s.finish(old, FrameStatus::Dropped,
               "frame " + std::to_string(old.id) + ": dropped unprocessed, the queue was full (policy drop_oldest, "
               "queue_size " + std::to_string(s.o.queue_size) + ")");
      break;
    }
    if (timeout_ms < 0) {
      s.cv.wait(lock);
    } else if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout &&
               s.queue.size() >= static_cast<size_t>(s.o.queue_size)) {
      throw StreamFull("the stream's queue stayed full (" + std::to_string(s.o.queue_size) + " frames waiting) for " +
                       std::to_string(timeout_ms) + " ms; raise the timeout, or use QueuePolicy::DropOldest");
    }
    check_open();
  }
  const uint64_t id = s.next_in++;
  s.queue.push_back(Impl::Item{id, tag, std::move(frame), Clock::now()});
  s.cv.notify_all();
  return id;
}

bool Stream::try_get(StreamResult& out) {
  std::lock_guard<std::mutex> lock(impl_->m);
  if (impl_->done.count(impl_->next_out) == 0) return false;
  out = impl_->pop();
  return true;
}

std::optional<StreamResult> Stream::get(int timeout_ms) {
  Impl& s = *impl_;
  const auto deadline = Clock::now() + std::chrono::milliseconds(std::max(0, timeout_ms));
  std::unique_lock<std::mutex> lock(s.m);
  while (s.done.count(s.next_out) == 0) {
    if (s.closed && s.next_out >= s.next_in) return std::nullopt;
    if (timeout_ms < 0) {
      s.cv.wait(lock);
    } else if (s.cv.wait_until(lock, deadline) == std::cv_status::timeout && s.done.count(s.next_out) == 0) {
      if (s.closed && s.next_out >= s.next_in) return std::nullopt;
      throw StreamTimeout("no result within " + std::to_string(timeout_ms) + " ms (frame " +
                          std::to_string(s.next_out) + " is still in the stream)");
    }
  }
  return s.pop();
}

void Stream::close(bool drain) { impl_->shutdown(drain); }
void Stream::close() { impl_->shutdown(impl_->o.drain_on_close); }

bool Stream::closed() const {
  std::lock_guard<std::mutex> lock(impl_->m);
  return impl_->closed;
}
size_t Stream::pending() const {
  std::lock_guard<std::mutex> lock(impl_->m);
  return static_cast<size_t>(impl_->next_in - impl_->next_out);
}
size_t Stream::queued() const {
  std::lock_guard<std::mutex> lock(impl_->m);
  return impl_->queue.size();
}
uint64_t Stream::dropped() const {
  std::lock_guard<std::mutex> lock(impl_->m);
  return impl_->dropped;
}
const StreamOptions& Stream::options() const { return impl_->o; }

}  // namespace yolocls
