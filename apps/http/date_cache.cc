#include "apps/http/date_cache.h"

#include <cstring>

namespace duet::http {

namespace {
std::size_t formatInto(std::time_t t, char* out, std::size_t size) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  // The C locale is the default for a program that never calls setlocale,
  // so %a and %b are the English names HTTP requires.
  return std::strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}
}  // namespace

std::string_view DateCache::get(std::time_t now) {
  if (now != second_) {
    second_ = now;
    length_ = formatInto(now, text_, sizeof text_);
    ++formatCount_;
  }
  return {text_, length_};
}

DateCache& DateCache::forThisThread() {
  thread_local DateCache cache;
  return cache;
}

std::string formatHttpDate(std::time_t t) {
  char buf[32];
  return std::string(buf, formatInto(t, buf, sizeof buf));
}

std::optional<std::time_t> parseHttpDate(std::string_view text) {
  const std::string s(text);  // strptime needs a NUL-terminated string
  static constexpr const char* kFormats[] = {
      "%a, %d %b %Y %H:%M:%S GMT",  // IMF-fixdate
      "%A, %d-%b-%y %H:%M:%S GMT",  // RFC 850
      "%a %b %e %H:%M:%S %Y",       // asctime
  };
  for (const char* format : kFormats) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), format, &tm);
    if (end != nullptr && *end == '\0') return timegm(&tm);
  }
  return std::nullopt;
}

}  // namespace duet::http
