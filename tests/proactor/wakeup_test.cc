// Cross-thread wake-ups: every task queued from other threads runs exactly
// once, whether the wake-up travels by eventfd or by MSG_RING from the
// sender's own ring (and falls back to the eventfd for a sender without one).
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "core/event_loop_thread.h"
#include "tests/proactor/uring_test_fixture.h"

namespace duet::test {
namespace {

constexpr int kSenders = 4;
constexpr int kTasks = 100'000;

struct WakeResult {
  bool allRanOnce = false;
  std::uint64_t eventFdWrites = 0;  // on the target loop
  std::uint64_t senderRingWakes = 0;  // MSG_RING submissions counted by the senders' loops
};

// `sendersOwnRings`: each sender thread first makes a UringLoop of its own,
// which is what lets MSG_RING be used.
WakeResult queueFromManyThreads(UringWakeup mode, bool sendersOwnRings) {
  LoopOptions o = uringOptions();
  o.wakeup = mode;
  EventLoopThread target([o] { return makeEventLoop(o); }, "target");
  EventLoop* loop = target.start();

  std::vector<std::atomic<int>> runs(kTasks);
  std::atomic<int> total{0};
  std::atomic<std::uint64_t> senderWakes{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < kSenders; ++t) {
    senders.emplace_back([&, t] {
      std::unique_ptr<EventLoop> own;
      if (sendersOwnRings) own = makeEventLoop(o);
      for (int i = t; i < kTasks; i += kSenders) {
        loop->queueInLoop([&runs, &total, i] {
          runs[i].fetch_add(1, std::memory_order_relaxed);
          total.fetch_add(1, std::memory_order_relaxed);
        });
      }
      if (own) senderWakes += own->stats().syscalls[static_cast<int>(Syscall::Wakeup)].get();
    });
  }
  for (auto& s : senders) s.join();

  WakeResult r;
  EXPECT_TRUE(eventually([&] { return total.load() == kTasks; }, 20000)) << total.load() << " of " << kTasks;
  r.allRanOnce = true;
  for (int i = 0; i < kTasks; ++i) {
    if (runs[i].load() != 1) {
      ADD_FAILURE() << "task " << i << " ran " << runs[i].load() << " times";
      r.allRanOnce = false;
      break;
    }
  }
  r.eventFdWrites = loop->stats().syscalls[static_cast<int>(Syscall::Wakeup)].get();
  r.senderRingWakes = senderWakes.load();
  target.stop();
  return r;
}

class WakeupTest : public UringTest {};

TEST_F(WakeupTest, EventFdWakeupsRunEveryTaskOnce) {
  const WakeResult r = queueFromManyThreads(UringWakeup::EventFd, false);
  EXPECT_TRUE(r.allRanOnce);
  EXPECT_GT(r.eventFdWrites, 0u);
}

TEST_F(WakeupTest, MsgRingWakeupsRunEveryTaskOnce) {
  const WakeResult r = queueFromManyThreads(UringWakeup::MsgRing, true);
  EXPECT_TRUE(r.allRanOnce);
  EXPECT_GT(r.senderRingWakes, 0u) << "no wake-up went by MSG_RING";
  EXPECT_EQ(r.eventFdWrites, 0u) << "senders with a ring should not need the eventfd";
}

TEST_F(WakeupTest, MsgRingFallsBackToEventFdForThreadsWithoutARing) {
  const WakeResult r = queueFromManyThreads(UringWakeup::MsgRing, false);
  EXPECT_TRUE(r.allRanOnce);
  EXPECT_GT(r.eventFdWrites, 0u);
}

TEST_F(WakeupTest, QuitFromAnotherThreadWakesABlockedLoop) {
  for (UringWakeup mode : {UringWakeup::EventFd, UringWakeup::MsgRing}) {
    LoopOptions o = uringOptions();
    o.wakeup = mode;
    EventLoopThread t([o] { return makeEventLoop(o); }, "quit");
    t.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it block in io_uring_enter
    t.stop();  // quit() + join: hangs (and times the test out) if the wake-up is lost
  }
}

}  // namespace
}  // namespace duet::test
