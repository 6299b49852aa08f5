// Idle eviction, graceful stop, max-connections: the server's life cycle on
// every backend and threading model.
#include <mutex>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

class LifecycleTest : public BackendTest {};

TEST_P(LifecycleTest, IdleConnectionsAreEvicted) {
  ServerOptions o = testServerOptions();
  o.idleTimeout = std::chrono::milliseconds(200);
  auto server = startServer(echoCallbacks(), o);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.echo("still here"));
  EXPECT_TRUE(client.waitClosed(10000));  // nothing more from us: the server closes
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
  std::uint64_t evictions = 0;
  server->runSync([&] { evictions = server->loop().stats().idleEvictions.get(); });
  EXPECT_EQ(evictions, 1u);
}

TEST_P(LifecycleTest, ConnectionsBeyondMaxAreRefusedAndOthersServed) {
  ServerOptions o = testServerOptions();
  o.maxConnections = 3;
  auto server = startServer(echoCallbacks(), o);
  ASSERT_TRUE(server->ok());
  std::vector<RawClient> admitted;
  for (int i = 0; i < 3; ++i) {
    admitted.emplace_back(server->address());
    ASSERT_TRUE(admitted.back().echo("hi"));
  }
  RawClient extra(server->address());   // the kernel completes the handshake...
  EXPECT_TRUE(extra.waitClosed(5000));  // ...and the server closes it at once
  for (auto& c : admitted) EXPECT_TRUE(c.echo("still served"));
  std::uint64_t refused = 0;
  server->runSync([&] { refused = server->loop().stats().refused.get(); });
  EXPECT_EQ(refused, 1u);
}

class GracefulStopTest : public BackendModelTest {};

TEST_P(GracefulStopTest, StopDeliversPendingOutputThenCloses) {
  constexpr std::size_t kTotal = 8 << 20;
  const std::string payload = patternBytes(kTotal, 21);
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    conn->send(payload);
  };
  auto server = startServer(cb, options());
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("go"));
  ASSERT_TRUE(eventually([&] {
    std::uint64_t out = 0;
    server->runSync([&] {
      for (EventLoop* l : server->server().loops()) out += l->stats().bytesOut.get();
    });
    return out > 0;
  }));
  // Stop while most of the 8 MiB still waits in the server's buffers.
  std::atomic<bool> stopped{false};
  server->loop().runInLoop([&] {
    server->server().stop([&] {
      stopped = true;
      server->loop().quit();
    });
  });
  bool sawEof = false;
  const std::string got = client.recvUntilClosed(20000, &sawEof);
  EXPECT_TRUE(sawEof);
  EXPECT_EQ(got.size(), kTotal);
  EXPECT_TRUE(got == payload) << "bytes differ";
  client.close();
  EXPECT_TRUE(eventually([&] { return stopped.load(); }));
  // New connections are refused once stopped.
  RawClient late;
  EXPECT_FALSE(late.connect(server->address(), 1000) && late.echo("x", 1000));
}

// stop() may be called again while the first stop is draining (a second
// signal, another component shutting down): every caller's onStopped runs,
// once, when the stop finishes; none is dropped.
TEST_P(GracefulStopTest, EveryStopCallerIsToldWhenTheStopFinishes) {
  auto server = startServer(echoCallbacks(), options());
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.echo("hold the drain open"));
  std::atomic<int> first{0}, second{0}, third{0};
  server->runSync([&] {
    // The client keeps its side open, so the drain cannot finish yet.
    server->server().stop([&] { ++first; });
    server->server().stop([&] { ++second; });
  });
  ASSERT_TRUE(eventually([&] {
    std::size_t open = 0;
    server->runSync([&] { open = server->server().connectionCount(); });
    return open == 1;
  }));
  EXPECT_EQ(first.load() + second.load(), 0) << "told before the drain finished";
  // From another thread, too.
  server->server().stop([&] { ++third; });
  bool sawEof = false;
  client.recvUntilClosed(5000, &sawEof);  // our FIN from the drain
  EXPECT_TRUE(sawEof);
  client.close();  // the peer's side: the drain can finish
  EXPECT_TRUE(eventually([&] {
    return first.load() == 1 && second.load() == 1 && third.load() == 1;
  })) << "first "
      << first.load() << ", second " << second.load() << ", third " << third.load();
  // A stop after the end is told at once, and nobody twice.
  server->runSync([&] { server->server().stop([&] { ++first; }); });
  EXPECT_EQ(first.load(), 2);
  EXPECT_EQ(second.load(), 1);
  EXPECT_EQ(third.load(), 1);
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(LifecycleTest);
DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_MODEL(GracefulStopTest);

}  // namespace
}  // namespace duet::test
