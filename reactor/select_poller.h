// SelectPoller: the oldest readiness API. Interest is two bitmaps (fd_set),
// copied and handed to select(2) on every wait, which overwrites them with
// what is ready; finding the ready fds means testing every watched one.
//
// An fd_set has FD_SETSIZE (1024) bits. FD_SET on a larger fd writes past the
// end of the struct: undefined behaviour that silently corrupts the stack. So
// this poller refuses such fds: update() returns false and never touches the
// sets, and its owner closes the fd (ReactorLoop::createConnection logs and
// drops the connection before it even gets this far).
#pragma once

#include <sys/select.h>

#include <vector>

#include "reactor/poller.h"
#include "reactor/reactor_syscalls.h"

namespace duet {

class SelectPoller final : public Poller {
 public:
  explicit SelectPoller(LoopStats& stats);

  bool update(Channel& channel) override;
  void remove(Channel& channel) override;
  void wait(int timeoutMs, std::vector<Channel*>& active) override;
  std::optional<int> descriptorLimit() const override { return FD_SETSIZE; }

 private:
  void recomputeMaxFd();

  ReactorSyscalls sys_;
  fd_set readSet_;
  fd_set writeSet_;
  // Registered channels; channels_[i]->slot() == i for O(1) removal. The
  // scan after select() walks this list rather than all 1024 bits.
  std::vector<Channel*> channels_;
  int maxFd_ = -1;           // highest fd with any interest: select's first argument is maxFd_ + 1
  bool maxFdStale_ = false;  // that fd lost its interest; recompute before the next wait
};

}  // namespace duet
