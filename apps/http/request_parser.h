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
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

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
  // and call again with what is left.
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
  int onHeadersComplete();
  int onHeaderComplete();
  void scanMethodToken(std::string_view data);

  const HttpLimits& limits_;
  struct LlhttpState;
  std::unique_ptr<LlhttpState> llhttp_;  // hides llhttp.h from our users

  HttpRequest request_;
  std::string field_;           // the header name being assembled
  std::string value_;           // its value
  std::size_t headerBytes_ = 0; // names + values so far, trailers included
  std::size_t headRawBytes_ = 0;  // every byte before the end of the headers
  std::size_t bodyBytes_ = 0;
  bool inMessage_ = false;
  bool headersComplete_ = false;
  bool expectContinue_ = false;
  // Whether the bytes before the first space are a well-formed token: an
  // unknown method is 501 Not Implemented, garbage is 400 Bad Request.
  bool methodScanDone_ = false;
  bool methodIsToken_ = true;
  std::size_t methodBytes_ = 0;

  int errorStatus_ = 0;
  std::string errorReason_;
};

}  // namespace duet::http
