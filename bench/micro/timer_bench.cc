// TimerQueue: every connection with an idle timeout owns a timer, so a busy
// server holds as many timers as connections and re-arms them constantly.
// Time is synthetic (epoch + offsets): the benchmarks measure the queue, not
// the clock.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/timer_queue.h"

namespace duet::bench {
namespace {

using std::chrono::microseconds;

constexpr Duration kOnce = Duration::zero();

// `n` deadlines spread over ten seconds in a random (but fixed) order.
std::vector<TimePoint> randomDeadlines(std::size_t n, std::uint32_t seed = 42) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::int64_t> dist(0, 10'000'000);
  std::vector<TimePoint> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.push_back(TimePoint{} + microseconds(dist(rng)));
  return out;
}

// Fill an empty queue with N timers.
void BM_TimerInsert(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = randomDeadlines(n);
  for (auto _ : state) {
    state.PauseTiming();
    auto q = std::make_unique<TimerQueue>();
    state.ResumeTiming();
    for (const TimePoint& when : deadlines) q->add(when, kOnce, [] {});
    benchmark::DoNotOptimize(q->nextDeadline());
    state.PauseTiming();
    q.reset();  // the teardown is not what is measured
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_TimerInsert)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// Fire all N timers with one expire() (a loop that wakes up late).
void BM_TimerExpireAll(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = randomDeadlines(n);
  std::uint64_t fired = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto q = std::make_unique<TimerQueue>();
    for (const TimePoint& when : deadlines) q->add(when, kOnce, [&fired] { ++fired; });
    state.ResumeTiming();
    benchmark::DoNotOptimize(q->expire(TimePoint{} + std::chrono::seconds(11)));
    state.PauseTiming();
    q.reset();
    state.ResumeTiming();
  }
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_TimerExpireAll)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// Fire the N timers one tick at a time (1 ms steps over ten seconds): the
// steady state of a loop whose timerfd wakes it for each deadline.
void BM_TimerExpireStepwise(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = randomDeadlines(n);
  std::uint64_t fired = 0;
  for (auto _ : state) {
    state.PauseTiming();
    auto q = std::make_unique<TimerQueue>();
    for (const TimePoint& when : deadlines) q->add(when, kOnce, [&fired] { ++fired; });
    state.ResumeTiming();
    for (auto next = q->nextDeadline(); next; next = q->nextDeadline()) q->expire(*next);
    state.PauseTiming();
    q.reset();
    state.ResumeTiming();
  }
  benchmark::DoNotOptimize(fired);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_TimerExpireStepwise)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// Cancel all N timers in random order (connections closing before their timeout).
void BM_TimerCancel(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = randomDeadlines(n);
  std::vector<TimerId> ids;
  ids.reserve(n);
  std::mt19937 rng(7);
  for (auto _ : state) {
    state.PauseTiming();
    auto q = std::make_unique<TimerQueue>();
    ids.clear();
    for (const TimePoint& when : deadlines) ids.push_back(q->add(when, kOnce, [] {}));
    std::shuffle(ids.begin(), ids.end(), rng);
    state.ResumeTiming();
    for (TimerId id : ids) q->cancel(id);
    benchmark::DoNotOptimize(q->size());
    state.PauseTiming();
    q.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_TimerCancel)->Arg(1000)->Arg(100000)->Unit(benchmark::kMicrosecond);

// With N timers resident, cancel one and add its replacement: what an idle
// timeout costs per request when it is re-armed on every message.
void BM_TimerRearmWithResident(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = randomDeadlines(n);
  TimerQueue q;
  std::vector<TimerId> ids;
  ids.reserve(n);
  for (const TimePoint& when : deadlines) ids.push_back(q.add(when, kOnce, [] {}));
  std::size_t i = 0;
  TimePoint later = TimePoint{} + std::chrono::seconds(20);
  for (auto _ : state) {
    q.cancel(ids[i]);
    later += microseconds(1);
    ids[i] = q.add(later, kOnce, [] {});
    if (++i == n) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_TimerRearmWithResident)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace duet::bench
