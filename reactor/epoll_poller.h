// EpollPoller: the interest set lives in the kernel (epoll_ctl), and
// epoll_wait returns only what is ready, so a loop with 10,000 idle
// connections and one busy one pays for one.
//
// Level-triggered by default: an fd is reported on every wait while it stays
// ready, which forgives a handler that reads only part of what is there.
// Edge-triggered (Channel::setEdgeTriggered, from ReactorOptions::edgeTriggered)
// reports a change once; the handler must then read or write until EAGAIN,
// and in exchange the kernel does less work per wait.
#pragma once

#include <sys/epoll.h>

#include <vector>

#include "core/socket_ops.h"
#include "reactor/poller.h"
#include "reactor/reactor_syscalls.h"

namespace duet {

class EpollPoller final : public Poller {
 public:
  explicit EpollPoller(LoopStats& stats);

  bool update(Channel& channel) override;
  void remove(Channel& channel) override;
  void wait(int timeoutMs, std::vector<Channel*>& active) override;

 private:
  // Channel::slot() values: known but not in the kernel set (no interest), or in it.
  static constexpr int kDetached = 0;
  static constexpr int kInKernel = 1;

  bool control(int op, Channel& channel);

  ReactorSyscalls sys_;
  UniqueFd epollFd_;
  // Filled by epoll_wait. Grows when a wait fills it, so a busy loop gets
  // every ready fd in one call.
  std::vector<epoll_event> events_;
};

}  // namespace duet
