// RequestParser: llhttp, wrapped so the rest of the server sees whole
// HttpRequests and HTTP status codes instead of parser callbacks and errnos.
//
// It is incremental: parse() takes whatever bytes have arrived, consumes what
// it can, and keeps its state, so a request split at any byte boundary parses
// exactly as if it came in one piece. It stops after each complete request
// (llhttp pause), so pipelined requests come out one at a time and the caller
// decides whether to take the next one now or leave the bytes in its buffer.
//
// The limits of HttpLimits are enforced here, while the bytes stream in.
//
// Which status a malformed or oversized request gets never depends on how
// its bytes were split: every verdict belongs to one byte of the stream (the
// first bad one, or the first one over a limit), and the earliest wins. The
// HeadChecker finds those bytes in the head, the ChunkLineChecker in a
// chunk-size line; llhttp is fed only the bytes before them. Chunk-size lines
// llhttp never sees at all: it gets "<size>\r\n" in their place, so that every
// extension RFC 9112 7.1.1 allows is accepted and ignored (chunk_line_checker.h
// says why). apps/http/README.md lists the RFC 9112 rules enforced here.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "apps/http/chunk_line_checker.h"
#include "apps/http/head_checker.h"
#include "apps/http/http_limits.h"
#include "apps/http/http_request.h"

namespace duet::http {

class RequestParser {
 public:
  enum class Result {
    NeedMore,          // every byte consumed, the request is not complete yet
    ContinueExpected,  // headers complete with "Expect: 100-continue": send 100, call again
    Request,           // a request is complete: request(), then call again for the next
    Error,             // malformed or over a limit: errorStatus(); stop feeding
  };

  explicit RequestParser(const HttpLimits& limits);
  ~RequestParser();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Consumes a prefix of `data` (*consumed bytes) and reports what happened.
  // After Request the caller should retrieve *consumed bytes, take the request
  // and call again with what is left. After a request that ends the
  // connection (request().keepAlive false: Connection: close, HTTP/1.0,
  // CONNECT, Upgrade) nothing more is parsed: later bytes are consumed and
  // ignored (NeedMore).
  Result parse(std::string_view data, std::size_t* consumed);

  // The request just completed (after Result::Request). Take it with std::move.
  HttpRequest& request() { return request_; }
  // Forget the request (frees its memory) and get ready for the next one.
  void resetRequest();

  // A request has begun (its first byte arrived) and has not completed yet.
  bool inRequest() const { return inMessage_; }
  bool headersComplete() const { return headersComplete_; }

  // After Result::Error: the status to answer with and a short reason for logs.
  int errorStatus() const { return errorStatus_; }
  const std::string& errorReason() const { return errorReason_; }

 private:
  struct Callbacks;  // the llhttp callbacks, in request_parser.cc
  friend struct Callbacks;

  int fail(int status, const char* reason);
  Result failWith(int status, const char* reason);
  int onUrlComplete();
  int onVersionComplete();
  int onHeaderComplete();
  int onHeadersComplete();
  int onChunkComplete();
  bool feedChunkSize();
  Result methodVerdict();

  const HttpLimits& limits_;
  struct LlhttpState;
  std::unique_ptr<LlhttpState> llhttp_;  // hides llhttp.h from our users
  HeadChecker checker_;
  ChunkLineChecker chunkLine_;  // active while a chunk-size line is being read

  HttpRequest request_;
  std::string field_;                 // the field name being assembled
  std::string value_;                 // its value
  std::size_t bodyBytes_ = 0;         // decoded body bytes
  std::size_t chunkedWireBytes_ = 0;  // raw bytes of a chunked body (data, framing) so far
  bool inMessage_ = false;
  bool headersComplete_ = false;
  bool expectContinue_ = false;
  bool lastChunkSeen_ = false;  // the size-0 line has been read: no chunk-size line follows
  bool hostSeen_ = false;
  bool chunkedSeen_ = false;   // "chunked" in a Transfer-Encoding field so far
  bool absoluteForm_ = false;  // the target was absolute-form: its authority wins over Host
  // llhttp refused the method before the checker saw where it ends: unknown
  // token (501) or garbage (400) is decided when it does.
  bool methodVerdictPending_ = false;
  bool finished_ = false;  // a request that ends the connection was parsed

  int errorStatus_ = 0;
  std::string errorReason_;
};

}  // namespace duet::http
