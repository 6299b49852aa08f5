// The proactor's counters mean what docs/reading-the-report.md ("Counters")
// says (issue 11, section 3): `events` are I/O completions handed to a
// handler, not wake-ups; `recv_rearms` counts multishot recvs armed again,
// whatever ended the previous one, and nothing that was not armed.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "core/connection.h"
#include "core/event_loop_thread.h"
#include "core/socket_ops.h"
#include "tests/proactor/uring_test_fixture.h"

namespace duet::test {
namespace {

class UringCountersTest : public UringTest {};

TEST_F(UringCountersTest, WakeUpsAreNotEvents) {
  EventLoopThread thread([] { return makeEventLoop(uringOptions()); }, "woken");
  EventLoop* loop = thread.start();
  constexpr int kWakeUps = 10;
  for (int i = 0; i < kWakeUps; ++i) {
    // One at a time: each task finds the loop asleep or about to sleep, so
    // each needs a wake-up of its own (or runs without one: fewer cqes, same test).
    std::atomic<bool> ran{false};
    loop->queueInLoop([&] { ran = true; });
    ASSERT_TRUE(eventually([&] { return ran.load(); }));
  }
  std::atomic<std::uint64_t> events{1};
  std::atomic<std::uint64_t> cqes{0};
  std::atomic<bool> read{false};
  loop->queueInLoop([&] {
    events = loop->stats().events.get();
    cqes = loop->stats().uring.cqesReaped.get();
    read = true;
  });
  ASSERT_TRUE(eventually([&] { return read.load(); }));
  EXPECT_GT(cqes.load(), 0u) << "the wake-ups should have completed on the ring";
  EXPECT_EQ(events.load(), 0u)
      << "a loop that did no I/O reported events: wake-up completions were counted";
  thread.stop();
}

// Two 4 KiB provided buffers and 3 chunks waiting: the multishot recv takes
// two, ends with ENOBUFS and is armed again for the third (the same set-up as
// held_input_test.cc: the bytes are written from the loop's own thread).
TEST_F(UringCountersTest, RecvRearmsCountsTheRecvsArmedAgain) {
  LoopOptions o = uringOptions();
  o.uring.bufferCount = 2;
  o.uring.bufferSize = 4096;
  auto loop = makeEventLoop(o);
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  ConnectionPtr conn = loop->createConnection(UniqueFd(sv[0]), InetAddress(), InetAddress());
  const std::string payload(3 * 4096, 'r');
  std::size_t received = 0;
  auto callbacks = std::make_shared<ConnectionCallbacks>();
  callbacks->onMessage = [&](const ConnectionPtr&, Buffer& in) {
    received += in.readableBytes();
    in.retrieveAll();
    if (received == payload.size()) loop->quit();
  };
  conn->setCallbacks(callbacks);
  conn->start();
  loop->queueInLoop([&] { ASSERT_EQ(::write(peer.get(), payload.data(), payload.size()), 12288); });
  const TimerId giveUp = loop->runAfter(std::chrono::seconds(5), [&] { loop->quit(); });
  loop->run();
  loop->cancel(giveUp);
  EXPECT_EQ(received, payload.size());
  EXPECT_EQ(loop->stats().uring.bufferRingEmpty.get(), 1u);
  EXPECT_EQ(loop->stats().uring.recvRearms.get(), 1u)
      << "the recv armed again after ENOBUFS was not counted";
  conn->closeInLoop();
  conn.reset();
  peer.reset();
  loop.reset();
}

}  // namespace
}  // namespace duet::test
