// TcpServer: listens, accepts, and spreads connections over loops, on any backend.
//
// Threading models (ServerOptions::ioThreads, ::acceptMode):
//   ioThreads == 0             one loop (the base loop) accepts and serves.
//   ioThreads == N, MainLoop   the base loop accepts and hands each connection
//                              round-robin to one of N I/O loops (master/sub reactor).
//   ioThreads == N, ReusePort  each of N I/O loops accepts on its own SO_REUSEPORT
//                              listener and serves what it accepts; the kernel spreads them.
//
// Every I/O loop is a sibling of the base loop (EventLoop::createSibling): same
// backend, same LoopOptions. The caller picks those when it makes the base loop.
//
// Graceful stop: stop accepting; half-close every connection once its output is
// flushed; wait for peers to close, up to drainTimeout; close what is left;
// quit and join the I/O loops; then run the onStopped callback on the base loop.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/connection.h"
#include "core/event_loop.h"
#include "core/inet_address.h"
#include "core/loop_options.h"

namespace duet {

class Acceptor;
class EventLoopThread;

enum class AcceptMode { MainLoop, ReusePort };
std::string_view acceptModeName(AcceptMode mode);  // "main" "reuseport"
std::optional<AcceptMode> parseAcceptMode(std::string_view name);

struct ServerOptions {
  InetAddress listen{0, /*loopbackOnly=*/true};
  int ioThreads = 0;
  AcceptMode acceptMode = AcceptMode::MainLoop;
  std::size_t highWaterMark = 4 * 1024 * 1024;
  std::size_t maxOutputBytes = 64 * 1024 * 1024;  // per connection; 0 = no cap
  Duration idleTimeout{};          // no byte in or out for this long: evicted. zero: never evict
  std::size_t maxConnections = 0;  // zero: no limit; beyond it new connections are closed at once
  Duration drainTimeout = std::chrono::seconds(5);
  bool tcpNoDelay = true;
  // SO_SNDBUF of accepted sockets, in bytes (set on the listener, which they
  // inherit); 0: the kernel's autotuning.
  int socketSendBuffer = 0;
  std::string name = "duet";
};

class TcpServer {
 public:
  TcpServer(EventLoop& baseLoop, ServerOptions options, ConnectionCallbacks callbacks);
  // Closes everything that is still open. Call on the base loop's thread.
  ~TcpServer();
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Binds, starts the I/O loops and the acceptors. Base loop thread. Returns
  // false and sets *error to one line (e.g. "cannot listen on 0.0.0.0:80:
  // bind: Address already in use") on failure; throws BackendUnavailable if an
  // I/O loop cannot be created.
  bool start(std::string* error);

  // Graceful stop (see above). Any thread. `onStopped` runs on the base loop,
  // once, when the stop has finished: at once if it already has, and for
  // every caller if stop() is called again while it is in progress.
  void stop(std::function<void()> onStopped = {});

  // The bound address: with port 0 in the options, the port the kernel chose.
  const InetAddress& listenAddress() const { return listenAddress_; }
  // Open connections, all loops.
  std::size_t connectionCount() const { return connectionCount_.load(std::memory_order_relaxed); }
  // The base loop first, then the I/O loops. Valid between start() and the end of stop().
  std::vector<EventLoop*> loops() const;
  const ServerOptions& options() const { return options_; }

  // One "stats ..." line per loop (LoopStats::print), for --stats.
  void printStats(std::ostream& out) const;

 private:
  struct LoopState;  // per-loop connections and acceptor; touched only on that loop

  void onAccepted(LoopState& acceptingLoop, SocketHandle socket, const InetAddress& peer);
  void adoptConnection(LoopState& target, SocketHandle socket, const InetAddress& peer);
  void removeConnection(LoopState& owner, const ConnectionPtr& conn);
  void sweepIdle(LoopState& state);
  void beginDrain(LoopState& state);
  void forceCloseAll(LoopState& state);
  void maybeFinishStop();
  void finishStop();
  LoopState& nextIoLoop();

  EventLoop& baseLoop_;
  ServerOptions options_;
  std::shared_ptr<const ConnectionCallbacks> callbacks_;
  InetAddress listenAddress_;
  std::vector<std::unique_ptr<EventLoopThread>> threads_;
  std::vector<std::unique_ptr<LoopState>> loops_;  // [0] is the base loop
  std::size_t nextLoop_ = 0;
  std::atomic<std::size_t> connectionCount_{0};
  std::atomic<bool> started_{false};
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  TimerId drainTimer_;
  // Every stop() caller waiting for the stop to finish (a second stop() during
  // the drain joins the wait of the first instead of being dropped).
  std::vector<std::function<void()>> onStopped_;
  std::string finalStats_;  // printStats() text captured just before the I/O loops end
};

}  // namespace duet
