// Completions the kernel drops (issue 11, 2.9). When the CQ is full and the
// kernel cannot even hold the overflowing completions, it throws them away
// (io_uring_enter then fails with EBADR, and the CQ's overflow counter grows).
// Whatever operations those completions ended never tell their owners: the
// op-table slots, and the connections they keep alive, would leak for ever,
// and a connection whose recv ended unseen would never read again.
//
// The loop cannot tell which operations were hit, so it must find out from
// the kernel and give each lost one a final completion of its own. The test:
//   - connection A: its peer closes, and the recv's final completion (EOF) is
//     lost. A must still go down and be released.
//   - connection B: reading pauses and resumes, and the paused recv's final
//     completion (-ECANCELED) is lost. B must read again: it echoes.
// Then, B closed, every Connection is gone and only the waker's eventfd read
// is left in the op table.
//
// Deterministic: the loop runs on the test thread, the peers are socketpairs,
// and a test hook (UringLoop::loseFinalCompletionsForTesting) loses exactly
// the two completions, since a real drop happens only when the kernel is out
// of memory.
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "core/connection.h"
#include "proactor/uring_loop.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/eventually.h"

namespace duet::test {
namespace {

class DroppedCompletionsTest : public UringTest {};

TEST_F(DroppedCompletionsTest, LostFinalCompletionsLeakNothingAndOpenConnectionsKeepReading) {
  const std::size_t liveBefore = Connection::liveCount();
  auto loop = makeEventLoop(uringOptions());
  auto& uring = dynamic_cast<UringLoop&>(*loop);

  int a[2];
  int b[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, a), 0);
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, b), 0);
  UniqueFd peerA(a[1]);
  UniqueFd peerB(b[1]);

  bool aDown = false;
  auto callbacks = std::make_shared<ConnectionCallbacks>();
  ConnectionPtr connA;
  callbacks->onConnection = [&](const ConnectionPtr& c) {
    if (!c->connected() && c == connA) aDown = true;
  };
  callbacks->onMessage = [](const ConnectionPtr& c, Buffer& in) {
    c->send(in.view());  // echo
    in.retrieveAll();
  };
  connA = loop->createConnection(UniqueFd(a[0]), InetAddress(), InetAddress());
  ConnectionPtr connB = loop->createConnection(UniqueFd(b[0]), InetAddress(), InetAddress());
  connA->setCallbacks(callbacks);
  connB->setCallbacks(callbacks);
  connA->start();
  connB->start();
  // One iteration: both recvs go to the kernel (the waker's read is there already).
  loop->queueInLoop([&] { loop->quit(); });
  loop->run();
  const std::size_t opsIdle = uring.opsInFlight() - 2;  // the waker's read

  // Both final recv completions of the next iteration are lost.
  uring.loseFinalCompletionsForTesting(OpKind::Recv, 2);
  peerA.reset();          // A's recv ends with EOF
  connB->stopReading();   // B's recv is cancelled (ends with -ECANCELED)...
  connB->startReading();  // ...and reading resumes at once: B re-arms on that final completion
  EXPECT_TRUE(runUntil(*loop, [&] { return aDown; })) << "A's EOF was lost and A never went down";
  EXPECT_EQ(loop->stats().uring.cqesDropped.get(), 2u);

  // B reads again: what the peer sends comes back.
  ASSERT_EQ(::write(peerB.get(), "ping", 4), 4);
  std::string echoed;
  EXPECT_TRUE(runUntil(*loop,
                       [&] {
                         char buf[16];
                         const ssize_t n = ::read(peerB.get(), buf, sizeof buf);
                         if (n > 0) echoed.append(buf, static_cast<std::size_t>(n));
                         return echoed == "ping";
                       }))
      << "B's recv was never armed again (echoed \"" << echoed << "\")";

  connB->forceClose();
  connA.reset();
  connB.reset();
  EXPECT_TRUE(runUntil(
      *loop,
      [&] { return Connection::liveCount() == liveBefore && uring.opsInFlight() == opsIdle; }))
      << "live connections: " << Connection::liveCount() << " (before: " << liveBefore
      << "), operations in flight: " << uring.opsInFlight() << " (idle: " << opsIdle << ")";
  peerB.reset();
  loop.reset();
}

// The reconcile cancels every operation the kernel still has, healthy ones
// too. A send waiting for room in the peer's socket is one: cancelled, it has
// sent nothing, and must be sent again, not taken for a failed connection.
TEST_F(DroppedCompletionsTest, ASendCancelledByTheReconcileIsSentAgainWhole) {
  const std::size_t liveBefore = Connection::liveCount();
  auto loop = makeEventLoop(uringOptions());
  auto& uring = dynamic_cast<UringLoop&>(*loop);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  bool down = false;
  auto callbacks = std::make_shared<ConnectionCallbacks>();
  callbacks->onConnection = [&](const ConnectionPtr& c) {
    if (!c->connected()) down = true;
  };
  ConnectionPtr conn = loop->createConnection(UniqueFd(sv[0]), InetAddress(), InetAddress());
  conn->setCallbacks(callbacks);
  conn->start();

  // More than the socket holds: the peer does not read yet, so a send stays
  // in the kernel, waiting for room.
  std::string payload(4 << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i)
    payload[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
  conn->send(payload);
  for (int i = 0; i < 3; ++i) {
    loop->queueInLoop([&] { loop->quit(); });
    loop->run();
  }
  ASSERT_GT(conn->pendingOutputBytes(), 0u);

  // A dropped completion (the paused recv's end) makes the loop reconcile.
  uring.loseFinalCompletionsForTesting(OpKind::Recv, 1);
  conn->stopReading();
  conn->startReading();
  ASSERT_TRUE(runUntil(*loop, [&] { return loop->stats().uring.cqesDropped.get() == 1; }));

  std::string received;
  EXPECT_TRUE(runUntil(*loop, [&] {
    char buf[65536];
    ssize_t n;
    while ((n = ::read(peer.get(), buf, sizeof buf)) > 0)
      received.append(buf, static_cast<std::size_t>(n));
    return received.size() >= payload.size() || down;
  }));
  EXPECT_FALSE(down) << "the cancelled send was taken for a failed connection";
  EXPECT_EQ(received.size(), payload.size());
  EXPECT_TRUE(received == payload) << "bytes lost, repeated or reordered";

  conn->forceClose();
  conn.reset();
  EXPECT_TRUE(runUntil(
      *loop, [&] { return Connection::liveCount() == liveBefore && uring.opsInFlight() == 1; }))
      << "live connections: " << Connection::liveCount()
      << ", operations in flight: " << uring.opsInFlight();
  peer.reset();
  loop.reset();
}

}  // namespace
}  // namespace duet::test
