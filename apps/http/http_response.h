// HttpResponse: what a handler returns. ResponseWriter turns it into bytes.
//
// A response body is either a string in memory (small: /hello, errors, small
// files) or a range of an open file, which HttpConnection streams in chunks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/socket_ops.h"  // UniqueFd

namespace duet::http {

struct FileBody {
  UniqueFd fd;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
};

struct HttpResponse {
  int status = 200;
  std::string_view contentType;  // static storage only (literals, the MIME table)
  std::string headers;           // extra header lines, each "Name: value\r\n"
  std::string body;
  std::optional<FileBody> file;  // instead of body
  bool close = false;            // close the connection after this response

  void addHeader(std::string_view name, std::string_view value);
  std::uint64_t contentLength() const { return file ? file->length : body.size(); }
};

std::string_view reasonPhrase(int status);

// A small text/plain response ("404 Not Found\n") for an error status.
// (Whether the connection closes afterwards is HttpConnection's decision:
// it closes after every request that failed to parse.)
HttpResponse errorResponse(int status);

// Serializes the status line and headers. Adds Date, Server, Content-Length
// (except where forbidden: 1xx, 204, 304) and Connection when needed.
// `forHead`: the body is not sent, but Content-Length still says what GET
// would send (RFC 9110 9.3.2).
class ResponseWriter {
 public:
  static constexpr std::string_view kServerName = "duet";

  // Appends the head of `response` to `out`, and the in-memory body unless `forHead`.
  static void write(const HttpResponse& response, bool keepAlive, bool http10Client, bool forHead,
                    std::string_view date, std::string& out);
  // "HTTP/1.1 100 Continue\r\n\r\n"
  static std::string_view continueLine();
};

}  // namespace duet::http
