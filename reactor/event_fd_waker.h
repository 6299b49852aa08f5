// EventFdWaker: how another thread interrupts a loop blocked in epoll_wait,
// poll or select. An eventfd is a kernel counter that is readable while
// non-zero: wake() adds 1 (from any thread), the loop sees it readable, and
// the handler reads it back to zero. Cheaper than the classic self-pipe: one
// fd instead of two, and writes never fill up (the counter just grows).
#pragma once

#include <atomic>

#include "core/loop_stats.h"
#include "core/socket_ops.h"
#include "reactor/channel.h"
#include "reactor/reactor_syscalls.h"

namespace duet {

class ReactorLoop;

class EventFdWaker final : private ChannelHandler {
 public:
  // Throws BackendUnavailable if no eventfd can be made.
  EventFdWaker(ReactorLoop& loop, LoopStats& stats);
  ~EventFdWaker();
  EventFdWaker(const EventFdWaker&) = delete;
  EventFdWaker& operator=(const EventFdWaker&) = delete;

  // Any thread. Makes the loop's wait return soon.
  void wake();

 private:
  void handleReady(unsigned ready) override;

  ReactorSyscalls sys_;
  UniqueFd eventFd_;
  Channel channel_;
  // True from a wake() until the loop drains the eventfd: further wake()s in
  // between would only bump the counter again, so they skip the write(2).
  // Safe because the loop runs queued tasks and checks quit *after* the
  // handler clears this flag within the same iteration.
  std::atomic<bool> pending_{false};
};

}  // namespace duet
