// The timers of one loop, kept in deadline order. Shared by every backend: a
// backend only has to wake the loop at nextDeadline() (timerfd on the reactor,
// the wait timeout of io_uring_enter on the proactor) and call expire().
//
// Not thread-safe: EventLoop routes every call through its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace duet {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using Task = std::function<void()>;

// Names one timer. Sequence numbers are never reused, so cancelling a timer
// that already fired (or an id from another loop) is a harmless no-op.
struct TimerId {
  std::uint64_t sequence = 0;
  explicit operator bool() const { return sequence != 0; }
  friend bool operator==(TimerId, TimerId) = default;
};

class TimerQueue {
 public:
  // `interval` zero: fires once; otherwise repeats every interval after `when`.
  TimerId add(TimePoint when, Duration interval, Task task) {
    const TimerId id = reserveId();
    insert(id, when, interval, std::move(task));
    return id;
  }

  // Thread-safe: lets another thread name a timer before the loop adds it, so
  // the caller can cancel it by id right away (EventLoop::runAfter off-loop).
  // Every reserved id must be passed to insert() once.
  TimerId reserveId();
  // Adds a timer under an id from reserveId(), unless that id was cancelled
  // in between: then the task is dropped and nothing is added.
  void insert(TimerId id, TimePoint when, Duration interval, Task task);

  // Safe from inside any timer's callback, including the timer's own. Wins
  // whatever the order: a cancel that comes before the timer's insert (the
  // loop cancels an id another thread reserved, while its insert is still
  // queued) makes that insert add nothing.
  void cancel(TimerId id);

  // Runs every timer due at `now`, in deadline order (ties: creation order).
  // A repeating timer is re-armed at the first multiple of its interval after
  // `now`, so a late loop neither replays missed ticks nor drifts. Returns how many fired.
  std::size_t expire(TimePoint now);

  // Removes every timer and hands their tasks to the caller, who destroys
  // them when the queue is consistent again (a task's destructor may call cancel()).
  std::vector<Task> takeAll();

  std::optional<TimePoint> nextDeadline() const;
  std::size_t size() const { return timers_.size(); }

 private:
  struct Key {
    TimePoint when;
    std::uint64_t sequence;
    friend auto operator<=>(const Key&, const Key&) = default;
  };
  struct Timer {
    Duration interval;
    Task task;
  };

  // Checks that timers_ and deadlines_ describe the same timers (asserts only).
  void checkBookkeeping() const;

  std::map<Key, Timer> timers_;
  std::unordered_map<std::uint64_t, TimePoint> deadlines_;  // sequence -> when, for cancel
  std::atomic<std::uint64_t> nextSequence_{1};
  // Ids reserved but not yet inserted, each with whether it was cancelled
  // meanwhile. Bounded by the inserts in flight: insert() removes the entry.
  // Guarded by its mutex, because reserveId() runs on any thread.
  std::mutex notInsertedMutex_;
  std::unordered_map<std::uint64_t, bool> notInsertedYet_;
  std::uint64_t running_ = 0;      // sequence of the callback running now
  bool runningCancelled_ = false;  // it cancelled itself (or was cancelled) while running
};

}  // namespace duet
