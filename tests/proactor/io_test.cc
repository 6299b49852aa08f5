// Connect, send and the counters: connect's callback runs exactly once and
// later (never inside connect()); zero-copy sends deliver the same bytes;
// an idle connection keeps no buffers; the loop counts its own work.
#include <atomic>
#include <thread>

#include "core/socket_ops.h"
#include "proactor/uring_connection.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/connection_catcher.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

class UringIoTest : public UringTest {};

TEST_F(UringIoTest, ConnectCallsBackOnceAndNeverSynchronously) {
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, true), false, &error);
  ASSERT_TRUE(listener) << error;
  const InetAddress addr = sockets::localAddress(listener.get());

  auto loop = makeEventLoop(uringOptions());
  int calls = 0;
  int result = -1;
  bool insideConnect = true;
  UniqueFd connected;
  loop->connect(sockets::tcpSocket(AF_INET), addr, [&](UniqueFd fd, int err) {
    ++calls;
    result = err;
    connected = std::move(fd);
    EXPECT_FALSE(insideConnect) << "done ran inside connect()";
    loop->quit();
  });
  insideConnect = false;
  loop->runAfter(std::chrono::seconds(5), [&] { loop->quit(); });
  loop->run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result, 0);
  EXPECT_TRUE(connected);

  // A closed port: the error arrives the same way.
  const InetAddress closed = addr;
  listener.reset();
  calls = 0;
  loop->connect(sockets::tcpSocket(AF_INET), closed, [&](UniqueFd fd, int err) {
    ++calls;
    result = err;
    EXPECT_FALSE(fd);
    loop->quit();
  });
  loop->run();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(result, ECONNREFUSED);
}

TEST_F(UringIoTest, ZeroCopySendsDeliverTheSameBytes) {
  LoopOptions o = uringOptions();
  o.uring.sendZeroCopyThreshold = 4096;
  ServerHarness server(o, testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  EXPECT_TRUE(client.echo(patternBytes(4 << 20, 9)));
  EXPECT_TRUE(client.echo("small, not zero-copy"));
  std::uint64_t zc = 0;
  server.runSync([&] { zc = server.loop().stats().uring.sendZeroCopy.get(); });
  EXPECT_GT(zc, 0u);
}

TEST_F(UringIoTest, StopAndStartReadingHoldsInputUntilResumed) {
  std::atomic<bool> paused{false};
  std::atomic<int> messagesWhilePaused{0};
  ConnectionPtr held;
  std::mutex mutex;
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& c, Buffer& in) {
    if (paused) ++messagesWhilePaused;
    if (in.view() == "pause") {
      in.retrieveAll();
      paused = true;
      c->stopReading();
      std::lock_guard lock(mutex);
      held = c;
      return;
    }
    c->send(in.view());
    in.retrieveAll();
  };
  ServerHarness server(uringOptions(), testServerOptions(), cb);
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  ASSERT_TRUE(client.sendAll("pause"));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return held != nullptr;
  }));
  ASSERT_TRUE(client.sendAll("after the pause"));
  std::this_thread::sleep_for(
      std::chrono::milliseconds(50));  // give a wrong delivery the chance to happen
  EXPECT_EQ(messagesWhilePaused.load(), 0);
  paused = false;
  {
    std::lock_guard lock(mutex);
    held->startReading();
    held.reset();
  }
  EXPECT_EQ(client.recvExactly(15), "after the pause");
}

TEST_F(UringIoTest, IdleConnectionHoldsNoBuffers) {
  // The object itself is the idle cost: buffers are allocated lazily and
  // given back when drained, receive memory comes from the loop's pool.
  EXPECT_LT(sizeof(UringConnection), 1024u);
  ConnectionCatcher catcher;
  ConnectionCallbacks cb = echoCallbacks();
  catcher.catchInto(cb);
  ServerHarness server(uringOptions(), testServerOptions(), cb);
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  ASSERT_TRUE(client.echo(patternBytes(100000, 2)));
  ConnectionPtr c = catcher.take();
  ASSERT_TRUE(c);
  std::size_t inputCapacity = 1, pending = 1;
  EXPECT_TRUE(eventually([&] {
    server.runSync([&] {
      inputCapacity = c->inputBuffer().capacity();
      pending = c->pendingOutputBytes();
    });
    return inputCapacity == 0 && pending == 0;
  }));
  c.reset();
}

TEST_F(UringIoTest, CountersAddUp) {
  ServerHarness server(uringOptions(), testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(client.echo(patternBytes(1000, i)));
  client.close();
  ASSERT_TRUE(eventually([&] { return server.server().connectionCount() == 0; }));
  server.runSync([&] {
    const LoopStats& s = server.loop().stats();
    EXPECT_LE(s.events.get(),
              s.uring.cqesReaped.get());  // wake-ups and cancel results are cqes, not events
    EXPECT_GE(s.uring.enterCalls.get(), s.syscalls[static_cast<int>(Syscall::Wait)].get());
    EXPECT_GE(s.uring.sqesSubmitted.get(),
              50u);  // at least one send per echo (the multishot recv needs no re-arm)
    EXPECT_EQ(s.bytesIn.get(), 50u * 1000);
    EXPECT_EQ(s.bytesOut.get(), 50u * 1000);
    EXPECT_GT(s.wakeups.get(), 0u);
    EXPECT_LE(s.wakeups.get(), s.uring.enterCalls.get());
  });
}

}  // namespace
}  // namespace duet::test
