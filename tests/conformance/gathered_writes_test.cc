// Several send() calls from one onMessage (pipelined responses) reach the
// kernel together: a reactor gathers the output of one read and writes it
// with one system call when the handler returns, and a proactor starts no
// send until the handler returns, then submits it all as one. Whatever the backend does, the peer
// gets every byte in order, a shutdown() after the sends still puts the FIN after them, and a
// forceClose() after them on a reactor still lets them out.
//
// The count comes from the loop's own counter, LoopStats::sendOps: one per
// write/send system call on a reactor, one per send SQE on a proactor.
#include <atomic>
#include <string>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

class GatheredWritesTest : public BackendTest {};

constexpr int kRepliesPerRead = 16;

// The replies to input byte `tag`: numbered, so a lost, doubled or reordered
// reply shows up in the comparison.
std::string reply(char tag, int i) {
  return std::string("reply ") + tag + " #" + std::to_string(i) + "\n";
}

std::string repliesTo(char tag) {
  std::string all;
  for (int i = 0; i < kRepliesPerRead; ++i) all += reply(tag, i);
  return all;
}

// One input byte, kRepliesPerRead replies, each with its own send().
ConnectionCallbacks manyRepliesPerRead() {
  ConnectionCallbacks cb;
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) {
    for (char tag : in.view()) {
      for (int i = 0; i < kRepliesPerRead; ++i) conn->send(reply(tag, i));
    }
    in.retrieveAll();
  };
  return cb;
}

struct Counts {
  std::uint64_t reads = 0;
  std::uint64_t sendOps = 0;
};

Counts countsOf(ServerHarness& server) {
  Counts c;
  server.runSync([&] {
    c.reads = server.loop().stats().reads.get();
    c.sendOps = server.loop().stats().sendOps.get();
  });
  return c;
}

TEST_P(GatheredWritesTest, RepliesToOneReadReachTheKernelTogether) {
  auto server = startServer(manyRepliesPerRead());
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.isOpen());

  const std::string tags = "abcd";
  const Counts before = countsOf(*server);
  for (char tag : tags) {
    // One byte is one read on the server. Waiting for every reply before the
    // next byte keeps the reads apart.
    ASSERT_TRUE(client.sendAll(std::string(1, tag)));
    ASSERT_EQ(client.recvExactly(repliesTo(tag).size()), repliesTo(tag))
        << "replies to '" << tag << "'";
  }
  const Counts after = countsOf(*server);

  const auto rounds = static_cast<std::uint64_t>(tags.size());
  ASSERT_EQ(after.reads - before.reads, rounds) << "each input byte should have been one onMessage";
  const std::uint64_t sendOps = after.sendOps - before.sendOps;
  const LoopOptions& o = loopOptions();
  if (!isReactorBackend(o.backend)) {
    // The proactor starts no send while onMessage runs: the replies leave
    // together, as one send SQE, when it returns.
    EXPECT_EQ(sendOps, rounds) << "the " << kRepliesPerRead
                               << " replies to one read took more than one send SQE";
  } else if (o.reactor.gatherWrites) {
    EXPECT_EQ(sendOps, rounds) << "the " << kRepliesPerRead
                               << " replies to one read took more than one write";
  } else {
    // Switched off: every send() is its own write, as before gathering.
    EXPECT_EQ(sendOps, rounds * kRepliesPerRead);
  }
}

TEST_P(GatheredWritesTest, RepliesTheKernelTakesWholeLeaveNothingPendingAndCallNoWriteComplete) {
  // connection.h: a send() the kernel takes at once does not call
  // onWriteComplete, and pendingOutputBytes() == 0 right after it says so.
  // Gathering must keep that: the replies are offered to the kernel before the
  // read is over, so they are not output that waits, and an echo-like server
  // must not pay a queued callback per message for them. The proactor never
  // has the kernel take a send at once: its replies wait for their
  // completion, and onWriteComplete follows exactly when it said so.
  std::atomic<int> handlersLeavingOutputPending{0};
  std::atomic<int> writeCompletes{0};
  ConnectionCallbacks cb = manyRepliesPerRead();
  const auto reply = cb.onMessage;
  cb.onMessage = [&, reply](const ConnectionPtr& conn, Buffer& in) {
    reply(conn, in);
    if (conn->pendingOutputBytes() > 0) ++handlersLeavingOutputPending;
  };
  cb.onWriteComplete = [&](const ConnectionPtr&) { ++writeCompletes; };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  const std::string tags = "abc";
  for (char tag : tags) {
    ASSERT_TRUE(client.sendAll(std::string(1, tag)));
    ASSERT_EQ(client.recvExactly(repliesTo(tag).size()), repliesTo(tag));
  }
  // Every callback the replies queued has run once both reach the same count.
  EXPECT_TRUE(eventually([&] {
    server->runSync([] {});
    return writeCompletes.load() == handlersLeavingOutputPending.load();
  })) << writeCompletes.load()
      << " onWriteComplete for " << handlersLeavingOutputPending.load()
      << " handlers that left output pending";
  if (isReactorBackend(loopOptions().backend)) {
    EXPECT_EQ(handlersLeavingOutputPending.load(), 0) << "the kernel had room for every reply";
    EXPECT_EQ(writeCompletes.load(), 0);
  }
}

TEST_P(GatheredWritesTest, ShutdownAfterTheRepliesSendsTheFinAfterThem) {
  ConnectionCallbacks cb = manyRepliesPerRead();
  const auto reply = cb.onMessage;
  cb.onMessage = [reply](const ConnectionPtr& conn, Buffer& in) {
    reply(conn, in);
    conn->shutdown();
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("x"));
  bool sawEof = false;
  EXPECT_EQ(client.recvUntilClosed(5000, &sawEof), repliesTo('x'));
  EXPECT_TRUE(sawEof) << "no FIN after the replies";
  client.close();
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
}

TEST_P(GatheredWritesTest, ForceCloseAfterTheRepliesDropsOnlyWhatTheKernelHasNotTaken) {
  // forceClose() drops pending output (connection.h), but it is queued: on a
  // reactor the replies sent before it in the same callback have all reached
  // the kernel by the time the connection closes (written at once, or
  // gathered and written when the handler returns), so the peer gets them
  // all. The proactor still had all but its first send queued, and drops them.
  ConnectionCallbacks cb = manyRepliesPerRead();
  const auto reply = cb.onMessage;
  cb.onMessage = [reply](const ConnectionPtr& conn, Buffer& in) {
    reply(conn, in);
    conn->forceClose();
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("y"));
  bool sawEof = false;
  const std::string received = client.recvUntilClosed(5000, &sawEof);
  EXPECT_TRUE(sawEof);
  if (isReactorBackend(loopOptions().backend)) {
    EXPECT_EQ(received, repliesTo('y'));
  } else {
    EXPECT_EQ(received, repliesTo('y').substr(0, received.size())) << "not a prefix of the replies";
  }
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
}

TEST_P(GatheredWritesTest, OutputBeyondWhatIsGatheredArrivesWholeAndInOrder) {
  // One onMessage sending far more than a reactor gathers (it writes when its
  // gathered bytes would pass a limit) and more than the socket buffer takes:
  // the rest waits for writability, in order.
  constexpr std::size_t kChunk = 48 * 1024;
  constexpr int kChunks = 64;  // 3 MiB
  ConnectionCallbacks cb;
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) {
    in.retrieveAll();
    for (int i = 0; i < kChunks; ++i) conn->send(patternBytes(kChunk, static_cast<unsigned>(i)));
    conn->send("small tail");
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("go"));
  std::string expected;
  for (int i = 0; i < kChunks; ++i) expected += patternBytes(kChunk, static_cast<unsigned>(i));
  expected += "small tail";
  EXPECT_EQ(client.recvExactly(expected.size(), 30000), expected);
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(GatheredWritesTest);

}  // namespace
}  // namespace duet::test
