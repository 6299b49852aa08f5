// Half-close in both directions, resets, forceClose: every way a connection
// can end, on every backend, with nothing left behind.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <mutex>

#include "tests/conformance/conformance_fixture.h"
#include "tests/support/tcp_table.h"

namespace duet::test {
namespace {

class CloseTest : public BackendTest {};
// The closes an echo sees, with either application API (callbacks, coroutines).
class CloseApiTest : public BackendApiTest {};

TEST_P(CloseApiTest, ClientHalfCloseStillGetsEveryEchoThenEof) {
  auto server = startServer(echo());
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.isOpen());
  const std::string payload = patternBytes(256 * 1024, 3);
  ASSERT_TRUE(client.sendAll(payload));
  client.shutdownWrite();  // FIN: "no more from me", but keep reading
  bool sawEof = false;
  EXPECT_EQ(client.recvUntilClosed(10000, &sawEof), payload);
  EXPECT_TRUE(sawEof);
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
}

TEST_P(CloseTest, ServerHalfCloseKeepsReading) {
  std::atomic<std::size_t> bytesAfterShutdown{0};
  std::atomic<bool> shutDown{false};
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    if (shutDown) {
      bytesAfterShutdown += in.readableBytes();
    } else if (in.view().find("bye") != std::string_view::npos) {
      conn->send("ok");
      conn->shutdown();  // our FIN after "ok"; the peer may still talk
      shutDown = true;
    }
    in.retrieveAll();
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("bye"));
  bool sawEof = false;
  EXPECT_EQ(client.recvUntilClosed(5000, &sawEof), "ok");
  EXPECT_TRUE(sawEof);
  ASSERT_TRUE(client.sendAll("after the FIN"));
  EXPECT_TRUE(eventually([&] { return bytesAfterShutdown.load() == 13; }))
      << bytesAfterShutdown.load();
  EXPECT_EQ(server->server().connectionCount(), 1u);  // still open: only our half is closed
  client.close();
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
}

TEST_P(CloseApiTest, PeerResetMidTransferLeavesOthersServing) {
  ConnectionCallbacks cb = echo();
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient bystander(server->address());
  ASSERT_TRUE(bystander.echo("before"));
  {
    RawClient rude(server->address());
    // Send a lot and read nothing: echoes pile up on the server, then RST.
    rude.sendAll(patternBytes(4 << 20, 5), 2000);
    rude.reset();
  }
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 1; }));
  EXPECT_TRUE(bystander.echo(patternBytes(100000, 6)));
  std::uint64_t resets = 0;
  server->runSync([&] {
    for (EventLoop* l : server->server().loops())
      resets += l->stats().resets.get() + l->stats().closed.get();
  });
  EXPECT_GE(resets, 1u);
}

TEST_P(CloseTest, SendAndForceCloseFromAnotherThread) {
  std::mutex mutex;
  ConnectionPtr serverSide;
  ConnectionCallbacks cb;
  cb.onConnection = [&](const ConnectionPtr& conn) {
    std::lock_guard lock(mutex);
    serverSide = conn->connected() ? conn : nullptr;
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return serverSide != nullptr;
  }));
  ConnectionPtr conn;
  {
    std::lock_guard lock(mutex);
    conn = serverSide;
  }
  ASSERT_FALSE(conn->loop().isInLoopThread());
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    const std::string msg = "message " + std::to_string(i) + ";";
    conn->send(msg);  // from this thread: copied and handed to the loop
    expected += msg;
  }
  EXPECT_EQ(client.recvExactly(expected.size()), expected);
  conn->forceClose();
  EXPECT_TRUE(client.waitClosed(5000));
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
  EXPECT_TRUE(conn->disconnected());
  conn->send("ignored after close");  // harmless
  conn.reset();
}

TEST_P(CloseTest, ConnectionCallbacksSeeUpThenDownOnce) {
  std::atomic<int> ups{0};
  std::atomic<int> downs{0};
  ConnectionCallbacks cb = echoCallbacks();
  cb.onConnection = [&](const ConnectionPtr& conn) { (conn->connected() ? ups : downs)++; };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  for (int i = 0; i < 20; ++i) {
    RawClient c(server->address());
    ASSERT_TRUE(c.echo("x"));
    if (i % 2) c.reset();
  }
  EXPECT_TRUE(eventually([&] { return downs.load() == 20; }));
  EXPECT_EQ(ups.load(), 20);
  EXPECT_EQ(downs.load(), 20);
}

TEST_P(CloseTest, SendThatFailsClosesAfterTheCallbackNotInsideIt) {
  // The application's send() meets a dead socket (the peer reset). The close
  // that follows must run from the loop, after the callback that sent: like
  // forceClose(), never as onConnection(down) nested inside onMessage.
  std::atomic<bool> messageStarted{false};
  std::atomic<bool> peerReset{false};
  std::atomic<bool> resetLanded{false};
  std::atomic<bool> insideSend{false};
  std::atomic<bool> downNested{false};
  std::atomic<int> downs{0};
  ConnectionCallbacks cb;
  cb.onConnection = [&](const ConnectionPtr& conn) {
    if (conn->connected()) return;
    if (insideSend) downNested = true;
    ++downs;
  };
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    messageStarted = true;
    // Hold the loop here (bounded) until the peer's RST has reached our
    // socket, so the sends below meet it whatever the scheduling.
    if (!eventually([&] { return peerReset.load(); })) return;
    // By address, not by conn->fd(): a direct descriptor has none.
    resetLanded =
        eventually([&] { return tcpStateByAddress(conn->local(), conn->peer()) == TCP_CLOSE; });
    insideSend = true;
    conn->send(patternBytes(64 * 1024, 8));  // a reactor writes at once: ECONNRESET
    conn->send("and more");                  // then EPIPE, or refused as closing
    insideSend = false;
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("hello"));
  ASSERT_TRUE(eventually([&] { return messageStarted.load(); }));
  client.reset();  // SO_LINGER 0: RST
  peerReset = true;
  EXPECT_TRUE(eventually([&] { return downs.load() == 1; })) << downs.load();
  EXPECT_TRUE(resetLanded) << "the RST never reached the server's socket: the test proved nothing";
  EXPECT_FALSE(downNested) << "onConnection(down) ran inside the application's send()";
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
  EXPECT_EQ(downs.load(), 1);
}

TEST_P(CloseTest, SendOfABufferEmptiesItEvenWhenRefused) {
  // send(Buffer&&) gives the Buffer up: it ends empty whether the bytes are
  // sent or refused (write side shut, closing, closed).
  std::mutex mutex;
  ConnectionPtr serverSide;
  std::atomic<bool> answered{false};
  std::atomic<std::size_t> leftAfterShutdown{0};
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    conn->shutdown();
    conn->send(std::move(in));  // refused: we are closing our side
    leftAfterShutdown = in.readableBytes();
    std::lock_guard lock(mutex);
    serverSide = conn;
    answered = true;
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("hello"));
  ASSERT_TRUE(eventually([&] { return answered.load(); }));
  EXPECT_EQ(leftAfterShutdown.load(), 0u)
      << "a refused send(Buffer&&) left the bytes in the caller's Buffer";
  bool sawEof = false;
  EXPECT_EQ(client.recvUntilClosed(5000, &sawEof), "");
  EXPECT_TRUE(sawEof);
  client.close();
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
  ConnectionPtr conn;
  {
    std::lock_guard lock(mutex);
    conn = std::move(serverSide);
  }
  ASSERT_TRUE(conn->disconnected());
  Buffer late;
  late.append("after the close");
  conn->send(std::move(late));  // from this thread, to a closed connection
  EXPECT_TRUE(late.empty());
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(CloseTest);
DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_API(CloseApiTest);

}  // namespace
}  // namespace duet::test
