// The pollers' bookkeeping checks itself (reactor/poller.h): in a build with
// live asserts (the sanitizer stage of the test command), registering one fd
// through two channels, or removing a channel the poller never had, stops
// the process at the line that did it instead of delivering readiness to the
// wrong object. Run on every reactor backend; skipped where NDEBUG compiles
// the checks out.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "core/socket_ops.h"
#include "reactor/channel.h"
#include "reactor/reactor_loop.h"
#include "tests/reactor/reactor_test_helpers.h"

namespace duet::reactor_test {
namespace {

class NoHandler final : public ChannelHandler {
 public:
  void handleReady(unsigned) override { ADD_FAILURE() << "no event expected"; }
};

class PollerInvariants : public testing::TestWithParam<ReactorConfig> {
 protected:
  void SetUp() override {
#ifdef NDEBUG
    GTEST_SKIP() << "NDEBUG build: the pollers' invariant checks are compiled out";
#endif
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    readEnd_ = UniqueFd(fds[0]);
    writeEnd_ = UniqueFd(fds[1]);
  }

  UniqueFd readEnd_;
  UniqueFd writeEnd_;
  NoHandler handler_;
};

TEST_P(PollerInvariants, OneFdCannotBeRegisteredByTwoChannels) {
  ReactorLoop loop(GetParam().loop);
  Channel first(loop, readEnd_.get(), handler_);
  Channel second(loop, readEnd_.get(), handler_);
  ASSERT_TRUE(first.enableReading());
  EXPECT_DEATH(second.enableReading(), "already registered by another channel");
  first.remove();
  EXPECT_TRUE(second.enableReading()) << "once the first channel is gone the fd is free";
}

TEST_P(PollerInvariants, RemovingAChannelThePollerNeverHadIsCaught) {
  ReactorLoop loop(GetParam().loop);
  Channel registered(loop, readEnd_.get(), handler_);
  Channel stranger(loop, writeEnd_.get(), handler_);
  ASSERT_TRUE(registered.enableReading());
  EXPECT_DEATH(loop.removeChannel(stranger), "not registered with this poller");
}

INSTANTIATE_TEST_SUITE_P(Reactor, PollerInvariants, testing::ValuesIn(reactorConfigs()),
                         [](const testing::TestParamInfo<ReactorConfig>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace duet::reactor_test
