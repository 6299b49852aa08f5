// Task<T>: a coroutine that produces a T (or nothing: Task<void>) for the
// coroutine that co_awaits it. The building block of duet's coroutine API.
//
//   Task<std::size_t> countLines(Stream s);        // a coroutine
//   std::size_t n = co_await countLines(s);        // runs it, here, to the end
//
// Lazily started: calling a Task coroutine only creates its frame; its body
// starts when the caller co_awaits it. So a Task that is never awaited never
// runs, and the awaiter is always known before the body can finish.
//
// Symmetric transfer: when a Task finishes, its final suspend returns the
// awaiting coroutine's handle, and the compiler jumps to it instead of calling
// resume() from inside the finished frame. A chain of a million Tasks that
// each finish at once therefore uses constant stack, not a million frames.
//
// Exceptions: one escaping a Task's body is stored in its promise and
// rethrown from the co_await in the awaiting coroutine, as if it were a call.
//
// g++ 12 (Debian 12's compiler) miscompiles a co_await inside the condition
// of an if or while: the condition's temporaries -- the awaited Task itself --
// are destroyed at the suspension, and the resume runs freed code (seen as a
// crash; clang is right). Bind the result first:
//     const IoStatus got = co_await s.read();   // not: while (co_await s.read() == ...)
//     if (got != IoStatus::Ok) break;
// duet's own code and tests are written so.
//
// Ownership: the Task object owns the frame and destroys it in its
// destructor. While a parent awaits a child, the child Task is a temporary or
// local in the parent's frame: destroying the parent destroys the child, and
// so on down the chain. The outermost coroutine (the root) is started by
// spawn() (core/coro/spawn.h), which owns it until it ends.
//
// Every promise remembers its root (the spawned coroutine it runs under), so a
// wait that can be abandoned without ever resuming (a timer dropped by a loop
// that is destroyed: core/coro/timer_wait.h) can destroy the whole chain
// instead of leaking it.
#pragma once

#include <cassert>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

namespace duet::coro {

template <class T = void>
class Task;

namespace detail {

// What every duet promise has: the coroutine to resume at the end, the root,
// and the wait this frame is suspended in.
struct PromiseBase {
  std::coroutine_handle<> continuation;  // who co_awaits this task; resumed when it ends
  std::coroutine_handle<> root;          // the spawned coroutine at the top of the chain

  // The wait this frame is suspended in, if something outside the frame (a
  // connection) holds its handle to resume it: withdrawn here if the frame is
  // destroyed instead (withTimeout abandoning it, a root destroyed), so
  // nothing resumes freed memory. It lives in the promise, not in the
  // awaiter, because g++ 12 destroys the temporaries of a co_await inside an
  // if/while condition at the suspension instead of after the resume.
  void (*withdrawWait)(void* waitOwner) = nullptr;
  void* waitOwner = nullptr;
  void setWait(void (*withdraw)(void*), void* owner) noexcept {
    withdrawWait = withdraw;
    waitOwner = owner;
  }
  void clearWait() noexcept { withdrawWait = nullptr; }
  PromiseBase() = default;
  PromiseBase(const PromiseBase&) = delete;
  PromiseBase& operator=(const PromiseBase&) = delete;
  ~PromiseBase() {
    if (withdrawWait) withdrawWait(waitOwner);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }  // lazy: the awaiter starts us

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    // Symmetric transfer: jump to the awaiter rather than resume() it from here.
    template <class Promise>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> finished) noexcept {
      const std::coroutine_handle<> next = finished.promise().continuation;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }
};

// The root of `awaiting`'s chain, if its promise is one of ours.
template <class Promise>
std::coroutine_handle<> rootOf(std::coroutine_handle<Promise> awaiting) {
  if constexpr (std::is_base_of_v<PromiseBase, Promise>) {
    return awaiting.promise().root;
  } else {
    return {};
  }
}

template <class T>
struct TaskPromise : PromiseBase {
  Task<T> get_return_object() noexcept;
  void unhandled_exception() noexcept { result.template emplace<2>(std::current_exception()); }
  template <class U>
  void return_value(U&& value) {
    result.template emplace<1>(std::forward<U>(value));
  }
  T take() {
    if (result.index() == 2) std::rethrow_exception(std::get<2>(result));
    return std::move(std::get<1>(result));
  }
  // Not yet finished / the value / the exception.
  std::variant<std::monostate, T, std::exception_ptr> result;
};

template <>
struct TaskPromise<void> : PromiseBase {
  Task<void> get_return_object() noexcept;
  void unhandled_exception() noexcept { exception = std::current_exception(); }
  void return_void() noexcept {}
  void take() {
    if (exception) std::rethrow_exception(exception);
  }
  std::exception_ptr exception;
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::TaskPromise<T>;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  explicit Task(Handle frame) noexcept : frame_(frame) {}
  Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      reset();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { reset(); }

  bool valid() const { return static_cast<bool>(frame_); }
  // Destroys the frame now, wherever it is suspended (its awaiters unregister
  // in their destructors). withTimeout() uses it to abandon a slow child.
  void reset() noexcept {
    if (frame_) std::exchange(frame_, {}).destroy();
  }

  // ---- co_await task: start the body, come back with its result ----
  bool await_ready() const noexcept { return false; }  // never started before it is awaited
  template <class Promise>
  std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
    assert(frame_ && "co_await on an empty or moved-from Task");
    frame_.promise().continuation = awaiting;
    frame_.promise().root = detail::rootOf(awaiting);
    return frame_;  // symmetric transfer into the child's body
  }
  T await_resume() { return frame_.promise().take(); }

  // For withTimeout(): the child's promise, to hand it a continuation and root.
  Handle handle() const noexcept { return frame_; }

 private:
  Handle frame_;
};

namespace detail {
template <class T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<TaskPromise<T>>::from_promise(*this));
}
inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<TaskPromise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace duet::coro
