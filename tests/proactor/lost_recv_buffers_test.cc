// A recv completion the kernel drops takes its provided buffer with it
// (carried over from issue 11). The loop ends the lost recv itself (see
// dropped_completions_test.cc), but nobody gives the buffer back: after as
// many losses as the ring has buffers, every recv would find the ring empty
// (-ENOBUFS) for good and the loop would serve nobody. With an incremental
// ring a lost piece also leaves BufferRing's offset into the part-filled
// buffer behind the kernel's, so the next piece would be read from the wrong
// place.
//
// The first test loses more recv completions than there are buffers, each
// one carrying bytes (single-shot recvs: every completion is final and names
// a buffer), then checks that a new connection is still echoed, byte for
// byte, and that every buffer is back in the kernel's ring. The second checks
// that a connection whose bytes were lost fails instead of reading on. A
// classic ring and an incremental one (where the kernel has it).
//
// Deterministic: the loop runs on the test thread, the peer is a
// socketpair, and the test hook loses exactly the completions asked for.
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

// An echoing Connection on `loop` over a socketpair; `peer` is the far end.
struct EchoPair {
  ConnectionPtr conn;
  UniqueFd peer;
  std::shared_ptr<bool> down = std::make_shared<bool>(false);

  explicit EchoPair(EventLoop& loop) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) return;
    peer = UniqueFd(sv[1]);
    auto callbacks = std::make_shared<ConnectionCallbacks>();
    callbacks->onConnection = [down = down](const ConnectionPtr& c) {
      if (!c->connected()) *down = true;
    };
    callbacks->onMessage = [](const ConnectionPtr& c, Buffer& in) {
      c->send(in.view());
      in.retrieveAll();
    };
    conn = loop.createConnection(UniqueFd(sv[0]), InetAddress(), InetAddress());
    conn->setCallbacks(callbacks);
    conn->start();
  }
  // MSG_NOSIGNAL: the connection may be gone (no SIGPIPE for the test).
  bool write(const std::string& bytes) const {
    return ::send(peer.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
};

class LostRecvBuffersTest : public UringTest, public testing::WithParamInterface<bool> {};

TEST_P(LostRecvBuffersTest, MoreLossesThanBuffersAndTheLoopStillServes) {
  const bool incremental = GetParam();
  LoopOptions o = uringOptions();
  o.uring.multishotRecv = false;  // every recv completion is final and carries its buffer
  o.uring.bufferCount = 4;
  o.uring.bufferSize = 64;
  o.uring.incrementalBuffers = incremental ? KernelFeature::On : KernelFeature::Off;
  DUET_SKIP_WITHOUT_URING(o);
  const std::size_t liveBefore = Connection::liveCount();
  auto loop = makeEventLoop(o);
  auto& uring = dynamic_cast<UringLoop&>(*loop);
  ASSERT_EQ(uring.buffers().count(), 4u);

  // More lost completions than buffers, each with 32 bytes in it, each on a
  // connection of its own (a loss with bytes fails its connection: see the
  // next test). An odd number: on an incremental ring (64-byte buffers) the
  // last one loses the first half of a buffer the kernel goes on filling, so
  // the echo below starts in its second half.
  constexpr unsigned kLosses = 9;
  uring.loseFinalCompletionsForTesting(OpKind::Recv, kLosses);
  for (unsigned i = 0; i < kLosses; ++i) {
    EchoPair pair(*loop);
    ASSERT_TRUE(pair.conn);
    ASSERT_TRUE(pair.write(patternBytes(32, 40 + i)));
    ASSERT_TRUE(runUntil(
        *loop, [&] { return loop->stats().uring.cqesDropped.get() >= i + 1 && *pair.down; }))
        << "loss " << i << ": dropped " << loop->stats().uring.cqesDropped.get() << ", connection "
        << (*pair.down ? "down" : "still up");
  }

  // Those bytes are gone; a new connection must be served, byte for byte.
  EchoPair fresh(*loop);
  const std::string ping = patternBytes(48, 77);
  ASSERT_TRUE(fresh.write(ping));
  std::string echoed;
  EXPECT_TRUE(runUntil(*loop,
                       [&] {
                         char buf[256];
                         const ssize_t n = ::read(fresh.peer.get(), buf, sizeof buf);
                         if (n > 0) echoed.append(buf, static_cast<std::size_t>(n));
                         return echoed.size() >= ping.size();
                       }))
      << "no echo after " << kLosses << " lost recv completions ("
      << loop->stats().uring.bufferRingEmpty.get() << " recvs found the ring empty)";
  EXPECT_EQ(echoed, ping) << "the echo came back altered";

  const auto inRing = uring.buffers().buffersInRing();
  ASSERT_TRUE(inRing.has_value()) << "the kernel cannot report the ring's head (Linux 6.8)";
  EXPECT_EQ(*inRing, uring.buffers().provided())
      << "buffers of lost completions are still out of the ring";

  fresh.conn->forceClose();
  fresh.conn.reset();
  EXPECT_TRUE(runUntil(*loop, [&] { return Connection::liveCount() == liveBefore; }));
  loop.reset();
}

// The bytes a lost recv completion carried are gone, and nothing tells the
// connection where in its stream they were: reading on would hand the
// application the bytes after them as if they followed what it had, a hole
// in the stream it cannot see. Such a connection must fail, with an error,
// and deliver nothing more. (A lost completion that carried no bytes, like
// the EOF and the cancel in dropped_completions_test.cc, leaves no hole: those
// connections read on.)
TEST_P(LostRecvBuffersTest, ALostCompletionWithBytesInItFailsItsConnection) {
  LoopOptions o = uringOptions();
  o.uring.multishotRecv = false;  // the completion carrying the bytes is a final one
  o.uring.incrementalBuffers = GetParam() ? KernelFeature::On : KernelFeature::Off;
  DUET_SKIP_WITHOUT_URING(o);
  const std::size_t liveBefore = Connection::liveCount();
  auto loop = makeEventLoop(o);
  auto& uring = dynamic_cast<UringLoop&>(*loop);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  bool down = false;
  std::string delivered;
  auto callbacks = std::make_shared<ConnectionCallbacks>();
  callbacks->onConnection = [&](const ConnectionPtr& c) {
    if (!c->connected()) down = true;
  };
  callbacks->onMessage = [&](const ConnectionPtr&, Buffer& in) {
    delivered.append(in.view());
    in.retrieveAll();
  };
  ConnectionPtr conn = loop->createConnection(UniqueFd(sv[0]), InetAddress(), InetAddress());
  conn->setCallbacks(callbacks);
  conn->start();

  uring.loseFinalCompletionsForTesting(OpKind::Recv, 1);
  ASSERT_EQ(::write(peer.get(), "first", 5), 5);
  ASSERT_TRUE(runUntil(*loop, [&] { return loop->stats().uring.cqesDropped.get() == 1; }));
  // Sent after the lost bytes: must not be delivered as if it followed nothing.
  (void)::send(peer.get(), "second", 6, MSG_NOSIGNAL);
  EXPECT_TRUE(runUntil(*loop, [&] { return down; }))
      << "the connection read on past the lost bytes (delivered \"" << delivered << "\")";
  EXPECT_EQ(delivered, "") << "bytes after a hole in the stream were delivered";

  conn->forceClose();  // already closed when it failed as it should
  conn.reset();
  EXPECT_TRUE(runUntil(*loop, [&] { return Connection::liveCount() == liveBefore; }));
  peer.reset();
  loop.reset();
}

INSTANTIATE_TEST_SUITE_P(Rings, LostRecvBuffersTest, testing::Values(false, true),
                         [](const testing::TestParamInfo<bool>& param) {
                           return std::string(param.param ? "incremental" : "classic");
                         });

}  // namespace
}  // namespace duet::test
