// ReactorLoop: the readiness ("reactor") backend of EventLoop, on epoll, poll
// or select.
//
// One iteration of EventLoop::run() calls poll(), which asks the Poller which
// fds are ready and calls each ready Channel's handler: a connection reads
// into its input buffer or writes out its output buffer, the acceptor
// accepts, the eventfd is drained after a cross-thread wake-up, the timerfd
// is drained when the earliest timer is due. Then core expires timers and
// runs queued tasks. Every read and write is non-blocking and made only when
// the poller said it would not block: the loop never waits anywhere but in
// the poller.
//
// Ownership: a Channel belongs to whoever owns its fd (a ReactorConnection, a
// ReactorAcceptor, the waker, the timer, a pending connect); the poller and
// this loop keep plain pointers to it, valid because every owner unregisters
// (Channel::remove) before it closes the fd or is destroyed.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "core/event_loop.h"
#include "reactor/event_fd_waker.h"
#include "reactor/poller.h"
#include "reactor/reactor_syscalls.h"
#include "reactor/timer_fd.h"

namespace duet {

class Channel;
class PendingConnect;

class ReactorLoop final : public EventLoop {
 public:
  // options.backend must be Epoll, Poll or Select. Throws BackendUnavailable
  // if the kernel objects (epoll instance, eventfd, timerfd) cannot be made.
  explicit ReactorLoop(const LoopOptions& options);
  ~ReactorLoop() override;

  std::unique_ptr<Acceptor> createAcceptor(UniqueFd listenSocket, AcceptCallback onAccept) override;
  // On the select backend an fd >= FD_SETSIZE cannot be watched: logs one
  // line, closes the socket and returns nullptr (TcpServer drops a null
  // connection; the peer sees the connection closed).
  ConnectionPtr createConnection(SocketHandle socket, const InetAddress& local,
                                 const InetAddress& peer) override;
  void connect(UniqueFd socket, const InetAddress& server, ConnectCallback done) override;
  std::unique_ptr<EventLoop> createSibling() const override;
  // The poller's (select: FD_SETSIZE).
  std::optional<int> descriptorLimit() const override { return descriptorLimit_; }

  // ---- For Channel and the objects that own channels (loop thread) ----
  bool updateChannel(Channel& channel);
  void removeChannel(Channel& channel);
  // False if the poller cannot watch `fd` (select: fd >= FD_SETSIZE).
  bool canWatch(int fd) const;
  // Whether connection sockets use edge-triggered epoll: read from the
  // options each time (the flag means nothing to poll and select).
  bool edgeTriggered() const {
    return backend() == Backend::Epoll && options().reactor.edgeTriggered;
  }
  // The system calls of this loop's objects, counted in its stats.
  ReactorSyscalls sys() { return ReactorSyscalls(stats()); }
  // A pending connect finished: hands it back so the loop can destroy it.
  std::unique_ptr<PendingConnect> takeConnect(PendingConnect* connect);

 protected:
  void poll(bool mayBlock, std::optional<TimePoint> timerDeadline) override;
  void wakeup() override;
  void timerDeadlineChanged(std::optional<TimePoint> deadline) override;

 private:
  // Declared first so it is destroyed last: everything below unregisters from it.
  std::unique_ptr<Poller> poller_;
  const std::optional<int> descriptorLimit_;
  // This iteration's ready channels. A handler may remove another channel
  // that is further down the list (closing one connection from another's
  // callback); removeChannel() then blanks its entry so it is not dispatched.
  std::vector<Channel*> active_;
  bool dispatching_ = false;
  EventFdWaker waker_;
  TimerFd timer_;
  std::vector<std::unique_ptr<PendingConnect>> connects_;
};

}  // namespace duet
