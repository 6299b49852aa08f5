// An idle reactor must cost nothing: it blocks in its wait and makes no
// system calls. The usual ways to break that are write interest left on
// (level-triggered pollers then report an idle socket writable on every
// wait), a readable EOF nobody drains, or a timer armed in the past. These
// tests compare counters, never timings.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include "core/connection.h"
#include "core/event_loop.h"
#include "reactor/reactor_loop.h"
#include "tests/reactor/reactor_test_helpers.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::reactor_test {
namespace {

class IdleLoopTest : public testing::TestWithParam<ReactorConfig> {};

TEST_P(IdleLoopTest, IdleLoopWithAFarTimerMakesNoSystemCalls) {
  std::promise<EventLoop*> made;
  std::thread thread([&] {
    ReactorLoop loop(GetParam().loop);
    // A timer an hour away: the timerfd is armed once and then stays quiet.
    loop.runAfter(std::chrono::hours(1), [] {});
    made.set_value(&loop);
    loop.run();
  });
  EventLoop* loop = made.get_future().get();

  const std::uint64_t before = settledSyscalls(*loop);
  const std::uint64_t waitsBefore = loop->stats().syscalls[static_cast<int>(Syscall::Wait)].get();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(loop->stats().totalSyscalls(), before)
      << "an idle " << loop->mode() << " loop made system calls";
  EXPECT_EQ(loop->stats().syscalls[static_cast<int>(Syscall::Wait)].get(), waitsBefore);

  loop->quit();
  thread.join();
}

TEST_P(IdleLoopTest, ConnectionIsQuietAfterABurstThatNeededWriteInterest) {
  test::ServerHarness server(GetParam().loop, loopbackServer(), plainEchoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();

  test::RawClient client(server.address());
  // Large enough that the echo backs up into the output buffer and write
  // interest is switched on; afterwards it must be switched off again.
  const std::string payload = test::patternBytes(8 << 20, 3);
  ASSERT_TRUE(client.echo(payload));

  EventLoop& loop = server.loop();
  const std::uint64_t before = settledSyscalls(loop);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(loop.stats().totalSyscalls(), before)
      << loop.mode() << ": an open, idle connection keeps the loop busy (write interest left on?)";
  EXPECT_GT(loop.stats().syscalls[static_cast<int>(Syscall::Write)].get(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Reactor, IdleLoopTest, testing::ValuesIn(reactorConfigs()),
                         [](const testing::TestParamInfo<ReactorConfig>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace duet::reactor_test
