// The coroutine API (core/coro) on every backend: what a coroutine suspended
// on a connection sees when the peer closes, the server is destroyed, the
// peer stops reading, a wait times out; sleep; a handler that throws. The
// echo itself, with both APIs, is in echo_test.cc and close_test.cc.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/coro/sleep.h"
#include "core/coro/timeout.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

using namespace std::chrono_literals;
using coro::IoStatus;
using coro::Stream;
using coro::Task;

class CoroutineTest : public BackendTest {};

// Counts frames alive that hold one: destroyed frames run its destructor.
struct FrameCounter {
  explicit FrameCounter(std::atomic<int>& n) : live(n) { ++live; }
  ~FrameCounter() { --live; }
  std::atomic<int>& live;
};

TEST_P(CoroutineTest, PeerCloseWhileSuspendedInReadResumesWithClosed) {
  std::atomic<int> suspendedInRead{0};
  std::atomic<int> resumedClosed{0};
  std::atomic<int> resumedOther{0};
  auto server = startServer(coro::serve([&](Stream s) -> Task<void> {
    ++suspendedInRead;  // the read below finds nothing: it suspends
    const IoStatus status = co_await s.read();
    (status == IoStatus::Closed ? resumedClosed : resumedOther)++;
  }));
  ASSERT_TRUE(server->ok());
  for (int i = 0; i < 10; ++i) {
    RawClient client(server->address());
    ASSERT_TRUE(eventually([&] { return suspendedInRead.load() == i + 1; }));
    if (i % 2) {
      client.reset();  // RST instead of FIN: an error, not an end of stream
    } else {
      client.close();
    }
  }
  EXPECT_TRUE(eventually([&] { return resumedClosed.load() == 10; })) << resumedClosed.load();
  EXPECT_EQ(resumedOther.load(), 0);
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
}

// A read() that resumes with Closed can tell why: the peer's end of stream,
// the peer's reset, or a close on our side.
TEST_P(CoroutineTest, AClosedReadTellsWhyTheConnectionClosed) {
  using Reason = Connection::CloseReason;
  std::mutex mutex;
  std::optional<Stream> toCloseHere;  // the "local" connection's stream
  std::optional<IoStatus> status;     // what the last read resumed with
  std::optional<Reason> reason;       // and why
  std::atomic<int> waiting{0};        // coroutines suspended in their second read
  auto server = startServer(coro::serve([&](Stream s) -> Task<void> {
    const IoStatus first = co_await s.read();  // which case this connection is
    if (first != IoStatus::Ok) co_return;
    if (s.input().view() == "local") {
      std::lock_guard lock(mutex);
      toCloseHere = s;
    }
    s.input().retrieveAll();
    ++waiting;
    const IoStatus got = co_await s.read();
    std::lock_guard lock(mutex);
    status = got;
    reason = s.closeReason();
  }));
  ASSERT_TRUE(server->ok());
  const auto closedBy = [&](const std::string& how) -> std::optional<Reason> {
    {
      std::lock_guard lock(mutex);
      status.reset();
      reason.reset();
    }
    RawClient client(server->address());
    const int before = waiting.load();
    EXPECT_TRUE(client.sendAll(how));
    EXPECT_TRUE(eventually([&] { return waiting.load() == before + 1; }));
    if (how == "fin") {
      client.close();
    } else if (how == "rst") {
      client.reset();
    } else {
      server->runSync([&] {
        std::lock_guard lock(mutex);
        toCloseHere->close();
        toCloseHere.reset();
      });
    }
    EXPECT_TRUE(eventually([&] {
      std::lock_guard lock(mutex);
      return reason.has_value();
    })) << how
        << ": the read never resumed";
    std::lock_guard lock(mutex);
    EXPECT_EQ(status, IoStatus::Closed) << how;
    return reason;
  };
  EXPECT_EQ(closedBy("fin"), Reason::PeerFinished);
  EXPECT_EQ(closedBy("rst"), Reason::PeerReset);
  EXPECT_EQ(closedBy("local"), Reason::Local);
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
}

TEST_P(CoroutineTest, BytesReadBeforeTheCloseAreStillThereAfterIt) {
  // A coroutine busy elsewhere (sleeping) while the peer sends and closes
  // finds the bytes first, then the end of stream.
  std::atomic<bool> done{false};
  std::string got;
  auto server = startServer(coro::serve([&](Stream s) -> Task<void> {
    co_await coro::sleep(s.loop(), 0ms);
    while (!s.connection()->disconnected()) co_await coro::sleep(s.loop(), 1ms);
    for (;;) {
      const IoStatus status = co_await s.read();
      if (status != IoStatus::Ok) break;
      got += std::string(s.input().view());
      s.input().retrieveAll();
    }
    done = true;
  }));
  ASSERT_TRUE(server->ok());
  {
    RawClient client(server->address());
    ASSERT_TRUE(client.sendAll("last words"));
  }
  ASSERT_TRUE(eventually([&] { return done.load(); }));
  EXPECT_EQ(got, "last words");
}

TEST_P(CoroutineTest, ServerDestroyedWithCoroutinesSuspendedLeaksNothing) {
  // Coroutines suspended in read(), in write() (a peer that does not read),
  // and in a sleep of an hour, when the server and its loop are destroyed
  // without a graceful stop: every frame is destroyed, every descriptor and
  // Connection released (CleanupChecker), nothing resumes on freed memory
  // (ASan).
  std::atomic<int> frames{0};
  std::atomic<int> inRead{0}, inWrite{0}, inSleep{0};
  std::atomic<int> resumedAfterSleep{0};
  const std::string big = patternBytes(8 << 20, 3);
  auto server = startServer(coro::serve([&](Stream s) -> Task<void> {
    FrameCounter alive(frames);
    co_await s.read();
    const std::string what(s.input().view());
    s.input().retrieveAll();
    if (what == "read") {
      ++inRead;
      co_await s.read();
    } else if (what == "write") {
      ++inWrite;
      co_await s.write(big);
    } else {
      ++inSleep;
      co_await coro::sleep(s.loop(), 1h);
      ++resumedAfterSleep;  // never: the loop is gone first
    }
  }));
  ASSERT_TRUE(server->ok());
  std::vector<RawClient> clients;
  for (const char* what : {"read", "write", "sleep", "read", "write", "sleep"}) {
    clients.emplace_back(server->address());
    ASSERT_TRUE(clients.back().sendAll(what));
  }
  ASSERT_TRUE(eventually([&] { return inRead == 2 && inWrite == 2 && inSleep == 2; }));
  EXPECT_EQ(frames.load(), 6);
  EXPECT_EQ(coro::liveSpawnedCount(), 6u);
  // End the loop without a graceful stop: the server's destructor closes every
  // connection, then the loop's destructor drops the sleeping timers.
  server->runSync([&] { server->loop().quit(); });
  server.reset();
  EXPECT_EQ(frames.load(), 0);
  EXPECT_EQ(coro::liveSpawnedCount(), 0u);
  EXPECT_EQ(resumedAfterSleep.load(), 0);
  clients.clear();
}

TEST_P(CoroutineTest, WriteResumesOnlyWhenTheKernelHasTheBytes) {
  // A peer that stops reading: the coroutine's write() stays suspended with
  // the rest in our buffer, never more than one write's worth, above the
  // high-water mark but nowhere near the cap; once the peer reads, every
  // write completes, in order.
  constexpr std::size_t kChunk = 1 << 20;
  constexpr int kChunks = 32;
  const std::string payload = patternBytes(kChunk * kChunks, 21);
  std::atomic<int> writesDone{0};
  std::atomic<bool> inWrite{false};
  std::atomic<std::size_t> maxPendingAfterWrite{0};
  std::mutex mutex;
  ConnectionPtr serverSide;
  auto server =
      startServer(coro::serve([&](Stream s) -> Task<void> {
                    {
                      std::lock_guard lock(mutex);
                      serverSide = s.connection();
                    }
                    co_await s.read();  // "go"
                    s.input().retrieveAll();
                    for (int i = 0; i < kChunks; ++i) {
                      inWrite = true;
                      const IoStatus status =
                          co_await s.write(std::string_view(payload).substr(i * kChunk, kChunk));
                      inWrite = false;
                      if (status != IoStatus::Ok) co_return;
                      maxPendingAfterWrite = std::max(maxPendingAfterWrite.load(),
                                                      s.connection()->pendingOutputBytes());
                      ++writesDone;
                    }
                  }),
                  [] {
                    ServerOptions o = testServerOptions();
                    o.highWaterMark = 256 << 10;
                    return o;
                  }());
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.sendAll("go"));
  // Not reading: the kernel's buffers fill, output waits in ours, and the
  // coroutine waits in write() (checked on the loop thread, in one go).
  std::size_t pending = 0;
  int done = 0;
  ASSERT_TRUE(eventually([&] {
    server->runSync([&] {
      std::lock_guard lock(mutex);
      pending = serverSide ? serverSide->pendingOutputBytes() : 0;
      done = writesDone.load();
    });
    return pending > 0 && inWrite.load();
  }));
  EXPECT_LE(pending, kChunk) << "more than one write's worth queued";
  EXPECT_LT(done, kChunks);
  EXPECT_EQ(client.recvExactly(payload.size(), 30000), payload);
  EXPECT_TRUE(eventually([&] { return writesDone.load() == kChunks; }));
  EXPECT_EQ(maxPendingAfterWrite.load(), 0u);  // a completed write left nothing behind
  {
    std::lock_guard lock(mutex);
    serverSide.reset();
  }
}

TEST_P(CoroutineTest, ReadTimesOutThenTheConnectionStillWorks) {
  std::atomic<int> timeouts{0};
  std::atomic<int> frames{0};
  auto server = startServer(coro::serve([&](Stream s) -> Task<void> {
    FrameCounter alive(frames);
    // Nothing is sent: the timer wins, the read is abandoned.
    const std::optional<IoStatus> first = co_await coro::withTimeout(s.loop(), s.read(), 20ms);
    if (first) co_return;
    ++timeouts;
    co_await s.write("timed out\n");
    // The same connection goes on: a read that the bytes win (the hour-long
    // timer is cancelled, not left to fire into a finished frame).
    const std::optional<IoStatus> second = co_await coro::withTimeout(s.loop(), s.read(), 1h);
    if (second && *second == IoStatus::Ok) co_await s.write(std::move(s.input()));
    // And a third, abandoned by the timer, while the peer then closes.
    co_await coro::withTimeout(s.loop(), s.read(), 20ms);
    co_await s.read();  // Closed
  }));
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  EXPECT_EQ(client.recvExactly(10), "timed out\n");
  EXPECT_TRUE(client.echo("still here"));
  EXPECT_EQ(timeouts.load(), 1);
  client.close();
  EXPECT_TRUE(eventually([&] { return frames.load() == 0; }));
}

TEST_P(CoroutineTest, TimeoutOnATaskAbandonsItsFrameAndPassesValuesThrough) {
  std::atomic<int> childFrames{0};
  std::atomic<int> results{0};
  auto slowChild = [&](EventLoop& loop) -> Task<int> {
    FrameCounter alive(childFrames);
    co_await coro::sleep(loop, 1h);
    co_return 1;
  };
  auto quickChild = [&](EventLoop& loop) -> Task<int> {
    co_await coro::sleep(loop, 1ms);
    co_return 7;
  };
  auto server = startServer(coro::serve([&](Stream s) -> Task<void> {
    const std::optional<int> slow = co_await coro::withTimeout(s.loop(), slowChild(s.loop()), 10ms);
    const std::optional<int> quick = co_await coro::withTimeout(s.loop(), quickChild(s.loop()), 1h);
    const bool slept = co_await coro::withTimeout(s.loop(), coro::sleep(s.loop(), 1ms), 1h);
    co_await s.write(std::string(slow ? "slow-done " : "slow-timeout ") +
                     std::to_string(quick.value_or(-1)) + (slept ? " slept" : " no-sleep"));
    ++results;
  }));
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  EXPECT_EQ(client.recvExactly(22), "slow-timeout 7 slept");
  EXPECT_TRUE(eventually([&] { return results.load() == 1; }));
  EXPECT_EQ(childFrames.load(), 0);
}

TEST_P(CoroutineTest, SleepLetsOtherCoroutinesRunAndResumesOnTheLoopThread) {
  // One connection's coroutine sleeps for an hour; another's sleeps 30 ms
  // and answers meanwhile: a sleep holds no loop. The hour-long sleeper is
  // destroyed with the loop at the end (CleanupChecker: no frame left).
  std::atomic<int> wrongThread{0};
  std::atomic<int> early{0};
  std::atomic<int> woke{0};
  auto server = startServer(coro::serve([&](Stream s) -> Task<void> {
    co_await s.read();
    const std::string tag(s.input().view());
    s.input().retrieveAll();
    const auto before = Clock::now();
    const Duration nap = tag == "hour" ? Duration(1h) : Duration(30ms);
    co_await coro::sleep(s.loop(), 0ms);  // no wait at all
    co_await coro::sleep(s.loop(), nap);
    ++woke;
    if (!s.loop().isInLoopThread()) ++wrongThread;
    if (Clock::now() - before < nap) ++early;  // timers never fire early
    co_await s.write(tag);
  }));
  ASSERT_TRUE(server->ok());
  RawClient sleeper(server->address());
  ASSERT_TRUE(sleeper.sendAll("hour"));
  RawClient napper(server->address());
  ASSERT_TRUE(napper.sendAll("nap"));
  EXPECT_EQ(napper.recvExactly(3), "nap");
  EXPECT_EQ(woke.load(), 1);
  EXPECT_EQ(wrongThread.load(), 0);
  EXPECT_EQ(early.load(), 0);
}

TEST_P(CoroutineTest, HandlerThatThrowsClosesOnlyItsConnection) {
  auto server = startServer(coro::serve([](Stream s) -> Task<void> {
    for (;;) {
      const IoStatus status = co_await s.read();
      if (status != IoStatus::Ok) break;
      if (s.input().view().find("bad") != std::string_view::npos)
        throw std::runtime_error("bad request");
      co_await s.write(std::move(s.input()));
    }
  }));
  ASSERT_TRUE(server->ok());
  RawClient bystander(server->address());
  ASSERT_TRUE(bystander.echo("hello"));
  RawClient offender(server->address());
  ASSERT_TRUE(offender.sendAll("bad"));
  EXPECT_TRUE(offender.waitClosed(5000));
  EXPECT_TRUE(bystander.echo("still served"));
}

TEST_P(CoroutineTest, HandlerReturningHalfClosesAfterItsLastWrite) {
  auto server = startServer(coro::serve([](Stream s) -> Task<void> { co_await s.write("bye"); }));
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  bool sawEof = false;
  EXPECT_EQ(client.recvUntilClosed(5000, &sawEof), "bye");
  EXPECT_TRUE(sawEof);
}

TEST_P(CoroutineTest, EachIoLoopRunsItsOwnConnectionsCoroutines) {
  const ThreadingModel main2{"main2", 2, AcceptMode::MainLoop};
  if (const auto refusal = modelRefusal(GetParam(), main2))
    GTEST_SKIP() << *refusal;  // uring_direct
  ServerOptions o = testServerOptions(main2.ioThreads, main2.acceptMode);
  auto server = startServer(coro::serve(coroutineEcho), o);
  ASSERT_TRUE(server->ok());
  const int count = connectionBudget(GetParam(), 50);
  std::vector<RawClient> clients(static_cast<std::size_t>(count));
  for (auto& c : clients) ASSERT_TRUE(c.connect(server->address()));
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(clients[i].echo(patternBytes(3000, static_cast<unsigned>(i))))
        << "connection " << i;
  }
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(CoroutineTest);

}  // namespace
}  // namespace duet::test
