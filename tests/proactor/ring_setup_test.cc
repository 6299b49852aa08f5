// Ring set-up: each forced task-run mode works end to end and is named in
// mode(); and when io_uring is unavailable the loop says so in one line that
// points at --backend epoll (simulated with DUET_DISABLE_URING=1).
#include <cstdlib>
#include <string>

#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

class RingSetupTest : public UringTest {};

struct ModeCase {
  UringTaskRun taskRun;
  bool sqpoll;
  const char* expectedMode;
};

TEST_F(RingSetupTest, EachForcedTaskRunModeServesAnEcho) {
  const ModeCase cases[] = {
      {UringTaskRun::Defer, false, "uring-defer"},
      {UringTaskRun::Coop, false, "uring-coop"},
      {UringTaskRun::Plain, false, "uring-plain"},
      {UringTaskRun::Coop, true, "uring-coop+sqpoll"},
  };
  for (const ModeCase& c : cases) {
    SCOPED_TRACE(c.expectedMode);
    LoopOptions o = uringOptions();
    o.uring.taskRun = c.taskRun;
    o.uring.sqpoll = c.sqpoll;
    if (const auto why = uringUnavailable(o)) {
      // An older kernel may lack a mode: that must be the one-line refusal, not a crash.
      EXPECT_NE(why->find("--backend epoll"), std::string::npos) << *why;
      continue;
    }
    ServerHarness server(o, testServerOptions(), echoCallbacks());
    ASSERT_TRUE(server.ok()) << server.error();
    EXPECT_EQ(server.loop().mode(), c.expectedMode);
    RawClient client(server.address());
    EXPECT_TRUE(client.echo(patternBytes(256 * 1024, 7)));
    client.close();
    server.stop();
  }
}

TEST_F(RingSetupTest, AutoPicksTheBestModeTheKernelHas) {
  auto loop = makeEventLoop(uringOptions());
  const std::string& mode = loop->mode();
  EXPECT_TRUE(mode == "uring-defer" || mode == "uring-coop" || mode == "uring-plain") << mode;
  // If the kernel accepts DEFER_TASKRUN, Auto must have chosen it.
  LoopOptions defer = uringOptions();
  defer.uring.taskRun = UringTaskRun::Defer;
  if (!uringUnavailable(defer)) {
    EXPECT_EQ(mode, "uring-defer");
  }
}

TEST(RingUnavailableTest, DisabledUringThrowsOneLineNamingTheWayOut) {
  ::setenv("DUET_DISABLE_URING", "1", 1);
  std::string message;
  try {
    makeEventLoop(uringOptions());
  } catch (const BackendUnavailable& e) {
    message = e.what();
  }
  ::unsetenv("DUET_DISABLE_URING");
  ASSERT_FALSE(message.empty()) << "no BackendUnavailable thrown";
  EXPECT_EQ(message.rfind("io_uring is unavailable: ", 0), 0u) << message;
  EXPECT_NE(message.find("run with --backend epoll"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  // And the variable really was the only reason: without it a loop can be made
  // (or, on a machine without io_uring, fails for its own reason).
  if (const auto why = uringUnavailable()) GTEST_SKIP() << *why;
  EXPECT_NO_THROW(makeEventLoop(uringOptions()));
}

TEST_F(RingSetupTest, WaitBatchOptionStillServesAnEcho) {
  LoopOptions o = uringOptions();
  o.uring.waitBatch = 8;
  o.uring.waitBatchTimeout = std::chrono::microseconds(200);
  ServerHarness server(o, testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client.echo("ping " + std::to_string(i)));
}

}  // namespace
}  // namespace duet::test
