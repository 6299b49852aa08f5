// Input that arrives while reading is paused is held in the connection's
// input Buffer and delivered once reading resumes (issue 11, 2.10). The
// delivery is queued (startReading() may be called from the application's own
// callback), so new data or the peer's FIN can complete before it runs. Every
// delivery must hand over, and count, what is held: no byte may be counted
// twice, no onMessage may come with nothing new, and no held byte may be lost
// behind the FIN.
//
// How the test makes that order happen every time, on one thread:
//   - the loop runs on the test thread and the peer is the other end of a
//     socketpair, written from inside the loop's own callbacks, so all the
//     bytes are in the socket before the next io_uring_enter;
//   - the pool has only two 4 KiB receive buffers, so the multishot recv
//     delivers two chunks and then ends with ENOBUFS (nothing re-arms it
//     while reading is paused), leaving the rest in the socket;
//   - onMessage pauses on the first chunk, so the second chunk is held, and
//     queues a task that resumes reading: that re-arms the recv and queues the
//     held delivery for the *next* iteration, whose io_uring_enter first
//     completes the recv with the bytes (or the FIN) still in the socket.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core/connection.h"
#include "core/socket_ops.h"
#include "tests/proactor/uring_test_fixture.h"

namespace duet::test {
namespace {

constexpr unsigned kChunk = 4096;

struct Observed {
  std::string bytes;        // everything onMessage consumed, in order
  int emptyDeliveries = 0;  // onMessage calls with nothing in the Buffer
  bool downSeen = false;
  std::size_t bytesAtDown = 0;  // what had been consumed when the connection went down
};

class HeldInputTest : public UringTest {
 protected:
  // Writes `payload` into the peer (optionally followed by its FIN) from the
  // loop thread, and runs the loop until everything arrived or it went down.
  Observed run(const std::string& payload, bool finAfter) {
    LoopOptions o = uringOptions();
    o.uring.bufferCount = 2;
    o.uring.bufferSize = kChunk;
    o.uring.multishotRecv = true;
    auto loop = makeEventLoop(o);

    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd peer(sv[1]);
    ConnectionPtr conn = loop->createConnection(UniqueFd(sv[0]), InetAddress(), InetAddress());

    Observed seen;
    bool pausedOnce = false;
    auto callbacks = std::make_shared<ConnectionCallbacks>();
    callbacks->onConnection = [&](const ConnectionPtr& c) {
      if (c->connected()) return;
      seen.downSeen = true;
      seen.bytesAtDown = seen.bytes.size();
      loop->quit();
    };
    callbacks->onMessage = [&](const ConnectionPtr& c, Buffer& in) {
      if (in.empty()) ++seen.emptyDeliveries;
      seen.bytes.append(in.view());
      in.retrieveAll();
      if (!pausedOnce) {
        pausedOnce = true;
        c->stopReading();
        // Resume from a queued task: the held delivery it queues then waits
        // for the next iteration, after that iteration's completions.
        loop->queueInLoop([c] { c->startReading(); });
      }
      if (seen.bytes.size() >= payload.size() && !finAfter) loop->quit();
    };
    conn->setCallbacks(callbacks);
    conn->start();

    // After the first iteration has armed the recv (it then waits in the kernel).
    loop->queueInLoop([&] {
      EXPECT_EQ(::write(peer.get(), payload.data(), payload.size()),
                static_cast<ssize_t>(payload.size()));
      if (finAfter) ::shutdown(peer.get(), SHUT_WR);
    });
    const TimerId giveUp = loop->runAfter(std::chrono::seconds(5), [&] { loop->quit(); });
    loop->run();
    // One more iteration, so a delivery still queued gets its chance to run.
    loop->queueInLoop([&] { loop->quit(); });
    loop->run();
    loop->cancel(giveUp);

    const std::uint64_t counted = loop->stats().bytesIn.get();
    EXPECT_EQ(counted, seen.bytes.size())
        << "bytes_in must count each byte the application saw once";
    conn->closeInLoop();
    conn.reset();
    peer.reset();
    loop.reset();
    return seen;
  }
};

std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 251) % 26);
  return s;
}

TEST_F(HeldInputTest, DataArrivingBeforeTheHeldDeliveryIsSeenOnceAndCountedOnce) {
  const std::string payload = pattern(3 * kChunk);
  const Observed seen = run(payload, /*finAfter=*/false);
  EXPECT_EQ(seen.bytes.size(), payload.size());
  EXPECT_TRUE(seen.bytes == payload) << "bytes lost, repeated or reordered";
  EXPECT_EQ(seen.emptyDeliveries, 0) << "held bytes were delivered (and counted) a second time";
}

TEST_F(HeldInputTest, HeldBytesAreDeliveredBeforeAFinThatArrivesAfterResuming) {
  const std::string payload = pattern(2 * kChunk);
  const Observed seen = run(payload, /*finAfter=*/true);
  EXPECT_TRUE(seen.downSeen);
  EXPECT_EQ(seen.bytesAtDown, payload.size()) << "held bytes were dropped when the FIN arrived";
  EXPECT_TRUE(seen.bytes == payload);
  EXPECT_EQ(seen.emptyDeliveries, 0);
}

}  // namespace
}  // namespace duet::test
