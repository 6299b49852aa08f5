// Multishot recvs that end mid-buffer (issue 12's untested risk). An
// incremental buffer ring (IOU_PBUF_RING_INC) hands one buffer to many recvs
// in turn, each piece starting where the last one ended; BufferRing keeps
// that offset itself and relies on the completions for one buffer arriving
// in the order the kernel filled it. The situations that could break it:
//   - the CQ is full, so a multishot recv cannot post its next completion
//     and ends (no IORING_CQE_F_MORE), possibly with its buffer part-filled
//     (IORING_CQE_F_BUF_MORE), its final completion held in the overflow list;
//   - the ring is empty, so recvs end with -ENOBUFS and are armed again.
// The test makes both happen at once and on purpose: a CQ of 4 entries and
// 16 KiB of ring buffers, 64 connections, and the loop thread held in a task
// until every client's 16 KiB is in the server's sockets, so the first enter
// after it runs 64 recvs in one go. Then every echo must come back byte for
// byte, and every ring buffer must be back in the kernel's ring (asked of the
// kernel itself). On every io_uring configuration, so with incremental
// buffers on (uring, where the kernel has them) and off (uring_noinc).
#include <string>
#include <vector>

#include "proactor/uring_loop.h"
#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/raw_client.h"
#include "tests/support/send_while_held.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

std::vector<BackendConfig> uringConfigs() {
  std::vector<BackendConfig> out;
  for (const BackendConfig& c : testBackends()) {
    if (c.loop.backend == Backend::IoUring) out.push_back(c);
  }
  return out;
}

// The conformance fixture (skip where unavailable, cleanup checked), over
// the io_uring configurations only.
class RecvUnderOverflowTest : public BackendTest {};

TEST_P(RecvUnderOverflowTest, EveryByteArrivesInOrderAndEveryBufferReturns) {
  constexpr int kClients = 64;
  constexpr std::size_t kPerClient = 16 * 1024;
  LoopOptions o = GetParam().loop;
  o.uring.ringEntries = 4;
  o.uring.cqFactor = 1;     // a CQ of 4 entries against 64 connections with data
  o.uring.bufferCount = 4;  // 16 KiB of ring buffers (incremental: 4 of 4 KiB too)
  o.uring.bufferSize = 4096;
  ServerHarness server(o, testServerOptions(), echoCallbacks());
  ASSERT_TRUE(server.ok()) << server.error();

  std::vector<RawClient> clients(kClients);
  for (auto& c : clients) ASSERT_TRUE(c.connect(server.address()));
  ASSERT_TRUE(eventually([&] { return server.server().connectionCount() == kClients; }));
  // The loop thread held until every byte is queued in the server's sockets.
  std::vector<std::string> payloads;
  for (int i = 0; i < kClients; ++i)
    payloads.push_back(patternBytes(kPerClient, static_cast<unsigned>(100 + i)));
  std::string why;
  ASSERT_TRUE(sendAllWhileLoopHeld(server, clients, payloads, &why)) << why;

  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(clients[i].recvExactly(kPerClient), payloads[i])
        << "client " << i << ": bytes lost, repeated or reordered";
  }

  std::uint64_t overflows = 0;
  std::uint64_t ringEmpty = 0;
  std::uint64_t rearms = 0;
  bool incremental = false;
  unsigned provided = 0;
  std::optional<unsigned> inRing;
  server.runSync([&] {
    const LoopStats& s = server.loop().stats();
    overflows = s.uring.cqOverflows.get();
    ringEmpty = s.uring.bufferRingEmpty.get();
    rearms = s.uring.recvRearms.get();
    BufferRing& ring = dynamic_cast<UringLoop&>(server.loop()).buffers();
    incremental = ring.incremental();
    provided = ring.provided();
    inRing = ring.buffersInRing();
  });
  // The situation happened: completions held back, recvs that found no buffer.
  EXPECT_GT(overflows, 0u) << "the CQ never overflowed";
  EXPECT_GT(ringEmpty, 0u) << "no recv ever found the ring empty";
  EXPECT_GT(rearms, 0u) << "no multishot recv ended and was armed again";
  // Every buffer the kernel took came back (an incremental one part-filled
  // stays in the kernel's ring: it is not out).
  if (inRing) {
    EXPECT_EQ(*inRing, provided) << (incremental ? "incremental" : "classic")
                                 << " ring: buffers still out";
  }
  RecordProperty("incremental", incremental ? 1 : 0);
  RecordProperty("cq_overflows", static_cast<int>(overflows));
  RecordProperty("buffer_ring_empty", static_cast<int>(ringEmpty));
  clients.clear();
}

INSTANTIATE_TEST_SUITE_P(UringConfigs, RecvUnderOverflowTest, testing::ValuesIn(uringConfigs()),
                         backendParamName);

}  // namespace
}  // namespace duet::test
