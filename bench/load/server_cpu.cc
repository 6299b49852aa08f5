#include "server_cpu.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace duetload {

int64_t processCpuNs(int pid) {
  if (pid <= 0) return -1;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int64_t total = 0;
  bool any = false;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = dir + "/" + e->d_name + "/schedstat";
    FILE* f = std::fopen(path.c_str(), "re");
    if (!f) continue;   // a thread that just exited
    long long runNs = 0;
    if (std::fscanf(f, "%lld", &runNs) == 1) {
      total += runNs;
      any = true;
    }
    std::fclose(f);
  }
  closedir(d);
  return any ? total : -1;
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
    if (std::sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu", &cpu, &user, &nice, &system, &idle, &iowait,
                    &irq, &softirq) != 8)
      continue;
    for (int want : cpus) {
      if (want != cpu) continue;
      out.busyNs += static_cast<int64_t>(static_cast<double>(user + nice + system + irq + softirq) * kNsPerTick);
      out.softirqNs += static_cast<int64_t>(static_cast<double>(softirq) * kNsPerTick);
    }
  }
  std::fclose(f);
  return out;
}

}  // namespace duetload
