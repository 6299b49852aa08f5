// How the loop enters the kernel: a registered ring fd (UringOptions::
// registerRingFd) and waits without iowait (UringOptions::noIowait). Neither
// may cost the loop a wake-up: timers fire, tasks queued from other threads
// run, and a MSG_RING wake-up from another loop still finds the ring (it needs
// the real descriptor: a registered index means nothing to another thread).
#include <atomic>
#include <memory>
#include <thread>

#include "core/event_loop_thread.h"
#include "proactor/uring_loop.h"
#include "proactor/uring_waker.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

class RingWaitOptionsTest : public UringTest {};

const Ring& ringOf(EventLoop& loop) { return dynamic_cast<UringLoop&>(loop).ring(); }

// A timer and a task queued from another thread both end the loop's wait.
void expectTimersAndWakeUpsWake(const LoopOptions& o) {
  EventLoopThread thread([o] { return makeEventLoop(o); }, "waiting");
  EventLoop* loop = thread.start();
  std::atomic<bool> timerFired{false};
  loop->runInLoop(
      [&] { loop->runAfter(std::chrono::milliseconds(20), [&] { timerFired = true; }); });
  EXPECT_TRUE(eventually([&] { return timerFired.load(); }));
  for (int i = 0; i < 20; ++i) {
    std::atomic<bool> ran{false};
    loop->queueInLoop([&] { ran = true; });  // by eventfd: this thread has no ring
    ASSERT_TRUE(eventually([&] { return ran.load(); })) << "wake-up " << i << " was missed";
  }
  thread.stop();
}

TEST_F(RingWaitOptionsTest, RegisteredRingFdServesAnEcho) {
  LoopOptions o = uringOptions();
  o.uring.registerRingFd = true;
  ServerHarness server(o, testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  bool registered = false;
  server.runSync([&] { registered = ringOf(server.loop()).ringFdRegistered(); });
  EXPECT_TRUE(registered);
  RawClient client(server.address());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(client.echo(patternBytes(70000, i)));
}

TEST_F(RingWaitOptionsTest, RegisteredRingFdStillWakesForTimersAndTasks) {
  LoopOptions o = uringOptions();
  o.uring.registerRingFd = true;
  expectTimersAndWakeUpsWake(o);
}

// Both rings registered, each at index 0 of its own thread's table: a MSG_RING
// aimed by index would hit the sender's own ring (or nothing). It must go by
// the target's real descriptor, and never need the eventfd fallback.
TEST_F(RingWaitOptionsTest, MsgRingWakeUpsBetweenRegisteredRingsReachTheirTarget) {
  LoopOptions o = uringOptions();
  o.uring.registerRingFd = true;
  o.uring.wakeup = UringWakeup::MsgRing;
  EventLoopThread target([o] { return makeEventLoop(o); }, "target");
  EventLoop* loop = target.start();
  bool targetRegistered = false;
  std::atomic<bool> read{false};
  loop->queueInLoop([&] {
    targetRegistered = ringOf(*loop).ringFdRegistered();
    read = true;
  });
  ASSERT_TRUE(eventually([&] { return read.load(); }));
  EXPECT_TRUE(targetRegistered);
  const std::uint64_t eventFdBefore = dynamic_cast<UringLoop&>(*loop).waker().eventFdWrites();

  std::atomic<int> ran{0};
  std::thread sender([&] {
    auto own = makeEventLoop(o);  // a registered ring of its own: wake-ups go by MSG_RING
    EXPECT_TRUE(ringOf(*own).ringFdRegistered());
    for (int i = 0; i < 50; ++i) {
      const int before = ran.load();
      loop->queueInLoop([&] { ran.fetch_add(1); });
      ASSERT_TRUE(eventually([&] { return ran.load() == before + 1; }))
          << "wake-up " << i << " was missed";
    }
  });
  sender.join();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_EQ(dynamic_cast<UringLoop&>(*loop).waker().eventFdWrites(), eventFdBefore)
      << "a MSG_RING failed and fell back to the eventfd: it did not find the target ring";
  target.stop();
}

TEST_F(RingWaitOptionsTest, NoIowaitWaitsStillWakeForTimersAndTasks) {
  LoopOptions o = uringOptions();
  o.uring.noIowait = KernelFeature::On;
  DUET_SKIP_WITHOUT_URING(o);  // a kernel before 6.15 refuses: the reason is the skip message
  {
    auto loop = makeEventLoop(o);
    EXPECT_TRUE(ringOf(*loop).waitsWithoutIowait());
  }
  expectTimersAndWakeUpsWake(o);
}

TEST_F(RingWaitOptionsTest, NoIowaitAutoFollowsTheKernelAndOffTurnsItOff) {
  LoopOptions on = uringOptions();
  on.uring.noIowait = KernelFeature::On;
  const bool kernelHasIt = !uringUnavailable(on).has_value();
  LoopOptions o = uringOptions();
  o.uring.noIowait = KernelFeature::Auto;
  EXPECT_EQ(ringOf(*makeEventLoop(o)).waitsWithoutIowait(), kernelHasIt);
  o.uring.noIowait = KernelFeature::Off;
  EXPECT_FALSE(ringOf(*makeEventLoop(o)).waitsWithoutIowait());
}

}  // namespace
}  // namespace duet::test
