// yolocls::Stream: results in submission order under random per-frame delays, a failing frame's own error, the bounded
// queue (Block waits / times out, DropOldest keeps the freshest), close with frames in flight (drain or cancel, workers
// joined), StreamFrame::copy_of. Stages are test doubles (no model needed); with YOLOCLS_TEST_MODEL=<model.onnx> set
// (and the OpenVINO module loadable) the same checks run on a real Runtime against its sequential classify().
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"
#include "yolocls/stream.hpp"

using namespace yolocls;
using namespace std::chrono_literals;

namespace {

// A 4x4 frame whose pixels all hold `value`; the fake stages answer class `value`.
StreamFrame frame_of(int value) {
  std::vector<uint8_t> px(4 * 4 * 3, static_cast<uint8_t>(value));
  ImageView v{px.data(), 4, 4, 0, ChannelOrder::BGR};
  return StreamFrame::copy_of(v);
}

std::vector<Classification> class_of_first_pixel(const ImageView& im) {
  if (im.data == nullptr) throw InvalidArgument("no pixels in this image\n(second line)");
  return {Classification{im.data[0], 1.0f}};
}

std::vector<Classification> first_pixel_stage(const ImageView& im, Timings*) { return class_of_first_pixel(im); }

// A stage that blocks until opened; counts how many frames are inside it at once.
struct Gate {
  std::mutex m;
  std::condition_variable cv;
  bool open = false;
  int inside = 0, max_inside = 0, started = 0;

  Stream::Stage stage() {
    return [this](const ImageView& im, Timings*) {
      std::unique_lock<std::mutex> lock(m);
      ++inside;
      ++started;
      max_inside = std::max(max_inside, inside);
      cv.notify_all();
      cv.wait_for(lock, 20s, [this] { return open; });
      --inside;
      return class_of_first_pixel(im);
    };
  }
  void release() {
    std::lock_guard<std::mutex> lock(m);
    open = true;
    cv.notify_all();
  }
  bool wait_started(int n) {
    std::unique_lock<std::mutex> lock(m);
    return cv.wait_for(lock, 20s, [&] { return started >= n; });
  }
};

std::vector<StreamResult> drain_all(Stream& s) {
  std::vector<StreamResult> out;
  while (auto r = s.get(20000)) out.push_back(std::move(*r));
  return out;
}

}  // namespace

TEST(in_order_under_random_delays) {
  std::mt19937 rng(0);
  std::vector<int> delay_us(200);
  for (int& d : delay_us) d = std::uniform_int_distribution<int>(0, 3)(rng) * 1000;
  std::atomic<int> calls{0};
  StreamOptions o;
  o.workers = 4;
  o.queue_size = 3;
  Stream s(
      [&](const ImageView& im, Timings*) {
        std::this_thread::sleep_for(std::chrono::microseconds(delay_us[calls++ % delay_us.size()]));
        return class_of_first_pixel(im);
      },
      o);
  std::vector<StreamResult> got;
  for (int i = 0; i < 200; ++i) {
    CHECK(s.submit(frame_of(i % 256), 1000 + i) == static_cast<uint64_t>(i));
    CHECK(s.queued() <= 3u);
    StreamResult r;
    while (s.try_get(r)) got.push_back(r);
  }
  s.close();
  for (auto& r : drain_all(s)) got.push_back(r);
  CHECK(got.size() == 200u);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].id == i);
    CHECK(got[i].tag == static_cast<int64_t>(1000 + i));
    CHECK(got[i].ok() && got[i].error.empty());
    CHECK(got[i].top.size() == 1 && got[i].top[0].class_id == static_cast<int>(i % 256));
    CHECK(got[i].latency_ms >= got[i].queue_ms && got[i].queue_ms >= 0.0);
  }
  CHECK(calls == 200 && s.pending() == 0u);
}

TEST(workers_overlap) {
  Gate g;
  StreamOptions o;
  o.workers = 2;
  Stream s(g.stage(), o);
  for (int i = 0; i < 4; ++i) s.submit(frame_of(i));
  CHECK(g.wait_started(2));
  {
    std::lock_guard<std::mutex> lock(g.m);
    CHECK(g.max_inside == 2);
  }
  g.release();
  s.close();
  CHECK(drain_all(s).size() == 4u);
}

TEST(failing_frame_is_its_own_error) {
  Stream s(&first_pixel_stage);
  for (int i = 0; i < 6; ++i) {
    s.submit(i == 3 ? StreamFrame{} : frame_of(i), i);  // frame 3: no pixels
  }
  s.close();
  std::vector<StreamResult> got = drain_all(s);
  CHECK(got.size() == 6u);
  for (const StreamResult& r : got) {
    if (r.id == 3) {
      CHECK(r.status == FrameStatus::Error && r.top.empty());
      CHECK(r.error == "frame 3: no pixels in this image (second line)");
      CHECK_THROWS(std::rethrow_exception(r.exception), InvalidArgument, "no pixels");
    } else {
      CHECK(r.ok() && r.top[0].class_id == static_cast<int>(r.id) && !r.exception);
    }
  }
  CHECK(std::string(to_string(got[3].status)) == "error");
}

TEST(block_policy_bounds_the_queue) {
  Gate g;
  StreamOptions o;
  o.workers = 2;
  o.queue_size = 3;
  Stream s(g.stage(), o);
  s.submit(frame_of(0));
  s.submit(frame_of(1));
  CHECK(g.wait_started(2));
  for (int i = 2; i < 5; ++i) s.submit(frame_of(i), 0, 1000);
  CHECK(s.queued() == 3u && s.pending() == 5u);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS(s.submit(frame_of(5), 0, 100), StreamFull, "queue stayed full (3 frames waiting) for 100 ms");
  CHECK(std::chrono::steady_clock::now() - t0 >= 90ms);
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms);
    g.release();
  });
  s.submit(frame_of(5));  // blocks until a worker frees a place
  opener.join();
  s.close();
  std::vector<StreamResult> got = drain_all(s);
  CHECK(got.size() == 6u);
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].ok() && got[i].top[0].class_id == static_cast<int>(i));
}

TEST(drop_oldest_keeps_the_freshest) {
  Gate g;
  StreamOptions o;
  o.workers = 1;
  o.queue_size = 2;
  o.policy = QueuePolicy::DropOldest;
  Stream s(g.stage(), o);
  s.submit(frame_of(0));
  CHECK(g.wait_started(1));
  for (int i = 1; i < 8; ++i) {
    s.submit(frame_of(i), i, 0);  // never blocks, never throws
    CHECK(s.queued() <= 2u);
  }
  CHECK(s.dropped() == 5u);
  g.release();
  s.close();
  std::vector<StreamResult> got = drain_all(s);
  CHECK(got.size() == 8u);
  const FrameStatus D = FrameStatus::Dropped, K = FrameStatus::Ok;
  const std::vector<FrameStatus> want{K, D, D, D, D, D, K, K};
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].id == i && got[i].status == want[i]);
  CHECK(got[6].top[0].class_id == 6 && got[7].top[0].class_id == 7);
  CHECK(got[1].error.find("dropped unprocessed, the queue was full (policy drop_oldest, queue_size 2)") !=
        std::string::npos);
}

TEST(close_without_drain_cancels_queued_and_finishes_running) {
  Gate g;
  StreamOptions o;
  o.workers = 2;
  o.queue_size = 4;
  Stream s(g.stage(), o);
  for (int i = 0; i < 6; ++i) s.submit(frame_of(i));
  CHECK(g.wait_started(2));
  std::thread opener([&] {
    std::this_thread::sleep_for(50ms);
    g.release();
  });
  s.close(false);  // returns once the two running frames finished and the workers are joined
  opener.join();
  CHECK(s.closed());
  CHECK_THROWS(s.submit(frame_of(9)), StreamClosed, "the stream is closed");
  std::vector<StreamResult> got = drain_all(s);
  CHECK(got.size() == 6u);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].id == i);
    CHECK(got[i].status == (i < 2 ? FrameStatus::Ok : FrameStatus::Cancelled));
  }
  CHECK(got[2].error == "frame 2: cancelled unprocessed, the stream was closed without draining");
  s.close();  // idempotent
  CHECK(!s.get(0).has_value());
}

TEST(destructor_drains_or_cancels) {
  std::atomic<int> calls{0};
  auto counting = [&](const ImageView& im, Timings*) {
    ++calls;
    std::this_thread::sleep_for(1ms);
    return class_of_first_pixel(im);
  };
  {
    StreamOptions o;
    o.queue_size = 10;
    Stream s(counting, o);
    for (int i = 0; i < 10; ++i) s.submit(frame_of(i));
  }
  CHECK(calls == 10);
  Gate g;
  std::thread opener;
  {
    StreamOptions o;
    o.workers = 1;
    o.queue_size = 4;
    o.drain_on_close = false;
    Stream s(g.stage(), o);
    for (int i = 0; i < 5; ++i) s.submit(frame_of(i));
    CHECK(g.wait_started(1));
    opener = std::thread([&] {
      std::this_thread::sleep_for(20ms);
      g.release();
    });
  }  // cancels the 4 queued frames, waits for the running one
  opener.join();
  std::lock_guard<std::mutex> lock(g.m);
  CHECK(g.started == 1);
}

TEST(get_timeout_and_options) {
  Gate g;
  Stream s(g.stage());
  CHECK_THROWS(s.get(10), StreamTimeout, "no result within 10 ms");
  s.submit(frame_of(1));
  CHECK_THROWS(s.get(10), StreamTimeout, "frame 0 is still in the stream");
  g.release();
  auto r = s.get(20000);
  CHECK(r.has_value() && r->ok());
  CHECK(s.options().queue_size == 2);  // 0 = workers
  StreamOptions bad;
  bad.workers = 0;
  CHECK_THROWS(Stream(&first_pixel_stage, bad), InvalidArgument, "stream workers must be >= 1, got 0");
  bad.workers = 1;
  bad.queue_size = -1;
  CHECK_THROWS(Stream(&first_pixel_stage, bad), InvalidArgument, "queue_size");
  CHECK_THROWS(Stream(Stream::Stage{}), InvalidArgument, "stage is empty");
  CHECK(std::string(to_string(QueuePolicy::DropOldest)) == "drop_oldest");
}

TEST(copy_of_packs_and_owns_the_pixels) {
  std::vector<uint8_t> padded(3 * 16, 0);  // 3 rows of 4 pixels, stride 16 bytes
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 12; ++x) padded[y * 16 + x] = static_cast<uint8_t>(y * 12 + x);
  }
  StreamFrame f = StreamFrame::copy_of(ImageView{padded.data(), 3, 4, 16, ChannelOrder::RGB});
  padded.assign(padded.size(), 255);  // the caller reuses its buffer
  CHECK(f.keep_alive != nullptr && f.image.row_stride == 12 && f.image.order == ChannelOrder::RGB);
  bool same = true;
  for (int i = 0; i < 36; ++i) same = same && f.image.data[i] == i;
  CHECK(same);
  StreamFrame bad = StreamFrame::copy_of(ImageView{padded.data(), 3, 4, 8, ChannelOrder::BGR});  // stride < 3W
  CHECK(bad.keep_alive == nullptr && bad.image.row_stride == 8);
}

TEST(real_runtime_matches_sequential_classify) {
  const char* model = std::getenv("YOLOCLS_TEST_MODEL");
  if (model == nullptr || *model == '\0') SKIP("set YOLOCLS_TEST_MODEL=<model.onnx with yolocls metadata>");
  RuntimeOptions ro;
  ro.threads = 1;
  ro.num_requests = 2;
  Runtime rt(model, ro);
  std::mt19937 rng(1);
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<ImageView> views;
  for (int i = 0; i < 8; ++i) {
    const int h = 40 + 9 * i, w = 70 - 5 * i;
    pixels.emplace_back(static_cast<size_t>(h) * w * 3);
    for (uint8_t& p : pixels.back()) p = static_cast<uint8_t>(rng());
    views.push_back(ImageView{pixels.back().data(), h, w, 0, ChannelOrder::BGR});
  }
  StreamOptions o;
  o.topk = 3;
  Stream s(rt, o);
  for (size_t i = 0; i < views.size(); ++i) {
    if (i == 4) s.submit(StreamFrame{ImageView{nullptr, 10, 10, 0, ChannelOrder::BGR}, nullptr}, -1);
    s.submit(StreamFrame{views[i], nullptr}, static_cast<int64_t>(i));  // pixels outlive the stream
  }
  s.close();
  std::vector<StreamResult> got = drain_all(s);
  CHECK(got.size() == 9u);
  size_t v = 0;
  for (const StreamResult& r : got) {
    if (r.tag == -1) {
      CHECK(r.status == FrameStatus::Error && r.error.rfind("frame 4: ", 0) == 0);
      continue;
    }
    CHECK(r.ok() && r.top.size() == 3u && r.timings.inference_ms > 0.0);
    const std::vector<Classification> want = rt.classify(&views[v], 1, 3).at(0);
    for (size_t j = 0; j < want.size() && j < r.top.size(); ++j) {
      CHECK(r.top[j].class_id == want[j].class_id);
      CHECK_NEAR(r.top[j].prob, want[j].prob, 1e-5);
    }
    CHECK(r.tag == static_cast<int64_t>(v));
    ++v;
  }
}
