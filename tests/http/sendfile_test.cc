// duet-http --file-io sendfile: file bodies go out with Connection::sendFile
// (sendfile(2) on the reactors, ring reads and sends on io_uring), on every
// backend configuration, callbacks API (the coroutine connection reads its
// bodies as under async). What must hold:
//
//   - file bodies, ranges and in-memory responses on one pipelined
//     connection arrive intact and in request order;
//   - a client that reads nothing for a while is throttled, then answered in full;
//   - a file found shorter than its announced length cuts its own connection
//     (the head has gone out with a Content-Length), and the other
//     connections on the same loop are served as before;
//   - every file descriptor is closed again (CleanupChecker).
//
// No timing decides anything: every wait is bounded and looks for a state.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "http_harness.h"
#include "http_test_util.h"
#include "response_reader.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::http {
namespace {

using duet::test::BackendConfig;
using duet::test::eventually;
using duet::test::patternBytes;
using duet::test::RawClient;
using test::forEachResponse;
using test::ParsedResponse;
using test::readResponses;
using test::TempDir;

// The 3 MiB bodies to a reader that waits first get longer than the usual 10 s.
constexpr std::chrono::seconds kReadLimit{30};

std::string get(const std::string& path, const std::string& extra = "") {
  return "GET " + path + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n";
}

class HttpSendfileTest : public testing::TestWithParam<BackendConfig> {
 protected:
  void SetUp() override {
    DUET_SKIP_IF_UNAVAILABLE(GetParam());
    cleanup_.begin();
    big_ = patternBytes(3 * 1024 * 1024 + 5, 7);
    root_.write("big.bin", big_);
    root_.write("a.txt", "0123456789");
    root_.write("claims-more.txt",
                std::string(4000, 'x'));  // its bytes come from short.txt (below)
    shortFile_ = root_.write("short.txt", std::string(1500, 'x'));
    HttpServerOptions options;
    options.tcp.listen = InetAddress(0, /*loopbackOnly=*/true);
    options.tcp.ioThreads = 0;  // one loop: every connection shares it
    options.root = root_.path().string();
    options.fileIo = FileIo::Sendfile;
    // claims-more.txt announces 4000 bytes and its body is read from a file
    // of 1500: a file that shrank between its stat and its sending.
    options.readFromForTesting = [this](const std::string& path) {
      if (std::filesystem::path(path).filename() != "claims-more.txt") return UniqueFd();
      return UniqueFd(::open(shortFile_.c_str(), O_RDONLY | O_CLOEXEC));
    };
    harness_ = std::make_unique<HttpHarness>(GetParam().loop, std::move(options));
    ASSERT_EQ(harness_->error(), "");
    ASSERT_EQ(harness_->unavailable(), "");
  }
  void TearDown() override {
    harness_.reset();
    if (!IsSkipped()) cleanup_.end();
  }

  TempDir root_;
  std::string big_;
  std::filesystem::path shortFile_;
  std::unique_ptr<HttpHarness> harness_;
  duet::test::CleanupChecker cleanup_;
};

TEST_P(HttpSendfileTest, FilesRangesAndOtherResponsesArriveInOrder) {
  RawClient client(harness_->address());
  ASSERT_TRUE(client.isOpen());
  std::string burst;
  std::vector<std::pair<int, std::string>> expected;
  for (int i = 0; i < 4; ++i) {
    burst += get("/big.bin");
    expected.emplace_back(200, big_);
    burst += get("/hello");
    expected.emplace_back(200, std::string(Router::kHelloBody));
    burst += get("/big.bin", "Range: bytes=1000000-1000099\r\n");
    expected.emplace_back(206, big_.substr(1000000, 100));
    burst += get("/a.txt");
    expected.emplace_back(200, "0123456789");
    const std::string body = "body-" + std::to_string(i);
    burst += "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: " + std::to_string(body.size()) +
             "\r\n\r\n" + body;
    expected.emplace_back(200, body);
  }
  ASSERT_TRUE(client.sendAll(burst));
  const auto responses = readResponses(client, expected.size(), nullptr, {}, kReadLimit);
  ASSERT_EQ(responses.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(responses[i].status, expected[i].first) << i;
    EXPECT_EQ(responses[i].body.size(), expected[i].second.size()) << i;
    EXPECT_TRUE(responses[i].body == expected[i].second) << "response " << i << " changed";
  }
}

// 40 requests for a 3 MiB file (120 MiB of answers) from a client that
// reads nothing until they are all sent: the server must throttle (its
// output counts the unsent file, so later requests wait and reading stops)
// rather than drop the client, then answer every request in order.
TEST_P(HttpSendfileTest, AClientThatDoesNotReadIsThrottledThenServedInFull) {
  RawClient client(harness_->address());
  ASSERT_TRUE(client.isOpen());
  constexpr int kRequests = 40;
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    std::string burst;
    for (int i = 0; i < kRequests; ++i) burst += get("/big.bin");
    sent = client.sendAll(burst, 60000);
  });
  std::this_thread::sleep_for(
      std::chrono::milliseconds(200));  // let the pipes fill (not a threshold)
  const std::size_t ok = forEachResponse(
      client, kRequests, std::chrono::seconds(90), [&](const ParsedResponse& r, std::size_t i) {
        EXPECT_EQ(r.status, 200);
        EXPECT_TRUE(r.body == big_) << "response " << i << " changed";
      });
  sender.join();
  EXPECT_TRUE(sent.load());
  EXPECT_EQ(ok, static_cast<std::size_t>(kRequests));
}

TEST_P(HttpSendfileTest, AFileShorterThanAnnouncedCutsOnlyItsConnection) {
  RawClient other(harness_->address());
  ASSERT_TRUE(other.sendAll(get("/hello")));
  ASSERT_EQ(readResponses(other, 1, nullptr, {}, kReadLimit).size(), 1u);

  RawClient victim(harness_->address());
  ASSERT_TRUE(victim.sendAll(get("/claims-more.txt") + get("/hello")));
  bool closed = false;
  const auto responses = readResponses(victim, 2, &closed, {}, kReadLimit);
  EXPECT_TRUE(closed) << "the connection was not cut";
  EXPECT_TRUE(responses.empty()) << "a response that cannot be whole must not parse as one";

  ASSERT_TRUE(other.sendAll(get("/hello")));
  const auto again = readResponses(other, 1, nullptr, {}, kReadLimit);
  ASSERT_EQ(again.size(), 1u) << "the other connection stopped being served";
  EXPECT_EQ(again[0].status, 200);
  EXPECT_TRUE(eventually([&] { return harness_->connections() == 1; }));
}

INSTANTIATE_TEST_SUITE_P(Backends, HttpSendfileTest, testing::ValuesIn(duet::test::testBackends()),
                         duet::test::backendParamName);

}  // namespace
}  // namespace duet::http
