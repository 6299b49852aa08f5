// TimerWait: a coroutine suspended until a loop timer fires -- the one piece
// under sleep() and withTimeout().
//
// Three ways it can end, and exactly one happens (`done` records it):
//   fired      the timer ran: resume the waiting coroutine.
//   cancelled  the waiting coroutine no longer waits (withTimeout's child
//              finished first, or the frame was destroyed): cancel the timer.
//   abandoned  the loop destroyed the timer without running it (the loop is
//              being destroyed): nobody will ever resume the coroutine, so
//              destroy its root -- the whole chain -- instead of leaking it.
//
// The timer's task holds a Guard; its destructor is how "abandoned" is
// noticed. The awaiter (in the coroutine frame) holds the same State, so
// whichever side ends first tells the other through `done`.
#pragma once

#include <coroutine>
#include <memory>
#include <utility>

#include "core/coro/task.h"
#include "core/event_loop.h"

namespace duet::coro::detail {

class TimerWait {
 public:
  TimerWait() = default;
  // A named local of the waiting frame (never a temporary): it must stay put.
  TimerWait(const TimerWait&) = delete;
  TimerWait& operator=(const TimerWait&) = delete;
  ~TimerWait() { cancel(); }

  // Loop thread. Resume `waiting` after `delay`; `root` is destroyed if the
  // loop drops the timer instead.
  void start(EventLoop& loop, Duration delay, std::coroutine_handle<> waiting,
             std::coroutine_handle<> root) {
    loop_ = &loop;
    state_ = std::make_shared<State>(State{waiting, root, false});
    timer_ = loop.runAfter(delay, [guard = std::make_shared<Guard>(state_)] { guard->fire(); });
  }
  // The timer fired (and resumed the waiter).
  bool fired() const { return state_ && state_->fired; }
  // The waiter stops waiting: the timer will not resume it. Idempotent.
  void cancel() {
    if (state_ && !state_->done) {
      state_->done = true;
      loop_->cancel(timer_);
    }
  }

 private:
  struct State {
    std::coroutine_handle<> waiting;
    std::coroutine_handle<> root;
    bool done;
    bool fired = false;
  };
  struct Guard {
    explicit Guard(std::shared_ptr<State> s) : state(std::move(s)) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    void fire() {
      if (state->done) return;
      state->done = true;
      state->fired = true;
      state->waiting.resume();
    }
    ~Guard() {
      if (state->done) return;
      state->done = true;  // before the destroy: the awaiter's destructor must not cancel
      if (state->root) state->root.destroy();
    }
    std::shared_ptr<State> state;
  };

  EventLoop* loop_ = nullptr;
  std::shared_ptr<State> state_;
  TimerId timer_;
};

// co_await StartTimer{timer, loop, delay}: suspends until `timer` fires.
// Holds only references, so nothing is lost if it is destroyed early.
struct StartTimer {
  TimerWait& timer;
  EventLoop& loop;
  Duration delay;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  void await_suspend(std::coroutine_handle<Promise> waiting) {
    timer.start(loop, delay, waiting, rootOf(waiting));
  }
  void await_resume() const noexcept {}
};

}  // namespace duet::coro::detail
