#include "core/tcp_client.h"

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "core/socket_ops.h"

namespace duet {

// Callbacks of an in-flight connect or retry timer hold a weak_ptr to this, so
// a TcpClient destroyed mid-connect leaves nothing dangling.
struct TcpClient::Shared {
  EventLoop& loop;
  InetAddress server;
  std::shared_ptr<const ConnectionCallbacks> callbacks;
  ClientOptions options;

  mutable std::mutex mutex;
  ConnectionPtr connection;  // guarded by mutex (read from any thread)
  int attempts = 0;          // guarded by mutex
  // Guarded by mutex: set from any thread, emptied by ~TcpClient, which may
  // run on another thread while a connect failure is queued on the loop.
  std::function<void(int)> onConnectFailed;
  std::atomic<bool> stopped{false};
  bool connecting = false;  // loop thread
  Duration backoff{};       // loop thread
  TimerId retryTimer;       // loop thread

  Shared(EventLoop& l, const InetAddress& s, ConnectionCallbacks cbs, ClientOptions o)
      : loop(l),
        server(s),
        callbacks(std::make_shared<const ConnectionCallbacks>(std::move(cbs))),
        options(o),
        backoff(o.initialBackoff) {}
};

namespace {
void attemptConnect(const std::shared_ptr<TcpClient::Shared>& shared);
}

TcpClient::TcpClient(EventLoop& loop, const InetAddress& server, ConnectionCallbacks callbacks,
                     ClientOptions options)
    : shared_(std::make_shared<Shared>(loop, server, std::move(callbacks), options)) {}

TcpClient::~TcpClient() {
  shared_->stopped = true;
  ConnectionPtr conn;
  std::function<void(int)> onConnectFailed;  // destroyed below, outside the lock
  {
    std::lock_guard lock(shared_->mutex);
    conn = std::move(shared_->connection);
    // A connect failure still queued on the loop finds no callback.
    onConnectFailed = std::move(shared_->onConnectFailed);
    shared_->onConnectFailed = nullptr;
  }
  if (shared_->loop.isInLoopThread()) {
    if (shared_->retryTimer) shared_->loop.cancel(shared_->retryTimer);
    if (conn) conn->closeInLoop();
  } else {
    // Another thread: the loop may be gone already; a queued forceClose is all we can do.
    if (conn) conn->forceClose();
  }
}

void TcpClient::setConnectFailedCallback(std::function<void(int error)> cb) {
  std::lock_guard lock(shared_->mutex);
  shared_->onConnectFailed = std::move(cb);
}

void TcpClient::connect() {
  shared_->stopped = false;
  shared_->loop.runInLoop([shared = shared_] {
    if (shared->connecting) return;
    {
      std::lock_guard lock(shared->mutex);
      if (shared->connection) return;
    }
    attemptConnect(shared);
  });
}

void TcpClient::disconnect() {
  if (ConnectionPtr conn = connection()) conn->shutdown();
}

void TcpClient::stop() {
  shared_->stopped = true;
  shared_->loop.runInLoop([shared = shared_] {
    if (shared->retryTimer) shared->loop.cancel(shared->retryTimer);
    shared->retryTimer = TimerId{};
  });
}

ConnectionPtr TcpClient::connection() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->connection;
}

int TcpClient::attempts() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->attempts;
}

namespace {

void connected(const std::shared_ptr<TcpClient::Shared>& shared, UniqueFd socket) {
  EventLoop& loop = shared->loop;
  const InetAddress local = sockets::localAddress(socket.get());
  if (shared->options.tcpNoDelay) sockets::setNoDelay(socket.get(), true);
  ConnectionPtr conn = loop.createConnection(std::move(socket), local, shared->server);
  if (!conn) return;
  conn->setCallbacks(shared->callbacks);
  conn->setHighWaterMark(shared->options.highWaterMark);
  std::weak_ptr<TcpClient::Shared> weak = shared;
  conn->setCloseHandler([weak](const ConnectionPtr& c) {
    if (auto s = weak.lock()) {
      std::lock_guard lock(s->mutex);
      if (s->connection == c) s->connection.reset();
    }
  });
  {
    std::lock_guard lock(shared->mutex);
    shared->connection = conn;
  }
  shared->backoff = shared->options.initialBackoff;
  conn->start();
}

void connectFailed(const std::shared_ptr<TcpClient::Shared>& shared, int error) {
  int attempts;
  {
    std::lock_guard lock(shared->mutex);
    attempts = shared->attempts;
  }
  const bool giveUp = shared->stopped || !shared->options.retry ||
                      (shared->options.maxAttempts > 0 && attempts >= shared->options.maxAttempts);
  if (giveUp) {
    DUET_LOG(Info) << "connect to " << shared->server.toIpPort()
                   << " failed: " << std::strerror(error);
    // Called outside the lock (the callback may ask for attempts()), on a
    // copy, so a destructor emptying the original meanwhile cannot pull it
    // from under the call.
    std::function<void(int)> onConnectFailed;
    {
      std::lock_guard lock(shared->mutex);
      onConnectFailed = shared->onConnectFailed;
    }
    if (onConnectFailed) onConnectFailed(error);
    return;
  }
  DUET_LOG(Debug) << "connect to " << shared->server.toIpPort()
                  << " failed: " << std::strerror(error) << "; retrying in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(shared->backoff).count()
                  << " ms";
  std::weak_ptr<TcpClient::Shared> weak = shared;
  shared->retryTimer = shared->loop.runAfter(shared->backoff, [weak] {
    if (auto s = weak.lock()) {
      s->retryTimer = TimerId{};
      if (!s->stopped) attemptConnect(s);
    }
  });
  shared->backoff = std::min(shared->backoff * 2, shared->options.maxBackoff);
}

void attemptConnect(const std::shared_ptr<TcpClient::Shared>& shared) {
  UniqueFd socket = sockets::tcpSocket(shared->server.family());
  {
    std::lock_guard lock(shared->mutex);
    ++shared->attempts;
  }
  if (!socket) {
    connectFailed(shared, errno);
    return;
  }
  shared->connecting = true;
  std::weak_ptr<TcpClient::Shared> weak = shared;
  shared->loop.connect(std::move(socket), shared->server,
                       [weak](UniqueFd connectedSocket, int error) {
                         auto s = weak.lock();
                         if (!s) return;  // the client is gone; connectedSocket closes here
                         s->connecting = false;
                         if (s->stopped && error == 0) return;
                         if (error == 0) {
                           connected(s, std::move(connectedSocket));
                         } else {
                           connectFailed(s, error);
                         }
                       });
}

}  // namespace
}  // namespace duet
