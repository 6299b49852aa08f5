#include "core/coro/spawn.h"

#include <atomic>
#include <exception>

#include "core/log.h"

namespace duet::coro {

namespace {

std::atomic<std::size_t> liveSpawned{0};

// The root frame: starts at once, destroys itself at the end, and is the
// `root` every Task under it remembers.
struct Detached {
  struct promise_type : detail::PromiseBase {
    promise_type() noexcept { liveSpawned.fetch_add(1, std::memory_order_relaxed); }
    ~promise_type() { liveSpawned.fetch_sub(1, std::memory_order_relaxed); }
    Detached get_return_object() noexcept {
      root = std::coroutine_handle<promise_type>::from_promise(*this);
      return {};
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }  // the frame frees itself
    void return_void() noexcept {}
    // run() below catches everything; an exception here would be a bug in it.
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

Detached run(Task<void> task) {
  try {
    co_await task;
  } catch (const std::exception& e) {
    DUET_LOG(Error) << "coroutine ended by an exception: " << e.what();
  } catch (...) {
    DUET_LOG(Error) << "coroutine ended by an exception of unknown type";
  }
}

}  // namespace

void spawn(Task<void> task) { run(std::move(task)); }

std::size_t liveSpawnedCount() { return liveSpawned.load(std::memory_order_relaxed); }

}  // namespace duet::coro
