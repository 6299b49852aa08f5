// co_await sleep(loop, 50ms): suspends the coroutine for a while on the loop's
// timers; nothing else on the loop waits meanwhile. Loop thread only.
//
// A Task (one small frame per sleep) rather than a bare awaiter, so the timer
// state is a named local of a frame, never a temporary (see task.h on g++ 12).
#pragma once

#include "core/coro/task.h"
#include "core/coro/timer_wait.h"
#include "core/event_loop.h"

namespace duet::coro {

inline Task<void> sleep(EventLoop& loop, Duration delay) {
  if (delay <= Duration::zero()) co_return;
  detail::TimerWait timer;  // cancels the timer if this frame is destroyed mid-sleep
  co_await detail::StartTimer{timer, loop, delay};
}

}  // namespace duet::coro
