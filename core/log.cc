#include "core/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace duet {

namespace log_detail {
std::atomic<int> threshold{static_cast<int>(LogLevel::Info)};

namespace {
const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::Trace:
      return "TRACE";
    case LogLevel::Debug:
      return "DEBUG";
    case LogLevel::Info:
      return "INFO ";
    case LogLevel::Warn:
      return "WARN ";
    case LogLevel::Error:
      return "ERROR";
    case LogLevel::Off:
      break;
  }
  return "?";
}
}  // namespace

Line::Line(LogLevel level, const char* file, int line) {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const std::time_t secs = system_clock::to_time_t(now);
  const auto micros = duration_cast<microseconds>(now.time_since_epoch()).count() % 1000000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
  const char* base = std::strrchr(file, '/');
  static thread_local const long tid = ::syscall(SYS_gettid);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03d", static_cast<int>(micros / 1000));
  out_ << stamp << millis << ' ' << levelName(level) << " [" << tid << "] "
       << (base ? base + 1 : file) << ':' << line << ' ';
}

Line::~Line() {
  out_ << '\n';
  const std::string s = out_.str();
  // One write: lines from several threads stay whole. A failed log write has nowhere to go.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, s.data(), s.size());
}
}  // namespace log_detail

std::optional<LogLevel> parseLogLevel(std::string_view name) {
  if (name == "trace") return LogLevel::Trace;
  if (name == "debug") return LogLevel::Debug;
  if (name == "info") return LogLevel::Info;
  if (name == "warn") return LogLevel::Warn;
  if (name == "error") return LogLevel::Error;
  if (name == "off") return LogLevel::Off;
  return std::nullopt;
}

}  // namespace duet
