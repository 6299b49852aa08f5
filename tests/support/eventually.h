// Bounded waits for a condition, the only kind of waiting a test may do: it
// ends as soon as the condition holds, and gives up after a deadline so that
// a broken test fails instead of hanging. The deadline is not a threshold:
// nothing passes or fails by how long the wait took.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "core/event_loop.h"

namespace duet::test {

// Waits (polling every few ms) until `condition` holds. For state that
// another thread produces; returns false on timeout so the test fails, never hangs.
inline bool eventually(const std::function<bool()>& condition, int timeoutMs = 5000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// Runs `loop` on this thread until `done()` holds (checked every millisecond)
// or 5 s have passed. For a loop the test drives itself; returns done().
inline bool runUntil(EventLoop& loop, const std::function<bool()>& done) {
  const TimerId check = loop.runEvery(std::chrono::milliseconds(1), [&] {
    if (done()) loop.quit();
  });
  const TimerId giveUp = loop.runAfter(std::chrono::seconds(5), [&] { loop.quit(); });
  loop.run();
  loop.cancel(check);
  loop.cancel(giveUp);
  return done();
}

}  // namespace duet::test
