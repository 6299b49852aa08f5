// Reads HTTP/1.1 responses off a keep-alive connection, one after another,
// from whatever pieces the socket delivers.
//
// Only what a benchmark of GET needs: a status line, headers up to a limit,
// and a body framed by Content-Length. A chunked or unframed body, an
// oversized head or a malformed status line is an error: duet-load is
// measuring, and a response it cannot frame exactly would make every later
// count on the connection wrong.
//
// Exception: on a connection that carries one request and then closes (churn
// mode, `Connection: close`), nothing follows the response, so a body without
// Content-Length may run until the server closes (RFC 9112, 6.3, last rule).
// allowBodyUntilClose() permits that; finishAtClose() then ends the response.
#pragma once

#include <cstddef>
#include <string>

namespace duetload {

class HttpResponseReader {
 public:
  static constexpr size_t kMaxHead = 16 * 1024;

  enum class Result { kNeedMore, kComplete, kError };

  // Consumes bytes from [p, p+len); advances `used` by what it took. On
  // kComplete, status() and bytes() describe the response that just ended and
  // the reader is ready for the next one; the rest of the input is untouched.
  Result feed(const char* p, size_t len, size_t& used);

  // Accept a response without Content-Length whose body ends at the close.
  void allowBodyUntilClose() { bodyUntilCloseAllowed_ = true; }
  // The server closed: true if that completes a response whose body runs
  // until the close (status() and bytes() then describe it); false if the
  // close cut a response short or came between responses.
  bool finishAtClose();

  int status() const { return status_; }
  size_t bytes() const { return bytes_; }  // head + body of the last complete response
  const std::string& error() const { return error_; }
  bool idle() const { return head_.empty() && !inBody_; }

 private:
  bool parseHead();

  std::string head_;  // the head so far (until the blank line)
  bool inBody_ = false;
  bool bodyUntilCloseAllowed_ = false;
  bool bodyUntilClose_ = false;  // the current body ends at the close, not at a length
  size_t bodyLeft_ = 0;
  size_t bytes_ = 0;
  int status_ = 0;
  std::string error_;
};

}  // namespace duetload
