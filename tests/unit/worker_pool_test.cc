#include "core/worker_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace duet {
namespace {

// A one-shot gate: jobs wait on it until the test opens it. wait() gives up
// after a long timeout so a broken pool fails the test instead of hanging it.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  bool wait() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts arrivals; waitFor(n) blocks until n have arrived (or a long timeout).
class Arrivals {
 public:
  void arrive() {
    std::lock_guard lock(mutex_);
    ++count_;
    cv_.notify_all();
  }
  bool waitFor(int n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return count_ >= n; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int count_ = 0;
};

TEST(WorkerPool, EveryJobRunsExactlyOnce) {
  constexpr int kJobs = 10000;
  std::vector<std::atomic<int>> runs(kJobs);
  {
    WorkerPool pool(4, kJobs);
    for (int i = 0; i < kJobs; ++i) {
      ASSERT_TRUE(pool.submit([&runs, i] { runs[static_cast<std::size_t>(i)].fetch_add(1); }));
    }
    pool.stop();
  }
  for (int i = 0; i < kJobs; ++i)
    EXPECT_EQ(runs[static_cast<std::size_t>(i)].load(), 1) << "job " << i;
}

TEST(WorkerPool, JobsRunOnAllThreadsAndNotTheCaller) {
  // Four jobs that each wait until all four are running at once: only a pool
  // with (at least) four concurrent workers gets past this.
  constexpr int kThreads = 4;
  WorkerPool pool(kThreads, 100);
  Arrivals started;
  Gate release;
  std::mutex mutex;
  std::set<std::thread::id> ids;
  std::atomic<int> timedOut{0};
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(pool.submit([&] {
      {
        std::lock_guard lock(mutex);
        ids.insert(std::this_thread::get_id());
      }
      started.arrive();
      if (!release.wait()) timedOut.fetch_add(1);
    }));
  }
  const bool allStarted = started.waitFor(kThreads);
  release.open();
  pool.stop();
  EXPECT_TRUE(allStarted) << "the pool never ran " << kThreads << " jobs at once";
  EXPECT_EQ(timedOut.load(), 0);
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kThreads));
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

TEST(WorkerPool, SubmitRefusesBeyondMaxQueued) {
  constexpr int kThreads = 2;
  constexpr std::size_t kMax = 3;
  WorkerPool pool(kThreads, kMax);
  Arrivals started;
  Gate release;
  // Occupy every worker so the queue cannot drain.
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_TRUE(pool.submit([&] {
      started.arrive();
      release.wait();
    }));
  }
  ASSERT_TRUE(started.waitFor(kThreads));
  EXPECT_EQ(pool.queued(), 0u);

  std::atomic<int> ran{0};
  for (std::size_t i = 0; i < kMax; ++i) EXPECT_TRUE(pool.submit([&] { ran.fetch_add(1); })) << i;
  EXPECT_EQ(pool.queued(), kMax);
  std::atomic<bool> refusedRan{false};
  EXPECT_FALSE(pool.submit([&] { refusedRan = true; })) << "queue is full";
  EXPECT_FALSE(pool.submit([&] { refusedRan = true; }));
  EXPECT_EQ(pool.queued(), kMax);

  release.open();
  pool.stop();
  EXPECT_EQ(ran.load(), static_cast<int>(kMax));
  EXPECT_FALSE(refusedRan.load()) << "a refused job must never run";
  EXPECT_EQ(pool.queued(), 0u);
}

TEST(WorkerPool, StopDrainsQueuedJobs) {
  WorkerPool pool(1, 1000);
  Arrivals started;
  Gate release;
  ASSERT_TRUE(pool.submit([&] {
    started.arrive();
    release.wait();
  }));
  ASSERT_TRUE(started.waitFor(1));
  std::atomic<int> ran{0};
  for (int i = 0; i < 500; ++i) ASSERT_TRUE(pool.submit([&] { ran.fetch_add(1); }));
  EXPECT_EQ(pool.queued(), 500u);
  // stop() from another thread while the worker is still blocked: it must wait
  // for the queue to drain rather than drop it.
  std::thread stopper([&] { pool.stop(); });
  release.open();
  stopper.join();
  EXPECT_EQ(ran.load(), 500);
  EXPECT_EQ(pool.queued(), 0u);
}

TEST(WorkerPool, SubmitAfterStopIsRefusedAndStopIsIdempotent) {
  WorkerPool pool(2, 10);
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.submit([&] { ran.fetch_add(1); }));
  pool.stop();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_FALSE(pool.submit([&] { ran.fetch_add(1); }));
  pool.stop();  // again: no hang, no crash
  EXPECT_EQ(ran.load(), 1);
}

TEST(WorkerPool, DestructorDrains) {
  std::atomic<int> ran{0};
  Gate release;
  {
    WorkerPool pool(2, 100);
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(pool.submit([&] { release.wait(); }));
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.submit([&] { ran.fetch_add(1); }));
    release.open();
  }
  EXPECT_EQ(ran.load(), 50);
}

TEST(WorkerPool, JobsMaySubmitMoreJobs) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(2, 100);
    Arrivals done;
    ASSERT_TRUE(pool.submit([&] {
      ran.fetch_add(1);
      EXPECT_TRUE(pool.submit([&] {
        ran.fetch_add(1);
        done.arrive();
      }));
    }));
    EXPECT_TRUE(done.waitFor(1));
  }
  EXPECT_EQ(ran.load(), 2);
}

}  // namespace
}  // namespace duet
