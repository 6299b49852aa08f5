#include "reactor/event_fd_waker.h"

#include <sys/eventfd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "core/backend.h"
#include "core/log.h"

namespace duet {

namespace {

UniqueFd makeEventFd() {
  UniqueFd fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!fd)
    throw BackendUnavailable(std::string("reactor: eventfd failed: ") + std::strerror(errno));
  return fd;
}

}  // namespace

EventFdWaker::EventFdWaker(ReactorLoop& loop, LoopStats& stats)
    : sys_(stats), eventFd_(makeEventFd()), channel_(loop, eventFd_.get(), *this) {
  channel_.enableReading();
}

EventFdWaker::~EventFdWaker() { channel_.remove(); }

void EventFdWaker::wake() {
  if (pending_.exchange(true, std::memory_order_acq_rel)) return;
  if (sys_.wakeupWriteShared(eventFd_.get()) != sizeof(std::uint64_t)) {
    // EAGAIN only if the counter is about to overflow, which means the loop
    // is already due to wake; anything else is worth a line.
    const int error = errno;
    if (error != EAGAIN) {
      DUET_LOG(Error) << "eventfd write failed: " << std::strerror(error);
    }
  }
}

void EventFdWaker::handleReady(unsigned /*ready*/) {
  // Drain first, then clear the flag. The other order loses wake-ups for good:
  // a wake() between the clear and the read sets the flag and writes, the read
  // swallows that write, and the flag stays set with the eventfd empty, so
  // every later wake() returns early and the loop sleeps on queued tasks.
  // In this order a wake() that finds the flag still set skips its write,
  // which is safe: its task was queued before, and this iteration runs the
  // task queue after the handlers.
  std::uint64_t count = 0;
  if (sys_.wakeupReadShared(eventFd_.get(), &count) < 0) {
    const int error = errno;
    if (error != EAGAIN) {
      DUET_LOG(Error) << "eventfd read failed: " << std::strerror(error);
    }
  }
  pending_.store(false, std::memory_order_release);
}

}  // namespace duet
