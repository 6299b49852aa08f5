#include "reactor/poll_poller.h"

#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "reactor/channel.h"

namespace duet {

namespace {

short toPoll(const Channel& channel) {
  short events = 0;
  if (channel.wantsRead()) events |= POLLIN | POLLPRI | POLLRDHUP;
  if (channel.wantsWrite()) events |= POLLOUT;
  return events;
}

unsigned fromPoll(short revents) {
  unsigned ready = 0;
  if (revents & (POLLIN | POLLPRI)) ready |= ready::kReadable;
  if (revents & POLLOUT) ready |= ready::kWritable;
  if (revents & POLLRDHUP) ready |= ready::kPeerHalfClosed;
  if (revents & POLLHUP) ready |= ready::kHangup;
  // POLLNVAL means we are polling a closed fd: a bug, but report it as an
  // error so the owner closes instead of the loop spinning on it.
  if (revents & (POLLERR | POLLNVAL)) ready |= ready::kError;
  return ready;
}

// poll(2) ignores entries with a negative fd (and reports nothing for them,
// not even POLLHUP). -fd-1 keeps the number recoverable and maps fd 0 to -1.
int ignoredFd(int fd) { return -fd - 1; }

}  // namespace

PollPoller::PollPoller(LoopStats& stats) : sys_(stats) {}

bool PollPoller::update(Channel& channel) {
  const short events = toPoll(channel);
  const int fd = events != 0 ? channel.fd() : ignoredFd(channel.fd());
  if (!channel.registered()) {
    noteRegistered(channel);
    channel.setSlot(static_cast<int>(pollfds_.size()));
    pollfds_.push_back(pollfd{fd, events, 0});
    channels_.push_back(&channel);
    return true;
  }
  checkRegistered(channel);
  assert(static_cast<std::size_t>(channel.slot()) < channels_.size());
  pollfd& entry = pollfds_[static_cast<std::size_t>(channel.slot())];
  assert(channels_[static_cast<std::size_t>(channel.slot())] == &channel);
  entry.fd = fd;
  entry.events = events;
  return true;
}

void PollPoller::remove(Channel& channel) {
  noteRemoved(channel);
  const auto index = static_cast<std::size_t>(channel.slot());
  assert(index < channels_.size() && channels_[index] == &channel);
  const std::size_t last = channels_.size() - 1;
  if (index != last) {
    pollfds_[index] = pollfds_[last];
    channels_[index] = channels_[last];
    channels_[index]->setSlot(static_cast<int>(index));
    // The entry that moved still watches its own channel's fd.
    assert(pollfds_[index].fd == channels_[index]->fd() ||
           pollfds_[index].fd == ignoredFd(channels_[index]->fd()));
  }
  pollfds_.pop_back();
  channels_.pop_back();
  channel.setSlot(-1);
}

void PollPoller::wait(int timeoutMs, std::vector<Channel*>& active) {
  assert(pollfds_.size() == channels_.size());
  int n = sys_.poll(pollfds_.data(), pollfds_.size(), timeoutMs);
  if (n < 0) {
    const int error = errno;
    if (error != EINTR) {
      DUET_LOG(Error) << "poll failed: " << std::strerror(error);
    }
    return;
  }
  // The kernel told us how many entries have revents set: stop scanning once
  // they are all found.
  for (std::size_t i = 0; i < pollfds_.size() && n > 0; ++i) {
    if (pollfds_[i].revents == 0) continue;
    --n;
    // poll reports nothing for an ignored (negative) entry: a ready entry is
    // a watched fd, and it is its channel's.
    assert(pollfds_[i].fd == channels_[i]->fd() && channels_[i]->slot() == static_cast<int>(i));
    channels_[i]->setReady(fromPoll(pollfds_[i].revents));
    active.push_back(channels_[i]);
  }
}

}  // namespace duet
