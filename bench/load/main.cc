// duet-load: an echo load generator on plain epoll and threads.
//
// It is the measuring instrument for duet's servers, so it shares no code with
// the engine under test. See BENCHMARKING.md for how it is meant to be run
// (server on CPU 0, generator on CPU 1, configurations interleaved).

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "echo_client.h"
#include "histogram.h"
#include "json_line.h"

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

// "1", "0,1" or "0-1": the CPUs the whole generator (all threads) may use.
bool pinTo(const std::string& list) {
  cpu_set_t set;
  CPU_ZERO(&set);
  size_t pos = 0;
  while (pos < list.size()) {
    size_t end = list.find(',', pos);
    if (end == std::string::npos) end = list.size();
    const std::string item = list.substr(pos, end - pos);
    const size_t dash = item.find('-');
    try {
      const int lo = std::stoi(item.substr(0, dash));
      const int hi = dash == std::string::npos ? lo : std::stoi(item.substr(dash + 1));
      for (int c = lo; c <= hi; ++c) CPU_SET(c, &set);
    } catch (...) {
      return false;
    }
    pos = end + 1;
  }
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

double seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }
double micros(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  std::string cpus;
  bool progress = false;
  int port = 0;

  CLI::App app{"duet-load: echo load generator (plain epoll + threads)"};
  app.add_option("--host", cfg.host, "server IPv4 address")->capture_default_str();
  app.add_option("--port", port, "server port")->required()->check(CLI::Range(1, 65535));
  app.add_option("--connections,-c", cfg.connections, "connections")->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--size,-s", cfg.size, "message size in bytes")->capture_default_str()->check(CLI::Range(size_t{1}, size_t{64} << 20));
  app.add_option("--inflight,-k", cfg.inflight, "messages in flight per connection")->capture_default_str()->check(CLI::Range(1, 4096));
  app.add_option("--duration,-d", cfg.duration, "measured seconds (hold: seconds to hold)")->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("--warmup,-w", cfg.warmup, "seconds run before measuring")->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  app.add_option("--threads,-t", cfg.threads, "generator threads")->capture_default_str()->check(CLI::Range(1, 256));
  app.add_option("--rate,-r", cfg.rate, "total requests/s, open loop (0 = closed loop)")->capture_default_str()->check(CLI::Range(0.0, 1e9));
  app.add_option("--cpu", cpus, "pin the generator to these CPUs: 1 | 0,1 | 0-1");
  app.add_option("--connect-timeout", cfg.connectTimeout, "seconds allowed to connect everything")->capture_default_str()->check(CLI::Range(0.1, 600.0));
  app.add_flag("--hold", cfg.hold, "idle mode: connect, one round trip each, hold for --duration, close");
  app.add_flag("--progress", progress, "a progress line per second on stderr");
  CLI11_PARSE(app, argc, argv);
  cfg.port = static_cast<uint16_t>(port);
  cfg.threads = std::min(cfg.threads, cfg.connections);

  raiseFileLimit();
  signal(SIGPIPE, SIG_IGN);   // a server that resets us is an error to count, not a crash
  if (!cpus.empty() && !pinTo(cpus)) {
    std::fprintf(stderr, "duet-load: cannot pin to CPUs '%s'\n", cpus.c_str());
    return 2;
  }

  // Split connections evenly; connection ids are global so message contents
  // differ across threads too.
  Shared shared;
  std::vector<std::unique_ptr<EchoWorker>> workers;
  uint32_t nextId = 0;
  for (int t = 0; t < cfg.threads; ++t) {
    const int n = cfg.connections / cfg.threads + (t < cfg.connections % cfg.threads ? 1 : 0);
    workers.push_back(std::make_unique<EchoWorker>(cfg, shared, nextId, n, cfg.rate / cfg.threads));
    nextId += static_cast<uint32_t>(n);
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });

  // Every worker has a connect deadline, so this wait is bounded.
  while (shared.connectedWorkers.load() < cfg.threads) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Counters total;
  for (auto& w : workers) total.add(w->counters());
  const bool anyone = total.connected > 0;

  const int64_t t0 = nowNs();
  shared.measureStart = t0 + static_cast<int64_t>((cfg.hold ? 0.0 : cfg.warmup) * 1e9);
  shared.measureEnd = cfg.hold ? INT64_MAX : shared.measureStart + static_cast<int64_t>(cfg.duration * 1e9);
  shared.phase.store(anyone ? Shared::kGo : Shared::kStop);
  shared.phase.notify_all();
  if (progress)
    std::fprintf(stderr, "[load] connected %llu/%d (connect errors %llu)\n",
                 static_cast<unsigned long long>(total.connected), cfg.connections,
                 static_cast<unsigned long long>(total.connectErrors()));

  auto sumProgress = [&](uint64_t& msgs, uint64_t& errs) {
    msgs = errs = 0;
    for (auto& w : workers) {
      msgs += w->progressMessages.load(std::memory_order_relaxed);
      errs += w->progressErrors.load(std::memory_order_relaxed);
    }
  };

  if (anyone && cfg.hold) {
    while (shared.readyWorkers.load() < cfg.threads) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    uint64_t done = 0, errs = 0;
    sumProgress(done, errs);
    std::printf("%s\n", JsonLine().add("event", "holding").add("connections", total.connected)
                            .add("round_trips", done).add("errors", errs).str().c_str());
    std::fflush(stdout);
    const int64_t holdEnd = nowNs() + static_cast<int64_t>(cfg.duration * 1e9);
    while (nowNs() < holdEnd) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    shared.phase.store(Shared::kStop);
  } else if (anyone) {
    // Sleep in 1 s steps until the workers' own deadline; they stop by themselves.
    uint64_t lastMsgs = 0;
    int64_t lastT = t0;
    while (nowNs() < shared.measureEnd) {
      const int64_t next = std::min(shared.measureEnd, lastT + 1'000'000'000);
      std::this_thread::sleep_for(std::chrono::nanoseconds(std::max<int64_t>(0, next - nowNs())));
      if (!progress) { lastT = next; continue; }
      uint64_t msgs = 0, errs = 0;
      sumProgress(msgs, errs);
      const int64_t t = nowNs();
      std::fprintf(stderr, "[load] %s t=%.1fs msgs/s=%.0f errors=%llu\n",
                   t < shared.measureStart ? "warmup" : "run", seconds(t - t0),
                   static_cast<double>(msgs - lastMsgs) / seconds(t - lastT),
                   static_cast<unsigned long long>(errs));
      lastMsgs = msgs;
      lastT = t;
    }
  }
  for (auto& th : threads) th.join();

  Histogram hist;
  total = Counters{};
  for (auto& w : workers) {
    hist.merge(w->histogram());
    total.add(w->counters());
  }
  JsonLine out;
  out.add("mode", cfg.hold ? "hold" : (cfg.rate > 0 ? "echo-rate" : "echo"))
      .add("connections", cfg.connections)
      .add("connected", total.connected)
      .add("size", static_cast<uint64_t>(cfg.size))
      .add("inflight", cfg.inflight)
      .add("threads", cfg.threads)
      .add("rate", cfg.rate, 0)
      .add("warmup_s", cfg.hold ? 0.0 : cfg.warmup, 1)
      .add("duration_s", cfg.duration, 1);
  if (cfg.hold) {
    out.add("round_trips", total.roundTrips);
  } else {
    const double secs = cfg.duration > 0 ? cfg.duration : 1.0;
    out.add("messages", total.messages)
        .add("msgs_per_s", static_cast<double>(total.messages) / secs, 0)
        .add("bytes_per_s", static_cast<double>(total.messages) * static_cast<double>(cfg.size) / secs, 0);
  }
  out.add("mean_us", hist.mean() / 1e3, 1)
      .add("p50_us", micros(hist.quantile(0.50)), 1)
      .add("p90_us", micros(hist.quantile(0.90)), 1)
      .add("p99_us", micros(hist.quantile(0.99)), 1)
      .add("p999_us", micros(hist.quantile(0.999)), 1)
      .add("max_us", micros(hist.max()), 1)
      .add("errors", total.errors())
      .add("errors_reset", total.reset)
      .add("errors_eof", total.eof)
      .add("errors_short", total.shortEof)
      .add("errors_other", total.otherErrors)
      .add("connect_errors", total.connectErrors())
      .add("connect_refused", total.connectRefused)
      .add("connect_timeout", total.connectTimeout)
      .add("mismatches", total.mismatches);
  std::printf("%s\n", out.str().c_str());
  std::fflush(stdout);
  if (!anyone) {
    std::fprintf(stderr, "duet-load: no connection could be established to %s:%d\n", cfg.host.c_str(), port);
    return 1;
  }
  return 0;
}
