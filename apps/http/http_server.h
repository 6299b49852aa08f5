// HttpServer: HttpConnection on top of duet::TcpServer, i.e. on any backend.
//
// This is the only file that knows about sockets. It gives every connection a
// Session (its HttpConnection plus the Transport that forwards to the
// duet::Connection), keeps the sessions of each loop in a list, and runs one
// sweep timer per loop for the timeouts (header, keep-alive, send, linger):
// one timer per loop instead of one per connection keeps an idle connection
// small and a request free of timer bookkeeping.
//
// With api = Coroutines (--api coroutines) none of that: each connection is
// one coroutine, serveHttpConnection (http_coroutine.h), started by
// coro::serve, with its timeouts on its own waits.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "apps/common/api_style.h"
#include "apps/http/http_connection.h"
#include "apps/http/http_limits.h"
#include "apps/http/router.h"
#include "core/tcp_server.h"

namespace duet::http {

// Where static files are read (duet-http --file-io).
enum class FileIo {
  // EventLoop::readFile: ring reads on io_uring, worker threads on the
  // reactors. No file byte is read on a loop thread.
  Async,
  // pread on the loop thread, small files inline in the router: the old path,
  // kept for comparison. A page-cache miss stalls every connection of the loop.
  Loop,
  // Connection::sendFile: the body goes from the page cache to the socket
  // without passing through our memory (sendfile(2) on the reactors, after a
  // worker has read in what the cache lacked; ring reads and sends on
  // io_uring, which has no sendfile). Callbacks API only: the coroutine
  // connection reads its bodies as with Async.
  Sendfile,
};
const char* fileIoName(FileIo mode);

struct HttpServerOptions {
  ServerOptions tcp;  // listen address, threads, accept mode (the backend is the base loop's)
  std::string root;   // static files; empty: none
  FileIo fileIo = FileIo::Async;
  ReadFromForTesting readFromForTesting;  // tests only (static_files.h)
  HttpLimits limits;
  bool accessLog = false;  // one line per request on stdout
  // How each connection is served: HttpConnection driven by callbacks, or
  // serveHttpConnection as one coroutine. The same bytes either way.
  app::ApiStyle api = app::ApiStyle::Callbacks;
};

// Whether no file byte is read on a loop thread: Async (both APIs: the
// callback connection through Transport::readFile, the coroutine one with
// co_await coro::readFile) and Sendfile.
bool readsFilesAsynchronously(const HttpServerOptions& options);

class HttpServer {
 public:
  HttpServer(EventLoop& baseLoop, HttpServerOptions options);
  ~HttpServer();  // base loop thread
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // See TcpServer::start: false + one-line error, or throws BackendUnavailable.
  // Also false if --root is given but is not a readable directory.
  bool start(std::string* error);
  // Graceful stop (TcpServer::stop). The HttpServer must outlive onStopped.
  void stop(std::function<void()> onStopped = {});

  TcpServer& tcp() { return *tcp_; }
  const InetAddress& listenAddress() const { return tcp_->listenAddress(); }
  // {"loops":[{"name":..,"stats":{"mode":..,...}},...]}: the body of /stats.
  std::string statsJson() const;

 private:
  class Session;
  struct LoopSessions;

  void onConnection(const ConnectionPtr& conn);
  LoopSessions& sessionsOf(EventLoop& loop);
  void sweep(LoopSessions& sessions);

  EventLoop& baseLoop_;
  HttpServerOptions options_;
  Router router_;
  HttpContext context_;
  std::mutex sessionsMutex_;                          // guards the vector, not the lists
  std::vector<std::unique_ptr<LoopSessions>> loops_;  // one per loop that has had a connection
  std::unique_ptr<TcpServer> tcp_;                    // last: destroyed (closing connections) first
};

}  // namespace duet::http
