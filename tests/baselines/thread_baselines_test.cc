// The thread-per-connection baselines (bench/baselines/thread_*.cc): what
// they do when threads or descriptors run out, how they stop, and that
// duet-thread-http answers like duet-http. Exact echo under duet-load is in
// raw_baselines_test.cc with the other baselines.
//
// Refusals are made deterministic with --max-threads (the same path a failed
// pthread_create takes) and with a small RLIMIT_NOFILE for the server.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "core/inet_address.h"
#include "tests/baselines/load_output.h"
#include "tests/baselines/load_shapes.h"
#include "tests/support/raw_client.h"
#include "tests/support/subprocess.h"

#ifndef DUET_THREAD_ECHO_PATH
#error "DUET_THREAD_ECHO_PATH must name the duet-thread-echo binary"
#endif
#ifndef DUET_THREAD_HTTP_PATH
#error "DUET_THREAD_HTTP_PATH must name the duet-thread-http binary"
#endif
#ifndef DUET_HTTP_PATH
#error "DUET_HTTP_PATH must name the duet-http binary"
#endif
#ifndef DUET_LOAD_PATH
#error "DUET_LOAD_PATH must name the duet-load binary"
#endif

namespace duet::test {
namespace {

constexpr char kHelloRequest[] = "GET /hello HTTP/1.1\r\nHost: test\r\n\r\n";
// duet-http's /hello answer; its Date value is always 29 characters.
const std::string kHelloResponse =
    "HTTP/1.1 200 OK\r\nServer: duet\r\nDate: Mon, 30 Nov 2026 02:47:19 GMT\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Length: 14\r\n\r\nHello, world!\n";

std::string maskDate(const std::string& response) {
  return std::regex_replace(response, std::regex("Date: [^\r]*"), "Date: X");
}

struct Baseline {
  std::string name;
  const char* binary;
  bool http;
};

std::ostream& operator<<(std::ostream& os, const Baseline& b) { return os << b.name; }

// Starts a baseline; port 0 if it did not come up.
struct Started {
  std::unique_ptr<Subprocess> process;
  uint16_t port = 0;
};
Started start(const char* binary, std::vector<std::string> flags,
              Subprocess::Options options = {}) {
  std::vector<std::string> argv = {binary, "--port", "0", "--stats"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Started s;
  s.process = std::make_unique<Subprocess>(argv, options);
  const std::string line = s.process->waitForLine("listening on", 10000);
  if (!line.empty())
    s.port = static_cast<uint16_t>(std::stoi(line.substr(line.find_last_of(' ') + 1)));
  return s;
}

// One round trip that only a connection with a thread behind it completes:
// an echo, or a GET /hello answered in full. A refused connection is closed
// by the server without a word, so this returns false.
bool served(RawClient& client, bool http) {
  if (!http) return client.echo("are you there?", 10000);
  if (!client.sendAll(kHelloRequest)) return false;
  const std::string response = client.recvExactly(kHelloResponse.size(), 10000);
  return maskDate(response) == maskDate(kHelloResponse);
}

size_t countLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class ThreadBaseline : public ::testing::TestWithParam<Baseline> {};

// --max-threads 2: two clients hold both threads; newcomers are closed at
// once while the two are still served; one line on stderr per burst of
// refusals, and every refusal counted.
TEST_P(ThreadBaseline, RefusesConnectionsWithoutAThreadAndKeepsServingTheOthers) {
  const Baseline& b = GetParam();
  Started server = start(b.binary, {"--max-threads", "2"});
  ASSERT_GT(server.port, 0) << server.process->err();
  const InetAddress addr(server.port, true);

  RawClient first(addr), second(addr);
  ASSERT_TRUE(served(first, b.http));
  ASSERT_TRUE(served(second, b.http));  // both threads taken now

  // Burst 1: no thread for these two.
  int refused = 0;
  for (int i = 0; i < 2; ++i) {
    RawClient extra(addr);
    ASSERT_TRUE(extra.isOpen());
    EXPECT_FALSE(served(extra, b.http));
    EXPECT_TRUE(extra.waitClosed());
    ++refused;
  }
  EXPECT_TRUE(served(first, b.http));  // the others never noticed
  EXPECT_TRUE(served(second, b.http));

  // Free a thread. Until it has finished, newcomers are still refused (the
  // same burst); the first one to get in ends the burst.
  first.close();
  RawClient third;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    RawClient attempt(addr);
    ASSERT_TRUE(attempt.isOpen());
    if (served(attempt, b.http)) {
      third = std::move(attempt);
      break;
    }
    ++refused;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the freed thread never took a connection";
  }

  // Burst 2: full again.
  RawClient late(addr);
  EXPECT_FALSE(served(late, b.http));
  ++refused;
  EXPECT_TRUE(served(second, b.http));
  EXPECT_TRUE(served(third, b.http));

  server.process->signal(SIGTERM);
  ASSERT_EQ(server.process->wait(10000), 0) << server.process->err();
  const std::string& err = server.process->err();
  EXPECT_EQ(countLines(err, "--max-threads 2 reached"), 2u) << err;  // one per burst
  EXPECT_EQ(countLines(err, "\n"), 2u) << err;                       // and nothing else
  const std::string& stats = server.process->out();
  EXPECT_EQ(statsNumber(stats, "refused_no_thread"), refused) << stats;
  EXPECT_EQ(statsNumber(stats, "refused_no_fd"), 0) << stats;
  EXPECT_EQ(statsNumber(stats, "peak_threads"), 2) << stats;
}

// Out of descriptors: accept() fails with EMFILE while a peer waits in the
// backlog. The server must close that peer (not spin, not hang it), count
// it, say so once, and keep serving everyone it has.
TEST_P(ThreadBaseline, RefusesConnectionsWithoutADescriptorAndKeepsServingTheOthers) {
  const Baseline& b = GetParam();
  Subprocess::Options options;
  options.maxOpenFiles = 16;  // stdio, the listener, a spare: about a dozen connections
  Started server = start(b.binary, {}, options);
  ASSERT_GT(server.port, 0) << server.process->err();
  const InetAddress addr(server.port, true);

  std::vector<RawClient> held;
  int refused = 0;
  for (int i = 0; i < 32 && refused == 0; ++i) {
    RawClient c(addr);
    ASSERT_TRUE(c.isOpen());
    if (served(c, b.http)) {
      held.push_back(std::move(c));
    } else {
      EXPECT_TRUE(c.waitClosed());
      ++refused;
    }
  }
  ASSERT_EQ(refused, 1) << "16 descriptors never ran out";
  ASSERT_GE(held.size(), 5u);
  RawClient again(addr);  // still out of descriptors: refused, same burst
  EXPECT_FALSE(served(again, b.http));
  ++refused;
  for (RawClient& c : held) EXPECT_TRUE(served(c, b.http));

  // A client leaves; once its thread has closed the descriptor, the next
  // newcomer is served (until then, refused: the same burst).
  held.front().close();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    RawClient attempt(addr);
    ASSERT_TRUE(attempt.isOpen());
    if (served(attempt, b.http)) {
      held.front() = std::move(attempt);
      break;
    }
    ++refused;
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the freed descriptor never took a connection";
  }
  for (RawClient& c : held) EXPECT_TRUE(served(c, b.http));

  server.process->signal(SIGTERM);
  ASSERT_EQ(server.process->wait(10000), 0) << server.process->err();
  const std::string& err = server.process->err();
  EXPECT_EQ(countLines(err, "accept: Too many open files"), 1u) << err;
  const std::string& stats = server.process->out();
  EXPECT_EQ(statsNumber(stats, "refused_no_fd"), refused) << stats;
  EXPECT_EQ(statsNumber(stats, "refused_no_thread"), 0) << stats;
  EXPECT_EQ(statsNumber(stats, "peak_threads"), static_cast<double>(held.size())) << stats;
}

// SIGTERM with threads asleep in read() (idle clients) and in write() (a
// client that sends without ever reading the answers): every thread is woken,
// every client sees its connection end, the server exits 0.
TEST_P(ThreadBaseline, StopsWithThreadsBlockedInReadAndWrite) {
  const Baseline& b = GetParam();
  Started server = start(b.binary, {});
  ASSERT_GT(server.port, 0) << server.process->err();
  const InetAddress addr(server.port, true);

  RawClient idle(addr), alsoIdle(addr), flooder(addr);
  ASSERT_TRUE(served(idle, b.http));
  ASSERT_TRUE(served(alsoIdle, b.http));
  // Far more than the socket buffers hold, never read: the server's answers
  // fill our receive buffer, its write() blocks, it stops reading, and our
  // send times out with the rest unsent. That is the state we want (whether
  // the thread is inside write() at the signal is up to the scheduler; the
  // test holds either way).
  std::string flood;
  if (b.http) {
    while (flood.size() < (32u << 20)) flood += kHelloRequest;
  } else {
    flood = patternBytes(64u << 20);
  }
  flooder.sendAll(flood, 500);

  server.process->signal(SIGTERM);
  ASSERT_EQ(server.process->wait(10000), 0) << server.process->err();
  EXPECT_TRUE(idle.waitClosed());
  EXPECT_TRUE(alsoIdle.waitClosed());
  EXPECT_TRUE(flooder.waitClosed());
  EXPECT_EQ(server.process->err(), "");
  EXPECT_EQ(statsNumber(server.process->out(), "accepted"), 3) << server.process->out();
}

INSTANTIATE_TEST_SUITE_P(Servers, ThreadBaseline,
                         ::testing::Values(Baseline{"echo", DUET_THREAD_ECHO_PATH, false},
                                           Baseline{"http", DUET_THREAD_HTTP_PATH, true}),
                         [](const ::testing::TestParamInfo<Baseline>& p) { return p.param.name; });

// ---- duet-thread-http ----

// Sends `request` on a new connection, half-closes, and returns everything
// until the server closes, Date masked. Both servers answer what a request
// asked, then close when they read the end of the stream.
std::string exchange(uint16_t port, const std::string& request) {
  RawClient c(InetAddress(port, true));
  if (!c.isOpen() || !c.sendAll(request)) return "<no connection>";
  c.shutdownWrite();
  bool sawEof = false;
  std::string response = c.recvUntilClosed(10000, &sawEof);
  return maskDate(response) + (sawEof ? "<closed>" : "<timeout>");
}

// The baseline is compared with the engine's HTTP server on the same
// workload, so it must answer the same bytes: /hello, the errors a
// benchmark or a careless client can meet, keep-alive and close.
TEST(ThreadHttp, AnswersEveryRequestExactlyLikeDuetHttp) {
  Started thread = start(DUET_THREAD_HTTP_PATH, {});
  ASSERT_GT(thread.port, 0) << thread.process->err();
  Subprocess duet({DUET_HTTP_PATH, "--backend", "epoll", "--host", "127.0.0.1", "--port", "0",
                   "--log-level", "warn"});
  const uint16_t duetPort =
      static_cast<uint16_t>(portFromListeningLine(duet.waitForLine("listening on")));
  ASSERT_GT(duetPort, 0) << duet.err();

  const std::vector<std::string> requests = {
      kHelloRequest,
      "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /hello?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\nGET /hello "
      "HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /hello HTTP/1.0\r\n\r\n",
      "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /hello HTTP/1.0\r\n\r\n",
      "\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      // pipelined, with a body in between that must be skipped exactly
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nPOST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: "
      "5\r\n\r\nGET /"
      "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "OPTIONS /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /other HTTP/1.1\r\nHost: x\r\n\r\n",
      "HEAD /other HTTP/1.1\r\nHost: x\r\n\r\n",
      "BREW /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "CONNECT /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n",
      // garbage: 400 and close
      "garbage\r\n\r\n",
      "GET /hello HTTP/1.1\r\n\r\n",                        // no Host
      "GET /hello HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",  // two
      "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n",            // space before the colon
      "GET /hello HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",  // obsolete line folding
      "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n",
      "GET  /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /hello HTTP/1.1\nHost: x\r\n\r\n",                                          // a bare LF
      "GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n",             // 413
      "GET /hello HTTP/1.1\r\nHost: x\r\nX: " + std::string(20000, 'a') + "\r\n\r\n",  // 431
      // and after a good request, garbage: the good one is still answered
      std::string(kHelloRequest) + "\x01\x02\r\n\r\n",
  };
  for (const std::string& request : requests) {
    SCOPED_TRACE(request.substr(0, 120));
    const std::string expected = exchange(duetPort, request);
    EXPECT_NE(expected.find("HTTP/1.1 "), std::string::npos) << expected;
    EXPECT_EQ(exchange(thread.port, request), expected);
  }

  thread.process->signal(SIGTERM);
  EXPECT_EQ(thread.process->wait(10000), 0) << thread.process->err();
  duet.signal(SIGTERM);
  EXPECT_EQ(duet.wait(10000), 0) << duet.err();
}

// Where the baseline deliberately differs: it has no chunked decoder, so a
// request with Transfer-Encoding is refused (501) and the connection closed,
// since where its body ends is unknown.
TEST(ThreadHttp, RefusesTransferEncodingAndCloses) {
  Started thread = start(DUET_THREAD_HTTP_PATH, {});
  ASSERT_GT(thread.port, 0) << thread.process->err();
  RawClient c(InetAddress(thread.port, true));
  ASSERT_TRUE(
      c.sendAll("POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
                std::string(kHelloRequest)));
  bool sawEof = false;
  const std::string response = c.recvUntilClosed(10000, &sawEof);
  EXPECT_TRUE(sawEof);
  EXPECT_EQ(response.rfind("HTTP/1.1 501 Not Implemented\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Connection: close\r\n"), std::string::npos) << response;
  EXPECT_EQ(countLines(response, "HTTP/1.1 "), 1u)
      << response;  // the GET behind it is not answered
  thread.process->signal(SIGTERM);
  EXPECT_EQ(thread.process->wait(10000), 0) << thread.process->err();
}

// duet-load's HTTP mode: keep-alive, pipelined, and one request per
// connection with Connection: close. Every response frames, none is an error.
TEST(ThreadHttp, ServesHelloUnderLoad) {
  Started thread = start(DUET_THREAD_HTTP_PATH, {});
  ASSERT_GT(thread.port, 0) << thread.process->err();
  const std::string port = std::to_string(thread.port);
  const std::vector<LoadShape> shapes = {
      {"-c", "1"},
      {"-c", "100", "-k", "4"},
      {"-c", "4", "-k", "16"},
      {"-c", "4", "--churn"},
  };
  const std::vector<std::string> http = {"--http", "/hello"};
  ASSERT_NO_FATAL_FAILURE(
      runEachShape(port, http, shapes, [](const LoadShape& shape, const std::string& line) {
        if (shape.back() == "--churn") {
          EXPECT_EQ(num(line, "messages"), num(line, "connections_made")) << line;
        } else {
          EXPECT_EQ(num(line, "connected"), std::stod(shape[1])) << line;
        }
        EXPECT_EQ(num(line, "bad_status"), 0) << line;
        EXPECT_EQ(num(line, "protocol_errors"), 0) << line;
        EXPECT_EQ(num(line, "errors"), 0) << line;
        EXPECT_EQ(num(line, "connect_errors"), 0) << line;
        EXPECT_EQ(num(line, "drain_timeouts"), 0) << line;
      }));
  thread.process->signal(SIGTERM);
  ASSERT_EQ(thread.process->wait(10000), 0) << thread.process->err();
  const std::string& stats = thread.process->out();
  EXPECT_GT(statsNumber(stats, "requests"), 0) << stats;
  EXPECT_EQ(statsNumber(stats, "accepted"), statsNumber(stats, "closed")) << stats;
  EXPECT_EQ(thread.process->err(), "");
}

}  // namespace
}  // namespace duet::test
