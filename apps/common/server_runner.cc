#include "apps/common/server_runner.h"

#include <sched.h>
#include <sys/resource.h>

#include <iostream>
#include <utility>

#include "core/log.h"
#include "core/termination_signals.h"

namespace duet::app {

namespace {

// The plain program: a TcpServer and its callbacks, nothing on top.
class PlainTcpServer final : public RunnableServer {
 public:
  PlainTcpServer(EventLoop& baseLoop, const ServerOptions& options, ConnectionCallbacks callbacks)
      : server_(baseLoop, options, std::move(callbacks)) {}
  bool start(std::string* error) override { return server_.start(error); }
  void stop(std::function<void()> onStopped) override { server_.stop(std::move(onStopped)); }
  TcpServer& tcp() override { return server_; }

 private:
  TcpServer server_;
};

}  // namespace

ServerFactory tcpServerFactory(ConnectionCallbacks callbacks) {
  return [callbacks = std::move(callbacks)](EventLoop& baseLoop, const ServerOptions& options) {
    return std::make_unique<PlainTcpServer>(baseLoop, options, callbacks);
  };
}

long raiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<long>(limit.rlim_cur);
}

int runServer(const char* program, const ServerFlags& flags, const ServerFactory& makeServer) {
  // Before any thread exists, so every thread inherits the blocked signals.
  TerminationSignals::blockInThisProcess();

  const auto level = parseLogLevel(flags.logLevel);
  if (!level) {
    std::cerr << program << ": unknown --log-level '" << flags.logLevel
              << "' (trace|debug|info|warn|error|off)\n";
    return 2;
  }
  setLogLevel(*level);
  raiseOpenFileLimit();  // thousands of connections need more than the default 1,024

  LoopOptions loopOptions;
  ServerOptions serverOptions;
  serverOptions.name = program;
  std::string error;
  std::string backendAnnouncement;
  if (!toOptions(flags, &loopOptions, &serverOptions, &error, &backendAnnouncement)) {
    std::cerr << program << ": " << error << '\n';
    return 2;
  }
  if (!backendAnnouncement.empty())
    std::cout << backendAnnouncement << std::endl;  // --backend auto: which and why
  if (flags.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(flags.cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0) {
      std::cerr << program << ": cannot pin to CPU " << flags.cpu << '\n';
      return 2;
    }
  }

  try {
    std::unique_ptr<EventLoop> loop = makeEventLoop(loopOptions);
    loop->setName("main");
    // After the loop, so it is destroyed (closing its connections) before the loop.
    std::unique_ptr<RunnableServer> server = makeServer(*loop, serverOptions);
    if (!server->start(&error)) {
      std::cerr << program << ": " << error << '\n';
      return 2;
    }
    std::cout << program << ": listening on " << server->tcp().listenAddress().toIpPort()
              << " backend=" << backendName(loop->backend()) << " mode=" << loop->mode()
              << " threads=" << flags.threads << " accept=" << flags.accept
              << server->listeningDetails() << std::endl;

    TerminationSignals signals(*loop, [&](int signo) {
      DUET_LOG(Info) << program << ": signal " << signo << ", stopping gracefully";
      server->stop([&] { loop->quit(); });
    });
    loop->run();
    if (flags.stats) server->tcp().printStats(std::cout);
    std::cout.flush();
  } catch (const BackendUnavailable& e) {
    std::cerr << program << ": " << e.what() << '\n';
    return 2;
  }
  return 0;
}

}  // namespace duet::app
