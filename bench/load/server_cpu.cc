#include "server_cpu.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace duetload {

int64_t processCpuNs(int pid) {
  if (pid <= 0) return -1;
  clockid_t clock;
  if (clock_getcpuclockid(pid, &clock) != 0) return -1;  // no such process
  timespec ts{};
  if (clock_gettime(clock, &ts) != 0) return -1;  // it went in between
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

CpuBusy readCpuBusy(const std::vector<int>& cpus) {
  CpuBusy out;
  if (cpus.empty()) return out;
  FILE* f = std::fopen("/proc/stat", "re");
  if (!f) return out;
  static const double kNsPerTick = 1e9 / static_cast<double>(sysconf(_SC_CLK_TCK));
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    int cpu = -1;
    unsigned long long user, nice, system, idle, iowait, irq, softirq;
    if (std::sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu", &cpu, &user, &nice, &system,
                    &idle, &iowait, &irq, &softirq) != 8)
      continue;
    for (int want : cpus) {
      if (want != cpu) continue;
      out.busyNs += static_cast<int64_t>(static_cast<double>(user + nice + system + irq + softirq) *
                                         kNsPerTick);
      out.softirqNs += static_cast<int64_t>(static_cast<double>(softirq) * kNsPerTick);
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace duetload
