// duet-load's HTTP/1.1 response framing: whatever pieces the socket delivers,
// every response ends exactly where its Content-Length says, and anything the
// reader cannot frame exactly is an error rather than a wrong count.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "http_response.h"

namespace duetload {
namespace {

using Result = HttpResponseReader::Result;

const std::string kOk =
    "HTTP/1.1 200 OK\r\nServer: duet-http\r\nContent-Type: text/plain\r\nContent-Length: "
    "13\r\n\r\nHello, world!";

struct Fed {
  std::vector<int> statuses;  // one per complete response
  std::vector<size_t> bytes;
  Result last = Result::kNeedMore;
  std::string error;
};

// Feeds `input` in pieces of the given sizes (the last piece takes the rest),
// stopping at the first error, and checks every byte is consumed exactly once.
Fed feedInPieces(HttpResponseReader& reader, const std::string& input,
                 const std::vector<size_t>& pieces) {
  Fed out;
  size_t at = 0;
  size_t piece = 0;
  while (at < input.size()) {
    size_t len =
        piece < pieces.size() ? std::min(pieces[piece], input.size() - at) : input.size() - at;
    ++piece;
    const char* p = input.data() + at;
    size_t used = 0;
    while (used < len) {
      const size_t before = used;
      out.last = reader.feed(p + used, len - used, used);
      EXPECT_GE(used, before);
      EXPECT_LE(used, len);
      if (out.last == Result::kError) {
        out.error = reader.error();
        return out;
      }
      if (out.last == Result::kComplete) {
        out.statuses.push_back(reader.status());
        out.bytes.push_back(reader.bytes());
      } else {
        EXPECT_EQ(used, len) << "kNeedMore must consume everything it was given";
      }
    }
    at += len;
  }
  return out;
}

Fed feedWhole(const std::string& input) {
  HttpResponseReader reader;
  return feedInPieces(reader, input, {});
}

TEST(HttpResponseReader, WholeResponse) {
  HttpResponseReader reader;
  EXPECT_TRUE(reader.idle());
  size_t used = 0;
  ASSERT_EQ(reader.feed(kOk.data(), kOk.size(), used), Result::kComplete);
  EXPECT_EQ(used, kOk.size());
  EXPECT_EQ(reader.status(), 200);
  EXPECT_EQ(reader.bytes(), kOk.size());
  EXPECT_TRUE(reader.idle());
}

TEST(HttpResponseReader, ByteByByte) {
  HttpResponseReader reader;
  size_t completes = 0;
  for (size_t i = 0; i < kOk.size(); ++i) {
    size_t used = 0;
    const Result r = reader.feed(kOk.data() + i, 1, used);
    EXPECT_EQ(used, 1u) << "at byte " << i;
    if (i + 1 < kOk.size()) {
      ASSERT_EQ(r, Result::kNeedMore) << "at byte " << i;
      EXPECT_FALSE(reader.idle()) << "at byte " << i;
    } else {
      ASSERT_EQ(r, Result::kComplete);
      ++completes;
    }
  }
  EXPECT_EQ(completes, 1u);
  EXPECT_EQ(reader.status(), 200);
  EXPECT_EQ(reader.bytes(), kOk.size());
  EXPECT_TRUE(reader.idle());
}

TEST(HttpResponseReader, RandomSplitsOfPipelinedResponses) {
  const std::string notFound = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found";
  const std::string noContent = "HTTP/1.1 204 No Content\r\nX: y\r\n\r\n";
  const std::string big =
      "HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n" + std::string(5000, 'x');
  const std::string input = kOk + notFound + noContent + big + kOk;
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::vector<size_t> pieces;
    std::uniform_int_distribution<size_t> size(1, round % 2 ? 8 : 700);
    for (size_t total = 0; total < input.size();) {
      pieces.push_back(size(rng));
      total += pieces.back();
    }
    HttpResponseReader reader;
    const Fed fed = feedInPieces(reader, input, pieces);
    ASSERT_EQ(fed.last, Result::kComplete) << "round " << round << ": " << fed.error;
    EXPECT_EQ(fed.statuses, (std::vector<int>{200, 404, 204, 200, 200})) << "round " << round;
    EXPECT_EQ(fed.bytes, (std::vector<size_t>{kOk.size(), notFound.size(), noContent.size(),
                                              big.size(), kOk.size()}))
        << "round " << round;
    EXPECT_TRUE(reader.idle());
  }
}

TEST(HttpResponseReader, PipelinedResponsesInOneBufferLeaveTheRestUntouched) {
  const std::string second = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 3\r\n\r\nbad";
  const std::string partial = "HTTP/1.1 200 OK\r\nContent-Le";
  const std::string input = kOk + second + kOk + partial;
  HttpResponseReader reader;
  size_t used = 0;
  ASSERT_EQ(reader.feed(input.data(), input.size(), used), Result::kComplete);
  EXPECT_EQ(used, kOk.size()) << "the next response must be left in the buffer";
  EXPECT_EQ(reader.status(), 200);
  EXPECT_EQ(reader.bytes(), kOk.size());

  ASSERT_EQ(reader.feed(input.data() + used, input.size() - used, used), Result::kComplete);
  EXPECT_EQ(used, kOk.size() + second.size());
  EXPECT_EQ(reader.status(), 500);
  EXPECT_EQ(reader.bytes(), second.size());

  ASSERT_EQ(reader.feed(input.data() + used, input.size() - used, used), Result::kComplete);
  EXPECT_EQ(used, 2 * kOk.size() + second.size());
  EXPECT_EQ(reader.status(), 200);

  // The start of a fourth one: taken, but not complete.
  ASSERT_EQ(reader.feed(input.data() + used, input.size() - used, used), Result::kNeedMore);
  EXPECT_EQ(used, input.size());
  EXPECT_FALSE(reader.idle());
  const std::string rest = "ngth: 2\r\n\r\nok";
  used = 0;
  ASSERT_EQ(reader.feed(rest.data(), rest.size(), used), Result::kComplete);
  EXPECT_EQ(used, rest.size());
  EXPECT_EQ(reader.bytes(), partial.size() + rest.size());
}

TEST(HttpResponseReader, NoContentAndNotModifiedNeedNoContentLength) {
  for (const std::string head :
       {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"}) {
    // Followed by another response: the empty body must not swallow it.
    const Fed fed = feedWhole(head + kOk);
    ASSERT_EQ(fed.last, Result::kComplete) << head << fed.error;
    ASSERT_EQ(fed.statuses.size(), 2u) << head;
    EXPECT_EQ(fed.bytes[0], head.size());
    EXPECT_EQ(fed.statuses[1], 200);
  }
}

TEST(HttpResponseReader, ZeroContentLength) {
  const std::string empty = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  const Fed fed = feedWhole(empty + kOk);
  ASSERT_EQ(fed.last, Result::kComplete) << fed.error;
  EXPECT_EQ(fed.bytes, (std::vector<size_t>{empty.size(), kOk.size()}));
}

void expectError(const std::string& input, const std::string& why) {
  // Whole and byte by byte: the error does not depend on how the bytes arrive.
  for (bool byteByByte : {false, true}) {
    HttpResponseReader reader;
    const Fed fed = feedInPieces(
        reader, input, byteByByte ? std::vector<size_t>(input.size(), 1) : std::vector<size_t>{});
    EXPECT_EQ(fed.last, Result::kError)
        << why << (byteByByte ? " (byte by byte)" : "") << ": " << input.substr(0, 80);
    EXPECT_TRUE(fed.statuses.empty()) << why;
    EXPECT_FALSE(fed.error.empty()) << why;
  }
}

TEST(HttpResponseReader, Errors) {
  expectError("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
              "chunked");
  expectError("HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody until close", "200 without Content-Length");
  expectError("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", "non-numeric Content-Length");
  expectError("HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
              "trailing garbage in Content-Length");
  expectError("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", "empty Content-Length");
  expectError("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "negative Content-Length");
  expectError("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
              "overflowing Content-Length");
  expectError("HTTP/1.1 200 OK\r\nX-Big: " + std::string(HttpResponseReader::kMaxHead + 100, 'a') +
                  "\r\nContent-Length: 0\r\n\r\n",
              "head larger than 16 KiB");
  // A head that never ends: the error comes once the limit is passed, not never.
  expectError("HTTP/1.1 200 OK\r\nX-Big: " + std::string(HttpResponseReader::kMaxHead + 100, 'a'),
              "unterminated head larger than 16 KiB");
  expectError("garbage\r\n\r\n", "garbage status line");
  expectError("HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n", "status line without a code");
  expectError("HTTP/1.1 999 Huh\r\nContent-Length: 0\r\n\r\n", "status code out of range");
  expectError("SSH-2.0-OpenSSH_9.6\r\n\r\n", "another protocol");
}

TEST(HttpResponseReader, HeadJustUnderTheLimitIsAccepted) {
  const std::string prefix = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Pad: ";
  const std::string suffix = "\r\n\r\n";
  const std::string head =
      prefix + std::string(HttpResponseReader::kMaxHead - prefix.size() - suffix.size(), 'p') +
      suffix;
  ASSERT_EQ(head.size(), HttpResponseReader::kMaxHead);
  const Fed fed = feedWhole(head + "ok" + kOk);
  ASSERT_EQ(fed.last, Result::kComplete) << fed.error;
  EXPECT_EQ(fed.bytes, (std::vector<size_t>{head.size() + 2, kOk.size()}));
}

// Churn mode (one request per connection): a body without Content-Length
// runs until the server closes, and only then is the response complete.
TEST(HttpResponseReader, BodyUntilCloseEndsAtTheClose) {
  const std::string head = "HTTP/1.1 200 OK\r\nServer: x\r\nConnection: close\r\n\r\n";
  const std::string body = "body until close";
  const std::string input = head + body;
  for (bool byteByByte : {false, true}) {
    HttpResponseReader reader;
    reader.allowBodyUntilClose();
    EXPECT_FALSE(reader.finishAtClose()) << "nothing read yet: a close here is no response";
    const Fed fed = feedInPieces(
        reader, input, byteByByte ? std::vector<size_t>(input.size(), 1) : std::vector<size_t>{});
    ASSERT_EQ(fed.last, Result::kNeedMore) << fed.error;
    EXPECT_TRUE(fed.statuses.empty()) << "complete before the close";
    EXPECT_FALSE(reader.idle());
    ASSERT_TRUE(reader.finishAtClose());
    EXPECT_EQ(reader.status(), 200);
    EXPECT_EQ(reader.bytes(), input.size());
    EXPECT_TRUE(reader.idle());
    EXPECT_FALSE(reader.finishAtClose()) << "the response ends once";
  }
}

TEST(HttpResponseReader, BodyUntilCloseStillTakesContentLengthWhenThereIsOne) {
  HttpResponseReader reader;
  reader.allowBodyUntilClose();
  const Fed fed = feedInPieces(reader, kOk, {});
  ASSERT_EQ(fed.last, Result::kComplete) << fed.error;
  EXPECT_EQ(fed.bytes, (std::vector<size_t>{kOk.size()}));
  EXPECT_FALSE(reader.finishAtClose()) << "a close after a framed response completes nothing";
}

TEST(HttpResponseReader, CloseInsideAFramedBodyIsNotAResponse) {
  HttpResponseReader reader;
  reader.allowBodyUntilClose();
  const std::string cut = kOk.substr(0, kOk.size() - 3);
  const Fed fed = feedInPieces(reader, cut, {});
  ASSERT_EQ(fed.last, Result::kNeedMore) << fed.error;
  EXPECT_FALSE(reader.finishAtClose()) << "Content-Length promised 3 more bytes";
  EXPECT_FALSE(reader.idle());
}

}  // namespace
}  // namespace duetload
