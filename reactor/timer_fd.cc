#include "reactor/timer_fd.h"

#include <sys/timerfd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/backend.h"
#include "core/log.h"

namespace duet {

namespace {

// steady_clock and CLOCK_MONOTONIC share an epoch on Linux (libstdc++ reads
// the clock with clock_gettime(CLOCK_MONOTONIC)), so a TimePoint converts
// directly into an absolute timerfd expiry.
static_assert(Clock::is_steady);

UniqueFd makeTimerFd() {
  UniqueFd fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!fd)
    throw BackendUnavailable(std::string("reactor: timerfd_create failed: ") +
                             std::strerror(errno));
  return fd;
}

timespec toTimespec(TimePoint when) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
  timespec ts{};
  if (ns <= 0) {
    // An all-zero it_value would disarm the timer; a deadline at or before
    // the epoch is simply "now".
    ts.tv_nsec = 1;
    return ts;
  }
  ts.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(ns % 1'000'000'000);
  return ts;
}

}  // namespace

TimerFd::TimerFd(ReactorLoop& loop, LoopStats& stats)
    : sys_(stats), timerFd_(makeTimerFd()), channel_(loop, timerFd_.get(), *this) {
  channel_.enableReading();
}

TimerFd::~TimerFd() { channel_.remove(); }

void TimerFd::arm(std::optional<TimePoint> deadline) {
  itimerspec spec{};  // it_interval zero: one-shot; the TimerQueue handles repeats
  if (deadline) spec.it_value = toTimespec(*deadline);
  // A deadline already in the past fires at once, which is what we want.
  if (sys_.timerfdSetAbsolute(timerFd_.get(), spec) < 0) {
    const int error = errno;
    DUET_LOG(Error) << "timerfd_settime failed: " << std::strerror(error);
  }
}

void TimerFd::handleReady(unsigned /*ready*/) {
  std::uint64_t expirations = 0;
  // EAGAIN: re-armed between the wait and this read; nothing to drain.
  if (sys_.read(timerFd_.get(), &expirations, sizeof expirations) < 0) {
    const int error = errno;
    if (error != EAGAIN) {
      DUET_LOG(Error) << "timerfd read failed: " << std::strerror(error);
    }
  }
}

}  // namespace duet
