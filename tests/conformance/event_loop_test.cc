// The loop's own life cycle on every backend: a quit() that arrives before
// run() (issue 11, 2.1), and a loop destroyed while queued tasks and timers
// still hold connections (issue 11, 2.8).
#include <sys/socket.h>

#include <future>
#include <thread>

#include "core/acceptor.h"
#include "core/event_loop_thread.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

using std::chrono::milliseconds;

// Runs `body` on a thread of its own and waits (bounded) for it to return.
// A body that hangs is left behind, blocked, and the caller gets false: the
// test fails instead of hanging CI. So `body` must own (capture by value)
// everything it touches.
bool finishesWithin(std::function<void()> body, int timeoutMs = 10000) {
  auto finished = std::make_shared<std::promise<void>>();
  auto future = finished->get_future();
  std::thread thread([body = std::move(body), finished] {
    body();
    finished->set_value();
  });
  if (future.wait_for(milliseconds(timeoutMs)) != std::future_status::ready) {
    thread.detach();
    return false;
  }
  thread.join();
  return true;
}

class EventLoopTest : public BackendTest {};

TEST_P(EventLoopTest, QuitBeforeRunMakesRunReturnAtOnceAndRunWorksAgain) {
  const bool finished = finishesWithin([options = loopOptions()] {
    auto loop = makeEventLoop(options);
    loop->quit();
    loop->run();  // must not wait: the quit came first
    // run() cleared the request on its way out, so a second run() runs.
    bool ran = false;
    loop->queueInLoop([&] {
      ran = true;
      loop->quit();
    });
    loop->run();
    EXPECT_TRUE(ran) << "the second run() returned without running its queued task";
  });
  EXPECT_TRUE(finished) << "run() ignored a quit() made before it started";
}

TEST_P(EventLoopTest, LoopThreadStoppedRightAfterStartJoins) {
  // stop() right after start() asks the loop to quit while its thread may not
  // have entered run() yet. Repeated so the window is likely hit at least once.
  const bool finished = finishesWithin([options = loopOptions()] {
    for (int i = 0; i < 50; ++i) {
      EventLoopThread thread([options] { return makeEventLoop(options); }, "quick");
      thread.start();
      thread.stop();
    }
  });
  EXPECT_TRUE(finished) << "EventLoopThread::stop() hung: a quit() before run() was lost";
}

class EventLoopModelTest : public BackendModelTest {};

TEST_P(EventLoopModelTest, ServerWithIoThreadsOnABusyPortFailsAndReturns) {
  // start() starts the I/O threads, then cannot bind, and stops the threads it
  // just started: their loops may not be running yet. Repeated for the same reason as above.
  std::string error;
  UniqueFd busy =
      sockets::listenTcp(InetAddress(0, /*loopbackOnly=*/true), /*reusePort=*/false, &error);
  ASSERT_TRUE(busy) << error;
  ServerOptions o = options();
  o.listen = sockets::localAddress(busy.get());
  const LoopOptions loopOptions = backend().loop;
  const bool finished = finishesWithin([loopOptions, o] {
    for (int i = 0; i < 50; ++i) {
      auto loop = makeEventLoop(loopOptions);
      TcpServer server(*loop, o, {});
      std::string startError;
      EXPECT_FALSE(server.start(&startError)) << "bound a port that is in use";
      EXPECT_NE(startError, "");
    }
  });
  EXPECT_TRUE(finished) << "TcpServer::start hung stopping its I/O threads after a failed bind";
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(EventLoopTest);
DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_MODEL(EventLoopModelTest);

// A started connection on `loop` over one end of a socketpair; the other end
// is returned in *peer.
ConnectionPtr startedConnection(EventLoop& loop, UniqueFd* peer) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    return nullptr;
  *peer = UniqueFd(fds[1]);
  ConnectionPtr conn = loop.createConnection(UniqueFd(fds[0]), InetAddress(), InetAddress());
  if (conn) conn->start();
  return conn;
}

TEST_P(EventLoopTest, LoopDestroyedWithConnectionsInQueuedTasksAndTimers) {
  // The last references to these connections are in a queued task and a
  // pending timer. Destroying the loop destroys them, and with them the
  // connections, which unregister from the backend (poller, ring): the
  // backend must still exist at that point.
  auto loop = makeEventLoop(loopOptions());
  UniqueFd peerOfQueued;
  UniqueFd peerOfTimed;
  ConnectionPtr queued = startedConnection(*loop, &peerOfQueued);
  ConnectionPtr timed = startedConnection(*loop, &peerOfTimed);
  ASSERT_TRUE(queued && timed);
  // An accepting acceptor too: its destructor stops accepting (poller, ring).
  std::string error;
  UniqueFd listener =
      sockets::listenTcp(InetAddress(0, /*loopbackOnly=*/true), /*reusePort=*/false, &error);
  ASSERT_TRUE(listener) << error;
  std::shared_ptr<Acceptor> acceptor =
      loop->createAcceptor(std::move(listener), [](SocketHandle, const InetAddress&) {});
  acceptor->start();
  loop->queueInLoop([queued, acceptor] {});
  loop->runAfter(std::chrono::hours(1), [timed] {});
  queued.reset();
  timed.reset();
  acceptor.reset();
  loop.reset();
  EXPECT_EQ(Connection::liveCount(), 0u);
}

}  // namespace
}  // namespace duet::test
