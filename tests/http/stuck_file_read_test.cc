// Issue 13, item 4: while one connection's file read is stuck, the other
// connections on the same loop are still served. On every backend
// configuration (tests/support/test_backends.h), with each of duet-http's
// connection implementations (--api callbacks and coroutines), through
// duet-http's server.
//
// How a read is made to stick: the server's test hook (readFromForTesting,
// static_files.h) reads /slow.txt's bytes from a FIFO instead of the file.
// The FIFO is opened O_RDONLY|O_NONBLOCK (the open must not wait for a
// writer), a writer is opened, and O_NONBLOCK is cleared on the reading end:
// a read of it now blocks until the test writes. Where it blocks is the
// point: a reactor's file-read worker sleeps in read(2), the ring parks the
// read in the kernel, and with --file-io loop the loop thread itself sleeps.
//
// Nothing here depends on timing. The hook tells the test that the server
// is about to read (so A's read is really under way before B asks), A cannot
// have an answer before the test writes the FIFO, and every wait is bounded,
// so a server that stalls fails the test instead of hanging it. The writer
// is always closed before the server is stopped (a worker or a loop thread
// blocked in read(2) then sees the end of the FIFO and returns).
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>

#include "http_harness.h"
#include "http_test_util.h"
#include "tests/conformance/conformance_fixture.h"

namespace duet::http {
namespace {

using duet::test::BackendConfig;
using duet::test::eventually;
using duet::test::RawClient;
using test::ParsedResponse;
using test::parseResponses;
using test::TempDir;

const std::string kSlowContent = "the bytes that were stuck\n";

// Reads from `client` until one whole response has arrived, or `timeoutMs`.
std::optional<ParsedResponse> readOneResponse(RawClient& client, int timeoutMs) {
  std::string wire;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    auto parsed = parseResponses(wire);
    if (!parsed.empty()) return parsed.front();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{client.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = ::recv(client.fd(), buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    wire.append(buf, static_cast<std::size_t>(n));
  }
}

// True if `client` has bytes (or an EOF) waiting right now.
bool hasInput(RawClient& client) {
  pollfd p{client.fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

// Every backend configuration, each API: "epoll_callbacks", "uring_coroutines"...
using BackendAndApi = std::tuple<BackendConfig, app::ApiStyle>;

std::string backendApiName(const testing::TestParamInfo<BackendAndApi>& info) {
  return std::get<0>(info.param).name + "_" +
         std::string(app::apiStyleName(std::get<1>(info.param)));
}

class StuckFileReadTest : public testing::TestWithParam<BackendAndApi> {
 protected:
  const BackendConfig& backend() const { return std::get<0>(GetParam()); }

  void SetUp() override {
    DUET_SKIP_IF_UNAVAILABLE(backend());
    cleanup_.begin();
    root_.write("slow.txt", kSlowContent);  // size and validators come from here
    const std::string fifo = (fifoDir_.path() / "stuck.fifo").string();
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    reader_ = UniqueFd(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    writer_ = UniqueFd(::open(fifo.c_str(), O_WRONLY | O_CLOEXEC));
    ASSERT_TRUE(reader_ && writer_);
    ASSERT_EQ(::fcntl(reader_.get(), F_SETFL, ::fcntl(reader_.get(), F_GETFL) & ~O_NONBLOCK), 0);
  }
  void TearDown() override {
    writer_.reset();  // first: whatever is blocked on the FIFO returns
    harness_.reset();
    reader_.reset();
    if (!IsSkipped()) cleanup_.end();
  }

  void startServer(FileIo fileIo,
                   const std::function<void(HttpServerOptions&, LoopOptions&)>& adjust = {}) {
    HttpServerOptions options;
    options.tcp.listen = InetAddress(0, /*loopbackOnly=*/true);
    options.tcp.ioThreads = 0;  // one loop: A and B share it
    options.root = root_.path().string();
    options.fileIo = fileIo;
    options.api = std::get<1>(GetParam());
    options.readFromForTesting = [this](const std::string& path) {
      if (std::filesystem::path(path).filename() != "slow.txt") return UniqueFd();
      readStarting_ = true;
      return UniqueFd(::fcntl(reader_.get(), F_DUPFD_CLOEXEC, 0));
    };
    LoopOptions loopOptions = backend().loop;
    if (adjust) adjust(options, loopOptions);
    harness_ = std::make_unique<HttpHarness>(loopOptions, std::move(options));
    ASSERT_EQ(harness_->error(), "");
    ASSERT_EQ(harness_->unavailable(), "");
  }

  // A asks for the FIFO-backed file and the server starts reading it.
  void startStuckRead(RawClient& a) {
    ASSERT_TRUE(a.connect(harness_->address()));
    ASSERT_TRUE(a.sendAll("GET /slow.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(eventually([&] { return readStarting_.load(); }))
        << "the server never reached the file read";
  }

  void unblock() {
    ASSERT_EQ(::write(writer_.get(), kSlowContent.data(), kSlowContent.size()),
              static_cast<ssize_t>(kSlowContent.size()));
    writer_.reset();
  }

  // The test: B is answered while A's read is stuck; then A completes.
  void expectOthersServedWhileAReadIsStuck() {
    RawClient a;
    startStuckRead(a);
    RawClient b(harness_->address());
    ASSERT_TRUE(b.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto hello = readOneResponse(b, 10000);
    ASSERT_TRUE(hello) << "B was not answered while A's file read was stuck: the loop is blocked";
    EXPECT_EQ(hello->status, 200);
    EXPECT_EQ(hello->body, Router::kHelloBody);
    EXPECT_FALSE(hasInput(a)) << "A got something before its file had any bytes";

    unblock();
    const auto slow = readOneResponse(a, 10000);
    ASSERT_TRUE(slow) << "A never got its file";
    EXPECT_EQ(slow->status, 200);
    EXPECT_EQ(slow->body, kSlowContent);
    // B's connection is still in service afterwards.
    ASSERT_TRUE(b.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
    const auto again = readOneResponse(b, 10000);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
  }

  TempDir root_;
  TempDir fifoDir_;
  UniqueFd reader_;
  UniqueFd writer_;
  std::atomic<bool> readStarting_{false};
  std::unique_ptr<HttpHarness> harness_;
  duet::test::CleanupChecker cleanup_;
};

TEST_P(StuckFileReadTest, OtherConnectionsAreServedWhileAFileReadIsStuck) {
  // DUET_STUCK_READ_FILE_IO=loop runs this very test on the loop-thread path,
  // to watch it fail (B is not answered within the bounded wait).
  const char* mode = std::getenv("DUET_STUCK_READ_FILE_IO");
  startServer(mode && std::string(mode) == "loop" ? FileIo::Loop : FileIo::Async);
  expectOthersServedWhileAReadIsStuck();
}

// The same connection closes while its read is stuck: the read completes
// later into a session that is gone, harmlessly (ASan would see a use after
// free), the descriptors all close (CleanupChecker), and the loop goes on.
TEST_P(StuckFileReadTest, AReadWhoseConnectionClosedCompletesHarmlessly) {
  startServer(FileIo::Async);
  {
    RawClient a;
    startStuckRead(a);
    a.close();
  }
  ASSERT_TRUE(eventually([&] { return harness_->connections() == 0; }))
      << "the server never saw A close";
  RawClient b(harness_->address());
  ASSERT_TRUE(b.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(readOneResponse(b, 10000));
  unblock();  // the read completes now, for nobody
  // Wait until the orphaned read has taken the bytes, so the next read finds
  // the FIFO empty and ended whichever thread runs it.
  ASSERT_TRUE(eventually([&] {
    int queued = -1;
    return ::ioctl(reader_.get(), FIONREAD, &queued) == 0 && queued == 0;
  }));
  ASSERT_TRUE(b.sendAll("GET /slow.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto r = readOneResponse(b, 10000);
  ASSERT_TRUE(r);
  // The FIFO was emptied by the orphaned read and has ended: a short read of
  // a file whose size was announced, answered with an honest 500.
  EXPECT_EQ(r->status, 500);
}

// What --file-io loop costs, shown without hanging the suite: B's request
// cannot be answered while the loop thread sleeps in A's read, however long
// the test waits (here a moment), and it is answered only after A's file has
// its bytes. The order is certain; no timing decides it.
TEST_P(StuckFileReadTest, WithReadsOnTheLoopThreadEveryoneWaitsForTheStuckRead) {
  startServer(FileIo::Loop);
  RawClient a;
  startStuckRead(a);
  RawClient b(harness_->address());
  ASSERT_TRUE(b.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_FALSE(readOneResponse(b, 300))
      << "B was answered while the loop thread was blocked in a read?";
  unblock();
  const auto slow = readOneResponse(a, 10000);
  ASSERT_TRUE(slow);
  EXPECT_EQ(slow->body, kSlowContent);
  const auto hello = readOneResponse(b, 10000);
  ASSERT_TRUE(hello) << "B is answered once the loop is free again";
  EXPECT_EQ(hello->status, 200);
}

// A file read refused because the readers are full is answered 503 (with
// Retry-After), and the connection goes on (FileReadTest's unit test of the
// callback version, here through the server with each API). The readers are
// made full for good: a queue of 0 refuses every read that a worker has not
// taken -- and the worker has never taken any. The ring has no readers to
// fill: it never refuses a read.
TEST_P(StuckFileReadTest, AReadRefusedBecauseTheReadersAreFullIsAnswered503AndTheConnectionGoesOn) {
  if (backend().loop.backend == Backend::IoUring)
    GTEST_SKIP() << "io_uring reads on its ring: never refused";
  startServer(FileIo::Async, [](HttpServerOptions&, LoopOptions& loop) { loop.fileReadQueue = 0; });
  RawClient a(harness_->address());
  ASSERT_TRUE(a.sendAll("GET /slow.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto refused = readOneResponse(a, 10000);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_EQ(refused->header("retry-after"), "1");
  ASSERT_TRUE(a.sendAll("GET /hello HTTP/1.1\r\nHost: t\r\n\r\n"));
  const auto hello = readOneResponse(a, 10000);
  ASSERT_TRUE(hello) << "the connection did not go on after the 503";
  EXPECT_EQ(hello->status, 200);
}

// A chunk read that fails after the head went out (Content-Length promised)
// cuts the connection: the client sees a short body, never a wrong one
// (FileReadTest.AReadErrorAfterTheHeadIsOutCutsTheConnection, through the
// server with each API). The FIFO holds exactly the first chunk and has no
// writer left, so the first read gets it whole and the next one finds the end.
TEST_P(StuckFileReadTest, AReadFailingAfterTheHeadWentOutCutsTheConnection) {
  constexpr std::size_t kChunk = 8;
  static_assert(kChunk < 26, "the file must need more than one chunk");
  ASSERT_EQ(kSlowContent.size(), 26u);
  ASSERT_EQ(::write(writer_.get(), kSlowContent.data(), kChunk), static_cast<ssize_t>(kChunk));
  writer_.reset();
  startServer(FileIo::Async,
              [](HttpServerOptions& o, LoopOptions&) { o.limits.streamChunkBytes = kChunk; });
  RawClient a(harness_->address());
  ASSERT_TRUE(a.sendAll("GET /slow.txt HTTP/1.1\r\nHost: t\r\n\r\n"));
  // Everything until the server ends the connection (end of stream or reset).
  std::string wire;
  bool ended = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!ended && std::chrono::steady_clock::now() < deadline) {
    pollfd p{a.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(a.fd(), buf, sizeof buf, 0);
    if (n <= 0) {
      ended = true;
    } else {
      wire.append(buf, static_cast<std::size_t>(n));
    }
  }
  EXPECT_TRUE(ended) << "the connection was not cut; received: " << wire;
  EXPECT_NE(wire.find("Content-Length: 26\r\n"), std::string::npos) << wire;
  EXPECT_TRUE(wire.ends_with("\r\n\r\n" + kSlowContent.substr(0, kChunk)))
      << "the head went out with the first chunk only: " << wire;
}

INSTANTIATE_TEST_SUITE_P(BackendsAndApis, StuckFileReadTest,
                         testing::Combine(testing::ValuesIn(duet::test::testBackends()),
                                          testing::Values(app::ApiStyle::Callbacks,
                                                          app::ApiStyle::Coroutines)),
                         backendApiName);

}  // namespace
}  // namespace duet::http
