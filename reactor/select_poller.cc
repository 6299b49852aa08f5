#include "reactor/select_poller.h"

#include <cassert>
#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "reactor/channel.h"

namespace duet {

SelectPoller::SelectPoller(LoopStats& stats) : sys_(stats) {
  FD_ZERO(&readSet_);
  FD_ZERO(&writeSet_);
}

bool SelectPoller::update(Channel& channel) {
  const int fd = channel.fd();
  if (fd < 0 || fd >= FD_SETSIZE) {
    // Never FD_SET it: that would write outside the fd_set.
    DUET_LOG(Warn) << "select backend cannot watch fd " << fd << " (>= FD_SETSIZE " << FD_SETSIZE
                   << ")";
    return false;
  }
  if (!channel.registered()) {
    noteRegistered(channel);
    channel.setSlot(static_cast<int>(channels_.size()));
    channels_.push_back(&channel);
  } else {
    checkRegistered(channel);
    assert(static_cast<std::size_t>(channel.slot()) < channels_.size() &&
           channels_[static_cast<std::size_t>(channel.slot())] == &channel);
  }
  if (channel.wantsRead()) {
    FD_SET(fd, &readSet_);
  } else {
    FD_CLR(fd, &readSet_);
  }
  if (channel.wantsWrite()) {
    FD_SET(fd, &writeSet_);
  } else {
    FD_CLR(fd, &writeSet_);
  }
  if (channel.interest() != 0 && fd > maxFd_) maxFd_ = fd;
  if (channel.interest() == 0 && fd == maxFd_) maxFdStale_ = true;
  // select() looks only at fds below its first argument: one with interest
  // above maxFd_ would never be reported.
  assert(channel.interest() == 0 || fd <= maxFd_);
  return true;
}

void SelectPoller::remove(Channel& channel) {
  noteRemoved(channel);
  const int fd = channel.fd();
  FD_CLR(fd, &readSet_);  // registered() implies fd < FD_SETSIZE
  FD_CLR(fd, &writeSet_);
  if (fd == maxFd_) maxFdStale_ = true;
  const auto index = static_cast<std::size_t>(channel.slot());
  assert(index < channels_.size() && channels_[index] == &channel);
  channels_[index] = channels_.back();
  channels_[index]->setSlot(static_cast<int>(index));
  channels_.pop_back();
  channel.setSlot(-1);
}

void SelectPoller::recomputeMaxFd() {
  maxFd_ = -1;
  for (const Channel* channel : channels_) {
    if (channel->interest() != 0 && channel->fd() > maxFd_) maxFd_ = channel->fd();
  }
  maxFdStale_ = false;
}

void SelectPoller::wait(int timeoutMs, std::vector<Channel*>& active) {
  if (maxFdStale_) recomputeMaxFd();
  // select() overwrites its arguments with the result: pass copies.
  fd_set readable = readSet_;
  fd_set writable = writeSet_;
  timeval timeout{};
  timeval* timeoutPtr = nullptr;
  if (timeoutMs >= 0) {
    timeout.tv_sec = timeoutMs / 1000;
    timeout.tv_usec = (timeoutMs % 1000) * 1000;
    timeoutPtr = &timeout;
  }
  int n = sys_.select(maxFd_ + 1, &readable, &writable, timeoutPtr);
  if (n < 0) {
    const int error = errno;
    if (error != EINTR) {
      DUET_LOG(Error) << "select failed: " << std::strerror(error);
    }
    return;
  }
  // n counts set bits over both sets: an fd both readable and writable counts twice.
  for (std::size_t i = 0; i < channels_.size() && n > 0; ++i) {
    Channel* channel = channels_[i];
    const int fd = channel->fd();
    unsigned ready = 0;
    if (FD_ISSET(fd, &readable)) {
      ready |= ready::kReadable;
      --n;
    }
    if (FD_ISSET(fd, &writable)) {
      ready |= ready::kWritable;
      --n;
    }
    if (ready == 0) continue;
    // select reports only what was asked for.
    assert((!(ready & ready::kReadable) || channel->wantsRead()) &&
           (!(ready & ready::kWritable) || channel->wantsWrite()));
    // select has no separate hang-up or error report: both show up as
    // readable (read returns 0 or the error) or writable (write fails).
    channel->setReady(ready);
    active.push_back(channel);
  }
}

}  // namespace duet
