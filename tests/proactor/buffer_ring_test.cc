// The provided-buffer ring under pressure: far more connections with data
// than buffers, so recvs find the ring empty (ENOBUFS) and must be re-armed
// without losing, duplicating or reordering a byte. Also a CQ far too small,
// so the kernel holds completions back (overflow) and the loop must catch up.
#include <string>
#include <vector>

#include "tests/proactor/uring_test_fixture.h"
#include "tests/support/raw_client.h"
#include "tests/support/send_while_held.h"
#include "tests/support/server_harness.h"

namespace duet::test {
namespace {

struct PressureResult {
  std::uint64_t bufferRingEmpty = 0;
  std::uint64_t recvRearms = 0;
  std::uint64_t cqOverflows = 0;
  std::uint64_t bytesIn = 0;
};

// 64 clients each send `perClient` bytes while the server's loop thread is
// held, and the loop is let go only once every byte sits in the server's
// sockets: its next iteration finds all 64 readable at once, every run, however
// busy the machine (sending while the loop reaps left that to the scheduler, and
// the counters below to chance). Then every echo is checked byte for byte.
PressureResult echoFromManyAtOnce(const LoopOptions& loop, std::size_t perClient) {
  constexpr int kClients = 64;
  ServerHarness server(loop, testServerOptions(), echoCallbacks());
  EXPECT_TRUE(server.ok()) << server.error();
  if (!server.ok()) return {};

  std::vector<RawClient> clients(kClients);
  for (auto& c : clients) EXPECT_TRUE(c.connect(server.address()));
  EXPECT_TRUE(eventually([&] { return server.server().connectionCount() == kClients; }));
  std::vector<std::string> payloads;
  for (int i = 0; i < kClients; ++i)
    payloads.push_back(patternBytes(perClient, static_cast<unsigned>(i + 1)));
  std::string why;
  EXPECT_TRUE(sendAllWhileLoopHeld(server, clients, payloads, &why)) << why;
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(clients[i].recvExactly(perClient), payloads[i]) << "client " << i;
  }
  clients.clear();

  PressureResult r;
  server.runSync([&] {
    const LoopStats& s = server.loop().stats();
    r.bufferRingEmpty = s.uring.bufferRingEmpty.get();
    r.recvRearms = s.uring.recvRearms.get();
    r.cqOverflows = s.uring.cqOverflows.get();
    r.bytesIn = s.bytesIn.get();
  });
  return r;
}

class BufferRingTest : public UringTest {};

TEST_F(BufferRingTest, TinyRingWithManySendersDeliversEveryByteInOrder) {
  LoopOptions o = uringOptions();
  o.uring.bufferCount = 4;
  o.uring.bufferSize = 64;
  const PressureResult r = echoFromManyAtOnce(o, 32 * 1024);
  EXPECT_EQ(r.bytesIn, 64u * 32 * 1024);
  // 64 readable sockets and 4 buffers: recvs must have found the ring empty.
  EXPECT_GT(r.bufferRingEmpty, 0u);
  RecordProperty("buffer_ring_empty", static_cast<int>(r.bufferRingEmpty));
}

TEST_F(BufferRingTest, SingleShotRecvWithTinyRingDeliversEveryByteInOrder) {
  LoopOptions o = uringOptions();
  o.uring.bufferCount = 8;
  o.uring.bufferSize = 128;
  o.uring.multishotRecv = false;
  const PressureResult r = echoFromManyAtOnce(o, 16 * 1024);
  EXPECT_EQ(r.bytesIn, 64u * 16 * 1024);
  EXPECT_EQ(r.recvRearms, 0u) << "recvRearms counts multishot recvs armed again only";
}

TEST_F(BufferRingTest, CompletionQueueOverflowIsSurvived) {
  LoopOptions o = uringOptions();
  o.uring.ringEntries = 4;
  o.uring.cqFactor = 1;  // a CQ of 4 entries against 64 busy connections
  o.uring.bufferCount = 64;
  o.uring.bufferSize = 256;
  const PressureResult r = echoFromManyAtOnce(o, 16 * 1024);
  EXPECT_EQ(r.bytesIn, 64u * 16 * 1024);
  EXPECT_GT(r.cqOverflows, 0u);
  RecordProperty("cq_overflows", static_cast<int>(r.cqOverflows));
}

}  // namespace
}  // namespace duet::test
