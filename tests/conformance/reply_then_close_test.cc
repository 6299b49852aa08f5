// A reply followed by our FIN, as HTTP answers a "Connection: close" request:
// send(), then shutdown() from onMessage. Many short connections, several at
// a time, each closed by its client as soon as the whole reply is in. Each
// client must get its own reply whole before any EOF.
//
// What it guards (issue 12): with io_uring direct descriptors the FIN is an
// IORING_OP_SHUTDOWN naming a slot of the ring's file table. The kernel runs
// that operation on a worker thread and looks the slot up only when it runs.
// If the connection's slot is closed first (the client closed, we closed) and
// the next accepted connection is given the same slot, a late shutdown ends
// the NEW connection's output before its reply: its client sees EOF instead.
#include <mutex>
#include <thread>
#include <vector>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

class ReplyThenCloseTest : public BackendTest {};

// The reply names the request, so a reply that reached the wrong client shows.
std::string replyTo(std::string_view request) { return "reply to " + std::string(request); }

TEST_P(ReplyThenCloseTest, EveryClientGetsItsWholeReplyBeforeTheFin) {
  ConnectionCallbacks cb;
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) {
    const std::string_view request = in.view();
    if (request.empty() || request.back() != '\n') return;  // not all of it yet
    conn->send(replyTo(request));
    conn->shutdown();  // our FIN once the reply is out; the client closes its side
    in.retrieveAll();
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());

  // Several clients at a time: a slot freed by one connection is taken by the
  // next one accepted while the first one's operations may still be queued.
  const int clients = connectionBudget(GetParam(), 8);
  constexpr int kConnectionsPerClient = 250;
  std::mutex mutex;
  std::vector<std::string> failures;  // what each failed connection got instead
  int completed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kConnectionsPerClient; ++i) {
        const std::string request =
            "client " + std::to_string(t) + " request " + std::to_string(i) + "\n";
        const std::string expected = replyTo(request);
        RawClient client(server->address());
        std::string got;
        if (client.isOpen() && client.sendAll(request)) got = client.recvExactly(expected.size());
        // Closed at once, not after our FIN: the server closes this connection
        // (the peer's FIN) with its shutdown possibly still in the kernel's hands.
        client.close();
        std::lock_guard lock(mutex);
        if (got == expected) {
          ++completed;
        } else if (failures.size() < 5) {
          failures.push_back("client " + std::to_string(t) + " connection " + std::to_string(i) +
                             " got " + std::to_string(got.size()) + " of " +
                             std::to_string(expected.size()) + " bytes: \"" + got + "\"");
        } else {
          failures.push_back({});  // counted, not printed
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(completed, clients * kConnectionsPerClient)
      << failures.size() << " connections did not get their whole reply before EOF";
  for (const auto& failure : failures) {
    if (!failure.empty()) ADD_FAILURE() << failure;
  }
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }))
      << server->server().connectionCount() << " connections still open";
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(ReplyThenCloseTest);

}  // namespace
}  // namespace duet::test
