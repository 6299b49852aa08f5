// Edge-triggered epoll reports a change of readiness once: a handler that
// stops reading (or writing) before EAGAIN is never told again, and the
// transfer stalls. These tests move payloads far larger than any socket
// buffer through an epoll-et loop and check every byte arrives, in order.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "core/connection.h"
#include "tests/reactor/reactor_test_helpers.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::reactor_test {
namespace {

LoopOptions edgeOptions() {
  LoopOptions o;
  o.backend = Backend::Epoll;
  o.reactor.edgeTriggered = true;
  return o;
}

TEST(EdgeTriggered, ModeIsEpollEt) {
  test::ServerHarness server(edgeOptions(), loopbackServer(), {});
  ASSERT_TRUE(server.ok()) << server.error();
  EXPECT_EQ(server.loop().mode(), "epoll-et");
}

TEST(EdgeTriggered, LargeUploadArrivesCompleteAndInOrder) {
  constexpr std::size_t kTotal = 24 << 20;
  std::mutex mutex;
  std::string received;
  std::atomic<std::size_t> receivedBytes{0};
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr&, Buffer& in) {
    std::lock_guard lock(mutex);
    received.append(in.view());
    receivedBytes = received.size();
    in.retrieveAll();
  };
  test::ServerHarness server(edgeOptions(), loopbackServer(), cb);
  ASSERT_TRUE(server.ok()) << server.error();

  const std::string payload = test::patternBytes(kTotal, 7);
  test::RawClient client(server.address());
  // Written in one go, before the server has read anything: the socket stays
  // readable across many reads, which only a read-until-EAGAIN handler drains.
  ASSERT_TRUE(client.sendAll(payload, 30000));
  ASSERT_TRUE(eventually([&] { return receivedBytes.load() >= kTotal; }, 30000))
      << "received " << receivedBytes.load() << " of " << kTotal << " bytes";
  std::lock_guard lock(mutex);
  EXPECT_EQ(received.size(), kTotal);
  EXPECT_TRUE(received == payload) << "bytes lost, duplicated or reordered";
}

TEST(EdgeTriggered, LargeEchoDrainsTheOutputBuffer) {
  test::ServerHarness server(edgeOptions(), loopbackServer(), plainEchoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  test::RawClient client(server.address());
  EXPECT_TRUE(client.echo(test::patternBytes(16 << 20, 9), 60000));
  EXPECT_TRUE(client.echo("and a small one after it"));
}

}  // namespace
}  // namespace duet::reactor_test
