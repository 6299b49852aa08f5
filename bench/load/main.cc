// duet-load: an echo and HTTP load generator on plain epoll and threads.
//
// It is the measuring instrument for duet's servers, so it shares no code with
// the engine under test. See docs/measuring.md for how it is meant to be run
// (server on CPU 0, generator on CPU 1, configurations interleaved), and
// conductor.h for why several servers are loaded in alternating slices.

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "conductor.h"
#include "fd_count.h"
#include "histogram.h"
#include "json_line.h"
#include "load_config.h"
#include "load_worker.h"

using namespace duetload;

namespace {

// 10,000 connections need 10,000 descriptors; the default soft limit is 1024.
void raiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// "1", "0,1" or "0-1" -> {1}, {0,1}, {0,1}; false if malformed.
bool parseIntList(const std::string& list, std::vector<int>& out) {
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(pos, end - pos);
    const size_t dash = item.find('-', 1);
    try {
      size_t used = 0;
      const int lo = std::stoi(item.substr(0, dash), &used);
      if (used != std::min(dash, item.size())) return false;
      const int hi = dash == std::string::npos ? lo : std::stoi(item.substr(dash + 1));
      for (int v = lo; v <= hi; ++v) out.push_back(v);
    } catch (...) {
      return false;
    }
    pos = end + 1;
  }
  return !out.empty();
}

bool pinTo(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) {
    if (c < 0 || c >= CPU_SETSIZE) return false;
    CPU_SET(c, &set);
  }
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }
double micros(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

// The latency fields of one line or one --http-mix group, from its histogram.
// latency_samples: how many messages the percentiles rest on (a p99 of a few
// hundred samples is decided by its top few).
JsonLine& addLatency(JsonLine& out, const Histogram& h) {
  return out.add("latency_samples", h.count())
      .add("min_us", micros(h.min()), 1)
      .add("mean_us", h.mean() / 1e3, 1)
      .add("p50_us", micros(h.quantile(0.50)), 1)
      .add("p90_us", micros(h.quantile(0.90)), 1)
      .add("p99_us", micros(h.quantile(0.99)), 1)
      .add("p999_us", micros(h.quantile(0.999)), 1)
      .add("max_us", micros(h.max()), 1);
}

// --http-mix: {"PATH": {figures of that path's connections}, ...} for one target.
JsonLine groupsObject(const Config& cfg, const std::vector<std::unique_ptr<LoadWorker>>& workers,
                      size_t target, const TargetTotals& tot) {
  const double secs = tot.measuredSeconds > 0 ? tot.measuredSeconds : 1.0;
  const auto paths = cfg.pathGroups();
  JsonLine groups;
  for (size_t g = 0; g < paths.size(); ++g) {
    GroupStats s;
    for (auto& w : workers) s.add(w->groupStats(target, g));
    const Histogram& h = s.hist;
    JsonLine one;
    one.add("connections", paths[g].connections)
        .add("messages", s.messages)
        .add("msgs_per_s", static_cast<double>(s.messages) / secs, 0)
        .add("response_bytes",
             s.messages ? static_cast<double>(s.responseBytes) / static_cast<double>(s.messages)
                        : 0.0,
             1);
    addLatency(one, h)
        .add("errors", s.errors())
        .add("bad_status", s.badStatus)
        .add("latency_hist", h.buckets());
    groups.add(paths[g].path, one);
  }
  return groups;
}

int usage(const char* what) {
  std::fprintf(stderr, "duet-load: %s\n", what);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string cpus, ports, pids, serverCpus;
  std::vector<std::string> mixes;
  bool progress = false;

  CLI::App app{"duet-load: echo and HTTP load generator (plain epoll + threads)"};
  app.add_option("--host", cfg.host, "server IPv4 address")->capture_default_str();
  app.add_option("--port", ports,
                 "server port; several (5001,5002) are loaded in alternating slices")
      ->required();
  app.add_option("--server-pid", pids,
                 "the servers' pids, one per port: their CPU time inside the measured windows");
  app.add_option("--server-cpus", serverCpus,
                 "CPUs the servers run on: their busy and softirq time inside the windows");
  app.add_option("--connections,-c", cfg.connections, "connections per server")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  app.add_option("--size,-s", cfg.size, "echo message size in bytes")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{64} << 20));
  app.add_option("--inflight,-k", cfg.inflight,
                 "messages (HTTP: pipelined requests) in flight per connection")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--duration,-d", cfg.duration,
                 "measured seconds per server (hold: seconds to hold)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--warmup,-w", cfg.warmup,
                 "unmeasured seconds before each server's first measured window")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--slice", cfg.slice,
                 "measured seconds per slice when alternating (0: one slice per server)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--slice-warmup", cfg.sliceWarmup,
                 "unmeasured seconds at the start of every later slice")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 60.0));
  app.add_option("--drain-timeout", cfg.drainTimeout,
                 "seconds a server gets to answer what is in flight when its slice ends")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));
  app.add_option("--threads,-t", cfg.threads, "generator threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--rate,-r", cfg.rate, "total requests/s, open loop (0 = closed loop)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e9));
  app.add_option("--http", cfg.httpPath,
                 "HTTP/1.1 keep-alive GET of this path (e.g. /hello) instead of echo");
  app.add_option(
         "--http-mix", mixes,
         "PATH:N: N of the connections (per server) GET PATH instead of --http's path; repeatable. "
         "Each path's figures also appear apart, in the line's \"groups\"")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option("--cpu", cpus, "pin the generator to these CPUs: 1 | 0,1 | 0-1");
  app.add_option("--connect-timeout", cfg.connectTimeout, "seconds allowed to connect everything")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 600.0));
  app.add_flag("--hold", cfg.hold,
               "idle mode: connect, one round trip each, hold for --duration, close");
  app.add_flag(
      "--churn", cfg.churn,
      "connection churn: every connection slot loops connect, one request, whole reply, close");
  app.add_flag("--connect-per-slice", cfg.connectPerSlice,
               "open a server's connections when its slice starts and close them when it ends");
  app.add_flag("--progress", progress, "a progress line per second on stderr");
  // Test hook (tests/load): descriptor counts at every slice edge, on stderr.
  app.add_flag("--trace-fds", cfg.traceFds)->group("");
  CLI11_PARSE(app, argc, argv);

  std::vector<int> portList, pidList, cpuList;
  if (!parseIntList(ports, portList))
    return usage(("bad --port '" + ports + "' (e.g. 5001 or 5001,5002)").c_str());
  for (int p : portList)
    if (p < 1 || p > 65535)
      return usage(("port " + std::to_string(p) + " is out of range").c_str());
  if (!pids.empty() && (!parseIntList(pids, pidList) || pidList.size() != portList.size()))
    return usage("--server-pid needs one pid per port");
  if (!serverCpus.empty() && !parseIntList(serverCpus, cfg.serverCpus))
    return usage("bad --server-cpus");
  if (cfg.hold && portList.size() > 1) return usage("--hold takes one port");
  if (cfg.hold && cfg.http()) return usage("--hold is an echo mode; drop --http");
  if (cfg.http() && cfg.httpPath[0] != '/') return usage("--http takes a path starting with '/'");
  for (const auto& text : mixes) {
    PathGroup g;
    std::string error;
    if (!parseMix(text, g, error)) return usage(error.c_str());
    cfg.httpMix.push_back(g);
  }
  if (cfg.mixed()) {
    if (!cfg.http())
      return usage("--http-mix needs --http PATH (the path of the other connections)");
    int mixed = 0;
    for (const auto& g : cfg.httpMix) mixed += g.connections;
    if (mixed >= cfg.connections)
      return usage(("--http-mix takes " + std::to_string(mixed) + " of the " +
                    std::to_string(cfg.connections) + " connections: none would be left for " +
                    cfg.httpPath)
                       .c_str());
    const auto groups = cfg.pathGroups();
    if (!plainPath(cfg.httpPath))
      return usage(("--http " + cfg.httpPath + ": no spaces, quotes or backslashes").c_str());
    for (size_t i = 0; i < groups.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (groups[i].path == groups[j].path)
          return usage(("path " + groups[i].path + " is in two groups").c_str());
  }
  if (cfg.churn && cfg.hold) return usage("--churn and --hold exclude each other");
  if (cfg.churn && cfg.rate > 0) return usage("--churn is a closed loop; drop --rate");
  if (cfg.churn && cfg.inflight != 1)
    return usage("--churn sends one request per connection; drop -k");
  if (cfg.churn && cfg.connectPerSlice)
    return usage("--churn already connects per request; drop --connect-per-slice");
  if (cfg.connectPerSlice && cfg.hold)
    return usage("--connect-per-slice and --hold exclude each other");
  for (size_t i = 0; i < portList.size(); ++i)
    cfg.targets.push_back({static_cast<uint16_t>(portList[i]), pidList.empty() ? 0 : pidList[i]});
  cfg.threads = std::min(cfg.threads, cfg.connections);

  raiseFileLimit();
  signal(SIGPIPE, SIG_IGN);  // a server that resets us is an error to count, not a crash
  if (!cpus.empty() && (!parseIntList(cpus, cpuList) || !pinTo(cpuList)))
    return usage(("cannot pin to CPUs '" + cpus + "'").c_str());

  const int fdsAtStart = cfg.traceFds ? openDescriptorCount() : -1;
  // Split every target's connections evenly over the threads; connection ids
  // are global so message contents differ across threads and targets.
  const size_t nTargets = cfg.targets.size();
  Shared shared;
  std::vector<std::unique_ptr<LoadWorker>> workers;
  std::vector<uint32_t> nextId(nTargets);
  for (size_t t = 0; t < nTargets; ++t)
    nextId[t] = static_cast<uint32_t>(t * static_cast<size_t>(cfg.connections));
  for (int w = 0; w < cfg.threads; ++w) {
    const int n = cfg.connections / cfg.threads + (w < cfg.connections % cfg.threads ? 1 : 0);
    std::vector<int> share(nTargets, n);
    workers.push_back(
        std::make_unique<LoadWorker>(cfg, shared, share, nextId, cfg.rate / cfg.threads));
    for (auto& id : nextId) id += static_cast<uint32_t>(n);
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  // Every worker has a connect deadline, so this wait is bounded.
  int connected;
  while ((connected = shared.connectedWorkers.load()) < cfg.threads)
    shared.connectedWorkers.wait(connected);
  Counters total;
  for (auto& w : workers)
    for (size_t t = 0; t < nTargets; ++t) total.add(w->counters(t));
  // Churn and --connect-per-slice connect inside the slices: whether anyone
  // could connect is known only after the run.
  const bool connectsLater = cfg.churn || cfg.connectPerSlice;
  bool anyone = total.connected > 0 || connectsLater;
  if (progress)
    std::fprintf(stderr, "[load] connected %llu/%d (connect errors %llu)\n",
                 static_cast<unsigned long long>(total.connected), cfg.totalConnections(),
                 static_cast<unsigned long long>(total.connectErrors()));

  uint64_t lastMsgs = 0;
  const int64_t t0 = nowNs();
  int64_t lastT = t0;
  auto report = [&](int64_t now) {
    if (!progress || now - lastT < 1'000'000'000) return;
    uint64_t msgs = 0, errs = 0;
    for (auto& w : workers) {
      msgs += w->progressMessages.load(std::memory_order_relaxed);
      errs += w->progressErrors.load(std::memory_order_relaxed);
    }
    std::fprintf(stderr, "[load] t=%.1fs msgs/s=%.0f errors=%llu\n", seconds(now - t0),
                 static_cast<double>(msgs - lastMsgs) / seconds(now - lastT),
                 static_cast<unsigned long long>(errs));
    lastMsgs = msgs;
    lastT = now;
  };
  Conductor conductor(cfg, shared, cfg.threads, report);

  if (!anyone) {
    shared.phase.store(Shared::kStop);
    shared.phase.notify_all();
  } else if (cfg.hold) {
    shared.phase.store(Shared::kRun);
    shared.phase.notify_all();
    int ready;
    while ((ready = shared.readyWorkers.load()) < cfg.threads) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    uint64_t done = 0, errs = 0;
    for (auto& w : workers) {
      done += w->progressMessages.load();
      errs += w->progressErrors.load();
    }
    std::printf("%s\n", JsonLine()
                            .add("event", "holding")
                            .add("connections", total.connected)
                            .add("round_trips", done)
                            .add("errors", errs)
                            .str()
                            .c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(cfg.duration));
    shared.phase.store(Shared::kStop);
  } else {
    shared.phase.store(Shared::kRun);
    shared.phase.notify_all();
    conductor.run();
  }
  for (auto& th : threads) th.join();
  if (connectsLater) {
    uint64_t connectedInRun = 0;
    for (auto& w : workers)
      for (size_t t = 0; t < nTargets; ++t) connectedInRun += w->counters(t).connected;
    anyone = connectedInRun > 0;
  }

  // One line per target.
  const char* mode = cfg.hold     ? "hold"
                     : cfg.churn  ? (cfg.http() ? "http-churn" : "echo-churn")
                     : cfg.http() ? "http"
                                  : (cfg.rate > 0 ? "echo-rate" : "echo");
  for (size_t t = 0; t < nTargets; ++t) {
    Histogram hist;
    Counters k;
    for (auto& w : workers) {
      hist.merge(w->histogram(t));
      k.add(w->counters(t));
    }
    const TargetTotals& tot = conductor.totals()[t];
    JsonLine out;
    out.add("mode", mode)
        .add("port", static_cast<int>(cfg.targets[t].port))
        .add("connections", cfg.connections)
        // --connect-per-slice: the fewest open when a window started.
        .add("connected", cfg.connectPerSlice
                              ? static_cast<uint64_t>(std::max<int64_t>(0, tot.minSliceConnections))
                              : k.connected)
        .add("size", static_cast<uint64_t>(cfg.http() ? 0 : cfg.size))
        .add("inflight", cfg.inflight)
        .add("threads", cfg.threads)
        .add("rate", cfg.rate, 0)
        .add("warmup_s", cfg.hold ? 0.0 : cfg.warmup, 2)
        .add("duration_s", cfg.duration, 2);
    if (cfg.hold) {
      out.add("round_trips", k.roundTrips);
    } else {
      const double secs = tot.measuredSeconds > 0 ? tot.measuredSeconds : 1.0;
      out.add("slices", tot.slices)
          .add("messages", k.messages)
          .add("msgs_per_s", static_cast<double>(k.messages) / secs, 0)
          .add("bytes_per_s",
               static_cast<double>(cfg.http() ? k.responseBytes : k.messages * cfg.size) / secs, 0);
      if (cfg.churn)  // one request per connection: every message is a whole connection
        out.add("connections_made", k.messages)
            .add("connections_per_s", static_cast<double>(k.messages) / secs, 0)
            .add("server_closed_first", k.serverClosedFirst);
      if (cfg.connectPerSlice) out.add("connect_per_slice", true);
      if (cfg.http())
        out.add("response_bytes",
                k.messages ? static_cast<double>(k.responseBytes) / static_cast<double>(k.messages)
                           : 0.0,
                1);
      if (tot.serverCpuKnown) out.add("server_cpu_s", seconds(tot.serverCpuNs), 6);
      out.add("load_cpu_s", seconds(tot.loadCpuNs), 6);
      if (!cfg.serverCpus.empty())
        out.add("server_cpus_busy_s", seconds(tot.cpuBusyNs), 3)
            .add("server_cpus_softirq_s", seconds(tot.softirqNs), 3);
    }
    // latency_hist (below): the buckets themselves, so a caller can pool
    // several runs (histogram.h).
    addLatency(out, hist)
        .add("errors", k.errors())
        .add("errors_reset", k.reset)
        .add("errors_eof", k.eof)
        .add("errors_short", k.shortEof)
        .add("errors_other", k.otherErrors)
        .add("bad_status", k.badStatus)
        .add("protocol_errors", k.protocolErrors)
        .add("drain_timeouts", k.drainTimeouts)
        .add("connect_errors", k.connectErrors())
        .add("connect_refused", k.connectRefused)
        .add("connect_timeout", k.connectTimeout)
        .add("mismatches", k.mismatches);
    if (!cfg.hold) out.add("latency_hist", hist.buckets());
    if (cfg.mixed()) out.add("groups", groupsObject(cfg, workers, t, tot));
    std::printf("%s\n", out.str().c_str());
  }
  std::fflush(stdout);
  if (cfg.traceFds) {
    workers.clear();  // their destructors close whatever they still hold
    std::fprintf(stderr, "%s\n",
                 JsonLine()
                     .add("event", "fds")
                     .add("start", fdsAtStart)
                     .add("end", openDescriptorCount())
                     .str()
                     .c_str());
  }
  if (!anyone) {
    std::fprintf(stderr, "duet-load: no connection could be established to %s port %s\n",
                 cfg.host.c_str(), ports.c_str());
    return 1;
  }
  return 0;
}
