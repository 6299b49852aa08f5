// Handing an accepted socket from one loop to another (EventLoop::handOff),
// by the task queue or, with UringOptions::msgRingHandoff, by one MSG_RING
// from the sender's ring into the target's. Whatever way it travels, the
// socket reaches the target's receiver exactly once, or is closed: never
// leaked, never handed to two owners.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "core/event_loop_thread.h"
#include "core/socket_ops.h"
#include "proactor/uring_loop.h"
#include "proactor/uring_waker.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/raw_client.h"

namespace duet::test {
namespace {

// A loop on a thread of its own that, unlike EventLoopThread, can be told to
// quit and stay alive (not yet destroyed) until release().
class ParkedLoopThread {
 public:
  explicit ParkedLoopThread(LoopOptions options) {
    std::promise<EventLoop*> made;
    auto loop = made.get_future();
    thread_ = std::thread([this, options, &made] {
      std::unique_ptr<EventLoop> own = makeEventLoop(options);
      made.set_value(own.get());
      own->run();
      quitDone_.set_value();
      released_.get_future().wait();  // still alive: what is sent to it now waits in its ring
    });
    loop_ = loop.get();
  }
  ~ParkedLoopThread() {
    quit();
    release();
    thread_.join();
  }
  EventLoop& loop() { return *loop_; }
  // Ends run(); returns once it has returned.
  void quit() {
    if (quit_) return;
    quit_ = true;
    loop_->quit();
    quitDone_.get_future().wait();
  }
  // Lets the thread destroy its loop.
  void release() {
    if (released__) return;
    released__ = true;
    released_.set_value();
  }

 private:
  std::thread thread_;
  EventLoop* loop_ = nullptr;
  std::promise<void> quitDone_;
  std::promise<void> released_;
  bool quit_ = false;
  bool released__ = false;
};

// A connected pair: `client` (the test's end) and the server end, accepted.
struct Pair {
  RawClient client;
  UniqueFd server;
  InetAddress peer;
};

Pair connectedPair() {
  std::string error;
  UniqueFd listener = sockets::listenTcp(InetAddress(0, /*loopbackOnly=*/true), false, &error);
  EXPECT_TRUE(listener) << error;
  Pair p;
  EXPECT_TRUE(p.client.connect(sockets::localAddress(listener.get())));
  p.server = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  EXPECT_TRUE(p.server);
  p.peer = sockets::peerAddress(p.server.get());
  return p;
}

LoopOptions handoffOptions(bool msgRing) {
  LoopOptions o = uringOptions();
  o.uring.msgRingHandoff = msgRing;
  return o;
}

// What the target's receiver saw.
struct Received {
  std::mutex mutex;
  int count = 0;
  InetAddress peer;
  UniqueFd socket;  // kept, so the test decides when it closes
};

void setReceiver(EventLoop& target, Received& into) {
  std::promise<void> set;
  target.runInLoop([&] {
    target.setSocketReceiver([&into](SocketHandle socket, const InetAddress& peer) {
      std::lock_guard lock(into.mutex);
      ++into.count;
      into.peer = peer;
      into.socket = socket.takeDescriptor();
    });
    set.set_value();
  });
  set.get_future().wait();
}

// Hands `socket` from `sender` to `target`, on the sender's thread.
void handOffFrom(EventLoop& sender, EventLoop& target, UniqueFd socket, const InetAddress& peer) {
  auto held = std::make_shared<UniqueFd>(std::move(socket));
  std::promise<void> sent;
  sender.runInLoop([&] {
    sender.handOff(target, std::move(*held), peer);
    sent.set_value();
  });
  sent.get_future().wait();
}

class SocketHandoffTest : public UringTest, public testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    UringTest::SetUp();
    if (IsSkipped()) return;
    DUET_SKIP_WITHOUT_URING(handoffOptions(GetParam()));
  }
  void TearDown() override {
    UringLoop::failSocketHandoffForTesting(false);
    UringTest::TearDown();
  }
};

TEST_P(SocketHandoffTest, TheSocketReachesTheTargetsReceiverOnceWithItsPeer) {
  EventLoopThread senderThread([] { return makeEventLoop(handoffOptions(GetParam())); }, "sender");
  EventLoopThread targetThread([] { return makeEventLoop(handoffOptions(GetParam())); }, "target");
  EventLoop& sender = *senderThread.start();
  EventLoop& target = *targetThread.start();
  Received received;
  setReceiver(target, received);
  const std::uint64_t eventFdWritesBefore =
      dynamic_cast<UringLoop&>(target).waker().eventFdWrites();

  Pair p = connectedPair();
  const int fd = p.server.get();
  handOffFrom(sender, target, std::move(p.server), p.peer);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(received.mutex);
    return received.count == 1;
  }));
  {
    std::lock_guard lock(received.mutex);
    EXPECT_EQ(received.socket.get(), fd);  // the same socket, not a copy
    EXPECT_EQ(received.peer, p.peer);
    // By MSG_RING the message itself woke the target: its eventfd was not written.
    if (GetParam()) {
      EXPECT_EQ(dynamic_cast<UringLoop&>(target).waker().eventFdWrites(), eventFdWritesBefore);
    }
  }
  // And it is a live connection: what the client sends is readable there.
  ASSERT_TRUE(p.client.sendAll("x"));
  char c = 0;
  ASSERT_TRUE(eventually([&] { return ::recv(fd, &c, 1, MSG_DONTWAIT) == 1; }));
  EXPECT_EQ(c, 'x');
  targetThread.stop();
  std::lock_guard lock(received.mutex);
  EXPECT_EQ(received.count, 1);  // exactly once
}

TEST_P(SocketHandoffTest, AMsgRingTheKernelRefusesFallsBackToTheQueue) {
  UringLoop::failSocketHandoffForTesting(true);
  EventLoopThread senderThread([] { return makeEventLoop(handoffOptions(GetParam())); }, "sender");
  EventLoopThread targetThread([] { return makeEventLoop(handoffOptions(GetParam())); }, "target");
  EventLoop& sender = *senderThread.start();
  EventLoop& target = *targetThread.start();
  Received received;
  setReceiver(target, received);

  Pair p = connectedPair();
  const int fd = p.server.get();
  handOffFrom(sender, target, std::move(p.server), p.peer);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(received.mutex);
    return received.count == 1;
  }));
  senderThread.stop();
  targetThread.stop();
  std::lock_guard lock(received.mutex);
  EXPECT_EQ(received.count, 1);
  EXPECT_EQ(received.socket.get(), fd);
}

TEST_P(SocketHandoffTest, ASocketHandedToALoopThatQuitIsClosedWhenTheLoopEnds) {
  // The target has quit (its run() returned) but still exists: the socket
  // waits there (a queued task, or a completion in its ring) and must be
  // closed when the loop is destroyed, so the client sees the connection end
  // and no descriptor is left behind (the fixture's check).
  EventLoopThread senderThread([] { return makeEventLoop(handoffOptions(GetParam())); }, "sender");
  EventLoop& sender = *senderThread.start();
  ParkedLoopThread target(handoffOptions(GetParam()));
  Received received;
  setReceiver(target.loop(), received);
  target.quit();

  Pair p = connectedPair();
  handOffFrom(sender, target.loop(), std::move(p.server), p.peer);
  target.release();  // the loop is destroyed now
  EXPECT_TRUE(p.client.waitClosed(5000));
  std::lock_guard lock(received.mutex);
  EXPECT_EQ(received.count, 0);
}

TEST_P(SocketHandoffTest, ASocketHandedToALoopWithNoReceiverIsClosed) {
  EventLoopThread senderThread([] { return makeEventLoop(handoffOptions(GetParam())); }, "sender");
  EventLoopThread targetThread([] { return makeEventLoop(handoffOptions(GetParam())); }, "target");
  EventLoop& sender = *senderThread.start();
  EventLoop& target = *targetThread.start();
  Pair p = connectedPair();
  handOffFrom(sender, target, std::move(p.server), p.peer);
  EXPECT_TRUE(p.client.waitClosed(5000));
}

INSTANTIATE_TEST_SUITE_P(Ways, SocketHandoffTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& way) {
                           return way.param ? "msgring" : "queue";
                         });

}  // namespace
}  // namespace duet::test
