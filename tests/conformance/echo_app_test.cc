// duet-echo as a user runs it: flags, errors, EMFILE survival, SIGTERM.
#include <signal.h>

#include <mutex>
#include <vector>

#include "apps/echo/echo_callbacks.h"
#include "apps/echo/echo_coroutine.h"
#include "tests/conformance/conformance_fixture.h"
#include "tests/support/app_command.h"
#include "tests/support/subprocess.h"

#ifndef DUET_ECHO_PATH
#error "DUET_ECHO_PATH must name the duet-echo binary"
#endif

namespace duet::test {
namespace {

std::vector<std::string> echoCommand(const BackendConfig& backend, app::ApiStyle api,
                                     std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), {"--api", std::string(app::apiStyleName(api))});
  return appCommand(DUET_ECHO_PATH, backend, extra);
}

// duet-echo with --api callbacks and --api coroutines.
class EchoAppTest : public BackendApiTest {};

TEST_P(EchoAppTest, SurvivesEmfileOnAcceptAndKeepsServing) {
  // The child may open 64 descriptors: a burst of 100 connections exhausts them.
  Subprocess echo(echoCommand(backend(), api()), {.maxOpenFiles = 64});
  const int port = portFromListeningLine(echo.waitForLine("listening on"));
  ASSERT_GT(port, 0) << echo.err();
  const InetAddress addr(static_cast<std::uint16_t>(port), true);
  std::vector<RawClient> burst;
  for (int i = 0; i < 100; ++i) {
    burst.emplace_back();
    burst.back().connect(addr, 2000);  // the kernel completes handshakes the server cannot accept
  }
  burst.clear();  // close them all: the server gets its descriptors back
  // Still serving: a fresh client gets its echo (retry while the backlog drains).
  EXPECT_TRUE(eventually(
      [&] {
        RawClient c;
        return c.connect(addr, 1000) && c.echo("alive", 2000);
      },
      15000))
      << echo.err();
  echo.signal(SIGTERM);
  EXPECT_EQ(echo.wait(), 0) << echo.err();
  const std::string stats = echo.out();
  const auto at = stats.find("accept_errors=");
  ASSERT_NE(at, std::string::npos) << stats;
  EXPECT_GT(std::atoi(stats.c_str() + at + 14), 0) << stats;
}

TEST_P(EchoAppTest, SigtermStopsGracefullyWithStats) {
  Subprocess echo(echoCommand(backend(), api()));
  const int port = portFromListeningLine(echo.waitForLine("listening on"));
  ASSERT_GT(port, 0) << echo.err();
  {
    RawClient c(InetAddress(static_cast<std::uint16_t>(port), true));
    ASSERT_TRUE(c.echo(patternBytes(100000, 4)));
  }
  echo.signal(SIGTERM);
  EXPECT_EQ(echo.wait(), 0) << echo.err();
  EXPECT_NE(echo.out().find("stats loop=main"), std::string::npos) << echo.out();
  EXPECT_NE(echo.out().find("bytes_in=100000"), std::string::npos) << echo.out();
}

TEST_P(EchoAppTest, InputSentDuringTheDrainDoesNotPileUp) {
  // duet-echo's own callbacks, in-process, so the test can look at the input
  // buffer. Once the server drains (SIGTERM: our FIN is sent, reading goes on)
  // the echo is refused; the bytes must still leave the input buffer.
  std::mutex mutex;
  ConnectionPtr serverSide;
  ConnectionCallbacks cb =
      api() == app::ApiStyle::Callbacks ? echo::callbacks() : echo::coroutineCallbacks();
  cb.onConnection = [&, appOnConnection = cb.onConnection](const ConnectionPtr& conn) {
    {
      std::lock_guard lock(mutex);
      serverSide = conn->connected() ? conn : nullptr;
    }
    if (appOnConnection) appOnConnection(conn);  // the coroutine API starts its coroutine here
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  const std::string before = "before the drain";
  ASSERT_TRUE(client.echo(before));
  EventLoop& loop = server->loop();
  server->runSync([&] { server->server().stop([&loop] { loop.quit(); }); });
  bool sawEof = false;
  EXPECT_EQ(client.recvUntilClosed(5000, &sawEof), "");
  ASSERT_TRUE(sawEof) << "the drain sends our FIN";
  const std::string during = patternBytes(1 << 20, 9);
  ASSERT_TRUE(client.sendAll(during));
  auto bytesIn = [&] {
    std::uint64_t sum = 0;
    server->runSync([&] { sum = server->loop().stats().bytesIn.get(); });
    return sum;
  };
  EXPECT_TRUE(eventually([&] { return bytesIn() == before.size() + during.size(); })) << bytesIn();
  std::size_t held = 0;
  server->runSync([&] {
    std::lock_guard lock(mutex);
    if (serverSide) held = serverSide->inputBuffer().readableBytes();
  });
  EXPECT_EQ(held, 0u) << "refused echoes piled up in the input buffer";
  {
    std::lock_guard lock(mutex);
    serverSide.reset();
  }
  client.close();  // the drain ends: the server stops and its loop quits
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_API(EchoAppTest);

TEST(EchoAppFlags, BadFlagIsOneLineAndExitTwo) {
  Subprocess echo({DUET_ECHO_PATH, "--backend", "kqueue"});
  EXPECT_EQ(echo.wait(), 2);
  EXPECT_NE(echo.err().find("unknown backend 'kqueue'"), std::string::npos) << echo.err();
  EXPECT_EQ(std::count(echo.err().begin(), echo.err().end(), '\n'), 1) << echo.err();

  Subprocess typo({DUET_ECHO_PATH, "--thread", "2"});
  EXPECT_EQ(typo.wait(), 2);
  EXPECT_NE(typo.err().find("--thread"), std::string::npos) << typo.err();
}

TEST(EchoAppFlags, UnknownApiIsOneLineAndExitTwo) {
  Subprocess echo({DUET_ECHO_PATH, "--api", "threads"});
  EXPECT_EQ(echo.wait(), 2);
  EXPECT_NE(echo.err().find("--api"), std::string::npos) << echo.err();
  EXPECT_EQ(std::count(echo.err().begin(), echo.err().end(), '\n'), 1) << echo.err();
}

// --backend auto (the default): one line says which backend and why, and the
// server then runs on that backend. The fallback is forced with
// DUET_DISABLE_URING=1 (proactor/ring_setup.cc), which the child inherits.
void expectAutoServes(const std::string& expectedLine, const std::string& expectedBackend) {
  Subprocess echo({DUET_ECHO_PATH, "--backend", "auto", "--host", "127.0.0.1", "--port", "0"});
  const std::string announced = echo.waitForLine("backend: ");
  EXPECT_EQ(announced, expectedLine) << echo.err();
  const std::string listening = echo.waitForLine("listening on");
  EXPECT_NE(listening.find(" backend=" + expectedBackend + " "), std::string::npos) << listening;
  const int port = portFromListeningLine(listening);
  ASSERT_GT(port, 0) << echo.err();
  {
    RawClient c(InetAddress(static_cast<std::uint16_t>(port), true));
    EXPECT_TRUE(c.echo("auto"));
  }
  echo.signal(SIGTERM);
  EXPECT_EQ(echo.wait(), 0) << echo.err();
}

TEST(EchoAppFlags, BackendAutoPicksUringWhereItCanBeSetUp) {
  if (const auto why =
          unavailableReason(BackendConfig{"uring", LoopOptions{.backend = Backend::IoUring}})) {
    GTEST_SKIP() << *why;
  }
  expectAutoServes("backend: uring (auto: io_uring set up)", "uring");
}

TEST(EchoAppFlags, BackendAutoFallsBackToEpollAndSaysWhy) {
  ::setenv("DUET_DISABLE_URING", "1", 1);
  expectAutoServes("backend: epoll (auto: io_uring unavailable: disabled by DUET_DISABLE_URING=1)",
                   "epoll");
  ::unsetenv("DUET_DISABLE_URING");
}

TEST(EchoAppFlags, PortInUseIsOneLineAndExitTwo) {
  std::string error;
  UniqueFd taken = sockets::listenTcp(InetAddress(0, true), false, &error);
  ASSERT_TRUE(taken) << error;
  const int port = sockets::localAddress(taken.get()).port();
  Subprocess echo({DUET_ECHO_PATH, "--host", "127.0.0.1", "--port", std::to_string(port)});
  EXPECT_EQ(echo.wait(), 2);
  EXPECT_NE(echo.err().find("Address already in use"), std::string::npos) << echo.err();
  EXPECT_EQ(std::count(echo.err().begin(), echo.err().end(), '\n'), 1) << echo.err();
}

}  // namespace
}  // namespace duet::test
