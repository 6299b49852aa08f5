// duet-http: an HTTP/1.1 server on any duet backend.
//
//   duet-http --backend uring --threads 2 --accept reuseport --port 8080 --root ./www --stats
//
// Routes: /hello (benchmark), /stats (every loop's counters as JSON), /echo
// (POST body back) and static files under --root. The shared server flags
// (backend, threads, accept mode, loop knobs) and the program's life (start,
// run until SIGINT/SIGTERM, graceful stop, --stats) come from apps/common, so
// duet-http and duet-echo spell and do them the same way.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <utility>

#include "apps/common/server_flags.h"
#include "apps/common/server_runner.h"
#include "apps/http/http_server.h"

namespace {

constexpr const char* kProgram = "duet-http";

std::chrono::milliseconds secondsToMs(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

// HttpServer as the shared runner runs it (apps/common/server_runner.h).
class RunnableHttpServer final : public duet::app::RunnableServer {
 public:
  RunnableHttpServer(duet::EventLoop& baseLoop, duet::http::HttpServerOptions options)
      : details_(listeningDetailsOf(options)), server_(baseLoop, std::move(options)) {}
  bool start(std::string* error) override { return server_.start(error); }
  void stop(std::function<void()> onStopped) override { server_.stop(std::move(onStopped)); }
  duet::TcpServer& tcp() override { return server_.tcp(); }
  std::string listeningDetails() const override { return details_; }

 private:
  static std::string listeningDetailsOf(const duet::http::HttpServerOptions& options) {
    std::string details = " api=" + std::string(duet::app::apiStyleName(options.api));
    if (!options.root.empty()) {
      details += " root=" + options.root + " file-io=" + duet::http::fileIoName(options.fileIo);
    }
    return details;
  }

  std::string details_;
  duet::http::HttpServer server_;
};

}  // namespace

int main(int argc, char** argv) {
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
  app.add_option(
         "--file-io", fileIo,
         "how static files are read: async (the loop's readFile: io_uring reads on uring, worker "
         "threads "
         "on epoll/poll/select; a disk read never stalls the loop), loop (pread on the loop "
         "thread, "
         "the old path, for comparison; the same with --api callbacks and coroutines) or sendfile "
         "(Connection::sendFile: sendfile(2) from the page cache on epoll/poll/select, ring reads "
         "and "
         "sends on uring; --api coroutines reads as async)")
      ->check(CLI::IsMember({"async", "loop", "sendfile"}))
      ->capture_default_str();
  app.add_flag("--access-log", accessLog, "one line per request on stdout");
  app.add_option("--header-timeout", headerTimeout,
                 "seconds a client has to send a request's headers")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--keepalive-timeout", keepAliveTimeout,
                 "seconds an idle keep-alive connection is kept")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-body", limits.maxBodyBytes, "largest request body in bytes (413 beyond)")
      ->capture_default_str();
  if (int status = duet::app::parseOrExit(app, argc, argv); status >= 0) return status;

  // Everything but the TCP part (which the runner fills in from the shared flags).
  duet::http::HttpServerOptions options;
  options.root = root;
  options.fileIo = fileIo == "loop"       ? duet::http::FileIo::Loop
                   : fileIo == "sendfile" ? duet::http::FileIo::Sendfile
                                          : duet::http::FileIo::Async;
  options.accessLog = accessLog;
  options.api = flags.api;
  limits.headerTimeout = secondsToMs(headerTimeout);
  limits.keepAliveTimeout = secondsToMs(keepAliveTimeout);
  options.limits = limits;

  return duet::app::runServer(
      kProgram, flags, [&options](duet::EventLoop& baseLoop, const duet::ServerOptions& tcp) {
        options.tcp = tcp;
        return std::make_unique<RunnableHttpServer>(baseLoop, options);
      });
}
