// The order of the two flow-control callbacks (core/connection.cc,
// Connection::outputDrained): onHighWaterMark is queued, onWriteComplete is
// called straight from the loop's I/O handling (a writable report, a send
// completion), so a drain reported before the queued onHighWaterMark has run
// could overtake it. The rule: it must not. An echo that stops reading at the
// mark and resumes on write-complete would otherwise see "resume" first, then
// "stop", and stay stopped for good.
//
// The drain that races the queued callback is made deterministic by where
// the send happens: in a task (runSync). Its onHighWaterMark is queued for
// the next iteration's tasks, after that iteration's I/O. On the proactor a
// small send the socket takes whole completes in that very I/O (the send SQE
// goes to the kernel with the next enter and is reaped at once), so the drain
// is always reported while onHighWaterMark is still queued. On a reactor a
// send the kernel takes whole drains inside send(): no callback at all (the
// documented contract), and none may run under send().
//
// Each test records the callbacks in order on the loop thread, with whether
// the application's send() was on the stack, and checks the connection reads
// again at the end.
#include <string>
#include <vector>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

class WriteCompleteOrderTest : public BackendTest {
 protected:
  // Loop thread only (written by callbacks, read through runSync).
  struct Record {
    ConnectionPtr conn;
    std::vector<std::string> events;
    bool insideSend = false;
    int callbacksUnderSend = 0;
    std::size_t pendingAfterSend = 0;
  };

  ConnectionCallbacks recordingCallbacks(std::size_t highWaterMark) {
    ConnectionCallbacks cb;
    cb.onConnection = [this, highWaterMark](const ConnectionPtr& c) {
      if (c->connected()) {
        c->setHighWaterMark(highWaterMark);
        record_.conn = c;
      }
    };
    cb.onMessage = [](const ConnectionPtr&, Buffer& in) { in.retrieveAll(); };
    // Backpressure as duet-echo does it: stop at the mark, resume when drained.
    cb.onHighWaterMark = [this](const ConnectionPtr& c, std::size_t) {
      record_.events.push_back("high-water");
      if (record_.insideSend) ++record_.callbacksUnderSend;
      c->stopReading();
    };
    cb.onWriteComplete = [this](const ConnectionPtr& c) {
      record_.events.push_back("write-complete");
      if (record_.insideSend) ++record_.callbacksUnderSend;
      c->startReading();
    };
    return cb;
  }

  // From a task on the loop thread: the send whose callbacks are recorded.
  void sendFromATask(ServerHarness& server, const std::string& payload) {
    server.runSync([&] {
      ASSERT_TRUE(record_.conn);
      record_.insideSend = true;
      record_.conn->send(payload);
      record_.insideSend = false;
      record_.pendingAfterSend = record_.conn->pendingOutputBytes();
    });
  }

  // Whether the server has reported the client's connection yet.
  bool connected(ServerHarness& server) {
    bool up = false;
    server.runSync([&] { up = record_.conn != nullptr; });
    return up;
  }

  std::vector<std::string> events(ServerHarness& server) {
    std::vector<std::string> copy;
    server.runSync([&] { copy = record_.events; });
    return copy;
  }

  // Waits for `count` callbacks, then two more loop iterations (each runSync
  // is one task), so any callback still queued behind them has run too.
  std::vector<std::string> settledEvents(ServerHarness& server, std::size_t count) {
    EXPECT_TRUE(eventually([&] { return events(server).size() >= count; }))
        << "callbacks so far: " << events(server).size() << ", expected " << count;
    server.runSync([] {});
    return events(server);
  }

  void checkReadsAgainAndRelease(ServerHarness& server) {
    bool reading = false;
    server.runSync([&] {
      reading = record_.conn->isReading();
      record_.conn.reset();
    });
    EXPECT_TRUE(reading) << "the connection stayed stopped: write-complete overtook high-water";
  }

  Record record_;
};

// One small send crosses a small mark; the drain is reported while the
// high-water callback is still queued (proactor), or happens inside send()
// (reactor: the kernel takes it whole, so nothing waited and nothing calls back).
TEST_P(WriteCompleteOrderTest, DrainReportedWhileHighWaterIsQueuedCallsItFirst) {
  constexpr std::size_t kMark = 1024;
  const std::string payload = patternBytes(4 * kMark, 21);
  auto server = startServer(recordingCallbacks(kMark));
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(eventually([&] { return connected(*server); }));

  sendFromATask(*server, payload);
  EXPECT_EQ(client.recvExactly(payload.size()), payload);
  std::size_t pendingAfterSend = 0;
  server->runSync([&] { pendingAfterSend = record_.pendingAfterSend; });
  if (pendingAfterSend >= kMark) {
    // Output waited past the mark: both callbacks, high-water first.
    EXPECT_EQ(settledEvents(*server, 2),
              (std::vector<std::string>{"high-water", "write-complete"}));
  } else {
    // Taken whole inside send(): nothing waited, no callback (connection.h).
    EXPECT_EQ(settledEvents(*server, 0), std::vector<std::string>{});
  }
  int underSend = -1;
  server->runSync([&] { underSend = record_.callbacksUnderSend; });
  EXPECT_EQ(underSend, 0) << "a flow-control callback ran inside the application's send()";
  checkReadsAgainAndRelease(*server);
}

// One large send to a peer that does not read yet: output waits past the mark
// on every backend, then the peer reads everything and the output drains.
TEST_P(WriteCompleteOrderTest, LargeSendCrossesTheMarkThenDrainsHighWaterFirst) {
  constexpr std::size_t kMark = 1 << 20;
  const std::string payload = patternBytes(32 << 20, 22);
  auto server = startServer(recordingCallbacks(kMark));
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(eventually([&] { return connected(*server); }));

  sendFromATask(*server, payload);
  std::size_t pendingAfterSend = 0;
  server->runSync([&] { pendingAfterSend = record_.pendingAfterSend; });
  EXPECT_GE(pendingAfterSend, kMark) << "32 MiB to a peer not reading must wait past a 1 MiB mark";
  EXPECT_EQ(client.recvExactly(payload.size(), 30000), payload);
  EXPECT_EQ(settledEvents(*server, 2), (std::vector<std::string>{"high-water", "write-complete"}));
  int underSend = -1;
  server->runSync([&] { underSend = record_.callbacksUnderSend; });
  EXPECT_EQ(underSend, 0) << "a flow-control callback ran inside the application's send()";
  checkReadsAgainAndRelease(*server);
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(WriteCompleteOrderTest);

}  // namespace
}  // namespace duet::test
