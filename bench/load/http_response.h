// Reads HTTP/1.1 responses off a keep-alive connection, one after another,
// from whatever pieces the socket delivers.
//
// Only what a benchmark of GET needs: a status line, headers up to a limit,
// and a body framed by Content-Length. A chunked or unframed body, an
// oversized head or a malformed status line is an error: duet-load is
// measuring, and a response it cannot frame exactly would make every later
// count on the connection wrong.
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

  int status() const { return status_; }
  size_t bytes() const { return bytes_; }           // head + body of the last complete response
  const std::string& error() const { return error_; }
  bool idle() const { return head_.empty() && !inBody_; }

 private:
  bool parseHead();

  std::string head_;        // the head so far (until the blank line)
  bool inBody_ = false;
  size_t bodyLeft_ = 0;
  size_t bytes_ = 0;
  int status_ = 0;
  std::string error_;
};

}  // namespace duetload
