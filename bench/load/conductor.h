// The conductor runs the schedule: which target the workers load, when each
// measured window opens and closes, and what the target's server used in CPU
// inside the window.
//
// Why slices: on a shared machine the speed of memory and caches drifts by
// several times over seconds (other tenants), so two servers measured one
// after the other for a few seconds each are measured on different machines.
// Alternating between them every ~100 ms (A B C C B A A B C ...) gives every
// target the same mix of good and bad moments, and their ratio holds still.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "load_config.h"
#include "load_worker.h"

namespace duetload {

struct TargetTotals {
  double measuredSeconds = 0;  // sum of this target's measured windows
  int slices = 0;
  int64_t serverCpuNs = 0;      // the server process's CPU inside the windows
  bool serverCpuKnown = false;  // read at the edges of every window
  int64_t loadCpuNs = 0;        // duet-load's own CPU inside the windows (who saturates first?)
  int64_t cpuBusyNs = 0;        // the server CPUs' busy time inside the windows (ticks)
  int64_t softirqNs = 0;
  // --connect-per-slice: the fewest connections that were open when one of
  // this target's windows started (-1: no slice yet).
  int64_t minSliceConnections = -1;
};

class Conductor {
 public:
  // `progress` is called after every slice with the time it ended.
  Conductor(const Config& cfg, Shared& shared, int workers, std::function<void(int64_t)> progress);

  // Runs every slice, then tells the workers to stop.
  void run();
  const std::vector<TargetTotals>& totals() const { return totals_; }
  int slicesPerTarget() const;

 private:
  void runSlice(int target, double warmupSeconds, double measureSeconds);
  // --connect-per-slice: has the workers open `target`'s connections, waits
  // for them, and returns how many are open.
  uint64_t connectTarget(int target);
  void publish();  // hands the slice fields to the workers

  const Config& cfg_;
  Shared& shared_;
  int workers_;
  std::function<void(int64_t)> progress_;
  std::vector<TargetTotals> totals_;
  int baselineFds_ = -1;  // --trace-fds: descriptors open between slices
};

}  // namespace duetload
