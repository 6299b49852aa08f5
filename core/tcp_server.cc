#include "core/tcp_server.h"

#include <sys/socket.h>

#include <future>
#include <ostream>
#include <sstream>
#include <utility>

#include "core/acceptor.h"
#include "core/event_loop_thread.h"
#include "core/log.h"
#include "core/socket_ops.h"

namespace duet {

std::string_view acceptModeName(AcceptMode mode) {
  return mode == AcceptMode::MainLoop ? "main" : "reuseport";
}

std::optional<AcceptMode> parseAcceptMode(std::string_view name) {
  if (name == "main") return AcceptMode::MainLoop;
  if (name == "reuseport") return AcceptMode::ReusePort;
  return std::nullopt;
}

// What the server keeps per loop. Touched only on that loop's thread, except
// `loop`, which is fixed at start().
struct TcpServer::LoopState {
  EventLoop* loop = nullptr;
  std::unique_ptr<Acceptor> acceptor;
  std::unordered_map<std::uint64_t, ConnectionPtr> connections;
  TimerId idleSweep;
};

TcpServer::TcpServer(EventLoop& baseLoop, ServerOptions options, ConnectionCallbacks callbacks)
    : baseLoop_(baseLoop),
      options_(std::move(options)),
      callbacks_(std::make_shared<const ConnectionCallbacks>(std::move(callbacks))),
      listenAddress_(options_.listen) {}

TcpServer::~TcpServer() {
  if (!started_.load() || stopped_) return;
  baseLoop_.flushHandOffs();  // what the acceptor handed off reaches the I/O loops while they exist
  // Not stopped gracefully: close everything now, loop by loop, on each loop's thread.
  // Wait until each loop has run its close-down task before quitting it: a
  // quit() racing ahead of the task could end the loop with the task unrun.
  for (std::size_t i = 1; i < loops_.size(); ++i) {
    LoopState* state = loops_[i].get();
    std::promise<void> closed;
    auto done = closed.get_future();
    state->loop->runInLoop([this, state, &closed] {
      state->acceptor.reset();
      if (state->idleSweep) state->loop->cancel(state->idleSweep);
      forceCloseAll(*state);
      closed.set_value();
    });
    done.wait();
  }
  for (auto& t : threads_) t->stop();
  LoopState& base = *loops_[0];
  base.acceptor.reset();
  if (base.idleSweep) baseLoop_.cancel(base.idleSweep);
  forceCloseAll(base);
  if (drainTimer_) baseLoop_.cancel(drainTimer_);
}

bool TcpServer::start(std::string* error) {
  baseLoop_.assertInLoopThread();
  if (started_.exchange(true)) return true;

  // Sockets the base loop accepts must be able to travel to the I/O loops.
  if (options_.acceptMode == AcceptMode::MainLoop && options_.ioThreads > 0) {
    if (std::string refusal = baseLoop_.handOffRefusal(); !refusal.empty()) {
      if (error) *error = std::move(refusal);
      started_ = false;
      return false;
    }
  }

  // The loops: the base loop, then N siblings, each on its own thread.
  loops_.push_back(std::make_unique<LoopState>());
  loops_[0]->loop = &baseLoop_;
  for (int i = 0; i < options_.ioThreads; ++i) {
    auto thread = std::make_unique<EventLoopThread>([this] { return baseLoop_.createSibling(); },
                                                    options_.name + "-io" + std::to_string(i));
    EventLoop* loop = thread->start();  // throws BackendUnavailable if the backend cannot run
    threads_.push_back(std::move(thread));
    loops_.push_back(std::make_unique<LoopState>());
    LoopState* state = loops_.back().get();
    state->loop = loop;
    // Where the main acceptor's hand-offs land (EventLoop::handOff). Set on the
    // loop's own thread, and waited for: the first socket may follow at once.
    std::promise<void> receiverSet;
    auto set = receiverSet.get_future();
    loop->runInLoop([this, state, &receiverSet] {
      state->loop->setSocketReceiver([this, state](SocketHandle socket, const InetAddress& peer) {
        adoptConnection(*state, std::move(socket), peer);
      });
      receiverSet.set_value();
    });
    set.wait();
  }

  // The listeners: one for the base loop, or one per I/O loop with SO_REUSEPORT.
  const bool perLoopListeners =
      options_.acceptMode == AcceptMode::ReusePort && options_.ioThreads > 0;
  const bool reusePort = options_.acceptMode == AcceptMode::ReusePort;
  std::vector<LoopState*> accepting;
  if (perLoopListeners) {
    for (std::size_t i = 1; i < loops_.size(); ++i) accepting.push_back(loops_[i].get());
  } else {
    accepting.push_back(loops_[0].get());
  }
  std::vector<UniqueFd> listeners;
  InetAddress bindAddress = options_.listen;
  for (std::size_t i = 0; i < accepting.size(); ++i) {
    UniqueFd fd = sockets::listenTcp(bindAddress, reusePort, error);
    if (!fd) {
      for (auto& t : threads_) t->stop();
      threads_.clear();
      loops_.clear();
      started_ = false;
      return false;
    }
    // Accepted sockets inherit TCP_NODELAY from their listener (Linux copies
    // the listener's options into each new socket). Set here too, for the
    // sockets that have no descriptor to set it on (adoptConnection()).
    if (options_.tcpNoDelay) sockets::setNoDelay(fd.get(), true);
    if (options_.socketSendBuffer > 0) {
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &options_.socketSendBuffer,
                   sizeof options_.socketSendBuffer);
    }
    if (i == 0) {
      // With port 0 the kernel picked one: the other listeners must share it.
      listenAddress_ = sockets::localAddress(fd.get());
      bindAddress = listenAddress_;
    }
    listeners.push_back(std::move(fd));
  }

  for (std::size_t i = 0; i < accepting.size(); ++i) {
    LoopState* state = accepting[i];
    // std::function must be copyable; the descriptor travels in a shared holder.
    auto listener = std::make_shared<UniqueFd>(std::move(listeners[i]));
    state->loop->runInLoop([this, state, listener] {
      state->acceptor = state->loop->createAcceptor(
          std::move(*listener), [this, state](SocketHandle s, const InetAddress& peer) {
            onAccepted(*state, std::move(s), peer);
          });
      state->acceptor->start();
    });
  }

  if (options_.idleTimeout > Duration::zero()) {
    // A sweep per loop a few times per timeout: eviction happens between 1x and
    // 1.25x the timeout, for one timer per loop instead of one per connection.
    const Duration period =
        std::max<Duration>(options_.idleTimeout / 4, std::chrono::milliseconds(5));
    for (auto& st : loops_) {
      LoopState* state = st.get();
      state->loop->runInLoop([this, state, period] {
        state->idleSweep = state->loop->runEvery(period, [this, state] { sweepIdle(*state); });
      });
    }
  }
  DUET_LOG(Debug) << options_.name << " listening on " << listenAddress_.toIpPort() << " ("
                  << backendName(baseLoop_.backend()) << ", " << options_.ioThreads
                  << " I/O threads, accept " << acceptModeName(options_.acceptMode) << ")";
  return true;
}

std::vector<EventLoop*> TcpServer::loops() const {
  std::vector<EventLoop*> out;
  for (const auto& st : loops_) out.push_back(st->loop);
  return out;
}

TcpServer::LoopState& TcpServer::nextIoLoop() {
  if (loops_.size() == 1) return *loops_[0];
  LoopState& st = *loops_[1 + nextLoop_];
  nextLoop_ = (nextLoop_ + 1) % (loops_.size() - 1);
  return st;
}

void TcpServer::onAccepted(LoopState& acceptingLoop, SocketHandle socket, const InetAddress& peer) {
  if (stopping_.load(std::memory_order_acquire)) return;  // the socket closes here
  if (options_.maxConnections != 0 &&
      connectionCount_.load(std::memory_order_relaxed) >= options_.maxConnections) {
    acceptingLoop.loop->stats().refused.add();
    DUET_LOG(Debug) << "refusing " << peer.toIpPort() << ": " << options_.maxConnections
                    << " connections open (max-connections)";
    return;
  }
  connectionCount_.fetch_add(1, std::memory_order_relaxed);
  const bool handOff = options_.acceptMode == AcceptMode::MainLoop && options_.ioThreads > 0;
  LoopState& target = handOff ? nextIoLoop() : acceptingLoop;
  if (&target == &acceptingLoop) {
    adoptConnection(target, std::move(socket), peer);
  } else {
    acceptingLoop.loop->handOff(*target.loop, std::move(socket),
                                peer);  // the target's receiver adopts it
  }
}

void TcpServer::adoptConnection(LoopState& target, SocketHandle socket, const InetAddress& peer) {
  EventLoop& loop = *target.loop;
  if (!socket) {  // a hand-off that failed on its way (the socket is closed): forget the connection
                  // counted
    connectionCount_.fetch_sub(1, std::memory_order_relaxed);
    maybeFinishStop();
    return;
  }
  InetAddress local = listenAddress_;
  if (socket.isSlot()) {
    // A socket in the backend's own table has no descriptor to ask: its local
    // address is the listener's (the wildcard address when listening on all),
    // and TCP_NODELAY it inherited from the listener (set in start()).
  } else {
    local = sockets::localAddress(socket.fd());
    if (options_.tcpNoDelay) sockets::setNoDelay(socket.fd(), true);
    loop.stats().count(Syscall::Control, options_.tcpNoDelay ? 2 : 1);
  }
  ConnectionPtr conn = loop.createConnection(std::move(socket), local, peer);
  if (!conn) {  // the backend refused the socket (logged there), e.g. select past FD_SETSIZE
    connectionCount_.fetch_sub(1, std::memory_order_relaxed);
    maybeFinishStop();
    return;
  }
  loop.stats().accepted.add();
  conn->setCallbacks(callbacks_);
  conn->setHighWaterMark(options_.highWaterMark);
  conn->setMaxOutputBytes(options_.maxOutputBytes);
  conn->setCloseHandler([this, &target](const ConnectionPtr& c) { removeConnection(target, c); });
  target.connections.emplace(conn->id(), conn);
  conn->start();
  if (stopping_.load(std::memory_order_acquire)) conn->shutdown();
}

void TcpServer::removeConnection(LoopState& owner, const ConnectionPtr& conn) {
  owner.connections.erase(conn->id());
  connectionCount_.fetch_sub(1, std::memory_order_relaxed);
  maybeFinishStop();
}

void TcpServer::sweepIdle(LoopState& state) {
  const TimePoint now = state.loop->now();
  std::vector<ConnectionPtr> idle;
  for (const auto& [id, conn] : state.connections) {
    if (now - conn->lastActivity() >= options_.idleTimeout) idle.push_back(conn);
  }
  for (const auto& conn : idle) {
    state.loop->stats().idleEvictions.add();
    DUET_LOG(Debug) << "connection #" << conn->id() << " from " << conn->peer().toIpPort()
                    << " idle; closing it";
    conn->forceClose();
  }
}

// ---------------------------------------------------------------- stopping

void TcpServer::stop(std::function<void()> onStopped) {
  baseLoop_.runInLoop([this, onStopped = std::move(onStopped)]() mutable {
    if (!started_.load() || stopped_) {
      if (onStopped) onStopped();
      return;
    }
    if (onStopped) onStopped_.push_back(std::move(onStopped));
    if (stopping_.exchange(true)) return;  // already draining: told with the first caller
    for (auto& st : loops_) {
      LoopState* state = st.get();
      state->loop->runInLoop([this, state] {
        if (state->acceptor) {
          state->acceptor->stop();
          state->acceptor.reset();
        }
        if (state->idleSweep) state->loop->cancel(state->idleSweep);
        beginDrain(*state);
      });
    }
    drainTimer_ = baseLoop_.runAfter(options_.drainTimeout, [this] {
      drainTimer_ = TimerId{};
      DUET_LOG(Info) << options_.name << ": drain deadline passed with " << connectionCount()
                     << " connections open; closing them";
      for (auto& st : loops_) {
        LoopState* state = st.get();
        state->loop->runInLoop([this, state] { forceCloseAll(*state); });
      }
    });
    maybeFinishStop();
  });
}

void TcpServer::beginDrain(LoopState& state) {
  // Copy first: shutdown() may close a connection at once, which erases it from the map.
  std::vector<ConnectionPtr> open;
  for (const auto& [id, conn] : state.connections) open.push_back(conn);
  for (const auto& conn : open) conn->shutdown();
}

void TcpServer::forceCloseAll(LoopState& state) {
  std::vector<ConnectionPtr> open;
  for (const auto& [id, conn] : state.connections) open.push_back(conn);
  for (const auto& conn : open) conn->closeInLoop();
}

void TcpServer::maybeFinishStop() {
  if (!stopping_.load(std::memory_order_acquire) ||
      connectionCount_.load(std::memory_order_relaxed) != 0)
    return;
  baseLoop_.queueInLoop([this] { finishStop(); });
}

void TcpServer::finishStop() {
  if (stopped_ || connectionCount_.load(std::memory_order_relaxed) != 0) return;
  std::ostringstream text;
  printStats(text);  // while the I/O loops still exist
  finalStats_ = text.str();
  stopped_ = true;
  if (drainTimer_) baseLoop_.cancel(drainTimer_);
  baseLoop_.flushHandOffs();
  for (auto& t : threads_) t->stop();
  threads_.clear();
  loops_.resize(1);
  for (auto& done : std::exchange(onStopped_, {})) done();
}

void TcpServer::printStats(std::ostream& out) const {
  if (stopped_) {
    out << finalStats_;
    return;
  }
  for (const auto& st : loops_) st->loop->stats().print(out, st->loop->name(), st->loop->mode());
}

}  // namespace duet
