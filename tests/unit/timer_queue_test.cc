// TimerQueue on synthetic time: every TimePoint is the clock's epoch plus some
// milliseconds, so nothing sleeps and nothing depends on the machine's speed.
#include "core/timer_queue.h"

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace duet {
namespace {

using std::chrono::milliseconds;

TimePoint at(long ms) { return TimePoint{} + milliseconds(ms); }
constexpr Duration kOnce = Duration::zero();

// The next deadline in ms since the epoch (-1 if none): readable in failures,
// unlike a raw time_point.
long nextMs(const TimerQueue& q) {
  const auto next = q.nextDeadline();
  if (!next) return -1;
  return static_cast<long>(
      std::chrono::duration_cast<milliseconds>(next->time_since_epoch()).count());
}

TEST(TimerQueue, EmptyQueue) {
  TimerQueue q;
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.nextDeadline().has_value());
  EXPECT_EQ(q.expire(at(1000000)), 0u);
}

TEST(TimerQueue, IdsAreNonZeroAndDistinct) {
  TimerQueue q;
  const TimerId a = q.add(at(1), kOnce, [] {});
  const TimerId b = q.add(at(1), kOnce, [] {});
  EXPECT_TRUE(static_cast<bool>(a));
  EXPECT_TRUE(static_cast<bool>(b));
  EXPECT_FALSE(a == b);
  EXPECT_FALSE(static_cast<bool>(TimerId{}));
}

TEST(TimerQueue, CancelBeforeInsertWins) {
  // Issue 11, 2.7: an id reserved on another thread can be cancelled on the
  // loop before its insert arrives; the insert must then add nothing.
  TimerQueue q;
  bool fired = false;
  const TimerId id = q.reserveId();
  q.cancel(id);
  q.insert(id, at(10), kOnce, [&] { fired = true; });
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.nextDeadline().has_value());
  EXPECT_EQ(q.expire(at(100)), 0u);
  EXPECT_FALSE(fired);
}

TEST(TimerQueue, CancelBeforeInsertLeavesOtherReservedIdsAlone) {
  TimerQueue q;
  std::string order;
  const TimerId cancelled = q.reserveId();
  const TimerId kept = q.reserveId();
  q.cancel(cancelled);
  q.insert(kept, at(10), kOnce, [&] { order += 'k'; });
  q.insert(cancelled, at(5), kOnce, [&] { order += 'c'; });
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.expire(at(100)), 1u);
  EXPECT_EQ(order, "k");
}

TEST(TimerQueue, FiresInDeadlineOrder) {
  TimerQueue q;
  std::string order;
  q.add(at(30), kOnce, [&] { order += 'c'; });
  q.add(at(10), kOnce, [&] { order += 'a'; });
  q.add(at(20), kOnce, [&] { order += 'b'; });
  q.add(at(40), kOnce, [&] { order += 'd'; });
  EXPECT_EQ(q.size(), 4u);

  EXPECT_EQ(q.expire(at(9)), 0u);
  EXPECT_EQ(order, "");
  EXPECT_EQ(q.expire(at(10)), 1u);  // a deadline equal to now is due
  EXPECT_EQ(order, "a");
  EXPECT_EQ(q.expire(at(35)), 2u);
  EXPECT_EQ(order, "abc");
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.expire(at(100)), 1u);
  EXPECT_EQ(order, "abcd");
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.expire(at(200)), 0u);  // one-shots fire once
}

TEST(TimerQueue, TiesFireInCreationOrder) {
  TimerQueue q;
  std::string order;
  for (char c : std::string("abcdefghij")) q.add(at(5), kOnce, [&order, c] { order += c; });
  q.add(at(4), kOnce, [&] { order += '0'; });
  EXPECT_EQ(q.expire(at(5)), 11u);
  EXPECT_EQ(order, "0abcdefghij");
}

TEST(TimerQueue, NextDeadline) {
  TimerQueue q;
  const TimerId late = q.add(at(50), kOnce, [] {});
  EXPECT_EQ(nextMs(q), 50);
  const TimerId early = q.add(at(20), kOnce, [] {});
  EXPECT_EQ(nextMs(q), 20);
  q.add(at(30), kOnce, [] {});
  EXPECT_EQ(nextMs(q), 20);
  q.cancel(early);
  EXPECT_EQ(nextMs(q), 30);
  q.expire(at(30));
  EXPECT_EQ(nextMs(q), 50);
  q.cancel(late);
  EXPECT_FALSE(q.nextDeadline().has_value());
}

TEST(TimerQueue, RepeatingTimerRearmsFromPreviousDeadline) {
  TimerQueue q;
  int fired = 0;
  q.add(at(10), milliseconds(10), [&] { ++fired; });
  EXPECT_EQ(q.expire(at(13)), 1u);  // 3 ms late
  EXPECT_EQ(fired, 1);
  // Re-armed from the deadline (10 + 10), not from the late now (13 + 10): no drift.
  EXPECT_EQ(nextMs(q), 20);
  EXPECT_EQ(q.expire(at(19)), 0u);
  EXPECT_EQ(q.expire(at(20)), 1u);
  EXPECT_EQ(nextMs(q), 30);
  EXPECT_EQ(q.expire(at(31)), 1u);
  EXPECT_EQ(nextMs(q), 40);
  EXPECT_EQ(fired, 3);
  EXPECT_EQ(q.size(), 1u);
}

TEST(TimerQueue, RepeatingTimerFiresOnceAfterLongStall) {
  TimerQueue q;
  int fired = 0;
  q.add(at(10), milliseconds(10), [&] { ++fired; });
  // The loop was stalled for ~100 intervals: one tick, not a burst of missed ones.
  EXPECT_EQ(q.expire(at(1000)), 1u);
  EXPECT_EQ(fired, 1);
  ASSERT_TRUE(q.nextDeadline().has_value());
  EXPECT_LE(nextMs(q), 1010);
  EXPECT_EQ(q.size(), 1u);
}

TEST(TimerQueue, RepeatingTimerDoesNotFireTwiceForTheSameNow) {
  // After a late tick the next deadline must lie in the future: if it were
  // re-armed at `now` itself, the very next iteration (even one with the same
  // `now`) fires it again - two ticks back to back, i.e. a burst of missed ticks.
  TimerQueue q;
  int fired = 0;
  q.add(at(10), milliseconds(10), [&] { ++fired; });
  EXPECT_EQ(q.expire(at(1000)), 1u);
  EXPECT_EQ(q.expire(at(1000)), 0u) << "a repeating timer fired twice at the same instant";
  EXPECT_EQ(fired, 1);
  ASSERT_TRUE(q.nextDeadline().has_value());
  EXPECT_GT(nextMs(q), 1000) << "re-armed at (or before) the late now";
  EXPECT_LE(nextMs(q), 1010);
}

TEST(TimerQueue, RepeatingTimerAtHalfIntervalLateKeepsPeriod) {
  // 15 ms late on a 10 ms period: the 20 ms tick was missed. Whatever the
  // catch-up policy, the next tick is after now and at most one period away.
  TimerQueue q;
  int fired = 0;
  q.add(at(10), milliseconds(10), [&] { ++fired; });
  EXPECT_EQ(q.expire(at(25)), 1u);
  ASSERT_TRUE(q.nextDeadline().has_value());
  EXPECT_GT(nextMs(q), 25) << "re-armed at (or before) the late now";
  EXPECT_LE(nextMs(q), 35);
}

TEST(TimerQueue, CancelBeforeFire) {
  TimerQueue q;
  bool fired = false;
  const TimerId id = q.add(at(10), kOnce, [&] { fired = true; });
  q.cancel(id);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.expire(at(100)), 0u);
  EXPECT_FALSE(fired);
}

TEST(TimerQueue, CancelRepeatingBetweenTicks) {
  TimerQueue q;
  int fired = 0;
  const TimerId id = q.add(at(10), milliseconds(10), [&] { ++fired; });
  q.expire(at(10));
  q.cancel(id);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.expire(at(100)), 0u);
  EXPECT_EQ(fired, 1);
}

TEST(TimerQueue, CancelOfFiredOneShotIsNoOp) {
  TimerQueue q;
  int a = 0;
  int b = 0;
  const TimerId first = q.add(at(10), kOnce, [&] { ++a; });
  q.add(at(20), kOnce, [&] { ++b; });
  EXPECT_EQ(q.expire(at(10)), 1u);
  q.cancel(first);  // already fired
  q.cancel(first);  // twice
  q.cancel(TimerId{});
  q.cancel(TimerId{999999});  // never issued
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.expire(at(20)), 1u);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 1);
}

TEST(TimerQueue, CancelSelfFromCallbackStopsRepeating) {
  TimerQueue q;
  int fired = 0;
  TimerId self;
  self = q.add(at(10), milliseconds(10), [&] {
    if (++fired == 2) q.cancel(self);
  });
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.expire(at(20)), 1u);
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.nextDeadline().has_value());
  EXPECT_EQ(q.expire(at(1000)), 0u);
  EXPECT_EQ(fired, 2);
}

TEST(TimerQueue, CancelSelfFromOneShotCallback) {
  TimerQueue q;
  int fired = 0;
  TimerId self;
  self = q.add(at(10), kOnce, [&] {
    ++fired;
    q.cancel(self);
  });
  int other = 0;
  q.add(at(10), kOnce, [&] { ++other; });
  EXPECT_EQ(q.expire(at(10)), 2u);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(other, 1);
  EXPECT_EQ(q.size(), 0u);
}

TEST(TimerQueue, CancelAnotherDueTimerInTheSameBatch) {
  TimerQueue q;
  std::string order;
  TimerId victim;
  q.add(at(10), kOnce, [&] {
    order += 'a';
    q.cancel(victim);
  });
  victim = q.add(at(15), kOnce, [&] { order += 'v'; });
  q.add(at(20), kOnce, [&] { order += 'c'; });
  // All three are due at 20; 'a' runs first and cancels 'v', which must not run.
  EXPECT_EQ(q.expire(at(20)), 2u);
  EXPECT_EQ(order, "ac");
  EXPECT_EQ(q.size(), 0u);
}

TEST(TimerQueue, CancelAnotherDueRepeatingTimerInTheSameBatch) {
  TimerQueue q;
  int repeats = 0;
  TimerId repeating;
  q.add(at(10), kOnce, [&] { q.cancel(repeating); });
  repeating = q.add(at(10), milliseconds(5), [&] { ++repeats; });
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(repeats, 0);
  EXPECT_EQ(q.size(), 0u);  // not re-armed either
  EXPECT_EQ(q.expire(at(100)), 0u);
}

TEST(TimerQueue, CancelARepeatingTimerThatAlreadyFiredInThisBatch) {
  // The repeating timer runs first and is re-armed; a later callback in the
  // same batch cancels it: it must stay cancelled.
  TimerQueue q;
  int repeats = 0;
  const TimerId repeating = q.add(at(10), milliseconds(5), [&] { ++repeats; });
  q.add(at(10), kOnce, [&] { q.cancel(repeating); });
  EXPECT_EQ(q.expire(at(10)), 2u);
  EXPECT_EQ(repeats, 1);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.expire(at(100)), 0u);
  EXPECT_EQ(repeats, 1);
}

TEST(TimerQueue, CancelAFutureTimerFromCallback) {
  TimerQueue q;
  bool futureFired = false;
  const TimerId future = q.add(at(100), kOnce, [&] { futureFired = true; });
  q.add(at(10), kOnce, [&] { q.cancel(future); });
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_FALSE(q.nextDeadline().has_value());
  EXPECT_EQ(q.expire(at(1000)), 0u);
  EXPECT_FALSE(futureFired);
}

TEST(TimerQueue, TimerAddedFromCallbackWithPastDeadlineWaitsForNextExpire) {
  TimerQueue q;
  int inner = 0;
  q.add(at(10), kOnce, [&] { q.add(at(0), kOnce, [&] { ++inner; }); });
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(inner, 0) << "must not run in the same expire() call";
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(nextMs(q), 0);
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(inner, 1);
}

TEST(TimerQueue, SelfRescheduleFromCallbackDoesNotLoop) {
  // A callback that keeps re-adding itself "now" must not spin expire() forever.
  TimerQueue q;
  int runs = 0;
  std::function<void()> again = [&] {
    ++runs;
    q.add(at(10), kOnce, again);
  };
  q.add(at(10), kOnce, again);
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(q.size(), 1u);
}

TEST(TimerQueue, TimerAddedFromCallbackInTheFuture) {
  TimerQueue q;
  std::string order;
  q.add(at(10), kOnce, [&] {
    order += 'a';
    q.add(at(50), kOnce, [&] { order += 'b'; });
  });
  q.add(at(60), kOnce, [&] { order += 'c'; });
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(nextMs(q), 50);
  EXPECT_EQ(q.expire(at(100)), 2u);
  EXPECT_EQ(order, "abc");
}

TEST(TimerQueue, CancelSelfThenAddNewFromCallback) {
  TimerQueue q;
  int oldTicks = 0;
  int newTicks = 0;
  TimerId self;
  self = q.add(at(10), milliseconds(10), [&] {
    ++oldTicks;
    q.cancel(self);
    q.add(at(15), kOnce, [&] { ++newTicks; });
  });
  EXPECT_EQ(q.expire(at(10)), 1u);
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(nextMs(q), 15);
  EXPECT_EQ(q.expire(at(100)), 1u);
  EXPECT_EQ(oldTicks, 1);
  EXPECT_EQ(newTicks, 1);
}

TEST(TimerQueue, ManyTimersAllFireExactlyOnceInOrder) {
  TimerQueue q;
  std::vector<int> order;
  // Deadlines in a scrambled order (7 is coprime with 1000).
  for (int i = 0; i < 1000; ++i) {
    const int ms = (i * 7) % 1000;
    q.add(at(ms), kOnce, [&order, ms] { order.push_back(ms); });
  }
  std::size_t total = 0;
  for (int t = 0; t < 1000; t += 37) total += q.expire(at(t));
  total += q.expire(at(1000));
  EXPECT_EQ(total, 1000u);
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
}

TEST(TimerQueue, SizeCountsPendingTimers) {
  TimerQueue q;
  const TimerId a = q.add(at(10), kOnce, [] {});
  q.add(at(20), milliseconds(1), [] {});
  EXPECT_EQ(q.size(), 2u);
  q.cancel(a);
  EXPECT_EQ(q.size(), 1u);
  q.expire(at(20));
  EXPECT_EQ(q.size(), 1u);  // repeating timer stays
}

}  // namespace
}  // namespace duet

namespace duet {
namespace {

TEST(TimerQueueReserve, IdsReservedFromManyThreadsAreUnique) {
  TimerQueue q;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10000;
  std::vector<std::vector<std::uint64_t>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&q, &got, t] {
      for (int i = 0; i < kPerThread; ++i)
        got[static_cast<std::size_t>(t)].push_back(q.reserveId().sequence);
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::uint64_t> all;
  for (const auto& v : got) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(all.count(0), 0u) << "0 means 'no timer'";
  // add() keeps drawing from the same sequence.
  EXPECT_EQ(all.count(q.add(at(1), kOnce, [] {}).sequence), 0u);
}

TEST(TimerQueueReserve, InsertUnderAReservedId) {
  TimerQueue q;
  const TimerId a = q.reserveId();
  const TimerId b = q.reserveId();
  std::string order;
  // Inserted in the opposite order of reservation, at the same deadline:
  // ties go by id (the order the callers asked), not by arrival at the loop.
  q.insert(b, at(10), kOnce, [&] { order += 'b'; });
  q.insert(a, at(10), kOnce, [&] { order += 'a'; });
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.expire(at(10)), 2u);
  EXPECT_EQ(order, "ab");

  const TimerId c = q.reserveId();
  q.insert(c, at(20), milliseconds(5), [&] { order += 'c'; });
  q.cancel(c);
  EXPECT_EQ(q.size(), 0u);
  EXPECT_EQ(q.expire(at(100)), 0u);
  EXPECT_EQ(order, "ab");
}

}  // namespace
}  // namespace duet
