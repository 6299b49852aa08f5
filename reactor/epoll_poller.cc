#include "reactor/epoll_poller.h"

#include <cassert>
#include <cerrno>
#include <cstring>
#include <string>

#include "core/backend.h"
#include "core/log.h"
#include "reactor/channel.h"

namespace duet {

namespace {

constexpr std::size_t kInitialEvents = 64;
constexpr std::size_t kMaxEvents = 4096;

std::uint32_t toEpoll(const Channel& channel) {
  std::uint32_t events = 0;
  // EPOLLRDHUP tells us about the peer's FIN even when no data comes with it.
  if (channel.wantsRead()) events |= EPOLLIN | EPOLLPRI | EPOLLRDHUP;
  if (channel.wantsWrite()) events |= EPOLLOUT;
  if (channel.edgeTriggered()) events |= EPOLLET;
  return events;
}

unsigned fromEpoll(std::uint32_t events) {
  unsigned ready = 0;
  if (events & (EPOLLIN | EPOLLPRI)) ready |= ready::kReadable;
  if (events & EPOLLOUT) ready |= ready::kWritable;
  if (events & EPOLLRDHUP) ready |= ready::kPeerHalfClosed;
  if (events & EPOLLHUP) ready |= ready::kHangup;
  if (events & EPOLLERR) ready |= ready::kError;
  return ready;
}

const char* opName(int op) {
  switch (op) {
    case EPOLL_CTL_ADD:
      return "EPOLL_CTL_ADD";
    case EPOLL_CTL_MOD:
      return "EPOLL_CTL_MOD";
    default:
      return "EPOLL_CTL_DEL";
  }
}

}  // namespace

EpollPoller::EpollPoller(LoopStats& stats)
    : sys_(stats), epollFd_(::epoll_create1(EPOLL_CLOEXEC)), events_(kInitialEvents) {
  if (!epollFd_) {
    throw BackendUnavailable(std::string("epoll backend: epoll_create1 failed: ") +
                             std::strerror(errno) + "; try --backend poll");
  }
}

bool EpollPoller::control(int op, Channel& channel) {
  epoll_event event{};
  event.events = toEpoll(channel);
  event.data.ptr = &channel;  // wait() gets the Channel back without a lookup
  if (sys_.epollCtl(epollFd_.get(), op, channel.fd(), &event) == 0) return true;
  const int error = errno;
  DUET_LOG(Error) << "epoll_ctl(" << opName(op) << ", fd " << channel.fd()
                  << ") failed: " << std::strerror(error);
  return false;
}

bool EpollPoller::update(Channel& channel) {
  const bool known = channel.registered();
  if (known) {
    checkRegistered(channel);
    assert(channel.slot() == kDetached || channel.slot() == kInKernel);
  } else {
    checkFdFree(channel);  // before epoll_ctl, which would only say EEXIST
  }
  if (channel.interest() == 0) {
    // Out of the kernel set: epoll reports EPOLLHUP/EPOLLERR whatever the
    // interest, and nobody would handle them (a paused connection).
    if (channel.slot() == kInKernel) control(EPOLL_CTL_DEL, channel);
    if (!known) noteRegistered(channel);
    channel.setSlot(kDetached);
    return true;
  }
  // MOD also makes the kernel re-check readiness, which is what rearm() relies on.
  const int op = channel.slot() == kInKernel ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
  if (!control(op, channel)) return false;
  if (!known) noteRegistered(channel);
  channel.setSlot(kInKernel);
  return true;
}

void EpollPoller::remove(Channel& channel) {
  noteRemoved(channel);
  if (channel.slot() == kInKernel) control(EPOLL_CTL_DEL, channel);
  channel.setSlot(-1);
}

void EpollPoller::wait(int timeoutMs, std::vector<Channel*>& active) {
  const int n =
      sys_.epollWait(epollFd_.get(), events_.data(), static_cast<int>(events_.size()), timeoutMs);
  if (n < 0) {
    const int error = errno;
    if (error != EINTR) {
      DUET_LOG(Error) << "epoll_wait failed: " << std::strerror(error);
    }
    return;
  }
  for (int i = 0; i < n; ++i) {
    auto* channel = static_cast<Channel*>(events_[i].data.ptr);
    // Only channels in the kernel set can be reported. One that is not (or no
    // longer registered) means its fd was closed or reused without remove():
    // data.ptr may point at a destroyed Channel.
    checkRegistered(*channel);
    assert(channel->slot() == kInKernel && "epoll reported a channel that is not in its set");
    channel->setReady(fromEpoll(events_[i].events));
    active.push_back(channel);
  }
  if (static_cast<std::size_t>(n) == events_.size() && events_.size() < kMaxEvents)
    events_.resize(events_.size() * 2);
}

}  // namespace duet
