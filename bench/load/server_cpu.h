// How much CPU the server under load has used, read at the edges of every
// measured window.
//
// The reading is the process's CPU-time clock (clock_getcpuclockid(pid), then
// clock_gettime), and it has to count threads that exited inside the window:
// a thread-per-connection server under connection churn starts and ends
// threads all the time, and their CPU is most of what it spends.
//   - Summing /proc/PID/task/*/schedstat (what duet-load did before) sees only
//     the threads alive at each edge: an exited thread takes its CPU with it.
//   - /proc/PID/stat utime+stime include exited threads, but in clock ticks
//     (10 ms): as coarse as a whole slice.
//   - /proc/PID/schedstat is the main thread's alone.
//   - The process clock is the kernel's own sum for the thread group: every
//     live thread's scheduler runtime plus the runtime the exited threads left
//     behind when they went (signal_struct's sum_sched_runtime), in
//     nanoseconds, in one system call however many threads there are. Linux
//     lets any process read another's CPU clock (no ptrace check).
//
// With IRQ time accounting (Debian's kernels), softirq work -- much of
// loopback TCP -- is charged to the CPU, not to the task that happened to run.
// So duet-load can also read the server CPUs' busy time from /proc/stat
// (ticks, so only meaningful summed over many slices).
#pragma once

#include <cstdint>
#include <vector>

namespace duetload {

// CPU nanoseconds the process `pid` has run so far, its exited threads
// included; -1 if unreadable (the process is gone, or pid is 0).
int64_t processCpuNs(int pid);

struct CpuBusy {
  int64_t busyNs = 0;  // user + nice + system + irq + softirq
  int64_t softirqNs = 0;
};

// Busy time of the given CPUs since boot, from /proc/stat.
CpuBusy readCpuBusy(const std::vector<int>& cpus);

}  // namespace duetload
