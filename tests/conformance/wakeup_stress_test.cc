// Cross-thread wake-ups under pressure, on every backend: threads queue tasks
// onto a loop that has nothing else to wake it (no timers, no sockets) and
// wait for each to run. A wake-up lost once leaves the loop asleep on queued
// work for good, so every wait here is bounded and a lost one fails the test.
// (The reactor's eventfd waker once cleared its "pending" flag before
// draining the eventfd, which could swallow a racing wake-up forever; duet-soak
// found it as connections handed to an I/O loop that never adopted them. That
// race needs a wake() inside a window of a few instructions and this test did
// not hit it in practice: duet-soak's burst is what reproduces it. This test
// guards the simpler ways of losing a wake-up.)
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "core/event_loop_thread.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

class WakeupStressTest : public BackendTest {};

TEST_P(WakeupStressTest, NoWakeupIsLostUnderRacingProducers) {
  const LoopOptions options = loopOptions();
  EventLoopThread thread([options] { return makeEventLoop(options); }, "wakeups");
  EventLoop* loop = thread.start();
  constexpr int kProducers = 3;
  constexpr int kRoundTrips = 20000;
  std::atomic<int> stuck{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&] {
      for (int i = 0; i < kRoundTrips && stuck.load() == 0; ++i) {
        auto ran = std::make_shared<std::atomic<bool>>(false);
        loop->queueInLoop([ran] { ran->store(true, std::memory_order_release); });
        // Yield-spin (bounded): a lost wake-up shows as a task that never runs.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!ran->load(std::memory_order_acquire) &&
               std::chrono::steady_clock::now() < deadline) {
          std::this_thread::yield();
        }
        if (!ran->load(std::memory_order_acquire)) stuck.fetch_add(1);
      }
    });
  }
  for (auto& t : producers) t.join();
  EXPECT_EQ(stuck.load(), 0) << "a queued task never ran: a wake-up was lost";
  // If one was lost, this wakes the loop so stop() can still end it.
  loop->queueInLoop([] {});
  thread.stop();
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(WakeupStressTest);

}  // namespace
}  // namespace duet::test
