#include "reactor/poller.h"

#include <cassert>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "core/backend.h"
#include "reactor/channel.h"
#include "reactor/epoll_poller.h"
#include "reactor/poll_poller.h"
#include "reactor/select_poller.h"

namespace duet {

std::unique_ptr<Poller> makePoller(const LoopOptions& options, LoopStats& stats) {
  switch (options.backend) {
    case Backend::Epoll:
      return std::make_unique<EpollPoller>(stats);
    case Backend::Poll:
      return std::make_unique<PollPoller>(stats);
    case Backend::Select:
      return std::make_unique<SelectPoller>(stats);
    case Backend::IoUring:
      break;
  }
  throw std::invalid_argument("the reactor cannot run backend '" +
                              std::string(backendName(options.backend)) +
                              "'; use epoll, poll or select");
}

// The table is indexed by fd: fds are small, dense integers, and a lookup
// must cost nothing next to the system call it accompanies.
void Poller::noteRegistered([[maybe_unused]] const Channel& channel) {
#ifndef NDEBUG
  checkFdFree(channel);
  const auto fd = static_cast<std::size_t>(channel.fd());
  if (fd >= channelByFd_.size()) channelByFd_.resize(fd + 1, nullptr);
  channelByFd_[fd] = &channel;
#endif
}

void Poller::noteRemoved([[maybe_unused]] const Channel& channel) {
#ifndef NDEBUG
  checkRegistered(channel);
  channelByFd_[static_cast<std::size_t>(channel.fd())] = nullptr;
#endif
}

void Poller::checkFdFree([[maybe_unused]] const Channel& channel) const {
#ifndef NDEBUG
  assert(channel.fd() >= 0);
  const auto fd = static_cast<std::size_t>(channel.fd());
  assert((fd >= channelByFd_.size() || channelByFd_[fd] == nullptr) &&
         "this fd is already registered by another channel");
#endif
}

void Poller::checkRegistered([[maybe_unused]] const Channel& channel) const {
#ifndef NDEBUG
  const auto fd = static_cast<std::size_t>(channel.fd());
  assert(fd < channelByFd_.size() && channelByFd_[fd] == &channel &&
         "channel not registered with this poller");
#endif
}

}  // namespace duet
