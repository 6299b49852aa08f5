// RequestParser: llhttp wrapped with limits, fed whole, byte by byte and in
// random splits. Every split must give the same requests and the same errors.
#include "apps/http/request_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

// ""s: a literal with an embedded NUL keeps all its bytes (no hand-counted lengths).
using namespace std::string_literals;

namespace duet::http {
namespace {

struct Outcome {
  std::vector<HttpRequest> requests;
  int continues = 0;
  int error = 0;
};

// Feeds `wire` to a parser in pieces of the given sizes (the last piece takes
// the rest), keeping unconsumed bytes like the connection's Buffer does.
Outcome feed(const std::string& wire, const std::vector<std::size_t>& pieces,
             const HttpLimits& limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  std::string pending;
  std::size_t pos = 0;
  std::size_t piece = 0;
  while (pos < wire.size() || !pending.empty()) {
    if (pos < wire.size()) {
      const std::size_t n =
          piece < pieces.size() ? std::min(pieces[piece++], wire.size() - pos) : wire.size() - pos;
      pending.append(wire, pos, n);
      pos += n;
    }
    for (;;) {
      std::size_t consumed = 0;
      const auto result = parser.parse(pending, &consumed);
      pending.erase(0, consumed);
      if (result == RequestParser::Result::Request) {
        out.requests.push_back(std::move(parser.request()));
        parser.resetRequest();
        if (pending.empty()) break;
        continue;
      }
      if (result == RequestParser::Result::ContinueExpected) {
        ++out.continues;
        continue;
      }
      if (result == RequestParser::Result::Error) {
        out.error = parser.errorStatus();
        return out;
      }
      break;  // NeedMore
    }
    if (pos >= wire.size() && !pending.empty()) {
      // No more input will come: whatever is left is an incomplete request.
      break;
    }
  }
  return out;
}

Outcome feedWhole(const std::string& wire, const HttpLimits& limits = {}) {
  return feed(wire, {wire.size()}, limits);
}

Outcome feedByteByByte(const std::string& wire, const HttpLimits& limits = {}) {
  return feed(wire, std::vector<std::size_t>(wire.size(), 1), limits);
}

Outcome feedRandomly(const std::string& wire, unsigned seed, const HttpLimits& limits = {}) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(1, 17);
  std::vector<std::size_t> pieces;
  for (std::size_t total = 0; total < wire.size();) {
    pieces.push_back(size(rng));
    total += pieces.back();
  }
  return feed(wire, pieces, limits);
}

void expectSame(const Outcome& a, const Outcome& b) {
  ASSERT_EQ(a.requests.size(), b.requests.size());
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.continues, b.continues);
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    const HttpRequest& x = a.requests[i];
    const HttpRequest& y = b.requests[i];
    EXPECT_EQ(x.method, y.method);
    EXPECT_EQ(x.target, y.target);
    EXPECT_EQ(x.body, y.body);
    EXPECT_EQ(x.keepAlive, y.keepAlive);
    ASSERT_EQ(x.headers.size(), y.headers.size());
    for (std::size_t h = 0; h < x.headers.size(); ++h) {
      EXPECT_EQ(x.headers[h].name, y.headers[h].name);
      EXPECT_EQ(x.headers[h].value, y.headers[h].value);
    }
  }
}

const std::string kPipeline =
    "GET /hello?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n"
    "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    "\r\n"  // a stray CRLF between requests is tolerated (RFC 9112 2.2)
    "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n"
    "HEAD /f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    "GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";

TEST(RequestParser, ParsesAPipelineOfRequests) {
  const Outcome out = feedWhole(kPipeline);
  EXPECT_EQ(out.error, 0);
  ASSERT_EQ(out.requests.size(), 5u);
  EXPECT_EQ(out.requests[0].method, Method::Get);
  EXPECT_EQ(out.requests[0].target, "/hello?x=1");
  EXPECT_EQ(out.requests[0].path(), "/hello");
  EXPECT_EQ(out.requests[0].header("user-agent"), "t");
  EXPECT_TRUE(out.requests[0].keepAlive);
  EXPECT_EQ(out.requests[1].body, "hello");
  EXPECT_EQ(out.requests[2].body, "abcdefg");
  EXPECT_FALSE(out.requests[2].hasHeader("x-trailer"));  // trailers are kept apart (RFC 9110 6.5.1)
  ASSERT_EQ(out.requests[2].trailers.size(), 1u);
  EXPECT_EQ(out.requests[2].trailers[0].value, "t");
  EXPECT_EQ(out.requests[3].method, Method::Head);
  EXPECT_TRUE(out.requests[3].isHttp10());
  EXPECT_TRUE(out.requests[3].keepAlive);
  EXPECT_EQ(out.requests[4].target, "/last");
  EXPECT_FALSE(out.requests[4].keepAlive);
}

TEST(RequestParser, ByteByByteParsesTheSame) {
  expectSame(feedWhole(kPipeline), feedByteByByte(kPipeline));
}

TEST(RequestParser, RandomSplitsParseTheSame) {
  const Outcome whole = feedWhole(kPipeline);
  for (unsigned seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE(seed);
    expectSame(whole, feedRandomly(kPipeline, seed));
  }
}

TEST(RequestParser, Http10ClosesByDefault) {
  const Outcome out = feedWhole("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 1u);
  EXPECT_FALSE(out.requests[0].keepAlive);
}

TEST(RequestParser, ExpectContinueIsReportedBeforeTheBody) {
  const std::string wire =
      "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc";
  for (const Outcome& out : {feedWhole(wire), feedByteByByte(wire)}) {
    EXPECT_EQ(out.continues, 1);
    ASSERT_EQ(out.requests.size(), 1u);
    EXPECT_EQ(out.requests[0].body, "abc");
  }
}

struct BadCase {
  const char* name;
  std::string wire;
  int status;
};

class RequestParserErrors : public ::testing::TestWithParam<BadCase> {};

TEST_P(RequestParserErrors, AnswersTheRightStatusWhateverTheSplit) {
  HttpLimits limits;
  limits.maxUrlBytes = 64;
  limits.maxHeaderBytes = 256;
  limits.maxHeaderCount = 8;
  limits.maxBodyBytes = 16;
  const BadCase& c = GetParam();
  EXPECT_EQ(feedWhole(c.wire, limits).error, c.status);
  EXPECT_EQ(feedByteByByte(c.wire, limits).error, c.status);
  for (unsigned seed = 1; seed <= 20; ++seed)
    EXPECT_EQ(feedRandomly(c.wire, seed, limits).error, c.status);
}

std::string manyHeaders(int n) {
  std::string s = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < n; ++i) s += "X-" + std::to_string(i) + ": v\r\n";
  return s + "\r\n";
}

INSTANTIATE_TEST_SUITE_P(
    All, RequestParserErrors,
    ::testing::Values(
        BadCase{"Garbage", "\x01\x02\x03 / HTTP/1.1\r\n\r\n", 400},
        BadCase{"BadVersion", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"HeaderWithoutColon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 400},
        BadCase{"UnknownMethod", "FROBNICATE / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        BadCase{"NoHostIn11", "GET / HTTP/1.1\r\n\r\n", 400},
        BadCase{"Http2Version", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
        BadCase{"UriTooLong", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n",
                414},
        BadCase{"HeadersTooLarge",
                "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'v') + "\r\n\r\n", 431},
        BadCase{"TooManyHeaders", manyHeaders(20), 431},
        BadCase{"BodyTooLarge", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 17\r\n\r\n",
                413},
        BadCase{"ChunkedBodyTooLarge",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
                "chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\nx\r\n0\r\n\r\n",
                413},
        BadCase{"UnsupportedTransferEncoding",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        BadCase{"SmugglingClThenTe",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: "
                "chunked\r\n\r\n0\r\n\r\n",
                400},
        BadCase{"SmugglingTeThenCl",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
                "4\r\n\r\n0\r\n\r\n",
                400},
        BadCase{
            "DuplicateDifferingContentLength",
            "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            400},
        BadCase{"ChunkedNotLast",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n",
                400},
        BadCase{"GzipThenChunked",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
        BadCase{"BadChunkSize",
                "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        BadCase{"NegativeContentLength",
                "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
        BadCase{"UnknownExpectation",
                "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx",
                417}),
    [](const auto& param) { return std::string(param.param.name); });

TEST(RequestParser, EndlessWhitespaceInTheHeadIsStillBounded) {
  HttpLimits limits;
  limits.maxUrlBytes = 64;
  limits.maxHeaderBytes = 256;
  // Spaces inside a header value before its end: never delivered as a span
  // until the value ends, but counted as raw head bytes.
  std::string wire = "GET / HTTP/1.1\r\nHost: a\r\nX: a" + std::string(5000, ' ');
  const Outcome out = feedWhole(wire, limits);
  EXPECT_TRUE(out.error == 431 || out.error == 414) << out.error;
}

// ---------------------------------------------------------------------------
// RFC 9112 / RFC 9110 section 5: what a server MUST refuse, and what it MUST
// accept. apps/http/README.md lists each rule with the case that covers it.
// The limits are RequestParserErrors' tiny ones (target 64, fields 256 bytes
// and 8 lines, body 16), and every case is fed whole, byte by byte and in
// random splits: the status must be the same each time.

const std::string kPost = "POST /echo HTTP/1.1\r\nHost: a\r\n";
const std::string kChunked = kPost + "Transfer-Encoding: chunked\r\n\r\n";

INSTANTIATE_TEST_SUITE_P(
    Rfc9112, RequestParserErrors,
    ::testing::Values(
        // 2.2: a bare CR is invalid; we do not accept a bare LF as a line end either.
        BadCase{"BareCrInFieldValue", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
        BadCase{"BareCrEndsTheHead", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400},
        BadCase{"BareLfEndsTheRequestLine", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400},
        BadCase{"BareLfEndsAFieldLine", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400},
        BadCase{"BareLfEndsTheHead", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400},
        BadCase{"BareLfBeforeTheRequest", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        // 2.2: whitespace between the start-line and the first field line.
        BadCase{"WhitespaceBeforeFirstField", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400},
        // 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
        BadCase{"LowercaseHttpName", "GET / http/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"VersionWithoutMinor", "GET / HTTP/1\r\nHost: a\r\n\r\n", 400},
        BadCase{"VersionTwoDigitMinor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400},
        BadCase{"Http09", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505},
        BadCase{"Http3", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505},
        // 3: request-line = method SP request-target SP HTTP-version, single SPs.
        BadCase{"TwoSpacesAfterMethod", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"TwoSpacesBeforeVersion", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"SpaceAfterVersion", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
        BadCase{"TabAsSeparator", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"SpaceInTarget", "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"ControlInTarget", "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"NonAsciiInTarget", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        // 3.1 / RFC 9110 9.1: a method is a token; an unknown one is 501, whatever the split.
        BadCase{"MethodNotAToken", "BREW!/pot HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"UnknownMethodToken", "BREW! /pot HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        BadCase{"KnownMethodPrefix", "GETX / HTTP/1.1\r\nHost: a\r\n\r\n", 501},
        // 3.2: Host missing (1.1), more than once, or invalid: 400.
        BadCase{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        BadCase{"TwoIdenticalHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400},
        BadCase{"EmptyHost", "GET / HTTP/1.1\r\nHost: \r\n\r\n", 400},
        BadCase{"HostWithSpace", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
        BadCase{"HostWithPath", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400},
        BadCase{"HostWithUserinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400},
        BadCase{"HostWithBadPort", "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", 400},
        BadCase{"AbsoluteFormStillNeedsHostIn11", "GET http://a/ HTTP/1.1\r\n\r\n", 400},
        // 3.2.2-3.2.4: the target forms and the methods they belong to.
        BadCase{"AsteriskFormWithGet", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"AuthorityFormWithGet", "GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"OriginFormWithConnect", "CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"AbsoluteFormEmptyHost", "GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"AbsoluteFormUserinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        BadCase{"AbsoluteFormOtherScheme", "GET ftp://a/x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
        // 5.1: no whitespace between field name and colon.
        BadCase{"SpaceBeforeColon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},
        BadCase{"TabBeforeColon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400},
        BadCase{"SpaceBeforeColonOtherField", "GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400},
        // 5.2: obs-fold is rejected, not unfolded.
        BadCase{"ObsFoldSpace", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400},
        BadCase{"ObsFoldTab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 400},
        // RFC 9110 5.1 / 5.5: field-name = token; CR, LF, NUL and other CTLs in values.
        BadCase{"EmptyFieldName", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400},
        BadCase{"FieldNameNotAToken", "GET / HTTP/1.1\r\nHost: a\r\nX(a): b\r\n\r\n", 400},
        BadCase{"FieldNameControl", "GET / HTTP/1.1\r\nHost: a\r\nX\x01: b\r\n\r\n", 400},
        BadCase{"FieldLineWithoutColon", "GET / HTTP/1.1\r\nHost: a\r\nXb\r\n\r\n", 400},
        BadCase{"NulInFieldValue", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s, 400},
        BadCase{"ControlInFieldValue", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400},
        BadCase{"DelInFieldValue", "GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
        // RFC 9110 5.4: a field section larger than we process: 4xx (431), at the
        // byte where it becomes too large, even if a syntax error follows later.
        BadCase{"FieldTooLargeThenInvalid",
                "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(300, 'v') + "\x01\r\n\r\n", 431},
        BadCase{"TargetTooLongThenInvalid",
                "GET /" + std::string(100, 'a') + "\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 414},
        // 6.1: Transfer-Encoding in HTTP/1.0 is faulty framing; chunked must be final, once.
        BadCase{"TransferEncodingInHttp10",
                "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400},
        BadCase{"ChunkedTwice",
                kPost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400},
        BadCase{"ChunkedThenGzip", kPost + "Transfer-Encoding: chunked, gzip\r\n\r\n", 400},
        // 6.3: an invalid Content-Length, or a list of them, is 400.
        BadCase{"ContentLengthList", kPost + "Content-Length: 1, 1\r\n\r\na", 400},
        BadCase{"ContentLengthPlusSign", kPost + "Content-Length: +1\r\n\r\na", 400},
        BadCase{"ContentLengthHex", kPost + "Content-Length: 0x1\r\n\r\na", 400},
        BadCase{"ContentLengthEmpty", kPost + "Content-Length: \r\n\r\n", 400},
        BadCase{"ContentLengthOverflow", kPost + "Content-Length: 99999999999999999999999\r\n\r\n",
                400},
        BadCase{"DuplicateEqualContentLength",
                kPost + "Content-Length: 1\r\nContent-Length: 1\r\n\r\na", 400},
        // 7.1: chunk-size = 1*HEXDIG, guarded against overflow; chunk framing exact.
        BadCase{"ChunkSizeOverflow", kChunked + "fffffffffffffffff1\r\n", 400},
        BadCase{"ChunkSizeMissing", kChunked + ";a\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"ChunkDataLongerThanSize", kChunked + "1\r\nxy\r\n0\r\n\r\n", 400},
        BadCase{"ChunkBareLf", kChunked + "1\nx\n0\n\n", 400},
        BadCase{"ChunkExtensionControl", kChunked + "1;a\x01\r\nx\r\n0\r\n\r\n", 400},
        // 7.1.1: a server limits chunk extensions: an endless one is refused, not read forever.
        BadCase{"EndlessChunkExtension", kChunked + "1;" + std::string(2000, 'e'), 413},
        // 7.1.2: trailer field lines follow the field-line rules too.
        BadCase{"ObsFoldInTrailer", kChunked + "0\r\nT: 1\r\n y\r\n\r\n", 400},
        BadCase{"SpaceBeforeColonInTrailer", kChunked + "0\r\nT : 1\r\n\r\n", 400},
        BadCase{"ControlInTrailer", kChunked + "0\r\nT: \x01\r\n\r\n", 400},
        BadCase{"TrailerSectionTooLarge",
                kChunked + "0\r\nT: " + std::string(300, 't') + "\r\n\r\n", 431}),
    [](const auto& param) { return std::string(param.param.name); });

// 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
// chunk-ext-name = token, chunk-ext-val = token / quoted-string. What the
// grammar does not allow is 400, at its byte, whatever the split; an endless
// extension still meets the chunked body's wire limit (413) first.
INSTANTIATE_TEST_SUITE_P(
    ChunkExt, RequestParserErrors,
    ::testing::Values(
        BadCase{"BareCrInExtension", kChunked + "1;a=b\rx\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"BareLfAfterExtension", kChunked + "1;a=b\nx\r\n0\r\n\r\n", 400},
        BadCase{"BareLfInQuotedValue", kChunked + "1;a=\"b\nc\"\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"UnterminatedQuotedValue", kChunked + "1;a=\"bc\r\nx\r\n0\r\n\r\n",
                400},  // CR inside quotes
        BadCase{"BackslashBeforeLineEnd", kChunked + "1;a=\"b\\\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"NameNotAToken", kChunked + "1;a(b)=c\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"EmptyName", kChunked + "1;=c\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"NothingAfterSemicolon", kChunked + "1;\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"TwoSemicolons", kChunked + "1;;a\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"EmptyValue", kChunked + "1;a=\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"TwoEquals", kChunked + "1;a==b\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"ValueNotAToken", kChunked + "1;a=b(c)\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"ValueWithSpaceInside", kChunked + "1;a=b c\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"TextAfterQuotedValue", kChunked + "1;a=\"b\"c\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"ControlInQuotedValue", kChunked + "1;a=\"\x01\"\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"DelInQuotedValue", kChunked + "1;a=\"\x7f\"\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"ControlInQuotedPair", kChunked + "1;a=\"\\\x01\"\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"NulInName", kChunked + "1;a\0b\r\nx\r\n0\r\n\r\n"s, 400},
        // BWS is only allowed before ";" and "=", and after them: not at the line's end.
        BadCase{"WhitespaceAfterSize", kChunked + "1 \r\nx\r\n0\r\n\r\n", 400},
        BadCase{"WhitespaceAfterName", kChunked + "1;a \r\nx\r\n0\r\n\r\n", 400},
        BadCase{"WhitespaceAfterValue", kChunked + "1;a=b\t\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"WhitespaceBeforeSize", kChunked + " 1\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"ExtensionWithoutSemicolon", kChunked + "1 a\r\nx\r\n0\r\n\r\n", 400},
        BadCase{"BadExtensionOnTheLastChunk", kChunked + "0;a b\r\n\r\n", 400},
        BadCase{"BadExtensionOnALaterChunk",
                kChunked + "1;a=b;c\r\nx\r\n1 ;d=\"\x01\r\ny\r\n0\r\n\r\n", 400},
        // An over-long line meets the existing wire limit, at the byte over it.
        BadCase{"EndlessWhitespaceInAnExtension", kChunked + "1 ;" + std::string(2000, ' '), 413},
        BadCase{"EndlessQuotedValue", kChunked + "1;a=\"" + std::string(2000, 'q'), 413},
        BadCase{"ExtensionTooLongThenInvalid",
                kChunked + "1;a=" + std::string(2000, 'e') + "\x01\r\n", 413}),
    [](const auto& param) { return std::string(param.param.name); });

// What a server MUST (or, for the robustness rules, does) accept.
HttpRequest parsedAlike(const std::string& wire) {
  const Outcome whole = feedWhole(wire);
  EXPECT_EQ(whole.error, 0) << wire;
  EXPECT_EQ(whole.requests.size(), 1u) << wire;
  expectSame(whole, feedByteByByte(wire));
  for (unsigned seed = 1; seed <= 10; ++seed) expectSame(whole, feedRandomly(wire, seed));
  return whole.requests.empty() ? HttpRequest{} : whole.requests[0];
}

TEST(RequestParserRfc9112, AbsoluteFormIsAcceptedAndItsHostWins) {  // 3.2.2
  HttpRequest r =
      parsedAlike("GET http://example.com:8080/a.txt?q=1 HTTP/1.1\r\nHost: other\r\n\r\n");
  EXPECT_EQ(r.target, "/a.txt?q=1");
  EXPECT_EQ(r.path(), "/a.txt");
  EXPECT_EQ(r.authority, "example.com:8080");
  r = parsedAlike("GET HTTPS://Example.com HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(r.target, "/");
  EXPECT_EQ(r.authority, "Example.com");
  r = parsedAlike("GET http://[::1]:80/x HTTP/1.0\r\n\r\n");  // 1.0 needs no Host
  EXPECT_EQ(r.target, "/x");
  EXPECT_EQ(r.authority, "[::1]:80");
}

TEST(RequestParserRfc9112, OriginFormTakesItsAuthorityFromHost) {  // 3.2.1, RFC 9110 7.2
  for (const char* host : {"a", "a.example:8080", "127.0.0.1", "[::1]:80", "xn--caf-dma.example",
                           "a_b~c!$&'()*+,;=%41"}) {
    SCOPED_TRACE(host);
    const HttpRequest r = parsedAlike(std::string("GET /x HTTP/1.1\r\nHost: ") + host + "\r\n\r\n");
    EXPECT_EQ(r.authority, host);
  }
}

TEST(RequestParserRfc9112, AsteriskFormWithOptionsAndAuthorityFormWithConnect) {  // 3.2.3, 3.2.4
  HttpRequest r = parsedAlike("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.method, Method::Options);
  EXPECT_EQ(r.target, "*");
  r = parsedAlike("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n");
  EXPECT_EQ(r.method, Method::Connect);
  EXPECT_EQ(r.target, "a.example:443");
  EXPECT_FALSE(r.keepAlive);  // we do not tunnel: answer, then close
}

TEST(RequestParserRfc9112, HigherMinorVersionIsServedAsHttp11) {  // 2.3, RFC 9110 2.5
  const HttpRequest r = parsedAlike("GET / HTTP/1.7\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.versionMajor, 1);
  EXPECT_FALSE(r.isHttp10());
  EXPECT_TRUE(r.keepAlive);
}

TEST(RequestParserRfc9112, FieldValuesLoseSurroundingWhitespaceAndKeepObsText) {  // RFC 9110 5.5
  const HttpRequest r =
      parsedAlike("GET / HTTP/1.1\r\nHost: a \t\r\nX-A:\t b c \t \r\nX-B:\r\nX-C: caf\xe9\r\n\r\n");
  EXPECT_EQ(r.header("host"), "a");
  EXPECT_EQ(r.header("x-a"), "b c");
  EXPECT_TRUE(r.hasHeader("x-b"));
  EXPECT_EQ(r.header("x-b"), "");
  EXPECT_EQ(r.header("x-c"), "caf\xe9");
}

TEST(RequestParserRfc9112, EmptyLinesBeforeARequestAreIgnored) {  // 2.2
  const HttpRequest r = parsedAlike("\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(r.target, "/x");
}

TEST(RequestParserRfc9112,
     ChunkExtensionsAreIgnoredAndTrailersKeptApart) {  // 7.1.1, 7.1.2, RFC 9110 6.5.1
  const HttpRequest r = parsedAlike(
      kChunked +
      "1;a;b=\"d e\"\r\nx\r\n02;last=\"\"\r\nyz\r\n0;end=1\r\nHost: evil\r\nX-T: t\r\n\r\n");
  EXPECT_EQ(r.body, "xyz");
  EXPECT_EQ(r.header("host"), "a");
  EXPECT_FALSE(r.hasHeader("x-t"));
  ASSERT_EQ(r.trailers.size(), 2u);
  EXPECT_EQ(r.trailers[1].name, "X-T");
  EXPECT_EQ(r.trailers[1].value, "t");
  EXPECT_EQ(r.authority, "a");
}

// 7.1.1 and RFC 9110 5.6.3: every form the chunk-ext grammar allows is
// parsed (BWS removed) and ignored, on a data chunk and on the last chunk.
TEST(RequestParserRfc9112, ChunkExtensionsInEveryFormTheGrammarAllowsAreIgnored) {
  const std::vector<std::string> extensions = {
      ";a=b;c",  // an unquoted value followed by another extension
      ";a=b;c=d;e",
      " ;a",
      "\t;a",
      "  \t ;a",  // BWS before ";"
      "; a",
      ";\ta",  // BWS after ";"
      ";a =b",
      ";a= b",
      ";a \t=\t b",  // BWS around "="
      " ; a = b ; c = d ; e",
      ";a ;b",
      ";a=b ;c",
      ";a=\"q\" ;c",
      ";a=\"q\";c",
      ";a=\"\"",               // an empty quoted-string
      ";a=\"x;y=z \\\" \t\"",  // ";", "=", SP, HTAB and a quoted-pair inside quotes
      ";a=\"\\\t\\\xe9\"",     // quoted-pair of HTAB and of obs-text
      ";a=\"caf\xe9\"",        // obs-text in a quoted-string
      ";!#$%&'*+-.^_`|~09AZaz=!#$%&'*+-.^_`|~09AZaz",  // every tchar in name and value
  };
  for (const std::string& ext : extensions) {
    SCOPED_TRACE(ext);
    const HttpRequest r = parsedAlike(kChunked + "3" + ext + "\r\nabc\r\n0002" + ext +
                                      "\r\nde\r\n0" + ext + "\r\nX-T: t\r\n\r\n");
    EXPECT_EQ(r.body, "abcde");
    ASSERT_EQ(r.trailers.size(), 1u);
    EXPECT_EQ(r.trailers[0].value, "t");
  }
}

}  // namespace
}  // namespace duet::http
