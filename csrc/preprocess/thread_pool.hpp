// A small persistent fork-join pool: parallel_for(n, fn) runs fn(0..n-1) on the workers and the calling thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace yolocls {
namespace detail {

class ThreadPool {
 public:
  // threads = total parallelism including the caller; threads - 1 workers are started (none for 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Run fn(i) for i in [0, n); returns when all are done and rethrows the first exception. One parallel_for at a
  // time: callers that may race use try_acquire()/release() (see Preprocessor).
  void parallel_for(int n, const std::function<void(int)>& fn);

  bool try_acquire() { return !in_use_.exchange(true, std::memory_order_acquire); }
  void release() { in_use_.store(false, std::memory_order_release); }

 private:
  void worker_loop();
  void drain();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  uint64_t generation_ = 0;
  int active_ = 0;  // workers still inside the current job
  bool stop_ = false;
  const std::function<void(int)>* job_ = nullptr;
  int job_size_ = 0;
  std::atomic<int> next_{0};
  std::exception_ptr error_;
  std::atomic<bool> in_use_{false};
};

}  // namespace detail
}  // namespace yolocls
