// HttpServer end to end, in-process, on every backend and with both
// application APIs (HttpConnection's callbacks, serveHttpConnection's
// coroutine: --api callbacks|coroutines): curl for the static
// files (ranges, conditionals, HEAD, a 100 MiB file checked by SHA-256) and
// a raw socket for what curl will not send (pipelining, malformed and
// oversized requests, smuggling, traversal, slow senders). Loopback only;
// every wait is bounded; no test depends on how fast anything runs.
#include "apps/http/http_server.h"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <future>
#include <random>
#include <thread>

#include "core/connection.h"
#include "core/coro/spawn.h"
#include "core/event_loop.h"
#include "http_harness.h"
#include "http_test_util.h"
#include "response_reader.h"
#include "tests/support/eventually.h"
#include "tests/support/raw_client.h"

// ""s: a literal with an embedded NUL keeps all its bytes (no hand-counted lengths).
using namespace std::string_literals;

namespace duet::http {
namespace {

using duet::test::eventually;
using test::forEachResponse;
using test::ParsedResponse;
using test::readResponses;
using test::TempDir;

// Runs a shell command, returns its stdout (and exit status in *status).
std::string run(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  std::array<char, 4096> buf;
  std::size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int rc = ::pclose(pipe);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

// Every backend, each API: "epoll_callbacks", "uring_coroutines"...
using BackendAndApi = std::tuple<Backend, app::ApiStyle>;

std::string backendApiName(const ::testing::TestParamInfo<BackendAndApi>& info) {
  return std::string(backendName(std::get<0>(info.param))) + "_" +
         std::string(app::apiStyleName(std::get<1>(info.param)));
}

class HttpServerTest : public ::testing::TestWithParam<BackendAndApi> {
 protected:
  Backend backend() const { return std::get<0>(GetParam()); }
  void SetUp() override {
    outside_.write("secret.txt", "top secret");
    root_.write("index.html", "<h1>home</h1>");
    root_.write("a.txt", "0123456789");
    root_.write("docs/index.html", "<h1>docs</h1>");
    HttpServerOptions options;
    options.tcp.ioThreads = 1;
    options.root = root_.path().string();
    options.limits.maxUrlBytes = 1024;
    options.limits.maxHeaderBytes = 4096;
    options.limits.maxBodyBytes = 64 * 1024;
    options.limits.headerTimeout = std::chrono::milliseconds(300);
    options.api = std::get<1>(GetParam());
    LoopOptions loop;
    loop.backend = backend();
    harness_ = std::make_unique<HttpHarness>(loop, std::move(options));
    if (!harness_->unavailable().empty()) GTEST_SKIP() << harness_->unavailable();
    ASSERT_EQ(harness_->error(), "");
  }
  void TearDown() override {
    const bool ran = harness_ && harness_->unavailable().empty();
    harness_.reset();
    if (!ran) return;
    // The server is gone: so is every connection, and every connection's
    // coroutine (a frame left suspended would hold its connection).
    EXPECT_TRUE(eventually([] { return Connection::liveCount() == 0; }, 10000))
        << "live connections: " << Connection::liveCount();
    EXPECT_TRUE(eventually([] { return coro::liveSpawnedCount() == 0; }, 10000))
        << "coroutines not ended: " << coro::liveSpawnedCount();
  }

  std::string curl(const std::string& args, int* status = nullptr) {
    return run("curl -s --max-time 60 " + args, status);
  }

  TempDir outside_;
  TempDir root_;
  std::unique_ptr<HttpHarness> harness_;
};

TEST_P(HttpServerTest, CurlGetsHelloStatsAndStaticFiles) {
  EXPECT_EQ(curl(harness_->url("/hello")), Router::kHelloBody);
  EXPECT_EQ(curl(harness_->url("/a.txt")), "0123456789");
  EXPECT_EQ(curl(harness_->url("/")), "<h1>home</h1>");
  EXPECT_EQ(curl(harness_->url("/docs/")), "<h1>docs</h1>");
  EXPECT_EQ(curl("-o /dev/null -w '%{http_code}' " + harness_->url("/missing")), "404");
  const std::string stats = curl(harness_->url("/stats"));
  EXPECT_NE(stats.find("\"loops\":["), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"mode\":"), std::string::npos) << stats;
  EXPECT_NE(stats.find("\"accepted\":"), std::string::npos) << stats;
}

TEST_P(HttpServerTest, CurlHeadRangesAndConditionals) {
  const std::string head = curl("-I " + harness_->url("/a.txt"));
  EXPECT_NE(head.find("HTTP/1.1 200 OK"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 10"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Type: text/plain"), std::string::npos) << head;
  EXPECT_NE(head.find("Server: duet"), std::string::npos) << head;
  EXPECT_NE(head.find("Date: "), std::string::npos) << head;

  EXPECT_EQ(curl("-r 2-4 " + harness_->url("/a.txt")), "234");
  EXPECT_EQ(curl("-o /dev/null -w '%{http_code}' -r 2-4 " + harness_->url("/a.txt")), "206");
  EXPECT_EQ(curl("-o /dev/null -w '%{http_code}' -r 50-60 " + harness_->url("/a.txt")), "416");

  const std::size_t at = head.find("ETag: ");
  ASSERT_NE(at, std::string::npos);
  const std::string etag = head.substr(at + 6, head.find('\r', at) - at - 6);
  EXPECT_EQ(curl("-o /dev/null -w '%{http_code}' -H 'If-None-Match: " + etag + "' " +
                 harness_->url("/a.txt")),
            "304");
  const std::size_t lm = head.find("Last-Modified: ");
  ASSERT_NE(lm, std::string::npos);
  const std::string lastModified = head.substr(lm + 15, head.find('\r', lm) - lm - 15);
  EXPECT_EQ(curl("-o /dev/null -w '%{http_code}' -H 'If-Modified-Since: " + lastModified + "' " +
                 harness_->url("/a.txt")),
            "304");
}

TEST_P(HttpServerTest, HundredMebibyteFileArrivesIntact) {
  const auto path = root_.path() / "big.bin";
  {
    std::ofstream f(path, std::ios::binary);
    std::mt19937_64 rng(42);
    std::vector<std::uint64_t> block(8192);
    for (int i = 0; i < 100 * 1024 * 1024 / static_cast<int>(block.size() * 8); ++i) {
      for (auto& w : block) w = rng();
      f.write(reinterpret_cast<const char*>(block.data()),
              static_cast<std::streamsize>(block.size() * 8));
    }
  }
  ASSERT_EQ(std::filesystem::file_size(path), 100u * 1024 * 1024);
  const std::string expected = run("sha256sum < '" + path.string() + "' | cut -d' ' -f1");
  ASSERT_EQ(expected.size(), 65u);
  int status = -1;
  const std::string got =
      run("curl -s --max-time 120 " + harness_->url("/big.bin") + " | sha256sum | cut -d' ' -f1",
          &status);
  EXPECT_EQ(got, expected);
  // And a range from its middle, streamed too (larger than the inline limit).
  const std::string rangeExpected = run("tail -c +$((50*1024*1024+1)) '" + path.string() +
                                        "' | head -c $((3*1024*1024)) | sha256sum | cut -d' ' -f1");
  const std::string rangeGot = run("curl -s --max-time 60 -r " + std::to_string(50 * 1024 * 1024) +
                                   "-" + std::to_string(53 * 1024 * 1024 - 1) + " " +
                                   harness_->url("/big.bin") + " | sha256sum | cut -d' ' -f1");
  EXPECT_EQ(rangeGot, rangeExpected);
}

TEST_P(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  duet::test::RawClient client(harness_->address());
  ASSERT_TRUE(client.isOpen());
  std::string burst;
  std::vector<std::string> expected;
  for (int i = 0; i < 30; ++i) {
    switch (i % 3) {
      case 0:
        burst += "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
        expected.push_back(std::string(Router::kHelloBody));
        break;
      case 1:
        burst += "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n";
        expected.push_back("0123456789");
        break;
      case 2: {
        const std::string body = "body-" + std::to_string(i);
        burst +=
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\n\r\n" + body;
        expected.push_back(body);
        break;
      }
    }
  }
  ASSERT_TRUE(client.sendAll(burst));
  const auto responses = readResponses(client, expected.size());
  ASSERT_EQ(responses.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(responses[i].status, 200) << i;
    EXPECT_EQ(responses[i].body, expected[i]) << i;
  }
}

// Adds up one counter over every loop in a /stats page ("name":N per loop).
std::uint64_t sumOfCounter(const std::string& statsJson, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  std::uint64_t sum = 0;
  for (std::size_t at = statsJson.find(key); at != std::string::npos;
       at = statsJson.find(key, at + 1)) {
    sum += std::stoull(statsJson.substr(at + key.size()));
  }
  return sum;
}

// Sixteen pipelined requests in one segment are one read for the server, and
// their sixteen responses should reach the kernel together (one write on a
// reactor, which gathers the output of a read; at most two send SQEs on the
// proactor, whose first send goes alone and the rest queue behind it), not
// one write per response. Counted by the server's own loops through /stats.
TEST_P(HttpServerTest, PipelinedResponsesToOneReadAreWrittenTogether) {
  constexpr int kPipelined = 16;
  duet::test::RawClient statsClient(harness_->address());
  duet::test::RawClient client(harness_->address());
  ASSERT_TRUE(statsClient.isOpen());
  ASSERT_TRUE(client.isOpen());
  const std::string statsRequest = "GET /stats HTTP/1.1\r\nHost: t\r\n\r\n";
  auto stats = [&] {
    if (!statsClient.sendAll(statsRequest)) return std::string();
    const auto r = readResponses(statsClient, 1);
    return r.size() == 1 ? r[0].body : std::string();
  };

  const std::string before = stats();
  ASSERT_NE(before.find("\"send_ops\":"), std::string::npos) << before;
  std::string burst;
  for (int i = 0; i < kPipelined; ++i) burst += "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(client.sendAll(burst));
  const auto responses = readResponses(client, kPipelined);
  ASSERT_EQ(responses.size(), static_cast<std::size_t>(kPipelined));
  for (const auto& r : responses) EXPECT_EQ(r.body, Router::kHelloBody);
  const std::string after = stats();

  // Between the two snapshots: the burst's read and the second /stats
  // request's read; the first /stats response and the burst's responses.
  ASSERT_EQ(sumOfCounter(after, "reads") - sumOfCounter(before, "reads"), 2u)
      << "the burst should have been one read";
  const std::uint64_t sendOps = sumOfCounter(after, "send_ops") - sumOfCounter(before, "send_ops");
  const std::uint64_t forTheBurst = sendOps - 1;  // one for the first /stats response
  if (isReactorBackend(backend())) {
    EXPECT_EQ(forTheBurst, 1u) << kPipelined << " pipelined responses took " << forTheBurst
                               << " writes";
  } else {
    EXPECT_LE(forTheBurst, 2u) << kPipelined << " pipelined responses took " << forTheBurst
                               << " send SQEs";
  }
}

TEST_P(HttpServerTest, ExpectContinue) {
  duet::test::RawClient client(harness_->address());
  ASSERT_TRUE(client.sendAll(
      "POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"));
  EXPECT_EQ(client.recvExactly(25), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(client.sendAll("ping"));
  const auto r = readResponses(client, 1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].body, "ping");
}

struct Refusal {
  const char* name;
  std::string wire;
  int status;
};

// One refused request on a fresh connection: exactly one response, with the
// refusal's status and "Connection: close", then the server closes.
void expectRefusedThenClosed(const InetAddress& server, const Refusal& c) {
  duet::test::RawClient client(server);
  ASSERT_TRUE(client.sendAll(c.wire));
  bool closed = false;
  const auto r = readResponses(client, 1, &closed);
  ASSERT_EQ(r.size(), 1u) << "exactly one response, then the connection closes";
  EXPECT_EQ(r[0].status, c.status);
  EXPECT_EQ(r[0].header("connection"), "close");
  EXPECT_TRUE(closed);
}

TEST_P(HttpServerTest, BadRequestsGetTheirStatusThenCloseWithoutDisturbingOthers) {
  const std::vector<Refusal> cases = {
      {"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 junk\r\n\r\n", 400},
      {"bad header", "GET / HTTP/1.1\r\nHost t\r\n\r\n", 400},
      {"uri too long", "GET /" + std::string(2000, 'a') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414},
      {"headers too large",
       "GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(5000, 'b') + "\r\n\r\n", 431},
      {"body too large", "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n", 413},
      {"unsupported te", "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"cl+te smuggling",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\nGET /hello HTTP/1.1\r\nHost: t\r\n\r\n",
       400},
      {"duplicate cl",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc", 400},
  };
  // A bystander connection with a request in flight on the same server.
  duet::test::RawClient bystander(harness_->address());
  ASSERT_TRUE(bystander.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(readResponses(bystander, 1).size(), 1u);

  for (const Refusal& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_NO_FATAL_FAILURE(expectRefusedThenClosed(harness_->address(), c));
  }
  // The bystander is still served on the same connection.
  ASSERT_TRUE(bystander.sendAll("GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto r = readResponses(bystander, 1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].body, "0123456789");
}

// RFC 9112 on the wire, on every backend: a representative set of the rules
// in apps/http/README.md (request_parser_test.cc covers each one at parse
// level), among them the four an outside probe found: "Host : x", obs-fold,
// two Hosts accepted, and an absolute-form target refused.
TEST_P(HttpServerTest, Rfc9112RefusalsGetTheirStatusThenClose) {
  const std::vector<Refusal> cases = {
      {"space before colon (5.1)", "GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400},
      {"obs-fold (5.2)", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", 400},
      {"two Hosts (3.2)", "GET /hello HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400},
      {"invalid Host (3.2)", "GET /hello HTTP/1.1\r\nHost: t u\r\n\r\n", 400},
      {"no Host in 1.1 (3.2)", "GET /hello HTTP/1.1\r\n\r\n", 400},
      {"bare CR (2.2)", "GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400},
      {"whitespace after start-line (2.2)", "GET /hello HTTP/1.1\r\n Host: t\r\n\r\n", 400},
      {"two spaces in request-line (3)", "GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"NUL in field value (RFC 9110 5.5)", "GET /hello HTTP/1.1\r\nHost: t\r\nX: \0\r\n\r\n"s,
       400},
      {"unknown major version (2.3)", "GET /hello HTTP/3.0\r\nHost: t\r\n\r\n", 505},
      {"asterisk-form with GET (3.2.4)", "GET * HTTP/1.1\r\nHost: t\r\n\r\n", 400},
      {"Transfer-Encoding in 1.0 (6.1)",
       "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
      {"Content-Length list (6.3)",
       "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1, 1\r\n\r\nx", 400},
      {"chunk size overflow (7.1)",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\n",
       400},
      {"obs-fold in trailer (7.1.2)",
       "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 1\r\n "
       "2\r\n\r\n",
       400},
      {"CONNECT is not implemented", "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n", 501},
  };
  for (const Refusal& c : cases) {
    SCOPED_TRACE(c.name);
    ASSERT_NO_FATAL_FAILURE(expectRefusedThenClosed(harness_->address(), c));
  }
}

TEST_P(HttpServerTest, Rfc9112AbsoluteFormAndOtherValidRequestsAreServed) {
  duet::test::RawClient client(harness_->address());
  ASSERT_TRUE(client.sendAll(
      "GET http://t/a.txt HTTP/1.1\r\nHost: t\r\n\r\n"  // 3.2.2: MUST accept
      "GET HTTP://elsewhere.example:8080/a.txt?x=1 HTTP/1.1\r\nHost: t\r\n\r\n"  // its host wins
                                                                                 // over Host
      "\r\nGET /a.txt HTTP/1.1\r\nHost: [::1]:8080\r\nX-A:  v \t\r\n\r\n"  // 2.2 empty line, OWS
      "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"                              // 3.2.4
      "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2;a;c=\"d e\"\r\nhi\r\n0\r\nX-Trailer: t\r\n\r\n"  // 7.1.1, 7.1.2
      "GET /a.txt HTTP/1.9\r\nHost: t\r\n\r\n"));         // 2.3: a later 1.x is 1.1
  const auto r = readResponses(client, 6);
  ASSERT_EQ(r.size(), 6u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[0].body, "0123456789");
  EXPECT_EQ(r[1].status, 200);
  EXPECT_EQ(r[1].body, "0123456789");
  EXPECT_EQ(r[2].status, 200);
  EXPECT_EQ(r[3].status, 204);
  EXPECT_EQ(r[4].status, 200);
  EXPECT_EQ(r[4].body, "hi");
  EXPECT_EQ(r[5].status, 200);
  EXPECT_EQ(r[5].body, "0123456789");
  EXPECT_FALSE(r[5].has("connection")) << "still keep-alive";
}

// RFC 9112 7.1.1 and RFC 9110 5.6.3: chunk extensions in every form the
// grammar allows (BWS around ";" and "=", an unquoted value followed by
// another extension, quoted-strings, one on the last chunk) are parsed and
// ignored, and the connection stays usable; what the grammar forbids is 400.
TEST_P(HttpServerTest, Rfc9112ChunkExtensionsWithBwsAndUnquotedValuesAreIgnored) {
  duet::test::RawClient client(harness_->address());
  ASSERT_TRUE(
      client.sendAll("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3 ; a = b ; c\r\nabc\r\n"
                     "2;x=y;z=\"q ; \\\" r\"\t;w\r\nde\r\n"
                     "0 ;last = 1\r\nX-Trailer: t\r\n\r\n"
                     "GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto r = readResponses(client, 2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[0].body, "abcde");
  EXPECT_EQ(r[1].status, 200);
  EXPECT_EQ(r[1].body, "0123456789");
  EXPECT_FALSE(r[1].has("connection")) << "still keep-alive";

  duet::test::RawClient bad(harness_->address());
  ASSERT_TRUE(
      bad.sendAll("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "1 ; a=\"b\nc\"\r\nx\r\n0\r\n\r\n"));
  bool closed = false;
  const auto refused = readResponses(bad, 1, &closed);
  ASSERT_EQ(refused.size(), 1u);
  EXPECT_EQ(refused[0].status, 400);
  EXPECT_TRUE(closed);
}

TEST_P(HttpServerTest, TraversalAttemptsNeverServeOutsideTheRoot) {
  ASSERT_EQ(
      ::symlink((outside_.path() / "secret.txt").c_str(), (root_.path() / "escape.txt").c_str()),
      0);
  const std::string out = outside_.path().filename().string();
  const std::vector<std::string> targets = {"/../" + out + "/secret.txt",
                                            "/%2e%2e/" + out + "/secret.txt",
                                            "/%2E%2e%2F" + out + "%2Fsecret.txt",
                                            "/docs/../../" + out + "/secret.txt",
                                            "/a.txt%00.html",
                                            "/escape.txt",
                                            "/..%2f..%2f..%2fetc%2fpasswd",
                                            "/../../../../etc/passwd"};
  for (const std::string& t : targets) {
    SCOPED_TRACE(t);
    duet::test::RawClient client(harness_->address());
    ASSERT_TRUE(client.sendAll("GET " + t + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto r = readResponses(client, 1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(r[0].status, 200);
    EXPECT_EQ(r[0].body.find("secret"), std::string::npos);
    EXPECT_EQ(r[0].body.find("root:"), std::string::npos);
  }
}

TEST_P(HttpServerTest, SlowSenderGets408AndIsClosed) {
  duet::test::RawClient slow(harness_->address());
  ASSERT_TRUE(slow.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n"));  // headers never finish
  bool closed = false;
  const auto r = readResponses(slow, 1, &closed);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 408);
  EXPECT_TRUE(closed);
}

// A keep-alive connection with nothing to do is closed after
// keepAliveTimeout (the callback version's sweep; for the coroutine, the
// engine's idle eviction).
TEST_P(HttpServerTest, IdleKeepAliveConnectionIsClosed) {
  HttpServerOptions options;
  options.tcp.ioThreads = 1;
  options.limits.keepAliveTimeout = std::chrono::milliseconds(300);
  options.api = std::get<1>(GetParam());
  LoopOptions loop;
  loop.backend = backend();
  HttpHarness server(loop, std::move(options));
  ASSERT_EQ(server.error(), "");
  duet::test::RawClient client(server.address());
  ASSERT_TRUE(client.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_EQ(readResponses(client, 1).size(), 1u);
  EXPECT_TRUE(client.waitClosed(10000));
}

TEST_P(HttpServerTest, KeepAliveAndConnectionClose) {
  duet::test::RawClient client(harness_->address());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(client.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_EQ(readResponses(client, 1).size(), 1u) << i;
  }
  ASSERT_TRUE(client.sendAll("GET /hello HTTP/1.0\r\n\r\n"));
  bool closed = false;
  const auto r = readResponses(client, 1, &closed);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].header("connection"), "close");
  EXPECT_TRUE(closed);
}

TEST_P(HttpServerTest, PipeliningAClientThatDoesNotReadIsThrottledNotDropped) {
  // 3000 pipelined requests for a 64 KiB file (about 190 MiB of answers) sent
  // by a thread while the main thread reads nothing for a while: the server
  // must stop reading (pipelining cap, output high-water mark) instead of
  // buffering, and later answer every request, in order.
  const std::string body(64 * 1024, 'p');
  root_.write("p.bin", body);
  duet::test::RawClient client(harness_->address());
  ASSERT_TRUE(client.isOpen());
  constexpr int kRequests = 3000;
  std::string one = "GET /p.bin HTTP/1.1\r\nHost: t\r\n\r\n";
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    std::string burst;
    for (int i = 0; i < kRequests; ++i) burst += one;
    sent = client.sendAll(burst, 60000);
  });
  std::this_thread::sleep_for(
      std::chrono::milliseconds(200));  // let the pipes fill (not a threshold)
  const std::size_t ok = forEachResponse(client, kRequests, std::chrono::seconds(60),
                                         [&](const ParsedResponse& r, std::size_t) {
                                           EXPECT_EQ(r.status, 200);
                                           EXPECT_EQ(r.body.size(), body.size());
                                         });
  sender.join();
  EXPECT_TRUE(sent.load());
  EXPECT_EQ(ok, static_cast<std::size_t>(kRequests));
}

INSTANTIATE_TEST_SUITE_P(
    BackendsAndApis, HttpServerTest,
    ::testing::Combine(::testing::ValuesIn(allBackends().begin(), allBackends().end()),
                       ::testing::Values(app::ApiStyle::Callbacks, app::ApiStyle::Coroutines)),
    backendApiName);

}  // namespace
}  // namespace duet::http
