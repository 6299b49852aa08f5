#include "core/timer_queue.h"

#include <cassert>
#include <vector>

namespace duet {

TimerId TimerQueue::reserveId() {
  const TimerId id{nextSequence_.fetch_add(1, std::memory_order_relaxed)};
  std::lock_guard lock(notInsertedMutex_);
  notInsertedYet_.emplace(id.sequence, /*cancelled=*/false);
  return id;
}

void TimerQueue::insert(TimerId id, TimePoint when, Duration interval, Task task) {
  {
    std::lock_guard lock(notInsertedMutex_);
    const auto it = notInsertedYet_.find(id.sequence);
    assert(it != notInsertedYet_.end() &&
           "insert() of an id not from reserveId(), or inserted twice");
    const bool cancelledBeforeInsert = it != notInsertedYet_.end() && it->second;
    if (it != notInsertedYet_.end()) notInsertedYet_.erase(it);
    if (cancelledBeforeInsert) return;  // `task` is dropped here
  }
  timers_.emplace(Key{when, id.sequence}, Timer{interval, std::move(task)});
  deadlines_.emplace(id.sequence, when);
  checkBookkeeping();
}

void TimerQueue::cancel(TimerId id) {
  if (id.sequence == running_) runningCancelled_ = true;
  const auto it = deadlines_.find(id.sequence);
  if (it == deadlines_.end()) {
    // Not in the queue: fired, cancelled, unknown, or its insert has not run
    // yet. Only the last needs remembering, and only until that insert.
    std::lock_guard lock(notInsertedMutex_);
    const auto pending = notInsertedYet_.find(id.sequence);
    if (pending != notInsertedYet_.end()) pending->second = true;
    return;
  }
  timers_.erase(Key{it->second, id.sequence});
  deadlines_.erase(it);
  checkBookkeeping();
}

std::size_t TimerQueue::expire(TimePoint now) {
  std::size_t fired = 0;
  // Take the due timers out first: a callback may add or cancel timers, and a
  // timer added with a past deadline waits for the next expire() rather than
  // looping here forever.
  std::vector<std::pair<Key, Timer>> due;
  while (!timers_.empty() && timers_.begin()->first.when <= now) {
    auto node = timers_.extract(timers_.begin());
    due.emplace_back(node.key(), std::move(node.mapped()));
  }
  for (auto& [key, timer] : due) {
    // An earlier callback in this batch may have cancelled this one.
    if (!deadlines_.contains(key.sequence)) continue;
    running_ = key.sequence;
    runningCancelled_ = false;
    timer.task();
    ++fired;
    running_ = 0;
    if (timer.interval > Duration::zero() && !runningCancelled_) {
      // Keep the phase, skipping ticks the loop was too late for: the next
      // deadline is the first when + k*interval strictly after now.
      TimePoint next = key.when + timer.interval;
      if (next <= now) next += ((now - next) / timer.interval + 1) * timer.interval;
      timers_.emplace(Key{next, key.sequence}, std::move(timer));
      deadlines_[key.sequence] = next;
    } else {
      deadlines_.erase(key.sequence);
    }
  }
  checkBookkeeping();
  return fired;
}

std::vector<Task> TimerQueue::takeAll() {
  std::vector<Task> tasks;
  tasks.reserve(timers_.size());
  for (auto& [key, timer] : timers_) tasks.push_back(std::move(timer.task));
  timers_.clear();
  deadlines_.clear();
  checkBookkeeping();
  return tasks;
}

std::optional<TimePoint> TimerQueue::nextDeadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.when;
}

void TimerQueue::checkBookkeeping() const {
  // Outside expire()'s loop, every queued timer has exactly one deadline
  // entry (cancel() finds the timer through it), and nothing else does.
  // Inside a callback (cancel or add from a timer) the due timers are out of
  // timers_ but still in deadlines_, so the check waits for expire()'s end.
  if (running_ != 0) return;
  assert(timers_.size() == deadlines_.size());
}

}  // namespace duet
