// duet-http: an HTTP/1.1 server on any duet backend.
//
//   duet-http --backend uring --threads 2 --accept reuseport --port 8080 --root ./www --stats
//
// Routes: /hello (benchmark), /stats (every loop's counters as JSON), /echo
// (POST body back) and static files under --root. The shared server flags
// (backend, threads, accept mode, loop knobs) come from apps/common, so
// duet-http and duet-echo spell them the same way.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>

#include "apps/common/server_flags.h"
#include "apps/http/http_server.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/termination_signals.h"

namespace {

constexpr const char* kProgram = "duet-http";

std::chrono::milliseconds secondsToMs(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

}  // namespace

int main(int argc, char** argv) {
  // First, before any thread exists: every thread inherits the blocked
  // SIGINT/SIGTERM, and the watcher thread is the only one that takes them.
  duet::TerminationSignals::blockInThisProcess();

  CLI::App app{"duet-http: an HTTP/1.1 server on any duet backend", kProgram};
  duet::app::ServerFlags flags;
  flags.port = 8080;
  duet::app::addServerFlags(app, flags);
  std::string root;
  bool accessLog = false;
  duet::http::HttpLimits limits;
  double headerTimeout = 10, keepAliveTimeout = 30;
  app.add_option("--root", root, "serve static files from this directory");
  std::string fileIo = "async";
  app.add_option("--file-io", fileIo,
                 "how static files are read: async (the loop's readFile: io_uring reads on uring, worker threads "
                 "on epoll/poll/select; a disk read never stalls the loop) or loop (pread on the loop thread, "
                 "the old path, for comparison); the same with --api callbacks and coroutines")
      ->check(CLI::IsMember({"async", "loop"}))
      ->capture_default_str();
  app.add_flag("--access-log", accessLog, "one line per request on stdout");
  app.add_option("--header-timeout", headerTimeout, "seconds a client has to send a request's headers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--keepalive-timeout", keepAliveTimeout, "seconds an idle keep-alive connection is kept")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-body", limits.maxBodyBytes, "largest request body in bytes (413 beyond)")
      ->capture_default_str();
  if (int status = duet::app::parseOrExit(app, argc, argv); status >= 0) return status;

  const auto level = duet::parseLogLevel(flags.logLevel);
  if (!level) {
    std::cerr << kProgram << ": unknown --log-level '" << flags.logLevel << "' (trace|debug|info|warn|error|off)\n";
    return 2;
  }
  duet::setLogLevel(*level);
  duet::app::raiseOpenFileLimit();  // thousands of connections need more than the default 1,024

  duet::LoopOptions loopOptions;
  duet::http::HttpServerOptions options;
  std::string error;
  if (!duet::app::toOptions(flags, &loopOptions, &options.tcp, &error)) {
    std::cerr << kProgram << ": " << error << '\n';
    return 2;
  }
  options.tcp.name = kProgram;
  options.root = root;
  options.fileIo = fileIo == "loop" ? duet::http::FileIo::Loop : duet::http::FileIo::Async;
  options.accessLog = accessLog;
  options.api = flags.api;
  limits.headerTimeout = secondsToMs(headerTimeout);
  limits.keepAliveTimeout = secondsToMs(keepAliveTimeout);
  options.limits = limits;
  if (flags.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(flags.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::cerr << kProgram << ": cannot pin to CPU " << flags.cpu << '\n';
      return 2;
    }
  }

  try {
    std::unique_ptr<duet::EventLoop> loop = duet::makeEventLoop(loopOptions);
    loop->setName("main");
    duet::http::HttpServer server(*loop, options);
    if (!server.start(&error)) {
      std::cerr << kProgram << ": " << error << '\n';
      return 2;
    }
    std::cout << kProgram << ": listening on " << server.listenAddress().toIpPort()
              << " backend=" << duet::backendName(loop->backend()) << " mode=" << loop->mode()
              << " threads=" << flags.threads << " accept=" << flags.accept
              << " api=" << duet::app::apiStyleName(flags.api)
              << (root.empty() ? std::string() : " root=" + root + " file-io=" +
                                                     (duet::http::readsFilesAsynchronously(options) ? "async" : "loop"))
              << std::endl;

    duet::TerminationSignals signals(*loop, [&](int signo) {
      DUET_LOG(Info) << kProgram << ": signal " << signo << ", stopping gracefully";
      server.stop([&] { loop->quit(); });
    });
    loop->run();
    if (flags.stats) server.tcp().printStats(std::cout);
    std::cout.flush();
  } catch (const duet::BackendUnavailable& e) {
    std::cerr << kProgram << ": " << e.what() << '\n';
    return 2;
  }
  return 0;
}
