// Idle eviction (ServerOptions::idleTimeout) on every backend: a connection is
// idle when nothing moves in either direction. A peer that never sends but
// keeps reading a long response (a big download) is making progress and must
// not be evicted; a silent peer, or one that stopped reading, still is.
#include <sys/socket.h>

#include <mutex>
#include <string>
#include <thread>

#include "tests/conformance/conformance_fixture.h"

namespace duet::test {
namespace {

class IdleEvictionTest : public BackendTest {
 protected:
  std::uint64_t idleEvictions(ServerHarness& server) {
    std::uint64_t sum = 0;
    server.runSync([&] {
      for (EventLoop* l : server.server().loops()) sum += l->stats().idleEvictions.get();
    });
    return sum;
  }
};

void setIntOption(int fd, int option, int value) {
  ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value), 0);
}

TEST_P(IdleEvictionTest, OutputProgressKeepsASilentReaderAliveAndIdlePeersAreStillEvicted) {
  // Timing is chosen so that only a stalled machine could fail the test: the
  // reader takes a chunk every ~10 ms, 40 times faster than the idle timeout.
  // The download lasts well over the timeout (the server's output is kept in
  // user space by small socket buffers), so before output counted as
  // activity the download was cut short.
  constexpr auto kIdleTimeout = std::chrono::milliseconds(400);
  constexpr auto kReadPace = std::chrono::milliseconds(10);
  constexpr std::size_t kChunk = 32 * 1024;
  const std::string body = patternBytes(3 << 20, 7);

  std::mutex mutex;
  ConnectionPtr downloadSide;  // the server end of the first "go"
  ConnectionCallbacks cb;
  cb.onMessage = [&](const ConnectionPtr& conn, Buffer& in) {
    if (in.view() != "go") return;  // wait for the whole request
    in.retrieveAll();
    conn->send(body);
    std::lock_guard lock(mutex);
    if (!downloadSide) downloadSide = conn;
  };
  ServerOptions options = testServerOptions();
  options.idleTimeout = kIdleTimeout;
  // Small kernel buffers keep most of the body in our output buffer, so
  // progress is visible to the engine for most of the download. (Set on the
  // listener and inherited: a direct descriptor has no fd to set it on.)
  options.socketSendBuffer = 32 * 1024;
  auto server = startServer(cb, options);
  ASSERT_TRUE(server->ok());

  RawClient downloader(server->address());
  setIntOption(downloader.fd(), SO_RCVBUF, 32 * 1024);
  ASSERT_TRUE(downloader.sendAll("go"));
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mutex);
    return downloadSide != nullptr;
  }));
  ConnectionPtr serverEnd;
  {
    std::lock_guard lock(mutex);
    serverEnd = downloadSide;
  }

  RawClient silent(server->address());   // never sends, never gets anything
  RawClient stalled(server->address());  // asks for the body, never reads it
  setIntOption(stalled.fd(), SO_RCVBUF, 32 * 1024);
  ASSERT_TRUE(stalled.sendAll("go"));

  // Read the body in paced chunks. Once the server has handed its last byte
  // to the kernel, the rest is read at once: from then on only the kernel is
  // sending, and the connection is idle as far as the server can tell.
  std::string received;
  while (received.size() < body.size()) {
    const std::string chunk =
        downloader.recvExactly(std::min(kChunk, body.size() - received.size()), 5000);
    if (chunk.empty()) break;  // closed (evicted) or stuck
    received += chunk;
    std::size_t pending = 0;
    server->runSync([&] { pending = serverEnd->pendingOutputBytes(); });
    if (pending > 0) std::this_thread::sleep_for(kReadPace);
  }
  EXPECT_EQ(received.size(), body.size()) << "the download was cut short";
  if (received.size() == body.size()) {
    EXPECT_TRUE(received == body) << "the body arrived corrupted";
  }
  downloader.close();
  serverEnd.reset();

  // The silent and the stalled connections are evicted (the stalled one has
  // output waiting, but none of it moves).
  EXPECT_TRUE(eventually([&] { return idleEvictions(*server) == 2; })) << idleEvictions(*server);
  EXPECT_TRUE(silent.waitClosed(5000));
  EXPECT_TRUE(stalled.waitClosed(10000));
  EXPECT_TRUE(eventually([&] { return server->server().connectionCount() == 0; }));
  EXPECT_EQ(idleEvictions(*server), 2u)
      << "the downloader must have been closed by its own FIN, not evicted";
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(IdleEvictionTest);

}  // namespace
}  // namespace duet::test
