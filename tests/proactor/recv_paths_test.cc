// The receive paths newer kernels allow (UringOptions::recvBundle,
// incrementalBuffers, adaptiveRecv), each tested on its mechanics:
//   - a bundle completion spans several provided buffers, and BufferRing
//     hands them over whole and in ring order, however the buffers were
//     recycled before (so ids and ring positions no longer coincide);
//   - an incremental buffer is read from where the last piece ended and goes
//     back to the ring only on the completion without IORING_CQE_F_BUF_MORE;
//   - the adaptive receive takes a burst with plain recvs into the input
//     Buffer and goes back to the multishot recv after a short read.
// The BufferRing tests drive a bare io_uring over a socketpair, so the
// kernel's own completions are what BufferRing::consume is checked against.
#include <liburing.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "core/spare_buffers.h"

#include "proactor/buffer_ring.h"
#include "proactor/uring_compat.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/raw_client.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

// A bare ring and a socketpair: we write into `peer`, the ring receives on `local`.
class BareRing {
 public:
  BareRing() {
    ok_ = io_uring_queue_init_params(8, &ring_, &params_) == 0;
    int sv[2];
    if (ok_) ok_ = ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0;
    if (ok_) {
      local_ = sv[0];
      peer_ = sv[1];
    }
  }
  ~BareRing() {
    if (local_ >= 0) ::close(local_);
    if (peer_ >= 0) ::close(peer_);
    if (ok_) io_uring_queue_exit(&ring_);
  }
  bool ok() const { return ok_; }
  io_uring& ring() { return ring_; }
  bool hasFeature(unsigned f) const { return (params_.features & f) != 0; }
  bool write(const std::string& bytes) {
    return ::write(peer_, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  }

  // One single-shot recv from buffer group 0; returns its completion.
  io_uring_cqe recv(bool bundle) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_recv(sqe, local_, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    if (bundle) sqe->ioprio |= IORING_RECVSEND_BUNDLE;
    io_uring_submit(&ring_);
    io_uring_cqe* cqe = nullptr;
    io_uring_cqe copy{};
    if (io_uring_wait_cqe(&ring_, &cqe) == 0) {
      copy = *cqe;
      io_uring_cqe_seen(&ring_, cqe);
    } else {
      copy.res = -EIO;
    }
    return copy;
  }

 private:
  io_uring ring_{};
  io_uring_params params_{};
  bool ok_ = false;
  int local_ = -1;
  int peer_ = -1;
};

std::uint16_t bufferIdOf(const io_uring_cqe& cqe) {
  return static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
}

TEST(RecvBundle, OneCompletionSpansSeveralBuffersDeliveredWholeAndInOrder) {
  BareRing bare;
  ASSERT_TRUE(bare.ok());
  if (!bare.hasFeature(IORING_FEAT_RECVSEND_BUNDLE)) GTEST_SKIP() << "recv bundles need Linux 6.10";
  BufferRing pool(bare.ring(), 8, 64, 0);
  ASSERT_EQ(pool.provided(), 8u);
  std::size_t widest = 0;
  std::uint64_t filledBuffers = 0;
  const auto take = [&](const io_uring_cqe& cqe) {
    std::string bytes;
    std::size_t pieces = 0;
    pool.consume(bufferIdOf(cqe), static_cast<std::size_t>(std::max(cqe.res, 0)), false,
                 [&](const char* data, std::size_t n) {
                   bytes.append(data, n);
                   ++pieces;
                 });
    widest = std::max(widest, pieces);
    filledBuffers += pieces;
    return bytes;
  };
  // Receives all of `size` bytes; returns the completions, not yet consumed.
  const auto receive = [&](std::size_t size) {
    std::vector<io_uring_cqe> cqes;
    std::size_t got = 0;
    while (got < size) {
      const io_uring_cqe cqe = bare.recv(/*bundle=*/true);
      if (cqe.res <= 0 || !(cqe.flags & IORING_CQE_F_BUFFER)) {
        ADD_FAILURE() << "recv failed: " << cqe.res;
        break;
      }
      got += static_cast<std::size_t>(cqe.res);
      cqes.push_back(cqe);
    }
    return cqes;
  };

  // Two messages of 3 buffers each, handled in the reverse order: the ring
  // then holds 6 7 3 4 5 0 1 2 from its head, so buffer ids and ring
  // positions no longer run side by side.
  const std::string first = patternBytes(192, 1);
  ASSERT_TRUE(bare.write(first));
  const std::vector<io_uring_cqe> a = receive(first.size());
  const std::string second = patternBytes(192, 2);
  ASSERT_TRUE(bare.write(second));
  const std::vector<io_uring_cqe> b = receive(second.size());
  std::string got;
  for (const io_uring_cqe& cqe : b) got += take(cqe);
  EXPECT_EQ(got, second);
  got.clear();
  for (const io_uring_cqe& cqe : a) got += take(cqe);
  EXPECT_EQ(got, first);

  // Messages that need buffers across the reordered part of the ring: they
  // arrive whole only if every earlier buffer was given back, and in order
  // only if the walk follows ring positions rather than buffer ids.
  unsigned seed = 3;
  for (std::size_t size : {512u, 300u, 65u, 512u}) {
    const std::string payload = patternBytes(size, seed++);
    ASSERT_TRUE(bare.write(payload));
    std::string received;
    for (const io_uring_cqe& cqe : receive(size)) received += take(cqe);
    EXPECT_EQ(received, payload) << "a " << size << "-byte message came back altered";
  }
  EXPECT_GT(widest, 1u) << "no completion spanned more than one buffer: not a bundle";
  EXPECT_EQ(pool.recycled(), filledBuffers) << "every buffer a bundle filled goes back once";
}

TEST(IncrementalBuffers, ReadFromWhereTheLastPieceEndedAndRecycledOnlyWhenTheKernelIsDone) {
  BareRing bare;
  ASSERT_TRUE(bare.ok());
  std::unique_ptr<BufferRing> pool;
  try {
    pool = std::make_unique<BufferRing>(bare.ring(), 2, 256, 0, /*incremental=*/true);
  } catch (const BackendUnavailable& e) {
    GTEST_SKIP() << e.what();
  }
  const std::string payload = patternBytes(300, 7);
  std::string received;
  // Three 100-byte pieces into the first 256-byte buffer (the third only
  // fits 56), then the rest into the second.
  const std::vector<std::pair<std::size_t, bool>> expected = {
      {100, true}, {100, true}, {56, false}, {44, true}};
  std::size_t written = 0;
  std::uint16_t firstBuffer = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (written < payload.size() && received.size() == written) {
      const std::size_t n = std::min<std::size_t>(100, payload.size() - written);
      ASSERT_TRUE(bare.write(payload.substr(written, n)));
      written += n;
    }
    const io_uring_cqe cqe = bare.recv(/*bundle=*/false);
    ASSERT_EQ(static_cast<std::size_t>(cqe.res), expected[i].first) << "completion " << i;
    const bool more = cqe.flags & IORING_CQE_F_BUF_MORE;
    ASSERT_EQ(more, expected[i].second) << "completion " << i;
    if (i == 0) firstBuffer = bufferIdOf(cqe);
    if (i < 3) {
      EXPECT_EQ(bufferIdOf(cqe), firstBuffer) << "completion " << i << " left the first buffer";
    }
    const std::uint64_t recycledBefore = pool->recycled();
    pool->consume(bufferIdOf(cqe), static_cast<std::size_t>(cqe.res), more,
                  [&](const char* data, std::size_t n) { received.append(data, n); });
    EXPECT_EQ(pool->recycled() - recycledBefore, more ? 0u : 1u)
        << "completion " << i
        << (more ? ": a buffer the kernel still fills was given back"
                 : ": a finished buffer was not given back");
    ASSERT_EQ(received, payload.substr(0, received.size()))
        << "completion " << i << " read the wrong bytes";
  }
  EXPECT_EQ(received, payload);
}

// What `read` returns when run on the server's loop thread (its state lives there).
template <typename Read>
auto onLoop(ServerHarness& server, Read read) {
  decltype(read()) value{};
  server.runSync([&] { value = read(); });
  return value;
}

// Echo through a server with the adaptive receive on (or off), 4 KiB ring
// buffers: one 256 KiB burst, then small round trips one at a time.
struct AdaptiveRun {
  std::uint64_t directAfterBurst = 0;
  std::uint64_t directAfterSmall = 0;
  std::uint64_t rearms = 0;
};

AdaptiveRun echoBurstThenSmall(bool adaptive) {
  LoopOptions o = uringOptions();
  o.uring.bufferSize = 4096;
  o.uring.adaptiveRecv = adaptive;
  ServerHarness server(o, testServerOptions(), echoCallbacks());
  EXPECT_TRUE(server.ok()) << server.error();
  AdaptiveRun r;
  if (!server.ok()) return r;
  const auto direct = [&] {
    return onLoop(server, [&] { return server.loop().stats().uring.recvDirect.get(); });
  };
  RawClient client;
  EXPECT_TRUE(client.connect(server.address()));
  const std::string burst = patternBytes(256 * 1024, 3);
  EXPECT_TRUE(client.sendAll(burst));
  EXPECT_EQ(client.recvExactly(burst.size()), burst) << "the burst came back altered";
  r.directAfterBurst = direct();
  for (unsigned i = 0; i < 20; ++i) {
    const std::string small = patternBytes(10, 100 + i);
    EXPECT_TRUE(client.sendAll(small));
    EXPECT_EQ(client.recvExactly(small.size()), small) << "round trip " << i;
  }
  r.directAfterSmall = direct();
  r.rearms = onLoop(server, [&] { return server.loop().stats().uring.recvRearms.get(); });
  return r;
}

class AdaptiveRecvTest : public UringTest {};

// 32 MiB through an echo server, sent from a second thread while this one
// reads the echo back: much more than one recv can hold, so the server's
// receives grow as far as they go.
void echoStream(RawClient& client, unsigned seed) {
  const std::string payload = patternBytes(std::size_t{32} << 20, seed);
  bool sent = false;
  std::thread sender([&] { sent = client.sendAll(payload, 60000); });
  const std::string back = client.recvExactly(payload.size(), 60000);
  sender.join();
  EXPECT_TRUE(sent);
  EXPECT_TRUE(back == payload) << "the stream came back altered (" << back.size() << " bytes)";
}

TEST_F(AdaptiveRecvTest, BurstIsReceivedDirectlyThenMultishotTakesOverAgain) {
  const AdaptiveRun r = echoBurstThenSmall(true);
  EXPECT_GT(r.directAfterBurst, 0u)
      << "a 256 KiB burst through 4 KiB buffers never switched to direct recvs";
  // Each small message is one short read: taken by the multishot recv again,
  // so no more direct recvs (one still in use would count one per message).
  EXPECT_EQ(r.directAfterSmall, r.directAfterBurst)
      << "small messages after the burst still went through direct recvs";
  EXPECT_GT(r.rearms, 0u) << "the multishot recv was never armed again after the burst";
}

// A stream much larger than one recv: the direct recvs double while they
// fill, and must stop at the largest storage the loop's spares keep
// (SpareBuffers' top class, 512 KiB writable). Larger storage goes back to
// malloc each time it empties: under a client fast enough to keep more than
// 512 KiB waiting, duet-uring's 256 KiB echo then paid mmap, munmap and page
// faults, about twice its usual CPU per message, in half its rounds.
TEST_F(AdaptiveRecvTest, DirectRecvsNeverOutgrowTheSparesLargestClass) {
  LoopOptions o = uringOptions();
  o.uring.adaptiveRecv = true;
  std::size_t largest = 0;  // the largest input storage a message arrived in (loop thread)
  ConnectionCallbacks cb = echoCallbacks();
  cb.onMessage = [&largest, echo = cb.onMessage](const ConnectionPtr& conn, Buffer& in) {
    largest = std::max(largest, in.capacity());
    echo(conn, in);
  };
  ServerHarness server(o, testServerOptions(), cb);
  ASSERT_TRUE(server.ok()) << server.error();
  RawClient client;
  ASSERT_TRUE(client.connect(server.address()));
  echoStream(client, 7);
  const std::size_t seen = onLoop(server, [&] { return largest; });
  EXPECT_GT(seen, std::size_t{256} << 10) << "the recvs never grew: no direct recv filled";
  EXPECT_LE(seen, SpareBuffers::classCapacity(SpareBuffers::kClassCount - 1))
      << "a direct recv asked for storage the spares do not keep";
}

// A connection whose receives bring large pieces streams: the loop's
// spares may keep more storage for it (SpareBuffers::streamingStarted), so
// its messages' storage is not freed to malloc and faulted back in each time
// (duet-uring's 256 KiB echo paid 1.25-1.48x epoll's CPU per message). Small
// traffic again, or the close, ends it, and the spares shrink back.
TEST_F(AdaptiveRecvTest,
       StreamingLetsTheSparesKeepMoreUntilTrafficTurnsSmallOrTheConnectionCloses) {
  LoopOptions o = uringOptions();
  o.uring.adaptiveRecv = true;
  ServerHarness server(o, testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();
  const auto streaming = [&] {
    return onLoop(server, [&] { return server.loop().spareBuffers().streamingConnections(); });
  };
  const auto budget = [&] {
    return onLoop(server, [&] { return server.loop().spareBuffers().budget(); });
  };
  const std::size_t baseBudget = budget();
  RawClient client;
  ASSERT_TRUE(client.connect(server.address()));
  echoStream(client, 11);
  EXPECT_EQ(streaming(), 1u) << "a 32 MiB stream did not count as streaming";
  EXPECT_EQ(budget(), baseBudget + SpareBuffers::kStreamingAllowance);

  for (unsigned i = 0; i < 12; ++i) {
    const std::string small = patternBytes(10, 200 + i);
    ASSERT_TRUE(client.sendAll(small));
    ASSERT_EQ(client.recvExactly(small.size()), small) << "round trip " << i;
  }
  EXPECT_EQ(streaming(), 0u) << "small round trips after the stream did not end its streaming";
  EXPECT_EQ(budget(), baseBudget);

  echoStream(client, 12);
  EXPECT_EQ(streaming(), 1u) << "streaming again did not count";
  client.close();
  EXPECT_TRUE(eventually([&] { return streaming() == 0; }))
      << "the loop still counts a closed connection as streaming";
  EXPECT_LE(onLoop(server, [&] { return server.loop().spareBuffers().bytes(); }), baseBudget)
      << "the spares kept the streaming storage after the close";
}

TEST_F(AdaptiveRecvTest, OffMeansNoDirectRecv) {
  const AdaptiveRun r = echoBurstThenSmall(false);
  EXPECT_EQ(r.directAfterSmall, 0u);
}

}  // namespace
}  // namespace duet::test
