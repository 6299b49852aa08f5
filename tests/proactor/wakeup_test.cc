// Cross-thread wake-ups: every task queued from other threads runs exactly
// once, whether the wake-up travels by eventfd or by MSG_RING from the
// sender's own ring (and falls back to the eventfd for a sender without one).
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/event_loop_thread.h"
#include "proactor/uring_loop.h"
#include "proactor/uring_waker.h"
#include "tests/proactor/uring_test_fixture.h"

namespace duet::test {
namespace {

constexpr int kSenders = 4;
constexpr int kTasks = 100'000;

struct WakeResult {
  bool allRanOnce = false;
  std::uint64_t targetWakeups = 0;  // the target's sys_wakeup: every wake-up, however it travelled
  std::uint64_t eventFdWrites = 0;  // the wake-ups that went by the target's eventfd
  std::uint64_t senderWakeups = 0;  // the senders' own sys_wakeup (nothing is charged there)
  std::uint64_t senderSubmitted = 0;  // SQEs the senders' rings submitted (their MSG_RINGs)
};

// `sendersOwnRings`: each sender thread first makes a UringLoop of its own,
// which is what lets MSG_RING be used.
WakeResult queueFromManyThreads(UringWakeup mode, bool sendersOwnRings) {
  LoopOptions o = uringOptions();
  o.uring.wakeup = mode;
  EventLoopThread target([o] { return makeEventLoop(o); }, "target");
  EventLoop* loop = target.start();

  std::vector<std::atomic<int>> runs(kTasks);
  std::atomic<int> total{0};
  std::atomic<std::uint64_t> senderWakes{0};
  std::atomic<std::uint64_t> senderSubmitted{0};
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
      if (own) {
        senderWakes += own->stats().syscalls[static_cast<int>(Syscall::Wakeup)].get();
        senderSubmitted += own->stats().uring.sqesSubmitted.get();
      }
    });
  }
  for (auto& s : senders) s.join();

  WakeResult r;
  EXPECT_TRUE(eventually([&] { return total.load() == kTasks; }, 20000))
      << total.load() << " of " << kTasks;
  r.allRanOnce = true;
  for (int i = 0; i < kTasks; ++i) {
    if (runs[i].load() != 1) {
      ADD_FAILURE() << "task " << i << " ran " << runs[i].load() << " times";
      r.allRanOnce = false;
      break;
    }
  }
  r.targetWakeups = loop->stats().syscalls[static_cast<int>(Syscall::Wakeup)].get();
  r.eventFdWrites = dynamic_cast<UringLoop&>(*loop).waker().eventFdWrites();
  r.senderWakeups = senderWakes.load();
  r.senderSubmitted = senderSubmitted.load();
  target.stop();
  return r;
}

class WakeupTest : public UringTest {};

TEST_F(WakeupTest, EventFdWakeupsRunEveryTaskOnce) {
  const WakeResult r = queueFromManyThreads(UringWakeup::EventFd, false);
  EXPECT_TRUE(r.allRanOnce);
  EXPECT_GT(r.eventFdWrites, 0u);
  EXPECT_EQ(r.targetWakeups, r.eventFdWrites);
}

TEST_F(WakeupTest, MsgRingWakeupsRunEveryTaskOnce) {
  const WakeResult r = queueFromManyThreads(UringWakeup::MsgRing, true);
  EXPECT_TRUE(r.allRanOnce);
  EXPECT_GT(r.senderSubmitted, 0u) << "no wake-up went by MSG_RING";
  EXPECT_EQ(r.eventFdWrites, 0u) << "senders with a ring should not need the eventfd";
  EXPECT_GT(r.targetWakeups, 0u) << "MSG_RING wake-ups are charged to the loop they wake";
  EXPECT_EQ(r.senderWakeups, 0u) << "and not to the sender";
}

TEST_F(WakeupTest, MsgRingFallsBackToEventFdForThreadsWithoutARing) {
  const WakeResult r = queueFromManyThreads(UringWakeup::MsgRing, false);
  EXPECT_TRUE(r.allRanOnce);
  EXPECT_GT(r.eventFdWrites, 0u);
}

// True while thread `tid` of this process sleeps in io_uring_enter (the
// kernel shows the system call a blocked thread is in).
bool blockedInIoUringEnter(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/syscall");
  long number = -1;
  return (in >> number) && number == SYS_io_uring_enter;
}

std::uint64_t wakeupSyscalls(const EventLoop& loop) {
  return loop.stats().syscalls[static_cast<int>(Syscall::Wakeup)].get();
}

// A wake-up is charged to the loop it wakes, whichever way it travels
// (docs/reading-the-report.md, "Counters"): an eventfd write from any thread,
// and a MSG_RING sent from another loop's ring alike. The sender's own
// counters do not change: the wake-up is not its work.
TEST_F(WakeupTest, MsgRingWakeupIsChargedToTheLoopItWakes) {
  LoopOptions o = uringOptions();
  o.uring.wakeup = UringWakeup::MsgRing;
  EventLoopThread target([o] { return makeEventLoop(o); }, "target");
  EventLoop* loop = target.start();
  std::atomic<pid_t> targetTid{0};
  loop->queueInLoop(
      [&] { targetTid = ::gettid(); });  // an eventfd wake-up: this thread has no ring
  ASSERT_TRUE(eventually([&] { return targetTid.load() != 0; }));
  ASSERT_TRUE(eventually([&] { return blockedInIoUringEnter(targetTid); }));
  const std::uint64_t targetBefore = wakeupSyscalls(*loop);
  EXPECT_GE(targetBefore, 1u) << "the eventfd wake-up above is charged to the target";

  std::atomic<bool> ran{false};
  std::uint64_t senderWakeups = 0;
  std::uint64_t senderEnters = 0;
  std::uint64_t senderSubmitted = 0;
  std::thread sender([&] {
    auto own = makeEventLoop(o);  // a ring of its own: the wake-up goes by MSG_RING
    loop->queueInLoop([&] { ran = true; });
    senderWakeups = wakeupSyscalls(*own);
    senderEnters = own->stats().uring.enterCalls.get();
    senderSubmitted = own->stats().uring.sqesSubmitted.get();
  });
  sender.join();  // its counting is done: the target's counter is final
  ASSERT_TRUE(eventually([&] { return ran.load(); }));

  EXPECT_GT(senderSubmitted, 0u) << "the wake-up did not go out through the sender's ring";
  EXPECT_EQ(wakeupSyscalls(*loop), targetBefore + 1)
      << "the MSG_RING wake-up is the woken loop's sys_wakeup";
  EXPECT_EQ(senderWakeups, 0u) << "the sender was charged for the target's wake-up";
  EXPECT_EQ(senderEnters, 0u) << "a wake-up sent is not one of the sender's enters";
  target.stop();
}

// A MSG_RING that fails is reported on the sender's ring, which the sender's
// loop may not reap for a long time (here: never, it does not run). The
// target's "wake-up on its way" flag must not stay set meanwhile: the target
// still wakes, and so do later wake-ups from anywhere. The target is asleep in
// io_uring_enter before the wake-up is sent, so only a wake-up can run the task.
TEST_F(WakeupTest, FailedMsgRingWakeupStillWakesTheTarget) {
  LoopOptions o = uringOptions();
  o.uring.wakeup = UringWakeup::MsgRing;
  EventLoopThread target([o] { return makeEventLoop(o); }, "target");
  EventLoop* loop = target.start();
  std::atomic<pid_t> targetTid{0};
  loop->queueInLoop([&] { targetTid = ::gettid(); });
  ASSERT_TRUE(eventually([&] { return targetTid.load() != 0; }));
  ASSERT_TRUE(eventually([&] { return blockedInIoUringEnter(targetTid); }));

  std::atomic<bool> ran{false};
  std::atomic<bool> queued{false};
  std::atomic<bool> release{false};
  // The sender keeps its ring (and the failure completion in it) until the end:
  // destroying it would reap the completion and hide the bug.
  std::thread sender([&] {
    auto own = makeEventLoop(o);
    UringWaker::failMsgRingForTesting(true);
    loop->queueInLoop([&] { ran = true; });
    UringWaker::failMsgRingForTesting(false);
    queued = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  ASSERT_TRUE(eventually([&] { return queued.load(); }));
  EXPECT_TRUE(eventually([&] { return ran.load(); }, 3000))
      << "the failed MSG_RING left the target asleep";

  // A later wake-up, by eventfd from this thread, must get through too.
  std::atomic<bool> ranLater{false};
  if (ran) {
    ASSERT_TRUE(eventually([&] { return blockedInIoUringEnter(targetTid); }));
    loop->queueInLoop([&] { ranLater = true; });
    EXPECT_TRUE(eventually([&] { return ranLater.load(); }, 3000))
        << "a wake-up was still marked as on its way";
  }
  release = true;
  sender.join();
  target.stop();
}

TEST_F(WakeupTest, QuitFromAnotherThreadWakesABlockedLoop) {
  for (UringWakeup mode : {UringWakeup::EventFd, UringWakeup::MsgRing}) {
    LoopOptions o = uringOptions();
    o.uring.wakeup = mode;
    EventLoopThread t([o] { return makeEventLoop(o); }, "quit");
    t.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let it block in io_uring_enter
    t.stop();  // quit() + join: hangs (and times the test out) if the wake-up is lost
  }
}

}  // namespace
}  // namespace duet::test
