// onMessage means "there is input": it is never called with an empty Buffer.
//
// The case that tests it: input that arrives while reading is stopped. A
// reactor leaves it in the socket; the proactor has already received it into
// the connection's input Buffer ("held") and delivers it when reading resumes,
// from a queued task. Meanwhile the application may have consumed those bytes
// itself, straight from inputBuffer() -- exactly what a coroutine's read()
// does when it finds bytes waiting. The held delivery then has nothing to
// deliver, and must stay silent.
//
// How the held bytes happen every time (the set-up of
// tests/proactor/held_input_test.cc, here on every backend): the loop runs on
// the test thread, the peer is the other end of a socketpair written from the
// loop's own thread, and the loop has two 4 KiB receive buffers, so a
// multishot recv delivers the two chunks as two completions of one batch.
// onMessage stops reading on the first, so the second is held. The reactors
// ignore the buffer settings and simply read both chunks.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core/connection.h"
#include "core/event_loop.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

class NoEmptyMessageTest : public BackendTest {};

constexpr unsigned kChunk = 4096;

TEST_P(NoEmptyMessageTest, InputConsumedWhileReadingWasStoppedIsNotDeliveredAgainAsAnEmptyMessage) {
  LoopOptions o = loopOptions();
  o.uring.bufferCount = 2;
  o.uring.bufferSize = kChunk;
  auto loop = makeEventLoop(o);

  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  ConnectionPtr conn = loop->createConnection(UniqueFd(sv[0]), InetAddress(), InetAddress());
  ASSERT_TRUE(conn);

  const std::string payload(2 * kChunk, 'h');
  std::string consumed;  // every byte the application took, by either path
  int emptyMessages = 0;
  bool stoppedOnce = false;
  auto callbacks = std::make_shared<ConnectionCallbacks>();
  callbacks->onMessage = [&](const ConnectionPtr& c, Buffer& in) {
    if (in.empty()) ++emptyMessages;
    if (stoppedOnce) {
      consumed.append(in.view());
      in.retrieveAll();
      return;
    }
    // First input: stop reading and leave the bytes where they are. Later,
    // from a task, consume whatever the Buffer holds then (the held bytes
    // too) without an onMessage, and resume reading.
    stoppedOnce = true;
    c->stopReading();
    loop->queueInLoop([&, c] {
      consumed.append(c->inputBuffer().view());
      c->inputBuffer().retrieveAll();
      c->startReading();
      // Two task rounds later: any delivery startReading() queued has run.
      loop->queueInLoop([&] { loop->queueInLoop([&] { loop->quit(); }); });
    });
  };
  conn->setCallbacks(callbacks);
  conn->start();

  // After the first iteration has armed the read: both chunks are in the
  // socket before the loop next waits.
  loop->queueInLoop([&] {
    EXPECT_EQ(::write(peer.get(), payload.data(), payload.size()),
              static_cast<ssize_t>(payload.size()));
  });
  const TimerId giveUp = loop->runAfter(std::chrono::seconds(5), [&] { loop->quit(); });
  loop->run();
  loop->cancel(giveUp);

  EXPECT_EQ(emptyMessages, 0) << "onMessage was called with an empty input Buffer";
  EXPECT_TRUE(consumed == payload)
      << "consumed " << consumed.size() << " of " << payload.size() << " bytes";
  EXPECT_EQ(loop->stats().bytesIn.get(), payload.size())
      << "bytes_in must count each received byte once";

  conn->closeInLoop();
  conn.reset();
  peer.reset();
  loop.reset();
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(NoEmptyMessageTest);

}  // namespace
}  // namespace duet::test
