// A reader slower than the writer: output waits in the buffer, onHighWaterMark
// fires once as it crosses the mark, onWriteComplete once it has drained, and
// the bytes are all there, in order.
#include "tests/conformance/conformance_fixture.h"
#include "tests/support/flow_counts.h"

namespace duet::test {
namespace {

class FlowControlTest : public BackendTest {};

TEST_P(FlowControlTest, SlowReaderTriggersHighWaterMarkOnceThenWriteComplete) {
  constexpr std::size_t kTotal = 32 << 20;
  constexpr std::size_t kChunk = 64 << 10;
  const std::string payload = patternBytes(kTotal, 11);
  FlowCounts flow;
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    for (std::size_t off = 0; off < kTotal; off += kChunk)
      conn->send(std::string_view(payload).substr(off, kChunk));
  };
  flow.countInto(cb);
  ServerOptions o = testServerOptions();
  o.highWaterMark = 1 << 20;
  auto server = startServer(cb, o);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("go"));
  // Not reading yet: the kernel's buffers fill and the rest waits in ours.
  ASSERT_TRUE(eventually([&] { return flow.highWater.load() >= 1; }));
  EXPECT_GE(flow.pendingAtMark.load(), std::size_t{1} << 20);
  // While output waits, nothing has drained, so no write-complete comes...
  EXPECT_EQ(flow.writeComplete.load(), flow.writeCompleteAtMark.load());
  EXPECT_EQ(client.recvExactly(kTotal, 30000), payload);
  // ...until the reader catches up and the buffer empties.
  EXPECT_TRUE(
      eventually([&] { return flow.writeComplete.load() > flow.writeCompleteAtMark.load(); }));
  EXPECT_EQ(flow.highWater.load(), 1);
}

TEST_P(FlowControlTest, PeerThatNeverReadsIsCutOffAtTheOutputCap) {
  ConnectionCallbacks cb;
  const std::string chunk = patternBytes(1 << 20, 12);
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    for (int i = 0; i < 64; ++i) conn->send(chunk);  // 64 MiB for a 2-byte request
  };
  ServerOptions o = testServerOptions();
  o.maxOutputBytes = 8 << 20;
  auto server = startServer(cb, o);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("go"));
  std::uint64_t overflows = 0;
  EXPECT_TRUE(eventually([&] {
    overflows = outputOverflows(*server);
    return overflows > 0;
  }));
  EXPECT_EQ(overflows, 1u);
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
  EXPECT_TRUE(client.waitClosed(10000));
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(FlowControlTest);

}  // namespace
}  // namespace duet::test
