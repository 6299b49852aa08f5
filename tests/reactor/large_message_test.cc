// Large messages on the reactor: what a 256 KiB echo costs in system calls
// and copies, counted, never timed.
//
// A bare epoll loop reads a 256 KiB message with one read() into a 256 KiB
// array and writes it back from there. The reactor should get as close: its
// read storage grows for a connection whose reads fill it (so one read takes
// a message that is already waiting whole), and the echo's send(Buffer&&)
// hands the input's storage to the output instead of copying it.
#include <gtest/gtest.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/connection.h"
#include "core/event_loop.h"
#include "tests/reactor/reactor_test_helpers.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::reactor_test {
namespace {

class LargeMessageTest : public testing::TestWithParam<ReactorConfig> {};

constexpr std::size_t kMessage = 256 * 1024;

// Bytes the client has sent that the server's kernel has not acknowledged:
// 0 means all of them sit in the server socket's receive queue.
int unacknowledged(int fd) {
  int n = -1;
  ::ioctl(fd, SIOCOUTQ, &n);
  return n;
}

TEST_P(LargeMessageTest, AMessageWaitingWholeIsReadAtOnceAfterTheFirstFewReads) {
  // The server reads only when the test says so, and its socket may queue a
  // whole message: then each read can take what one read() can take.
  std::mutex mu;
  ConnectionPtr accepted;
  ConnectionCallbacks cb;
  cb.onConnection = [&](const ConnectionPtr& conn) {
    if (!conn->connected()) return;
    const int bytes = 1 << 20;
    ::setsockopt(conn->fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
    conn->stopReading();
    std::lock_guard lock(mu);
    accepted = conn;
  };
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) { conn->send(std::move(in)); };
  test::ServerHarness server(GetParam().loop, loopbackServer(), cb);
  ASSERT_TRUE(server.ok()) << server.error();

  test::RawClient client(server.address());
  ASSERT_TRUE(client.isOpen());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return accepted != nullptr;
  }));
  ConnectionPtr conn;
  {
    std::lock_guard lock(mu);
    conn = accepted;
  }

  std::vector<std::uint64_t> readsPerMessage;
  for (unsigned i = 0; i < 4; ++i) {
    const std::string payload = test::patternBytes(kMessage, i + 1);
    ASSERT_TRUE(client.sendAll(payload));
    ASSERT_TRUE(eventually([&] { return unacknowledged(client.fd()) == 0; }))
        << "the message never fit in the server's receive queue";
    std::uint64_t before = 0;
    server.runSync([&] {
      before = server.loop().stats().reads.get();
      conn->startReading();
    });
    ASSERT_EQ(client.recvExactly(kMessage), payload) << "message " << i;
    std::uint64_t after = 0;
    server.runSync([&] {
      after = server.loop().stats().reads.get();
      conn->stopReading();
    });
    readsPerMessage.push_back(after - before);
  }
  std::string all;
  for (const std::uint64_t n : readsPerMessage) all += std::to_string(n) + " ";
  // The first message teaches the connection its reads fill their storage;
  // by the last one, one read takes the whole message, as in a bare loop.
  EXPECT_EQ(readsPerMessage.back(), 1u)
      << GetParam().name << ": reads per 256 KiB message: " << all;
  // Reading again, so the graceful stop at the end sees the client's close.
  server.runSync([&] {
    conn->startReading();
    conn.reset();
  });
  client.close();
}

TEST_P(LargeMessageTest, SendingTheInputBufferHandsOverItsStorageUncopied) {
  // With write gathering on (the default), a reply sent from onMessage waits
  // in the output buffer until the handler returns. A Buffer the application
  // gives up should get there by handing over its storage, not by a copy of
  // every byte: the input Buffer is then left without storage.
  std::mutex mu;
  std::vector<std::size_t> storageLeft;
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    conn->send(std::move(in));
    std::lock_guard lock(mu);
    storageLeft.push_back(in.capacity());
  };
  test::ServerHarness server(GetParam().loop, loopbackServer(), cb);
  ASSERT_TRUE(server.ok()) << server.error();

  test::RawClient client(server.address());
  for (unsigned i = 0; i < 3; ++i) {
    const std::string payload = test::patternBytes(1000, i + 1);
    ASSERT_TRUE(client.echo(payload)) << "round " << i;
  }
  std::lock_guard lock(mu);
  ASSERT_FALSE(storageLeft.empty());
  for (const std::size_t left : storageLeft) {
    EXPECT_EQ(left, 0u) << GetParam().name << ": the input Buffer kept " << left
                        << " bytes of storage (its bytes were copied into the output)";
  }
}

INSTANTIATE_TEST_SUITE_P(Reactor, LargeMessageTest, testing::ValuesIn(reactorConfigs()),
                         [](const testing::TestParamInfo<ReactorConfig>& param) {
                           return param.param.name;
                         });

}  // namespace
}  // namespace duet::reactor_test
