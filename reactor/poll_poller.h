// PollPoller: one pollfd per channel in a dense array that is handed whole to
// poll(2) on every wait. No fd limit, but each wait costs O(watched fds) in
// the kernel and in the scan afterwards, ready or not: the contrast with epoll
// that the benchmarks show as connection counts grow.
#pragma once

#include <poll.h>

#include <vector>

#include "reactor/poller.h"
#include "reactor/reactor_syscalls.h"

namespace duet {

class PollPoller final : public Poller {
 public:
  explicit PollPoller(LoopStats& stats);

  bool update(Channel& channel) override;
  void remove(Channel& channel) override;
  void wait(int timeoutMs, std::vector<Channel*>& active) override;

 private:
  ReactorSyscalls sys_;
  // Parallel arrays: pollfds_[i] watches channels_[i]->fd(), and
  // channels_[i]->slot() == i, so removal is O(1): move the last entry into
  // the hole and tell its channel its new index.
  std::vector<pollfd> pollfds_;
  std::vector<Channel*> channels_;
};

}  // namespace duet
