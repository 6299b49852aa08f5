#include "core/timer_queue.h"

#include <vector>

namespace duet {

void TimerQueue::insert(TimerId id, TimePoint when, Duration interval, Task task) {
  timers_.emplace(Key{when, id.sequence}, Timer{interval, std::move(task)});
  deadlines_.emplace(id.sequence, when);
}

void TimerQueue::cancel(TimerId id) {
  if (id.sequence == running_) runningCancelled_ = true;
  const auto it = deadlines_.find(id.sequence);
  if (it == deadlines_.end()) return;
  timers_.erase(Key{it->second, id.sequence});
  deadlines_.erase(it);
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
  return fired;
}

std::optional<TimePoint> TimerQueue::nextDeadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.when;
}

}  // namespace duet
