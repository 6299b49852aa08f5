// Vectored sends (UringOptions::vectoredSend): output queued behind the send in
// flight goes out uncopied, several chunks in one send, in order; a short send
// resumes in the middle of the chunk where it stopped; an idle connection
// holds no chain. Run on both kernel paths: IORING_SEND_VECTORIZED (6.17) and
// IORING_OP_SENDMSG (the test hook makes the ring act as if it lacked the first).
#include <sys/socket.h>

#include <atomic>
#include <string>

#include "core/buffer.h"
#include "core/spare_buffers.h"
#include "proactor/output_chain.h"
#include "proactor/ring.h"
#include "proactor/uring_connection.h"
#include "proactor/uring_loop.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/connection_catcher.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

Buffer bufferOf(const std::string& bytes) {
  Buffer b;
  b.append(bytes);
  return b;
}

std::string iovText(const iovec& v) {
  return std::string(static_cast<const char*>(v.iov_base), v.iov_len);
}

// ---------------------------------------------------------------- the chain itself

TEST(OutputChainTest, AShortSendResumesInTheMiddleOfAChunk) {
  SpareBuffers spares;
  OutputChain chain;
  Buffer a = bufferOf(std::string(1000, 'a'));
  Buffer b = bufferOf(std::string(1000, 'b'));
  Buffer c = bufferOf(std::string(1000, 'c'));
  chain.appendOwned(a);
  chain.appendOwned(b);
  chain.appendOwned(c);
  EXPECT_EQ(a.capacity(), 0u) << "a given-up Buffer's storage is taken, not copied";
  EXPECT_EQ(chain.bytes(), 3000u);

  auto iov = chain.prepareSend(1 << 30);
  ASSERT_EQ(iov.size(), 3u);
  EXPECT_EQ(chain.chunksInFlight(), 3u);
  chain.sent(1500, spares);  // the kernel took all of a and half of b
  EXPECT_EQ(chain.bytes(), 1500u);
  EXPECT_EQ(chain.chunksInFlight(), 0u);

  iov = chain.prepareSend(1 << 30);
  ASSERT_EQ(iov.size(), 2u);
  EXPECT_EQ(iovText(iov[0]), std::string(500, 'b'));
  EXPECT_EQ(iovText(iov[1]), std::string(1000, 'c'));
  chain.sent(1500, spares);
  EXPECT_TRUE(chain.empty());
  EXPECT_EQ(chain.chunkCount(), 0u);
  EXPECT_GT(spares.count(), 0u) << "emptied chunks give their storage to the loop";
}

TEST(OutputChainTest, SmallSendsBehindTheSendInFlightShareOneChunk) {
  SpareBuffers spares;
  OutputChain chain;
  chain.append("first", spares);
  ASSERT_EQ(chain.prepareSend(1 << 30).size(), 1u);
  // The kernel holds "first": nothing may be appended to it.
  chain.append("x", spares);
  chain.append("y", spares);
  Buffer small = bufferOf("z");
  chain.appendOwned(small);
  EXPECT_EQ(chain.chunkCount(), 2u);

  chain.dropUnsent();  // a close: only what the kernel holds stays
  EXPECT_EQ(chain.chunkCount(), 1u);
  EXPECT_EQ(chain.bytes(), 5u);
  chain.sent(5, spares);
  EXPECT_TRUE(chain.empty());
}

TEST(OutputChainTest, OneSendCarriesAtMostMaxIovChunks) {
  SpareBuffers spares;
  OutputChain chain;
  for (std::size_t i = 0; i < OutputChain::kMaxIov + 3; ++i) {
    Buffer b = bufferOf(std::string(OutputChain::kCopyBelow, static_cast<char>('a' + i % 26)));
    chain.appendOwned(b);
  }
  EXPECT_EQ(chain.prepareSend(1 << 30).size(), OutputChain::kMaxIov);
  chain.sent(OutputChain::kMaxIov * OutputChain::kCopyBelow, spares);
  EXPECT_EQ(chain.prepareSend(1 << 30).size(), 3u);
}

// ---------------------------------------------------------------- end to end

// Param: true = IORING_SEND_VECTORIZED where the kernel has it, false = SENDMSG.
class VectoredSendTest : public UringTest, public testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {
    UringTest::SetUp();
    Ring::allowSendVectorizedForTesting(GetParam());
  }
  void TearDown() override {
    Ring::allowSendVectorizedForTesting(true);
    UringTest::TearDown();
  }
  static LoopOptions options() {
    LoopOptions o = uringOptions();
    o.uring.vectoredSend = true;
    return o;
  }
};

// One callback sends four Buffers it gives up. The first goes out at once (its
// SQE rides on the loop's next enter); the other three wait behind it and
// leave together, as one vectored send, uncopied and in order.
TEST_P(VectoredSendTest, SendsQueuedBehindOneInFlightGoOutInOrderInOneSend) {
  constexpr std::size_t kChunk = 1024;
  std::string expected;
  for (char c : std::string("ABCD")) expected += std::string(kChunk, c);
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    for (char c : std::string("ABCD")) conn->send(bufferOf(std::string(kChunk, c)));
  };
  ServerHarness server(options(), testServerOptions(), cb);
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  ASSERT_TRUE(client.sendAll("go"));
  EXPECT_EQ(client.recvExactly(expected.size()), expected);
  std::uint64_t vectored = 0;
  bool viaSendVectorized = false;
  server.runSync([&] {
    vectored = server.loop().stats().uring.sendsVectored.get();
    viaSendVectorized = dynamic_cast<UringLoop&>(server.loop()).sendVectorizedAvailable();
  });
  EXPECT_EQ(vectored, 1u) << "B, C and D should have left in one send";
  if (!GetParam()) {
    EXPECT_FALSE(viaSendVectorized) << "the SENDMSG path was not taken";
  }
}

// A peer that reads slowly makes the kernel take part of a vectored send; the
// rest, from the middle of a chunk, goes next, and every byte arrives in order.
TEST_P(VectoredSendTest, ShortVectoredSendsResumeAndKeepTheOrder) {
  constexpr std::size_t kChunk = 1 << 20;
  constexpr int kChunks = 8;
  std::string expected;
  for (int i = 0; i < kChunks; ++i) expected += patternBytes(kChunk, i);
  std::atomic<std::size_t> pendingAfterSends{0};
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    for (int i = 0; i < kChunks; ++i) conn->send(bufferOf(patternBytes(kChunk, i)));
    pendingAfterSends = conn->pendingOutputBytes();
  };
  ServerHarness server(options(), testServerOptions(), cb);
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  ASSERT_TRUE(client.sendAll("go"));
  ASSERT_TRUE(eventually([&] { return pendingAfterSends.load() > 0; }));
  EXPECT_EQ(pendingAfterSends.load(), expected.size()) << "nothing is sent inside send()";
  const std::string got = client.recvExactly(expected.size(), 30000);
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "bytes out of order or lost";
  std::uint64_t vectored = 0;
  server.runSync([&] { vectored = server.loop().stats().uring.sendsVectored.get(); });
  EXPECT_GE(vectored, 1u);
}

TEST_P(VectoredSendTest, AnIdleConnectionHoldsNoChainAndNoOutput) {
  ConnectionCatcher catcher;
  ConnectionCallbacks cb = echoCallbacks();
  catcher.catchInto(cb);
  ServerHarness server(options(), testServerOptions(), cb);
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client(server.address());
  ASSERT_TRUE(client.echo(patternBytes(300000, 4)));
  ConnectionPtr c = catcher.take();
  ASSERT_TRUE(c);
  bool chain = true;
  std::size_t pending = 1;
  EXPECT_TRUE(eventually([&] {
    server.runSync([&] {
      chain = dynamic_cast<UringConnection&>(*c).holdsOutputChain();
      pending = c->pendingOutputBytes();
    });
    return !chain && pending == 0;
  }));
  c.reset();
}

INSTANTIATE_TEST_SUITE_P(Paths, VectoredSendTest, testing::Values(true, false),
                         [](const testing::TestParamInfo<bool>& path) {
                           return path.param ? std::string("send_vectorized")
                                             : std::string("sendmsg");
                         });

}  // namespace
}  // namespace duet::test
