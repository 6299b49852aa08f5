// Cancel-then-close: a connection closed with a recv and a send in flight must
// cancel both, close its socket only after their completions arrived, and
// leave no descriptor and no Connection object behind, whoever closes it.
#include <sys/socket.h>

#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/socket_ops.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

// A server that answers the first message with far more than the socket
// buffers hold, to a client that never reads: the send stays in flight.
struct StuckSendServer {
  std::mutex mutex;
  ConnectionPtr conn;
  std::unique_ptr<ServerHarness> harness;

  StuckSendServer() {
    ConnectionCallbacks cb;
    cb.onMessage = [this](const ConnectionPtr& c, Buffer& in) {
      in.retrieveAll();
      c->send(patternBytes(16 << 20, 3));
      std::lock_guard lock(mutex);
      conn = c;
    };
    harness = std::make_unique<ServerHarness>(uringOptions(), testServerOptions(), cb);
  }

  ConnectionPtr connection() {
    std::lock_guard lock(mutex);
    return conn;
  }
  void forget() {
    std::lock_guard lock(mutex);
    conn.reset();
  }
};

class TeardownTest : public UringTest {};

void expectSendAndRecvInFlight(StuckSendServer& s, const ConnectionPtr& conn) {
  std::size_t pending = 0;
  bool reading = false;
  s.harness->runSync([&] {
    pending = conn->pendingOutputBytes();
    reading = conn->isReading();
  });
  EXPECT_GT(pending, 0u) << "the send should still be in flight";
  EXPECT_TRUE(reading) << "the recv should still be armed";
}

TEST_F(TeardownTest, CloseFromAnotherThreadWithRecvAndSendInFlight) {
  StuckSendServer s;
  ASSERT_TRUE(s.harness->ok()) << s.harness->error();
  RawClient client(s.harness->address());
  ASSERT_TRUE(client.sendAll("go"));
  ASSERT_TRUE(eventually([&] { return s.connection() != nullptr; }));
  ConnectionPtr conn = s.connection();
  expectSendAndRecvInFlight(s, conn);

  conn->forceClose();  // from the test's thread: hops to the loop
  EXPECT_TRUE(eventually([&] { return conn->disconnected(); }));
  EXPECT_TRUE(client.waitClosed(10000));
  EXPECT_TRUE(eventually([&] { return s.harness->server().connectionCount() == 0; }));
  conn.reset();
  s.forget();
  client.close();
  // The fd and the object go only once the cancelled operations completed.
  EXPECT_TRUE(eventually([] { return Connection::liveCount() == 0; }));
}

TEST_F(TeardownTest, CloseOnItsOwnLoopWithRecvAndSendInFlight) {
  StuckSendServer s;
  ASSERT_TRUE(s.harness->ok()) << s.harness->error();
  RawClient client(s.harness->address());
  ASSERT_TRUE(client.sendAll("go"));
  ASSERT_TRUE(eventually([&] { return s.connection() != nullptr; }));
  ConnectionPtr conn = s.connection();
  expectSendAndRecvInFlight(s, conn);

  int fdAfterClose = 0;
  s.harness->runSync([&] {
    conn->closeInLoop();  // synchronous, on the loop thread
    // Cancels were requested, nothing completed yet: the socket must still be
    // open, because the kernel may still be using it.
    fdAfterClose = conn->fd();
  });
  EXPECT_GE(fdAfterClose, 0) << "the socket was closed before its operations completed";
  EXPECT_TRUE(conn->disconnected());
  EXPECT_TRUE(client.waitClosed(10000));
  EXPECT_TRUE(eventually([&] {
    int fd = 0;
    s.harness->runSync([&] { fd = conn->fd(); });
    return fd < 0;
  })) << "the socket should close once the cancellations completed";
  conn.reset();
  s.forget();
  client.close();
  EXPECT_TRUE(eventually([] { return Connection::liveCount() == 0; }));
}

TEST_F(TeardownTest, PeerResetWithSendInFlight) {
  StuckSendServer s;
  ASSERT_TRUE(s.harness->ok()) << s.harness->error();
  RawClient client(s.harness->address());
  ASSERT_TRUE(client.sendAll("go"));
  ASSERT_TRUE(eventually([&] { return s.connection() != nullptr; }));
  client.reset();  // RST: the recv and the send both fail
  EXPECT_TRUE(eventually([&] { return s.harness->server().connectionCount() == 0; }));
  s.forget();
  EXPECT_TRUE(eventually([] { return Connection::liveCount() == 0; }));
}

TEST_F(TeardownTest, LoopDestroyedWithOperationsInFlightFreesEverything) {
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, true), false, &error);
  ASSERT_TRUE(listener) << error;
  const InetAddress addr = sockets::localAddress(listener.get());
  RawClient client(addr);
  ASSERT_TRUE(client.isOpen());

  std::thread([&] {
    auto loop = makeEventLoop(uringOptions());
    UniqueFd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    ASSERT_TRUE(accepted);
    auto conn = loop->createConnection(std::move(accepted), addr, addr);
    conn->setCallbacks(std::make_shared<ConnectionCallbacks>());
    conn->start();                          // recv armed
    conn->send(patternBytes(16 << 20, 5));  // send in flight: the client does not read
    conn.reset();                           // only the in-flight operations hold it now
    loop->runAfter(std::chrono::milliseconds(50), [&] { loop->quit(); });
    loop->run();
    EXPECT_EQ(Connection::liveCount(), 1u);
    loop.reset();  // cancels, waits for the completions, frees the connection
    EXPECT_EQ(Connection::liveCount(), 0u);
  }).join();
  listener.reset();
  client.close();
}

}  // namespace
}  // namespace duet::test
