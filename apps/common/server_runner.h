// The whole life of a server program, shared by duet-echo and duet-http: block
// the termination signals, make the loop, make and start the program's server,
// run until SIGINT/SIGTERM, stop gracefully, print --stats. The program says
// only which server it runs (a ServerFactory); everything else is here once.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "apps/common/server_flags.h"
#include "core/event_loop.h"
#include "core/tcp_server.h"

namespace duet::app {

// What runServer needs of a program's server. A TcpServer with callbacks has
// it all (tcpServerFactory); a protocol server built on one (duet-http's
// HttpServer) adapts in a few lines.
class RunnableServer {
 public:
  virtual ~RunnableServer() = default;
  // See TcpServer::start: false with a one-line *error, or throws BackendUnavailable.
  virtual bool start(std::string* error) = 0;
  // Graceful stop (TcpServer::stop); onStopped runs on the base loop when it is done.
  virtual void stop(std::function<void()> onStopped) = 0;
  // The TCP server underneath: its listen address, and its counters for --stats.
  virtual TcpServer& tcp() = 0;
  // Appended to the "listening on ..." line, e.g. " api=callbacks": what this
  // program adds to the shared flags. Empty by default.
  virtual std::string listeningDetails() const { return {}; }
};

// Makes the program's server on `baseLoop` with the options the shared flags
// gave (listen address, threads, accept mode, limits, name). Called once, after
// the loop exists and before anything listens.
using ServerFactory = std::function<std::unique_ptr<RunnableServer>(EventLoop& baseLoop,
                                                                    const ServerOptions& options)>;

// A factory for the plain case: a TcpServer running `callbacks` (duet-echo).
ServerFactory tcpServerFactory(ConnectionCallbacks callbacks);

// Runs `program`'s server as the flags say. Returns the process exit status:
// 0 after a clean stop, 2 for a setup error (already printed as one line
// "PROGRAM: <what is wrong>").
int runServer(const char* program, const ServerFlags& flags, const ServerFactory& makeServer);

// Raises this process's RLIMIT_NOFILE soft limit to its hard limit: a server's
// connection count should be bounded by --max-connections and the hard limit
// the administrator set, not by a shell's default of 1024. Returns the new soft
// limit. runServer calls it before the server starts.
long raiseOpenFileLimit();

}  // namespace duet::app
