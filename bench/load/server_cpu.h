// How much CPU the server under load has used, read at the edges of every
// measured window.
//
// Why not utime+stime from /proc/PID/stat: they come in clock ticks (10 ms),
// as coarse as a whole 100 ms slice. The scheduler keeps the same time in
// nanoseconds per thread in /proc/PID/task/TID/schedstat; summing it over the
// threads gives the process's CPU time exactly at the moment it is read.
//
// With IRQ time accounting (Debian's kernels), softirq work -- much of
// loopback TCP -- is charged to the CPU, not to the task that happened to run.
// So duet-load can also read the server CPUs' busy time from /proc/stat
// (ticks, so only meaningful summed over many slices).
#pragma once

#include <cstdint>
#include <vector>

namespace duetload {

// CPU nanoseconds every thread of `pid` has run so far; -1 if unreadable
// (the process is gone, or pid is 0).
int64_t processCpuNs(int pid);

struct CpuBusy {
  int64_t busyNs = 0;      // user + nice + system + irq + softirq
  int64_t softirqNs = 0;
};

// Busy time of the given CPUs since boot, from /proc/stat.
CpuBusy readCpuBusy(const std::vector<int>& cpus);

}  // namespace duetload
