// co_await withTimeout(loop, something, 5s): whatever `something` is (a Task,
// conn.read(), conn.write(...), sleep(...)), wait for it at most that long.
//
//   const std::optional<IoStatus> got = co_await withTimeout(loop, conn.read(), 5s);
//   if (!got) ... timed out: the read was abandoned, the bytes stay in the Buffer
//
// Result: std::optional<T> (nullopt: timed out), or bool for a void awaitable
// (false: timed out).
//
// How: the awaited thing runs as a child Task with a timer beside it. If the
// child finishes first, the timer is cancelled. If the timer fires first, the
// child's frame is destroyed where it is suspended -- every duet awaiter
// unregisters in its destructor (a read stops being the connection's reader,
// a sleep cancels its timer) -- and the caller resumes with the timeout. So a
// timed-out wait leaves nothing behind, and nothing resumes a freed frame.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>

#include "core/coro/task.h"
#include "core/coro/timer_wait.h"
#include "core/event_loop.h"

namespace duet::coro {

template <class T>
using TimeoutResult = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

namespace detail {

// Starts the child with the timer already armed beside it. Holds only
// references: the timer and the child live in withTimeout's frame.
template <class T>
struct StartRace {
  TimerWait& timer;
  EventLoop& loop;
  Duration limit;
  std::coroutine_handle<TaskPromise<T>> child;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) {
    const std::coroutine_handle<> root = rootOf(awaiting);
    timer.start(loop, limit, awaiting, root);  // the timer firing resumes us...
    child.promise().continuation = awaiting;   // ...and so does the child finishing
    child.promise().root = root;
    return child;  // start the child now
  }
  void await_resume() const noexcept {}
};

template <class Awaitable>
using AwaitResult = decltype(std::declval<Awaitable>().await_resume());

// Any awaitable as a Task, so one race serves them all.
template <class Awaitable>
Task<AwaitResult<Awaitable>> asTask(Awaitable awaitable) {
  co_return co_await awaitable;
}

}  // namespace detail

template <class T>
Task<TimeoutResult<T>> withTimeout(EventLoop& loop, Task<T> task, Duration limit) {
  detail::TimerWait timer;  // named locals of this frame: they live as long as it
  co_await detail::StartRace<T>{timer, loop, limit, task.handle()};
  if (timer.fired()) {
    task.reset();  // abandoned where it is suspended: its wait is withdrawn
    co_return TimeoutResult<T>{};
  }
  timer.cancel();
  if constexpr (std::is_void_v<T>) {
    task.handle().promise().take();  // rethrows the child's exception, if any
    co_return true;
  } else {
    co_return std::optional<T>(task.handle().promise().take());
  }
}

template <class Awaitable>
Task<TimeoutResult<detail::AwaitResult<Awaitable>>> withTimeout(EventLoop& loop,
                                                                Awaitable awaitable,
                                                                Duration limit) {
  return withTimeout(loop, detail::asTask(std::move(awaitable)), limit);
}

}  // namespace duet::coro
