#include "conductor.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <cstdio>

#include "fd_count.h"
#include "json_line.h"
#include "server_cpu.h"

namespace duetload {
namespace {

void sleepUntil(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) != 0) {
  }
}

int64_t toNs(double seconds) { return static_cast<int64_t>(seconds * 1e9); }

}  // namespace

Conductor::Conductor(const Config& cfg, Shared& shared, int workers,
                     std::function<void(int64_t)> progress)
    : cfg_(cfg),
      shared_(shared),
      workers_(workers),
      progress_(std::move(progress)),
      totals_(cfg.targets.size()) {}

int Conductor::slicesPerTarget() const {
  if (cfg_.slice <= 0 || cfg_.duration <= 0) return 1;
  return std::max(1, static_cast<int>(std::lround(cfg_.duration / cfg_.slice)));
}

void Conductor::run() {
  const int n = slicesPerTarget();
  const double length = cfg_.duration / n;
  const int targets = static_cast<int>(cfg_.targets.size());
  if (cfg_.traceFds) baselineFds_ = openDescriptorCount();
  // Serpentine order (A B C, C B A, ...): no target always follows the same one.
  for (int round = 0; round < n; ++round) {
    for (int i = 0; i < targets; ++i) {
      const int t = round % 2 == 0 ? i : targets - 1 - i;
      runSlice(t, round == 0 ? cfg_.warmup : cfg_.sliceWarmup, length);
    }
  }
  shared_.phase.store(Shared::kStop);
  publish();
}

void Conductor::publish() {
  shared_.sliceGen.fetch_add(1, std::memory_order_release);
  shared_.sliceGen.notify_all();
}

uint64_t Conductor::connectTarget(int target) {
  shared_.sliceTarget = target;
  publish();
  // Every worker's connecting has its own deadline, so this wait is bounded.
  int done;
  while ((done = shared_.sliceConnectedWorkers.load()) < workers_)
    shared_.sliceConnectedWorkers.wait(done);
  shared_.sliceConnectedWorkers.store(0);
  return shared_.sliceConnections.exchange(0);
}

void Conductor::runSlice(int target, double warmupSeconds, double measureSeconds) {
  TargetTotals& tot = totals_[static_cast<size_t>(target)];
  if (cfg_.connectPerSlice) {
    // Connecting is not part of the slice's time: the warmup starts once
    // the connections are open, however long 10,000 connects took.
    const auto open = static_cast<int64_t>(connectTarget(target));
    tot.minSliceConnections =
        tot.minSliceConnections < 0 ? open : std::min(tot.minSliceConnections, open);
  }
  const int64_t start = nowNs();
  shared_.sliceTarget = target;
  shared_.measureStart = start + toNs(warmupSeconds);
  shared_.measureEnd = shared_.measureStart + toNs(measureSeconds);
  publish();

  const int pid = cfg_.targets[static_cast<size_t>(target)].serverPid;
  sleepUntil(shared_.measureStart);
  const int64_t cpu0 = processCpuNs(pid);
  const int64_t self0 = processCpuNs(getpid());
  const CpuBusy busy0 = readCpuBusy(cfg_.serverCpus);
  const int fdsMeasuring = cfg_.traceFds ? openDescriptorCount() : -1;
  sleepUntil(shared_.measureEnd);
  const int64_t cpu1 = processCpuNs(pid);
  const int64_t self1 = processCpuNs(getpid());
  const CpuBusy busy1 = readCpuBusy(cfg_.serverCpus);
  tot.measuredSeconds += measureSeconds;
  ++tot.slices;
  // Known only if every window was read: a server that died mid-run has no total.
  const bool read = cpu0 >= 0 && cpu1 >= 0;
  tot.serverCpuKnown = read && (tot.slices == 1 || tot.serverCpuKnown);
  if (read) tot.serverCpuNs += cpu1 - cpu0;
  tot.loadCpuNs += self1 - self0;
  tot.cpuBusyNs += busy1.busyNs - busy0.busyNs;
  tot.softirqNs += busy1.softirqNs - busy0.softirqNs;

  // Every worker drains within its drain timeout, so this wait is bounded.
  int drained;
  while ((drained = shared_.drainedWorkers.load()) < workers_) shared_.drainedWorkers.wait(drained);
  shared_.drainedWorkers.store(0);
  if (cfg_.traceFds) {
    // Test hook: with every worker drained (and, per slice, disconnected),
    // the open descriptors must be back to what they were before the slices.
    std::fprintf(stderr, "%s\n",
                 JsonLine()
                     .add("event", "fds")
                     .add("port", static_cast<int>(cfg_.targets[static_cast<size_t>(target)].port))
                     .add("slice", tot.slices)
                     .add("baseline", baselineFds_)
                     .add("measuring", fdsMeasuring)
                     .add("drained", openDescriptorCount())
                     .str()
                     .c_str());
  }
  if (progress_) progress_(nowNs());
}

}  // namespace duetload
