// duet-load as a benchmark script runs it: against real duet-echo and
// duet-http servers on 127.0.0.1, several at once in alternating slices, in
// HTTP mode, in connection churn, with connections opened per slice, with a
// server dying mid-run, and with flags it must refuse.
// Only counts and flags are checked, never speed: the machine is shared.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "fake_http_server.h"
#include "tests/support/subprocess.h"

#ifndef DUET_LOAD_PATH
#error "DUET_LOAD_PATH must name the duet-load binary"
#endif
#ifndef DUET_ECHO_PATH
#error "DUET_ECHO_PATH must name the duet-echo binary"
#endif
#ifndef DUET_HTTP_PATH
#error "DUET_HTTP_PATH must name the duet-http binary"
#endif

namespace duet::test {
namespace {

// ---- The output: flat JSON lines of numbers and a few strings ---------------

// The number after "key": in `line`, or nothing if the key is absent.
std::optional<double> number(const std::string& line, const std::string& key) {
  const std::string quoted = "\"" + key + "\":";
  const auto at = line.find(quoted);
  if (at == std::string::npos) return std::nullopt;
  const char* begin = line.c_str() + at + quoted.size();
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  if (end == begin) return std::nullopt;
  return v;
}

// The number, or -1 (which every check below treats as wrong) if absent.
double num(const std::string& line, const std::string& key) {
  return number(line, key).value_or(-1);
}

std::vector<std::string> jsonLines(const std::string& out) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t eol = out.find('\n', pos);
    if (eol == std::string::npos) eol = out.size();
    if (out[pos] == '{') lines.push_back(out.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return lines;
}

std::string lineForPort(const std::vector<std::string>& lines, int port) {
  for (const auto& l : lines)
    if (num(l, "port") == port) return l;
  return "";
}

std::string joinPorts(const std::vector<int>& values) {
  std::string s;
  for (int v : values) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

// --http-mix: the object for `path` inside the line's "groups" object (its
// fields are flat numbers and one string), or "" if there is none.
std::string groupOf(const std::string& line, const std::string& path) {
  const auto groups = line.find("\"groups\":{");
  if (groups == std::string::npos) return "";
  const auto at = line.find("\"" + path + "\":{", groups);
  if (at == std::string::npos) return "";
  const auto end = line.find('}', at);
  return end == std::string::npos ? "" : line.substr(at, end - at + 1);
}

// The samples a latency_hist string ("value:count value:count") holds.
uint64_t histogramCount(const std::string& object) {
  const std::string key = "\"latency_hist\":\"";
  const auto at = object.find(key);
  if (at == std::string::npos) return 0;
  const auto end = object.find('"', at + key.size());
  uint64_t total = 0;
  size_t pos = at + key.size();
  while (pos < end) {
    const auto colon = object.find(':', pos);
    auto space = object.find(' ', colon);
    if (space == std::string::npos || space > end) space = end;
    total += std::stoull(object.substr(colon + 1, space - colon - 1));
    pos = space + 1;
  }
  return total;
}

// ---- Servers ----------------------------------------------------------------

struct Server {
  std::unique_ptr<Subprocess> process;
  int port = 0;
  std::string backend;
};

Server startServer(const char* path, const std::string& backend) {
  Server s;
  s.backend = backend;
  s.process = std::make_unique<Subprocess>(std::vector<std::string>{
      path, "--backend", backend, "--host", "127.0.0.1", "--port", "0", "--log-level", "warn"});
  s.port = portFromListeningLine(s.process->waitForLine("listening on", 10000));
  return s;
}

// io_uring may be unavailable (old kernel, seccomp): duet-echo then exits 2,
// and the second server runs on poll instead, still a different backend.
Server startUringOrPollEcho() {
  Server s = startServer(DUET_ECHO_PATH, "uring");
  if (s.port > 0) return s;
  const int status = s.process->wait(5000);
  EXPECT_EQ(status, 2) << "duet-echo --backend uring failed without saying uring is unavailable: "
                       << s.process->err();
  return startServer(DUET_ECHO_PATH, "poll");
}

// Stops `s` with SIGTERM, its graceful stop: it must exit 0 within 10 s,
// still fine after being loaded.
void expectCleanExit(Server& s) {
  s.process->signal(SIGTERM);
  EXPECT_EQ(s.process->wait(10000), 0) << s.backend << ": " << s.process->err();
}

// ---- duet-load --------------------------------------------------------------

struct LoadRun {
  int status = -1;
  std::string out;
  std::string err;
  std::vector<std::string> lines;
};

LoadRun runLoad(const std::vector<std::string>& flags, int timeoutMs = 15000,
                Subprocess::Options options = {}) {
  std::vector<std::string> argv = {DUET_LOAD_PATH};
  argv.insert(argv.end(), flags.begin(), flags.end());
  Subprocess load(argv, options);
  LoadRun r;
  r.status = load.wait(timeoutMs);
  r.out = load.out();
  r.err = load.err();
  r.lines = jsonLines(r.out);
  return r;
}

// duet-load with `flags` against `servers`: their ports (--port), and their
// pids for the server CPU figures (--server-pid).
LoadRun runLoadAgainst(const std::vector<const Server*>& servers, std::vector<std::string> flags) {
  std::vector<int> ports, pids;
  for (const Server* s : servers) {
    ports.push_back(s->port);
    pids.push_back(s->process->pid());
  }
  flags.insert(flags.end(), {"--port", joinPorts(ports), "--server-pid", joinPorts(pids)});
  return runLoad(flags);
}

// --trace-fds: duet-load's {"event":"fds",...} lines on stderr.
struct FdTrace {
  std::vector<std::string> slices;  // one per slice: port, baseline, measuring, drained
  std::string total;                // start and end of the whole run
};

FdTrace fdTrace(const std::string& err) {
  FdTrace t;
  for (const auto& line : jsonLines(err)) {
    if (line.find("\"event\":\"fds\"") == std::string::npos) continue;
    if (number(line, "start")) t.total = line;
    else t.slices.push_back(line);
  }
  return t;
}

// Every slice ended with duet-load's descriptors back where they were before
// the slices, and the run ended where it started.
void expectDescriptorsBackAtEverySliceEnd(const FdTrace& trace, size_t slices) {
  EXPECT_EQ(trace.slices.size(), slices);
  for (const auto& line : trace.slices) {
    EXPECT_GT(num(line, "baseline"), 0) << line;
    EXPECT_EQ(num(line, "drained"), num(line, "baseline")) << line;
  }
  ASSERT_FALSE(trace.total.empty()) << "no start/end line";
  EXPECT_GT(num(trace.total, "start"), 0) << trace.total;
  EXPECT_EQ(num(trace.total, "end"), num(trace.total, "start")) << trace.total;
}

int expectedSlices(double duration, double slice) {
  return std::max(1, static_cast<int>(std::lround(duration / slice)));
}

// A server's line from an echo run that went as planned: every slice it was
// given, and no error, mismatch or failed connect.
void expectEverySliceWithoutErrors(const std::string& line, int slices) {
  EXPECT_EQ(num(line, "slices"), slices);
  EXPECT_EQ(num(line, "errors"), 0);
  EXPECT_EQ(num(line, "mismatches"), 0);
  EXPECT_EQ(num(line, "connect_errors"), 0);
}

// A port on 127.0.0.1 nobody listens on (bound, never listened, closed).
int unusedPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// ---- Tests ------------------------------------------------------------------

TEST(DuetLoad, AlternatesSlicesBetweenTwoEchoServers) {
  Server a = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(a.port, 0) << a.process->err();
  Server b = startUringOrPollEcho();
  ASSERT_GT(b.port, 0) << b.process->err();

  const double duration = 0.4, slice = 0.05;
  const LoadRun run = runLoadAgainst(
      {&a, &b}, {"-c", "4", "-t", "2", "-k", "2", "-s", "300", "-d", "0.4", "-w", "0.1", "--slice",
                 "0.05", "--server-cpus", "0", "--connect-timeout", "5"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 2u) << run.out;
  for (const Server* s : {&a, &b}) {
    const std::string line = lineForPort(run.lines, s->port);
    ASSERT_FALSE(line.empty()) << "no line for port " << s->port << " (" << s->backend << "):\n"
                               << run.out;
    SCOPED_TRACE(s->backend + ": " + line);
    EXPECT_NE(line.find("\"mode\":\"echo\""), std::string::npos);
    EXPECT_EQ(num(line, "connected"), 4);
    EXPECT_GT(num(line, "messages"), 0);
    expectEverySliceWithoutErrors(line, expectedSlices(duration, slice));
    EXPECT_EQ(num(line, "drain_timeouts"), 0);
    EXPECT_GT(num(line, "server_cpu_s"), 0);
    EXPECT_GT(num(line, "load_cpu_s"), 0);
    EXPECT_GE(num(line, "server_cpus_busy_s"), 0);
    EXPECT_GE(num(line, "server_cpus_softirq_s"), 0);
    EXPECT_GT(num(line, "p50_us"), 0);
    // The percentiles rest on exactly the messages counted, and the buckets
    // printed for pooling hold all of them.
    EXPECT_EQ(num(line, "latency_samples"), num(line, "messages"));
    EXPECT_NE(line.find("\"latency_hist\":\""), std::string::npos);
  }
  // Both servers are still fine after being loaded.
  for (Server* s : {&a, &b}) expectCleanExit(*s);
}

TEST(DuetLoad, OneSliceWithoutSliceFlagAndNoServerCpuWithoutPid) {
  Server a = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(a.port, 0) << a.process->err();
  const LoadRun run =
      runLoad({"--port", std::to_string(a.port), "-c", "2", "-d", "0.2", "-w", "0.05"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 1u) << run.out;
  const std::string& line = run.lines[0];
  EXPECT_EQ(num(line, "port"), a.port) << line;
  EXPECT_EQ(num(line, "slices"), 1) << line;
  EXPECT_GT(num(line, "messages"), 0) << line;
  EXPECT_EQ(num(line, "errors"), 0) << line;
  EXPECT_FALSE(number(line, "server_cpu_s")) << line;
  EXPECT_FALSE(number(line, "server_cpus_busy_s")) << line;
}

TEST(DuetLoad, HttpModeCountsResponsesAndBadStatus) {
  Server http = startServer(DUET_HTTP_PATH, "epoll");
  ASSERT_GT(http.port, 0) << http.process->err();
  const std::string port = std::to_string(http.port);

  // Pipelined keep-alive GETs of a route that exists.
  const LoadRun ok = runLoad({"--port", port, "--http", "/hello", "-c", "3", "-k", "4", "-d", "0.3",
                              "-w", "0.05", "--server-pid", std::to_string(http.process->pid())});
  ASSERT_EQ(ok.status, 0) << ok.err;
  ASSERT_EQ(ok.lines.size(), 1u) << ok.out;
  const std::string& line = ok.lines[0];
  SCOPED_TRACE(line);
  EXPECT_NE(line.find("\"mode\":\"http\""), std::string::npos);
  EXPECT_GT(num(line, "messages"), 0);
  EXPECT_GT(num(line, "response_bytes"), 0);
  EXPECT_EQ(num(line, "bad_status"), 0);
  EXPECT_EQ(num(line, "protocol_errors"), 0);
  EXPECT_EQ(num(line, "errors"), 0);
  EXPECT_EQ(num(line, "mismatches"), 0);
  EXPECT_GT(num(line, "server_cpu_s"), 0);

  // A path the server does not have: every answer is a 404, counted, not measured.
  const LoadRun missing =
      runLoad({"--port", port, "--http", "/no-such-path", "-c", "2", "-d", "0.2", "-w", "0.05"});
  ASSERT_EQ(missing.status, 0) << missing.err;
  ASSERT_EQ(missing.lines.size(), 1u) << missing.out;
  const std::string& bad = missing.lines[0];
  EXPECT_GT(num(bad, "bad_status"), 0) << bad;
  EXPECT_EQ(num(bad, "messages"), 0) << bad;
  EXPECT_EQ(num(bad, "protocol_errors"), 0) << bad;

  expectCleanExit(http);
}

TEST(DuetLoad, ServerKilledMidRunIsCountedAndTheOtherKeepsBeingMeasured) {
  Server doomed = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(doomed.port, 0) << doomed.process->err();
  Server live = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(live.port, 0) << live.process->err();

  const double duration = 1.0, slice = 0.05;
  Subprocess load({DUET_LOAD_PATH, "--port", joinPorts({doomed.port, live.port}), "-c", "4", "-k",
                   "2", "-d", "1", "-w", "0.05", "--slice", "0.05", "--drain-timeout", "1",
                   "--connect-timeout", "2", "--server-pid",
                   joinPorts({doomed.process->pid(), live.process->pid()})});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // well inside the alternation
  doomed.process->signal(SIGKILL);
  EXPECT_EQ(doomed.process->wait(5000), 128 + SIGKILL);

  // Bounded: the run is ~2.5 s; a generator stuck on the dead server would hang here.
  const int status = load.wait(15000);
  ASSERT_NE(status, -1) << "duet-load did not exit; stderr:\n" << load.err();
  EXPECT_EQ(status, 0) << load.err();
  const auto lines = jsonLines(load.out());
  ASSERT_EQ(lines.size(), 2u) << load.out();

  const std::string dead = lineForPort(lines, doomed.port);
  ASSERT_FALSE(dead.empty()) << load.out();
  EXPECT_GT(num(dead, "errors") + num(dead, "connect_errors"), 0) << dead;
  EXPECT_GT(num(dead, "errors_reset") + num(dead, "errors_eof") + num(dead, "errors_short") +
                num(dead, "connect_errors"),
            0)
      << dead;
  EXPECT_EQ(num(dead, "mismatches"), 0) << dead;
  EXPECT_EQ(num(dead, "slices"), expectedSlices(duration, slice)) << dead;

  const std::string alive = lineForPort(lines, live.port);
  ASSERT_FALSE(alive.empty()) << load.out();
  EXPECT_GT(num(alive, "messages"), 0) << alive;
  EXPECT_EQ(num(alive, "errors"), 0) << alive;
  EXPECT_EQ(num(alive, "mismatches"), 0) << alive;
  EXPECT_EQ(num(alive, "slices"), expectedSlices(duration, slice)) << alive;
  EXPECT_GT(num(alive, "server_cpu_s"), 0) << alive;
}

// ---- Connection churn ------------------------------------------------------

TEST(DuetLoad, EchoChurnCountsCyclesAgainstTwoServersAndClosesEveryConnection) {
  Server a = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(a.port, 0) << a.process->err();
  Server b = startUringOrPollEcho();
  ASSERT_GT(b.port, 0) << b.process->err();

  const double duration = 0.4, slice = 0.1;
  const LoadRun run =
      runLoadAgainst({&a, &b}, {"--churn", "-c", "4", "-t", "2", "-s", "300", "-d", "0.4", "-w",
                                "0.1", "--slice", "0.1", "--server-cpus", "0", "--trace-fds"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 2u) << run.out;
  for (const Server* s : {&a, &b}) {
    const std::string line = lineForPort(run.lines, s->port);
    ASSERT_FALSE(line.empty()) << "no line for port " << s->port << " (" << s->backend << "):\n"
                               << run.out;
    SCOPED_TRACE(s->backend + ": " + line);
    EXPECT_NE(line.find("\"mode\":\"echo-churn\""), std::string::npos);
    EXPECT_GT(num(line, "connections_made"), 0);
    EXPECT_EQ(num(line, "messages"), num(line, "connections_made")) << "one request per connection";
    EXPECT_GT(num(line, "connections_per_s"), 0);
    // Every measured cycle connected, and more connected (warmups, drains).
    EXPECT_GE(num(line, "connected"), num(line, "connections_made"));
    EXPECT_EQ(num(line, "server_closed_first"), 0) << "an echo server never closes first";
    expectEverySliceWithoutErrors(line, expectedSlices(duration, slice));
    EXPECT_GT(num(line, "server_cpu_s"), 0);
    EXPECT_GT(num(line, "p50_us"), 0);
  }
  expectDescriptorsBackAtEverySliceEnd(fdTrace(run.err),
                                       2 * static_cast<size_t>(expectedSlices(duration, slice)));
  // The servers took every connection and its close in their stride.
  for (Server* s : {&a, &b}) {
    expectCleanExit(*s);
    EXPECT_EQ(s->process->err().find("failed"), std::string::npos)
        << s->backend << ": " << s->process->err();
  }
}

TEST(DuetLoad, HttpChurnSendsConnectionCloseAndCountsCycles) {
  Server a = startServer(DUET_HTTP_PATH, "epoll");
  ASSERT_GT(a.port, 0) << a.process->err();
  Server b = startServer(DUET_HTTP_PATH, "poll");
  ASSERT_GT(b.port, 0) << b.process->err();

  const double duration = 0.4, slice = 0.1;
  const LoadRun run =
      runLoadAgainst({&a, &b}, {"--churn", "--http", "/hello", "-c", "3", "-d", "0.4", "-w", "0.1",
                                "--slice", "0.1", "--trace-fds"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 2u) << run.out;
  for (const Server* s : {&a, &b}) {
    const std::string line = lineForPort(run.lines, s->port);
    ASSERT_FALSE(line.empty()) << run.out;
    SCOPED_TRACE(s->backend + ": " + line);
    EXPECT_NE(line.find("\"mode\":\"http-churn\""), std::string::npos);
    EXPECT_GT(num(line, "connections_made"), 0);
    EXPECT_EQ(num(line, "messages"), num(line, "connections_made"));
    EXPECT_GT(num(line, "response_bytes"), 0);
    // duet-http shuts its side down after a Connection: close answer; whether
    // that FIN is in before duet-load closes is a race, so only bound it.
    EXPECT_LE(num(line, "server_closed_first"), num(line, "connections_made"));
    EXPECT_GE(num(line, "server_closed_first"), 0);
    EXPECT_EQ(num(line, "errors"), 0);
    EXPECT_EQ(num(line, "bad_status"), 0);
    EXPECT_EQ(num(line, "protocol_errors"), 0);
    EXPECT_EQ(num(line, "mismatches"), 0);
    EXPECT_EQ(num(line, "connect_errors"), 0);
  }
  expectDescriptorsBackAtEverySliceEnd(fdTrace(run.err),
                                       2 * static_cast<size_t>(expectedSlices(duration, slice)));
  for (Server* s : {&a, &b}) expectCleanExit(*s);
}

// A server that frames its answer by closing: every cycle ends at the
// server's close, every request carried "Connection: close".
TEST(DuetLoad, HttpChurnTakesABodyEndedByTheServersClose) {
  FakeHttpServer server(FakeHttpServer::Mode::kCloseDelimited);
  ASSERT_GT(server.port(), 0);
  const LoadRun run = runLoad({"--churn", "--http", "/x", "--port", std::to_string(server.port()),
                               "-c", "2", "-d", "0.2", "-w", "0.05", "--trace-fds"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 1u) << run.out;
  const std::string& line = run.lines[0];
  SCOPED_TRACE(line);
  EXPECT_GT(num(line, "connections_made"), 0);
  EXPECT_EQ(num(line, "server_closed_first"), num(line, "connections_made"))
      << "the close is what ended each body";
  EXPECT_EQ(num(line, "response_bytes"),
            FakeHttpServer::response(FakeHttpServer::Mode::kCloseDelimited).size());
  EXPECT_EQ(num(line, "errors"), 0);
  EXPECT_EQ(num(line, "protocol_errors"), 0);
  EXPECT_EQ(num(line, "mismatches"), 0);
  EXPECT_GE(server.requests(), num(line, "connections_made"));
  EXPECT_EQ(server.requestsWithoutConnectionClose(), 0u);
  EXPECT_EQ(server.connections(), server.requests()) << "one request per connection";
  expectDescriptorsBackAtEverySliceEnd(fdTrace(run.err), 1);
}

// A server that refuses every connect: its slots count the refusals and wait
// before retrying, and the other server is measured as if it were alone.
TEST(DuetLoad, ChurnAgainstARefusingPortCountsRefusalsAndKeepsMeasuringTheOther) {
  Server live = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(live.port, 0) << live.process->err();
  const int dead = unusedPort();
  ASSERT_GT(dead, 0);
  const LoadRun run = runLoad({"--churn", "--port", joinPorts({dead, live.port}), "-c", "3", "-d",
                               "0.3", "-w", "0.05", "--slice", "0.1", "--trace-fds"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 2u) << run.out;
  const std::string refused = lineForPort(run.lines, dead);
  EXPECT_GT(num(refused, "connect_refused"), 0) << refused;
  EXPECT_EQ(num(refused, "connect_errors"), num(refused, "connect_refused")) << refused;
  EXPECT_EQ(num(refused, "connected"), 0) << refused;
  EXPECT_EQ(num(refused, "connections_made"), 0) << refused;
  EXPECT_EQ(num(refused, "errors"), 0) << "refusals are connect errors, not errors: " << refused;
  const std::string ok = lineForPort(run.lines, live.port);
  EXPECT_GT(num(ok, "connections_made"), 0) << ok;
  EXPECT_EQ(num(ok, "errors"), 0) << ok;
  EXPECT_EQ(num(ok, "connect_errors"), 0) << ok;
  expectDescriptorsBackAtEverySliceEnd(fdTrace(run.err),
                                       2 * static_cast<size_t>(expectedSlices(0.3, 0.1)));

  // Nobody at all: exit 1, as when nothing connects up front.
  const LoadRun none =
      runLoad({"--churn", "--port", std::to_string(dead), "-c", "2", "-d", "0.1", "-w", "0.05"});
  EXPECT_EQ(none.status, 1) << none.err;
  EXPECT_NE(none.err.find("no connection could be established"), std::string::npos) << none.err;
}

// ---- Connections opened per slice -------------------------------------------

TEST(DuetLoad, ConnectPerSliceHoldsOnlyTheLoadedServersConnections) {
  Server a = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(a.port, 0) << a.process->err();
  Server b = startUringOrPollEcho();
  ASSERT_GT(b.port, 0) << b.process->err();

  const double duration = 0.3, slice = 0.1;
  const int connections = 5;
  const LoadRun run = runLoadAgainst(
      {&a, &b}, {"--connect-per-slice", "-c", std::to_string(connections), "-t", "2", "-k", "2",
                 "-d", "0.3", "-w", "0.05", "--slice", "0.1", "--trace-fds"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 2u) << run.out;
  for (const Server* s : {&a, &b}) {
    const std::string line = lineForPort(run.lines, s->port);
    ASSERT_FALSE(line.empty()) << run.out;
    SCOPED_TRACE(s->backend + ": " + line);
    EXPECT_NE(line.find("\"mode\":\"echo\""), std::string::npos);
    EXPECT_NE(line.find("\"connect_per_slice\":true"), std::string::npos);
    EXPECT_EQ(num(line, "connected"), connections);
    EXPECT_GT(num(line, "messages"), 0);
    expectEverySliceWithoutErrors(line, expectedSlices(duration, slice));
  }
  const FdTrace trace = fdTrace(run.err);
  expectDescriptorsBackAtEverySliceEnd(trace,
                                       2 * static_cast<size_t>(expectedSlices(duration, slice)));
  // Inside each window exactly the loaded server's connections are open.
  for (const auto& line : trace.slices)
    EXPECT_EQ(num(line, "measuring") - num(line, "baseline"), connections) << line;
}

// What the flag is for: two servers' connections together exceed the open
// file limit, one server's at a time do not.
TEST(DuetLoad, ConnectPerSliceFitsUnderAFileLimitThatBothServersConnectionsExceed) {
  Server a = startServer(DUET_ECHO_PATH, "epoll");
  ASSERT_GT(a.port, 0) << a.process->err();
  Server b = startServer(DUET_ECHO_PATH, "poll");
  ASSERT_GT(b.port, 0) << b.process->err();
  // ~6 descriptors of its own + 30 connections fit in 48; 60 do not.
  Subprocess::Options limit;
  limit.maxOpenFiles = 48;
  const std::vector<std::string> flags = {
      "--port", joinPorts({a.port, b.port}), "-c", "30", "-d", "0.2", "-w", "0.05", "--slice",
      "0.1",    "--connect-timeout",         "2"};
  std::vector<std::string> perSlice = flags;
  perSlice.push_back("--connect-per-slice");
  const LoadRun fits = runLoad(perSlice, 15000, limit);
  ASSERT_EQ(fits.status, 0) << fits.err;
  ASSERT_EQ(fits.lines.size(), 2u) << fits.out;
  for (const auto& line : fits.lines) {
    EXPECT_EQ(num(line, "connected"), 30) << line;
    EXPECT_EQ(num(line, "connect_errors"), 0) << line;
    EXPECT_EQ(num(line, "errors"), 0) << line;
    EXPECT_GT(num(line, "messages"), 0) << line;
  }
  // The control: all at once, the second server's connections hit the limit.
  const LoadRun tooMany = runLoad(flags, 15000, limit);
  ASSERT_EQ(tooMany.lines.size(), 2u) << tooMany.out << tooMany.err;
  EXPECT_GT(num(tooMany.lines[0], "connect_errors") + num(tooMany.lines[1], "connect_errors"), 0)
      << tooMany.lines[0] << "\n"
      << tooMany.lines[1];
}

// ---- HTTP pipelining ---------------------------------------------------------

// -k 16: sixteen requests really are in flight (the server answers nothing
// on a connection until it holds sixteen), and the figures are per request.
TEST(DuetLoad, HttpPipelinedSixteenDeepCountsEachResponse) {
  FakeHttpServer server(FakeHttpServer::Mode::kHoldUntilPipelined, 16);
  ASSERT_GT(server.port(), 0);
  const LoadRun run = runLoad({"--http", "/x", "-k", "16", "--port", std::to_string(server.port()),
                               "-c", "2", "-d", "0.3", "-w", "0.05", "--drain-timeout", "2"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 1u) << run.out;
  const std::string& line = run.lines[0];
  SCOPED_TRACE(line);
  EXPECT_EQ(num(line, "inflight"), 16);
  EXPECT_GT(num(line, "messages"), 16) << "every response counts, not every batch";
  EXPECT_LE(num(line, "messages"), static_cast<double>(server.requests()));
  EXPECT_EQ(num(line, "response_bytes"),
            FakeHttpServer::response(FakeHttpServer::Mode::kHoldUntilPipelined).size())
      << "bytes of one response, not of a batch";
  EXPECT_NEAR(num(line, "bytes_per_s"),
              num(line, "messages") * num(line, "response_bytes") / num(line, "duration_s"), 1.0);
  EXPECT_EQ(num(line, "errors"), 0);
  EXPECT_EQ(num(line, "drain_timeouts"), 0) << "fewer than 16 in flight: the server never answered";
  EXPECT_EQ(num(line, "mismatches"), 0);
  EXPECT_EQ(server.requestsWithoutConnectionClose(), server.requests())
      << "keep-alive mode sends no close";
}

// And against duet-http on every backend it has: 16 deep, each response is
// counted whole (the byte count of exactly one /hello answer).
TEST(DuetLoad, HttpPipelinedSixteenDeepAgainstDuetHttp) {
  for (const char* backend : {"epoll", "uring"}) {
    Server http = startServer(DUET_HTTP_PATH, backend);
    if (http.port == 0 && std::string(backend) == "uring") continue;  // io_uring unavailable here
    ASSERT_GT(http.port, 0) << http.process->err();
    const LoadRun run = runLoad({"--http", "/hello", "-k", "16", "--port",
                                 std::to_string(http.port), "-c", "4", "-d", "0.3", "-w", "0.05"});
    ASSERT_EQ(run.status, 0) << run.err;
    ASSERT_EQ(run.lines.size(), 1u) << run.out;
    const std::string& line = run.lines[0];
    SCOPED_TRACE(std::string(backend) + ": " + line);
    EXPECT_GT(num(line, "messages"), 16);
    // duet-http's /hello answer is one fixed size (its Date header is fixed-width).
    EXPECT_GT(num(line, "response_bytes"), 100);
    EXPECT_LT(num(line, "response_bytes"), 400);
    EXPECT_EQ(num(line, "response_bytes"), std::round(num(line, "response_bytes")))
        << "a fraction: responses differ";
    EXPECT_EQ(num(line, "errors"), 0);
    EXPECT_EQ(num(line, "bad_status"), 0);
    EXPECT_EQ(num(line, "protocol_errors"), 0);
    EXPECT_EQ(num(line, "mismatches"), 0);
    expectCleanExit(http);
  }
}

// A listener on 127.0.0.1 with the given backlog; returns {fd, port} (fd -1 on failure).
std::pair<int, int> listener(int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(fd, backlog) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return {-1, 0};
  }
  return {fd, ntohs(addr.sin_port)};
}

// A server that dies while the load is still connecting to another (the
// thread-per-connection baseline running out of threads at 10,000
// connections): its connections' hang-ups arrive in the connect phase. They
// are not connects completing, so "connected" stays at what did connect.
TEST(DuetLoad, HangUpsDuringTheConnectPhaseAreNotCountedAsConnects) {
  auto [closing, closingPort] = listener(16);
  auto [stuck, stuckPort] = listener(0);  // never accepts: a queue of one, later SYNs are dropped
  ASSERT_GE(closing, 0);
  ASSERT_GE(stuck, 0);
  // Accepts the load's 4 connections and closes each at once.
  std::thread acceptor([fd = closing] {
    for (int i = 0; i < 4; ++i) {
      const int c = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) ::close(c);
    }
  });
  const LoadRun run =
      runLoad({"--port", joinPorts({closingPort, stuckPort}), "-c", "4", "-d", "0.1", "-w", "0",
               "--connect-timeout", "1", "--drain-timeout", "0.2"});
  acceptor.join();
  ::close(closing);
  ::close(stuck);
  const std::string line = lineForPort(run.lines, closingPort);
  ASSERT_FALSE(line.empty()) << run.out << run.err;
  EXPECT_EQ(num(line, "connected"), 4) << line;
  const std::string other = lineForPort(run.lines, stuckPort);
  ASSERT_FALSE(other.empty()) << run.out;
  EXPECT_LE(num(other, "connected"), 4) << other;
}

TEST(DuetLoad, NoServerListeningExitsOneWithConnectErrors) {
  const int port = unusedPort();
  ASSERT_GT(port, 0);
  const LoadRun run =
      runLoad({"--port", std::to_string(port), "-c", "2", "-d", "0.1", "--connect-timeout", "0.3"});
  EXPECT_EQ(run.status, 1) << run.err;
  ASSERT_EQ(run.lines.size(), 1u) << run.out;
  EXPECT_EQ(num(run.lines[0], "connected"), 0) << run.lines[0];
  EXPECT_EQ(num(run.lines[0], "connect_refused"), 2) << run.lines[0];
  EXPECT_NE(run.err.find("no connection could be established"), std::string::npos) << run.err;
}

// ---- Mixed paths (--http-mix) ------------------------------------------------

// Some connections GET one path, the others another: each path's responses
// are counted and timed in a group of their own (the server answers each path
// with a body of a different size, so a response counted in the wrong group
// shows in its response_bytes), and the groups add up to the whole run.
TEST(DuetLoad, HttpMixCountsEachPathInItsOwnGroup) {
  FakeHttpServer server(FakeHttpServer::Mode::kBodyIsThePath);
  ASSERT_GT(server.port(), 0);
  const LoadRun run =
      runLoad({"--http", "/a", "--http-mix", "/bbbbbbbb:2", "--port", std::to_string(server.port()),
               "-c", "5", "-t", "2", "-d", "0.3", "-w", "0.05"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 1u) << run.out;
  const std::string& line = run.lines[0];
  SCOPED_TRACE(line);
  const std::string a = groupOf(line, "/a");
  const std::string b = groupOf(line, "/bbbbbbbb");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(num(a, "connections"), 3);
  EXPECT_EQ(num(b, "connections"), 2);
  EXPECT_EQ(num(a, "response_bytes"), FakeHttpServer::responseTo("/a").size());
  EXPECT_EQ(num(b, "response_bytes"), FakeHttpServer::responseTo("/bbbbbbbb").size());
  EXPECT_GT(num(a, "messages"), 0);
  EXPECT_GT(num(b, "messages"), 0);
  EXPECT_EQ(num(a, "messages") + num(b, "messages"), num(line, "messages"));
  EXPECT_EQ(num(a, "latency_samples") + num(b, "latency_samples"), num(line, "latency_samples"));
  EXPECT_EQ(histogramCount(a), num(a, "latency_samples"));
  EXPECT_EQ(histogramCount(b), num(b, "latency_samples"));
  EXPECT_GT(num(a, "p99_us"), 0);
  EXPECT_GT(num(b, "p99_us"), 0);
  EXPECT_EQ(num(a, "errors") + num(b, "errors") + num(line, "errors"), 0);
  EXPECT_GT(server.requestsFor("/a"), 0u);
  EXPECT_GT(server.requestsFor("/bbbbbbbb"), 0u);
  EXPECT_EQ(server.requestsFor("/a") + server.requestsFor("/bbbbbbbb"), server.requests())
      << "no other path sent";
}

// A path that is never answered stalls only its own group: the other
// group's latencies are the whole run's, and the stuck connections are that
// group's errors (drain timeouts).
TEST(DuetLoad, HttpMixKeepsAStuckPathOutOfTheOtherGroup) {
  FakeHttpServer server(FakeHttpServer::Mode::kBodyIsThePath);
  ASSERT_GT(server.port(), 0);
  const LoadRun run =
      runLoad({"--http", "/a", "--http-mix", "/stuck:1", "--port", std::to_string(server.port()),
               "-c", "3", "-d", "0.2", "-w", "0.05", "--drain-timeout", "0.2"});
  ASSERT_EQ(run.lines.size(), 1u) << run.out << run.err;
  const std::string& line = run.lines[0];
  SCOPED_TRACE(line);
  const std::string a = groupOf(line, "/a");
  const std::string stuck = groupOf(line, "/stuck");
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(stuck.empty());
  EXPECT_GT(num(a, "latency_samples"), 0);
  EXPECT_EQ(num(a, "latency_samples"), num(line, "latency_samples"));
  EXPECT_EQ(num(a, "p99_us"), num(line, "p99_us"));
  EXPECT_EQ(num(a, "errors"), 0);
  EXPECT_EQ(num(stuck, "latency_samples"), 0);
  EXPECT_EQ(num(stuck, "messages"), 0);
  EXPECT_EQ(num(stuck, "errors"), 1) << "its one connection timed out in the drain";
  EXPECT_EQ(num(line, "drain_timeouts"), 1);
}

// Without --http-mix the line has no groups (its fields are as before).
TEST(DuetLoad, HttpWithoutMixPrintsNoGroups) {
  FakeHttpServer server(FakeHttpServer::Mode::kBodyIsThePath);
  ASSERT_GT(server.port(), 0);
  const LoadRun run = runLoad({"--http", "/a", "--port", std::to_string(server.port()), "-c", "2",
                               "-d", "0.1", "-w", "0.02"});
  ASSERT_EQ(run.status, 0) << run.err;
  ASSERT_EQ(run.lines.size(), 1u) << run.out;
  EXPECT_GT(num(run.lines[0], "messages"), 0) << run.lines[0];
  EXPECT_EQ(run.lines[0].find("\"groups\""), std::string::npos) << run.lines[0];
}

TEST(DuetLoad, BadFlagCombinationsExitTwoWithOneLine) {
  // Every case would otherwise try to connect to a closed port: keep that short.
  const std::vector<std::vector<std::string>> cases = {
      {"--port", "5001,5002", "--server-pid", "1"},
      {"--port", "5001", "--server-pid", "1,2"},
      {"--port", "5001,5002", "--hold"},
      {"--port", "5001", "--http", "hello"},
      {"--port", "5001", "--http", "/x", "--hold"},
      {"--port", "abc"},
      {"--port", "5001,,x"},
      {"--port", "70000"},
      {"--port", "0"},
      {"--port", "5001", "--server-cpus", "zero"},
      {"--port", "5001", "--churn", "-k", "2"},
      {"--port", "5001", "--churn", "--hold"},
      {"--port", "5001", "--churn", "-r", "100"},
      {"--port", "5001", "--churn", "--connect-per-slice"},
      {"--port", "5001", "--connect-per-slice", "--hold"},
      {"--port", "5001", "--http-mix", "/hello:1", "-c", "2"},            // a mix of what?
      {"--port", "5001", "--http", "/a", "--http-mix", "/b", "-c", "2"},  // no count
      {"--port", "5001", "--http", "/a", "--http-mix", "/b:x", "-c", "2"},
      {"--port", "5001", "--http", "/a", "--http-mix", "/b:0", "-c", "2"},
      {"--port", "5001", "--http", "/a", "--http-mix", "b:1", "-c", "2"},   // not a path
      {"--port", "5001", "--http", "/a", "--http-mix", "/b:2", "-c", "2"},  // none left for /a
      {"--port", "5001", "--http", "/a", "--http-mix", "/a:1", "-c", "2"},  // /a twice
      {"--port", "5001", "--http", "/a", "--http-mix", "/b:1", "--http-mix", "/b:1", "-c", "3"},
  };
  for (const auto& flags : cases) {
    std::vector<std::string> args = flags;
    args.insert(args.end(), {"-d", "0.1", "-w", "0", "--connect-timeout", "0.2"});
    const LoadRun run = runLoad(args, 5000);
    std::string shown;
    for (const auto& f : flags) shown += f + " ";
    EXPECT_EQ(run.status, 2) << shown << "\nstderr: " << run.err;
    EXPECT_TRUE(run.out.empty()) << shown << "\nstdout: " << run.out;
    EXPECT_EQ(run.err.rfind("duet-load: ", 0), 0u) << shown << "\nstderr: " << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1)
        << shown << "\nstderr: " << run.err;
  }
}

}  // namespace
}  // namespace duet::test
