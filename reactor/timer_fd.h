// TimerFd: the loop's one kernel timer. core's TimerQueue keeps every timer;
// the reactor only needs to wake up at the earliest deadline, so a single
// timerfd armed at that absolute time is enough. Being an fd, it is waited on
// with everything else, and gives nanosecond resolution where the wait
// timeouts of epoll_wait/poll are whole milliseconds.
#pragma once

#include <optional>

#include "core/loop_stats.h"
#include "core/socket_ops.h"
#include "core/timer_queue.h"
#include "reactor/channel.h"
#include "reactor/reactor_syscalls.h"

namespace duet {

class ReactorLoop;

class TimerFd final : private ChannelHandler {
 public:
  // Throws BackendUnavailable if no timerfd can be made.
  TimerFd(ReactorLoop& loop, LoopStats& stats);
  ~TimerFd();
  TimerFd(const TimerFd&) = delete;
  TimerFd& operator=(const TimerFd&) = delete;

  // Fires once at `deadline` (steady_clock, which is CLOCK_MONOTONIC on
  // Linux); nullopt disarms.
  void arm(std::optional<TimePoint> deadline);

 private:
  // Only drains the expiry count: EventLoop::run() expires due timers after
  // every poll(), so there is nothing else to do here.
  void handleReady(unsigned ready) override;

  ReactorSyscalls sys_;
  UniqueFd timerFd_;
  Channel channel_;
};

}  // namespace duet
