// A fixed pool of threads for slow application work (disk, CPU-heavy handlers)
// that must not run on an I/O loop. A handler submits a job and sends the
// result back with conn->loop().runInLoop(...) or simply conn->send(...),
// which is safe from any thread.
//
// The queue is bounded: submit() refuses work beyond the cap instead of
// growing memory without limit, so overload shows up as a refusal the
// application can answer (e.g. with 503).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace duet {

class WorkerPool {
 public:
  WorkerPool(std::size_t threads, std::size_t maxQueued);
  ~WorkerPool();  // runs what is queued, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False if the queue is full or the pool is stopping.
  bool submit(std::function<void()> job);
  void stop();  // finish queued jobs, join; idempotent
  std::size_t queued() const;

 private:
  void work();

  const std::size_t maxQueued_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace duet
