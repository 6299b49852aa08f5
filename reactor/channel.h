// Channel: one file descriptor as the reactor sees it: which readiness its
// owner is interested in (read, write), what the poller found ready this
// iteration, and whom to tell.
//
// The reactor pattern in one paragraph: a Poller (epoll, poll or select) waits
// until some descriptors are ready; ReactorLoop asks it for the ready
// Channels and calls each one's handler, which does the non-blocking read(2)
// or write(2) that will not block *now*. A Channel never owns its fd and never
// does I/O itself; it only carries interest and readiness between the owner
// (a connection, the acceptor, the wake-up eventfd, the timerfd) and the poller.
//
// Interest changes go straight to the poller (an epoll_ctl, or an edit of the
// pollfd/fd_set arrays), so owners should only change interest when it really
// changes. That is why, for example, a connection asks for write readiness only
// while it has output waiting: with level-triggered polling a writable socket
// is "ready" almost always, and asking for it while idle would spin the loop.
#pragma once

#include <cstdint>
#include <memory>

namespace duet {

class ReactorLoop;

// What a poller found, translated from EPOLL*/POLL*/fd_set into one vocabulary
// so that handlers do not care which poller is underneath.
namespace ready {
enum Readiness : unsigned {
  kReadable = 1u << 0,        // data (or EOF) to read; a pending accept
  kWritable = 1u << 1,        // room in the send buffer; a connect finished
  kPeerHalfClosed = 1u << 2,  // EPOLLRDHUP/POLLRDHUP: the peer sent FIN
  kHangup = 1u << 3,          // EPOLLHUP/POLLHUP: both directions are shut
  kError = 1u << 4,           // EPOLLERR/POLLERR: SO_ERROR has the reason
};
}  // namespace ready

// Whoever owns the fd implements this. A plain interface (one pointer in the
// Channel) instead of several std::function members keeps a Channel small:
// there is one per connection, and idle connections should cost little memory.
class ChannelHandler {
 public:
  // `ready` is a mask of ready::Readiness bits. Runs on the loop thread, from
  // ReactorLoop::poll(). May change interest, remove the channel or even
  // destroy the handler (see Channel::dispatch for the rules).
  virtual void handleReady(unsigned ready) = 0;

 protected:
  ~ChannelHandler() = default;
};

class Channel {
 public:
  Channel(ReactorLoop& loop, int fd, ChannelHandler& handler);
  // Unregisters if the owner forgot to: a poller must never keep a pointer to
  // a destroyed Channel.
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  int fd() const { return fd_; }

  // Ties the channel to the object that owns it (a connection held by
  // shared_ptr). While an event is being handled the tie is locked, so the
  // owner cannot be destroyed under its own handler (closing a connection from
  // inside its read handler drops the last outside reference). An event for an
  // owner that is already gone is ignored.
  void tie(const std::shared_ptr<void>& owner);

  // Edge-triggered (epoll only): the kernel reports a change of readiness once,
  // and the handler must read/write until EAGAIN. Set before the first enable.
  void setEdgeTriggered(bool on) { edgeTriggered_ = on; }
  bool edgeTriggered() const { return edgeTriggered_; }

  bool wantsRead() const { return (interest_ & ready::kReadable) != 0; }
  bool wantsWrite() const { return (interest_ & ready::kWritable) != 0; }
  unsigned interest() const { return interest_; }

  // Each returns false only when the poller cannot watch this fd at all (the
  // select backend and an fd >= FD_SETSIZE); the interest is then left off.
  bool enableReading() { return setInterest(interest_ | ready::kReadable); }
  bool disableReading() { return setInterest(interest_ & ~ready::kReadable); }
  bool enableWriting() { return setInterest(interest_ | ready::kWritable); }
  bool disableWriting() { return setInterest(interest_ & ~ready::kWritable); }

  // Registers the same interest again. With edge-triggered epoll this makes
  // the kernel re-check readiness and report it once more: how a handler that
  // stopped reading before EAGAIN (to be fair to other connections) gets
  // called again.
  bool rearm();

  // Forgets the fd in the poller. Must happen before the fd is closed: the
  // number may be reused at once by the next accept, and epoll would keep
  // watching the old open file.
  void remove();

  // ---- For ReactorLoop and the pollers ----
  bool registered() const { return slot_ >= 0; }
  // Poller-private bookkeeping: epoll's "in the kernel set" flag, poll's index
  // into its pollfd array, select's index into its channel list. -1: unknown.
  int slot() const { return slot_; }
  void setSlot(int slot) { slot_ = slot; }
  void setReady(unsigned ready) { ready_ = static_cast<std::uint8_t>(ready); }

  // Calls the handler with what the poller found. May destroy this Channel
  // (a pending connect deletes itself when it completes), so nothing here
  // touches a member after the handler returns.
  void dispatch();

 private:
  bool setInterest(unsigned interest);

  ReactorLoop& loop_;
  ChannelHandler* handler_;
  std::weak_ptr<void> tie_;
  int fd_;
  int slot_ = -1;
  std::uint8_t interest_ = 0;
  std::uint8_t ready_ = 0;
  bool tied_ = false;
  bool edgeTriggered_ = false;
};

}  // namespace duet
