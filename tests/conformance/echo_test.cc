// Bytes arrive in order, none lost or duplicated, whatever the size or how the
// kernel splits them; many connections at once; every threading model.
#include <sys/resource.h>

#include <atomic>
#include <vector>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

// With either application API (callbacks, coroutines): the same bytes back.
class EchoTest : public BackendApiTest {};

TEST_P(EchoTest, PayloadsFromOneByteTo64MiBComeBackIntact) {
  auto server = startServer(echo());
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.isOpen());
  unsigned seed = 1;
  for (std::size_t size : {std::size_t{1}, std::size_t{100}, std::size_t{4096}, std::size_t{65536},
                           std::size_t{65537}, std::size_t{1} << 20, std::size_t{64} << 20}) {
    EXPECT_TRUE(client.echo(patternBytes(size, seed++), 60000))
        << "payload of " << size << " bytes";
  }
}

TEST_P(EchoTest, ManyConcurrentConnections) {
  const int count = connectionBudget(backend(), 1000);
  auto server = startServer(echo());
  ASSERT_TRUE(server->ok());
  std::vector<RawClient> clients(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(clients[i].connect(server->address())) << "connection " << i;
  }
  // Everyone sends before anyone reads: the server must serve them all at once.
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(clients[i].sendAll(patternBytes(200, static_cast<unsigned>(i) + 7)))
        << "connection " << i;
  }
  for (int i = 0; i < count; ++i) {
    EXPECT_EQ(clients[i].recvExactly(200), patternBytes(200, static_cast<unsigned>(i) + 7))
        << "connection " << i;
  }
  EXPECT_TRUE(eventually(
      [&] { return server->server().connectionCount() == static_cast<std::size_t>(count); }));
  clients.clear();
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
}

TEST_P(EchoTest, ByteAtATimeArrivesInOrder) {
  // Tiny writes with Nagle off on our side: the server sees many small reads.
  auto server = startServer(echo());
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.isOpen());
  const std::string payload = patternBytes(2000, 99);
  for (char c : payload) ASSERT_TRUE(client.sendAll(std::string_view(&c, 1)));
  EXPECT_EQ(client.recvExactly(payload.size()), payload);
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_API(EchoTest);

// send(Buffer&&) from callbacks (the coroutine's write(Buffer&&) is the same call).
class EchoBufferTest : public BackendTest {};

TEST_P(EchoBufferTest, BuffersHandedOverWholeComeBackIntactAndLeaveTheCallerEmpty) {
  // send(Buffer&&) lets a backend take the storage instead of copying it (the
  // proactor swaps it into its send buffer). Whatever it does, the bytes must
  // come back in order -- also when a send is already in flight and the next
  // Buffer is queued behind it -- and the caller's Buffer must be left empty
  // and usable.
  std::atomic<int> notEmptyAfterSend{0};
  std::atomic<int> unusableAfterSend{0};
  ConnectionCallbacks cb = echoCallbacks();
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    Buffer out;  // a Buffer of the application's own, handed over
    out.append(in.view());
    in.retrieveAll();
    conn->send(std::move(out));
    if (!out.empty()) ++notEmptyAfterSend;
    out.append("x");  // still a working Buffer
    if (out.view() != "x") ++unusableAfterSend;
  };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.isOpen());
  unsigned seed = 40;
  for (std::size_t size :
       {std::size_t{1}, std::size_t{16384}, std::size_t{1} << 20, std::size_t{8} << 20}) {
    EXPECT_TRUE(client.echo(patternBytes(size, seed++), 60000))
        << "payload of " << size << " bytes";
  }
  EXPECT_EQ(notEmptyAfterSend.load(), 0);
  EXPECT_EQ(unusableAfterSend.load(), 0);
}

TEST_P(EchoBufferTest, InputBufferHandedOverKeepsServingTheConnection) {
  // duet-echo's way: the input Buffer itself is handed over, so the connection
  // reads the next bytes into whatever storage the backend gave back.
  ConnectionCallbacks cb = echoCallbacks();
  cb.onMessage = [](const ConnectionPtr& conn, Buffer& in) { conn->send(std::move(in)); };
  auto server = startServer(cb);
  ASSERT_TRUE(server->ok());
  RawClient client(server->address());
  ASSERT_TRUE(client.isOpen());
  for (unsigned i = 0; i < 200; ++i) {
    const std::string payload = patternBytes(1 + (i * 7919) % 40000, i);
    ASSERT_TRUE(client.echo(payload, 20000)) << "message " << i;
  }
  // Several messages at once: sends queue behind the one in flight.
  std::string burst;
  for (unsigned i = 0; i < 50; ++i) burst += patternBytes(30000, 500 + i);
  ASSERT_TRUE(client.sendAll(burst));
  EXPECT_EQ(client.recvExactly(burst.size()), burst);
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(EchoBufferTest);

class EchoModelTest : public BackendModelTest {};

TEST_P(EchoModelTest, ConnectionsSpreadOverLoopsAllEcho) {
  auto server = startServer(echoCallbacks(), options());
  ASSERT_TRUE(server->ok());
  const int count = connectionBudget(backend(), 200);
  std::vector<RawClient> clients(static_cast<std::size_t>(count));
  for (auto& c : clients) ASSERT_TRUE(c.connect(server->address()));
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < count; ++i) {
      ASSERT_TRUE(clients[i].sendAll(patternBytes(1024, static_cast<unsigned>(i * 31 + round))));
    }
    for (int i = 0; i < count; ++i) {
      ASSERT_EQ(clients[i].recvExactly(1024),
                patternBytes(1024, static_cast<unsigned>(i * 31 + round)))
          << "connection " << i << " round " << round;
    }
  }
  // With I/O threads, the work really was spread: more than one loop accepted connections.
  if (model().ioThreads > 0) {
    int loopsServing = 0;
    server->runSync([&] {
      for (EventLoop* loop : server->server().loops())
        loopsServing += loop->stats().bytesIn.get() > 0 ? 1 : 0;
    });
    // Round-robin hands each I/O loop its share; with SO_REUSEPORT the kernel
    // hashes 200 source ports over both listeners (all on one: odds of 2^-199).
    EXPECT_EQ(loopsServing, model().ioThreads);
  }
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND_AND_MODEL(EchoModelTest);

}  // namespace
}  // namespace duet::test
