// A recv completion the kernel drops takes its provided buffer with it
// (carried over from issue 11). The loop ends the lost recv itself (see
// dropped_completions_test.cc), but nobody gives the buffer back: after as
// many losses as the ring has buffers, every recv would find the ring empty
// (-ENOBUFS) for good and the loop would serve nobody. With an incremental
// ring a lost piece also leaves BufferRing's offset into the part-filled
// buffer behind the kernel's, so the next piece would be read from the wrong
// place.
//
// The test loses more recv completions than there are buffers, each one
// carrying bytes (single-shot recvs: every completion is final and names a
// buffer), then checks that the connection still echoes, byte for byte, and
// that every buffer is back in the kernel's ring. A classic ring and an
// incremental one (where the kernel has it).
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

namespace duet::test {
namespace {

// Runs `loop` on this thread until `done()` or 5 s have passed.
bool runUntil(EventLoop& loop, const std::function<bool()>& done) {
  const TimerId check = loop.runEvery(std::chrono::milliseconds(1), [&] {
    if (done()) loop.quit();
  });
  const TimerId giveUp = loop.runAfter(std::chrono::seconds(5), [&] { loop.quit(); });
  loop.run();
  loop.cancel(check);
  loop.cancel(giveUp);
  return done();
}

class LostRecvBuffersTest : public UringTest, public testing::WithParamInterface<bool> {};

TEST_P(LostRecvBuffersTest, MoreLossesThanBuffersAndTheLoopStillServes) {
  const bool incremental = GetParam();
  LoopOptions o = uringOptions();
  o.multishotRecv = false;  // every recv completion is final and carries its buffer
  o.bufferCount = 4;
  o.bufferSize = 64;
  o.incrementalBuffers = incremental ? KernelFeature::On : KernelFeature::Off;
  DUET_SKIP_WITHOUT_URING(o);
  const std::size_t liveBefore = Connection::liveCount();
  auto loop = makeEventLoop(o);
  auto& uring = dynamic_cast<UringLoop&>(*loop);
  ASSERT_EQ(uring.buffers().count(), 4u);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  auto callbacks = std::make_shared<ConnectionCallbacks>();
  callbacks->onMessage = [](const ConnectionPtr& c, Buffer& in) {
    c->send(in.view());  // echo
    in.retrieveAll();
  };
  ConnectionPtr conn = loop->createConnection(UniqueFd(sv[0]), InetAddress(), InetAddress());
  conn->setCallbacks(callbacks);
  conn->start();

  // More lost completions than buffers, each with 32 bytes in it. An odd
  // number: on an incremental ring (64-byte buffers) the last one loses the
  // first half of a buffer the kernel goes on filling, so the echo below
  // starts in its second half.
  constexpr unsigned kLosses = 9;
  uring.loseFinalCompletionsForTesting(OpKind::Recv, kLosses);
  for (unsigned i = 0; i < kLosses; ++i) {
    const std::string lost = patternBytes(32, 40 + i);
    ASSERT_EQ(::write(peer.get(), lost.data(), lost.size()), static_cast<ssize_t>(lost.size()));
    ASSERT_TRUE(runUntil(*loop, [&] { return loop->stats().cqesDropped.get() >= i + 1; }))
        << "loss " << i << " never happened: the recv that should carry it was not armed again";
  }

  // Those bytes are gone; what the peer sends now must come back intact.
  const std::string ping = patternBytes(48, 77);
  ASSERT_EQ(::write(peer.get(), ping.data(), ping.size()), static_cast<ssize_t>(ping.size()));
  std::string echoed;
  EXPECT_TRUE(runUntil(*loop, [&] {
    char buf[256];
    const ssize_t n = ::read(peer.get(), buf, sizeof buf);
    if (n > 0) echoed.append(buf, static_cast<std::size_t>(n));
    return echoed.size() >= ping.size();
  })) << "no echo after " << kLosses << " lost recv completions (" << loop->stats().bufferRingEmpty.get()
      << " recvs found the ring empty)";
  EXPECT_EQ(echoed, ping) << "the echo came back altered";

  const auto inRing = uring.buffers().buffersInRing();
  ASSERT_TRUE(inRing.has_value()) << "the kernel cannot report the ring's head (Linux 6.8)";
  EXPECT_EQ(*inRing, uring.buffers().provided()) << "buffers of lost completions are still out of the ring";

  conn->forceClose();
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
