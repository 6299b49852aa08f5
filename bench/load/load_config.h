// What duet-load is asked to do: the command line, as one plain struct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "path_groups.h"

namespace duetload {

// One server under load. With several targets duet-load alternates between
// them in short slices (see conductor.h), so each one meets the same noise.
struct Target {
  uint16_t port = 0;
  int serverPid = 0;  // 0: unknown, no server CPU reading
};

struct Config {
  std::string host = "127.0.0.1";
  std::vector<Target> targets;
  int connections = 1;         // per target
  size_t size = 128;           // echo message bytes
  int inflight = 1;            // messages (HTTP: pipelined requests) outstanding per connection
  double duration = 5.0;       // measured seconds per target (hold: seconds to hold)
  double warmup = 1.0;         // unmeasured seconds at the start of each target's first slice
  double slice = 0.0;          // measured seconds per slice; 0: one slice per target
  double sliceWarmup = 0.02;   // unmeasured seconds at the start of every later slice
  double drainTimeout = 10.0;  // seconds a target gets to answer what is in flight at a slice's end
  int threads = 1;
  double rate = 0.0;  // total requests/s; 0 = closed loop
  bool hold = false;
  double connectTimeout = 10.0;  // seconds allowed to connect everything
  std::string httpPath;          // non-empty: HTTP/1.1 keep-alive GET of this path instead of echo
  std::vector<PathGroup>
      httpMix;  // --http-mix: connections (per target) that GET another path instead
  std::vector<int> serverCpus;  // CPUs whose busy time (incl. softirq) is read per window
  bool churn = false;  // connect, one request, whole reply, close, again (per connection slot)
  bool connectPerSlice =
      false;              // open a target's connections at its slice's start, close them at its end
  bool traceFds = false;  // test hook: open descriptor counts at every slice edge, on stderr

  bool http() const { return !httpPath.empty(); }
  bool mixed() const { return !httpMix.empty(); }
  // Every path's group: [0] is --http PATH with the connections no mix took.
  std::vector<PathGroup> pathGroups() const {
    std::vector<PathGroup> groups{{httpPath, connections}};
    for (const auto& m : httpMix) {
      groups[0].connections -= m.connections;
      groups.push_back(m);
    }
    return groups;
  }
  int totalConnections() const { return connections * static_cast<int>(targets.size()); }
};

}  // namespace duetload
