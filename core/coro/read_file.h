// co_await coro::readFile(loop, file, offset, length): EventLoop::readFile
// as a coroutine sees it -- the coroutine suspends, the loop goes on serving
// everyone else, and the coroutine resumes on the loop thread with the
// FileReadResult (the bytes, or an errno; EBUSY when the readers are full).
//
//   const FileReadResult got = co_await coro::readFile(loop, file, 0, 64 * 1024);
//   if (got.error != 0) ...
//
// Three ways a read can end for the coroutine, and exactly one happens
// (State::done records which side got there first):
//   completed   the loop calls back: resume the waiting coroutine with the result.
//   withdrawn   the waiting frame is destroyed first (withTimeout gave up on
//               it, or its root was destroyed): the read itself cannot be
//               stopped -- it owns its descriptor and buffer until it
//               completes -- but its callback must then do nothing.
//   abandoned   the loop destroys the callback uncalled (the loop is being
//               destroyed): nobody will ever resume the coroutine, so destroy
//               its root -- the whole chain -- instead of leaking it.
// The same three as a timer's (core/coro/timer_wait.h), noticed the same way:
// the callback holds a Guard whose destructor is how "abandoned" is seen.
//
// A Task (one small frame per read) rather than a bare awaiter, so the wait
// is a named local of a frame, never a temporary (see task.h on g++ 12).
// Loop thread only.
#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "core/coro/task.h"
#include "core/event_loop.h"
#include "core/file_read.h"

namespace duet::coro {

namespace detail {

class FileReadWait {
 public:
  FileReadWait() = default;
  // A named local of the waiting frame: the loop's callback reaches it only
  // through State, never by address, so it may not be copied either.
  FileReadWait(const FileReadWait&) = delete;
  FileReadWait& operator=(const FileReadWait&) = delete;
  // Withdrawn: the frame is going; a callback that comes later does nothing.
  ~FileReadWait() {
    if (state_) state_->done = true;
  }

  void start(EventLoop& loop, SharedFd file, std::uint64_t offset, std::size_t length,
             std::coroutine_handle<> waiting, std::coroutine_handle<> root) {
    state_ = std::make_shared<State>();
    state_->waiting = waiting;
    state_->root = root;
    loop.readFile(std::move(file), offset, length,
                  [guard = std::make_shared<Guard>(state_)](FileReadResult result) {
                    guard->complete(std::move(result));
                  });
  }
  FileReadResult take() { return std::move(state_->result); }

 private:
  struct State {
    std::coroutine_handle<> waiting;
    std::coroutine_handle<> root;
    bool done = false;
    FileReadResult result;
  };
  struct Guard {
    explicit Guard(std::shared_ptr<State> s) : state(std::move(s)) {}
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    void complete(FileReadResult result) {
      if (state->done) return;  // withdrawn: the frame is gone
      state->done = true;
      state->result = std::move(result);
      state->waiting.resume();
    }
    ~Guard() {
      if (state->done) return;
      state->done = true;  // before the destroy: ~FileReadWait runs inside it
      if (state->root) state->root.destroy();
    }
    std::shared_ptr<State> state;
  };

  std::shared_ptr<State> state_;
};

// co_await StartFileRead{...}: suspends until the read completes. Holds only
// references and plain values: with g++ 12 we saw a co_await operand's
// non-trivial members destroyed twice (a SharedFd member here dropped a reference the
// read still needed: the file closed under it), so the descriptor stays in
// the frame until the read takes it.
struct StartFileRead {
  FileReadWait& wait;
  EventLoop& loop;
  SharedFd& file;  // moved into the read at the suspension
  std::uint64_t offset;
  std::size_t length;
  bool await_ready() const noexcept { return false; }
  template <class Promise>
  void await_suspend(std::coroutine_handle<Promise> waiting) {
    wait.start(loop, std::move(file), offset, length, waiting, rootOf(waiting));
  }
  void await_resume() const noexcept {}
};

}  // namespace detail

// `length` bytes of `file` at `offset` (fewer where the file ends), or the
// read's errno in `error`. EventLoop::readFile says what each backend does.
inline Task<FileReadResult> readFile(EventLoop& loop, SharedFd file, std::uint64_t offset,
                                     std::size_t length) {
  detail::FileReadWait wait;  // withdraws the callback if this frame is destroyed mid-read
  co_await detail::StartFileRead{wait, loop, file, offset, length};
  co_return wait.take();
}

}  // namespace duet::coro
