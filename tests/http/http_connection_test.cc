// HttpConnection without sockets: bytes in through a FakeTransport, response
// bytes out. Covers keep-alive, pipelining order, streaming with
// backpressure, the pipelining cap, 100-continue, errors and timeouts.
#include "apps/http/http_connection.h"

#include <gtest/gtest.h>

#include <random>

#include "apps/http/date_cache.h"
#include "apps/http/router.h"
#include "http_test_util.h"

namespace duet::http {
namespace {

using test::FakeTransport;
using test::parseResponses;
using test::TempDir;

class HttpConnectionTest : public ::testing::Test {
 protected:
  HttpConnectionTest() : router_(RouterOptions{.root = dir_.path().string()}) {
    context_.router = &router_;
    context_.limits.headerTimeout = std::chrono::seconds(10);
    context_.limits.keepAliveTimeout = std::chrono::seconds(30);
  }

  // Builds the connection lazily so tests can change limits first.
  HttpConnection& http() {
    if (!http_) http_ = std::make_unique<HttpConnection>(transport_, context_);
    return *http_;
  }
  void feed(std::string_view bytes) {
    transport_.in.append(bytes);
    http().onInput();
  }
  void feedByteByByte(std::string_view bytes) {
    for (char c : bytes) feed(std::string_view(&c, 1));
  }

  TempDir dir_;
  Router router_;
  HttpContext context_;
  FakeTransport transport_;
  std::unique_ptr<HttpConnection> http_;
};

// Date is the one header that changes between runs; blank it out.
std::string withoutDates(std::string wire) {
  for (std::size_t pos = 0; (pos = wire.find("Date: ", pos)) != std::string::npos;) {
    const std::size_t end = wire.find("\r\n", pos);
    wire.replace(pos + 6, end - pos - 6, "X");
    pos = end;
  }
  return wire;
}

const std::string kPipeline =
    "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
    "HEAD /hello HTTP/1.1\r\nHost: a\r\n\r\n"
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    "OPTIONS /hello HTTP/1.1\r\nHost: a\r\n\r\n"
    "DELETE /hello HTTP/1.1\r\nHost: a\r\n\r\n"
    "PROPFIND /hello HTTP/1.1\r\nHost: a\r\n\r\n"
    "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"
    "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

TEST_F(HttpConnectionTest, AnswersAPipelineInOrderAndClosesWhenAsked) {
  feed(kPipeline);
  const auto responses = parseResponses(transport_.out, {false, true});
  ASSERT_EQ(responses.size(), 8u);
  EXPECT_EQ(responses[0].status, 200);
  EXPECT_EQ(responses[0].body, Router::kHelloBody);
  EXPECT_EQ(responses[0].header("server"), "duet");
  EXPECT_TRUE(responses[0].has("date"));
  EXPECT_EQ(responses[1].status, 200);  // HEAD: same length, no body
  EXPECT_EQ(responses[1].header("content-length"), std::to_string(Router::kHelloBody.size()));
  EXPECT_EQ(responses[1].body, "");
  EXPECT_EQ(responses[2].body, "hello");
  EXPECT_EQ(responses[3].status, 204);
  EXPECT_EQ(responses[3].header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(responses[4].status, 405);
  EXPECT_EQ(responses[4].header("allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(responses[5].status, 501);
  EXPECT_EQ(responses[6].status, 404);
  EXPECT_EQ(responses[7].status, 200);
  EXPECT_EQ(responses[7].header("connection"), "close");
  EXPECT_TRUE(transport_.shutdownCalled);
  EXPECT_FALSE(responses[0].has("connection"));  // 1.1 keep-alive is implicit
}

TEST_F(HttpConnectionTest, ByteByByteAndRandomSplitsGiveTheSameBytes) {
  feed(kPipeline);
  const std::string whole = withoutDates(transport_.out);

  FakeTransport t2;
  HttpConnection c2(t2, context_);
  for (char c : kPipeline) {
    t2.in.append(&c, 1);
    c2.onInput();
  }
  EXPECT_EQ(withoutDates(t2.out), whole);

  for (unsigned seed = 1; seed <= 50; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937 rng(seed);
    FakeTransport t;
    HttpConnection c(t, context_);
    for (std::size_t pos = 0; pos < kPipeline.size();) {
      const std::size_t n = std::min<std::size_t>(
          std::uniform_int_distribution<std::size_t>(1, 40)(rng), kPipeline.size() - pos);
      t.in.append(kPipeline.data() + pos, n);
      pos += n;
      c.onInput();
    }
    EXPECT_EQ(withoutDates(t.out), whole);
  }
}

TEST_F(HttpConnectionTest, Http10ClosesUnlessKeepAlive) {
  feed("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].header("connection"), "keep-alive");
  EXPECT_FALSE(transport_.shutdownCalled);
  feed("GET /hello HTTP/1.0\r\n\r\n");
  r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].header("connection"), "close");
  EXPECT_TRUE(transport_.shutdownCalled);
}

TEST_F(HttpConnectionTest, MalformedRequestGets400ThenCloseAndLaterInputIsIgnored) {
  feed(
      "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nBad Header\r\n\r\nGET /hello "
      "HTTP/1.1\r\nHost: a\r\n\r\n");
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[1].status, 400);
  EXPECT_EQ(r[1].header("connection"), "close");
  EXPECT_TRUE(transport_.shutdownCalled);
  const std::size_t before = transport_.out.size();
  feed("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");  // after the FIN: read and dropped
  EXPECT_EQ(transport_.out.size(), before);
  EXPECT_TRUE(transport_.in.empty());
}

TEST_F(HttpConnectionTest, SmugglingAttemptIsRefusedAndTheHiddenRequestNeverAnswered) {
  // If the server believed Content-Length, "GET /smuggled" would be a second request.
  feedByteByByte(
      "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 30\r\n\r\n"
      "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 400);
  EXPECT_TRUE(transport_.shutdownCalled);
}

// The request that ends the connection (an Upgrade or CONNECT we do not
// follow, or Connection: close) is the last one answered, whether the
// requests after it were parsed while its response was still held back or
// never parsed at all. Found by the fuzzer (tests/fuzz/known/
// http-extra-400-when-split): with the output held, the parser was asked
// again after an Upgrade and produced an empty request, answered with 400.
TEST_F(HttpConnectionTest,
       NothingIsAnsweredAfterTheRequestThatEndsTheConnectionWhateverTheOutputPace) {
  context_.limits.outputHighWater = 1;  // any held byte makes the next request wait
  for (const std::string last :
       {"Upgrade: websocket\r\nConnection: Upgrade\r\n", "Connection: close\r\n"}) {
    SCOPED_TRACE(last);
    const std::string wire =
        "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /hello HTTP/1.1\r\nHost: a\r\n" +
        last +
        "\r\n"
        "GET /missing HTTP/1.1\r\nHost: a\r\n\r\n"
        "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
    FakeTransport fast;  // output taken at once
    HttpConnection c1(fast, context_);
    fast.in.append(wire);
    c1.onInput();
    const auto r = parseResponses(fast.out);
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[1].status, 200);
    EXPECT_EQ(r[1].header("connection"), "close");

    for (const bool byteByByte : {false, true}) {
      FakeTransport slow;  // output held until drained: requests queue up behind it
      slow.holdOutput = true;
      HttpConnection c2(slow, context_);
      if (byteByByte) {
        for (char c : wire) {
          slow.in.append(&c, 1);
          c2.onInput();
        }
      } else {
        slow.in.append(wire);
        c2.onInput();
      }
      slow.runUntilQuiet(c2);
      EXPECT_EQ(withoutDates(slow.out), withoutDates(fast.out))
          << (byteByByte ? "byte by byte" : "whole");
    }
  }
}

TEST_F(HttpConnectionTest, ExpectContinueSends100BeforeTheFinalResponse) {
  feed("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  EXPECT_EQ(transport_.out, "HTTP/1.1 100 Continue\r\n\r\n");
  feed("ping");
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 100);
  EXPECT_EQ(r[1].status, 200);
  EXPECT_EQ(r[1].body, "ping");
}

TEST_F(HttpConnectionTest, ExpectContinueWithTooLargeBodyGets413Without100) {
  context_.limits.maxBodyBytes = 10;
  feed("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n");
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 413);
  EXPECT_TRUE(transport_.shutdownCalled);
}

TEST_F(HttpConnectionTest, LargeFileIsStreamedWithBackpressureAndLaterResponsesWait) {
  std::string content(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < content.size(); ++i)
    content[i] = static_cast<char>('a' + (i * 7) % 26);
  dir_.write("big.bin", content);
  transport_.holdOutput = true;  // the "kernel" takes nothing until drain()
  feed("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  // Only up to the stream high-water mark (plus one chunk) was read from the file.
  EXPECT_LE(transport_.pending,
            context_.limits.streamHighWater + context_.limits.streamChunkBytes + 1024);
  EXPECT_TRUE(http().streaming());
  EXPECT_EQ(http().waitingRequests(), 1u);
  transport_.runUntilQuiet(http());
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[0].header("content-type"), "application/octet-stream");
  EXPECT_TRUE(r[0].body == content) << "streamed body differs";
  EXPECT_EQ(r[1].body, Router::kHelloBody);
  EXPECT_FALSE(http().streaming());
}

TEST_F(HttpConnectionTest, AFastReaderStillYieldsTheLoopBetweenChunks) {
  dir_.write("big.bin", std::string(8 * 1024 * 1024, 'z'));
  feed("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");  // output taken at once (holdOutput false)
  EXPECT_TRUE(http().streaming());
  EXPECT_EQ(transport_.deferred.size(), 1u) << "the stream should continue on a later turn";
  transport_.runUntilQuiet(http());
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].body.size(), 8u * 1024 * 1024);
}

// The send timeout is for a peer that stopped reading, not for a slow one: a
// peer that takes part of the output now and then (the kernel never reports
// the output fully drained, so no onWriteComplete) is making progress, as the
// engine's idle eviction already counts it.
TEST_F(HttpConnectionTest, APeerReadingSlowlyIsNotClosedBySendTimeout) {
  context_.limits.sendTimeout = std::chrono::seconds(60);
  context_.limits.streamChunkBytes = 1024;
  context_.limits.streamHighWater = 2048;
  const std::string content(1024 * 1024, 's');  // over the inline limit: streamed
  dir_.write("big.bin", content);
  transport_.holdOutput = true;
  feed("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(http().streaming());
  for (int sweep = 0; sweep < 10; ++sweep) {  // 300 s, 100 bytes read every 30 s
    ASSERT_GT(transport_.pending, 100u);
    transport_.pending -= 100;
    transport_.clock += std::chrono::seconds(30);
    http().onTimer();
    ASSERT_FALSE(transport_.forceClosed)
        << "closed after " << (sweep + 1) * 30 << " s of slow but steady reading";
  }
  transport_.runUntilQuiet(http());
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_TRUE(r[0].body == content);
}

TEST_F(HttpConnectionTest, APeerThatStopsReadingIsClosedAfterSendTimeout) {
  context_.limits.sendTimeout = std::chrono::seconds(60);
  context_.limits.streamChunkBytes = 1024;
  context_.limits.streamHighWater = 2048;
  dir_.write("big.bin", std::string(1024 * 1024, 's'));  // streamed
  transport_.holdOutput = true;
  feed("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
  transport_.pending -= 100;  // read a little, then nothing more
  transport_.clock += std::chrono::seconds(30);
  http().onTimer();
  EXPECT_FALSE(transport_.forceClosed);
  transport_.clock += std::chrono::seconds(59);
  http().onTimer();
  EXPECT_FALSE(transport_.forceClosed) << "59 s since the last progress";
  transport_.clock += std::chrono::seconds(1);
  http().onTimer();
  EXPECT_TRUE(transport_.forceClosed) << "60 s without progress";
  EXPECT_TRUE(http().streaming()) << "the body was cut short, as the client will see";
}

TEST_F(HttpConnectionTest, PipeliningCapStopsReadingUntilResponsesDrain) {
  context_.limits.maxPipelined = 4;
  context_.limits.outputHighWater = 1;  // any pending output blocks further answers
  transport_.holdOutput = true;
  std::string burst;
  for (int i = 0; i < 10; ++i) burst += "GET /hello HTTP/1.1\r\nHost: a\r\n\r\n";
  feed(burst);
  // One answered (output then "full"), four waiting, the rest left unparsed.
  EXPECT_EQ(parseResponses(transport_.out).size(), 1u);
  EXPECT_EQ(http().waitingRequests(), 4u);
  EXPECT_FALSE(transport_.reading);
  EXPECT_FALSE(transport_.in.empty());
  while (transport_.pending > 0) transport_.drain(http());
  EXPECT_EQ(parseResponses(transport_.out).size(), 10u);
  EXPECT_TRUE(transport_.reading);
  EXPECT_GE(transport_.startReadingCalls, 1);
}

TEST_F(HttpConnectionTest, SlowHeadersGet408ThenClose) {
  feed("GET /hello HTTP/1.1\r\nHo");
  transport_.clock += std::chrono::seconds(5);
  feed("st: a\r\n");  // trickling bytes do not extend the deadline
  http().onTimer();
  EXPECT_TRUE(transport_.out.empty());
  transport_.clock += std::chrono::seconds(6);
  http().onTimer();
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 408);
  EXPECT_TRUE(transport_.shutdownCalled);
  // The peer never closes: the linger timeout closes hard.
  EXPECT_FALSE(transport_.forceClosed);
  transport_.clock += context_.limits.lingerTimeout;
  http().onTimer();
  EXPECT_TRUE(transport_.forceClosed);
}

// RFC 9112 6.3: a body that stops short of its length is an incomplete
// message: never answered as a request, and the connection closes (408).
TEST_F(HttpConnectionTest, IncompleteBodyIsNeverAnsweredAndTimesOutWith408) {
  feed("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_TRUE(transport_.out.empty());
  transport_.clock += context_.limits.headerTimeout;
  http().onTimer();
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 408);
  EXPECT_EQ(r[0].header("connection"), "close");
  EXPECT_TRUE(transport_.shutdownCalled);
}

TEST_F(HttpConnectionTest, IdleKeepAliveConnectionIsClosed) {
  feed("GET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  transport_.clock += context_.limits.keepAliveTimeout - std::chrono::seconds(1);
  http().onTimer();
  EXPECT_FALSE(transport_.forceClosed);
  transport_.clock += std::chrono::seconds(1);
  http().onTimer();
  EXPECT_TRUE(transport_.forceClosed);
  EXPECT_EQ(parseResponses(transport_.out).size(), 1u);  // no 408 for an idle connection
}

TEST_F(HttpConnectionTest, ClosedConnectionReleasesItsStream) {
  dir_.write("big.bin", std::string(2 * 1024 * 1024, 'q'));
  transport_.holdOutput = true;
  feed("GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_TRUE(http().streaming());
  http().onClosed();
  EXPECT_FALSE(http().streaming());
  transport_.drain(http());  // late events after the close are ignored
}

TEST(DateCache, FormatsOncePerSecond) {
  DateCache cache;
  EXPECT_EQ(cache.get(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(cache.get(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(cache.formatCount(), 1u);
  EXPECT_EQ(cache.get(784111778), "Sun, 06 Nov 1994 08:49:38 GMT");
  EXPECT_EQ(cache.formatCount(), 2u);
}

TEST(DateCache, ParsesTheThreeHttpDateForms) {
  EXPECT_EQ(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), 784111777);
  EXPECT_EQ(parseHttpDate("Sun Nov  6 08:49:37 1994"), 784111777);
  EXPECT_FALSE(parseHttpDate("yesterday"));
}

// ---- File bodies read through Transport::readFile (issue 13, item 4) ----
//
// With asynchronous file reads the router hands every file over as a
// descriptor (inlineFileLimit 0, as HttpServer sets it), and the response
// head waits for the first chunk. These tests drive the reads by hand.
class FileReadTest : public HttpConnectionTest {
 protected:
  FileReadTest()
      : asyncRouter_(
            RouterOptions{.root = dir_.path().string(), .statsJson = {}, .inlineFileLimit = 0}) {
    context_.router = &asyncRouter_;
    dir_.write("a.txt", "0123456789");
  }
  // Reads are held here until the test completes them.
  void holdReads() {
    transport_.readFileHook = [this](const SharedFd& file, std::uint64_t offset, std::size_t length,
                                     FileReadCallback done) {
      held_.push_back({file, offset, length, std::move(done)});
    };
  }
  struct HeldRead {
    SharedFd file;
    std::uint64_t offset;
    std::size_t length;
    FileReadCallback done;
  };
  Router asyncRouter_;
  std::vector<HeldRead> held_;
};

TEST_F(FileReadTest, AReadThatCompletesLaterKeepsResponsesInOrder) {
  holdReads();
  feed("GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(held_.size(), 1u);
  EXPECT_EQ(transport_.out, "")
      << "nothing may go out before the file's first chunk: its head waits for it";
  HeldRead read = std::move(held_[0]);
  read.done(readFileBlocking(read.file->get(), read.offset, read.length));
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 200);
  EXPECT_EQ(r[0].body, "0123456789");
  EXPECT_EQ(r[1].body, Router::kHelloBody);
}

TEST_F(FileReadTest, AReadRefusedAsOverloadedIsAnswered503AndTheConnectionGoesOn) {
  transport_.readFileHook = [](const SharedFd&, std::uint64_t, std::size_t, FileReadCallback done) {
    done(FileReadResult{EBUSY, {}});
  };
  feed("GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 503);
  EXPECT_EQ(r[0].header("retry-after"), "1");
  EXPECT_EQ(r[1].status, 200);
  EXPECT_FALSE(transport_.forceClosed);
  EXPECT_FALSE(transport_.shutdownCalled);
}

TEST_F(FileReadTest, AReadErrorBeforeTheHeadIsOutIsAnswered500) {
  transport_.readFileHook = [](const SharedFd&, std::uint64_t, std::size_t, FileReadCallback done) {
    done(FileReadResult{EIO, {}});
  };
  feed("GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\nGET /hello HTTP/1.1\r\nHost: a\r\n\r\n");
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status, 500);
  EXPECT_EQ(r[1].status, 200);
  EXPECT_FALSE(transport_.forceClosed);
}

TEST_F(FileReadTest, AFileThatShrankBeforeItsFirstChunkIsAnswered500) {
  // The size was taken (Content-Length 10), then the file lost bytes: the read is short.
  transport_.readFileHook = [this](const SharedFd& file, std::uint64_t offset, std::size_t length,
                                   FileReadCallback done) {
    EXPECT_EQ(::truncate((dir_.path() / "a.txt").c_str(), 3), 0);
    done(readFileBlocking(file->get(), offset, length));
  };
  feed("GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\n");
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 500);
}

TEST_F(FileReadTest, AReadErrorAfterTheHeadIsOutCutsTheConnection) {
  context_.limits.streamChunkBytes = 4;
  int reads = 0;
  transport_.readFileHook = [&](const SharedFd& file, std::uint64_t offset, std::size_t length,
                                FileReadCallback done) {
    if (++reads == 1) {
      done(readFileBlocking(file->get(), offset, length));
    } else {
      done(FileReadResult{EIO, {}});
    }
  };
  feed("GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_TRUE(transport_.forceClosed) << "a 200 with Content-Length 10 cannot be finished: cut it";
  EXPECT_NE(transport_.out.find("Content-Length: 10\r\n"), std::string::npos);
  EXPECT_TRUE(transport_.out.ends_with("\r\n\r\n0123"))
      << "the head went out with the first chunk only";
}

TEST_F(FileReadTest, AReadCompletingAfterTheConnectionClosedIsIgnored) {
  holdReads();
  feed("GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_EQ(held_.size(), 1u);
  http().onClosed();
  HeldRead read = std::move(held_[0]);
  read.done(readFileBlocking(read.file->get(), read.offset, read.length));
  EXPECT_EQ(transport_.out, "");
  EXPECT_FALSE(http().streaming());
}

TEST_F(FileReadTest, LargeFilesStreamThroughReadsWithTheHeadOnTheFirstChunk) {
  context_.limits.streamChunkBytes = 1000;
  const std::string content = std::string(4500, 'x') + "end";
  dir_.write("big.bin", content);
  int reads = 0;
  transport_.readFileHook = [&](const SharedFd& file, std::uint64_t offset, std::size_t length,
                                FileReadCallback done) {
    ++reads;
    done(readFileBlocking(file->get(), offset, length));
  };
  feed("GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=1-\r\n\r\n");
  transport_.runUntilQuiet(http());
  const auto r = parseResponses(transport_.out);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 206);
  EXPECT_TRUE(r[0].body == content.substr(1));
  EXPECT_EQ(reads, 5);
}

}  // namespace
}  // namespace duet::http
