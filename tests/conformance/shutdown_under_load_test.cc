// SIGTERM while clients are mid-request, on every backend, with duet-echo and
// duet-http run as a user runs them (subprocesses). What a client may see:
// every response the server produced, complete and correct, then a clean close
// (EOF); never a truncated response, a corrupted byte, a reset, or a
// connection left hanging. The process exits 0 within its drain deadline.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/conformance/conformance_fixture.h"
#include "tests/support/app_command.h"
#include "tests/support/subprocess.h"

#ifndef DUET_ECHO_PATH
#error "DUET_ECHO_PATH must name the duet-echo binary"
#endif

namespace duet::test {
namespace {

constexpr int kClients = 12;
constexpr int kDrainSeconds = 5;

std::vector<std::string> serverCommand(const char* path, const BackendConfig& backend,
                                       int threads) {
  return appCommand(path, backend,
                    {"--log-level", "warn", "--threads", std::to_string(threads), "--drain-timeout",
                     std::to_string(kDrainSeconds)});
}

// What one client saw when its connection ended.
struct Outcome {
  int roundTrips = 0;
  bool cleanEof = false;  // the connection ended with the server's FIN
  std::string problem;    // empty if every byte was as expected
};

// Receives what is available within the deadline into *buf. 1 data, 0 EOF, -1 reset/error, -2
// timeout.
int recvSome(int fd, std::string* buf, int timeoutMs) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeoutMs) <= 0) return -2;
  char chunk[65536];
  const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
  if (n > 0) {
    buf->append(chunk, static_cast<std::size_t>(n));
    return 1;
  }
  return n == 0 ? 0 : -1;
}

class ShutdownUnderLoadTest : public BackendTest {
 protected:
  // Runs kClients loops of `clientLoop` against the server at `port`, sends
  // SIGTERM once every client has done a few round trips, and checks what
  // each saw and how the process ended.
  void runScenario(Subprocess& server,
                   const std::function<Outcome(RawClient&, std::atomic<int>&)>& clientLoop) {
    const int port = portFromListeningLine(server.waitForLine("listening on"));
    ASSERT_GT(port, 0) << server.err();
    const InetAddress addr(static_cast<std::uint16_t>(port), true);
    std::vector<Outcome> outcomes(kClients);
    std::atomic<int> warmedUp{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        RawClient c;
        if (!c.connect(addr, 5000)) {
          outcomes[i].problem = "could not connect";
          warmedUp.fetch_add(1);
          return;
        }
        outcomes[i] = clientLoop(c, warmedUp);
      });
    }
    // Every client busy (a few round trips done), then the signal lands mid-request.
    const bool busy = eventually([&] { return warmedUp.load() >= kClients; }, 20000);
    server.signal(SIGTERM);
    for (auto& t : threads) t.join();
    EXPECT_TRUE(busy) << "clients never got going";
    // The drain deadline bounds the stop; the margin is for a loaded machine.
    EXPECT_EQ(server.wait((kDrainSeconds + 10) * 1000), 0) << server.err();
    for (int i = 0; i < kClients; ++i) {
      EXPECT_EQ(outcomes[i].problem, "") << "client " << i;
      EXPECT_TRUE(outcomes[i].cleanEof) << "client " << i << " did not see a clean close";
      EXPECT_GE(outcomes[i].roundTrips, 3) << "client " << i;
    }
    EXPECT_NE(server.out().find("stats loop=main"), std::string::npos) << server.out();
  }
};

// Echo: each client sends 64 KiB messages and reads each echo back. After the
// signal, the server flushes what it echoed and sends FIN: the client sees a
// prefix of its current message (possibly all of it, possibly none), then EOF.
TEST_P(ShutdownUnderLoadTest, EchoDeliversWhatItEchoedThenCloses) {
  Subprocess server(serverCommand(DUET_ECHO_PATH, GetParam(), 2));
  runScenario(server, [](RawClient& c, std::atomic<int>& warmedUp) {
    Outcome out;
    const std::string message = patternBytes(64 * 1024, static_cast<unsigned>(c.fd()));
    for (int round = 0; round < 100000; ++round) {
      if (round == 3) warmedUp.fetch_add(1);
      if (!c.sendAll(message, 15000)) {
        // Sending can fail only once the server closed; it must have sent FIN first.
        out.problem = "send failed before the server closed";
        return out;
      }
      std::string got;
      int rc = 1;
      while (got.size() < message.size() && (rc = recvSome(c.fd(), &got, 15000)) == 1) {
      }
      if (got.size() > message.size() || message.compare(0, got.size(), got) != 0) {
        out.problem = "echo differs from what was sent";
        return out;
      }
      if (got.size() == message.size()) {
        ++out.roundTrips;
        continue;
      }
      // The stream ended: it must be a FIN, with nothing after it.
      if (rc == 0) out.cleanEof = true;
      else out.problem = rc == -1 ? "reset instead of a clean close" : "no close within 15 s";
      return out;
    }
    out.problem = "the server never closed";
    return out;
  });
}

// HTTP: each client pipelines POST /echo (32 KiB bodies) and GET /hello, and
// reads the answers. After the signal every response that arrives must be
// complete and correct, and the connection must end with EOF between responses.
TEST_P(ShutdownUnderLoadTest, HttpDeliversCompleteResponsesThenCloses) {
#ifndef DUET_HTTP_PATH
  FAIL() << "DUET_HTTP_PATH is not defined: duet-http is not part of this build";
#else
  Subprocess server(serverCommand(DUET_HTTP_PATH, GetParam(), 2));
  runScenario(server, [](RawClient& c, std::atomic<int>& warmedUp) {
    Outcome out;
    const std::string body = patternBytes(32 * 1024, static_cast<unsigned>(c.fd()));
    const std::string post =
        "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body;
    const std::string get = "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
    const std::string batch = post + get + post + get;
    std::string buf;
    for (int round = 0; round < 100000; ++round) {
      if (round == 3) warmedUp.fetch_add(1);
      // A send may fail once the server closed; the reads below tell how it closed.
      c.sendAll(batch, 15000);
      for (int r = 0; r < 4; ++r) {
        const std::string& expected = r % 2 == 0 ? body : std::string("Hello, world!\n");
        // One complete response, or EOF with nothing pending.
        int rc = 1;
        for (;;) {
          const std::size_t end = buf.find("\r\n\r\n");
          if (end != std::string::npos) {
            const std::size_t cl = buf.find("Content-Length: ");
            if (cl == std::string::npos || cl > end) {
              out.problem = "response without Content-Length";
              return out;
            }
            const std::size_t len = std::stoul(buf.substr(cl + 16));
            if (buf.size() >= end + 4 + len) {
              if (!buf.starts_with("HTTP/1.1 200 ") || buf.compare(end + 4, len, expected) != 0) {
                out.problem = "wrong response: " + buf.substr(0, 60);
                return out;
              }
              buf.erase(0, end + 4 + len);
              break;
            }
          }
          rc = recvSome(c.fd(), &buf, 15000);
          if (rc != 1) break;
        }
        if (rc == 1) continue;
        if (!buf.empty()) {
          out.problem =
              "truncated response (" + std::to_string(buf.size()) + " bytes) before the close";
        } else if (rc == 0) {
          out.cleanEof = true;
        } else {
          out.problem =
              rc == -1 ? "reset instead of a clean close" : "no response and no close within 15 s";
        }
        return out;
      }
      ++out.roundTrips;
    }
    out.problem = "the server never closed";
    return out;
  });
#endif
}

DUET_INSTANTIATE_FOR_EVERY_BACKEND(ShutdownUnderLoadTest);

}  // namespace
}  // namespace duet::test
