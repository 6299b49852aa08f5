// Levelled logging that costs one compare when the level is off: the stream
// expression after DUET_LOG is not evaluated at all below the threshold.
#pragma once

#include <atomic>
#include <optional>
#include <sstream>
#include <string_view>

namespace duet {

enum class LogLevel { Trace, Debug, Info, Warn, Error, Off };

std::optional<LogLevel> parseLogLevel(std::string_view name);  // "trace" ... "off"

namespace log_detail {
extern std::atomic<int> threshold;

// Builds one line and writes it with a single write(2) so lines from several
// threads never interleave.
class Line {
 public:
  Line(LogLevel level, const char* file, int line);
  ~Line();
  std::ostream& stream() { return out_; }

 private:
  std::ostringstream out_;
};
}  // namespace log_detail

inline void setLogLevel(LogLevel level) {
  log_detail::threshold.store(static_cast<int>(level), std::memory_order_relaxed);
}
inline LogLevel logLevel() {
  return static_cast<LogLevel>(log_detail::threshold.load(std::memory_order_relaxed));
}
inline bool logEnabled(LogLevel level) {
  return static_cast<int>(level) >= log_detail::threshold.load(std::memory_order_relaxed);
}

}  // namespace duet

#define DUET_LOG(level)                               \
  if (!::duet::logEnabled(::duet::LogLevel::level)) { \
  } else ::duet::log_detail::Line(::duet::LogLevel::level, __FILE__, __LINE__).stream()
