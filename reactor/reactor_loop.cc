#include "reactor/reactor_loop.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "core/log.h"
#include "reactor/channel.h"
#include "reactor/pending_connect.h"
#include "reactor/reactor_acceptor.h"
#include "reactor/reactor_connection.h"

namespace duet {

namespace {

std::string modeName(const LoopOptions& options) {
  switch (options.backend) {
    case Backend::Epoll:
      return options.reactor.edgeTriggered ? "epoll-et" : "epoll-lt";
    case Backend::Poll:
      return "poll";
    case Backend::Select:
      return "select";
    case Backend::IoUring:
      break;
  }
  throw std::invalid_argument("ReactorLoop cannot run the uring backend");
}

}  // namespace

ReactorLoop::ReactorLoop(const LoopOptions& options)
    : EventLoop(options, modeName(options)),
      poller_(makePoller(options, stats())),
      descriptorLimit_(poller_->descriptorLimit()),
      waker_(*this, stats()),
      timer_(*this, stats()) {}

ReactorLoop::~ReactorLoop() {
  // Queued tasks and timers may hold connections and acceptors whose channels
  // unregister from the poller as they die: they go first, while it exists.
  dropPendingWork();
  // Connects still in flight end here without calling back: the contract is
  // "done runs exactly once, unless the loop is destroyed first". Their
  // sockets close as they go.
  connects_.clear();
}

bool ReactorLoop::canWatch(int fd) const { return !descriptorLimit_ || fd < *descriptorLimit_; }

bool ReactorLoop::updateChannel(Channel& channel) {
  assertInLoopThread();
  return poller_->update(channel);
}

void ReactorLoop::removeChannel(Channel& channel) {
  assertInLoopThread();
  poller_->remove(channel);
  if (dispatching_)
    std::replace(active_.begin(), active_.end(), &channel, static_cast<Channel*>(nullptr));
}

void ReactorLoop::poll(bool mayBlock, std::optional<TimePoint> /*timerDeadline*/) {
  // The timerfd is in the poller's set, so the wait needs no timeout of its
  // own: it ends at I/O, a wake-up or the earliest timer.
  active_.clear();
  poller_->wait(mayBlock ? -1 : 0, active_);
  if (active_.empty()) return;
  stats().wakeups.add();
  stats().events.add(active_.size());
  dispatching_ = true;
  // Index loop: entries may be blanked (never added or removed) meanwhile.
  for (std::size_t i = 0; i < active_.size(); ++i) {
    if (Channel* channel = active_[i]) channel->dispatch();
  }
  dispatching_ = false;
}

void ReactorLoop::wakeup() { waker_.wake(); }

void ReactorLoop::timerDeadlineChanged(std::optional<TimePoint> deadline) { timer_.arm(deadline); }

std::unique_ptr<Acceptor> ReactorLoop::createAcceptor(UniqueFd listenSocket,
                                                      AcceptCallback onAccept) {
  assertInLoopThread();
  return std::make_unique<ReactorAcceptor>(*this, std::move(listenSocket), std::move(onAccept));
}

ConnectionPtr ReactorLoop::createConnection(SocketHandle socket, const InetAddress& local,
                                            const InetAddress& peer) {
  assertInLoopThread();
  if (!canWatch(socket.fd())) {
    DUET_LOG(Warn) << mode() << " backend cannot watch fd " << socket.fd() << " (>= FD_SETSIZE "
                   << *descriptorLimit_ << "): closing connection from " << peer.toIpPort();
    sys().close(socket.takeDescriptor());
    return nullptr;
  }
  auto connection = std::make_shared<ReactorConnection>(*this, std::move(socket), local, peer);
  connection->tieChannel();
  return connection;
}

void ReactorLoop::connect(UniqueFd socket, const InetAddress& server, ConnectCallback done) {
  assertInLoopThread();
  // Results known right away are still reported from the loop, never from
  // inside connect(): callers may hold locks or be mid-setup. The socket
  // rides in a shared_ptr because a queued task must be copyable.
  auto reportLater = [this, &done](UniqueFd result, int error) {
    auto held = std::make_shared<UniqueFd>(std::move(result));
    queueInLoop([held, error, done = std::move(done)] { done(std::move(*held), error); });
  };
  if (!canWatch(socket.get())) {
    DUET_LOG(Warn) << mode() << " backend cannot watch fd " << socket.get() << " (>= FD_SETSIZE "
                   << *descriptorLimit_ << "): not connecting to " << server.toIpPort();
    socket.reset();
    reportLater(UniqueFd(), EMFILE);
    return;
  }
  int error = 0;
  if (::connect(socket.get(), server.sockaddrPtr(), server.length()) < 0) error = errno;
  if (error == 0) {
    reportLater(std::move(socket), 0);  // loopback can complete at once
    return;
  }
  if (error != EINPROGRESS && error != EINTR) {
    // EINTR on a non-blocking connect: the handshake goes on in the background, like EINPROGRESS.
    socket.reset();
    reportLater(UniqueFd(), error);
    return;
  }
  auto pending = std::make_unique<PendingConnect>(*this, std::move(socket), std::move(done));
  PendingConnect* raw = pending.get();
  connects_.push_back(std::move(pending));
  raw->start();
}

std::unique_ptr<PendingConnect> ReactorLoop::takeConnect(PendingConnect* connect) {
  auto it = std::find_if(connects_.begin(), connects_.end(),
                         [connect](const auto& p) { return p.get() == connect; });
  if (it == connects_.end()) return nullptr;
  std::unique_ptr<PendingConnect> taken = std::move(*it);
  connects_.erase(it);
  return taken;
}

std::unique_ptr<EventLoop> ReactorLoop::createSibling() const {
  return std::make_unique<ReactorLoop>(options());
}

}  // namespace duet
