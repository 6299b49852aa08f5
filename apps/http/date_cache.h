// The Date header value (RFC 9110 IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT"),
// formatted at most once per second per loop.
//
// Formatting a date costs a gmtime_r and a strftime, far more than the rest of
// a small response's head; a busy loop answers thousands of requests within
// one second, and they all carry the same Date. One cache per thread is one
// cache per loop ("one loop per thread"), so no locking is needed.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace duet::http {

class DateCache {
 public:
  // The date for wall-clock second `now`; reformatted only when the second changes.
  std::string_view get(std::time_t now);
  // time(2) is a vDSO call on Linux: no system call.
  std::string_view now() { return get(std::time(nullptr)); }
  // How many times the string was formatted (tests check the once-per-second rule).
  std::size_t formatCount() const { return formatCount_; }

  // The calling thread's cache.
  static DateCache& forThisThread();

 private:
  std::time_t second_ = -1;
  char text_[32] = {};
  std::size_t length_ = 0;
  std::size_t formatCount_ = 0;
};

// IMF-fixdate for any time (Last-Modified), and back (If-Modified-Since).
std::string formatHttpDate(std::time_t t);
// Accepts IMF-fixdate, and the obsolete RFC 850 and asctime forms a
// recipient must still understand (RFC 9110 5.6.7). nullopt if none fits.
std::optional<std::time_t> parseHttpDate(std::string_view text);

}  // namespace duet::http
